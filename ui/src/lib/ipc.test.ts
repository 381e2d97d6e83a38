// Specification of how any rejection from the core is normalized into a WireError.
import { describe, expect, it } from "vitest";
import type { WireError } from "./bindings/WireError";
import { toWireError } from "./ipc";

function check(rejection: unknown, expected: WireError) {
  expect(toWireError(rejection)).toEqual(expected);
}

describe("rejections become WireErrors", () => {
  it("a WireError passes through", () => check({ code: "evicted", message: "gone" }, { code: "evicted", message: "gone" }));
  it("a missing code becomes null", () => check({ message: "boom" }, { code: null, message: "boom" }));
  it("every code the core sends passes", () => {
    for (const code of ["evicted", "invalid_input", "connect_failed", "invalid_filter"] as const) check({ code, message: "m" }, { code, message: "m" });
  });
  it("a code the core does not send becomes null", () => check({ code: "teapot", message: "boom" }, { code: null, message: "boom" }));
  it("an inherited property is not a code", () => check({ code: "toString", message: "boom" }, { code: null, message: "boom" }));
  it("a non-string code becomes null", () => check({ code: 7, message: "boom" }, { code: null, message: "boom" }));
  it("a plain string (Tauri's own errors) becomes the message", () =>
    check("command rows not found", { code: null, message: "command rows not found" }));
  it("an Error keeps its message", () => check(new Error("ipc closed"), { code: null, message: "ipc closed" }));
  it("anything else is described", () => check({ weird: true }, { code: null, message: '{"weird":true}' }));
  it("nothing at all", () => check(undefined, { code: null, message: "Unknown error" }));
});
