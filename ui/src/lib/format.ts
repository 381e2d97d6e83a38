// Formatting of times, byte sizes, counts and rates for the table, counters and detail pane.
import type { RowSummary } from "./bindings/RowSummary";

/** Thousands separator: a narrow no-break space, so counters stay "digits and separators". */
export const THIN = "\u202F";

const pad2 = (n: number) => String(n).padStart(2, "0");
const pad3 = (n: number) => String(n).padStart(3, "0");

function validDate(ms: number | null | undefined): Date | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Local wall-clock time with milliseconds: `HH:MM:SS.mmm`. */
export function formatClock(ms: number): string {
  const d = validDate(ms);
  if (!d) return "--:--:--.---";
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
}

/** ISO 8601 in UTC (`2024-05-01T12:00:00.000Z`), or an em dash when there is no valid time. */
export function formatIso(ms: number | null | undefined): string {
  const d = validDate(ms);
  return d ? d.toISOString() : "—";
}

/** An integer with narrow-space thousands separators: `1 234 567`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "0";
  const negative = n < 0;
  const digits = String(Math.trunc(Math.abs(n)));
  let out = "";
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 === 0) out += THIN;
    out += digits[i];
  }
  return negative ? `-${out}` : out;
}

/** Messages per second: one decimal below 10, whole numbers (with separators) above. */
export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec) || perSec <= 0) return "0";
  if (perSec < 10) return perSec.toFixed(1).replace(/\.0$/, "");
  return formatCount(Math.round(perSec));
}

const UNITS = ["B", "kB", "MB", "GB", "TB"];

/** Human byte size in decimal units: `512 B`, `1.5 kB`, `12 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "0 B";
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  // Rounding 999.96 kB to one decimal would print "1000.0 kB": move up a unit instead.
  if (value >= 999.95 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** Memory held, always in megabytes with one decimal: `12.3 MB`. */
export function formatMegabytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return "0.0 MB";
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** The dotted event name `resource.eventName`, with whichever parts exist, or an em dash. */
export function dottedName(row: Pick<RowSummary, "resource" | "eventName">): string {
  const parts = [row.resource, row.eventName].filter((p) => p !== "");
  return parts.length > 0 ? parts.join(".") : "—";
}

/** How a screen reader announces a table row: what happened, where, when, and any problem. */
export function rowLabel(row: Pick<RowSummary, "resource" | "eventName" | "problem" | "org" | "receivedMs">): string {
  const org = row.org === "" ? "no organization" : `in ${row.org}`;
  const problem = row.problem === null ? "" : `, invalid: ${row.problem}`;
  return `${dottedName(row)} ${org} at ${formatClock(row.receivedMs)}${problem}`;
}

/** What the table's event column shows: the problem when there is one, else `resource.eventName`. */
export function eventLabel(row: Pick<RowSummary, "resource" | "eventName" | "problem">): string {
  return row.problem !== null ? `⚠ ${row.problem}` : dottedName(row);
}
