// Connection status wording and tone for the status pill, counters tooltip and status line.
import type { SourceStatus } from "./bindings/SourceStatus";
import type { Stats } from "./bindings/Stats";

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
