//! A live stream: one source feeding one store, with the counters and status a viewer shows.
//!
//! The ingest task drains the subscription in batches and takes the store's lock once per batch;
//! it never waits for a viewer. Viewers (the desktop shell, the benchmark) read through `Live`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::compose::ComposeError;
use crate::facets;
use crate::filter::{Filter, ParseError};
use crate::ndjson;
use crate::notify::{RuleSet, Tally, Volume};
use crate::publish::{Captured, PublishError};
use crate::record::Recorder;
use crate::shape::{self, AnomalyParams, SeriesRange, ShapeIndex, TreeQuery};
use crate::source::gateway::GatewayToken;
use crate::source::{FirstConnect, Source, SourceCounters, SourceError};
use crate::store::{EventStore, Incoming, StoreLimits};
use crate::timeline;
use crate::topic::TopicError;
use crate::view::View;
use crate::wire::{
    Anomaly, ConnectionProfile, ConnectionState, EventDetail, Facets, FilterApplied, GroupBy,
    ImportOutcome, LagReport, MarkerKind, RateSeries, RowSummary, ServerAbout, SourceStatus, Stats,
    StreamMarker, SubjectLevel, ViewInfo,
};

/// Messages per second over a sliding window of about one second.
#[derive(Debug, Default)]
pub struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    const WINDOW: Duration = Duration::from_secs(1);

    /// Records that `total` messages had arrived by `now`; returns the rate over the window.
    pub fn observe(&mut self, now: Instant, total: u64) -> f64 {
        self.samples.push_back((now, total));
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= Self::WINDOW {
            self.samples.pop_front();
        }
        let (t0, n0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            return 0.0;
        }
        (total - n0) as f64 / dt
    }
}

/// The events held and the source filling them, and the filtered view the table shows.
///
/// Lock order: `store`, then `shown`, then `shape`, then `notify`; the view, the shape index
/// and the notification tally are only changed with the store locked, so they always agree.
pub struct Live {
    store: Mutex<EventStore>,
    shown: Mutex<Shown>,
    /// Per-second counts of everything held, kept at ingest; `None` when turned off (the
    /// benchmark's baseline), and the chart then counts from the events.
    shape: Mutex<Option<ShapeIndex>>,
    /// The would-be notifications of the live stream by the rules set with
    /// [`Live::set_notify_rules`], counted at ingest after each batch; `None` when no rules.
    notify: Mutex<Option<Tally>>,
    markers: Mutex<Markers>,
    counters: Mutex<Arc<SourceCounters>>,
    status: watch::Sender<SourceStatus>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The current source's NATS client, when it talks to NATS directly, and whether its
    /// connection is read-only.
    client: Mutex<Option<(async_nats::Client, bool)>>,
    rate: Mutex<RateMeter>,
    /// Gives the gateway source a fresher token (none for NATS).
    gateway_token: Mutex<Option<GatewayToken>>,
    /// The local recording, fed beside the store (see [`Live::set_recording`]).
    recording: Mutex<Option<Recorder>>,
}

impl Live {
    pub fn new(limits: StoreLimits) -> Arc<Live> {
        let (status, _) = watch::channel(SourceStatus::disconnected("not connected"));
        Arc::new(Live {
            store: Mutex::new(EventStore::new(limits)),
            shown: Mutex::new(Shown {
                id: 0,
                view: View::new(Filter::default()),
                complete: true,
            }),
            shape: Mutex::new(Some(ShapeIndex::new())),
            notify: Mutex::new(None),
            markers: Mutex::new(Markers::default()),
            counters: Mutex::new(Arc::default()),
            status,
            task: Mutex::new(None),
            client: Mutex::new(None),
            rate: Mutex::new(RateMeter::default()),
            gateway_token: Mutex::new(None),
            recording: Mutex::new(None),
        })
    }

    /// Replaces the current source with one for `profile` (held events are kept).
    pub async fn connect(
        self: &Arc<Self>,
        profile: &ConnectionProfile,
        first: FirstConnect,
    ) -> Result<(), SourceError> {
        self.disconnect();
        let counters = Arc::new(SourceCounters::default());
        let source = Source::connect(profile, first, counters.clone(), self.status.clone()).await?;
        *lock(&self.counters) = counters;
        *lock(&self.client) = source.nats_client().map(|c| (c, profile.read_only));
        *lock(&self.gateway_token) = source.gateway_token();
        self.note_recording();
        let live = Arc::clone(self);
        *lock(&self.task) = Some(tokio::spawn(async move { live.ingest(source).await }));
        Ok(())
    }

    /// Gives the gateway source a fresher token for the same user: it re-authenticates the open
    /// connection with it (`reauth`) and uses it for every later one, so the stream does not
    /// stop at the old token's expiry. False when the source is not a gateway.
    pub fn set_gateway_token(&self, token: &str) -> bool {
        match &*lock(&self.gateway_token) {
            Some(setter) => {
                setter.set(token);
                true
            }
            None => false,
        }
    }

    /// Stops the source; what was received stays.
    pub fn disconnect(&self) {
        lock(&self.client).take();
        if let Some(task) = lock(&self.task).take() {
            task.abort();
            self.status.send_modify(|s| {
                s.state = ConnectionState::Disconnected;
                s.reason = Some("disconnected by the user".into());
            });
        }
        self.note_recording();
    }

    /// Shows why there is no source (a profile that could not even be tried).
    pub fn fail(&self, reason: String) {
        self.status.send_modify(|s| {
            s.state = ConnectionState::Disconnected;
            s.reason = Some(reason);
        });
        self.note_recording();
    }

    /// Replaces the source with a file of events (NDJSON as `tail --json` prints and exports
    /// write): what was held is forgotten, the file's events are held as if received (at
    /// their envelope time, or now when they have none) and nothing can be published.
    pub fn open_file(
        &self,
        path: &std::path::Path,
        max_line: usize,
    ) -> std::io::Result<ImportOutcome> {
        let file = std::fs::File::open(path)?;
        let mut lines =
            ndjson::Lines::new(std::io::BufReader::with_capacity(1 << 16, file), max_line);
        self.disconnect();
        self.clear();
        let name = path.display().to_string();
        self.status.send_modify(|s| {
            *s = SourceStatus::disconnected("");
            s.state = ConnectionState::Connecting;
            s.server = name.clone();
            s.reason = Some("reading the file".into());
        });
        let mut outcome = ImportOutcome {
            path: name.clone(),
            events: 0,
            invalid: 0,
            skipped: 0,
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut batch: Vec<(String, Vec<u8>, i64)> = Vec::with_capacity(FILE_BATCH);
        let read = loop {
            let entry = match lines.next_entry() {
                Ok(entry) => entry,
                Err(e) => break Err(e),
            };
            match entry {
                Some(ndjson::Entry::Event { subject, body, .. }) => {
                    let decoded = crate::event::decode(&body);
                    if !decoded.problems.is_empty() {
                        outcome.invalid += 1;
                    }
                    let at = decoded.timestamp_ms.unwrap_or(now_ms);
                    batch.push((subject, body, at));
                    outcome.events += 1;
                }
                Some(ndjson::Entry::TooLong { .. }) => outcome.skipped += 1,
                None => break Ok(()),
            }
            if batch.len() == FILE_BATCH {
                self.push_owned(&mut batch);
            }
        };
        self.push_owned(&mut batch);
        let held = lock(&self.store).len();
        self.status.send_modify(|s| match &read {
            Ok(()) => {
                s.state = ConnectionState::File;
                s.reason = Some(format!("{held} events"));
            }
            Err(e) => {
                s.state = ConnectionState::Disconnected;
                s.reason = Some(format!("cannot read {name}: {e}"));
            }
        });
        read.map(|()| outcome)
    }

    /// Holds messages read from somewhere other than a source, each at its own time.
    fn push_owned(&self, batch: &mut Vec<(String, Vec<u8>, i64)>) {
        if batch.is_empty() {
            return;
        }
        let mut store = lock(&self.store);
        for (subject, body, received_ms) in batch.drain(..) {
            store.push(Incoming {
                subject: &subject,
                headers: &[],
                body: &body,
                received_ms,
            });
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        lock(&self.shown).view.on_pushed(&store, now_ms);
        if let Some(index) = lock(&self.shape).as_mut() {
            index.on_pushed(&store);
        }
    }

    async fn ingest(&self, mut source: Source) {
        let mut settle = tokio::time::interval(Duration::from_millis(500));
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut status = self.status.subscribe();
        let mut org_names = OrgNames::default();
        loop {
            tokio::select! {
                batch = source.next_batch() => {
                    let Some(batch) = batch else { break };
                    let received_ms = chrono::Utc::now().timestamp_millis();
                    let recorder = lock(&self.recording).clone();
                    let mut store = lock(&self.store);
                    // The organizations the store resolves go to the recorder with the batch,
                    // so its writer does not decode every message again.
                    let mut orgs = recorder.as_ref().map(|_| Vec::with_capacity(batch.len()));
                    batch.for_each(|subject, headers, body| {
                        let seq = store.push(Incoming { subject, headers, body, received_ms });
                        if let Some(list) = orgs.as_mut() {
                            match store.get(seq) {
                                Some(event) => list.push(org_names.get(event.org())),
                                None => orgs = None,
                            }
                        }
                        true
                    });
                    if let Some(recorder) = recorder {
                        match orgs {
                            Some(orgs) => recorder.record_resolved(&batch, received_ms, orgs),
                            None => recorder.record_batch(&batch, received_ms),
                        };
                    }
                    lock(&self.shown).view.on_pushed(&store, received_ms);
                    if let Some(index) = lock(&self.shape).as_mut() {
                        index.on_pushed(&store);
                    }
                    if let Some(tally) = lock(&self.notify).as_mut() {
                        tally.advance(&store, usize::MAX, received_ms);
                    }
                }
                _ = settle.tick() => {
                    source.settle_drops();
                    self.note_markers();
                }
                Ok(()) = status.changed() => {
                    // A lost connection is noted when it is lost, not at the next tick: the
                    // reconnection marker (a gap in the timeline) then spans all of it.
                    self.note_markers();
                    self.note_recording();
                }
            }
        }
        self.status.send_modify(|s| {
            // A source that stopped for a reason of its own (an expired gateway token) said so.
            if s.state != ConnectionState::Disconnected || s.reason.is_none() {
                s.state = ConnectionState::Disconnected;
                s.reason = Some("subscription ended".into());
            }
        });
    }

    /// Counts the would-be notifications of what arrives from now on by `rules` (a fresh
    /// tally); `None` stops counting.
    pub fn set_notify_rules(&self, rules: Option<Arc<RuleSet>>) {
        let store = lock(&self.store);
        *lock(&self.notify) = rules.map(|r| Tally::new(r, store.next_seq()));
    }

    /// The live stream's notification counts since the rules were set.
    pub fn notify_volume(&self) -> Option<Volume> {
        lock(&self.notify).as_ref().map(Tally::volume)
    }

    pub fn store(&self) -> MutexGuard<'_, EventStore> {
        lock(&self.store)
    }

    /// The NATS server on the other end, as its latest INFO describes it (it changes when a
    /// reconnect lands on another cluster member); `None` without a direct NATS connection.
    pub fn server_about(&self) -> Option<ServerAbout> {
        let (client, _) = lock(&self.client).clone()?;
        let info = client.server_info();
        if info.version.is_empty() {
            return None;
        }
        Some(ServerAbout {
            name: info.server_name,
            version: info.version,
            max_payload: info.max_payload as u64,
            jetstream: info.jetstream,
        })
    }

    /// The client to publish with: refused on a read-only connection, or without a direct NATS
    /// connection (a gateway only delivers).
    pub fn publisher(&self) -> Result<async_nats::Client, ComposeError> {
        match lock(&self.client).clone() {
            Some((_, true)) => Err(PublishError::ReadOnly.into()),
            Some((client, false)) => Ok(client),
            None => Err(ComposeError::NotConnected),
        }
    }

    /// The NATS connection, read-only or not: reading history never publishes.
    pub fn nats_client(&self) -> Option<async_nats::Client> {
        lock(&self.client).as_ref().map(|(c, _)| c.clone())
    }

    /// Whether a NATS connection is open (read-only or not): scenarios need one, as they
    /// connect to the same servers; a gateway connection cannot run them.
    pub fn nats_connected(&self) -> Result<(), ComposeError> {
        match *lock(&self.client) {
            Some(_) => Ok(()),
            None => Err(ComposeError::NotConnected),
        }
    }

    pub fn status(&self) -> SourceStatus {
        self.status.borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<SourceStatus> {
        self.status.subscribe()
    }

    /// Counters of the stream now; also advances the rate meter.
    pub fn stats(&self) -> Stats {
        let counters = lock(&self.counters).clone();
        let received = counters.received.load(Ordering::Relaxed);
        let rate_per_sec = lock(&self.rate).observe(Instant::now(), received);
        let store = lock(&self.store);
        Stats {
            received,
            held: store.len(),
            evicted: store.evictions().total(),
            dropped_client: counters.dropped_client(),
            slow_consumer_reports: counters.slow_consumer_reports.load(Ordering::Relaxed),
            invalid: store.invalid(),
            bytes_held: store.raw_bytes(),
            rate_per_sec,
            first_seq: store.first_seq(),
            next_seq: store.next_seq(),
        }
    }

    /// Applies a query to the held events and to those that arrive from now on. The previous
    /// view stays when the query is invalid.
    ///
    /// The newest matches come first: the view answers with the newest [`FIRST_PAGE`] matches
    /// (or what [`FIRST_BUDGET`] finds), which is what a following table shows, and a thread
    /// filters the older events in steps of about 10 ms, then replaces the view by the complete
    /// one (a new id). A million events take a tenth to a third of a second (free text is as
    /// quick as envelope terms; payload paths and regexes without a literal prefix are the
    /// slowest); the first page does not wait for them.
    pub fn set_filter(self: &Arc<Self>, query: &str) -> Result<FilterApplied, ParseError> {
        let filter = Filter::parse(query)?;
        let subjects = filter.subjects();
        let highlights = filter.highlights();
        let started = Instant::now();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let (info, complete) = {
            let store = lock(&self.store);
            let view = View::newest_first(filter, &store, now_ms, FIRST_PAGE, FIRST_BUDGET);
            let complete = view.is_complete(&store);
            let mut shown = lock(&self.shown);
            shown.id += 1;
            shown.view = view;
            shown.complete = complete;
            (shown.info(), complete)
        };
        if !complete {
            let live = Arc::clone(self);
            let id = info.id;
            std::thread::spawn(move || live.complete_view(id, now_ms));
        }
        Ok(FilterApplied {
            view: info,
            subjects,
            highlights,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Filters the events older than the first page, newest first, a step at a time (the store
    /// is locked per step only, so ingest and the table keep going), then completes view `id`
    /// unless another filter replaced it meanwhile.
    fn complete_view(&self, id: u64, now_ms: i64) {
        // A step holds the store for about 10 ms (its size adapts to the filter's cost), and
        // the pause between steps lets the table's row requests and the stream's batches in:
        // std's mutex is not fair, so without it this thread would take the lock straight back.
        const STEP_TIME: Duration = Duration::from_millis(10);
        const PAUSE: Duration = Duration::from_millis(2);
        let mut step: u64 = 32 * 1024;
        let mut older: Vec<Vec<u64>> = Vec::new();
        let mut end = u64::MAX;
        loop {
            std::thread::sleep(PAUSE);
            let store = lock(&self.store);
            let mut shown = lock(&self.shown);
            if shown.id != id {
                return;
            }
            let missing = shown.view.missing(&store);
            end = end.min(missing.end);
            if end <= missing.start {
                let older = older.into_iter().rev().flatten().collect();
                shown.view.prepend(&store, older);
                shown.id += 1;
                shown.complete = true;
                return;
            }
            let start = end.saturating_sub(step).max(missing.start);
            let started = Instant::now();
            older.push(shown.view.matches_in(&store, start..end, now_ms));
            let took = started.elapsed();
            if took > STEP_TIME {
                step = (step / 2).max(4 * 1024);
            } else if took < STEP_TIME / 2 {
                step = (step * 2).min(512 * 1024);
            }
            end = start;
        }
    }

    /// The view the table shows now.
    pub fn view_info(&self) -> ViewInfo {
        let _store = lock(&self.store);
        lock(&self.shown).info()
    }

    /// Rows of the view at positions `start_pos..start_pos + count` that are still held.
    pub fn rows(&self, start_pos: u64, count: usize) -> Vec<RowSummary> {
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        let (first, seqs) = shown.view.window_at(start_pos, count);
        rows_at(&store, first, &seqs)
    }

    /// The newest `count` rows of the view, oldest first.
    pub fn tail(&self, count: usize) -> Vec<RowSummary> {
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        let start = shown.view.next_pos().saturating_sub(count as u64);
        let (first, seqs) = shown.view.window_at(start, count);
        rows_at(&store, first, &seqs)
    }

    /// Facet counts of the view's rows, the `top` values of each field.
    pub fn facets(&self, top: usize) -> Facets {
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        facets::count(&store, &shown.view, shown.id, top)
    }

    /// The newest `max` events of the view as they were received, oldest first, to replay.
    pub fn view_captured(&self, max: usize) -> Vec<Captured> {
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        let start = shown.view.next_pos().saturating_sub(max as u64);
        let (_, seqs) = shown.view.window_at(start, max);
        seqs.iter()
            .filter_map(|&seq| store.get(seq))
            .map(|e| Captured {
                subject: e.subject().to_string(),
                body: bytes::Bytes::copy_from_slice(e.body()),
                at_ms: e.received_ms(),
            })
            .collect()
    }

    /// Writes the events of the current view, oldest first, to `exporter`, a chunk per lock of
    /// the store so ingest goes on meanwhile; `progress` hears (written, total) after each
    /// chunk. Events evicted while the export runs are passed over.
    pub fn export_view<W: std::io::Write>(
        &self,
        exporter: &mut crate::export::Exporter<W>,
        mut progress: impl FnMut(u64, u64),
    ) -> std::io::Result<u64> {
        const CHUNK: usize = 4096;
        let (mut pos, end) = {
            let shown = lock(&self.shown);
            (shown.view.first_pos(), shown.view.next_pos())
        };
        let total = end - pos;
        let mut written = 0;
        while pos < end {
            let store = lock(&self.store);
            let shown = lock(&self.shown);
            let (from, seqs) = shown.view.window_at(pos, CHUNK.min((end - pos) as usize));
            if seqs.is_empty() {
                break;
            }
            for e in seqs.iter().filter_map(|&seq| store.get(seq)) {
                exporter.write(e.subject(), e.body())?;
                written += 1;
            }
            pos = from.max(pos) + seqs.len() as u64;
            drop(shown);
            drop(store);
            progress(written, total);
        }
        Ok(written)
    }

    /// Writes `org`'s timeline over the range (held events and `others`, de-duplicated by id,
    /// in time order) to `exporter`; `progress` hears (written, total) as it goes.
    pub fn export_timeline<W: std::io::Write>(
        &self,
        exporter: &mut crate::export::Exporter<W>,
        org: &str,
        (from_ms, to_ms): (i64, i64),
        others: &[timeline::Owned],
        mut progress: impl FnMut(u64, u64),
    ) -> std::io::Result<u64> {
        let store = lock(&self.store);
        let inputs = timeline::held(&store, org).chain(others.iter().map(|m| m.as_input()));
        let merged = timeline::merged(org, from_ms, to_ms, inputs);
        let total = merged.len() as u64;
        for (n, m) in merged.iter().enumerate() {
            exporter.write(m.subject, m.body)?;
            progress(n as u64 + 1, total);
        }
        Ok(total)
    }

    pub fn detail(&self, seq: u64) -> Option<EventDetail> {
        lock(&self.store).get(seq).map(|e| e.detail())
    }

    pub fn clear(&self) {
        let mut store = lock(&self.store);
        store.clear();
        lock(&self.shown).view.trim(store.first_seq());
        if let Some(index) = lock(&self.shape).as_mut() {
            index.trim(store.first_seq());
        }
    }

    /// Turns the per-second index kept at ingest on or off (off, the chart counts from the
    /// events; the benchmark compares the two). On, it catches up with what is held.
    pub fn set_shape_index(&self, on: bool) {
        let store = lock(&self.store);
        let mut shape = lock(&self.shape);
        match (on, shape.is_some()) {
            (true, false) => {
                let mut index = ShapeIndex::new();
                index.on_pushed(&store);
                *shape = Some(index);
            }
            (false, true) => *shape = None,
            _ => {}
        }
    }

    /// Events per point of the current view by `by`, over `from_ms..to_ms` (default: the last
    /// 15 minutes up to now) in at most `max_points` points (default 300), with the drops, gaps
    /// and reconnections noticed in the range. Bucketed by receive time.
    pub fn rate_series(
        &self,
        by: GroupBy,
        range: Option<(i64, i64)>,
        max_points: Option<usize>,
    ) -> RateSeries {
        let mut range = self.range(range);
        if let Some(points) = max_points {
            range.max_points = points.clamp(1, 10_000);
        }
        let mut series = {
            let store = lock(&self.store);
            let shown = lock(&self.shown);
            let index = lock(&self.shape);
            shape::series(&store, &shown.view, shown.id, index.as_ref(), by, range)
        };
        series.markers = lock(&self.markers).within(range.from_ms, range.to_ms);
        series
    }

    /// One page of the children of `query.prefix` in the current view's subjects.
    pub fn subject_tree(&self, query: &TreeQuery) -> Result<SubjectLevel, TopicError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        shape::subject_tree(&store, &shown.view, shown.id, query, now_ms)
    }

    /// Producer lag of the current view per source; lag over `threshold_ms` (default 10 s) or
    /// below zero flags the source.
    pub fn lag(&self, threshold_ms: Option<i64>) -> LagReport {
        let threshold = threshold_ms.unwrap_or(shape::DEFAULT_LAG_THRESHOLD_MS);
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        shape::lag(&store, &shown.view, shown.id, threshold)
    }

    /// Silences and spikes of the current view per `by` (source or organization) over
    /// `from_ms..to_ms` (default: the last 15 minutes), oldest first.
    pub fn anomalies(&self, by: GroupBy, range: Option<(i64, i64)>) -> Vec<Anomaly> {
        let range = self.range(range);
        let store = lock(&self.store);
        let shown = lock(&self.shown);
        let index = lock(&self.shape);
        shape::anomalies(
            &store,
            &shown.view,
            index.as_ref(),
            by,
            range,
            AnomalyParams::default(),
        )
    }

    fn range(&self, range: Option<(i64, i64)>) -> SeriesRange {
        let now_ms = chrono::Utc::now().timestamp_millis();
        match range {
            Some((from_ms, to_ms)) => SeriesRange {
                from_ms,
                to_ms: to_ms.max(from_ms + 1),
                max_points: shape::DEFAULT_POINTS,
            },
            None => SeriesRange::recent(now_ms),
        }
    }

    /// One organization's timeline from the held events and `others` (the recording,
    /// history), with the disconnections and gaps this Eventscope noticed as well as `gaps`.
    pub fn timeline(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
        others: &[timeline::Owned],
        mut gaps: Vec<timeline::TimelineGap>,
    ) -> timeline::Timeline {
        for m in lock(&self.markers).within(from_ms, to_ms) {
            let reason = match m.kind {
                MarkerKind::Reconnect if m.from_ms < m.to_ms => "disconnected".to_string(),
                MarkerKind::Gap => m.text,
                _ => continue,
            };
            gaps.push(timeline::TimelineGap {
                from_ms: m.from_ms,
                to_ms: m.to_ms,
                reason,
            });
        }
        gaps.sort_by_key(|g| g.from_ms);
        gaps.dedup_by(|a, b| a.from_ms == b.from_ms && a.to_ms == b.to_ms);
        let store = lock(&self.store);
        let inputs = timeline::held(&store, org).chain(others.iter().map(|o| o.as_input()));
        timeline::build(org, from_ms, to_ms, inputs, gaps)
    }

    /// Records the drops, gaps and reconnections since the last look (twice a second).
    fn note_markers(&self) {
        let counters = lock(&self.counters).clone();
        let status = self.status.borrow().clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        lock(&self.markers).note(now_ms, counters.dropped_client(), &status);
        if let Some(recorder) = lock(&self.recording).as_ref() {
            recorder.note_status(&status);
        }
    }

    // The local recording (crate::record): fed beside the store, never waited for.

    /// Records everything received from now on with `recorder` (`None` stops recording; the
    /// recorder itself is closed by its owner). Disconnections become gaps in the recording.
    pub fn set_recording(&self, recorder: Option<Recorder>) {
        *lock(&self.recording) = recorder;
        self.note_recording();
    }

    /// The recorder set with [`Live::set_recording`], for its stats and retention.
    pub fn recording(&self) -> Option<Recorder> {
        lock(&self.recording).clone()
    }

    fn note_recording(&self) {
        if let Some(recorder) = lock(&self.recording).as_ref() {
            recorder.note_status(&self.status.borrow());
        }
    }
}

/// Drops, gaps and reconnections as they were noticed, the newest [`Markers::KEEP`].
#[derive(Default)]
struct Markers {
    dropped: u64,
    reconnects: u32,
    gaps: u32,
    /// When the connection was lost, while it is being re-established: the reconnection
    /// marker then spans the time no event could arrive (the timeline shows it as a gap).
    down_since: Option<i64>,
    list: VecDeque<StreamMarker>,
}

impl Markers {
    const KEEP: usize = 1000;

    fn note(&mut self, now_ms: i64, dropped: u64, status: &SourceStatus) {
        if dropped > self.dropped {
            let n = dropped - self.dropped;
            self.push(StreamMarker {
                kind: MarkerKind::Drop,
                from_ms: now_ms,
                to_ms: now_ms,
                count: Some(n),
                text: format!("{n} messages dropped"),
            });
        }
        // A new source starts its counters over.
        self.dropped = dropped;
        if status.state == ConnectionState::Reconnecting {
            self.down_since.get_or_insert(now_ms);
        }
        if status.reconnects > self.reconnects {
            let from_ms = self.down_since.take().unwrap_or(now_ms);
            self.push(StreamMarker {
                kind: MarkerKind::Reconnect,
                from_ms,
                to_ms: now_ms,
                count: None,
                text: if from_ms < now_ms {
                    "disconnected, then reconnected".into()
                } else {
                    "reconnected".into()
                },
            });
        } else if status.state != ConnectionState::Reconnecting {
            self.down_since = None;
        }
        self.reconnects = status.reconnects;
        if let Some(gateway) = &status.gateway {
            if gateway.gaps > self.gaps {
                if let Some(gap) = &gateway.last_gap {
                    self.push(StreamMarker {
                        kind: MarkerKind::Gap,
                        from_ms: gap.from_ms,
                        to_ms: gap.to_ms,
                        count: gap.missed,
                        text: gap.reason.clone(),
                    });
                }
            }
            self.gaps = gateway.gaps;
        }
    }

    fn push(&mut self, marker: StreamMarker) {
        if self.list.len() == Self::KEEP {
            self.list.pop_front();
        }
        self.list.push_back(marker);
    }

    fn within(&self, from_ms: i64, to_ms: i64) -> Vec<StreamMarker> {
        self.list
            .iter()
            .filter(|m| m.to_ms >= from_ms && m.from_ms < to_ms)
            .cloned()
            .collect()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// Lines of a file held per lock of the store: the table keeps answering while a big file is read.
const FILE_BATCH: usize = 4096;

/// Matches a new filter shows before it has looked at every held event.
pub const FIRST_PAGE: usize = 200;
/// Time the first page may take; the rest follows in the background.
pub const FIRST_BUDGET: Duration = Duration::from_millis(60);

/// The view the table shows and its id.
struct Shown {
    id: u64,
    view: View,
    /// Every held event has been evaluated (see [`Live::set_filter`]).
    complete: bool,
}

impl Shown {
    fn info(&self) -> ViewInfo {
        ViewInfo {
            id: self.id,
            query: self.view.filter().to_string(),
            first_pos: self.view.first_pos(),
            next_pos: self.view.next_pos(),
            complete: self.complete,
        }
    }
}

/// Rows for consecutive positions from `first`.
fn rows_at(store: &EventStore, first: u64, seqs: &[u64]) -> Vec<RowSummary> {
    let mut out = Vec::with_capacity(seqs.len());
    for (i, &seq) in seqs.iter().enumerate() {
        if let Some(ev) = store.get(seq) {
            let mut row = ev.row();
            row.pos = first + i as u64;
            out.push(row);
        }
    }
    out
}

/// A poisoned lock means a panic elsewhere already; the data is still the best there is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(samples: &[(u64, u64)], expected: f64) {
        let mut meter = RateMeter::default();
        let t0 = Instant::now();
        let mut rate = 0.0;
        for (ms, total) in samples {
            rate = meter.observe(t0 + Duration::from_millis(*ms), *total);
        }
        assert!((rate - expected).abs() < 1e-6, "{rate} != {expected}");
    }

    #[test]
    fn rate_over_the_last_second() {
        check(&[(0, 0)], 0.0);
        check(&[(0, 0), (500, 100)], 200.0);
        check(
            &[(0, 0), (500, 100), (1000, 200), (1500, 1200), (2000, 2200)],
            2000.0,
        );
        check(&[(0, 0), (1000, 5000), (2000, 5000), (3000, 5000)], 0.0);
    }
}

#[cfg(test)]
mod marker_tests {
    use super::*;
    use crate::wire::{GatewayStatus, StreamGap};

    #[test]
    fn drops_reconnections_and_gaps_become_markers_once() {
        let mut markers = Markers::default();
        let mut status = SourceStatus::disconnected("x");
        markers.note(1_000, 0, &status);
        markers.note(1_500, 7, &status);
        markers.note(2_000, 7, &status);
        status.reconnects = 1;
        status.gateway = Some(GatewayStatus {
            gaps: 1,
            last_gap: Some(StreamGap {
                from_ms: 2_100,
                to_ms: 2_400,
                missed: Some(3),
                reason: "lagged".into(),
            }),
            ..GatewayStatus::default()
        });
        markers.note(2_500, 7, &status);
        markers.note(3_000, 7, &status);
        let got: Vec<String> = markers
            .within(0, 10_000)
            .iter()
            .map(|m| {
                format!(
                    "{:?} {}..{} {:?} {}",
                    m.kind, m.from_ms, m.to_ms, m.count, m.text
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "Drop 1500..1500 Some(7) 7 messages dropped",
                "Reconnect 2500..2500 None reconnected",
                "Gap 2100..2400 Some(3) lagged",
            ]
        );
        assert_eq!(markers.within(2_450, 2_600).len(), 1);
    }

    #[test]
    fn a_reconnection_spans_the_time_the_connection_was_down() {
        let mut markers = Markers::default();
        let mut status = SourceStatus::disconnected("x");
        status.state = ConnectionState::Connected;
        markers.note(1_000, 0, &status);
        status.state = ConnectionState::Reconnecting;
        markers.note(1_500, 0, &status);
        markers.note(2_000, 0, &status);
        status.state = ConnectionState::Connected;
        status.reconnects = 1;
        markers.note(4_000, 0, &status);
        let got: Vec<(i64, i64, String)> = markers
            .within(0, 10_000)
            .into_iter()
            .map(|m| (m.from_ms, m.to_ms, m.text))
            .collect();
        assert_eq!(
            got,
            [(1_500, 4_000, "disconnected, then reconnected".to_string())]
        );
    }
}

/// Organization names shared rather than copied for each message handed to the recorder.
#[derive(Default)]
struct OrgNames(HashMap<Box<str>, Arc<str>>);

impl OrgNames {
    /// Bounded: forgets them all past this many (a flood of distinct organizations).
    const MAX: usize = 100_000;

    fn get(&mut self, org: &str) -> Arc<str> {
        if let Some(name) = self.0.get(org) {
            return name.clone();
        }
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        let name: Arc<str> = Arc::from(org);
        self.0.insert(Box::from(org), name.clone());
        name
    }
}
