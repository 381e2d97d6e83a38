//! A filtered view of the store: a query and the ascending sequence numbers of the held events
//! that match it, kept up to date as events arrive and leave, so the table can ask for row `i`
//! of the result without evaluating anything.
//!
//! Why a list of sequence numbers: re-filtering is the only costly step (it touches every held
//! event), and it happens when the query changes; afterwards scrolling is an index into the list
//! and ingest only evaluates the new events. The empty query keeps no list at all: it is the
//! identity, row `i` is `first + i`, so a view over a million events costs nothing until a query
//! is typed.

use std::borrow::Cow;
use std::ops::Range;

use crate::filter::Filter;
use crate::store::EventStore;

/// Below this many events a re-filter runs on the calling thread: starting threads would cost
/// more than it saves.
const PARALLEL_MIN: u64 = 32 * 1024;

/// The held events that match a query, as ascending sequence numbers.
#[derive(Debug, Clone)]
pub struct View {
    filter: Filter,
    /// The first sequence number still held, as far as the view knows.
    first: u64,
    /// Every held event below `end` has been evaluated (one past the last seq considered).
    end: u64,
    /// The matches in `first..end`; `None` for the empty query, whose view is `first..end`.
    seqs: Option<Vec<u64>>,
    /// Matches dropped from the front of `seqs` since the view was made: the position of
    /// `seqs[0]`, so that positions stay put while old rows leave.
    trimmed: u64,
}

impl View {
    /// A view that holds nothing until [`View::refilter`] is called.
    pub fn new(filter: Filter) -> View {
        let seqs = (!filter.is_empty()).then(Vec::new);
        View {
            filter,
            first: 0,
            end: 0,
            seqs,
            trimmed: 0,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The newest matches first: evaluates held events from the newest back, in blocks, until
    /// `page` matches are found or `budget` has passed, and returns a view of only the events
    /// scanned (as if the store began there). [`View::complete`] later adds the older ones.
    /// This is what lets a new result show at once: the table follows the newest rows.
    pub fn newest_first(
        filter: Filter,
        store: &EventStore,
        now_ms: i64,
        page: usize,
        budget: std::time::Duration,
    ) -> View {
        const BLOCK: u64 = 16 * 1024;
        if filter.is_empty() {
            let mut view = View::new(filter);
            view.refilter(store, now_ms);
            return view;
        }
        let started = std::time::Instant::now();
        let end = store.next_seq();
        let mut from = end;
        let mut found: Vec<Vec<u64>> = Vec::new();
        let mut count = 0;
        while from > store.first_seq() && count < page && started.elapsed() < budget {
            let start = from.saturating_sub(BLOCK).max(store.first_seq());
            let block = matching_in(&filter, store, start..from, now_ms);
            count += block.len();
            found.push(block);
            from = start;
        }
        View {
            filter,
            first: from,
            end,
            seqs: Some(found.into_iter().rev().flatten().collect()),
            trimmed: 0,
        }
    }

    /// The range of held events not evaluated yet (older than those seen), empty when complete.
    pub fn missing(&self, store: &EventStore) -> Range<u64> {
        match self.seqs {
            Some(_) => store.first_seq()..self.first.max(store.first_seq()),
            None => 0..0,
        }
    }

    /// Puts `older`, the matches of [`View::missing`] evaluated meanwhile, in front. Positions
    /// start over (the caller gives the view a new id).
    pub fn prepend(&mut self, store: &EventStore, mut older: Vec<u64>) {
        let first = store.first_seq();
        if let Some(seqs) = &mut self.seqs {
            older.retain(|&s| s >= first && s < self.first);
            older.extend_from_slice(seqs);
            *seqs = older;
            self.trimmed = 0;
        }
        self.first = self.first.min(first);
    }

    /// The matching sequence numbers in `range` (a helper for completing a view in steps).
    pub fn matches_in(&self, store: &EventStore, range: Range<u64>, now_ms: i64) -> Vec<u64> {
        matching(&self.filter, store, range, now_ms)
    }

    /// True when every held event has been evaluated (not only the newest).
    pub fn is_complete(&self, store: &EventStore) -> bool {
        self.seqs.is_none() || self.first <= store.first_seq()
    }

    /// Recomputes the matches from every held event, in parallel over contiguous ranges.
    pub fn refilter(&mut self, store: &EventStore, now_ms: i64) {
        self.first = store.first_seq();
        self.end = store.next_seq();
        if let Some(seqs) = &mut self.seqs {
            *seqs = matching(&self.filter, store, self.first..self.end, now_ms);
            self.trimmed = 0;
        }
    }

    /// Adds the matches among events pushed since the view last looked, and forgets evicted ones.
    ///
    /// The view remembers where it stopped, so calling it twice adds nothing twice and a missed
    /// call leaves no hole: the result is always what [`View::refilter`] would give (up to
    /// relative times, which are evaluated at `now_ms` for the new events only).
    pub fn on_pushed(&mut self, store: &EventStore, now_ms: i64) {
        self.on_pushed_until(store, store.next_seq(), now_ms);
    }

    /// [`View::on_pushed`] for the events before `end` only (a benchmark replays a filled
    /// store batch by batch with it).
    pub fn on_pushed_until(&mut self, store: &EventStore, end: u64, now_ms: i64) {
        let start = self.end.max(store.first_seq());
        let end = end.min(store.next_seq());
        if let Some(seqs) = &mut self.seqs {
            let new = matching(&self.filter, store, start..end, now_ms);
            seqs.extend_from_slice(&new);
        }
        self.end = end.max(self.end);
        self.trim(store.first_seq());
    }

    /// Drops the sequence numbers below `first_seq` (evicted or cleared events).
    pub fn trim(&mut self, first_seq: u64) {
        if first_seq <= self.first {
            return;
        }
        self.first = first_seq;
        // After a clear the store's first seq is past everything the view has seen.
        self.end = self.end.max(first_seq);
        if let Some(seqs) = &mut self.seqs {
            let gone = seqs.partition_point(|&s| s < first_seq);
            seqs.drain(..gone);
            self.trimmed += gone as u64;
        }
    }

    /// Number of matching events held.
    pub fn len(&self) -> usize {
        match &self.seqs {
            Some(seqs) => seqs.len(),
            None => (self.end - self.first) as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number of row `index` of the result.
    pub fn seq_at(&self, index: usize) -> Option<u64> {
        match &self.seqs {
            Some(seqs) => seqs.get(index).copied(),
            None => (index < self.len()).then(|| self.first + index as u64),
        }
    }

    /// Position of the first row. Positions name rows in a way that survives eviction: a row
    /// keeps its position while older rows leave. Without a filter the position is the seq.
    pub fn first_pos(&self) -> u64 {
        match &self.seqs {
            Some(_) => self.trimmed,
            None => self.first,
        }
    }

    /// One past the position of the last row.
    pub fn next_pos(&self) -> u64 {
        self.first_pos() + self.len() as u64
    }

    /// The position and sequence numbers of the held rows among positions `pos..pos + count`.
    pub fn window_at(&self, pos: u64, count: usize) -> (u64, Cow<'_, [u64]>) {
        let first = self.first_pos();
        let start = pos.max(first);
        let skipped = (start - pos).min(count as u64) as usize;
        let index = usize::try_from(start - first).unwrap_or(usize::MAX);
        (start, self.window(index, count - skipped))
    }

    /// The sequence numbers of rows `index..index + count` (fewer at the end). Borrowed from
    /// the list; made for the identity view, which has no list (a page, not the whole result).
    pub fn window(&self, index: usize, count: usize) -> Cow<'_, [u64]> {
        let start = index.min(self.len());
        let end = start.saturating_add(count).min(self.len());
        match &self.seqs {
            Some(seqs) => Cow::Borrowed(&seqs[start..end]),
            None => Cow::Owned((self.first + start as u64..self.first + end as u64).collect()),
        }
    }
}

/// The matching sequence numbers in `range`, ascending. Large ranges are cut into one
/// contiguous part per core; each part's matches come back in order, so concatenating them in
/// part order keeps the whole list ascending without sorting.
fn matching(filter: &Filter, store: &EventStore, range: Range<u64>, now_ms: i64) -> Vec<u64> {
    let total = range.end.saturating_sub(range.start);
    if total < PARALLEL_MIN {
        return matching_in(filter, store, range, now_ms);
    }
    let threads = cores();
    if threads < 2 {
        return matching_in(filter, store, range, now_ms);
    }
    let per = total.div_ceil(threads);
    let parts: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let start = range.start + i * per;
                let end = (start + per).min(range.end);
                scope.spawn(move || matching_in(filter, store, start..end, now_ms))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        out.extend_from_slice(&part);
    }
    out
}

/// The cores to re-filter on. Asked once: the answer reads cgroup files, which costs more than
/// filtering a live batch (this was most of the live filter's cost before it was cached).
pub(crate) fn cores() -> u64 {
    static CORES: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()) as u64)
}

fn matching_in(filter: &Filter, store: &EventStore, range: Range<u64>, now_ms: i64) -> Vec<u64> {
    let count = range.end.saturating_sub(range.start) as usize;
    let sweep = filter.sweep(store);
    store
        .window(range.start, count)
        .filter(|ev| sweep.matches(ev, now_ms))
        .map(|ev| ev.seq())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Incoming, StoreLimits};

    /// Event `i` belongs to org `o{i % 3}` and has `payload.n = i`.
    fn push(store: &mut EventStore, i: u64) {
        let body = format!(
            r#"{{"id":"e{i}","organizationId":"o{}","source":"tasks","resource":"task","resourceId":"t{i}","eventName":"created","timestamp":"2026-11-27T10:00:00Z","payload":{{"n":{i}}}}}"#,
            i % 3
        );
        store.push(Incoming {
            subject: "events.o.tasks.task.created.t",
            headers: &[],
            body: body.as_bytes(),
            received_ms: 0,
        });
    }

    /// The view's rows as `seq`s, checked against a view computed from scratch on the same store.
    fn check(view: &View, store: &EventStore, expected: &str) {
        let rows: Vec<String> = (0..view.len())
            .map(|i| view.seq_at(i).unwrap().to_string())
            .collect();
        assert_eq!(rows.join(" "), expected);
        let mut fresh = View::new(view.filter().clone());
        fresh.refilter(store, 0);
        assert_eq!(
            (fresh.len(), &*fresh.window(0, usize::MAX)),
            (view.len(), &*view.window(0, usize::MAX)),
            "incremental differs from scratch"
        );
    }

    fn view(query: &str) -> View {
        View::new(Filter::parse(query).unwrap())
    }

    #[test]
    fn incremental_equals_from_scratch_through_pushes_evictions_and_clear() {
        let mut store = EventStore::new(StoreLimits {
            capacity: 5,
            max_bytes: usize::MAX,
        });
        let mut views = [view("org:o0"), view("payload.n>2"), view("")];
        let step = |store: &mut EventStore, views: &mut [View], pushes: u64| {
            let from = store.next_seq();
            for i in from..from + pushes {
                push(store, i);
            }
            for v in views.iter_mut() {
                v.on_pushed(store, 0);
            }
        };

        step(&mut store, &mut views, 4);
        check(&views[0], &store, "0 3");
        check(&views[1], &store, "3");
        check(&views[2], &store, "0 1 2 3");

        // Three more: capacity 5 evicts seqs 0 and 1.
        step(&mut store, &mut views, 3);
        check(&views[0], &store, "3 6");
        check(&views[1], &store, "3 4 5 6");
        check(&views[2], &store, "2 3 4 5 6");

        store.clear();
        for v in views.iter_mut() {
            v.trim(store.first_seq());
        }
        check(&views[0], &store, "");
        check(&views[2], &store, "");

        // Seqs keep growing after a clear; a second call adds nothing twice.
        step(&mut store, &mut views, 3);
        for v in views.iter_mut() {
            v.on_pushed(&store, 0);
        }
        check(&views[0], &store, "9");
        check(&views[1], &store, "7 8 9");
        check(&views[2], &store, "7 8 9");
    }

    #[test]
    fn a_missed_on_pushed_leaves_no_hole() {
        let mut store = EventStore::default();
        let mut v = view("org:o1");
        for i in 0..6 {
            push(&mut store, i);
        }
        v.on_pushed(&store, 0);
        check(&v, &store, "1 4");
    }

    #[test]
    fn refilter_in_parallel_keeps_order() {
        let mut store = EventStore::default();
        let n = 3 * PARALLEL_MIN + 7;
        for i in 0..n {
            push(&mut store, i);
        }
        let mut v = view("org:o2");
        v.refilter(&store, 0);
        let expected: Vec<u64> = (0..n).filter(|i| i % 3 == 2).collect();
        assert_eq!(&*v.window(0, usize::MAX), expected.as_slice());
    }

    #[test]
    fn windows_clamp_to_the_result() {
        let mut store = EventStore::default();
        for i in 0..10 {
            push(&mut store, i);
        }
        let mut v = view("payload.n>=4");
        v.refilter(&store, 0);
        assert_eq!(v.len(), 6);
        assert_eq!(&*v.window(0, 2), [4, 5]);
        assert_eq!(&*v.window(4, 10), [8, 9]);
        assert_eq!(&*v.window(6, 3), [0u64; 0]);
        assert_eq!(&*v.window(99, 3), [0u64; 0]);
        assert_eq!((v.seq_at(5), v.seq_at(6)), (Some(9), None));
    }

    #[test]
    fn positions_stay_put_while_old_rows_leave() {
        let mut store = EventStore::new(StoreLimits {
            capacity: 6,
            max_bytes: usize::MAX,
        });
        let mut filtered = view("org:o0");
        let mut all = view("");
        let push_n = |store: &mut EventStore, n: u64| {
            let from = store.next_seq();
            (from..from + n).for_each(|i| push(store, i));
        };
        let at = |v: &View, pos: u64, count: usize| {
            let (start, seqs) = v.window_at(pos, count);
            format!("{start}: {seqs:?} of {}..{}", v.first_pos(), v.next_pos())
        };

        push_n(&mut store, 6);
        filtered.on_pushed(&store, 0);
        all.on_pushed(&store, 0);
        assert_eq!(at(&filtered, 0, 10), "0: [0, 3] of 0..2");
        assert_eq!(at(&filtered, 1, 1), "1: [3] of 0..2");
        assert_eq!(at(&all, 4, 10), "4: [4, 5] of 0..6");

        // Seqs 0..=3 leave: the match at seq 3 was at position 1 and is gone; seq 6 is position 2.
        push_n(&mut store, 4);
        filtered.on_pushed(&store, 0);
        all.on_pushed(&store, 0);
        assert_eq!(at(&filtered, 0, 10), "2: [6, 9] of 2..4");
        assert_eq!(at(&filtered, 3, 10), "3: [9] of 2..4");
        assert_eq!(at(&filtered, 0, 1), "2: [] of 2..4");
        assert_eq!(at(&all, 0, 6), "4: [4, 5] of 4..10");
        assert_eq!(at(&all, 99, 6), "99: [] of 4..10");
    }

    #[test]
    fn the_newest_page_first_then_the_rest() {
        let mut store = EventStore::default();
        let n = 3 * 16 * 1024 + 5;
        for i in 0..n {
            push(&mut store, i);
        }
        let budget = std::time::Duration::from_secs(60);
        let filter = Filter::parse("org:o1").unwrap();
        // A page of 10 needs only the newest block: its matches, and only those.
        let mut v = View::newest_first(filter.clone(), &store, 0, 10, budget);
        assert!(!v.is_complete(&store));
        let newest: Vec<u64> = (n - 16 * 1024..n).filter(|i| i % 3 == 1).collect();
        assert_eq!(&*v.window(0, usize::MAX), newest.as_slice());
        // Events arriving meanwhile are added; completing puts the older ones in front.
        push(&mut store, n);
        push(&mut store, n + 1);
        v.on_pushed(&store, 0);
        let older = v.matches_in(&store, v.missing(&store), 0);
        v.prepend(&store, older);
        assert!(v.is_complete(&store));
        check(&v, &store, &{
            let all: Vec<String> = (0..n + 2)
                .filter(|i| i % 3 == 1)
                .map(|i| i.to_string())
                .collect();
            all.join(" ")
        });
        // A page larger than the matches scans everything: complete at once.
        let v = View::newest_first(filter, &store, 0, usize::MAX, budget);
        assert!(v.is_complete(&store));
        assert_eq!(v.first_pos(), 0);
        // The empty query is always complete.
        assert!(View::newest_first(Filter::default(), &store, 0, 1, budget).is_complete(&store));
    }

    #[test]
    fn empty_query_is_the_identity_without_a_list() {
        let mut store = EventStore::new(StoreLimits {
            capacity: 4,
            max_bytes: usize::MAX,
        });
        for i in 0..6 {
            push(&mut store, i);
        }
        let mut v = view("");
        v.refilter(&store, 0);
        assert!(v.seqs.is_none());
        assert_eq!(v.len(), 4);
        assert_eq!(&*v.window(1, 2), [3, 4]);
        assert!(matches!(v.window(1, 2), Cow::Owned(_)));
        assert_eq!(
            (v.seq_at(0), v.seq_at(3), v.seq_at(4)),
            (Some(2), Some(5), None)
        );
        check(&v, &store, "2 3 4 5");
    }
}
