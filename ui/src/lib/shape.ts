// The stream's shape as the chart, tree and health strip show it: stacked series for uPlot, the
// time range a drag on the chart writes into the query, and how lag reads.
import type { RateSeries } from "./bindings/RateSeries";
import { topLevelTerms } from "./query";

/** uPlot's data for a stacked chart: x in seconds, then each group's running sum from the
 * bottom (the largest group at the bottom), so each band is drawn from the one below it. */
export function stacked(series: RateSeries): { xs: number[]; sums: number[][]; names: string[] } {
  const xs = Array.from({ length: series.points }, (_, i) => (series.fromMs + i * series.stepMs) / 1000);
  const perSecond = series.stepMs / 1000;
  const sums: number[][] = [];
  let below = new Array<number>(series.points).fill(0);
  for (const group of series.groups) {
    const sum = below.map((b, i) => b + (group.counts[i] ?? 0) / perSecond);
    sums.push(sum);
    below = sum;
  }
  return { xs, sums, names: series.groups.map((g) => (g.other ? "other" : g.name || "(none)")) };
}

const TIME_TERM = /^-?(after|before|last):/;

/** The query without its top-level time terms. */
export function withoutTimeRange(query: string): string {
  return topLevelTerms(query)
    .filter((t) => !TIME_TERM.test(t))
    .join(" ");
}

/** The query narrowed to `fromMs..toMs` (whole seconds, UTC), replacing any time terms it had;
 * a query with a top-level OR is kept whole in parentheses so the range applies to all of it.
 * The chart's points are one-second buckets at their start: the second `toMs` falls in is kept
 * whole, so a drag to the last point keeps the events of that second. */
export function withTimeRange(query: string, fromMs: number, toMs: number): string {
  const rest = withoutTimeRange(query);
  const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
  const range = `after:${iso(fromMs)} before:${iso(Math.floor(toMs / 1000) * 1000 + 1000)}`;
  if (rest === "") return range;
  const hasOr = topLevelTerms(rest).includes("OR");
  return hasOr ? `(${rest}) ${range}` : `${rest} ${range}`;
}

/** A lag in the shortest words: `850 ms`, `12.5 s`, `-3.2 s`, `4 min`, `5 h`, `334 d` (a
 * producer whose clock is far off, or a replay of old events). */
export function lagText(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (abs < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (abs < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}
