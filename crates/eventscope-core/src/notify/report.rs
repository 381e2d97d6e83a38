//! Notification volume over held events and over the live stream: counts per rule, channel and
//! recipient, the top recipients with a flag for a rule that would spam them, and one
//! recipient's last hour (what they got, and what concerned them but did not notify them).
//!
//! A [`Tally`] advances over a store a bounded number of events at a time, so a caller can
//! hold the store's lock per step and show the figures so far after each one; the live stream
//! keeps one advanced after every batch.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
#[cfg(test)]
use ts_rs::TS;

use super::eval::{self, Ctx, Held, HistoryIndex, Reason};
use super::rules::{Channel, RuleSet};
use crate::store::{EventStore, Sym};

/// Top recipients a report lists.
pub const TOP_RECIPIENTS: usize = 20;
/// Notifications an hour from one rule to one recipient over which the rule is flagged as
/// spamming them (averaged over the report's span, or over an hour when it is shorter).
pub const SPAM_PER_HOUR: f64 = 60.0;
/// Distinct recipients counted one by one; past it they count together as "others".
const MAX_RECIPIENTS: usize = 500_000;
/// Events a [`volume_report`] step covers before it reports.
pub const REPORT_STEP: usize = 65_536;

/// Counts of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RuleVolume {
    pub rule: String,
    /// Events it matched.
    pub events: u64,
    /// Notifications (recipients × channels).
    pub notifications: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct ChannelVolume {
    pub channel: Channel,
    pub notifications: u64,
}

/// One of the busiest recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecipientVolume {
    pub recipient: String,
    pub notifications: u64,
    /// The rule that sends them most, and how many.
    pub top_rule: String,
    pub top_rule_notifications: u64,
    /// `top_rule`'s notifications an hour to this recipient.
    pub per_hour: f64,
    /// Over [`SPAM_PER_HOUR`]: the rule would spam this recipient.
    pub spam: bool,
}

/// The figures of a tally so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Events examined so far, and how many the report covers in all (0 for the live stream).
    pub examined: u64,
    pub total: u64,
    /// True once every event the report covers is counted.
    pub done: bool,
    /// Receive times of the first and last examined events (ms since the epoch).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub notifications: u64,
    pub rules: Vec<RuleVolume>,
    pub channels: Vec<ChannelVolume>,
    /// Distinct recipients.
    pub recipients: u64,
    pub top_recipients: Vec<RecipientVolume>,
}

/// Counts kept per recipient: total and per rule.
#[derive(Debug, Default, Clone)]
struct PerRecipient {
    total: u64,
    per_rule: Vec<(u16, u64)>,
}

/// Counting state over a store, a step at a time.
pub struct Tally {
    rules: Arc<RuleSet>,
    /// The rules whose pattern an event name matches, by the store's interned name.
    by_name: FxHashMap<(Sym, Sym), Box<[u16]>>,
    /// The current event's candidate rules (kept to spare an allocation an event).
    scratch: Vec<u16>,
    history: HistoryIndex,
    next_seq: u64,
    end_seq: Option<u64>,
    total: u64,
    examined: u64,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    rule_events: Vec<u64>,
    rule_notifications: Vec<u64>,
    channels: [u64; 3],
    recipients: FxHashMap<String, PerRecipient>,
    others: PerRecipient,
}

impl Tally {
    /// A tally of the events of `store` from `from_seq` on, without end (the live stream).
    pub fn new(rules: Arc<RuleSet>, from_seq: u64) -> Tally {
        let n = rules.ready.len();
        Tally {
            history: HistoryIndex::new(&rules),
            rules,
            by_name: FxHashMap::default(),
            scratch: Vec::new(),
            next_seq: from_seq,
            end_seq: None,
            total: 0,
            examined: 0,
            from_ms: None,
            to_ms: None,
            rule_events: vec![0; n],
            rule_notifications: vec![0; n],
            channels: [0; 3],
            recipients: FxHashMap::default(),
            others: PerRecipient::default(),
        }
    }

    /// A tally of what `store` holds now.
    pub fn held(rules: Arc<RuleSet>, store: &EventStore) -> Tally {
        let mut tally = Tally::new(rules, store.first_seq());
        tally.end_seq = Some(store.next_seq());
        tally.total = store.len();
        tally
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// True when a held report has counted everything it covers.
    pub fn is_done(&self) -> bool {
        self.end_seq.is_some_and(|end| self.next_seq >= end)
    }

    /// Counts up to `max_events` more events of `store` (the same store every time); true when
    /// the tally has caught up. Events evicted before their turn are skipped.
    pub fn advance(&mut self, store: &EventStore, max_events: usize, now_ms: i64) -> bool {
        self.advance_with(store, max_events, now_ms, None)
    }

    /// [`Tally::advance`], finding history through `index` (complete for the store) instead of
    /// the tally's own.
    fn advance_with(
        &mut self,
        store: &EventStore,
        max_events: usize,
        now_ms: i64,
        index: Option<&HistoryIndex>,
    ) -> bool {
        let end = self.end_seq.unwrap_or(u64::MAX).min(store.next_seq());
        if self.next_seq < store.first_seq() {
            self.next_seq = store.first_seq();
        }
        let stop = end.min(self.next_seq.saturating_add(max_events as u64));
        while self.next_seq < stop {
            if let Some(ev) = store.get(self.next_seq) {
                self.count(store, &ev, now_ms, index);
            }
            self.next_seq += 1;
        }
        self.next_seq >= end
    }

    fn count(
        &mut self,
        store: &EventStore,
        ev: &crate::store::EventRef<'_>,
        now_ms: i64,
        index: Option<&HistoryIndex>,
    ) {
        self.examined += 1;
        let received = ev.received_ms();
        self.from_ms.get_or_insert(received);
        self.to_ms = Some(received);
        if index.is_none() && !self.history.is_empty() {
            self.history.note(store, ev);
        }
        let rules = &self.rules;
        let list = self.by_name.entry(ev.name_syms()).or_insert_with(|| {
            let (r, e) = (ev.resource(), ev.event_name());
            rules
                .ready
                .iter()
                .enumerate()
                .filter(|(_, ready)| ready.pattern.matches(r, e))
                .map(|(i, _)| i as u16)
                .collect()
        });
        if list.is_empty() {
            return;
        }
        let mut candidates = std::mem::take(&mut self.scratch);
        candidates.clear();
        candidates.extend_from_slice(list);
        let ctx = Ctx::new(ev, now_ms);
        let held = Held::indexed(store, index.unwrap_or(&self.history));
        for i in candidates.iter().map(|&i| i as usize) {
            let ready = &self.rules.ready[i];
            let Some(ids) = eval::would_notify(&self.rules, ready, &ctx, &held) else {
                continue;
            };
            let per = ready.rule.channels.len() as u64;
            self.rule_events[i] += 1;
            self.rule_notifications[i] += per * ids.len() as u64;
            for c in &ready.rule.channels {
                self.channels[c.index()] += ids.len() as u64;
            }
            for id in ids {
                let full = self.recipients.len() >= MAX_RECIPIENTS;
                let entry = match self.recipients.get_mut(id.as_str()) {
                    Some(entry) => entry,
                    None if full => &mut self.others,
                    None => self.recipients.entry(id).or_default(),
                };
                entry.total += per;
                match entry.per_rule.iter_mut().find(|(r, _)| *r as usize == i) {
                    Some((_, n)) => *n += per,
                    None => entry.per_rule.push((i as u16, per)),
                }
            }
        }
        self.scratch = candidates;
    }

    /// Adds the counts of `other` (a tally of other events with the same rules).
    fn absorb(&mut self, other: &Tally) {
        self.examined += other.examined;
        self.from_ms = match (self.from_ms, other.from_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.to_ms = self.to_ms.max(other.to_ms);
        for (a, b) in self.rule_events.iter_mut().zip(&other.rule_events) {
            *a += b;
        }
        for (a, b) in self
            .rule_notifications
            .iter_mut()
            .zip(&other.rule_notifications)
        {
            *a += b;
        }
        for (a, b) in self.channels.iter_mut().zip(&other.channels) {
            *a += b;
        }
        let add = |into: &mut PerRecipient, from: &PerRecipient| {
            into.total += from.total;
            for &(rule, n) in &from.per_rule {
                match into.per_rule.iter_mut().find(|(r, _)| *r == rule) {
                    Some((_, m)) => *m += n,
                    None => into.per_rule.push((rule, n)),
                }
            }
        };
        for (id, per) in &other.recipients {
            let full = self.recipients.len() >= MAX_RECIPIENTS;
            let entry = match self.recipients.get_mut(id.as_str()) {
                Some(entry) => entry,
                None if full => &mut self.others,
                None => self.recipients.entry(id.clone()).or_default(),
            };
            add(entry, per);
        }
        add(&mut self.others, &other.others);
    }

    /// The figures so far.
    pub fn volume(&self) -> Volume {
        let rules = &self.rules.ready;
        let span_hours = match (self.from_ms, self.to_ms) {
            (Some(a), Some(b)) => ((b - a) as f64 / 3_600_000.0).max(1.0),
            _ => 1.0,
        };
        let mut top: Vec<(&String, &PerRecipient)> = self.recipients.iter().collect();
        let n = top.len().min(TOP_RECIPIENTS);
        if n > 0 {
            top.select_nth_unstable_by(n - 1, |a, b| {
                b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(b.0))
            });
        }
        top.truncate(n);
        top.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(b.0)));
        Volume {
            examined: self.examined,
            total: self.total,
            done: self.is_done(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            notifications: self.rule_notifications.iter().sum(),
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, r)| RuleVolume {
                    rule: r.rule.id.clone(),
                    events: self.rule_events[i],
                    notifications: self.rule_notifications[i],
                })
                .collect(),
            channels: Channel::ALL
                .iter()
                .map(|c| ChannelVolume {
                    channel: *c,
                    notifications: self.channels[c.index()],
                })
                .collect(),
            recipients: self.recipients.len() as u64,
            top_recipients: top
                .into_iter()
                .map(|(id, per)| {
                    let (rule, n) = per
                        .per_rule
                        .iter()
                        .max_by_key(|(r, n)| (*n, std::cmp::Reverse(*r)))
                        .copied()
                        .unwrap_or((0, 0));
                    let per_hour = n as f64 / span_hours;
                    RecipientVolume {
                        recipient: id.clone(),
                        notifications: per.total,
                        top_rule: rules
                            .get(rule as usize)
                            .map(|r| r.rule.id.clone())
                            .unwrap_or_default(),
                        top_rule_notifications: n,
                        per_hour,
                        spam: per_hour > SPAM_PER_HOUR,
                    }
                })
                .collect(),
        }
    }
}

/// The volume report over everything `store` holds, on every core: the history the rules read
/// is indexed first (one pass over the index records), then each thread counts its share of the
/// events [`REPORT_STEP`] at a time, and `on_step` gets the figures of all of them after each
/// step (the first after a fraction of a second).
pub fn volume_report(
    rules: Arc<RuleSet>,
    store: &EventStore,
    now_ms: i64,
    mut on_step: impl FnMut(&Volume),
) -> Volume {
    let (first, end) = (store.first_seq(), store.next_seq());
    let mut index = HistoryIndex::new(&rules);
    if !index.is_empty() {
        for seq in first..end {
            if let Some(ev) = store.get(seq) {
                index.note(store, &ev);
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8) as u64;
    let share = (end - first).div_ceil(threads).max(1);
    let tallies: Vec<std::sync::Mutex<Tally>> = (0..threads)
        .map(|i| {
            let mut t = Tally::new(rules.clone(), first + i * share);
            t.end_seq = Some((first + (i + 1) * share).min(end));
            std::sync::Mutex::new(t)
        })
        .collect();
    let merged = |done: bool| {
        let mut all = Tally::held(rules.clone(), store);
        for t in &tallies {
            all.absorb(&t.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if done {
            all.next_seq = end;
        }
        all.volume()
    };
    // The first figures come from this thread, before the others start: with every core
    // counting, it could wait for a core until they are done.
    let step = REPORT_STEP / threads as usize;
    tallies[0]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .advance_with(store, step, now_ms, Some(&index));
    on_step(&merged(false));
    std::thread::scope(|scope| {
        let (steps, stepped) = std::sync::mpsc::channel::<bool>();
        for tally in &tallies {
            let (index, steps) = (&index, steps.clone());
            scope.spawn(move || loop {
                let done = tally
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .advance_with(store, step, now_ms, Some(index));
                if steps.send(done).is_err() || done {
                    return;
                }
            });
        }
        drop(steps);
        let mut finished = 0;
        let mut since = 0;
        for done in stepped {
            finished += done as u64;
            since += 1;
            // One report per step of every thread.
            if since >= threads && finished < threads {
                since = 0;
                on_step(&merged(false));
            }
        }
    });
    let volume = merged(true);
    on_step(&volume);
    volume
}

/// One notification a recipient got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    pub seq: u64,
    pub event_id: String,
    pub received_ms: i64,
    pub rule: String,
    pub channels: Vec<Channel>,
    pub title: String,
}

/// An event that concerned a recipient (they are at the rule's `from`) but did not notify them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Missed {
    pub seq: u64,
    pub event_id: String,
    pub received_ms: i64,
    pub rule: String,
    /// The rule's reason, or `None` when the rule notified others and excepted this recipient.
    pub reason: Option<Reason>,
    pub detail: String,
}

/// What one recipient got since a time, and what should have notified them but did not;
/// newest first, each list at most `limit` long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RecipientActivity {
    pub recipient: String,
    pub since_ms: i64,
    pub delivered: Vec<Delivered>,
    pub delivered_total: u64,
    pub missed: Vec<Missed>,
    pub missed_total: u64,
}

/// The held events received since `since_ms` as they concern `recipient`.
pub fn recipient_activity(
    rules: &RuleSet,
    store: &EventStore,
    recipient: &str,
    since_ms: i64,
    now_ms: i64,
    limit: usize,
) -> RecipientActivity {
    let mut out = RecipientActivity {
        recipient: recipient.to_string(),
        since_ms,
        delivered: Vec::new(),
        delivered_total: 0,
        missed: Vec::new(),
        missed_total: 0,
    };
    let needle = recipient.as_bytes();
    let uses_history = rules.ready.iter().any(|r| r.history.is_some());
    let held = Held::store(store);
    for seq in (store.first_seq()..store.next_seq()).rev() {
        let Some(ev) = store.get(seq) else { continue };
        if ev.received_ms() < since_ms {
            break;
        }
        // An event whose body never names the recipient concerns them only through history.
        if !uses_history && memchr::memmem::find(ev.body(), needle).is_none() {
            continue;
        }
        let (r, e) = (ev.resource(), ev.event_name());
        if !rules.ready.iter().any(|x| x.pattern.matches(r, e)) {
            continue;
        }
        let outcomes = eval::explain(rules, &ev, &held, now_ms);
        for (ready, o) in rules.ready.iter().zip(&outcomes) {
            if !ready.pattern.matches(r, e) {
                continue;
            }
            if o.recipients.iter().any(|x| x == recipient) {
                out.delivered_total += 1;
                if out.delivered.len() < limit {
                    out.delivered.push(Delivered {
                        seq,
                        event_id: ev.id().to_string(),
                        received_ms: ev.received_ms(),
                        rule: o.rule.clone(),
                        channels: o.messages.iter().map(|m| m.channel).collect(),
                        title: o
                            .messages
                            .first()
                            .map(|m| m.title.clone())
                            .unwrap_or_default(),
                    });
                }
                continue;
            }
            if !eval::is_candidate(ready, &ev, &held, recipient, now_ms) {
                continue;
            }
            out.missed_total += 1;
            if out.missed.len() < limit {
                out.missed.push(Missed {
                    seq,
                    event_id: ev.id().to_string(),
                    received_ms: ev.received_ms(),
                    rule: o.rule.clone(),
                    detail: if o.matched {
                        format!("{recipient} is excepted")
                    } else {
                        o.detail.clone()
                    },
                    reason: o.reason.clone(),
                });
            }
        }
    }
    out
}

/// A held event the rules concern, and what it would send: what the rule editor re-renders
/// as the rules are edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct NotifySample {
    pub seq: u64,
    pub event_id: String,
    /// `resource.eventName`.
    pub name: String,
    pub received_ms: i64,
    /// `rule: title` of each rule that matched, in rule order.
    pub titles: Vec<String>,
    /// When none matched: why the first rule whose pattern it fits did not.
    pub reason: String,
}

/// The most held events [`samples`] looks through, newest first, for the ones the rules concern.
pub const SAMPLE_SCAN: u64 = 200_000;

/// The newest `limit` held events whose name fits one of the rules' patterns, each rendered
/// by the rules (rule, title), or with the reason none matched.
pub fn samples(
    rules: &RuleSet,
    store: &EventStore,
    limit: usize,
    now_ms: i64,
) -> Vec<NotifySample> {
    let held = Held::store(store);
    let first = store
        .first_seq()
        .max(store.next_seq().saturating_sub(SAMPLE_SCAN));
    let mut out = Vec::new();
    for seq in (first..store.next_seq()).rev() {
        if out.len() == limit {
            break;
        }
        let Some(ev) = store.get(seq) else { continue };
        let (r, e) = (ev.resource(), ev.event_name());
        if !rules.ready.iter().any(|x| x.pattern.matches(r, e)) {
            continue;
        }
        let outcomes = eval::explain(rules, &ev, &held, now_ms);
        let titles: Vec<String> = outcomes
            .iter()
            .filter(|o| o.matched)
            .map(|o| {
                let title = o.messages.first().map(|m| m.title.as_str()).unwrap_or("");
                format!("{}: {title}", o.rule)
            })
            .collect();
        let reason = if titles.is_empty() {
            outcomes
                .iter()
                .find(|o| !matches!(o.reason, Some(Reason::Event { .. })))
                .map(|o| format!("{}: {}", o.rule, o.detail))
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push(NotifySample {
            seq,
            event_id: ev.id().to_string(),
            name: format!("{r}.{e}"),
            received_ms: ev.received_ms(),
            titles,
            reason,
        });
    }
    out
}
