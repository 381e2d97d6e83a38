// The publish composer's state: which template, the envelope text, how many at what rate, and a
// send in progress with its progress and outcome. The core builds, checks and sends; this keeps
// what the user typed.
import type { PublishOutcome } from "../bindings/PublishOutcome";
import type { PublishProgress } from "../bindings/PublishProgress";
import type { TemplateInfo } from "../bindings/TemplateInfo";
import { request } from "../ipc";

/** How the composer was opened: blank, or from a received event (re-publish). */
export type ComposerSeed = { kind: "template"; name: string } | { kind: "event"; seq: number; asReceived: boolean };

export class ComposerStore {
  isOpen = $state(false);
  templates = $state<TemplateInfo[]>([]);
  template = $state("");
  envelope = $state("");
  count = $state(1);
  /** Events per second; 0 sends as fast as the connection takes them. */
  rate = $state(0);
  /** Keep the envelope's `id` and `timestamp` as written instead of fresh ones per send. */
  pinned = $state(false);
  /** The subject the envelope publishes on, or why there is none. */
  subject = $state<string | null>(null);
  subjectError = $state<string | null>(null);
  sending = $state(false);
  progress = $state<PublishProgress | null>(null);
  outcome = $state<PublishOutcome | null>(null);
  sendError = $state<string | null>(null);
  /** When the last open was asked for and when it showed (performance.now()), for the open-time check. */
  openedInMs = $state<number | null>(null);
  private checkSeq = 0;

  async open(seed?: ComposerSeed): Promise<void> {
    const t0 = performance.now();
    this.isOpen = true;
    this.outcome = null;
    this.sendError = null;
    this.progress = null;
    if (this.templates.length === 0) {
      try {
        this.templates = await request((b) => b.publishTemplates());
      } catch (e) {
        this.sendError = (e as { message: string }).message;
      }
    }
    if (seed?.kind === "event") {
      this.template = "";
      this.pinned = seed.asReceived;
      await this.load(() => request((b) => b.eventEnvelope(seed.seq, seed.asReceived)));
    } else if (seed?.kind === "template" || this.envelope === "") {
      const name = seed?.kind === "template" ? seed.name : (this.templates[0]?.name ?? "");
      await this.pick(name);
    }
    this.openedInMs = performance.now() - t0;
  }

  close(): void {
    this.isOpen = false;
  }

  async pick(name: string): Promise<void> {
    this.template = name;
    const template = this.templates.find((t) => t.name === name);
    if (!template) return;
    await this.load(async () => template.envelope);
  }

  private async load(get: () => Promise<string>): Promise<void> {
    try {
      this.envelope = await get();
      this.sendError = null;
    } catch (e) {
      this.sendError = (e as { message: string }).message;
    }
    await this.check();
  }

  /** Asks the core for the subject of the envelope as it stands; an older answer never wins. */
  async check(): Promise<void> {
    const seq = ++this.checkSeq;
    const text = this.envelope;
    try {
      const subject = await request((b) => b.publishSubject(text));
      if (seq !== this.checkSeq) return;
      this.subject = subject;
      this.subjectError = null;
    } catch (e) {
      if (seq !== this.checkSeq) return;
      this.subject = null;
      this.subjectError = (e as { message: string }).message;
    }
  }

  async send(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    this.outcome = null;
    this.sendError = null;
    this.progress = { sent: 0, total: Math.max(1, this.count), bytes: 0, elapsedMs: 0 };
    try {
      this.outcome = await request((b) =>
        b.publish(
          { envelope: this.envelope, count: Math.max(1, Math.floor(this.count)), ratePerSec: this.rate > 0 ? this.rate : null, pinned: this.pinned },
          (p) => (this.progress = p),
        ),
      );
    } catch (e) {
      this.sendError = (e as { message: string }).message;
    } finally {
      this.sending = false;
    }
  }

  async cancel(): Promise<void> {
    await request((b) => b.cancelPublish()).catch(() => undefined);
  }
}

export const composer = new ComposerStore();
