// Splitting text into plain and marked pieces for the texts a query looks for (case-insensitive),
// so the detail pane can show them with <mark> elements: never as HTML.

export interface Piece {
  text: string;
  mark: boolean;
}

/** At most this many marks per text: enough to see, bounded on a 300 KB body. */
export const MAX_MARKS = 500;

/** `text` cut at every occurrence of any needle, longest needle first where they overlap. */
export function pieces(text: string, needles: readonly string[], maxMarks = MAX_MARKS): Piece[] {
  const wanted = needles.filter((n) => n.length > 0).map((n) => n.toLowerCase());
  if (wanted.length === 0 || text.length === 0) return [{ text, mark: false }];
  wanted.sort((a, b) => b.length - a.length);
  const lower = text.toLowerCase();
  // toLowerCase can change lengths (İ); then offsets would not line up: mark nothing.
  if (lower.length !== text.length) return [{ text, mark: false }];
  const out: Piece[] = [];
  let plainFrom = 0;
  let at = 0;
  let marks = 0;
  while (at < text.length && marks < maxMarks) {
    let best = -1;
    let bestLen = 0;
    for (const needle of wanted) {
      const found = lower.indexOf(needle, at);
      if (found >= 0 && (best < 0 || found < best || (found === best && needle.length > bestLen))) {
        best = found;
        bestLen = needle.length;
      }
    }
    if (best < 0) break;
    if (best > plainFrom) out.push({ text: text.slice(plainFrom, best), mark: false });
    out.push({ text: text.slice(best, best + bestLen), mark: true });
    marks++;
    at = plainFrom = best + bestLen;
  }
  if (plainFrom < text.length) out.push({ text: text.slice(plainFrom), mark: false });
  return out;
}
