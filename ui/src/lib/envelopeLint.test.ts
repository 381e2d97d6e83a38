// Specification of the composer's lint: syntax, missing and mistyped fields, each underlined where it is.
import { describe, expect, it } from "vitest";
import { keyRange, lintEnvelope } from "./envelopeLint";

/** The problems as `text underlined: message`. */
function check(text: string, expected: string[]) {
  expect(lintEnvelope(text).map((p) => `${text.slice(p.from, p.to)}: ${p.message}`)).toEqual(expected);
}

const GOOD = {
  id: "evt_1",
  organizationId: "org_1",
  source: "tasks",
  resource: "task",
  resourceId: "t_1",
  eventName: "created",
  timestamp: "2026-01-01T00:00:00Z",
  payload: {},
  metadata: { filters: { owner: "u_1" }, tags: ["vip"] },
};
const text = (over: Record<string, unknown>) => JSON.stringify({ ...GOOD, ...over }, null, 2);

describe("a good envelope", () => {
  it("has no problem", () => check(text({}), []));
  it("without metadata has none either", () => {
    const { metadata: _unused, ...rest } = GOOD;
    check(JSON.stringify(rest), []);
  });
});

describe("problems are underlined where they are", () => {
  it("a wrong type on its key", () => check(text({ resourceId: 42 }), ['"resourceId": "resourceId" must be a string.']));
  it("a missing field at the start", () => {
    const { source: _unused, ...rest } = GOOD;
    check(JSON.stringify(rest), ['{: Missing the field "source".']);
  });
  it("a missing payload", () => {
    const { payload: _unused, ...rest } = GOOD;
    check(JSON.stringify(rest), ['{: Missing the field "payload" (use {} for none).']);
  });
  it("bad metadata", () =>
    check(text({ metadata: { filters: { owner: 1 }, tags: "vip" } }), [
      '"metadata": "metadata.filters" must map keys to string values.',
      '"metadata": "metadata.tags" must be a list of strings.',
    ]));
  it("not an object", () => check("[1, 2]", ["[1, 2]: An envelope is a JSON object."]));
  it("a syntax error near where it is", () => {
    const problems = lintEnvelope('{"id": "x",, "b": 1}');
    expect(problems.length).toBe(1);
    expect(problems[0].message.startsWith("Not JSON: ")).toBe(true);
    expect(problems[0].from).toBeGreaterThan(5);
  });
});

describe("keys are found at the top level only", () => {
  it("a nested key of the same name is not the field", () => {
    const t = '{"payload": {"id": 1}, "id": "x"}';
    expect(keyRange(t, "id")).toEqual({ from: 23, to: 27 });
  });
  it("a key inside a string value is not a key", () => expect(keyRange('{"a": "\\"id\\": 1"}', "id")).toBeNull());
});
