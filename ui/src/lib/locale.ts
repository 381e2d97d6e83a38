// WebKitGTK reports the POSIX locale as `navigator.language` ("C" when LANG is unset or C, as on
// CI machines and under services), and Intl then throws "invalid language tag: C". uPlot formats
// numbers with it as it loads, so the page would not start. Imported first by main.ts: an
// unusable tag falls back to en-US.
function usable(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (!usable(navigator.language)) {
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
  Object.defineProperty(navigator, "languages", { value: ["en-US"], configurable: true });
}

export {};
