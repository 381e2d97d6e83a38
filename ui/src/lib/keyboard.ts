// Keyboard mapping: which app action a key press means, given where focus is and what is open.

export type KeyAction =
  | "togglePause"
  | "resume"
  | "selectPrevious"
  | "selectNext"
  | "clearSelection"
  | "closeDialog"
  | "focusFilter";

export interface KeyInput {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** Lower-case tag name of the focused element (`input`, `button`, `div`, ...). */
  targetTag?: string;
  /** The focused element is contenteditable. */
  targetEditable?: boolean;
  dialogOpen?: boolean;
}

const TYPING = new Set(["input", "textarea", "select"]);
/** Elements where Space/Enter already mean "activate": leave those keys to the browser. */
const ACTIVATES = new Set(["button", "a", "summary"]);

/** The action for a key press, or null to let the browser handle it. */
export function keyAction(k: KeyInput): KeyAction | null {
  if (k.ctrlKey || k.metaKey || k.altKey) return null;
  const tag = (k.targetTag ?? "").toLowerCase();
  if (k.key === "Escape") return k.dialogOpen ? "closeDialog" : "clearSelection";
  if (k.dialogOpen) return null;
  if (TYPING.has(tag) || k.targetEditable) return null;
  switch (k.key) {
    case " ":
    case "Spacebar":
      return ACTIVATES.has(tag) ? null : "togglePause";
    case "ArrowUp":
      return "selectPrevious";
    case "ArrowDown":
      return "selectNext";
    case "End":
      return "resume";
    case "/":
      return "focusFilter";
    default:
      return null;
  }
}
