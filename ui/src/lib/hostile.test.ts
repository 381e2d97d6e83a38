// Specification that untrusted payloads stay text: rendered components escape them, no raw-HTML sinks exist.
import { render } from "svelte/server";
import { describe, expect, it } from "vitest";
import BodyView from "../components/events/BodyView.svelte";
import EventDetailView from "../components/events/EventDetail.svelte";
import EventRow from "../components/events/EventRow.svelte";
import JsonNode from "../components/events/JsonNode.svelte";
import type { EventDetail } from "./bindings/EventDetail";
import Marked from "../components/shared/Marked.svelte";
import type { RowSummary } from "./bindings/RowSummary";
import { COLUMNS } from "./columns";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '<img src=x onerror="alert(1)">';

/** Renders a component to HTML and checks that no hostile markup survived as markup. */
function check(html: string, mustContainAsText: string[]) {
  expect(html).not.toMatch(/<script>alert/i);
  expect(html).not.toMatch(/<img[^>]*onerror/i);
  for (const text of mustContainAsText) expect(html).toContain(text);
}

const row: RowSummary = {
  seq: 7,
  pos: 7,
  id: `id-${SCRIPT}`,
  receivedMs: 0,
  timestampMs: null,
  org: IMG,
  source: "flows",
  resource: "flow",
  eventName: SCRIPT,
  resourceId: IMG,
  subject: `events.${IMG}`,
  size: 10,
  problem: null,
  sent: false,
};

describe("hostile strings render as text", () => {
  it("in highlighted text (the marks are elements, the text stays text)", () =>
    check(render(Marked, { props: { text: `${SCRIPT}${IMG}`, needles: ["script", "img"] } }).body, [
      ">script</mark>",
      ">img</mark>",
      "&lt;",
    ]));

  it("in a table row (ids, names, subject, attributes)", () =>
    check(render(EventRow, { props: { pos: 7, row, columns: COLUMNS } }).body, ["&lt;script>alert(1)&lt;/script>", "&lt;img src=x onerror="]));

  it("in a flagged table row's problem text", () =>
    check(render(EventRow, { props: { pos: 7, row: { ...row, problem: SCRIPT }, columns: COLUMNS } }).body, ["⚠ &lt;script>"]));

  it("in JSON tree keys and values", () =>
    check(render(JsonNode, { props: { value: { [SCRIPT]: IMG, list: [IMG] } } }).body, ["&lt;script>alert(1)&lt;/script>", "&lt;img src=x onerror="]));

  it("in a text body", () =>
    check(render(BodyView, { props: { body: { kind: "text", text: `${SCRIPT}${IMG}` } } }).body, ["&lt;script>alert(1)&lt;/script>&lt;img"]));

  it("in a JSON body that does not parse (shown raw)", () =>
    check(render(BodyView, { props: { body: { kind: "json", text: `{${SCRIPT}` } } }).body, ["{&lt;script>"]));

  it("in the detail pane's headers, problems and subject", () => {
    const detail: EventDetail = {
      row,
      headers: [[SCRIPT, IMG]],
      body: { kind: "json", text: JSON.stringify({ html: IMG }) },
      problems: [`bad ${SCRIPT}`],
    };
    check(render(EventDetailView, { props: { seq: 7, detail, error: null, loading: false, onclose: () => {} } }).body, [
      "bad &lt;script>",
      "events.&lt;img",
    ]);
  });
});

describe("a 10,000-level body", () => {
  it("renders only the levels that start open (six), not 10,000 nested nodes", () => {
    const text = "[".repeat(10_000) + "1" + "]".repeat(10_000);
    const html = render(BodyView, { props: { body: { kind: "json", text } } }).body;
    expect((html.match(/data-testid="json-node"/g) ?? []).length).toBe(6);
  });
});

describe("the sources", () => {
  const sources = import.meta.glob<string>(["../**/*.ts", "../**/*.svelte", "!../**/*.test.ts"], {
    query: "?raw",
    import: "default",
    eager: true,
  });

  it("are all scanned (sanity check of the glob)", () => expect(Object.keys(sources).length).toBeGreaterThan(30));

  it("never use raw HTML ({@html}, innerHTML, outerHTML, insertAdjacentHTML, document.write)", () => {
    const sink = /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|createContextualFragment/;
    const offenders = Object.entries(sources)
      .filter(([path, source]) => sink.test(source) || (path.endsWith(".svelte") && source.includes("{@html")))
      .map(([path]) => path);
    expect(offenders).toEqual([]);
  });
});
