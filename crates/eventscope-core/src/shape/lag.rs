//! Producer lag: receive time minus the envelope's `timestamp`, per source, exact percentiles
//! over the view's events, with clock skew flagged and the outliers named.
//!
//! Why exact: one pass collects an `i64` per event and `select_nth_unstable` finds each
//! percentile in linear time; for a million events that is a few milliseconds, so a sketch's
//! error would buy nothing.

use rustc_hash::FxHashMap;

use crate::store::{EventStore, Sym};
use crate::view::View;
use crate::wire::{LagOutlier, LagReport, SourceLag};

use super::for_each_event;

/// Lag above which an event counts as late (or its producer's clock as behind).
pub const DEFAULT_LAG_THRESHOLD_MS: i64 = 10_000;
/// Outliers named per source.
const OUTLIERS: usize = 5;

/// Lag per source of the view's events that carry a `timestamp`, most events first.
pub fn lag(store: &EventStore, view: &View, view_id: u64, threshold_ms: i64) -> LagReport {
    let mut per_source: FxHashMap<Sym, Vec<(i64, u64)>> = FxHashMap::default();
    for_each_event(store, view, |ev| {
        if let Some(ts) = ev.timestamp_ms() {
            let lag = ev.received_ms().saturating_sub(ts);
            per_source
                .entry(ev.source_sym())
                .or_default()
                .push((lag, ev.seq()));
        }
    });
    let mut sources: Vec<SourceLag> = per_source
        .into_iter()
        .map(|(source, mut lags)| {
            let mut summary = summarize(&mut lags, threshold_ms);
            summary.source = store.interner().resolve(source).to_string();
            summary.outliers = outliers(&mut lags)
                .into_iter()
                .map(|(lag_ms, seq)| LagOutlier {
                    seq,
                    id: store
                        .get(seq)
                        .map(|e| e.id().to_string())
                        .unwrap_or_default(),
                    lag_ms,
                })
                .collect();
            summary
        })
        .collect();
    sources.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.source.cmp(&b.source)));
    LagReport {
        view_id,
        threshold_ms,
        sources,
    }
}

/// The nearest-rank percentile `p` (0 < p <= 1) of `n` values: the value of rank `ceil(p*n)`.
fn rank(p: f64, n: usize) -> usize {
    ((p * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// The nearest-rank percentile `p` (0 < p <= 1) of `values` (reordered), as `lag` reports it;
/// `None` when there are none.
pub fn percentile(values: &mut [i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let i = rank(p, values.len());
    Some(*values.select_nth_unstable(i).1)
}

/// Percentiles and counts of `lags` (reordered); the source name and outliers are left empty.
pub(crate) fn summarize(lags: &mut [(i64, u64)], threshold_ms: i64) -> SourceLag {
    let n = lags.len();
    let mut at = |p: f64| lags.select_nth_unstable_by_key(rank(p, n), |l| l.0).1 .0;
    let (p50_ms, p99_ms) = (at(0.5), at(0.99));
    let max_ms = lags.iter().map(|l| l.0).max().unwrap_or(0);
    let min_ms = lags.iter().map(|l| l.0).min().unwrap_or(0);
    let negative = lags.iter().filter(|l| l.0 < 0).count() as u64;
    let over_threshold = lags.iter().filter(|l| l.0 > threshold_ms).count() as u64;
    SourceLag {
        source: String::new(),
        count: n as u64,
        p50_ms,
        p99_ms,
        max_ms,
        min_ms,
        negative,
        over_threshold,
        skewed: negative > 0 || over_threshold > 0,
        outliers: Vec::new(),
    }
}

/// The [`OUTLIERS`] largest lags by absolute value, largest first (older events first on ties).
fn outliers(lags: &mut [(i64, u64)]) -> Vec<(i64, u64)> {
    let key = |l: &(i64, u64)| (std::cmp::Reverse(l.0.unsigned_abs()), l.1);
    if lags.len() > OUTLIERS {
        lags.select_nth_unstable_by_key(OUTLIERS - 1, key);
    }
    let mut top: Vec<(i64, u64)> = lags.iter().take(OUTLIERS).copied().collect();
    top.sort_unstable_by_key(key);
    top
}
