// Specification of how times, sizes, counts and rates are written.
import { describe, expect, it } from "vitest";
import { dottedName, eventLabel, formatBytes, rowLabel, formatClock, formatCount, formatIso, formatMegabytes, formatRate } from "./format";

function check(actual: string, expected: string) {
  expect(actual).toBe(expected);
}

const localMs = (h: number, m: number, s: number, ms: number) => new Date(2024, 4, 1, h, m, s, ms).getTime();

describe("times", () => {
  it("the table shows local wall-clock time with milliseconds", () => check(formatClock(localMs(9, 5, 3, 7)), "09:05:03.007"));
  it("late in the day", () => check(formatClock(localMs(23, 59, 59, 999)), "23:59:59.999"));
  it("an unusable time shows as dashes", () => check(formatClock(Number.NaN), "--:--:--.---"));
  it("the detail pane shows ISO 8601 in UTC", () => check(formatIso(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), "2024-01-02T03:04:05.006Z"));
  it("a missing envelope timestamp shows as a dash", () => check(formatIso(null), "—"));
  it("an out-of-range timestamp shows as a dash", () => check(formatIso(8.64e15 + 1), "—"));
});

describe("counts", () => {
  it("small numbers stay as they are", () => check(formatCount(999), "999"));
  it("thousands get a narrow space separator", () => check(formatCount(1234567), "1\u202F234\u202F567"));
  it("zero", () => check(formatCount(0), "0"));
  it("only digits and separators, so tests can read them back", () =>
    check(formatCount(98765432).replace(/\u202F/g, ""), "98765432"));
});

describe("rates", () => {
  it("no traffic", () => check(formatRate(0), "0"));
  it("slow streams keep one decimal", () => check(formatRate(2.46), "2.5"));
  it("whole slow rates drop the .0", () => check(formatRate(3), "3"));
  it("fast streams are whole numbers with separators", () => check(formatRate(12345.6), "12\u202F346"));
});

describe("sizes", () => {
  it("bytes", () => check(formatBytes(512), "512 B"));
  it("kilobytes with one decimal below 10", () => check(formatBytes(1536), "1.5 kB"));
  it("kilobytes whole above 10", () => check(formatBytes(123_456), "123 kB"));
  it("megabytes", () => check(formatBytes(1_048_576), "1.0 MB"));
  it("never 1000 kB: moves up a unit", () => check(formatBytes(999_990), "1.0 MB"));
  it("memory held is always in MB", () => check(formatMegabytes(12_345_678), "12.3 MB"));
  it("no memory held", () => check(formatMegabytes(0), "0.0 MB"));
});

describe("the event column", () => {
  const row = { resource: "conversation", eventName: "message_posted", problem: null };
  it("is resource.eventName", () => check(eventLabel(row), "conversation.message_posted"));
  it("is the problem, flagged, when the message has one", () => check(eventLabel({ ...row, problem: "not JSON" }), "⚠ not JSON"));
  it("is a dash when the envelope names nothing", () => check(eventLabel({ resource: "", eventName: "", problem: null }), "—"));
  it("shows the part that exists when the other is missing", () => check(dottedName({ resource: "", eventName: "created" }), "created"));
});

describe("a row as a screen reader announces it", () => {
  const at = new Date(2026, 0, 1, 9, 30, 15, 42).getTime();
  const row = { resource: "task", eventName: "failed", problem: null, org: "org_1", receivedMs: at };
  it("event name, organization and time", () => check(rowLabel(row), `task.failed in org_1 at ${formatClock(at)}`));
  it("says when there is no organization", () => check(rowLabel({ ...row, org: "" }), `task.failed no organization at ${formatClock(at)}`));
  it("and what is wrong with an invalid message", () =>
    check(rowLabel({ ...row, resource: "", eventName: "", problem: "not JSON" }), `— in org_1 at ${formatClock(at)}, invalid: not JSON`));
});
