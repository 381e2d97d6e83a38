// Specification of status wording (NATS and gateway) and of the notices raised between two batches.
import { describe, expect, it } from "vitest";
import type { Batch } from "./bindings/Batch";
import type { GatewayStatus } from "./bindings/GatewayStatus";
import type { SourceStatus } from "./bindings/SourceStatus";
import { missedBatches, newEntries, noticesBetween } from "./notices";
import { gatewayOrgsText, gatewaySummary, gatewayTooltip, statusText, statusTone } from "./status";

function check(actual: unknown, expected: unknown) {
  expect(actual).toEqual(expected);
}

const status = (state: SourceStatus["state"], reason: string | null = null): SourceStatus => ({
  state,
  server: "nats://127.0.0.1:4222",
  subjects: ["events.>"],
  reason,
  reconnects: 0,
});
const batch = (state: SourceStatus["state"], reason: string | null = null, dropped = 0, reports = 0): Batch => ({
  batchNo: 1,
  stats: { received: 0, held: 0, evicted: 0, droppedClient: dropped, slowConsumerReports: reports, invalid: 0, bytesHeld: 0, ratePerSec: 0, firstSeq: 0, nextSeq: 0 },
  status: status(state, reason),
  view: { id: 0, query: "", firstPos: 0, nextPos: 0, complete: true },
  tail: [],
  facets: null,
});

describe("the status pill", () => {
  it("connected", () => check([statusText(status("connected")), statusTone(status("connected"))], ["connected", "ok"]));
  it("connecting", () => check([statusText(status("connecting")), statusTone(status("connecting"))], ["connecting", "warn"]));
  it("connecting, with what the network says", () =>
    check(statusText(status("connecting", "127.0.0.1:1: Connection refused (os error 111); retrying")), "connecting: 127.0.0.1:1: Connection refused (os error 111); retrying"));
  it("reconnecting, with the reason", () => check(statusText(status("reconnecting", "connection reset")), "reconnecting: connection reset"));
  it("disconnected, with the reason", () =>
    check([statusText(status("disconnected", "authorization violation")), statusTone(status("disconnected"))], ["disconnected: authorization violation", "error"]));
  it("before the first batch", () => check([statusText(null), statusTone(null)], ["waiting for core", "idle"]));
});

describe("notices between batches", () => {
  it("none while nothing changes", () => check(noticesBetween(batch("connected"), batch("connected")), []));

  it("none for the first batch of a healthy stream", () => check(noticesBetween(null, batch("connected")), []));

  it("losing the connection says why", () =>
    check(noticesBetween(batch("connected"), batch("reconnecting", "connection reset")), [
      { key: "connection", tone: "warn", text: "Reconnecting: connection reset" },
    ]));

  it("getting it back is said too", () =>
    check(noticesBetween(batch("reconnecting"), batch("connected")), [{ key: "connection", tone: "info", text: "Reconnected" }]));

  it("a disconnection is an error", () =>
    check(noticesBetween(batch("connected"), batch("disconnected", "server shut down")), [
      { key: "connection", tone: "error", text: "Disconnected: server shut down" },
    ]));

  it("dropped messages are counted", () =>
    check(noticesBetween(batch("connected", null, 10), batch("connected", null, 25)), [
      { key: "dropped", tone: "warn", text: "15 message(s) dropped: this client fell behind (25 in total)" },
    ]));

  it("slow-consumer reports from the server are raised", () =>
    check(noticesBetween(batch("connected"), batch("connected", null, 0, 2)).map((n) => n.key), ["slow-consumer"]));
});

describe("missed batches", () => {
  it("consecutive numbers miss none", () => check(missedBatches(4, 5), 0));
  it("a gap counts the batches in between", () => check(missedBatches(4, 8), 3));
  it("the first batch misses none", () => check(missedBatches(null, 17), 0));
  it("a restarted numbering misses none", () => check(missedBatches(90, 0), 0));
});

const gwStatus = (over: Partial<GatewayStatus> = {}): GatewayStatus => ({ sub: "u_1", orgs: ["org_1"], missed: 0, gaps: 0, lastGap: null, errors: [], ...over });
const gwBatch = (gateway: GatewayStatus | undefined, state: SourceStatus["state"] = "connected"): Batch => {
  const b = batch(state);
  return { ...b, status: { ...b.status, server: "ws://127.0.0.1:8787/ws", subjects: ["events.org_1.>"], gateway } };
};
const at = (h: number, m: number, s: number) => new Date(2024, 4, 1, h, m, s).getTime();

describe("gateway notices", () => {
  it("none while the gateway reports nothing new", () => check(noticesBetween(gwBatch(gwStatus()), gwBatch(gwStatus())), []));

  it("none for the first batch of a healthy gateway stream", () => check(noticesBetween(null, gwBatch(gwStatus())), []));

  it("a lagged frame says how many events were dropped, when, and the total", () =>
    check(
      noticesBetween(
        gwBatch(gwStatus({ missed: 20, gaps: 1 })),
        gwBatch(gwStatus({ missed: 140, gaps: 2, lastGap: { fromMs: at(12, 0, 1), toMs: at(12, 0, 1), missed: 120, reason: "the gateway dropped events: this client fell behind" } })),
      ),
      [{ key: "gateway-lagged", tone: "warn", text: "The gateway dropped 120 event(s) at 12:00:01.000: this client fell behind (140 in total)" }],
    ));

  it("a reconnection gap gives its time span and reason, with no missed count", () =>
    check(
      noticesBetween(
        gwBatch(gwStatus(), "reconnecting"),
        gwBatch(gwStatus({ gaps: 1, lastGap: { fromMs: at(12, 0, 1), toMs: at(12, 0, 5) + 500, missed: null, reason: "connection reset" } })),
      ),
      [
        { key: "connection", tone: "info", text: "Reconnected" },
        { key: "gateway-gap", tone: "warn", text: "Gap in the stream, 12:00:01.000–12:00:05.500 (4.5 s): connection reset" },
      ],
    ));

  it("an error frame is raised as an error", () =>
    check(noticesBetween(gwBatch(gwStatus()), gwBatch(gwStatus({ errors: ["events.org_2.>: forbidden: org_2 is not one of the token's organizations"] }))), [
      { key: "gateway-error", tone: "error", text: "The gateway refused: events.org_2.>: forbidden: org_2 is not one of the token's organizations" },
    ]));

  it("several new errors raise one notice with the latest", () =>
    check(noticesBetween(gwBatch(gwStatus({ errors: ["a"] })), gwBatch(gwStatus({ errors: ["a", "b", "c"] }))), [
      { key: "gateway-error", tone: "error", text: "The gateway refused: c (and 1 more)" },
    ]));

  it("the errors of the first batch are raised (an error frame can come before any batch)", () =>
    check(noticesBetween(null, gwBatch(gwStatus({ errors: ["bad_request: unknown type"] }))).map((n) => n.key), ["gateway-error"]));
});

describe("new entries of a bounded list", () => {
  it("appended entries", () => check(newEntries(["a", "b"], ["a", "b", "c"]), ["c"]));
  it("entries pushed past the bound: the oldest dropped", () => check(newEntries(["a", "b", "c"], ["b", "c", "d", "e"]), ["d", "e"]));
  it("nothing new", () => check(newEntries(["a", "b"], ["a", "b"]), []));
  it("a list that restarted (a new source)", () => check(newEntries(["a", "b"], ["x"]), ["x"]));
  it("repeated texts are still counted", () => check(newEntries(["x"], ["x", "x"]), ["x"]));
});

describe("the gateway in the connection bar and the status line", () => {
  const st = (gateway?: GatewayStatus): SourceStatus => ({ ...status("connected"), server: "ws://127.0.0.1:8787/ws", gateway });
  it("a token's organizations", () => check(gatewayOrgsText(st(gwStatus({ orgs: ["org_1", "org_2"] }))), "token: org_1, org_2"));
  it("a staff token's every organization", () => check(gatewayOrgsText(st(gwStatus({ orgs: ["*"] }))), "token: every organization"));
  it("nothing before the gateway's welcome", () => check(gatewayOrgsText(st(gwStatus({ orgs: [] }))), null));
  it("nothing for a NATS source", () => check([gatewayOrgsText(status("connected")), gatewaySummary(status("connected"))], [null, null]));
  it("a quiet gateway adds nothing to the status line", () => check(gatewaySummary(st(gwStatus())), null));
  it("gaps, missed events and errors are counted", () =>
    check(gatewaySummary(st(gwStatus({ gaps: 3, missed: 120, errors: ["x"] }))), "gateway: 3 gaps, 120 missed, 1 error"));
  it("one gap", () => check(gatewaySummary(st(gwStatus({ gaps: 1 }))), "gateway: 1 gap"));
  it("the tooltip tells the last gap and the errors", () =>
    check(
      gatewayTooltip(st(gwStatus({ gaps: 1, missed: 7, errors: ["limit: too many subscriptions"], lastGap: { fromMs: at(9, 5, 3), toMs: at(9, 5, 3), missed: 7, reason: "fell behind" } }))),
      "Last gap: 09:05:03.000, 7 missed: fell behind\nError: limit: too many subscriptions",
    ));
});
