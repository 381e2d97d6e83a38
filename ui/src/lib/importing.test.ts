import { describe, expect, it } from "vitest";
import { importText } from "./importing";
import { defaultFileName, exportPercent, exportProgressText } from "./exporting";

describe("files", () => {
  it("says what an opened file held and what it flagged or skipped", () => {
    expect(importText({ path: "/tmp/a/events.ndjson", events: 1200, invalid: 0, skipped: 0 })).toBe("Opened 1\u202f200 events from events.ndjson");
    expect(importText({ path: "x.ndjson", events: 1, invalid: 3, skipped: 1 })).toBe("Opened 1 event from x.ndjson (3 lines not events, flagged; 1 line too long, skipped)");
  });

  it("names an export after what it holds and counts its progress", () => {
    expect(defaultFileName({ kind: "timeline", org: "org_1", fromMs: 0, toMs: 1, recording: true, history: false }, "csv")).toBe("org_1-timeline.csv");
    expect(defaultFileName({ kind: "view" }, "ndjson")).toBe("eventscope-view.ndjson");
    const p = { events: 12_000, total: 40_000, bytes: 3_100_000, elapsedMs: 10, done: false };
    expect([exportProgressText(p), exportPercent(p)]).toEqual(["12\u202f000 of 40\u202f000 events · 3.1 MB", 30]);
    expect(exportPercent({ ...p, total: null, done: true })).toBe(100);
  });
});
