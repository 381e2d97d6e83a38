// Opening a file of events: what it found, in words.
import type { ImportOutcome } from "./bindings/ImportOutcome";
import { formatCount } from "./format";

/** `Opened 1,200 events from events.ndjson (3 lines not events, flagged; 1 line too long, skipped)`. */
export function importText(o: ImportOutcome): string {
  const name = o.path.split(/[\\/]/).pop() || o.path;
  const notes: string[] = [];
  if (o.invalid > 0) notes.push(`${formatCount(o.invalid)} line${o.invalid === 1 ? "" : "s"} not events, flagged`);
  if (o.skipped > 0) notes.push(`${formatCount(o.skipped)} line${o.skipped === 1 ? "" : "s"} too long, skipped`);
  const tail = notes.length > 0 ? ` (${notes.join("; ")})` : "";
  return `Opened ${formatCount(o.events)} event${o.events === 1 ? "" : "s"} from ${name}${tail}`;
}
