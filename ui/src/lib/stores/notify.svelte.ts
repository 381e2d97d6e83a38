// The notification rules as the editor holds them, the selected event's preview under them,
// and the Notifications view's report and recipient search. The core parses, evaluates and
// counts; this keeps what is shown and re-asks when the text or the selection changes.
import type { NotifySample } from "../bindings/NotifySample";
import type { RecipientActivity } from "../bindings/RecipientActivity";
import type { RuleOutcome } from "../bindings/RuleOutcome";
import type { RulesError } from "../bindings/RulesError";
import type { Volume } from "../bindings/Volume";
import { request } from "../ipc";

const CHECK_DELAY_MS = 250;

export class NotifyStore {
  /** The rules file's path and its text as saved. */
  path = $state("");
  saved = $state("");
  private editorText = $state("");
  rulesError = $state<RulesError | null>(null);
  saveMessage = $state<string | null>(null);
  loaded = $state(false);

  outcomes = $state<RuleOutcome[] | null>(null);
  previewError = $state<string | null>(null);
  samples = $state<NotifySample[]>([]);

  volume = $state<Volume | null>(null);
  volumeError = $state<string | null>(null);
  recipient = $state("");
  sinceHours = $state(1);
  activity = $state<RecipientActivity | null>(null);
  activityError = $state<string | null>(null);

  private seq: number | null = null;
  private previewToken = 0;
  private checkTimer: ReturnType<typeof setTimeout> | null = null;

  /** The editor's text: previews use it as soon as it parses (checked shortly after each edit). */
  get text(): string {
    return this.editorText;
  }

  set text(text: string) {
    if (text === this.editorText) return;
    this.editorText = text;
    this.saveMessage = null;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => void this.check(), CHECK_DELAY_MS);
  }

  /** True when the editor holds changes that parse: previews use them, unsaved. */
  get draft(): boolean {
    return this.text !== this.saved && this.rulesError === null;
  }

  private draftText(): string | null {
    return this.draft ? this.text : null;
  }

  async load(): Promise<void> {
    try {
      const file = await request((b) => b.notifyRules());
      this.path = file.path;
      this.saved = file.text;
      this.editorText = file.text;
      this.rulesError = file.error;
      this.loaded = true;
    } catch (e) {
      this.previewError = (e as { message: string }).message;
    }
  }

  async check(): Promise<void> {
    const text = this.text;
    try {
      const error = await request((b) => b.notifyCheck(text));
      if (text !== this.text) return;
      this.rulesError = error;
      await Promise.all([this.preview(this.seq), this.loadSamples()]);
    } catch (e) {
      this.previewError = (e as { message: string }).message;
    }
  }

  async preview(seq: number | null): Promise<void> {
    this.seq = seq;
    const token = ++this.previewToken;
    if (seq === null) {
      this.outcomes = null;
      return;
    }
    try {
      const outcomes = await request((b) => b.notifyPreview(seq, this.draftText()));
      if (token !== this.previewToken) return;
      this.outcomes = outcomes;
      this.previewError = null;
    } catch (e) {
      if (token !== this.previewToken) return;
      this.outcomes = null;
      this.previewError = (e as { message: string }).message;
    }
  }

  async loadSamples(): Promise<void> {
    try {
      this.samples = await request((b) => b.notifySamples(this.draftText(), 100));
    } catch {
      this.samples = [];
    }
  }

  async save(): Promise<void> {
    const text = this.text;
    try {
      const error = await request((b) => b.notifySave(text));
      this.rulesError = error;
      if (error === null) {
        this.saved = text;
        this.saveMessage = `Saved to ${this.path}`;
        await this.loadVolume();
      }
    } catch (e) {
      this.saveMessage = null;
      this.previewError = (e as { message: string }).message;
    }
  }

  revert(): void {
    this.text = this.saved;
  }

  async loadVolume(): Promise<void> {
    try {
      await request((b) => b.notifyVolume((v) => (this.volume = v)));
      this.volumeError = null;
    } catch (e) {
      this.volumeError = (e as { message: string }).message;
    }
  }

  async findRecipient(): Promise<void> {
    const who = this.recipient.trim();
    if (!who) {
      this.activity = null;
      return;
    }
    const since = this.sinceHours > 0 ? Date.now() - this.sinceHours * 3_600_000 : 0;
    try {
      this.activity = await request((b) => b.notifyRecipient(who, since));
      this.activityError = null;
    } catch (e) {
      this.activity = null;
      this.activityError = (e as { message: string }).message;
    }
  }
}

export const notify = new NotifyStore();
