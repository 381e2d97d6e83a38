// Specification of follow/pause and the "N new" count shown while paused.
import { describe, expect, it } from "vitest";
import { FOLLOWING, isFollowing, newCount, onUserScroll, pause, rebase, resume, toggle, type FollowState } from "./follow";

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

describe("following and pausing", () => {
  it("starts following", () => check(isFollowing(FOLLOWING), true));

  it("pausing remembers where the stream was", () => check(pause(FOLLOWING, 120), { mode: "paused", since: 120 }));

  it("pausing again keeps the first pause point", () => check(pause(pause(FOLLOWING, 120), 500), { mode: "paused", since: 120 }));

  it("resuming follows again", () => check(resume(), FOLLOWING));

  it("the toggle (button, Space) pauses then resumes", () => {
    const paused = toggle(FOLLOWING, 7);
    check([paused, toggle(paused, 9)], [{ mode: "paused", since: 7 }, FOLLOWING]);
  });
});

describe('the "N new" count', () => {
  it("is 0 while following", () => check(newCount(FOLLOWING, 10_000), 0));

  it("counts events received since pausing", () => check(newCount(pause(FOLLOWING, 100), 142), 42));

  it("is 0 right after pausing", () => check(newCount(pause(FOLLOWING, 100), 100), 0));

  it("never goes negative", () => check(newCount({ mode: "paused", since: 100 }, 50), 0));

  it("restarts from the new end when the store restarted its numbering", () =>
    check(newCount(rebase({ mode: "paused", since: 900 }, 5), 8), 3));

  it("a rebase within the stream changes nothing", () =>
    check(rebase({ mode: "paused", since: 100 }, 200), { mode: "paused", since: 100 }));
});

describe("scrolling by the user", () => {
  const scroll = (state: FollowState, atBottom: boolean, movedDown: boolean) =>
    onUserScroll(state, { atBottom, movedDown, nextSeq: 77 });

  it("scrolling up while following pauses", () => check(scroll(FOLLOWING, false, false), { mode: "paused", since: 77 }));

  it("a scroll that stays at the bottom keeps following", () => check(scroll(FOLLOWING, true, false), FOLLOWING));

  it("scrolling down onto the bottom while paused resumes", () => check(scroll({ mode: "paused", since: 5 }, true, true), FOLLOWING));

  it("scrolling down short of the bottom stays paused", () =>
    check(scroll({ mode: "paused", since: 5 }, false, true), { mode: "paused", since: 5 }));

  it("being at the bottom without moving down (pressed Pause at the bottom) stays paused", () =>
    check(scroll({ mode: "paused", since: 5 }, true, false), { mode: "paused", since: 5 }));
});
