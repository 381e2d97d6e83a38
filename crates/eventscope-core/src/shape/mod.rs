//! The stream's shape for the current view: rate series by group (`series`), the subject tree
//! (`tree`), producer lag (`lag`) and silences and spikes (`anomaly`).
//!
//! Everything is counted by receive time (the envelope's `timestamp` is the producer's clock,
//! which `lag` measures instead of trusting). The unfiltered view's series come from the
//! [`ShapeIndex`] kept at ingest; a filtered view's from its own events, one pass over the index
//! records (no body is read), so they are exact whatever the filter and however much was
//! evicted.

mod anomaly;
mod index;
mod lag;
mod tree;

pub use anomaly::{anomalies, AnomalyParams};
pub use index::ShapeIndex;
pub use lag::{lag, percentile, DEFAULT_LAG_THRESHOLD_MS};
pub use tree::{subject_tree, TreeQuery, RATE_WINDOW_MS};

use std::ops::Range;

use rustc_hash::FxHashMap;

use crate::store::{EventRef, EventStore, Interner, Sym};
use crate::view::View;
use crate::wire::{GroupBy, RateSeries, SeriesGroup};

/// Groups the chart shows before the rest is summed as `other`.
pub const TOP_GROUPS: usize = 8;
/// The chart's default range: the last 15 minutes.
pub const DEFAULT_RANGE_MS: i64 = 15 * 60 * 1000;
/// Points per series unless asked otherwise.
pub const DEFAULT_POINTS: usize = 300;

/// A time range and resolution for series: `from_ms..to_ms` in at most `max_points` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesRange {
    pub from_ms: i64,
    pub to_ms: i64,
    pub max_points: usize,
}

impl SeriesRange {
    /// The last 15 minutes up to `now_ms`, in [`DEFAULT_POINTS`] points.
    pub fn recent(now_ms: i64) -> SeriesRange {
        SeriesRange {
            from_ms: now_ms - DEFAULT_RANGE_MS,
            to_ms: now_ms,
            max_points: DEFAULT_POINTS,
        }
    }

    /// Whole seconds: the start rounded down, the step the fewest seconds that fit the range in
    /// `max_points`, and the number of points.
    fn grid(&self) -> (i64, i64, usize) {
        let from = self.from_ms.div_euclid(1000) * 1000;
        let to = self.to_ms.max(from + 1);
        let secs = (to - from + 999) / 1000;
        let max_points = self.max_points.max(1) as i64;
        let step = ((secs + max_points - 1) / max_points).max(1) * 1000;
        let points = (to - from + step - 1) / step;
        (from, step, points as usize)
    }
}

/// The key of an event's group: a symbol, or the (resource, eventName) pair for names.
pub(crate) fn group_key(by: GroupBy, org: Sym, source: Sym, name: (Sym, Sym)) -> u64 {
    match by {
        GroupBy::Source => source.0 as u64,
        GroupBy::Org => org.0 as u64,
        GroupBy::Event => (name.0 .0 as u64) << 32 | name.1 .0 as u64,
    }
}

pub(crate) fn group_name(by: GroupBy, key: u64, interner: &Interner) -> String {
    match by {
        GroupBy::Source | GroupBy::Org => interner.resolve(Sym(key as u32)).to_string(),
        GroupBy::Event => {
            let resource = interner.resolve(Sym((key >> 32) as u32));
            let event = interner.resolve(Sym(key as u32));
            match (resource.is_empty(), event.is_empty()) {
                (true, true) => String::new(),
                _ => format!("{resource}.{event}"),
            }
        }
    }
}

/// Calls `f` for every event of `view` still held, oldest first.
pub(crate) fn for_each_event<'a>(store: &'a EventStore, view: &View, f: impl FnMut(EventRef<'a>)) {
    for_each_event_in(store, view, 0..view.len(), f);
}

/// Calls `f` for the held events at indices `rows` of `view`, oldest first.
pub(crate) fn for_each_event_in<'a>(
    store: &'a EventStore,
    view: &View,
    rows: Range<usize>,
    mut f: impl FnMut(EventRef<'a>),
) {
    if view.filter().is_empty() {
        let start = view.first_pos() + rows.start as u64;
        store.window(start, rows.len()).for_each(f);
    } else {
        for &seq in view.window(rows.start, rows.len()).iter() {
            if let Some(ev) = store.get(seq) {
                f(ev);
            }
        }
    }
}

/// Runs `part` over the view's rows cut into one contiguous range per core (one range for a
/// small view) and returns the parts' results in row order. For passes that read each event's
/// bytes (the subject tree): they wait on memory, and two cores wait half as long.
pub(crate) fn in_parts<T: Send>(view: &View, part: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    const PARALLEL_MIN: usize = 64 * 1024;
    let n = view.len();
    let threads = crate::view::cores() as usize;
    if n < PARALLEL_MIN || threads < 2 {
        return vec![part(0..n)];
    }
    let per = n.div_ceil(threads);
    let part = &part;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let rows = (i * per).min(n)..((i + 1) * per).min(n);
                scope.spawn(move || part(rows))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Counts per group and point over a grid, every group kept.
pub(crate) struct Grid {
    pub from_ms: i64,
    pub step_ms: i64,
    pub points: usize,
    rows: Vec<(u64, Vec<u32>)>,
    index: FxHashMap<u64, usize>,
    last: Option<(u64, usize)>,
}

impl Grid {
    pub fn new(range: SeriesRange) -> Grid {
        let (from_ms, step_ms, points) = range.grid();
        Grid {
            from_ms,
            step_ms,
            points,
            rows: Vec::new(),
            index: FxHashMap::default(),
            last: None,
        }
    }

    fn end_ms(&self) -> i64 {
        self.from_ms + self.step_ms * self.points as i64
    }

    pub fn add(&mut self, ms: i64, key: u64, n: u32) {
        if ms < self.from_ms || ms >= self.end_ms() {
            return;
        }
        let point = ((ms - self.from_ms) / self.step_ms) as usize;
        let row = match self.last {
            Some((k, row)) if k == key => row,
            _ => {
                let next = self.rows.len();
                let row = *self.index.entry(key).or_insert(next);
                if row == next {
                    self.rows.push((key, vec![0; self.points]));
                }
                self.last = Some((key, row));
                row
            }
        };
        self.rows[row].1[point] += n;
    }

    /// Every group's counts, in no particular order.
    pub fn into_rows(self) -> Vec<(u64, Vec<u32>)> {
        self.rows
    }
}

/// Counts the events of `view` per group over `range`: from `index` when the view is every
/// held event (and the index has seen them all), else from the view's events.
pub(crate) fn grid(
    store: &EventStore,
    view: &View,
    index: Option<&ShapeIndex>,
    by: GroupBy,
    range: SeriesRange,
) -> Grid {
    let mut grid = Grid::new(range);
    let indexed = index.filter(|i| view.filter().is_empty() && i.len() == store.len());
    match indexed {
        Some(index) => index.for_each(grid.from_ms, grid.end_ms(), |ms, c, n| {
            let (org, source, resource, event) = index::combo_parts(c);
            grid.add(ms, group_key(by, org, source, (resource, event)), n);
        }),
        None => for_each_event(store, view, |ev| {
            let key = group_key(by, ev.org_sym(), ev.source_sym(), ev.name_syms());
            grid.add(ev.received_ms(), key, 1);
        }),
    }
    grid
}

/// The view's events per point by group: the [`TOP_GROUPS`] largest in the range, largest first
/// (ties by name), then `other`. Markers are the caller's to add.
pub fn series(
    store: &EventStore,
    view: &View,
    view_id: u64,
    index: Option<&ShapeIndex>,
    by: GroupBy,
    range: SeriesRange,
) -> RateSeries {
    let grid = grid(store, view, index, by, range);
    let (from_ms, step_ms, points) = (grid.from_ms, grid.step_ms, grid.points);
    let interner = store.interner();
    let mut rows: Vec<SeriesGroup> = grid
        .into_rows()
        .into_iter()
        .map(|(key, counts)| SeriesGroup {
            name: group_name(by, key, interner),
            other: false,
            total: counts.iter().map(|&n| n as u64).sum(),
            counts,
        })
        .filter(|g| g.total > 0)
        .collect();
    rows.sort_unstable_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    if rows.len() > TOP_GROUPS {
        let mut other = SeriesGroup {
            name: "other".into(),
            other: true,
            total: 0,
            counts: vec![0; points],
        };
        for rest in rows.drain(TOP_GROUPS..) {
            other.total += rest.total;
            for (sum, n) in other.counts.iter_mut().zip(rest.counts) {
                *sum += n;
            }
        }
        rows.push(other);
    }
    let (held_from_ms, held_to_ms) = held_extent(store, view);
    RateSeries {
        view_id,
        group_by: by,
        from_ms,
        step_ms,
        points: points as u32,
        groups: rows,
        held_from_ms,
        held_to_ms,
        markers: Vec::new(),
    }
}

/// Receive times of the view's oldest and newest held events.
fn held_extent(store: &EventStore, view: &View) -> (Option<i64>, Option<i64>) {
    let at = |i: usize| {
        view.seq_at(i)
            .and_then(|s| store.get(s))
            .map(|e| e.received_ms())
    };
    match view.len() {
        0 => (None, None),
        n => (at(0), at(n - 1)),
    }
}

#[cfg(test)]
mod tests;
