// Notices worth a toast, derived from two consecutive batches (connection changes, drops, gaps,
// and what a gateway source reports: lagged frames, reconnection gaps, error frames).
import type { Batch } from "./bindings/Batch";
import type { GatewayStatus } from "./bindings/GatewayStatus";
import { formatClock, formatCount } from "./format";
import { gapText } from "./status";

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
  out.push(...gatewayNotices(prev?.status.gateway ?? null, next.status.gateway ?? null));
  return out;
}

/** Gateway reports between two batches. A source change starts the gateway's counters afresh. */
function gatewayNotices(prev: GatewayStatus | null, next: GatewayStatus | null): Notice[] {
  if (!next) return [];
  const out: Notice[] = [];
  const missed = next.missed - (prev?.missed ?? 0);
  const gaps = next.gaps - (prev?.gaps ?? 0);
  if (missed > 0) {
    const at = next.lastGap && next.lastGap.missed !== null ? ` at ${formatClock(next.lastGap.fromMs)}` : "";
    out.push({
      key: "gateway-lagged",
      tone: "warn",
      text: `The gateway dropped ${formatCount(missed)} event(s)${at}: this client fell behind (${formatCount(next.missed)} in total)`,
    });
  }
  if (gaps > 0 && next.lastGap && next.lastGap.missed === null) {
    // A gap without a missed count is a reconnection: how much was missed is unknowable.
    out.push({ key: "gateway-gap", tone: "warn", text: `Gap in the stream, ${gapText(next.lastGap)}` });
  }
  const fresh = newEntries(prev?.errors ?? [], next.errors);
  if (fresh.length > 0) {
    const more = fresh.length > 1 ? ` (and ${fresh.length - 1} more)` : "";
    out.push({ key: "gateway-error", tone: "error", text: `The gateway refused: ${fresh[fresh.length - 1]}${more}` });
  }
  return out;
}

/**
 * The entries of `next` that `prev` did not have. Both are the same bounded list (oldest dropped
 * first), so `next` starts with some suffix of `prev`; the longest such suffix is the overlap.
 */
export function newEntries(prev: readonly string[], next: readonly string[]): string[] {
  for (let drop = 0; drop <= prev.length; drop++) {
    const kept = prev.slice(drop);
    if (kept.length <= next.length && kept.every((e, i) => next[i] === e)) return next.slice(kept.length);
  }
  return [...next];
}

/** Batches missed between two batch numbers (0 when consecutive or the stream restarted). */
export function missedBatches(prevNo: number | null, nextNo: number): number {
  if (prevNo === null || nextNo <= prevNo) return 0;
  return nextNo - prevNo - 1;
}
