// The timeline's words and numbers: range presets, step durations, and what changed in an
// update, said the way support reads them.
import type { FieldChange } from "./bindings/FieldChange";
import type { LaneState } from "./bindings/LaneState";

export type RangePreset = "15m" | "1h" | "24h" | "yesterday" | "custom";

export const RANGE_PRESETS: { value: RangePreset; label: string }[] = [
  { value: "15m", label: "Last 15 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "yesterday", label: "Yesterday" },
  { value: "custom", label: "Custom…" },
];

/** The preset's range `[from, to)` in milliseconds; "yesterday" is local midnight to midnight. */
export function presetRange(preset: Exclude<RangePreset, "custom">, nowMs: number): [number, number] {
  switch (preset) {
    case "15m":
      return [nowMs - 15 * 60_000, nowMs + 1];
    case "1h":
      return [nowMs - 3_600_000, nowMs + 1];
    case "24h":
      return [nowMs - 86_400_000, nowMs + 1];
    case "yesterday": {
      const midnight = new Date(nowMs);
      midnight.setHours(0, 0, 0, 0);
      const start = new Date(midnight);
      start.setDate(start.getDate() - 1);
      return [start.getTime(), midnight.getTime()];
    }
  }
}

/** `850 ms`, `12 s`, `1 min 20 s`, `3 h 5 min`, `2 d 4 h`: a step's distance from the one before. */
export function formatSpan(ms: number): string {
  if (ms < 0) return `−${formatSpan(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** One line per changed field: `status: "To Do" → "Done"`, `+ owner: "u1"`, `− tags`. */
export function changeText(c: FieldChange): string {
  const path = c.path.replace(/^\//, "").replaceAll("/", ".") || "(payload)";
  switch (c.change) {
    case "added":
      return `+ ${path}: ${c.after ?? ""}`;
    case "removed":
      return `− ${path}`;
    case "changed":
      return `${path}: ${c.before ?? ""} → ${c.after ?? ""}`;
  }
}

export const STATE_LABEL: Record<LaneState, string> = {
  open: "open",
  completed: "completed",
  failed: "failed",
  deleted: "deleted",
  stuck: "stuck",
};

/** `no data 13:42:05–13:44:10: disconnected`, in local time. */
export function gapText(fromMs: number, toMs: number, reason: string): string {
  return `no data ${clock(fromMs)}–${clock(toMs)}: ${reason}`;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A `datetime-local` input's value for a time, and back. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): number | null {
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}
