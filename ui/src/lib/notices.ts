// Notices worth a toast, derived from two consecutive batches (connection changes, drops, gaps).
import type { Batch } from "./bindings/Batch";

export type NoticeTone = "info" | "warn" | "error";

export interface Notice {
  /** Notices with the same key replace each other instead of stacking. */
  key: string;
  tone: NoticeTone;
  text: string;
}

/** What changed between `prev` (null for the first batch) and `next` that the user should hear about. */
export function noticesBetween(prev: Batch | null, next: Batch): Notice[] {
  const out: Notice[] = [];
  const was = prev?.status.state ?? null;
  const now = next.status.state;
  const reason = next.status.reason?.trim();
  if (was !== now) {
    if (now === "reconnecting") {
      out.push({ key: "connection", tone: "warn", text: reason ? `Reconnecting: ${reason}` : "Reconnecting…" });
    } else if (now === "disconnected" && was !== null) {
      out.push({ key: "connection", tone: "error", text: reason ? `Disconnected: ${reason}` : "Disconnected" });
    } else if (now === "connected" && was === "reconnecting") {
      out.push({ key: "connection", tone: "info", text: "Reconnected" });
    }
  }
  if (prev) {
    const dropped = next.stats.droppedClient - prev.stats.droppedClient;
    if (dropped > 0) {
      out.push({
        key: "dropped",
        tone: "warn",
        text: `${dropped} message(s) dropped: this client fell behind (${next.stats.droppedClient} in total)`,
      });
    }
    const reports = next.stats.slowConsumerReports - prev.stats.slowConsumerReports;
    if (reports > 0) {
      out.push({
        key: "slow-consumer",
        tone: "warn",
        text: `The server reported this client a slow consumer (${next.stats.slowConsumerReports} time(s)): it drops messages`,
      });
    }
  }
  return out;
}

/** Batches missed between two batch numbers (0 when consecutive or the stream restarted). */
export function missedBatches(prevNo: number | null, nextNo: number): number {
  if (prevNo === null || nextNo <= prevNo) return 0;
  return nextNo - prevNo - 1;
}
