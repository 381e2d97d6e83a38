//! The recorder: the handle ingest calls without ever waiting, and the writer thread behind it
//! that batches messages into transactions, records gaps and enforces the retention.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::block::{Block, SPAN_MS};
use super::schema;
use super::{reason, RecordError, RecordedGap, RecordingStats, Retention};
use crate::event;
use crate::source::MessageBatch;
use crate::wire::{ConnectionState, SourceStatus};

/// A transaction is committed at least this often: what a crash of the process can lose of
/// what the writer has taken from its queue.
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// ... or after this many messages or bytes of blocks, so one transaction's memory stays small
/// under a flood.
const COMMIT_ROWS: usize = 50_000;
const COMMIT_BYTES: usize = 8 << 20;
/// How often the writer notes that it is alive while idle (the "not recording" gap after a
/// crash starts at the last note).
const ALIVE_EVERY: Duration = Duration::from_secs(1);
/// How often the retention is checked.
const RETENTION_EVERY: Duration = Duration::from_secs(1);
/// Blocks deleted per statement by the retention, so the writer is never away for long.
const DELETE_CHUNK: i64 = 1_000;
/// Deleting chunks stops after this long; the rest waits for the next check.
const RETENTION_BUDGET: Duration = Duration::from_millis(200);
/// Bytes counted per message beside its subject and body (the batch's own structures).
const MESSAGE_OVERHEAD: usize = 128;

/// How a [`Recorder`] is set up.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    pub retention: Retention,
    /// Bytes handed to the writer and not yet written, past which messages are not recorded
    /// (counted, and a "recorder overloaded" gap). Default 32 MiB: about half a second of the
    /// bus at full speed, so even a backlog adds little to what a crash loses.
    pub queue_bytes: usize,
    /// SQLite's `max_page_count`: a file limit that fails like a full disk (tests).
    pub max_page_count: Option<u64>,
}

impl Default for RecorderOptions {
    fn default() -> RecorderOptions {
        RecorderOptions {
            retention: Retention::DEFAULT,
            queue_bytes: 32 << 20,
            max_page_count: None,
        }
    }
}

/// Records batches into the file on a thread of its own. Cheap to clone; every clone feeds the
/// same writer. Dropping the last clone lets the writer commit and stop; [`Recorder::close`]
/// also waits for it.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    queue_bytes: usize,
    queued: AtomicUsize,
    writing: AtomicBool,
    state: Mutex<State>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What ingest and the writer share (one lock, taken once per batch).
struct State {
    jobs: Option<Sender<Job>>,
    /// Messages not recorded in this session.
    dropped: u64,
    /// The queue is full since (receive time, messages missed so far).
    overloaded: Option<(i64, u64)>,
    /// A disconnection gap is open.
    gap_open: bool,
    /// A gap was opened since the source was last seen connected (its reconnection is
    /// accounted for).
    gap_since_connected: bool,
    /// The gateway's own gap count last seen.
    gateway_gaps: u32,
    /// The source's reconnection count last seen.
    reconnects: u32,
    /// Receive time of the newest batch handed over.
    newest_handed_ms: Option<i64>,
    origin: Arc<str>,
    last_error: Option<String>,
    retention: Retention,
    rows: u64,
    oldest_ms: Option<i64>,
    newest_ms: Option<i64>,
}

enum Job {
    Batch {
        received_ms: i64,
        origin: Arc<str>,
        batch: MessageBatch,
        /// Each message's organization, when the caller resolved them.
        orgs: Option<Vec<Arc<str>>>,
        bytes: usize,
    },
    GapStart {
        at_ms: i64,
        reason: String,
    },
    GapEnd {
        at_ms: i64,
    },
    Gap(RecordedGap),
    Retention,
    Flush(SyncSender<()>),
}

impl Recorder {
    /// Opens (creating when missing) the recording at `path` and starts its writer. A gap
    /// "not recording" covers the time since the file was last written to.
    pub fn open(path: impl AsRef<Path>, options: RecorderOptions) -> Result<Recorder, RecordError> {
        check_retention(&options.retention)?;
        let path = path.as_ref().to_path_buf();
        let conn = schema::open_for_writing(&path)?;
        let now = now_ms();
        let mut writer = Writer::start(conn, options.max_page_count, now)?;
        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            path: path.clone(),
            queue_bytes: options.queue_bytes,
            queued: AtomicUsize::new(0),
            writing: AtomicBool::new(true),
            state: Mutex::new(State {
                jobs: Some(tx),
                dropped: 0,
                overloaded: None,
                gap_open: false,
                gap_since_connected: false,
                gateway_gaps: 0,
                reconnects: 0,
                newest_handed_ms: None,
                origin: Arc::from(""),
                last_error: None,
                retention: options.retention,
                rows: writer.rows,
                oldest_ms: None,
                newest_ms: None,
            }),
            thread: Mutex::new(None),
        });
        writer.shared = Some(inner.clone());
        writer.publish()?;
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || writer.run(rx))
            .map_err(RecordError::Thread)?;
        *lock(&inner.thread) = Some(thread);
        Ok(Recorder { inner })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Hands a batch received at `received_ms` to the writer; never waits. False when it was
    /// not recorded: the queue is full (the disk does not keep up) or recording stopped on an
    /// error. Either way it is counted in [`RecordingStats::dropped`].
    pub fn record_batch(&self, batch: &MessageBatch, received_ms: i64) -> bool {
        self.hand_over(batch, received_ms, None)
    }

    /// [`Recorder::record_batch`] with each message's organization as the store resolved it
    /// (`EventRef::org`), in order: the writer then does not decode the messages again.
    pub fn record_resolved(
        &self,
        batch: &MessageBatch,
        received_ms: i64,
        orgs: Vec<Arc<str>>,
    ) -> bool {
        let orgs = (orgs.len() == batch.len()).then_some(orgs);
        self.hand_over(batch, received_ms, orgs)
    }

    fn hand_over(
        &self,
        batch: &MessageBatch,
        received_ms: i64,
        orgs: Option<Vec<Arc<str>>>,
    ) -> bool {
        let n = batch.len();
        if n == 0 {
            return true;
        }
        let bytes = batch.bytes() + n * MESSAGE_OVERHEAD;
        let mut state = self.inner.state();
        if !self.inner.writing.load(Ordering::Relaxed) || state.jobs.is_none() {
            state.dropped += n as u64;
            return false;
        }
        if self.inner.queued.load(Ordering::Relaxed) + bytes > self.inner.queue_bytes {
            state.dropped += n as u64;
            state.overloaded.get_or_insert((received_ms, 0)).1 += n as u64;
            return false;
        }
        self.inner.queued.fetch_add(bytes, Ordering::Relaxed);
        // Messages arriving prove the source is back, whenever its status is next looked at.
        if state.gap_open {
            state.gap_open = false;
            state.send(Job::GapEnd { at_ms: received_ms });
        }
        if let Some((since, missed)) = state.overloaded.take() {
            state.send(Job::Gap(RecordedGap {
                start_ms: since,
                end_ms: Some(received_ms),
                reason: reason::OVERLOADED.into(),
                missed: Some(missed),
            }));
        }
        state.newest_handed_ms = Some(received_ms);
        let origin = state.origin.clone();
        state.send(Job::Batch {
            received_ms,
            origin,
            batch: batch.clone(),
            orgs,
            bytes,
        });
        true
    }

    /// Follows the source's status: a gap opens when it stops being connected and closes when
    /// it is again; a gap the gateway reported (`lagged`) is recorded as it was. The status's
    /// server becomes the origin of the messages recorded next. Call it on every change (or
    /// every few hundred milliseconds).
    pub fn note_status(&self, status: &SourceStatus) {
        let now = now_ms();
        let mut state = self.inner.state();
        if *state.origin != *status.server {
            state.origin = Arc::from(status.server.as_str());
        }
        let connected = status.state == ConnectionState::Connected;
        if !connected && !state.gap_open {
            state.gap_open = true;
            state.gap_since_connected = true;
            let what = match status.state {
                ConnectionState::Connecting => reason::CONNECTING,
                _ => reason::DISCONNECTED,
            };
            let reason = match &status.reason {
                Some(why) => format!("{what}: {why}"),
                None => what.to_string(),
            };
            state.send(Job::GapStart { at_ms: now, reason });
        } else if connected && state.gap_open {
            state.gap_open = false;
            state.send(Job::GapEnd { at_ms: now });
        } else if connected && status.reconnects > state.reconnects && !state.gap_since_connected {
            // Lost and regained between two looks: no message came since the newest one.
            let since = state.newest_handed_ms.unwrap_or(now).min(now);
            state.send(Job::Gap(RecordedGap {
                start_ms: since,
                end_ms: Some(now),
                reason: format!("{}: reconnected", reason::DISCONNECTED),
                missed: None,
            }));
        }
        state.reconnects = status.reconnects;
        if connected {
            state.gap_since_connected = false;
        }
        let gaps = status.gateway.as_ref().map_or(0, |g| g.gaps);
        if gaps > state.gateway_gaps {
            if let Some(gap) = status.gateway.as_ref().and_then(|g| g.last_gap.as_ref()) {
                state.send(Job::Gap(RecordedGap {
                    start_ms: gap.from_ms,
                    end_ms: Some(gap.to_ms),
                    reason: format!("gateway: {}", gap.reason),
                    missed: gap.missed,
                }));
            }
        }
        // A new source counts from zero again.
        state.gateway_gaps = gaps;
    }

    /// The recording now.
    pub fn stats(&self) -> RecordingStats {
        let state = self.inner.state();
        RecordingStats {
            rows: state.rows,
            bytes_on_disk: bytes_on_disk(&self.inner.path),
            oldest_ms: state.oldest_ms,
            newest_ms: state.newest_ms,
            dropped: state.dropped,
            queued_bytes: self.inner.queued.load(Ordering::Relaxed) as u64,
            last_error: state.last_error.clone(),
            writing: self.inner.writing.load(Ordering::Relaxed),
            retention: state.retention,
        }
    }

    /// Changes the retention; the writer applies it at once (deleting in chunks).
    pub fn set_retention(&self, retention: Retention) -> Result<(), RecordError> {
        check_retention(&retention)?;
        let mut state = self.inner.state();
        state.retention = retention;
        state.send(Job::Retention);
        Ok(())
    }

    /// Waits until everything handed over so far is committed (or recording has stopped).
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.inner.state().send(Job::Flush(done)) {
            let _ = wait.recv();
        }
    }

    /// Commits what is queued and stops the writer; later batches are counted as dropped.
    pub fn close(&self) {
        self.inner.state().jobs = None;
        if let Some(thread) = lock(&self.inner.thread).take() {
            let _ = thread.join();
        }
        self.inner.writing.store(false, Ordering::Relaxed);
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Recording stops: the error is kept for the stats and what is queued is counted as
    /// dropped.
    fn fail(&self, error: String, lost: u64) {
        tracing::warn!("the recording {} stopped: {error}", self.path.display());
        self.writing.store(false, Ordering::Relaxed);
        let mut state = self.state();
        state.last_error = Some(error);
        state.dropped += lost;
    }
}

impl State {
    /// False when the writer is gone.
    fn send(&self, job: Job) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok())
    }
}

/// The writer thread's side: one connection, one open transaction at a time.
struct Writer {
    conn: Connection,
    shared: Option<Arc<Inner>>,
    /// Messages in the file and the open transaction.
    rows: u64,
    /// Blocks (rows of `blocks`) in the file.
    blocks: u64,
    /// The next message's id.
    next_id: i64,
    /// The blocks of the open transaction, with the origin of their messages, written at the
    /// commit.
    pending: Vec<(Arc<str>, Block)>,
    /// Each organization's block still taking messages (an index into `pending`).
    open_blocks: HashMap<String, usize>,
    /// The origin of the blocks still taking messages.
    pending_origin: Arc<str>,
    /// Bytes of `pending`'s blocks.
    pending_bytes: usize,
    /// Queue bytes of the batches in `pending`, given back when they are written.
    pending_queued: usize,
    /// The newest receive time written: a receive time that steps back (a clock change) is
    /// recorded as this one, so ids and times grow together and retention deletes a prefix.
    newest_ms: i64,
    /// The open disconnection gap's row.
    open_gap: Option<i64>,
    in_txn: bool,
    txn_started: Instant,
    /// Messages taken in the open transaction.
    txn_rows: u64,
    /// Messages counted as missed in the open transaction (overloaded gaps).
    txn_missed: u64,
    last_alive: Instant,
    last_retention: Option<Instant>,
    page_size: u64,
}

impl Writer {
    fn start(
        conn: Connection,
        max_page_count: Option<u64>,
        now: i64,
    ) -> Result<Writer, RecordError> {
        if let Some(pages) = max_page_count {
            let _: i64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })?;
        }
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let (rows, blocks): (u64, u64) = conn.query_row(
            "SELECT coalesce(sum(count), 0), count(*) FROM blocks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let newest_ms = extent(&conn)?.1;
        let next_id: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'next_id'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let alive: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'alive_ms'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(alive) = alive {
            // A crash left its disconnection gap open: it ended when the writer did.
            conn.execute(
                "UPDATE gaps SET end_ms = max(start_ms, ?1) WHERE end_ms IS NULL",
                [alive],
            )?;
            if now - alive > ALIVE_EVERY.as_millis() as i64 * 2 {
                conn.execute(
                    "INSERT INTO gaps (start_ms, end_ms, reason) VALUES (?1, ?2, ?3)",
                    params![alive, now, reason::NOT_RECORDING],
                )?;
            }
        }
        Ok(Writer {
            conn,
            shared: None,
            rows,
            blocks,
            next_id: next_id.unwrap_or(1),
            pending: Vec::new(),
            open_blocks: HashMap::new(),
            pending_origin: Arc::from(""),
            pending_bytes: 0,
            pending_queued: 0,
            newest_ms: newest_ms.unwrap_or(i64::MIN),
            open_gap: None,
            in_txn: false,
            txn_started: Instant::now(),
            txn_rows: 0,
            txn_missed: 0,
            last_alive: Instant::now() - ALIVE_EVERY,
            last_retention: None,
            page_size,
        })
    }

    fn shared(&self) -> &Inner {
        self.shared.as_ref().expect("set before the thread starts")
    }

    fn run(mut self, jobs: Receiver<Job>) {
        if let Err(e) = self.serve(&jobs) {
            let lost = if self.in_txn { self.txn_rows } else { 0 };
            if self.in_txn {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.rows -= self.txn_rows;
            }
            self.shared()
                .queued
                .fetch_sub(self.pending_queued, Ordering::Relaxed);
            self.pending_queued = 0;
            self.shared().fail(e.to_string(), lost);
            // Until the handles are gone, what still comes is counted and let go.
            for job in jobs {
                match job {
                    Job::Batch { batch, bytes, .. } => {
                        self.shared().queued.fetch_sub(bytes, Ordering::Relaxed);
                        self.shared().state().dropped += batch.len() as u64;
                    }
                    Job::Flush(done) => {
                        let _ = done.send(());
                    }
                    _ => {}
                }
            }
        }
    }

    fn serve(&mut self, jobs: &Receiver<Job>) -> rusqlite::Result<()> {
        loop {
            let wait = if self.in_txn {
                COMMIT_EVERY.saturating_sub(self.txn_started.elapsed())
            } else {
                ALIVE_EVERY.saturating_sub(self.last_alive.elapsed())
            };
            match jobs.recv_timeout(wait) {
                Ok(Job::Flush(done)) => {
                    self.commit()?;
                    let _ = done.send(());
                }
                Ok(Job::Retention) => {
                    self.commit()?;
                    self.last_retention = None;
                }
                Ok(job) => {
                    self.begin()?;
                    self.apply(job)?;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.commit(),
            }
            if self.in_txn
                && (self.txn_started.elapsed() >= COMMIT_EVERY
                    || self.txn_rows >= COMMIT_ROWS as u64
                    || self.pending_bytes >= COMMIT_BYTES)
            {
                self.commit()?;
            }
            if !self.in_txn && self.last_alive.elapsed() >= ALIVE_EVERY {
                self.begin()?;
                self.commit()?;
            }
            if !self.in_txn
                && self
                    .last_retention
                    .is_none_or(|at| at.elapsed() >= RETENTION_EVERY)
            {
                self.enforce_retention()?;
                self.last_retention = Some(Instant::now());
            }
        }
    }

    fn begin(&mut self) -> rusqlite::Result<()> {
        if !self.in_txn {
            self.conn.execute_batch("BEGIN")?;
            self.in_txn = true;
            self.txn_started = Instant::now();
            self.txn_rows = 0;
            self.txn_missed = 0;
        }
        Ok(())
    }

    /// Writes the pending blocks and commits the open transaction with the writer's alive
    /// time, and shows the result.
    fn commit(&mut self) -> rusqlite::Result<()> {
        if !self.in_txn {
            return Ok(());
        }
        self.open_blocks.clear();
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO blocks (org, first_ms, last_ms, count, origin, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (origin, block) in &self.pending {
            insert.execute(params![
                block.org,
                block.first_ms,
                block.last_ms,
                block.count,
                &**origin,
                block.data
            ])?;
        }
        drop(insert);
        let written = self.pending.len() as u64;
        let mut meta = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
        meta.execute(params!["alive_ms", now_ms()])?;
        meta.execute(params!["next_id", self.next_id])?;
        if self.txn_missed > 0 {
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('dropped', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = value + ?1",
                [self.txn_missed],
            )?;
        }
        drop(meta);
        self.conn.execute_batch("COMMIT")?;
        self.in_txn = false;
        self.blocks += written;
        self.pending.clear();
        self.pending_bytes = 0;
        self.shared()
            .queued
            .fetch_sub(self.pending_queued, Ordering::Relaxed);
        self.pending_queued = 0;
        self.last_alive = Instant::now();
        self.publish()
    }

    /// Shows the recording's extent in the stats.
    fn publish(&self) -> rusqlite::Result<()> {
        let (oldest, newest) = extent(&self.conn)?;
        let mut state = self.shared().state();
        state.rows = self.rows;
        state.oldest_ms = oldest;
        state.newest_ms = newest;
        Ok(())
    }

    fn apply(&mut self, job: Job) -> rusqlite::Result<()> {
        match job {
            Job::Batch {
                received_ms,
                origin,
                batch,
                orgs,
                bytes,
            } => {
                self.insert(&batch, orgs.as_deref(), received_ms, origin);
                self.pending_queued += bytes;
            }
            Job::GapStart { at_ms, reason } => {
                self.conn.execute(
                    "INSERT INTO gaps (start_ms, reason) VALUES (?1, ?2)",
                    params![at_ms, reason],
                )?;
                self.open_gap = Some(self.conn.last_insert_rowid());
            }
            Job::GapEnd { at_ms } => {
                if let Some(id) = self.open_gap.take() {
                    self.conn.execute(
                        "UPDATE gaps SET end_ms = max(start_ms, ?1) WHERE id = ?2",
                        params![at_ms, id],
                    )?;
                }
            }
            Job::Gap(gap) => {
                self.conn.execute(
                    "INSERT INTO gaps (start_ms, end_ms, reason, missed) VALUES (?1, ?2, ?3, ?4)",
                    params![gap.start_ms, gap.end_ms, gap.reason, gap.missed],
                )?;
                if gap.reason == reason::OVERLOADED {
                    self.txn_missed += gap.missed.unwrap_or(0);
                }
            }
            Job::Retention | Job::Flush(_) => unreachable!("handled by serve"),
        }
        Ok(())
    }

    /// Adds the batch's messages to their organizations' blocks.
    fn insert(
        &mut self,
        batch: &MessageBatch,
        orgs: Option<&[Arc<str>]>,
        received_ms: i64,
        origin: Arc<str>,
    ) {
        let received_ms = received_ms.max(self.newest_ms);
        self.newest_ms = received_ms;
        if origin != self.pending_origin {
            // A block's messages share one origin.
            self.open_blocks.clear();
            self.pending_origin = origin;
        }
        let before = self.pending_bytes;
        let mut taken = 0;
        let mut n = 0;
        batch.for_each(|subject, headers, body| {
            let decoded;
            let fields;
            let org: &str = match orgs {
                Some(orgs) => &orgs[n],
                None => {
                    decoded = event::decode(body);
                    fields = decoded.resolve(subject);
                    &fields.org
                }
            };
            n += 1;
            let at = match self.open_blocks.get(org) {
                Some(&at) if self.pending[at].1.takes(received_ms) => at,
                _ => {
                    self.pending
                        .push((self.pending_origin.clone(), Block::new(org, received_ms)));
                    let at = self.pending.len() - 1;
                    self.open_blocks.insert(org.to_string(), at);
                    at
                }
            };
            let block = &mut self.pending[at].1;
            let size = block.data.len();
            block.push(self.next_id, received_ms, subject, headers, body);
            self.pending_bytes += block.data.len() - size;
            self.next_id += 1;
            taken += 1;
            true
        });
        debug_assert!(self.pending_bytes >= before);
        self.rows += taken;
        self.txn_rows += taken;
    }

    /// Deletes the oldest messages past the retention's age, then past its size (down to 90%
    /// of it, so it is not done again a second later), in chunks of their own transactions
    /// for at most [`RETENTION_BUDGET`]; gives free pages back to the file system when the
    /// file is larger than allowed (after the limit was lowered).
    fn enforce_retention(&mut self) -> rusqlite::Result<()> {
        let retention = self.shared().state().retention;
        let started = Instant::now();
        let max_age_ms = retention
            .max_age_secs
            .saturating_mul(1000)
            .min(i64::MAX as u64) as i64;
        let cutoff = now_ms().saturating_sub(max_age_ms);
        while started.elapsed() < RETENTION_BUDGET {
            let deleted = self.delete(
                "DELETE FROM blocks WHERE id IN
                   (SELECT id FROM blocks WHERE first_ms < ?1 AND last_ms < ?1
                    ORDER BY first_ms LIMIT ?2)
                 RETURNING count",
                params![cutoff, DELETE_CHUNK],
            )?;
            if deleted < DELETE_CHUNK as u64 {
                break;
            }
        }
        let mut trimmed = false;
        while started.elapsed() < RETENTION_BUDGET && self.blocks > 0 {
            let used = self.used_bytes()?;
            if used <= retention.max_bytes && !trimmed {
                break;
            }
            let target = retention.max_bytes / 10 * 9;
            if used <= target {
                break;
            }
            trimmed = true;
            let per_block = (used / self.blocks).max(1);
            let count = ((used - target) / per_block).clamp(1, DELETE_CHUNK as u64);
            let deleted = self.delete(
                "DELETE FROM blocks WHERE id IN (SELECT id FROM blocks ORDER BY id LIMIT ?1)
                 RETURNING count",
                [count],
            )?;
            if deleted == 0 {
                break;
            }
        }
        self.conn.execute(
            "DELETE FROM gaps WHERE end_ms IS NOT NULL AND end_ms < ?1",
            [cutoff],
        )?;
        let pages: u64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let allowed = retention.max_bytes / self.page_size;
        if pages > allowed {
            // Steps until done: the pragma frees its pages one step at a time.
            let mut vacuum = self
                .conn
                .prepare(&format!("PRAGMA incremental_vacuum({})", pages - allowed))?;
            let mut steps = vacuum.query([])?;
            while steps.next()?.is_some() {}
        }
        self.publish()
    }

    /// Runs a `DELETE ... RETURNING count` of blocks; the number of blocks deleted.
    fn delete(&mut self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<u64> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let (mut blocks, mut messages) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            blocks += 1;
            messages += row.get::<_, u64>(0)?;
        }
        drop(rows);
        drop(stmt);
        self.blocks -= blocks;
        self.rows -= messages;
        Ok(blocks)
    }

    /// Bytes of the pages that hold data (free pages are reused before the file grows).
    fn used_bytes(&self) -> rusqlite::Result<u64> {
        let (pages, free): (u64, u64) = self.conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()),
                    (SELECT freelist_count FROM pragma_freelist_count())",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(pages.saturating_sub(free) * self.page_size)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A clean stop leaves no write-ahead log to replay.
        if !self.in_txn {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

/// The receive times of the oldest and newest message recorded (both by an index: the newest
/// is in a block that starts within [`SPAN_MS`] of the last block's start).
fn extent(conn: &Connection) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    conn.query_row(
        "SELECT (SELECT min(first_ms) FROM blocks),
                (SELECT max(last_ms) FROM blocks
                 WHERE first_ms >= (SELECT max(first_ms) FROM blocks) - ?1)",
        [SPAN_MS],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn check_retention(retention: &Retention) -> Result<(), RecordError> {
    if retention.max_bytes < 1 << 20 {
        return Err(RecordError::TinyRetention);
    }
    Ok(())
}

/// The database file and its write-ahead log.
fn bytes_on_disk(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A poisoned lock means a panic elsewhere already; the counts are still the best there are.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
