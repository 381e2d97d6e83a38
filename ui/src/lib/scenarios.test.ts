// Specification of what the scenarios panel writes of a run and of a file.
import { describe, expect, it } from "vitest";
import { nameOf, verdictText } from "./stores/scenarios.svelte";

describe("a run's verdict", () => {
  it("every step passed", () => expect(verdictText([{ status: "passed" }, { status: "passed" }], 3210)).toBe("passed: 2 of 2 steps in 3.2 s"));
  it("failures are counted", () =>
    expect(verdictText([{ status: "passed" }, { status: "failed" }, { status: "failed" }], 5000)).toBe("2 of 3 steps failed (5.0 s)"));
  it("skipped steps are said too", () => expect(verdictText([{ status: "failed" }, { status: "skipped" }], 100)).toBe("1 of 2 steps failed, 1 skipped (0.1 s)"));
});

describe("a saved scenario's name", () => {
  it("is the file's name", () => expect(nameOf("/home/qa/task lifecycle.yaml")).toBe("task lifecycle"));
  it("whatever the extension", () => expect(nameOf("C:\\qa\\x.json")).toBe("x"));
  it("never empty", () => expect(nameOf("/tmp/.yaml")).toBe("scenario"));
});
