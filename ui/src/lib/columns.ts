// The event table's columns: which exist, their widths, and the visible set (saved with views).
import type { RowSummary } from "./bindings/RowSummary";
import type { EnvField } from "./query";

export type ColumnKey = "time" | "org" | "source" | "event" | "resourceId" | "id" | "subject" | "size";

export interface Column {
  key: ColumnKey;
  label: string;
  /** CSS grid track. */
  width: string;
  /** The filter field a click on the value adds, if any. */
  field: EnvField | null;
}

export const COLUMNS: readonly Column[] = [
  { key: "time", label: "Time", width: "94px", field: null },
  { key: "org", label: "Organization", width: "minmax(70px, 0.7fr)", field: "org" },
  { key: "source", label: "Source", width: "minmax(70px, 0.6fr)", field: "source" },
  { key: "event", label: "Event", width: "minmax(120px, 1.3fr)", field: "name" },
  { key: "resourceId", label: "Resource id", width: "minmax(80px, 0.9fr)", field: "resourceId" },
  { key: "id", label: "Event id", width: "minmax(90px, 1fr)", field: "id" },
  { key: "subject", label: "Subject", width: "minmax(140px, 2.6fr)", field: null },
  { key: "size", label: "Size", width: "58px", field: null },
];

export const DEFAULT_COLUMNS: readonly ColumnKey[] = ["time", "org", "source", "event", "resourceId", "subject", "size"];

/** The known keys of `keys`, in table order; the default set when none is known. */
export function normalizeColumns(keys: readonly string[] | null | undefined): ColumnKey[] {
  const known = COLUMNS.map((c) => c.key).filter((k) => keys?.includes(k));
  return known.length > 0 ? known : [...DEFAULT_COLUMNS];
}

export function gridTemplate(keys: readonly ColumnKey[]): string {
  return COLUMNS.filter((c) => keys.includes(c.key))
    .map((c) => c.width)
    .join(" ");
}

/** Shows or hides a column; the last visible one stays. */
export function toggleColumn(keys: readonly ColumnKey[], key: ColumnKey): ColumnKey[] {
  const next = keys.includes(key) ? keys.filter((k) => k !== key) : [...keys, key];
  return next.length === 0 ? [...keys] : normalizeColumns(next);
}

/** The value of a row a click on `column` filters by: `name` is `resource.eventName`. */
export function filterValue(row: RowSummary, column: Column): string | null {
  switch (column.field) {
    case "org":
      return row.org || null;
    case "source":
      return row.source || null;
    case "name":
      return row.resource || row.eventName ? `${row.resource}.${row.eventName}` : null;
    case "resourceId":
      return row.resourceId || null;
    case "id":
      return row.id || null;
    default:
      return null;
  }
}
