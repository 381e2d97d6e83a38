// Specification of the composer's fields and JSON kept in sync.
import { describe, expect, it } from "vitest";
import { fieldsOf, filterPairs, withFields, outcomeText, progressPercent } from "./composer";

const check = (actual: unknown, expected: unknown) => expect(actual).toEqual(expected);

const ENVELOPE = JSON.stringify(
  {
    id: "evt_1",
    organizationId: "org_1",
    resourceId: "t_1",
    payload: { n: 1 },
    metadata: { filters: { owner: "u_1", priority: "high" }, tags: ["vip", "beta"] },
  },
  null,
  2,
);

describe("fields read from the envelope", () => {
  it("organization, resource id, filters in order, tags", () =>
    check(fieldsOf(ENVELOPE), { org: "org_1", resourceId: "t_1", filters: "owner=u_1\npriority=high", tags: "vip, beta" }));
  it("nothing while the text is not a JSON object", () => check([fieldsOf("{"), fieldsOf("[]")], [null, null]));
  it("missing metadata reads as empty", () => check(fieldsOf('{"organizationId":"o"}'), { org: "o", resourceId: "", filters: "", tags: "" }));
});

describe("fields written into the envelope", () => {
  it("replace what was there and keep the rest", () => {
    const out = JSON.parse(withFields(ENVELOPE, { org: "org_2", resourceId: "t 2", filters: "owner = u_9\n\nregion=eu", tags: "a, ,b" }));
    check(out, { id: "evt_1", organizationId: "org_2", resourceId: "t 2", payload: { n: 1 }, metadata: { filters: { owner: "u_9", region: "eu" }, tags: ["a", "b"] } });
  });
  it("a half-typed envelope is left as it is", () => check(withFields('{"id": ', { org: "x", resourceId: "", filters: "", tags: "" }), '{"id": '));
  it("a filter line without = has an empty value", () => check(filterPairs("a\nb=c"), [["a", ""], ["b", "c"]]));
});

describe("what a send says", () => {
  it("everything sent", () => expect(outcomeText({ sent: 500, total: 500, elapsedMs: 5012, cancelled: false })).toBe("sent 500 of 500 in 5.0 s"));
  it("cancelled half-way", () => expect(outcomeText({ sent: 120, total: 500, elapsedMs: 1234, cancelled: true })).toBe("cancelled: sent 120 of 500 in 1.2 s"));
  it("the bar fills with what was sent", () => {
    expect(progressPercent(null)).toBe(0);
    expect(progressPercent({ sent: 1, total: 3 })).toBe(33);
    expect(progressPercent({ sent: 5, total: 5 })).toBe(100);
    expect(progressPercent({ sent: 0, total: 0 })).toBe(0);
  });
});
