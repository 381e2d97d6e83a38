// Theme state: dark or light, from the system preference unless the user chose (remembered).

export type Theme = "dark" | "light";

const KEY = "eventscope.theme";

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(KEY);
    return v === "dark" || v === "light" ? v : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

class ThemeStore {
  /** True once the user picked a theme; the system preference no longer applies. */
  chosen = $state(stored() !== null);
  theme = $state<Theme>(stored() ?? systemTheme());

  constructor() {
    if (typeof matchMedia === "function") {
      matchMedia("(prefers-color-scheme: light)").addEventListener("change", () => {
        if (!this.chosen) {
          this.theme = systemTheme();
          this.apply();
        }
      });
    }
  }

  /** Writes the theme onto <html data-theme>, where the CSS variables hang. */
  apply(): void {
    document.documentElement.dataset.theme = this.theme;
  }

  toggle(): void {
    this.theme = this.theme === "dark" ? "light" : "dark";
    this.chosen = true;
    try {
      localStorage.setItem(KEY, this.theme);
    } catch {
      // Storage may be unavailable; the choice then lasts for this window.
    }
    this.apply();
  }
}

export const theme = new ThemeStore();
