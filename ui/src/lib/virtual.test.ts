// Specification of the virtual-scroll window math (which rows render, where, scroll targets).
import { describe, expect, it } from "vitest";
import {
  bottomScrollTop,
  computeWindow,
  indexAtTop,
  isAtBottom,
  revealIndex,
  scrollTopForIndex,
  shiftForRemovedRows,
  visibleRows,
  type Geometry,
} from "./virtual";

/** 1,000 rows of 20 px in a 200 px viewport unless a test says otherwise. */
const table = (over: Partial<Geometry> = {}): Geometry => ({ count: 1000, rowHeight: 20, viewportHeight: 200, ...over });

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

describe("the rendered window", () => {
  it("at the top renders the visible rows, one partial row and the overscan below", () =>
    check(computeWindow(table(), 0, 5), { start: 0, end: 16, offset: 0, spacerHeight: 20_000, scale: 1 }));

  it("scrolled into the middle renders overscan on both sides, placed at the first rendered row", () =>
    check(computeWindow(table(), 1010, 5), { start: 45, end: 66, offset: 900, spacerHeight: 20_000, scale: 1 }));

  it("at the bottom stops at the last row", () =>
    check(computeWindow(table(), bottomScrollTop(table()), 5).end, 1000));

  it("clamps a scrollTop past the end to the bottom", () =>
    check(computeWindow(table(), 1e9, 0).start, 990));

  it("is empty for an empty table", () =>
    check(computeWindow(table({ count: 0 }), 0, 5), { start: 0, end: 0, offset: 0, spacerHeight: 0, scale: 1 }));

  it("renders every row of a table shorter than the viewport", () =>
    check(computeWindow(table({ count: 3 }), 0, 5), { start: 0, end: 3, offset: 0, spacerHeight: 60, scale: 1 }));
});

describe("tables taller than a browser allows", () => {
  const huge = table({ count: 10_000_000, maxHeight: 1_000_000 });

  it("cap the spacer and scale scroll pixels to rows", () => {
    const w = computeWindow(huge, 0, 0);
    check([w.spacerHeight, w.scale > 199 && w.scale < 201], [1_000_000, true]);
  });

  it("still reach the very last row at the bottom", () =>
    check(computeWindow(huge, bottomScrollTop(huge), 0).end, 10_000_000));

  it("draw the row at the top of the viewport within one row of the viewport top", () => {
    const top = 500_000;
    const w = computeWindow(huge, top, 3);
    const rowTop = w.offset + (indexAtTop(huge, top) - w.start) * 20;
    check(top - rowTop >= 0 && top - rowTop < 20, true);
  });
});

describe("scroll positions", () => {
  it("the bottom is the content height minus the viewport", () => check(bottomScrollTop(table()), 19_800));

  it("a viewport within 2 px of the bottom counts as at the bottom", () =>
    check([isAtBottom(table(), 19_798), isAtBottom(table(), 19_790)], [true, false]));

  it("a row is put at the top of the viewport", () => check(scrollTopForIndex(table(), 10), 200));

  it("rows near the end cannot be put at the top: the bottom is as far as it goes", () =>
    check(scrollTopForIndex(table(), 999), 19_800));

  it("revealing a visible row does not scroll", () => check(revealIndex(table(), 200, 12), 200));

  it("revealing a row above the viewport brings it to the top", () => check(revealIndex(table(), 200, 3), 60));

  it("revealing a row below the viewport brings it to the bottom", () => check(revealIndex(table(), 200, 25), 320));

  it("rows evicted from the top move the viewport up with the rows it showed", () =>
    check(shiftForRemovedRows(table(), 1000, 10), 800));

  it("the viewport cannot move above the top", () => check(shiftForRemovedRows(table(), 100, 10), 0));

  it("a viewport of 205 px shows 11 rows of 20 px (the last one partly)", () => check(visibleRows(205, 20), 11));
});
