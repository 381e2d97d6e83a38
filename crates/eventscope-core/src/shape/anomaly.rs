//! Silences and spikes: per source or organization, a stretch without events much longer than
//! the group's usual gap, or a second with far more events than its recent mean.
//!
//! Why these rules: a producer that stalls shows as a run of empty seconds, judged against its
//! own habits (a source that speaks once a minute is not silent after ten seconds); a burst shows
//! as one second against the mean of the minute before it. Both have floors (a minimum silence,
//! a minimum spike count) so that sparse, bursty but normal traffic raises nothing.

use crate::store::EventStore;
use crate::view::View;
use crate::wire::{Anomaly, AnomalyKind, GroupBy};

use super::{grid, group_name, SeriesRange, ShapeIndex};

/// The detector's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyParams {
    /// Silent for more than this many times the group's mean gap between events...
    pub silence_factor: f64,
    /// ...and at least this long.
    pub min_silence_ms: i64,
    /// A second with more than this many times the mean of the seconds before it...
    pub spike_factor: f64,
    /// ...and at least this many events.
    pub spike_min: u32,
    /// Seconds the recent mean is taken over.
    pub spike_window_secs: usize,
    /// Seconds with events a group needs before its habits are judged.
    pub min_active_secs: usize,
}

impl Default for AnomalyParams {
    fn default() -> Self {
        AnomalyParams {
            silence_factor: 10.0,
            min_silence_ms: 10_000,
            spike_factor: 5.0,
            spike_min: 20,
            spike_window_secs: 60,
            min_active_secs: 5,
        }
    }
}

/// Silences and spikes of the view's events per group (`Source` or `Org`; `Event` works too)
/// over `range` at one-second resolution (the range is cut to its last hour), oldest first.
pub fn anomalies(
    store: &EventStore,
    view: &View,
    index: Option<&ShapeIndex>,
    by: GroupBy,
    range: SeriesRange,
    params: AnomalyParams,
) -> Vec<Anomaly> {
    const MAX_SECS: i64 = 3600;
    let from_ms = range.from_ms.max(range.to_ms - MAX_SECS * 1000);
    let secs = ((range.to_ms - from_ms + 999) / 1000).max(1) as usize;
    let grid = grid(
        store,
        view,
        index,
        by,
        SeriesRange {
            from_ms,
            to_ms: range.to_ms,
            max_points: secs,
        },
    );
    let (start_ms, end_ms) = (grid.from_ms, range.to_ms);
    let mut found = Vec::new();
    for (key, counts) in grid.into_rows() {
        let name = group_name(by, key, store.interner());
        detect(
            &counts,
            start_ms,
            end_ms,
            &params,
            |kind, from, to, ongoing, text| {
                found.push(Anomaly {
                    group_by: by,
                    group: name.clone(),
                    kind,
                    from_ms: from,
                    to_ms: to,
                    ongoing,
                    text: format!("{} {text}", shown(&name)),
                })
            },
        );
    }
    found.sort_by(|a, b| (a.from_ms, &a.group).cmp(&(b.from_ms, &b.group)));
    found
}

fn shown(name: &str) -> &str {
    if name.is_empty() {
        "(none)"
    } else {
        name
    }
}

/// Runs the rules over one group's per-second `counts` starting at `start_ms`; the data ends at
/// `end_ms` (a silence reaching it is ongoing).
pub(crate) fn detect(
    counts: &[u32],
    start_ms: i64,
    end_ms: i64,
    params: &AnomalyParams,
    mut report: impl FnMut(AnomalyKind, i64, i64, bool, String),
) {
    let active: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > 0).collect();
    let at = |i: usize| start_ms + i as i64 * 1000;
    if active.len() >= params.min_active_secs {
        // The mean gap between seconds with events: seconds spanned per active second.
        let (first, last) = (active[0], active[active.len() - 1]);
        let usual_ms = ((last - first) as f64 / (active.len() - 1) as f64 * 1000.0).max(1000.0);
        let limit_ms = (usual_ms * params.silence_factor).max(params.min_silence_ms as f64);
        let usual = format!("usually every {}", duration(usual_ms as i64));
        let mut gaps: Vec<(i64, i64, bool)> = active
            .windows(2)
            .map(|w| (at(w[0] + 1), at(w[1]), false))
            .collect();
        gaps.push((at(last + 1), end_ms, true));
        for (from, to, ongoing) in gaps {
            if (to - from) as f64 > limit_ms {
                let text = format!("silent for {} ({usual})", duration(to - from));
                report(AnomalyKind::Silence, from, to, ongoing, text);
            }
        }
    }
    let window = params.spike_window_secs.max(1);
    let mut sum: u64 = 0;
    // Seconds with events in the window: a group back from a silence is not judged against
    // the silence.
    let mut active_in_window = 0;
    let mut spike: Option<(usize, u32, f64)> = None;
    for (i, &n) in counts.iter().enumerate() {
        // Mean of the window before `i`, over the seconds since the group's first event.
        let since = active.first().map_or(i, |&f| i.saturating_sub(f));
        let span = since.min(window);
        let mean = if span > 0 {
            sum as f64 / span as f64
        } else {
            0.0
        };
        let judged = active_in_window >= params.min_active_secs;
        let is_spike =
            judged && n >= params.spike_min && n as f64 > params.spike_factor * mean.max(0.1);
        match (&mut spike, is_spike) {
            (None, true) => spike = Some((i, n, mean)),
            (Some(s), true) => s.1 = s.1.max(n),
            (Some(_), false) => {
                let (from, peak, mean) = spike.take().expect("matched Some");
                report_spike(&mut report, at(from), at(i), false, peak, mean);
            }
            (None, false) => {}
        }
        sum += n as u64;
        active_in_window += usize::from(n > 0);
        if i >= window {
            sum -= counts[i - window] as u64;
            active_in_window -= usize::from(counts[i - window] > 0);
        }
    }
    if let Some((from, peak, mean)) = spike {
        report_spike(&mut report, at(from), end_ms, true, peak, mean);
    }
}

fn report_spike(
    report: &mut impl FnMut(AnomalyKind, i64, i64, bool, String),
    from: i64,
    to: i64,
    ongoing: bool,
    peak: u32,
    mean: f64,
) {
    let text = format!("spiked to {peak}/s (recent mean {mean:.1}/s)");
    report(AnomalyKind::Spike, from, to, ongoing, text);
}

/// `42 s`, `3 min 5 s`, `2 h 1 min`.
fn duration(ms: i64) -> String {
    let s = (ms + 500) / 1000;
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
