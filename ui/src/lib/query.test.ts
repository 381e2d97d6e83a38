// Specification of query editing: the terms clicks write, and adding, removing, flipping them.
import { describe, expect, it } from "vitest";
import { fieldTerm, hasTerm, idsQuery, pathTerm, quoteValue, toggleTerm, topLevelTerms, withSuggestion } from "./query";

describe("values are written so the core reads them back literally", () => {
  const check = (value: string, expected: string) => expect(quoteValue(value)).toBe(expected);
  it("plain tokens stay bare", () => check("org_123", "org_123"));
  it("dots, dashes and @ stay bare", () => check("a.b-c@d", "a.b-c@d"));
  it("spaces are quoted", () => check("Ada Lovelace", '"Ada Lovelace"'));
  it("quotes, backslashes and stars are escaped", () => check('a"b\\c*', '"a\\"b\\\\c\\*"'));
  it("colons and commas are quoted", () => check("10:00,x", '"10:00,x"'));
  it("the empty value is quoted", () => check("", '""'));
  it("unicode is quoted", () => check("café", '"café"'));
});

describe("terms of clicked values", () => {
  it("envelope fields", () => {
    expect(fieldTerm("org", "org_1")).toBe("org:org_1");
    expect(fieldTerm("resourceId", "conv 42")).toBe('resourceId:"conv 42"');
  });
  const check = (path: (string | number)[], value: unknown, expected: string | null) =>
    expect(pathTerm(path, value)).toBe(expected);
  it("a payload string", () => check(["payload", "status"], "failed", "payload.status:failed"));
  it("a nested name with a space", () => check(["payload", "sender", "name"], "Ada Lovelace", 'payload.sender.name:"Ada Lovelace"'));
  it("numbers, booleans and null by their JSON text", () => {
    check(["payload", "attempt"], 3, "payload.attempt:3");
    check(["payload", "ok"], false, "payload.ok:false");
    check(["metadata", "x"], null, "metadata.x:null");
  });
  it("array indexes are dropped: any element matches", () =>
    check(["payload", "participants", 1], "part_1", "payload.participants:part_1"));
  it("keys the language cannot write give nothing", () => check(["payload", "a key"], "x", null));
  it("containers give nothing", () => check(["payload", "o"], { a: 1 }, null));
  it("envelope keys give nothing (the fields have their own terms)", () => check(["id"], "x", null));
});

describe("top-level terms", () => {
  const check = (query: string, expected: string[]) => expect(topLevelTerms(query)).toEqual(expected);
  it("spaces separate", () => check(" org:a  source:b ", ["org:a", "source:b"]));
  it("quotes hold spaces", () => check('name:"a b" x', ['name:"a b"', "x"]));
  it("escaped quotes do not close", () => check('"a \\" b" c', ['"a \\" b"', "c"]));
  it("groups stay whole", () => check("(a OR b) -(c d)", ["(a OR b)", "-(c d)"]));
  it("regexes hold spaces", () => check("/a b/ c", ["/a b/", "c"]));
});

describe("clicking a value toggles its term", () => {
  const check = (query: string, term: string, exclude: boolean, expected: string) =>
    expect(toggleTerm(query, term, exclude)).toBe(expected);
  it("adds to the empty query", () => check("", "org:a", false, "org:a"));
  it("adds at the end", () => check("source:b", "org:a", false, "source:b org:a"));
  it("removes when present", () => check("source:b org:a", "org:a", false, "source:b"));
  it("Alt adds an exclusion", () => check("source:b", "org:a", true, "source:b -org:a"));
  it("Alt again removes the exclusion", () => check("source:b -org:a", "org:a", true, "source:b"));
  it("flips an exclusion into an inclusion", () => check("-org:a x", "org:a", false, "org:a x"));
  it("a top-level OR is grouped first", () => check("a OR b", "org:x", false, "(a OR b) org:x"));
  it("knows what is there", () => {
    expect(hasTerm("x -org:a", "org:a", true)).toBe(true);
    expect(hasTerm("x -org:a", "org:a")).toBe(false);
  });
});

describe("a suggested field replaces the misspelt one", () => {
  const check = (query: string, pos: number, end: number, suggestion: string | null, expected: string) =>
    expect(withSuggestion(query, { pos, end, suggestion })).toBe(expected);
  it("at the start", () => check("orgg:org_1", 0, 4, "org", "org:org_1"));
  it("after other terms, the rest kept", () => check("source:flows resourceid:t_1 -x", 13, 23, "resourceId", "source:flows resourceId:t_1 -x"));
  it("after a non-ASCII character (offsets are UTF-16 units)", () => check("😀 orgg:x", 3, 7, "org", "😀 org:x"));
  it("no suggestion, no change", () => check("orgg:x", 0, 4, null, "orgg:x"));
  it("a stale problem that points past the text changes nothing", () => check("org", 0, 4, "org", "org"));
});

describe("the events of a scenario step", () => {
  it("one id", () => expect(idsQuery(["evt_1"])).toBe("id:evt_1"));
  it("several, once each, any of them", () => expect(idsQuery(["evt_1", "e 2", "evt_1"])).toBe('(id:evt_1 OR id:"e 2")'));
});
