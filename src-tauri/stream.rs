//! Batching to the UI: at most 20 small batches a second over a `Channel`, carrying the
//! counters, the status, the view's extent, in follow mode the rows in view, and about once a
//! second the facet counts. Never the whole stream.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventscope_core::live::Live;
use eventscope_core::wire::Batch;
use tauri::ipc::Channel;

/// Time between two batches: 20 a second at most. Each batch that moves the rows costs the
/// webview a repaint of the table; 20 a second reads as live and leaves the CPU to the stream.
const PERIOD: Duration = Duration::from_millis(50);
/// A batch goes out at least this often even when nothing changed, so the rate decays to 0.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// The most rows the UI may ask to have pushed in follow mode.
pub const MAX_TAIL: usize = 500;
/// Facets are recounted at most this often (a new filter recounts at once).
const FACETS_PERIOD: Duration = Duration::from_secs(1);
/// Values per facet field.
const FACET_TOP: usize = 12;

/// What the UI said it wants; shared by the commands and the streaming task.
#[derive(Debug)]
pub struct ViewState {
    pub follow: AtomicBool,
    pub tail_size: AtomicUsize,
    /// Bumped when a new channel subscribes, so the previous streaming task stops.
    pub generation: AtomicU64,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            follow: AtomicBool::new(true),
            tail_size: AtomicUsize::new(60),
            generation: AtomicU64::new(0),
        }
    }
}

/// Streams batches to `channel` until the UI subscribes another channel or goes away.
pub async fn run(live: Arc<Live>, view: Arc<ViewState>, channel: Channel<Batch>) {
    let generation = view.generation.fetch_add(1, Ordering::SeqCst) + 1;
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut batch_no = 0u64;
    let mut last_key = None;
    let mut last_sent = Instant::now();
    let mut facets_at: Option<(Instant, (u64, u64, u64))> = None;
    loop {
        ticker.tick().await;
        if view.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let stats = live.stats();
        let status = live.status();
        let shown = live.view_info();
        let follow = view.follow.load(Ordering::Relaxed);
        let view_key = (shown.id, shown.first_pos, shown.next_pos);
        let key = (
            stats.next_seq,
            stats.first_seq,
            stats.dropped_client,
            stats.slow_consumer_reports,
            status.clone(),
            follow,
            view_key,
        );
        if last_key.as_ref() == Some(&key) && last_sent.elapsed() < HEARTBEAT {
            continue;
        }
        let tail = if follow {
            live.tail(view.tail_size.load(Ordering::Relaxed).min(MAX_TAIL))
        } else {
            Vec::new()
        };
        let facets_due = match facets_at {
            None => true,
            Some((at, counted)) => {
                counted != view_key && (counted.0 != shown.id || at.elapsed() >= FACETS_PERIOD)
            }
        };
        let facets = facets_due.then(|| {
            facets_at = Some((Instant::now(), view_key));
            live.facets(FACET_TOP)
        });
        batch_no += 1;
        let batch = Batch {
            batch_no,
            stats,
            status,
            view: shown,
            tail,
            facets,
        };
        if channel.send(batch).is_err() {
            tracing::debug!("ui channel closed; streaming stops");
            return;
        }
        last_key = Some(key);
        last_sent = Instant::now();
    }
}
