// What an export covers and how its progress reads.
import type { ExportFormat } from "./bindings/ExportFormat";
import type { ExportStatus } from "./bindings/ExportStatus";
import type { ExportTarget } from "./bindings/ExportTarget";
import { formatBytes, formatCount } from "./format";

export type { ExportFormat, ExportTarget };

/** The file name offered: `org_1-timeline.ndjson`, `eventscope-view.csv`. */
export function defaultFileName(target: ExportTarget, format: ExportFormat): string {
  const base = target.kind === "timeline" ? `${target.org}-timeline` : "eventscope-view";
  return `${base}.${format}`;
}

/** `12,000 of 40,000 events · 3.1 MB`, or with no total yet `12,000 events · 3.1 MB`. */
export function exportProgressText(p: ExportStatus): string {
  const events = p.total !== null ? `${formatCount(p.events)} of ${formatCount(p.total)} events` : `${formatCount(p.events)} events`;
  return `${events} · ${formatBytes(p.bytes)}`;
}

export function exportPercent(p: ExportStatus | null): number {
  if (!p || p.total === null || p.total === 0) return p && p.done ? 100 : 0;
  return Math.min(100, Math.round((p.events / p.total) * 100));
}
