//! A live stream: one source feeding one store, with the counters and status a viewer shows.
//!
//! The ingest task drains the subscription in batches and takes the store's lock once per batch;
//! it never waits for a viewer. Viewers (the desktop shell, the benchmark) read through `Live`.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::compose::ComposeError;
use crate::facets;
use crate::filter::{Filter, ParseError};
use crate::publish::{Captured, PublishError};
use crate::source::gateway::GatewayToken;
use crate::source::{FirstConnect, Source, SourceCounters, SourceError};
use crate::store::{EventStore, Incoming, StoreLimits};
use crate::view::View;
use crate::wire::{
    ConnectionProfile, ConnectionState, EventDetail, Facets, FilterApplied, RowSummary,
    ServerAbout, SourceStatus, Stats, ViewInfo,
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
/// Lock order: `store` before `shown`; the view is only changed with the store locked, so the
/// two always agree.
pub struct Live {
    store: Mutex<EventStore>,
    shown: Mutex<Shown>,
    counters: Mutex<Arc<SourceCounters>>,
    status: watch::Sender<SourceStatus>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The current source's NATS client, when it talks to NATS directly, and whether its
    /// connection is read-only.
    client: Mutex<Option<(async_nats::Client, bool)>>,
    rate: Mutex<RateMeter>,
    /// Gives the gateway source a fresher token (none for NATS).
    gateway_token: Mutex<Option<GatewayToken>>,
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
            counters: Mutex::new(Arc::default()),
            status,
            task: Mutex::new(None),
            client: Mutex::new(None),
            rate: Mutex::new(RateMeter::default()),
            gateway_token: Mutex::new(None),
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
    }

    /// Shows why there is no source (a profile that could not even be tried).
    pub fn fail(&self, reason: String) {
        self.status.send_modify(|s| {
            s.state = ConnectionState::Disconnected;
            s.reason = Some(reason);
        });
    }

    async fn ingest(&self, mut source: Source) {
        let mut settle = tokio::time::interval(Duration::from_millis(500));
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                batch = source.next_batch() => {
                    let Some(batch) = batch else { break };
                    let received_ms = chrono::Utc::now().timestamp_millis();
                    let mut store = lock(&self.store);
                    batch.for_each(|subject, headers, body| {
                        store.push(Incoming { subject, headers, body, received_ms });
                        true
                    });
                    lock(&self.shown).view.on_pushed(&store, received_ms);
                }
                _ = settle.tick() => source.settle_drops(),
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

    pub fn detail(&self, seq: u64) -> Option<EventDetail> {
        lock(&self.store).get(seq).map(|e| e.detail())
    }

    pub fn clear(&self) {
        let mut store = lock(&self.store);
        store.clear();
        lock(&self.shown).view.trim(store.first_seq());
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

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
