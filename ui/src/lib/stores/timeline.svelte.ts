// The timeline view's state: which organization and range, which origins to read, and the
// timeline the core built. The core merges, de-duplicates and groups; this keeps what is shown.
import type { Timeline } from "../bindings/Timeline";
import { request } from "../ipc";
import { fromLocalInput, presetRange, toLocalInput, type RangePreset } from "../timeline";

export interface TimelineSources {
  recording: boolean;
  history: boolean;
}

export class TimelineStore {
  org = $state("");
  preset = $state<RangePreset>("1h");
  customFrom = $state(toLocalInput(Date.now() - 3_600_000));
  customTo = $state(toLocalInput(Date.now()));
  sources = $state<TimelineSources>({ recording: true, history: false });
  timeline = $state<Timeline | null>(null);
  loading = $state(false);
  error = $state<string | null>(null);
  private token = 0;

  /** The range asked for, `[from, to)`, or null when a custom bound is unreadable. */
  range(nowMs = Date.now()): [number, number] | null {
    if (this.preset !== "custom") return presetRange(this.preset, nowMs);
    const from = fromLocalInput(this.customFrom);
    const to = fromLocalInput(this.customTo);
    return from !== null && to !== null && from < to ? [from, to] : null;
  }

  async load(): Promise<void> {
    const org = this.org.trim();
    const range = this.range();
    const token = ++this.token;
    this.error = null;
    if (!org) {
      this.timeline = null;
      return;
    }
    if (!range) {
      this.error = "the custom range needs a start before its end";
      return;
    }
    this.loading = true;
    try {
      const t = await request((b) => b.timeline(org, range[0], range[1], this.sources.recording, this.sources.history));
      if (token === this.token) this.timeline = t;
    } catch (e) {
      if (token === this.token) this.error = (e as { message: string }).message;
    } finally {
      if (token === this.token) this.loading = false;
    }
  }
}

export const timeline = new TimelineStore();
