// Specification of the About box's server line.
import { describe, expect, it } from "vitest";
import type { SourceStatus } from "./bindings/SourceStatus";
import { serverAboutText } from "./status";

function check(actual: string, expected: string) {
  expect(actual).toBe(expected);
}

const nats: SourceStatus = { state: "connected", server: "nats://127.0.0.1:4222", subjects: ["events.>"], reason: null, reconnects: 0 };
const gateway: SourceStatus = { ...nats, gateway: { sub: "u_1", orgs: ["org_1"], missed: 0, gaps: 0, lastGap: null, errors: [] } };

describe("the About box's server line", () => {
  it("a NATS server by version, name, JetStream and payload limit", () =>
    check(
      serverAboutText({ appVersion: "0.1.0", server: { name: "NBX2", version: "2.9.15", maxPayload: 1048576, jetstream: true } }, nats),
      "nats-server 2.9.15 (NBX2, JetStream, max payload 1\u202F048\u202F576 bytes)",
    ));
  it("without JetStream it is not mentioned", () =>
    check(
      serverAboutText({ appVersion: "0.1.0", server: { name: "n", version: "2.10.1", maxPayload: 8388608, jetstream: false } }, nats),
      "nats-server 2.10.1 (n, max payload 8\u202F388\u202F608 bytes)",
    ));
  it("through a gateway the server is hidden, and it says so", () =>
    check(serverAboutText({ appVersion: "0.1.0", server: null }, gateway), "behind the gateway (its NATS server is not visible)"));
  it("without a connection", () => check(serverAboutText({ appVersion: "0.1.0", server: null }, null), "not connected"));
  it("before the core answered", () => check(serverAboutText(null, nats), "…"));
});
