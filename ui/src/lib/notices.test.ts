// Specification of status wording and of the notices raised between two batches.
import { describe, expect, it } from "vitest";
import type { Batch } from "./bindings/Batch";
import type { SourceStatus } from "./bindings/SourceStatus";
import { missedBatches, noticesBetween } from "./notices";
import { statusText, statusTone } from "./status";

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
  view: { id: 0, query: "", firstPos: 0, nextPos: 0 },
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
