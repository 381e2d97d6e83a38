// Specification of the table's column choice.
import { describe, expect, it } from "vitest";
import { COLUMNS, gridTemplate, normalizeColumns, toggleColumn, filterValue } from "./columns";
import type { RowSummary } from "./bindings/RowSummary";

describe("visible columns", () => {
  it("unknown keys are dropped, order is the table's", () =>
    expect(normalizeColumns(["size", "bogus", "time"])).toEqual(["time", "size"]));
  it("nothing known gives the default", () => expect(normalizeColumns(["x"])).toContain("subject"));
  it("toggle hides and shows in table order", () => {
    expect(toggleColumn(["time", "size"], "org")).toEqual(["time", "org", "size"]);
    expect(toggleColumn(["time", "org"], "org")).toEqual(["time"]);
  });
  it("the last column stays", () => expect(toggleColumn(["time"], "time")).toEqual(["time"]));
  it("the grid has one track per visible column", () => expect(gridTemplate(["time", "size"])).toBe("94px 58px"));
});

describe("values a click filters by", () => {
  const row = { org: "org_1", source: "", resource: "task", eventName: "failed", resourceId: "t1", id: "e1" } as RowSummary;
  const col = (key: string) => COLUMNS.find((c) => c.key === key)!;
  it("the event column filters by name", () => expect(filterValue(row, col("event"))).toBe("task.failed"));
  it("an empty value gives nothing", () => expect(filterValue(row, col("source"))).toBeNull());
  it("time gives nothing", () => expect(filterValue(row, col("time"))).toBeNull());
});
