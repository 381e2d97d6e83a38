// Specification of the bounded row cache: lookup, absent markers, missing ranges, eviction.
import { describe, expect, it } from "vitest";
import { RowCache } from "./rowCache";

const rows = (...seqs: number[]) => seqs.map((seq) => ({ pos: seq }));
const cacheWith = (capacity: number, ...seqs: number[]) => {
  const cache = new RowCache<{ pos: number }>(capacity);
  cache.putMany(rows(...seqs));
  return cache;
};

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

describe("lookups", () => {
  it("finds a stored row", () => check(cacheWith(10, 1, 2).get(2), { pos: 2 }));

  it("does not know a row never stored", () => check(cacheWith(10, 1).get(5), undefined));

  it("remembers rows that were asked for but not returned as absent (null)", () => {
    const cache = new RowCache<{ pos: number }>(10);
    cache.putMany(rows(10, 12), { start: 10, count: 3 });
    check([cache.get(10), cache.get(11), cache.get(12)], [{ pos: 10 }, null, { pos: 12 }]);
  });

  it("forgets absent markers on request, so those rows are asked for again", () => {
    const cache = new RowCache<{ pos: number }>(10);
    cache.putMany([], { start: 0, count: 2 });
    cache.forgetAbsent();
    check(cache.size, 0);
  });
});

describe("missing ranges", () => {
  it("are null when everything is cached", () => check(cacheWith(10, 1, 2, 3).missing(1, 3), null));

  it("cover everything when nothing is cached", () => check(cacheWith(10).missing(5, 4), { start: 5, count: 4 }));

  it("span from the first to the last unknown row", () =>
    check(cacheWith(10, 5, 7, 9).missing(5, 5), { start: 6, count: 3 }));

  it("do not include rows known to be absent", () => {
    const cache = new RowCache<{ pos: number }>(10);
    cache.putMany(rows(1), { start: 0, count: 2 });
    check(cache.missing(0, 3), { start: 2, count: 1 });
  });
});

describe("bounds", () => {
  it("never hold more than the capacity", () => check(cacheWith(3, 1, 2, 3, 4, 5).size, 3));

  it("evict the least recently stored rows first", () => {
    const cache = cacheWith(3, 1, 2, 3, 4);
    check([cache.has(1), cache.has(2), cache.has(4)], [false, true, true]);
  });

  it("count a read as a use, so rows on screen survive", () => {
    const cache = cacheWith(3, 1, 2, 3);
    cache.get(1);
    cache.put({ pos: 4 });
    check([cache.has(1), cache.has(2)], [true, false]);
  });

  it("a peek is not a use", () => {
    const cache = cacheWith(3, 1, 2, 3);
    cache.peek(1);
    cache.put({ pos: 4 });
    check(cache.has(1), false);
  });

  it("drop rows evicted from the store", () => {
    const cache = cacheWith(10, 1, 2, 3, 4);
    cache.dropBelow(3);
    check([cache.size, cache.has(2), cache.has(3)], [2, false, true]);
  });

  it("are emptied by clear", () => {
    const cache = cacheWith(10, 1, 2);
    cache.clear();
    check(cache.size, 0);
  });
});
