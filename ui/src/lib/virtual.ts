// Virtual-scroll window math: which rows to render, where, and scroll positions for follow/reveal.
//
// Browsers cap an element's height (WebKit at about 33.5 million px), so the spacer is at most
// `maxHeight` tall; past that, one scroll pixel stands for `scale` content pixels.

export interface Geometry {
  /** Rows in the table (stats.held). */
  count: number;
  /** Fixed row height in px. */
  rowHeight: number;
  /** Height of the area rows are visible in, in px. */
  viewportHeight: number;
  /** Largest spacer height used, in px. */
  maxHeight?: number;
}

export interface Window {
  /** First row index rendered (inclusive). */
  start: number;
  /** Last row index rendered (exclusive). */
  end: number;
  /** Top of the first rendered row, in spacer coordinates (px). */
  offset: number;
  /** Height of the spacer element (px). */
  spacerHeight: number;
  /** Content px per scroll px (1 unless the list is taller than maxHeight). */
  scale: number;
}

export const DEFAULT_MAX_HEIGHT = 8_000_000;

function dims(g: Geometry) {
  const rowHeight = Math.max(1, g.rowHeight);
  const viewport = Math.max(0, g.viewportHeight);
  const count = Math.max(0, Math.floor(g.count));
  const real = count * rowHeight;
  const spacerHeight = Math.min(real, g.maxHeight ?? DEFAULT_MAX_HEIGHT);
  const realRange = Math.max(0, real - viewport);
  const scrollRange = Math.max(0, spacerHeight - viewport);
  const scale = scrollRange > 0 ? realRange / scrollRange : 1;
  return { rowHeight, viewport, count, spacerHeight, scrollRange, scale };
}

/** Rows fully or partly visible in a viewport of this height (at least 1). */
export function visibleRows(viewportHeight: number, rowHeight: number): number {
  return Math.max(1, Math.ceil(Math.max(0, viewportHeight) / Math.max(1, rowHeight)));
}

/** The rows to render for a scroll position, with `overscan` extra rows above and below. */
export function computeWindow(g: Geometry, scrollTop: number, overscan: number): Window {
  const d = dims(g);
  const top = Math.min(Math.max(0, scrollTop), d.scrollRange);
  const realTop = top * d.scale;
  const firstVisible = Math.min(Math.floor(realTop / d.rowHeight), Math.max(0, d.count - 1));
  const start = Math.max(0, firstVisible - overscan);
  const end = Math.min(d.count, firstVisible + visibleRows(d.viewport, d.rowHeight) + 1 + overscan);
  const offset = top - (realTop - start * d.rowHeight);
  return { start, end: Math.max(start, end), offset, spacerHeight: d.spacerHeight, scale: d.scale };
}

/** The largest scrollTop: where the newest row sits at the bottom of the viewport. */
export function bottomScrollTop(g: Geometry): number {
  return dims(g).scrollRange;
}

/** True when the viewport shows the last row (within `tolerance` px). */
export function isAtBottom(g: Geometry, scrollTop: number, tolerance = 2): boolean {
  return scrollTop >= bottomScrollTop(g) - tolerance;
}

/** The scrollTop that puts row `index` at the top of the viewport. */
export function scrollTopForIndex(g: Geometry, index: number): number {
  const d = dims(g);
  return Math.min(d.scrollRange, Math.max(0, (index * d.rowHeight) / d.scale));
}

/** Index of the row at the top of the viewport for a scroll position. */
export function indexAtTop(g: Geometry, scrollTop: number): number {
  const d = dims(g);
  const top = Math.min(Math.max(0, scrollTop), d.scrollRange);
  return Math.min(Math.floor((top * d.scale) / d.rowHeight), Math.max(0, d.count - 1));
}

/**
 * The scrollTop that brings row `index` fully into view, moving as little as possible;
 * returns `scrollTop` unchanged when the row is already visible.
 */
export function revealIndex(g: Geometry, scrollTop: number, index: number): number {
  const d = dims(g);
  const top = Math.min(Math.max(0, scrollTop), d.scrollRange) * d.scale;
  const rowTop = index * d.rowHeight;
  const rowBottom = rowTop + d.rowHeight;
  let realTop = top;
  if (rowTop < top) realTop = rowTop;
  else if (rowBottom > top + d.viewport) realTop = rowBottom - d.viewport;
  else return scrollTop;
  return Math.min(d.scrollRange, Math.max(0, realTop / d.scale));
}

/**
 * Keeps the same rows under the viewport when `removed` rows disappear from the top
 * (evicted while paused): the scrollTop to set afterwards.
 */
export function shiftForRemovedRows(g: Geometry, scrollTop: number, removed: number): number {
  if (removed <= 0) return scrollTop;
  const d = dims(g);
  return Math.min(d.scrollRange, Math.max(0, scrollTop - (removed * d.rowHeight) / d.scale));
}
