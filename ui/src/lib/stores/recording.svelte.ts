// The local recording as the status line and its settings show it: on or off, where, how big,
// what it keeps and what it could not record. The core records; this polls its figures.
import type { RecordingState } from "../bindings/RecordingState";
import { request } from "../ipc";

const POLL_MS = 2000;

export class RecordingStore {
  state = $state<RecordingState | null>(null);
  error = $state<string | null>(null);
  panelOpen = $state(false);
  private timer: ReturnType<typeof setInterval> | null = null;

  start(): void {
    void this.refresh();
    this.timer ??= setInterval(() => void this.refresh(), POLL_MS);
  }

  async refresh(): Promise<void> {
    try {
      this.state = await request((b) => b.recordingState());
    } catch (e) {
      this.error = (e as { message: string }).message;
    }
  }

  async set(on: boolean, maxMegabytes: number, maxAgeDays: number): Promise<void> {
    this.error = null;
    try {
      this.state = await request((b) =>
        b.setRecording(on, { maxBytes: Math.round(maxMegabytes * 1_000_000), maxAgeSecs: Math.round(maxAgeDays * 86_400) }),
      );
    } catch (e) {
      this.error = (e as { message: string }).message;
    }
  }
}

export const recording = new RecordingStore();
