//! The local recording: every message received, kept in a SQLite file in blocks (one row per
//! organization and commit window) (docs/recording.md) so
//! the table and the timeline reach past memory and past a restart.
//!
//! A [`Recorder`] writes on a thread of its own; ingest hands it batches with
//! [`Recorder::record_batch`], which never waits (a queue bounded in bytes, and when it is full
//! the messages are counted and a "recorder overloaded" gap is recorded). Disconnections become
//! gaps ([`Recorder::note_status`]). A [`Reader`] opens its own connection, so reading goes on
//! beside the writer (WAL).

mod block;
mod local;
mod reader;
mod schema;
mod writer;

#[cfg(test)]
mod tests;

use thiserror::Error;

pub use crate::wire::{RecordedGap, RecordingRetention as Retention, RecordingStats};
pub use local::{LocalRecording, RECORDING_FILE};
pub use reader::Reader;
pub use writer::{Recorder, RecorderOptions};

/// Why a gap has no data, as recorded.
pub mod reason {
    /// The recorder's queue was full: the disk did not keep up.
    pub const OVERLOADED: &str = "recorder overloaded";
    /// Nothing was recording (the app or `eventscope-cli record` was not running).
    pub const NOT_RECORDING: &str = "not recording";
    /// The source was not connected (its own reason follows after a colon).
    pub const DISCONNECTED: &str = "disconnected";
    /// The source was still making its first connection.
    pub const CONNECTING: &str = "connecting";
}

impl Retention {
    /// 2 GiB and 7 days.
    pub const DEFAULT: Retention = Retention {
        max_bytes: 2 << 30,
        max_age_secs: 7 * 24 * 3600,
    };
}

impl Default for Retention {
    fn default() -> Retention {
        Retention::DEFAULT
    }
}

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot open the recording {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("cannot keep a write-ahead log for {path} (journal mode {mode})")]
    NoWal { path: String, mode: String },
    #[error("{path} is not an Eventscope recording")]
    NotARecording { path: String },
    #[error("{path} was written by a newer Eventscope (recording version {version})")]
    NewerVersion { path: String, version: i64 },
    #[error("{path} was written by an older Eventscope (recording version {version}): move it away to start a new recording")]
    OlderVersion { path: String, version: i64 },
    #[error("cannot read the recording: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("cannot start the recorder thread: {0}")]
    Thread(std::io::Error),
    #[error("the retention size must be at least 1 MiB")]
    TinyRetention,
}

/// One recorded message: the envelope's fields as the store resolves them (subject tokens
/// where the envelope lacks one, empty when neither has it) and the bytes exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMessage {
    /// The message's id: grows with receive order; with `received_ms`, the pagination cursor.
    pub id: i64,
    /// Receive time, ms since the Unix epoch (never earlier than the message recorded before).
    pub received_ms: i64,
    /// The envelope's `timestamp`, when it parses.
    pub timestamp_ms: Option<i64>,
    pub org: String,
    pub source: String,
    pub resource: String,
    pub event_name: String,
    pub resource_id: String,
    /// The envelope's `id`, or empty.
    pub event_id: String,
    pub subject: String,
    /// NATS headers as (name, value) pairs, in order.
    pub headers: Vec<(String, String)>,
    /// The body exactly as received: not JSON or not UTF-8 alike.
    pub body: Vec<u8>,
    /// The connection it came from (the server URL(s) or the gateway URL).
    pub origin: String,
}

impl RecordedMessage {
    /// Where the next page starts.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            received_ms: self.received_ms,
            id: self.id,
        }
    }
}

/// A position in receive order: the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub received_ms: i64,
    pub id: i64,
}

/// Which messages [`Reader::query`] returns: received in `since_ms..until_ms`, of `org` when
/// given, at most `limit`, after `after` (keyset pagination, as fast at any depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub org: Option<String>,
    pub since_ms: i64,
    pub until_ms: i64,
    pub limit: usize,
    /// The last message of the previous page.
    pub after: Option<Cursor>,
    /// Newest first (the timeline's first page of the last 24 h is its newest end).
    pub newest_first: bool,
}

impl Query {
    /// Everything of `org` (all orgs when `None`) received in `since_ms..until_ms`, oldest
    /// first, `limit` at a time.
    pub fn range(org: Option<&str>, since_ms: i64, until_ms: i64, limit: usize) -> Query {
        Query {
            org: org.map(str::to_string),
            since_ms,
            until_ms,
            limit,
            after: None,
            newest_first: false,
        }
    }
}
