// Selected event: which seq is selected and its detail from the core (loaded on selection).
import type { EventDetail } from "../bindings/EventDetail";
import type { WireError } from "../bindings/WireError";
import { request } from "../ipc";

export class SelectionStore {
  seq = $state<number | null>(null);
  /** Position of the selected row in the view it was selected in (for moving with the keys). */
  pos = $state<number | null>(null);
  viewId = $state<number | null>(null);
  detail = $state<EventDetail | null>(null);
  error = $state<WireError | null>(null);
  loading = $state(false);
  private token = 0;

  async select(seq: number, at?: { pos: number; viewId: number }): Promise<void> {
    this.pos = at?.pos ?? null;
    this.viewId = at?.viewId ?? null;
    if (seq === this.seq && (this.detail || this.loading)) return;
    const token = ++this.token;
    this.seq = seq;
    this.loading = true;
    this.error = null;
    try {
      const detail = await request((b) => b.eventDetail(seq));
      if (token !== this.token) return;
      this.detail = detail;
    } catch (e) {
      if (token !== this.token) return;
      this.detail = null;
      this.error = e as WireError;
    } finally {
      if (token === this.token) this.loading = false;
    }
  }

  clear(): void {
    this.token++;
    this.seq = null;
    this.pos = null;
    this.viewId = null;
    this.detail = null;
    this.error = null;
    this.loading = false;
  }
}

export const selection = new SelectionStore();
