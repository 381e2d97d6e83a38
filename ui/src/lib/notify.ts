// Notification previews in words: which rules first, what each channel is called, where the
// recipients were read, and where a rules file's error is in the editor's text.
import type { Channel } from "./bindings/Channel";
import type { Priority } from "./bindings/Priority";
import type { RecipientSource } from "./bindings/RecipientSource";
import type { RuleOutcome } from "./bindings/RuleOutcome";

/** Matched rules first, each group in rule order (the core's order is rule order). */
export function matchedFirst(outcomes: readonly RuleOutcome[]): RuleOutcome[] {
  return [...outcomes.filter((o) => o.matched), ...outcomes.filter((o) => !o.matched)];
}

export const CHANNEL_LABEL: Record<Channel, string> = {
  websocket: "In-app",
  push: "Push",
  email: "Email",
};

export const PRIORITY_LABEL: Record<Priority, string> = {
  low: "low",
  normal: "normal",
  high: "high",
  urgent: "urgent",
};

/** `from the event`, `from conversation.created evt_1 (held)`, `unknown: not in the event or in what is held`. */
export function sourceText(source: RecipientSource | null): string {
  if (!source) return "";
  switch (source.kind) {
    case "event":
      return "from the event";
    case "history":
      return `from ${source.eventName} ${source.eventId} (held)`;
    case "unknown":
      return "unknown: not in the event or in what is held";
  }
}

/** The offset (UTF-16, as the editor counts) of a 1-based line and column in `text`, clamped to it. */
export function offsetOf(text: string, line: number, column: number): number {
  if (line < 1) return 0;
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf("\n", offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  const end = text.indexOf("\n", offset);
  const lineEnd = end < 0 ? text.length : end;
  return Math.min(offset + Math.max(0, column - 1), lineEnd);
}

/** The range to underline for an error at a line and column: to the end of the word there, at least one character. */
export function problemRange(text: string, line: number, column: number): { from: number; to: number } {
  const from = offsetOf(text, line, column);
  let to = from;
  while (to < text.length && /[^\s:,'"{}[\]]/.test(text[to])) to++;
  if (to === from) to = Math.min(text.length, from + 1);
  if (to === from && from > 0) return { from: from - 1, to: from };
  return { from, to };
}
