// Bounded, least-recently-used cache of table rows by position in the view (never the whole stream).

export interface Positioned {
  pos: number;
}

/** A contiguous run of sequence numbers: [start, start + count). */
export interface SeqRange {
  start: number;
  count: number;
}

/**
 * Rows by position (a "seq" below). A position maps to a row, to `null` ("asked for, the core does not hold it") or is
 * unknown. Reading or writing an entry makes it the most recently used; past `capacity`
 * entries the least recently used ones go.
 */
export class RowCache<T extends Positioned> {
  readonly capacity: number;
  private map = new Map<number, T | null>();

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.map.size;
  }

  /** The row, `null` when known to be absent, `undefined` when unknown. Marks it used. */
  get(seq: number): T | null | undefined {
    const value = this.map.get(seq);
    if (value === undefined) return undefined;
    this.map.delete(seq);
    this.map.set(seq, value);
    return value;
  }

  /** Looks without marking the entry used. */
  peek(seq: number): T | null | undefined {
    return this.map.get(seq);
  }

  has(seq: number): boolean {
    return this.map.has(seq);
  }

  put(row: T): void {
    this.set(row.pos, row);
    this.trim();
  }

  /** Stores rows, and records every seq of `asked` that the answer did not contain as absent. */
  putMany(rows: readonly T[], asked?: SeqRange): void {
    const got = new Set<number>();
    for (const row of rows) {
      this.set(row.pos, row);
      got.add(row.pos);
    }
    if (asked) {
      for (let s = asked.start; s < asked.start + asked.count; s++) {
        if (!got.has(s)) this.set(s, null);
      }
    }
    this.trim();
  }

  /** The smallest range covering every unknown seq in [start, start + count), or null. */
  missing(start: number, count: number): SeqRange | null {
    let first = -1;
    let last = -1;
    for (let s = start; s < start + count; s++) {
      if (!this.map.has(s)) {
        if (first < 0) first = s;
        last = s;
      }
    }
    return first < 0 ? null : { start: first, count: last - first + 1 };
  }

  /** Forgets every entry with seq below `seq` (they were evicted from the store). */
  dropBelow(seq: number): void {
    for (const key of [...this.map.keys()]) if (key < seq) this.map.delete(key);
  }

  /** Forgets the "absent" markers, so those seqs are asked for again. */
  forgetAbsent(): void {
    for (const [key, value] of [...this.map]) if (value === null) this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  private set(seq: number, value: T | null): void {
    this.map.delete(seq);
    this.map.set(seq, value);
  }

  private trim(): void {
    const excess = this.map.size - this.capacity;
    if (excess <= 0) return;
    const keys = this.map.keys();
    for (let i = 0; i < excess; i++) this.map.delete(keys.next().value as number);
  }
}
