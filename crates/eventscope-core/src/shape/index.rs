//! `ShapeIndex`: per-second event counts of everything held, per (org, source, name), kept at
//! ingest one batch at a time and exact under eviction and `clear`.
//!
//! Why this shape: a batch shares one receive time, so ingest adds one array increment per
//! event to the open second (plus a combination lookup); a closed second is a short sorted list.
//! Eviction reads the combination of each evicted event from a 4-byte column (the store has
//! forgotten the event by then), so the counts are always those of the held events. The chart of
//! the unfiltered view reads seconds, never events.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::store::{EventStore, Sym};

/// (org, source, resource, eventName) of an event, packed.
pub(crate) type Combo = u128;

pub(crate) fn combo(org: Sym, source: Sym, (resource, event): (Sym, Sym)) -> Combo {
    org.0 as u128 | (source.0 as u128) << 32 | (resource.0 as u128) << 64 | (event.0 as u128) << 96
}

pub(crate) fn combo_parts(c: Combo) -> (Sym, Sym, Sym, Sym) {
    let part = |shift: u32| Sym((c >> shift) as u32);
    (part(0), part(32), part(64), part(96))
}

/// One second of receive time and the events received in it.
#[derive(Debug, Clone)]
struct Second {
    /// Whole seconds since the Unix epoch.
    sec: i64,
    /// One past the last sequence number counted in this second.
    end: u64,
    /// (combination id, count), sorted by id; zero counts are removed.
    counts: Vec<(u32, u32)>,
}

/// Per-second counts of the held events by combination of org, source and name.
#[derive(Debug, Default)]
pub struct ShapeIndex {
    ids: FxHashMap<Combo, u32>,
    combos: Vec<Combo>,
    last: Option<(Combo, u32)>,
    /// The combination id of every event in `first..end`.
    keys: VecDeque<u32>,
    first: u64,
    end: u64,
    closed: VecDeque<Second>,
    /// The newest second, counted densely by id (`touched` lists the ids counted).
    open: Option<(i64, u64)>,
    open_counts: Vec<u32>,
    touched: Vec<u32>,
    /// Scratch for evictions, indexed by id.
    gone: Vec<u32>,
    gone_touched: Vec<u32>,
}

impl ShapeIndex {
    pub fn new() -> ShapeIndex {
        ShapeIndex::default()
    }

    /// Forgets evicted events and counts the events pushed since the last call. Call it after
    /// every batch (a missed call leaves no hole: it catches up from where it stopped).
    pub fn on_pushed(&mut self, store: &EventStore) {
        self.on_pushed_until(store, store.next_seq());
    }

    /// [`ShapeIndex::on_pushed`] for the events before `end` only (a benchmark replays a filled
    /// store batch by batch with it).
    pub fn on_pushed_until(&mut self, store: &EventStore, end: u64) {
        self.trim(store.first_seq());
        let start = self.end.max(store.first_seq());
        let end = end.min(store.next_seq());
        if start >= end {
            return;
        }
        for ev in store.window(start, (end - start) as usize) {
            let c = combo(ev.org_sym(), ev.source_sym(), ev.name_syms());
            let id = match self.last {
                Some((last, id)) if last == c => id,
                _ => self.id_of(c),
            };
            self.last = Some((c, id));
            self.count(ev.received_ms().div_euclid(1000), ev.seq(), id);
        }
        self.end = end;
    }

    fn id_of(&mut self, c: Combo) -> u32 {
        if let Some(id) = self.ids.get(&c) {
            return *id;
        }
        let id = self.combos.len() as u32;
        self.combos.push(c);
        self.ids.insert(c, id);
        self.open_counts.push(0);
        self.gone.push(0);
        id
    }

    fn count(&mut self, sec: i64, seq: u64, id: u32) {
        match self.open {
            // Receive times that step back (a clock change) count in the open second, so
            // seconds stay ordered like sequence numbers.
            Some((open, _)) if sec <= open => {}
            Some(_) => {
                self.close();
                self.open = Some((sec, seq));
            }
            None => self.open = Some((sec, seq)),
        }
        if let Some(open) = &mut self.open {
            open.1 = seq + 1;
        }
        let n = &mut self.open_counts[id as usize];
        if *n == 0 {
            self.touched.push(id);
        }
        *n += 1;
        self.keys.push_back(id);
    }

    /// Moves the open second to the closed list.
    fn close(&mut self) {
        let Some((sec, end)) = self.open.take() else {
            return;
        };
        self.touched.sort_unstable();
        let mut counts = Vec::with_capacity(self.touched.len());
        for &id in &self.touched {
            let n = std::mem::take(&mut self.open_counts[id as usize]);
            if n > 0 {
                counts.push((id, n));
            }
        }
        self.touched.clear();
        if !counts.is_empty() {
            self.closed.push_back(Second { sec, end, counts });
        }
    }

    /// Uncounts the events below `first_seq` (evicted or cleared).
    pub fn trim(&mut self, first_seq: u64) {
        if first_seq <= self.first {
            return;
        }
        let upto = first_seq.min(self.end);
        let mut seq = self.first;
        while seq < upto {
            match self.closed.front() {
                Some(front) => {
                    let stop = front.end.min(upto);
                    for _ in seq..stop {
                        let id = self.keys.pop_front().expect("a key per counted event");
                        let n = &mut self.gone[id as usize];
                        if *n == 0 {
                            self.gone_touched.push(id);
                        }
                        *n += 1;
                    }
                    seq = stop;
                    self.uncount_front();
                }
                None => {
                    for _ in seq..upto {
                        let id = self.keys.pop_front().expect("a key per counted event");
                        self.open_counts[id as usize] -= 1;
                    }
                    seq = upto;
                }
            }
        }
        self.first = first_seq;
        self.end = self.end.max(first_seq);
        if self.keys.is_empty() {
            // Everything left: the open second too (its counts are all zero by now).
            self.open = None;
            for id in self.touched.drain(..) {
                self.open_counts[id as usize] = 0;
            }
        }
    }

    /// Subtracts the `gone` tally from the front second, dropping it when it is empty.
    fn uncount_front(&mut self) {
        let front = self.closed.front_mut().expect("called with a front second");
        for id in self.gone_touched.drain(..) {
            let n = std::mem::take(&mut self.gone[id as usize]);
            if let Ok(i) = front.counts.binary_search_by_key(&id, |&(k, _)| k) {
                front.counts[i].1 -= n;
            }
        }
        front.counts.retain(|&(_, n)| n > 0);
        if front.counts.is_empty() {
            self.closed.pop_front();
        }
    }

    /// Calls `f(second_start_ms, combination, count)` for every non-empty count of the seconds
    /// that start in `from_ms..to_ms`.
    pub(crate) fn for_each(&self, from_ms: i64, to_ms: i64, mut f: impl FnMut(i64, Combo, u32)) {
        let (from, to) = (from_ms.div_euclid(1000), (to_ms + 999).div_euclid(1000));
        let start = self.closed.partition_point(|s| s.sec < from);
        for second in self.closed.range(start..) {
            if second.sec >= to {
                break;
            }
            for &(id, n) in &second.counts {
                f(second.sec * 1000, self.combos[id as usize], n);
            }
        }
        if let Some((sec, _)) = self.open {
            if sec >= from && sec < to {
                for &id in &self.touched {
                    let n = self.open_counts[id as usize];
                    if n > 0 {
                        f(sec * 1000, self.combos[id as usize], n);
                    }
                }
            }
        }
    }

    /// Events counted (the held events once `on_pushed` has seen the last batch).
    pub fn len(&self) -> u64 {
        self.keys.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
