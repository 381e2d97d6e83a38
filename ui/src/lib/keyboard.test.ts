// Specification of the keyboard shortcuts and when they stay out of the way.
import { describe, expect, it } from "vitest";
import { keyAction, type KeyInput } from "./keyboard";

function check(input: KeyInput, expected: ReturnType<typeof keyAction>) {
  expect(keyAction(input)).toBe(expected);
}

describe("in the event view", () => {
  it("Space pauses or resumes", () => check({ key: " ", targetTag: "div" }, "togglePause"));
  it("ArrowUp selects the previous event", () => check({ key: "ArrowUp", targetTag: "body" }, "selectPrevious"));
  it("ArrowDown selects the next event", () => check({ key: "ArrowDown", targetTag: "div" }, "selectNext"));
  it("Escape clears the selection", () => check({ key: "Escape", targetTag: "div" }, "clearSelection"));
  it("End jumps to the newest events", () => check({ key: "End", targetTag: "div" }, "resume"));
  it("/ focuses the search box", () => check({ key: "/", targetTag: "div" }, "focusFilter"));
  it("/ typed in the search box is text", () => check({ key: "/", targetTag: "input" }, null));
  it("other keys are left to the browser", () => check({ key: "a", targetTag: "div" }, null));
  it("shortcuts with modifiers are left to the browser (Ctrl+Space, Alt+ArrowUp)", () =>
    check({ key: " ", ctrlKey: true, targetTag: "div" }, null));
});

describe("when focus is somewhere that uses the key", () => {
  it("Space on a focused button presses the button, not the pause toggle twice", () => check({ key: " ", targetTag: "BUTTON" }, null));
  it("typing in an input is never a shortcut", () => check({ key: " ", targetTag: "input" }, null));
  it("arrows in a select choose options", () => check({ key: "ArrowDown", targetTag: "select" }, null));
  it("contenteditable counts as typing", () => check({ key: "ArrowUp", targetTag: "div", targetEditable: true }, null));
  it("Escape in an input still clears the selection", () => check({ key: "Escape", targetTag: "input" }, "clearSelection"));
});

describe("with a dialog open", () => {
  it("Escape closes the dialog", () => check({ key: "Escape", targetTag: "input", dialogOpen: true }, "closeDialog"));
  it("Space does not pause the stream behind it", () => check({ key: " ", targetTag: "div", dialogOpen: true }, null));
  it("arrows do not move the selection behind it", () => check({ key: "ArrowUp", targetTag: "div", dialogOpen: true }, null));
});
