// Tauri IPC: the only module that talks to the Rust core (commands, the batch channel, error shape).
//
// Outside the Tauri window (a plain browser on the Vite dev server) every call fails with a clear
// error: the UI shows no data it did not get from the core.
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { Channel, invoke, isTauri } from "@tauri-apps/api/core";
import { open as openFileDialog, save as saveFileDialog } from "@tauri-apps/plugin-dialog";
import type { About } from "./bindings/About";
import type { Batch } from "./bindings/Batch";
import type { ConnectionProfile } from "./bindings/ConnectionProfile";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { EventDetail } from "./bindings/EventDetail";
import type { FileCheck } from "./bindings/FileCheck";
import type { FilterApplied } from "./bindings/FilterApplied";
import type { NatsContextInfo } from "./bindings/NatsContextInfo";
import type { QueryCheck } from "./bindings/QueryCheck";
import type { RowSummary } from "./bindings/RowSummary";
import type { SavedConnection } from "./bindings/SavedConnection";
import type { SavedView } from "./bindings/SavedView";
import type { SavedViews } from "./bindings/SavedViews";
import type { PublishOutcome } from "./bindings/PublishOutcome";
import type { PublishProgress } from "./bindings/PublishProgress";
import type { PublishRequest } from "./bindings/PublishRequest";
import type { TemplateInfo } from "./bindings/TemplateInfo";
import type { Anomaly } from "./bindings/Anomaly";
import type { GroupBy } from "./bindings/GroupBy";
import type { LagReport } from "./bindings/LagReport";
import type { RateSeries } from "./bindings/RateSeries";
import type { SubjectLevel } from "./bindings/SubjectLevel";
import type { TreeSort } from "./bindings/TreeSort";
import type { ScenarioOutcome } from "./bindings/ScenarioOutcome";
import type { ScenarioOutline } from "./bindings/ScenarioOutline";
import type { StepUpdate } from "./bindings/StepUpdate";
import type { WireError } from "./bindings/WireError";
import type { Timeline } from "./bindings/Timeline";
import type { ExportStatus } from "./bindings/ExportStatus";
import type { ImportOutcome } from "./bindings/ImportOutcome";
import type { NotifySample } from "./bindings/NotifySample";
import type { RecipientActivity } from "./bindings/RecipientActivity";
import type { RuleOutcome } from "./bindings/RuleOutcome";
import type { RulesError } from "./bindings/RulesError";
import type { RulesFile } from "./bindings/RulesFile";
import type { Volume } from "./bindings/Volume";
import type { RecordingRetention } from "./bindings/RecordingRetention";
import type { RecordingState } from "./bindings/RecordingState";
import type { ExportFormat, ExportTarget } from "./exporting";

/** Everything the UI asks of the core. */
export interface Backend {
  /** Starts the batch stream; `onBatch` is then called at most 20 times a second, when something changed. */
  subscribeStream(onBatch: (batch: Batch) => void): Promise<void>;
  setFollow(follow: boolean, tailSize: number): Promise<void>;
  /** Rows of the view at positions [startPos, startPos + count), in order; evicted ones are absent. */
  rows(startPos: number, count: number): Promise<RowSummary[]>;
  /** Rejects with code `evicted` when the event is gone. */
  eventDetail(seq: number): Promise<EventDetail>;
  savedConnection(): Promise<SavedConnection>;
  connect(profile: ConnectionProfile): Promise<SavedConnection>;
  disconnect(): Promise<void>;
  clearEvents(): Promise<void>;
  /** What a query means while it is typed: its problem, or the subjects it narrows to. */
  checkFilter(query: string): Promise<QueryCheck>;
  /** Applies a query; rejects with code `invalid_filter` when it does not parse. */
  setFilter(query: string): Promise<FilterApplied>;
  /** Captures only `subjects`, or with null the connection's own subjects again. */
  captureSubjects(subjects: string[] | null): Promise<void>;
  /** Whether a file the connection names exists and can be read. */
  checkFile(path: string): Promise<FileCheck>;
  /** The `nats` CLI's contexts, secrets left out. */
  natsContexts(): Promise<NatsContextInfo[]>;
  /** The native file picker; the chosen path, or null when cancelled. */
  pickFile(title: string, filters?: { name: string; extensions: string[] }[]): Promise<string | null>;
  savedViews(): Promise<SavedViews>;
  saveView(view: SavedView): Promise<SavedViews>;
  deleteView(name: string): Promise<SavedViews>;
  /** This build's version and the connected server's. */
  about(): Promise<About>;
  /** The platform's event types the composer starts from, each with its envelope. */
  publishTemplates(): Promise<TemplateInfo[]>;
  /** A received event's envelope as JSON text, for re-publishing; rejects with `evicted`. */
  eventEnvelope(seq: number, asReceived: boolean): Promise<string>;
  /** The subject an envelope publishes on; rejects with `invalid_input` saying why there is none. */
  publishSubject(envelope: string): Promise<string>;
  /** Sends; `onProgress` about 10 times a second. Rejects with `read_only` on a read-only connection. */
  publish(request: PublishRequest, onProgress: (p: PublishProgress) => void): Promise<PublishOutcome>;
  cancelPublish(): Promise<void>;
  /** Publishes the newest events of the view again, unchanged: at a rate, or with null at their original spacing. */
  replayView(ratePerSec: number | null, onProgress: (p: PublishProgress) => void): Promise<PublishOutcome>;
  /** Reads and checks a scenario file; rejects with `invalid_input` and the file position when it is invalid. */
  scenarioCheck(path: string, vars: [string, string][]): Promise<ScenarioOutline>;
  /** Runs a scenario on the connection's server; `onUpdate` as each step changes. */
  scenarioRun(path: string, vars: [string, string][], onUpdate: (u: StepUpdate) => void): Promise<ScenarioOutcome>;
  cancelScenario(): Promise<void>;
  /** Writes the current view's events as a scenario file; the number of events written. */
  saveScenario(path: string, name: string): Promise<number>;
  /** The rate chart's series for the view: the last 15 minutes, or `fromMs..toMs`. */
  rateSeries(by: GroupBy, fromMs: number | null, toMs: number | null, maxPoints: number): Promise<RateSeries>;
  /** One page of the children of `prefix` ("" for the root) in the view's subject tree. */
  subjectTree(prefix: string, sort: TreeSort, offset: number, limit: number, search: string): Promise<SubjectLevel>;
  /** Producer lag per source for the view. */
  producerLag(): Promise<LagReport>;
  /** Silences and spikes per source or organization over the last 15 minutes. */
  anomalies(by: GroupBy): Promise<Anomaly[]>;
  /** The native save dialog; the chosen path, or null when cancelled. */
  /** A path to save to, offering the files of `kind` (scenarios by default). */
  pickSaveFile(title: string, defaultPath: string, kind?: SaveKind): Promise<string | null>;
  /** One organization's timeline over `[fromMs, toMs)`: held events, and the recording's and JetStream history's when asked. */
  timeline(org: string, fromMs: number, toMs: number, recording: boolean, history: boolean): Promise<Timeline>;
  /** Writes the view's or a timeline's events to `path`; progress as it goes, the last one when done. */
  exportEvents(target: ExportTarget, path: string, format: ExportFormat, mask: boolean, onProgress: (p: ExportStatus) => void): Promise<ExportStatus>;
  /** Opens an NDJSON file of events as a read-only source in place of the connection. */
  importFile(path: string): Promise<ImportOutcome>;
  /** The rules file: its path, its text (empty rules when there is none yet) and its error, if any. */
  notifyRules(): Promise<RulesFile>;
  /** Checks rules text: its first error, or null. */
  notifyCheck(text: string): Promise<RulesError | null>;
  /** Each rule against a held event; `draft` rules text in place of the saved rules when given. */
  notifyPreview(seq: number, draft: string | null): Promise<RuleOutcome[]>;
  /** The newest held events the rules' patterns concern, with what each would send. */
  notifySamples(draft: string | null, limit: number): Promise<NotifySample[]>;
  /** Writes the rules file atomically; an invalid text is refused (its error returned) and nothing is written. */
  notifySave(text: string): Promise<RulesError | null>;
  /** The would-be notifications of what is held, the first figures early. */
  notifyVolume(onStep: (v: Volume) => void): Promise<Volume>;
  /** What a recipient got since `sinceMs`, and what should have notified them but did not. */
  notifyRecipient(recipient: string, sinceMs: number): Promise<RecipientActivity>;
  /** Calls `onDrop` with the paths of files dropped on the window; returns the unsubscribe. */
  onFileDrop(onDrop: (paths: string[]) => void): Promise<() => void>;
  /** The local recording: on or off, where, its figures and retention. */
  recordingState(): Promise<RecordingState>;
  /** Starts or stops recording, with these limits (kept for the next start of the app). */
  setRecording(on: boolean, retention: RecordingRetention): Promise<RecordingState>;
}

export type SaveKind = "scenario" | "ndjson" | "csv";

const SAVE_FILTERS: Record<SaveKind, { name: string; extensions: string[] }[]> = {
  scenario: [{ name: "Scenarios", extensions: ["yaml", "yml"] }],
  ndjson: [{ name: "NDJSON", extensions: ["ndjson", "jsonl", "json"] }],
  csv: [{ name: "CSV", extensions: ["csv"] }],
};

/** The codes the core sends; a Record so that a code added in Rust fails svelte-check until it is listed. */
const errorCodes: Record<ErrorCode, true> = { evicted: true, invalid_input: true, connect_failed: true, invalid_filter: true, read_only: true };

function errorCode(code: unknown): ErrorCode | null {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(errorCodes, code) ? (code as ErrorCode) : null;
}

/** Any rejection as a WireError: `{ code, message }` objects pass through (an unknown code becomes null), the rest is described. */
export function toWireError(error: unknown): WireError {
  if (typeof error === "object" && error !== null) {
    const e = error as { code?: unknown; message?: unknown };
    if (typeof e.message === "string") {
      return { code: errorCode(e.code), message: e.message };
    }
  }
  if (typeof error === "string" && error !== "") return { code: null, message: error };
  if (error === undefined || error === null) return { code: null, message: "Unknown error" };
  try {
    const text = typeof error === "object" ? JSON.stringify(error) : String(error);
    return { code: null, message: text || "Unknown error" };
  } catch {
    return { code: null, message: "Unknown error" };
  }
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw toWireError(error);
  }
}

const tauriBackend: Backend = {
  async subscribeStream(onBatch) {
    const channel = new Channel<Batch>();
    channel.onmessage = onBatch;
    await call<void>("subscribe_stream", { onBatch: channel });
  },
  setFollow: (follow, tailSize) => call<void>("set_follow", { follow, tailSize }),
  rows: (startPos, count) => call<RowSummary[]>("rows", { startPos, count }),
  eventDetail: (seq) => call<EventDetail>("event_detail", { seq }),
  savedConnection: () => call<SavedConnection>("saved_connection"),
  connect: (profile) => call<SavedConnection>("connect", { profile }),
  disconnect: () => call<void>("disconnect"),
  clearEvents: () => call<void>("clear_events"),
  checkFilter: (query) => call<QueryCheck>("check_filter", { query }),
  setFilter: (query) => call<FilterApplied>("set_filter", { query }),
  captureSubjects: (subjects) => call<void>("capture_subjects", { subjects }),
  checkFile: (path) => call<FileCheck>("check_file", { path }),
  natsContexts: () => call<NatsContextInfo[]>("nats_contexts"),
  async pickFile(title, filters) {
    try {
      const chosen = await openFileDialog({ title, multiple: false, directory: false, filters });
      return typeof chosen === "string" ? chosen : null;
    } catch (error) {
      throw toWireError(error);
    }
  },
  savedViews: () => call<SavedViews>("saved_views"),
  saveView: (view) => call<SavedViews>("save_view", { view }),
  deleteView: (name) => call<SavedViews>("delete_view", { name }),
  about: () => call<About>("about"),
  publishTemplates: () => call<TemplateInfo[]>("publish_templates"),
  eventEnvelope: (seq, asReceived) => call<string>("event_envelope", { seq, asReceived }),
  publishSubject: (envelope) => call<string>("publish_subject", { envelope }),
  async publish(request, onProgress) {
    const channel = new Channel<PublishProgress>();
    channel.onmessage = onProgress;
    return call<PublishOutcome>("publish", { request, onProgress: channel });
  },
  cancelPublish: () => call<void>("cancel_publish"),
  async replayView(ratePerSec, onProgress) {
    const channel = new Channel<PublishProgress>();
    channel.onmessage = onProgress;
    return call<PublishOutcome>("replay_view", { ratePerSec, onProgress: channel });
  },
  scenarioCheck: (path, vars) => call<ScenarioOutline>("scenario_check", { path, vars }),
  async scenarioRun(path, vars, onUpdate) {
    const channel = new Channel<StepUpdate>();
    channel.onmessage = onUpdate;
    return call<ScenarioOutcome>("scenario_run", { path, vars, onUpdate: channel });
  },
  cancelScenario: () => call<void>("cancel_scenario"),
  saveScenario: (path, name) => call<number>("save_scenario", { path, name }),
  rateSeries: (by, fromMs, toMs, maxPoints) => call<RateSeries>("rate_series", { by, fromMs, toMs, maxPoints }),
  subjectTree: (prefix, sort, offset, limit, search) => call<SubjectLevel>("subject_tree", { prefix, sort, offset, limit, search }),
  producerLag: () => call<LagReport>("producer_lag"),
  anomalies: (by) => call<Anomaly[]>("anomalies", { by }),
  timeline: (org, fromMs, toMs, recording, history) => call<Timeline>("timeline", { org, fromMs, toMs, recording, history }),
  async exportEvents(target, path, format, mask, onProgress) {
    const channel = new Channel<ExportStatus>();
    channel.onmessage = onProgress;
    return call<ExportStatus>("export_events", { target, path, format, mask, onProgress: channel });
  },
  importFile: (path) => call<ImportOutcome>("import_file", { path }),
  notifyRules: () => call<RulesFile>("notify_rules"),
  notifyCheck: (text) => call<RulesError | null>("notify_check", { text }),
  notifyPreview: (seq, draft) => call<RuleOutcome[]>("notify_preview", { seq, draft }),
  notifySamples: (draft, limit) => call<NotifySample[]>("notify_samples", { draft, limit }),
  notifySave: (text) => call<RulesError | null>("notify_save", { text }),
  async notifyVolume(onStep) {
    const channel = new Channel<Volume>();
    channel.onmessage = onStep;
    return call<Volume>("notify_volume", { onStep: channel });
  },
  notifyRecipient: (recipient, sinceMs) => call<RecipientActivity>("notify_recipient", { recipient, sinceMs }),
  async onFileDrop(onDrop) {
    return getCurrentWebview().onDragDropEvent((event) => {
      if (event.payload.type === "drop" && event.payload.paths.length > 0) onDrop(event.payload.paths);
    });
  },
  recordingState: () => call<RecordingState>("recording_state"),
  setRecording: (on, retention) => call<RecordingState>("set_recording", { on, retention }),
  async pickSaveFile(title, defaultPath, kind = "scenario") {
    try {
      const chosen = await saveFileDialog({ title, defaultPath, filters: SAVE_FILTERS[kind] });
      return typeof chosen === "string" ? chosen : null;
    } catch (error) {
      throw toWireError(error);
    }
  },
};

/** True inside the Eventscope window; false in a plain browser. */
export const inTauri: boolean = isTauri();

let backendPromise: Promise<Backend> | null = null;

const outsideApp: WireError = {
  code: null,
  message: "not running inside the Eventscope window: start the app with ./dev run",
};

/** The backend: the Rust core in the app; outside it, every call is refused. */
export function backend(): Promise<Backend> {
  backendPromise ??= inTauri ? Promise.resolve(tauriBackend) : Promise.reject(outsideApp);
  return backendPromise;
}

/** Wraps a backend call so it always rejects with a WireError. */
export async function request<T>(use: (b: Backend) => Promise<T>): Promise<T> {
  try {
    return await use(await backend());
  } catch (error) {
    throw toWireError(error);
  }
}
