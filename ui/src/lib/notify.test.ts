import { describe, expect, it } from "vitest";
import type { RuleOutcome } from "./bindings/RuleOutcome";
import { matchedFirst, offsetOf, problemRange, sourceText } from "./notify";

function outcome(rule: string, matched: boolean): RuleOutcome {
  return {
    rule,
    name: rule,
    builtin: true,
    priority: "normal",
    matched,
    reason: matched ? null : { reason: "disabled" },
    detail: matched ? "" : "the rule is disabled",
    recipients: [],
    source: null,
    messages: [],
  };
}

describe("notification previews", () => {
  it("puts matched rules first and keeps rule order within each group", () => {
    const got = matchedFirst([outcome("a", false), outcome("b", true), outcome("c", false), outcome("d", true)]);
    expect(got.map((o) => o.rule)).toEqual(["b", "d", "a", "c"]);
  });

  it("says where recipients were read", () => {
    expect(sourceText({ kind: "event" })).toBe("from the event");
    expect(sourceText({ kind: "history", eventName: "conversation.created", eventId: "evt_1" })).toBe("from conversation.created evt_1 (held)");
    expect(sourceText({ kind: "unknown" })).toMatch(/^unknown/);
    expect(sourceText(null)).toBe("");
  });

  it("finds a line and column in the text and underlines the word there", () => {
    const text = "rules:\n  - id: bad id\n    event: task.*\n";
    expect(offsetOf(text, 2, 9)).toBe(text.indexOf("bad"));
    expect(offsetOf(text, 9, 1)).toBe(text.length);
    expect(offsetOf(text, 2, 99)).toBe(text.indexOf("\n    event"));
    expect(problemRange(text, 3, 12)).toEqual({ from: text.indexOf("task.*"), to: text.indexOf("task.*") + 6 });
    expect(problemRange("", 1, 1)).toEqual({ from: 0, to: 0 });
  });
});
