// Follow/pause state machine: whether the table tracks the newest row, and the "N new" count.
//
// Following, the table shows the newest rows (from each batch's tail) and stays at the bottom.
// Pausing (button, Space, scrolling up, keyboard-selecting off screen) remembers stats.nextSeq
// at that moment; "N new" is how far nextSeq has moved since. Resuming (button, pill, Space,
// End, scrolling back to the bottom) jumps to the newest row again.

export type FollowState =
  | { mode: "following" }
  | { mode: "paused"; since: number };

export const FOLLOWING: FollowState = { mode: "following" };

export function isFollowing(state: FollowState): boolean {
  return state.mode === "following";
}

/** Stops following; pausing again keeps the original starting point. */
export function pause(state: FollowState, nextSeq: number): FollowState {
  return state.mode === "paused" ? state : { mode: "paused", since: nextSeq };
}

export function resume(): FollowState {
  return FOLLOWING;
}

export function toggle(state: FollowState, nextSeq: number): FollowState {
  return state.mode === "paused" ? FOLLOWING : pause(state, nextSeq);
}

/** Events received since pausing (0 while following). */
export function newCount(state: FollowState, nextSeq: number): number {
  return state.mode === "paused" ? Math.max(0, nextSeq - state.since) : 0;
}

export interface UserScroll {
  /** The viewport shows the newest row after this scroll. */
  atBottom: boolean;
  /** This scroll moved towards newer rows. */
  movedDown: boolean;
  nextSeq: number;
}

/**
 * A scroll the user made (never one the table made itself): leaving the bottom pauses,
 * scrolling down onto the bottom while paused resumes.
 */
export function onUserScroll(state: FollowState, scroll: UserScroll): FollowState {
  if (state.mode === "following") return scroll.atBottom ? state : pause(state, scroll.nextSeq);
  return scroll.atBottom && scroll.movedDown ? FOLLOWING : state;
}

/** The store was emptied (clear_events, new connection): a pause point past nextSeq is reset. */
export function rebase(state: FollowState, nextSeq: number): FollowState {
  return state.mode === "paused" && state.since > nextSeq ? { mode: "paused", since: nextSeq } : state;
}
