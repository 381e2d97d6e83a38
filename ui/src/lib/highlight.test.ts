// Specification of highlighting: which parts of a text are marked for a query's literals.
import { describe, expect, it } from "vitest";
import { pieces } from "./highlight";

/** Marked parts in [brackets]. */
function check(text: string, needles: string[], expected: string, max?: number) {
  const got = pieces(text, needles, max)
    .map((p) => (p.mark ? `[${p.text}]` : p.text))
    .join("");
  expect(got).toBe(expected);
}

describe("highlighting", () => {
  it("no needle, no mark", () => check("abc", [], "abc"));
  it("every occurrence", () => check("a timeout, then Timeout", ["timeout"], "a [timeout], then [Timeout]"));
  it("keeps the original case", () => check("ORG_1", ["org_1"], "[ORG_1]"));
  it("the longest needle wins where they start together", () => check("conv_42", ["conv_", "conv_42"], "[conv_42]"));
  it("the earliest needle wins", () => check("xab", ["b", "ab"], "x[ab]"));
  it("adjacent marks", () => check("aaa", ["a"], "[a][a][a]"));
  it("empty needles are ignored", () => check("abc", ["", "b"], "a[b]c"));
  it("markup stays text", () => check("<b>x</b>", ["x"], "<b>[x]</b>"));
  it("stops after the limit", () => check("aaaa", ["a"], "[a][a]aa", 2));
  it("the empty text", () => check("", ["a"], ""));
});
