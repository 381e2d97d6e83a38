// Specification of the JSON tree model: parsing fallback, depth, paging, truncation, pretty text.
import { describe, expect, it } from "vitest";
import {
  PAGE_SIZE,
  childCount,
  childPage,
  isExpandable,
  keyText,
  kindOf,
  parseJson,
  prettyJson,
  scalarText,
  startsExpanded,
  summary,
} from "./jsonTree";

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

const deep = (levels: number) => "[".repeat(levels) + "1" + "]".repeat(levels);

describe("parsing", () => {
  it("parses JSON", () => check(parseJson('{"a":[1,true,null]}'), { ok: true, value: { a: [1, true, null] } }));

  it("reports bad JSON instead of throwing, so the view falls back to raw text", () =>
    check(parseJson("{not json").ok, false));

  it("copes with 10,000 levels of nesting", () => check(parseJson(deep(10_000)).ok, true));

  it("copes with a 1 MB body", () => {
    const body = JSON.stringify({ items: Array.from({ length: 10_000 }, (_, i) => ({ i, pad: "x".repeat(90) })) });
    check([body.length > 1_000_000, parseJson(body).ok], [true, true]);
  });
});

describe("nodes", () => {
  it("know their kind", () =>
    check([{}, [], "s", 1, true, null].map(kindOf), ["object", "array", "string", "number", "boolean", "null"]));

  it("the root and its children start expanded; grandchildren start collapsed", () =>
    check([0, 1, 2, 3].map((d) => startsExpanded(d)), [true, true, false, false]));

  it("small containers stay open a few levels deeper, large ones do not", () =>
    check(
      [startsExpanded(2, 3), startsExpanded(4, 12), startsExpanded(4, 13), startsExpanded(5, 1)],
      [true, true, false, false],
    ));

  it("a collapsed container shows its size", () =>
    check([summary({ a: 1, b: 2 }), summary([1]), summary({}), summary([])], ["{2 keys}", "[1 item]", "{}", "[]"]));

  it("keys are bare when they are identifiers and quoted otherwise", () =>
    check([keyText("name"), keyText("a b"), keyText(""), keyText(3)], ["name", '"a b"', '""', "3"]));

  it("count the children of containers only", () => check([childCount([1, 2, 3]), childCount({ a: 1 }), childCount("abc")], [3, 1, 0]));

  it("only containers with children open and close", () =>
    check([{ a: 1 }, [0], {}, [], "s", null].map(isExpandable), [true, true, false, false, false, false]));

  it("an empty container reads inline, like a value", () => check([scalarText([]).text, scalarText({}).text], ["[]", "{}"]));
});

describe("paging children", () => {
  const big = Array.from({ length: 250 }, (_, i) => i);

  it(`shows the first ${PAGE_SIZE} children and how many are left`, () => {
    const page = childPage(big, PAGE_SIZE);
    check([page.children.length, page.children[0], page.remaining], [100, { key: 0, value: 0 }, 150]);
  });

  it('"show more" adds a page', () => check(childPage(big, 2 * PAGE_SIZE).remaining, 50));

  it("the last page shows everything", () => check(childPage(big, 3 * PAGE_SIZE), { children: big.map((v) => ({ key: v, value: v })), remaining: 0 }));

  it("objects page by key in order", () =>
    check(childPage({ z: 1, a: 2, m: 3 }, 2), { children: [{ key: "z", value: 1 }, { key: "a", value: 2 }], remaining: 1 }));

  it("only the children of an expanded node are touched: a 10,000-deep value yields one child per level", () => {
    const value = parseJson(deep(10_000));
    const level1 = value.ok ? childPage(value.value, PAGE_SIZE) : null;
    check([level1?.children.length, Array.isArray(level1?.children[0].value)], [1, true]);
  });
});

describe("scalars", () => {
  it("strings are shown as JSON strings, escapes visible", () => check(scalarText('a"b\n'), { text: '"a\\"b\\n"', hidden: 0 }));

  it("long strings are cut with the number of hidden characters", () =>
    check(scalarText("x".repeat(310), false, 300), { text: `"${"x".repeat(300)}…"`, hidden: 10 }));

  it('"show all" shows the whole string', () => check(scalarText("x".repeat(310), true, 300).hidden, 0));

  it("numbers, booleans and null as written", () => check([scalarText(1.5).text, scalarText(false).text, scalarText(null).text], ["1.5", "false", "null"]));
});

describe("pretty text", () => {
  it("indents objects and arrays by two spaces", () =>
    check(prettyJson('{"a":[1,2],"b":{}}'), '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}'));

  it("keeps every digit of big numbers (JSON.parse would round them)", () =>
    check(prettyJson('{"id":12345678901234567890}'), '{\n  "id": 12345678901234567890\n}'));

  it("leaves strings alone, including brackets, commas and escaped quotes inside them", () =>
    check(prettyJson('["a,{b}:\\"c\\"", "d e"]'), '[\n  "a,{b}:\\"c\\"",\n  "d e"\n]'));

  it("re-spaces already pretty input the same way", () => check(prettyJson('{ "a" :\n  1 }'), '{\n  "a": 1\n}'));

  it("handles 10,000 levels of nesting, with indentation capped", () => {
    const text = prettyJson(deep(10_000), 40);
    const widest = Math.max(...text.split("\n").map((l) => l.length - l.trimStart().length));
    check([text.split("\n").length, widest], [20_001, 80]);
  });
});
