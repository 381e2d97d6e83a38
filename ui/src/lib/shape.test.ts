// Specification of the chart's stacking, the time range a drag writes, and lag wording.
import { describe, expect, it } from "vitest";
import { lagText, stacked, withTimeRange, withoutTimeRange } from "./shape";

const check = (actual: unknown, expected: unknown) => expect(actual).toEqual(expected);

describe("the chart stacks groups, largest at the bottom, per second", () => {
  it("running sums", () =>
    check(
      stacked({
        viewId: 1,
        groupBy: "source",
        fromMs: 10_000,
        stepMs: 2000,
        points: 2,
        groups: [
          { name: "tasks", other: false, total: 6, counts: [4, 2] },
          { name: "", other: false, total: 2, counts: [2, 0] },
          { name: "x", other: true, total: 2, counts: [0, 2] },
        ],
        heldFromMs: null,
        heldToMs: null,
        markers: [],
      }),
      { xs: [10, 12], sums: [[2, 1], [3, 1], [3, 2]], names: ["tasks", "(none)", "other"] },
    ));
});

describe("a drag on the chart narrows the query in time", () => {
  const from = Date.UTC(2026, 11, 1, 10, 0, 5, 400);
  const to = Date.UTC(2026, 11, 1, 10, 0, 9, 100);
  it("an empty query becomes the range, whole seconds around it", () =>
    check(withTimeRange("", from, to), "after:2026-12-01T10:00:05Z before:2026-12-01T10:00:10Z"));
  it("a drag ending on a point keeps that point's second", () =>
    check(withTimeRange("", from, Date.UTC(2026, 11, 1, 10, 0, 9)), "after:2026-12-01T10:00:05Z before:2026-12-01T10:00:10Z"));
  it("terms are kept, an older range replaced", () =>
    check(withTimeRange("org:org_1 last:15m", from, to), "org:org_1 after:2026-12-01T10:00:05Z before:2026-12-01T10:00:10Z"));
  it("a query with OR is kept whole", () =>
    check(withTimeRange("source:a OR source:b", from, to), "(source:a OR source:b) after:2026-12-01T10:00:05Z before:2026-12-01T10:00:10Z"));
  it("double click takes the range away", () => check(withoutTimeRange("org:x after:2026-12-01T10:00:05Z before:-5m"), "org:x"));
});

describe("lag", () => {
  it("milliseconds", () => check(lagText(850), "850 ms"));
  it("seconds", () => check(lagText(12_480), "12.5 s"));
  it("a clock ahead", () => check(lagText(-3200), "-3.2 s"));
  it("minutes", () => check(lagText(240_000), "4 min"));
  it("hours", () => check(lagText(5 * 3_600_000), "5 h"));
  it("days: events stamped long ago", () => check(lagText(481_716 * 60_000), "335 d"));
});
