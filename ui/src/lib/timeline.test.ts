import { describe, expect, it } from "vitest";
import { changeText, formatSpan, gapText, presetRange, fromLocalInput, toLocalInput } from "./timeline";

describe("timeline words", () => {
  it("says a step's distance in the largest two units", () => {
    expect([850, 12_000, 80_000, 120_000, 11_100_000, 3 * 86_400_000 + 7_200_000, -2000].map(formatSpan)).toEqual([
      "850 ms",
      "12 s",
      "1 min 20 s",
      "2 min",
      "3 h 5 min",
      "3 d 2 h",
      "−2 s",
    ]);
  });

  it("says each change as a line", () => {
    expect(changeText({ path: "/status", change: "changed", before: '"To Do"', after: '"Done"' })).toBe('status: "To Do" → "Done"');
    expect(changeText({ path: "/steps/2/status", change: "added", before: null, after: '"failed"' })).toBe('+ steps.2.status: "failed"');
    expect(changeText({ path: "/tags", change: "removed", before: "[]", after: null })).toBe("− tags");
  });

  it("takes yesterday from local midnight to midnight and the rest back from now", () => {
    const now = new Date(2026, 11, 1, 14, 30).getTime();
    const [from, to] = presetRange("yesterday", now);
    expect([new Date(from).getDate(), new Date(from).getHours(), new Date(to).getDate(), to - from]).toEqual([30, 0, 1, 86_400_000]);
    expect(presetRange("15m", now)).toEqual([now - 900_000, now + 1]);
  });

  it("writes a gap with its times and reason", () => {
    const from = new Date(2026, 11, 1, 13, 42, 5).getTime();
    expect(gapText(from, from + 125_000, "disconnected")).toBe("no data 13:42:05–13:44:10: disconnected");
  });

  it("round-trips a local time through the custom range's inputs to the minute", () => {
    const ms = new Date(2026, 11, 1, 9, 7).getTime();
    expect(fromLocalInput(toLocalInput(ms))).toBe(ms);
    expect(fromLocalInput("")).toBeNull();
  });
});
