// Connection status wording and tone for the status pill, counters tooltip and status line,
// including what a gateway source reports (the token's organizations, gaps, missed events, errors).
import type { About } from "./bindings/About";
import type { SourceStatus } from "./bindings/SourceStatus";
import type { Stats } from "./bindings/Stats";
import type { StreamGap } from "./bindings/StreamGap";
import { formatClock, formatCount } from "./format";

export type Tone = "ok" | "warn" | "error" | "idle";

/** The pill's text: `connected`, `connecting[: <reason>]`, `reconnecting: <reason>`, `disconnected: <reason>`. */
export function statusText(status: SourceStatus | null): string {
  if (!status) return "waiting for core";
  const reason = status.reason?.trim();
  switch (status.state) {
    case "connected":
      return "connected";
    case "connecting":
      return reason ? `connecting: ${reason}` : "connecting";
    case "reconnecting":
      return reason ? `reconnecting: ${reason}` : "reconnecting";
    case "disconnected":
      return reason ? `disconnected: ${reason}` : "disconnected";
    case "file":
      return reason ? `file: ${reason}` : "file";
  }
}

export function statusTone(status: SourceStatus | null): Tone {
  switch (status?.state) {
    case "connected":
      return "ok";
    case "connecting":
    case "reconnecting":
      return "warn";
    case "disconnected":
      return "error";
    case "file":
    default:
      return "idle";
  }
}

/** Tooltip of the dropped counter. */
export function droppedTooltip(stats: Pick<Stats, "droppedClient" | "slowConsumerReports">): string {
  return (
    `${stats.droppedClient} message(s) dropped by this client because it fell behind.\n` +
    `Slow-consumer reports from the server: ${stats.slowConsumerReports}.`
  );
}

/**
 * Which organizations a gateway source's token allows, for the connection bar: `token: org_1, org_2`,
 * `token: every organization` for `*`. Null for a NATS source and before the gateway's welcome
 * (the orgs come from the gateway, never from decoding the token here).
 */
export function gatewayOrgsText(status: SourceStatus | null): string | null {
  const orgs = status?.gateway?.orgs ?? [];
  if (orgs.length === 0) return null;
  if (orgs.includes("*")) return "token: every organization";
  return `token: ${orgs.join(", ")}`;
}

/** The status line's summary of a gateway's interruptions: `gateway: 3 gaps, 120 missed, 1 error`; null while there are none. */
export function gatewaySummary(status: SourceStatus | null): string | null {
  const g = status?.gateway;
  if (!g) return null;
  const parts: string[] = [];
  if (g.gaps > 0) parts.push(`${formatCount(g.gaps)} gap${g.gaps === 1 ? "" : "s"}`);
  if (g.missed > 0) parts.push(`${formatCount(g.missed)} missed`);
  if (g.errors.length > 0) parts.push(`${g.errors.length} error${g.errors.length === 1 ? "" : "s"}`);
  return parts.length > 0 ? `gateway: ${parts.join(", ")}` : null;
}

/** One gap in words: `12:00:01.000–12:00:05.500 (4.5 s), 120 missed: <reason>`. */
export function gapText(gap: StreamGap): string {
  const span = gap.toMs > gap.fromMs ? `${formatClock(gap.fromMs)}–${formatClock(gap.toMs)} (${((gap.toMs - gap.fromMs) / 1000).toFixed(1)} s)` : formatClock(gap.fromMs);
  const missed = gap.missed === null ? "" : `, ${formatCount(gap.missed)} missed`;
  return `${span}${missed}: ${gap.reason}`;
}

/** Tooltip of the gateway summary: the last gap and the gateway's latest errors. */
export function gatewayTooltip(status: SourceStatus | null): string {
  const g = status?.gateway;
  if (!g) return "";
  const lines: string[] = [];
  if (g.lastGap) lines.push(`Last gap: ${gapText(g.lastGap)}`);
  for (const e of g.errors) lines.push(`Error: ${e}`);
  return lines.join("\n");
}

/** The About box's server line: `nats-server 2.9.15 (name, JetStream, max payload 1 048 576 bytes)`, or why there is none. */
export function serverAboutText(about: About | null, status: SourceStatus | null): string {
  if (about === null) return "…";
  const server = about.server;
  if (server) {
    const details = [server.name, server.jetstream ? "JetStream" : null, `max payload ${formatCount(server.maxPayload)} bytes`].filter(Boolean);
    return `nats-server ${server.version} (${details.join(", ")})`;
  }
  if (status?.gateway) return "behind the gateway (its NATS server is not visible)";
  return "not connected";
}
