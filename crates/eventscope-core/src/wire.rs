//! Types that cross to the UI (and to the CLI's JSON output); their TypeScript is generated.
//!
//! `cargo test -p eventscope-core` regenerates `ui/src/lib/bindings/`; CI fails when the
//! committed files differ, so the UI can never drift from the core. ts-rs is only derived in
//! tests, so nothing that links the core (the CLI, the gateway) carries it; 64-bit integers
//! become `number` (`TS_RS_LARGE_INT` in `.cargo/config.toml`): every count here stays far
//! below 2^53.

use serde::{Deserialize, Serialize};
#[cfg(test)]
use ts_rs::TS;

/// One row of the event table: everything the table shows, nothing it does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RowSummary {
    /// Monotonic sequence number assigned on receipt; names the event.
    pub seq: u64,
    /// Position of the row in the current view ([`ViewInfo`]): the table's key. Equals `seq`
    /// while no filter is applied.
    pub pos: u64,
    /// Envelope `id`, or empty when the message has none.
    pub id: String,
    /// Receive time, milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// Envelope `timestamp`, milliseconds since the Unix epoch, when it parses.
    pub timestamp_ms: Option<i64>,
    pub org: String,
    pub source: String,
    pub resource: String,
    pub event_name: String,
    pub resource_id: String,
    pub subject: String,
    /// Body size in bytes.
    pub size: u32,
    /// Short description of what is wrong with the message (`not JSON`, `missing id`, ...),
    /// or null for a valid envelope.
    pub problem: Option<String>,
    /// This Eventscope published it ([`crate::sent`]).
    pub sent: bool,
}

/// How the detail pane should show a message body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Body {
    /// Valid JSON; `text` is the body exactly as received.
    Json { text: String },
    /// UTF-8 that is not JSON.
    Text { text: String },
    /// Not UTF-8: a hex dump (offset, hex bytes, ASCII) of at most the first 64 KiB.
    Hex { dump: String, truncated: bool },
}

/// One event in full, for the detail pane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    pub row: RowSummary,
    /// NATS headers as (name, value) pairs, in order.
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Every problem found while decoding, in full sentences for the user.
    pub problems: Vec<String>,
}

/// Connection state of the current source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum ConnectionState {
    Connecting,
    Connected,
    Reconnecting,
    Disconnected,
    /// Showing a file of events (`server` is its path): read-only, nothing more will arrive.
    File,
}

/// The NATS server the app is connected to, as its INFO describes it (for the About box).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ServerAbout {
    pub name: String,
    pub version: String,
    /// The largest message the server accepts, in bytes.
    pub max_payload: u64,
    pub jetstream: bool,
}

/// What the About box shows: this build, and the server on the other end when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct About {
    pub app_version: String,
    /// Null when not connected, or connected through a gateway (which hides the server).
    pub server: Option<ServerAbout>,
}

/// What the status bar shows about the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    pub state: ConnectionState,
    /// The server URL(s) as the user gave them.
    pub server: String,
    /// Subject patterns subscribed to.
    pub subjects: Vec<String>,
    /// Why the connection is not (or no longer) up, when known.
    pub reason: Option<String>,
    /// Times the connection was lost and re-established.
    pub reconnects: u32,
    /// What the gateway said, when the source is a gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub gateway: Option<GatewayStatus>,
}

impl SourceStatus {
    /// No source, and why.
    pub fn disconnected(reason: &str) -> SourceStatus {
        SourceStatus {
            state: ConnectionState::Disconnected,
            server: String::new(),
            subjects: Vec::new(),
            reason: Some(reason.to_string()),
            reconnects: 0,
            gateway: None,
        }
    }
}

/// A gateway source's view of its connection: who the token says it is, what it may watch,
/// what it missed and what the gateway refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// The token's user id (`welcome.sub`), empty before the first welcome.
    pub sub: String,
    /// The organizations the token allows (`welcome.orgs`); `*` means every organization.
    pub orgs: Vec<String>,
    /// Events the gateway dropped for this client because it fell behind (sum of `lagged`).
    pub missed: u64,
    /// Interruptions of the stream: reconnections and `lagged` frames.
    pub gaps: u32,
    /// The most recent interruption.
    pub last_gap: Option<StreamGap>,
    /// The gateway's `error` frames, oldest first, at most the last 10.
    pub errors: Vec<String>,
}

/// A stretch of time in which events may have been missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct StreamGap {
    /// Start and end, milliseconds since the Unix epoch (equal for a `lagged` frame).
    pub from_ms: i64,
    pub to_ms: i64,
    /// Events missed, when known (a `lagged` frame says; a reconnection cannot).
    pub missed: Option<u64>,
    pub reason: String,
}

/// Counters of the live stream, sent with every batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Messages received since the source started.
    pub received: u64,
    /// Events held in the store now.
    pub held: u64,
    /// Events evicted to stay within the store's limits.
    pub evicted: u64,
    /// Messages dropped by the client because the subscriber fell behind (slow consumer).
    pub dropped_client: u64,
    /// Times the server reported this client a slow consumer (it drops messages then).
    pub slow_consumer_reports: u64,
    /// Messages that are not valid envelopes (not JSON, not UTF-8, fields missing or mistyped).
    pub invalid: u64,
    /// Bytes of raw messages held.
    pub bytes_held: u64,
    /// Messages per second over the last second.
    pub rate_per_sec: f64,
    /// Sequence number of the oldest held event (row 0 of the table).
    pub first_seq: u64,
    /// Sequence number the next event will get.
    pub next_seq: u64,
}

/// What the UI receives over its channel, at most 20 times a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// Increases by one with every batch, so the UI can tell that none was missed.
    pub batch_no: u64,
    pub stats: Stats,
    pub status: SourceStatus,
    /// The rows the table shows: the matches of the applied filter.
    pub view: ViewInfo,
    /// In follow mode, the newest rows of the view (at most what the UI said it shows), oldest
    /// first.
    pub tail: Vec<RowSummary>,
    /// Counts per organization, source and name among the view's rows; sent about once a
    /// second, and only while they change.
    pub facets: Option<Facets>,
}

/// The filtered view the table shows. Its rows have consecutive positions
/// `first_pos..next_pos`; rows that leave the store (eviction, clear) leave from the front.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ViewInfo {
    /// Changes whenever a filter is applied: positions of different ids are unrelated.
    pub id: u64,
    /// The applied query in canonical form (empty: every event).
    pub query: String,
    pub first_pos: u64,
    pub next_pos: u64,
    /// False while only the newest held events have been filtered: the rows shown are right,
    /// the older matches (and so the count) are still coming.
    pub complete: bool,
}

/// One value of a facet and how many rows have it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// The most frequent values of the fields the facet panel shows, among the view's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    /// The view they were counted for.
    pub view_id: u64,
    /// Rows counted (the view's length when counted).
    pub total: u64,
    pub orgs: Vec<FacetCount>,
    pub sources: Vec<FacetCount>,
    /// `resource.eventName`.
    pub names: Vec<FacetCount>,
}

/// Why a query was refused, positioned for underlining. Offsets count UTF-16 code units, as
/// the UI's strings do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct QueryProblem {
    pub pos: u32,
    pub end: u32,
    pub message: String,
    /// The closest known field name when a name looks like a typo.
    pub suggestion: Option<String>,
}

/// What a query means, without applying it: shown while the user types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct QueryCheck {
    /// Null when the query parses.
    pub problem: Option<QueryProblem>,
    /// The narrowest NATS subjects that hold every match (empty when the query is invalid).
    pub subjects: Vec<String>,
}

/// A filter applied to the held events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct FilterApplied {
    pub view: ViewInfo,
    pub subjects: Vec<String>,
    /// Literal texts the query looks for, to highlight in the detail pane.
    pub highlights: Vec<String>,
    /// Time the re-filter of the held events took.
    pub elapsed_ms: f64,
}

/// A named query and the table columns shown with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SavedView {
    pub name: String,
    pub query: String,
    /// Column keys in display order (`time`, `org`, `source`, `event`, `resourceId`, `id`,
    /// `subject`, `size`).
    #[serde(default)]
    pub columns: Vec<String>,
}

/// The saved views, by name, and the recently applied queries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase", default)]
pub struct SavedViews {
    pub views: Vec<SavedView>,
    pub history: Vec<String>,
}

/// How to authenticate to NATS. Secrets (password, token, seed) are never written to disk in
/// plain text: see `profile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: String,
    },
    Token {
        token: String,
    },
    /// An NKey seed (`SU...`).
    NKey {
        seed: String,
    },
    /// A `.creds` file (JWT + NKey seed); the path is stored, the file stays where it is.
    CredsFile {
        path: String,
    },
}

/// TLS settings: a CA to trust and an optional client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TlsSettings {
    /// Require TLS even when the URL scheme is `nats://`.
    pub required: bool,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
}

/// Everything needed to connect to NATS and what to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionProfile {
    /// One or more server URLs (`nats://host:port`, `tls://...`).
    pub servers: Vec<String>,
    /// Subject patterns to subscribe to (default `events.>`).
    pub subjects: Vec<String>,
    pub auth: NatsAuth,
    pub tls: TlsSettings,
    /// Set for a profile of kind "gateway": events come through the platform's WebSocket
    /// gateway, `subjects` are the topics subscribed to, and `servers`, `auth` and `tls` are
    /// unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub gateway: Option<GatewayTarget>,
    /// The `nats` CLI context the servers, auth and TLS were taken from. Its secret is read from
    /// the context when connecting and never stored by Eventscope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub nats_context: Option<String>,
    /// Publishing through this connection is refused (a production bus watched, not driven).
    #[serde(default)]
    pub read_only: bool,
}

/// Where a gateway profile connects. The token is a secret, kept like NATS secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct GatewayTarget {
    /// `ws://host:port/ws` or `wss://...`.
    pub url: String,
    /// The JWT the gateway checks.
    pub token: String,
}

impl Default for ConnectionProfile {
    fn default() -> Self {
        ConnectionProfile {
            servers: vec![crate::DEFAULT_NATS_URL.to_string()],
            subjects: vec!["events.>".to_string()],
            auth: NatsAuth::None,
            tls: TlsSettings::default(),
            gateway: None,
            nats_context: None,
            read_only: false,
        }
    }
}

/// Where the secrets of the remembered connection are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum SecretStorage {
    /// The system keyring (Secret Service).
    Keyring,
    /// No keyring is available: secrets live in memory until the app quits.
    Session,
}

/// The remembered connection as the connect dialog shows it: secrets blanked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SavedConnection {
    /// The profile with every secret replaced by an empty string.
    pub profile: ConnectionProfile,
    /// True when a secret for this profile is held (keyring or session); connecting with an
    /// empty secret field then uses the held one.
    pub has_secret: bool,
    pub secret_storage: SecretStorage,
    /// True when launch options or environment variables override the remembered connection.
    pub overridden: bool,
}

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct WireError {
    /// Set only where the UI branches on it.
    pub code: Option<ErrorCode>,
    pub message: String,
}

/// The errors the UI tells apart; every other failure only has a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The event is gone from the store (evicted to stay within its limits).
    Evicted,
    /// A field of the request is wrong: the dialog keeps itself open for a fix.
    InvalidInput,
    /// The server or the network failed the connection.
    ConnectFailed,
    /// The query does not parse: the filter bar already explains it while it is typed.
    InvalidFilter,
    /// Publishing was refused because the connection is marked read-only.
    ReadOnly,
}

/// Whether a file the connection names (CA, client certificate or key, `.creds`) can be used,
/// checked while the dialog is filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum FileState {
    Readable,
    Missing,
    NotAFile,
    Unreadable,
}

/// A file's state and the words for it (`readable, 1203 bytes`, `no such file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct FileCheck {
    pub state: FileState,
    pub message: String,
}

/// A context of the `nats` CLI as the connection dialog offers it: what it connects to, with its
/// secret left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct NatsContextInfo {
    pub name: String,
    pub description: String,
    /// The context `nats` uses by default (`context.txt`).
    pub selected: bool,
    pub servers: Vec<String>,
    /// The authentication, secrets blank.
    pub auth: NatsAuth,
    pub tls: TlsSettings,
    /// True when the context holds a secret (a password, token or NKey seed file) that will be
    /// read from it when connecting.
    pub has_secret: bool,
    /// Why the context cannot be used as it is, when it cannot.
    pub problem: Option<String>,
}

/// One template of the composer's catalogue (`publish-template`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TemplateInfo {
    /// The event type's dotted name, `task.created`: the select's option value.
    pub name: String,
    pub source: String,
    pub description: String,
    /// The envelope as pretty JSON, for the editor.
    pub envelope: String,
}

/// What the composer asks to send: an envelope, how many times, how fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    /// The envelope as JSON text.
    pub envelope: String,
    pub count: u32,
    /// Events per second; null sends as fast as the connection takes them.
    pub rate_per_sec: Option<f64>,
    /// Keep the envelope's `id` and `timestamp`; otherwise each send gets fresh ones.
    pub pinned: bool,
}

/// How far a send (or a replay) has got; reported about every 100 ms and once at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct PublishProgress {
    pub sent: u64,
    pub total: u64,
    pub bytes: u64,
    pub elapsed_ms: u64,
}

/// What a send did in the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct PublishOutcome {
    pub sent: u64,
    pub total: u64,
    pub elapsed_ms: u64,
    pub cancelled: bool,
}

/// Where a scenario step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    Pending,
    Running,
    Passed,
    Failed,
    /// Not run: an earlier step failed to publish, or the run was cancelled.
    Skipped,
}

/// One step's state, sent as it changes (`scenario-step` with `data-status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct StepUpdate {
    /// The step's index in the file, from 0.
    pub index: u32,
    pub name: String,
    /// `publish`, `expect`, `expect_none` or `wait`.
    pub kind: String,
    pub status: StepStatus,
    /// Since the step started.
    pub elapsed_ms: u64,
    /// Why it failed (several lines: the filter, how many matched, the closest misses).
    pub message: Option<String>,
    /// Ids of the events the step published or matched (at most 1,000), to find them in the
    /// table.
    pub event_ids: Vec<String>,
}

/// A scenario file as the panel shows it before a run: its name and its steps, all pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ScenarioOutline {
    pub name: String,
    pub steps: Vec<StepUpdate>,
}

/// How a run in the app ended: each step's last state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ScenarioOutcome {
    pub run_id: String,
    pub passed: bool,
    pub elapsed_ms: u64,
    pub steps: Vec<StepUpdate>,
}

/// What the rate chart stacks its series by, and what anomalies are found per.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum GroupBy {
    /// The producing service (`source`).
    #[default]
    Source,
    /// The dotted name, `resource.eventName`.
    Event,
    /// The organization.
    Org,
}

/// Events per time step of the current view, by group, for the rate chart. Bucketed by the
/// time Eventscope received each event (not the envelope's `timestamp`, which producers'
/// clocks set): point `i` covers `fromMs + i * stepMs` up to the next step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RateSeries {
    /// The view the series were counted for.
    pub view_id: u64,
    pub group_by: GroupBy,
    /// Start of the first point, milliseconds since the Unix epoch (a whole second).
    pub from_ms: i64,
    /// Length of a point: a whole number of seconds, so that at most the asked number of
    /// points covers the range.
    pub step_ms: i64,
    /// Number of points of every group.
    pub points: u32,
    /// The largest groups in the range (at most 8), largest first, then `other` (the rest
    /// summed) when there is a rest.
    pub groups: Vec<SeriesGroup>,
    /// Receive times of the oldest and newest events of the view held, for zooming out.
    pub held_from_ms: Option<i64>,
    pub held_to_ms: Option<i64>,
    /// Drops, gaps and reconnections noticed in the range.
    pub markers: Vec<StreamMarker>,
}

/// One stacked series of the rate chart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SeriesGroup {
    /// The source, dotted event name or organization (empty when events lack it); `other` for
    /// the sum of the groups not shown.
    pub name: String,
    /// True for the sum of the groups beyond the top 8 (so a group named `other` stays itself).
    pub other: bool,
    /// Events of the group in the range.
    pub total: u64,
    /// Events per point.
    pub counts: Vec<u32>,
}

/// Something that happened to the stream itself, drawn on the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum MarkerKind {
    /// Messages dropped by the client or missed at the gateway.
    Drop,
    /// A stretch in which events may have been missed (the gateway said so).
    Gap,
    /// The connection was lost and re-established.
    Reconnect,
}

/// A drop, gap or reconnection, when Eventscope noticed it (checked twice a second).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct StreamMarker {
    pub kind: MarkerKind,
    /// Milliseconds since the Unix epoch; `toMs` equals `fromMs` for an instant.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Messages dropped or missed, when known.
    pub count: Option<u64>,
    pub text: String,
}

/// How the children of a subject tree node are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum TreeSort {
    /// Most events first.
    #[default]
    Count,
    /// Highest rate over the last 10 seconds first.
    Rate,
    /// Most body bytes first.
    Bytes,
}

/// One node of the subject tree: the subjects that share the tokens up to this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SubjectNode {
    /// This node's token (`org_1`, `tasks`, ...).
    pub label: String,
    /// What the platform's scheme calls the token: `prefix`, `organization`, `source`,
    /// `resource`, `event`, `resourceId`, `metadataKey`, `metadataValue`.
    pub level: String,
    /// The NATS pattern that selects the node's subjects: `events.org_1.tasks.>` when some go
    /// deeper, else the subject itself. (A subject that both ends here and continues, such as
    /// a resource id with and without metadata filters, needs both; `exact` counts the first.)
    pub pattern: String,
    /// Events of the view on the node's subjects.
    pub count: u64,
    /// Of them, on the subject that ends at this token.
    pub exact: u64,
    /// Body bytes of those events.
    pub bytes: u64,
    /// Events per second over the last 10 seconds.
    pub rate_per_sec: f64,
    /// Some subjects go deeper: the node can be expanded.
    pub has_children: bool,
}

/// One page of the children of a subject tree node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SubjectLevel {
    pub view_id: u64,
    /// The pattern whose children these are (empty for the root).
    pub prefix: String,
    /// Children in all (after the search), for paging.
    pub total: u32,
    pub offset: u32,
    pub nodes: Vec<SubjectNode>,
}

/// Producer lag of one source: receive time minus the envelope's `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct SourceLag {
    pub source: String,
    /// Events with a `timestamp` (events without one have no lag).
    pub count: u64,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub min_ms: i64,
    /// Events stamped after they were received: the producer's clock is ahead.
    pub negative: u64,
    /// Events whose lag exceeds the threshold.
    pub over_threshold: u64,
    /// Clock skew (or a stalled producer) suspected: some lag is negative or over the threshold.
    pub skewed: bool,
    /// The events of the largest lags (by absolute value), largest first.
    pub outliers: Vec<LagOutlier>,
}

/// One event whose lag stands out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct LagOutlier {
    /// For `detail(seq)`.
    pub seq: u64,
    pub id: String,
    pub lag_ms: i64,
}

/// Producer lag of the current view, per source, most events first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct LagReport {
    pub view_id: u64,
    pub threshold_ms: i64,
    pub sources: Vec<SourceLag>,
}

/// What is unusual about a group's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum AnomalyKind {
    /// No events for much longer than the group's usual gap.
    Silence,
    /// Far more events than the group's recent mean.
    Spike,
}

/// A silence or spike of one source or organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Anomaly {
    pub group_by: GroupBy,
    pub group: String,
    pub kind: AnomalyKind,
    /// Milliseconds since the Unix epoch, by receive time; `toMs` is exclusive.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Still going on at the end of the range.
    pub ongoing: bool,
    /// One line for people: `flows silent for 42 s (usually every 1 s)`.
    pub text: String,
}

/// What an export covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ExportTarget {
    /// The events of the current view, oldest first.
    View,
    /// One organization's timeline over `fromMs..toMs`, in time order.
    Timeline {
        org: String,
        from_ms: i64,
        to_ms: i64,
        recording: bool,
        history: bool,
    },
}

/// How far an export has got; about every 100 ms and once at the end (`done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ExportStatus {
    pub events: u64,
    /// Events to write, when known before the end.
    pub total: Option<u64>,
    pub bytes: u64,
    pub elapsed_ms: u64,
    pub done: bool,
}

/// What opening a file of events found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    pub path: String,
    pub events: u64,
    /// Lines that were not an event (kept, flagged, as the table shows bad messages).
    pub invalid: u64,
    /// Lines over the size bound, skipped.
    pub skipped: u64,
}

/// The notification rules file as the editor opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RulesFile {
    pub path: String,
    /// The file's text, or a starting point (commented, no rules) when there is none yet.
    pub text: String,
    /// What is wrong with the file: the built-ins apply meanwhile.
    pub error: Option<crate::notify::RulesError>,
}

// The local recording (`crate::record`).

/// How much the local recording keeps: the oldest messages go first once either is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecordingRetention {
    /// Bytes the database file may use (the write-ahead log adds up to a few MiB beside it).
    pub max_bytes: u64,
    /// Seconds a message is kept after it was received.
    pub max_age_secs: u64,
}

/// The local recording now, for the status bar and the recording settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecordingStats {
    /// Messages in the recording.
    pub rows: u64,
    /// Size of the database file and its write-ahead log.
    pub bytes_on_disk: u64,
    /// Receive time of the oldest and newest recorded message.
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
    /// Messages that could not be recorded (the disk did not keep up, or recording stopped on
    /// an error); the live view has them all the same.
    pub dropped: u64,
    /// Bytes handed to the recorder and not yet written.
    pub queued_bytes: u64,
    /// The write error that stopped recording, when one did.
    pub last_error: Option<String>,
    /// False once a write error (a full disk) stopped recording.
    pub writing: bool,
    pub retention: RecordingRetention,
}

/// A stretch of time the recording has no data for, and why ("disconnected: ...",
/// "recorder overloaded", "not recording", a gateway's "lagged").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecordedGap {
    pub start_ms: i64,
    /// Null while the gap is still open (still disconnected).
    pub end_ms: Option<i64>,
    pub reason: String,
    /// Messages known to be missing, when known (drops counted by the recorder or the gateway).
    pub missed: Option<u64>,
}

/// The app's recording: on or off, where, what it keeps, and its figures while on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecordingState {
    pub on: bool,
    pub path: String,
    pub retention: RecordingRetention,
    pub stats: Option<RecordingStats>,
}
