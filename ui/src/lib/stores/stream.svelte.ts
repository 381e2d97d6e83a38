// Live stream state: latest stats, status and view from batches, follow/pause, and the row cache.
//
// The table shows the core's view (the rows matching the applied filter). Its rows have
// positions firstPos..nextPos that stay put while old rows are evicted; row i of the table is
// position firstPos + i. A new filter gives a new view id, and positions start over.
import type { Batch } from "../bindings/Batch";
import type { Facets } from "../bindings/Facets";
import type { ViewInfo } from "../bindings/ViewInfo";
import type { RowSummary } from "../bindings/RowSummary";
import type { SourceStatus } from "../bindings/SourceStatus";
import type { Stats } from "../bindings/Stats";
import { request } from "../ipc";
import { FOLLOWING, newCount, onUserScroll, pause, rebase, toggle, type FollowState } from "../follow";
import { missedBatches, noticesBetween } from "../notices";
import { RowCache } from "../rowCache";
import { toasts } from "./toasts.svelte";

/** Rows kept in memory at most (a few screens; the core holds the stream). */
export const CACHE_ROWS = 4000;
/** Extra rows fetched around the visible window when paused, to make scrolling smooth. */
export const PREFETCH_ROWS = 60;

export const EMPTY_STATS: Stats = {
  received: 0,
  held: 0,
  evicted: 0,
  droppedClient: 0,
  slowConsumerReports: 0,
  invalid: 0,
  bytesHeld: 0,
  ratePerSec: 0,
  firstSeq: 0,
  nextSeq: 0,
};

export const EMPTY_VIEW: ViewInfo = { id: 0, query: "", firstPos: 0, nextPos: 0, complete: true };

export class StreamStore {
  stats = $state<Stats>(EMPTY_STATS);
  view = $state<ViewInfo>(EMPTY_VIEW);
  /** Rows in the view (the match count). */
  count = $derived(this.view.nextPos - this.view.firstPos);
  facets = $state<Facets | null>(null);
  status = $state<SourceStatus | null>(null);
  follow = $state<FollowState>(FOLLOWING);
  /** Bumped whenever cached rows change, so views that read rows re-render. */
  version = $state(0);
  /** Why the stream could not start, if it could not. */
  startError = $state<string | null>(null);
  /** Batches that never arrived (gaps in batchNo) since start. */
  missed = $state(0);
  /** Batches received since start (shown to automation as `data-batches`). */
  batches = $state(0);

  following = $derived(this.follow.mode === "following");
  newEvents = $derived(newCount(this.follow, this.view.nextPos));

  private cache = new RowCache<RowSummary>(CACHE_ROWS);
  private last: Batch | null = null;
  private tailSize = 0;
  private sentFollow: { follow: boolean; tailSize: number } | null = null;
  private fetching = false;
  private wanted: { start: number; end: number } | null = null;

  async start(): Promise<void> {
    try {
      await request((b) => b.subscribeStream((batch) => this.onBatch(batch)));
      this.startError = null;
      void this.syncFollow();
    } catch (e) {
      this.startError = (e as { message: string }).message;
    }
  }

  /** Applies one batch from the core. */
  onBatch(batch: Batch): void {
    const prev = this.last;
    this.last = batch;
    for (const notice of noticesBetween(prev, batch)) toasts.push(notice);
    this.missed += missedBatches(prev?.batchNo ?? null, batch.batchNo);
    this.batches += 1;

    const old = this.view;
    const next = batch.view;
    if (next.id < old.id) {
      // A batch sent before the filter that was just adopted: its rows belong to the old view.
      this.stats = batch.stats;
      this.status = batch.status;
      return;
    }
    if (next.id !== old.id) {
      // A new filter: positions start over; a pause now counts from the new view's end.
      this.cache.clear();
      if (this.follow.mode === "paused") this.follow = { mode: "paused", since: next.nextPos };
    } else if (next.nextPos < old.nextPos || next.firstPos < old.firstPos) {
      // The core restarted its numbering: nothing cached is valid.
      this.cache.clear();
    } else if (next.firstPos > old.firstPos) {
      this.cache.dropBelow(next.firstPos);
    }
    if (batch.tail.length > 0) this.cache.putMany(batch.tail);
    this.follow = rebase(this.follow, next.nextPos);
    if (next.id !== old.id || next.firstPos !== old.firstPos || next.nextPos !== old.nextPos) this.view = next;
    if (batch.facets) this.facets = batch.facets;
    this.stats = batch.stats;
    this.status = batch.status;
    this.version++;
    if (this.wanted) void this.fetchMissing();
  }

  /** A filter was applied: show its view at once, without waiting for the next batch. */
  adoptView(view: ViewInfo): void {
    if (view.id <= this.view.id) return;
    this.cache.clear();
    if (this.follow.mode === "paused") this.follow = { mode: "paused", since: view.nextPos };
    this.view = view;
    this.version++;
    if (this.wanted) void this.fetchMissing();
  }

  /** Row at table index `index`: the row, null when the core no longer holds it, undefined while loading. */
  rowAt(index: number): RowSummary | null | undefined {
    return this.cache.get(this.view.firstPos + index);
  }

  /** The table shows rows [start, end): fetch any that are not cached. */
  want(start: number, end: number): void {
    this.wanted = { start, end };
    void this.fetchMissing();
  }

  private async fetchMissing(): Promise<void> {
    if (this.fetching || !this.wanted) return;
    const { id, firstPos, nextPos } = this.view;
    const start = Math.max(0, this.wanted.start);
    const end = Math.min(nextPos - firstPos, this.wanted.end);
    if (end <= start) return;
    const gap = this.cache.missing(firstPos + start, end - start);
    if (!gap) return;
    // In follow mode the tail brings the rows; ask only when it left a hole, and for no more.
    const margin = this.following ? 0 : PREFETCH_ROWS;
    const from = Math.max(firstPos, gap.start - margin);
    const to = Math.min(nextPos, gap.start + gap.count + margin);
    this.fetching = true;
    try {
      const rows = await request((b) => b.rows(from, to - from));
      // Rows of a view that was replaced meanwhile have unrelated positions.
      if (this.view.id !== id) return;
      if (from >= this.view.firstPos) this.cache.putMany(rows, { start: from, count: to - from });
      else this.cache.putMany(rows.filter((r) => r.pos >= this.view.firstPos));
      this.version++;
    } catch {
      // Leave the rows unknown; the next scroll or batch asks again.
      return;
    } finally {
      this.fetching = false;
    }
    void this.fetchMissing();
  }

  /** Rows the table shows in follow mode (visible + overscan): the tail size asked of the core. */
  setTailSize(rows: number): void {
    this.tailSize = Math.max(1, Math.floor(rows));
    void this.syncFollow();
  }

  private async syncFollow(): Promise<void> {
    const want = { follow: this.following, tailSize: this.tailSize || 50 };
    if (this.sentFollow && this.sentFollow.follow === want.follow && this.sentFollow.tailSize === want.tailSize) return;
    this.sentFollow = want;
    try {
      await request((b) => b.setFollow(want.follow, want.tailSize));
    } catch (e) {
      this.sentFollow = null;
      toasts.push({ key: "follow", tone: "error", text: `Could not change follow mode: ${(e as { message: string }).message}` });
    }
  }

  private setFollow(state: FollowState): void {
    if (state === this.follow) return;
    this.follow = state;
    void this.syncFollow();
  }

  pause(): void {
    this.setFollow(pause(this.follow, this.view.nextPos));
  }

  resume(): void {
    this.setFollow(FOLLOWING);
  }

  togglePause(): void {
    this.setFollow(toggle(this.follow, this.view.nextPos));
  }

  /** A scroll made by the user (not by the table following the stream). */
  userScrolled(atBottom: boolean, movedDown: boolean): void {
    this.setFollow(onUserScroll(this.follow, { atBottom, movedDown, nextSeq: this.view.nextPos }));
  }

  /** Empties the core's store and everything cached here. */
  async clear(): Promise<void> {
    try {
      await request((b) => b.clearEvents());
      this.cache.clear();
      this.version++;
    } catch (e) {
      toasts.push({ key: "clear", tone: "error", text: `Could not clear: ${(e as { message: string }).message}` });
    }
  }
}

export const stream = new StreamStore();
