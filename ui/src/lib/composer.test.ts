// Specification of the composer's fields and JSON kept in sync.
import { describe, expect, it } from "vitest";
import { fieldsOf, filterPairs, withFields } from "./composer";

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
