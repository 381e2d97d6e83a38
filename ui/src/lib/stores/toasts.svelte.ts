// Toast notifications: short-lived messages about connection changes, drops and failures.
import type { Notice, NoticeTone } from "../notices";

export interface Toast {
  id: number;
  key: string;
  tone: NoticeTone;
  text: string;
}

const LIFETIME_MS = 8000;
const MAX_TOASTS = 4;

class ToastStore {
  items = $state<Toast[]>([]);
  private nextId = 1;
  private timers = new Map<number, ReturnType<typeof setTimeout>>();

  /** Shows a notice; one with the same key replaces the older one. */
  push(notice: Notice): void {
    const old = this.items.find((t) => t.key === notice.key);
    if (old) this.dismiss(old.id);
    const toast: Toast = { id: this.nextId++, ...notice };
    this.items = [...this.items, toast].slice(-MAX_TOASTS);
    this.timers.set(toast.id, setTimeout(() => this.dismiss(toast.id), LIFETIME_MS));
  }

  dismiss(id: number): void {
    const timer = this.timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.timers.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new ToastStore();
