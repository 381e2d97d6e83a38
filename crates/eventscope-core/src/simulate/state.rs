//! The generator's state: randomness, clock and id minting (`Gen`), and each organization's
//! people and open resources, kept in bounded lists so that memory stays flat.

use std::collections::VecDeque;
use std::ops::{Deref, Index, IndexMut};

use chrono::{DateTime, SecondsFormat};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::words::{AppKind, AGENT_NAMES, COMPANIES, FIRST_NAMES, LAST_NAMES};
use super::{event_id, Kind};
use crate::event::{Envelope, Metadata};

/// Open resources of one kind an organization keeps before the oldest retires.
pub(super) const MAX_OPEN: usize = 200;
/// Agent replies being streamed at once in one organization.
pub(super) const MAX_STREAMS: usize = 16;
/// Installed apps per organization.
pub(super) const MAX_APPS: usize = 24;

/// Kinds of id, each with its own counter so that ids of a kind are unique by construction.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Org,
    User,
    Agent,
    Conversation,
    Message,
    Flow,
    Run,
    Task,
    App,
    Record,
    Event,
    External,
}
const SLOTS: usize = 12;

/// Randomness, clock and id counters: everything events draw from besides organization state.
pub(super) struct Gen {
    pub(super) rng: StdRng,
    key: u64,
    counters: [u64; SLOTS],
    pub(super) now_ms: i64,
}

impl Gen {
    pub(super) fn new(seed: u64, now_ms: i64) -> Gen {
        let mut gen = Gen {
            rng: StdRng::seed_from_u64(seed),
            key: 0,
            counters: [0; SLOTS],
            now_ms,
        };
        gen.key = gen.rng.random();
        gen
    }

    /// `prefix_` and 8 base-36 characters that look random but never repeat within a run: the
    /// slot's counter through a bijection of 40-bit numbers.
    pub(super) fn mint(&mut self, prefix: &str, slot: Slot) -> String {
        let n = self.counters[slot as usize];
        self.counters[slot as usize] += 1;
        let x = scramble40(n, self.key.wrapping_add(slot as u64 * 0x9E37_79B9));
        format!("{prefix}_{}", base36(x, 8))
    }

    pub(super) fn event_id(&mut self) -> String {
        let n = self.counters[Slot::Event as usize];
        self.counters[Slot::Event as usize] += 1;
        let unique = scramble40(n, self.key) as u128;
        let noise = self.rng.random::<u64>() as u128 & ((1 << 40) - 1);
        event_id(self.now_ms, (unique << 40) | noise)
    }

    pub(super) fn timestamp(&self) -> String {
        rfc3339(self.now_ms)
    }

    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("a non-empty table")
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// An index into `len` items, favouring the newest (the end): recent resources are busier.
    pub(super) fn recent(&mut self, len: usize) -> usize {
        let u: f64 = self.rng.random();
        len - 1 - ((u * u * len as f64) as usize).min(len - 1)
    }
}

pub(super) const MASK40: u64 = (1 << 40) - 1;

/// A bijection of 40-bit numbers: xor, odd multiplications and xor-shifts each are one.
fn scramble40(n: u64, key: u64) -> u64 {
    let mut x = (n ^ key) & MASK40;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & MASK40;
    x ^= x >> 20;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & MASK40;
    x ^= x >> 17;
    x
}

pub(super) fn base36(mut x: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(x % 36) as usize];
        x /= 36;
    }
    String::from_utf8(out).expect("ASCII digits")
}

pub(super) fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) struct Person {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) agent: bool,
}

impl Person {
    pub(super) fn sender(&self) -> Value {
        json!({"id": self.id, "name": self.name, "type": if self.agent { "agent" } else { "user" }})
    }

    pub(super) fn actor(&self) -> Value {
        json!({"id": self.id, "name": self.name})
    }

    pub(super) fn owner(&self) -> Value {
        json!({"id": self.id, "name": self.name, "email": self.email})
    }
}

pub(super) struct Conversation {
    pub(super) id: String,
    /// Indexes into the organization's people.
    pub(super) participants: Vec<usize>,
    pub(super) streaming: bool,
}

/// An agent reply being streamed token by token.
pub(super) struct Stream {
    pub(super) conversation: String,
    pub(super) message: String,
    pub(super) agent: usize,
    pub(super) text: &'static str,
    /// Byte offset of the next token.
    pub(super) pos: usize,
    pub(super) index: u32,
}

/// A streamed reply that is complete and waits to be posted as a message.
pub(super) struct Reply {
    pub(super) conversation: String,
    pub(super) message: String,
    pub(super) agent: usize,
    pub(super) text: &'static str,
}

pub(super) struct Flow {
    pub(super) id: String,
    pub(super) name: &'static str,
    pub(super) trigger: &'static str,
    pub(super) steps: Vec<&'static str>,
    pub(super) version: u32,
    pub(super) enabled: bool,
    /// A run reported as `running` that has not finished yet.
    pub(super) run: Option<OpenRun>,
}

pub(super) struct OpenRun {
    pub(super) id: String,
    pub(super) started_ms: i64,
    pub(super) steps_done: usize,
}

pub(super) struct Task {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) owner: usize,
    pub(super) priority: &'static str,
    pub(super) due_at: String,
}

pub(super) struct App {
    pub(super) id: String,
    pub(super) kind: &'static AppKind,
}

pub(super) struct Record {
    pub(super) id: String,
    pub(super) collection: &'static str,
    pub(super) fields: Map<String, Value>,
}

pub(super) struct Org {
    pub(super) id: String,
    pub(super) company: String,
    pub(super) domain: String,
    pub(super) tags: Vec<&'static str>,
    /// Users first, then agents.
    pub(super) people: Vec<Person>,
    pub(super) users: usize,
    pub(super) conversations: Bounded<Conversation>,
    pub(super) streams: Vec<Stream>,
    pub(super) replies: Bounded<Reply>,
    pub(super) flows: Bounded<Flow>,
    pub(super) tasks: Bounded<Task>,
    pub(super) apps: Bounded<App>,
    pub(super) records: Bounded<Record>,
}

impl Org {
    pub(super) fn new(gen: &mut Gen, index: usize) -> Org {
        let (name, domain) = COMPANIES[index % COMPANIES.len()];
        let (company, domain) = if index < COMPANIES.len() {
            (name.to_string(), domain.to_string())
        } else {
            let label = domain.split('.').next().unwrap_or("org");
            (format!("{name} {index}"), format!("{label}{index}.example"))
        };
        let mut tags = Vec::new();
        if gen.chance(0.3) {
            tags.push("vip");
        }
        if gen.chance(0.3) {
            tags.push("beta");
        }
        let users = gen.rng.random_range(6..=14);
        let mut people = Vec::new();
        for _ in 0..users {
            let (first, first_ascii) = gen.pick(FIRST_NAMES);
            let (last, last_ascii) = gen.pick(LAST_NAMES);
            let name = format!("{first} {last}");
            // Namesakes get distinct addresses, as a mail server would insist.
            let namesakes = people.iter().filter(|p: &&Person| p.name == name).count();
            let suffix = if namesakes == 0 {
                String::new()
            } else {
                (namesakes + 1).to_string()
            };
            people.push(Person {
                id: gen.mint("usr", Slot::User),
                email: format!("{first_ascii}.{last_ascii}{suffix}@{domain}"),
                name,
                agent: false,
            });
        }
        for name in AGENT_NAMES.choose_multiple(&mut gen.rng, 2) {
            let id = gen.mint("agt", Slot::Agent);
            people.push(Person {
                email: format!("{}@agents.{domain}", &id),
                id,
                name: name.to_string(),
                agent: true,
            });
        }
        Org {
            id: gen.mint("org", Slot::Org),
            company,
            domain,
            tags,
            people,
            users,
            conversations: Bounded::new(MAX_OPEN),
            streams: Vec::new(),
            replies: Bounded::new(MAX_STREAMS),
            flows: Bounded::new(MAX_OPEN),
            tasks: Bounded::new(MAX_OPEN),
            apps: Bounded::new(MAX_APPS),
            records: Bounded::new(MAX_OPEN),
        }
    }

    pub(super) fn user(&self, gen: &mut Gen) -> usize {
        gen.rng.random_range(0..self.users)
    }

    pub(super) fn agent(&self, gen: &mut Gen) -> usize {
        gen.rng.random_range(self.users..self.people.len())
    }

    pub(super) fn envelope(
        &self,
        gen: &mut Gen,
        kind: Kind,
        resource_id: &str,
        payload: Value,
        filters: Vec<(String, String)>,
    ) -> Envelope {
        let (resource, event) = kind.name().split_once('.').expect("a dotted name");
        let mut tags: Vec<String> = self.tags.iter().map(|t| t.to_string()).collect();
        if gen.chance(0.04) {
            tags.push("internal".into());
        }
        Envelope {
            id: gen.event_id(),
            organization_id: self.id.clone(),
            source: kind.source().into(),
            resource: resource.into(),
            resource_id: resource_id.into(),
            event_name: event.into(),
            timestamp: gen.timestamp(),
            payload,
            metadata: Metadata { filters, tags },
        }
    }
}

/// A list of at most `cap` items in which a push past the cap retires the oldest: an
/// organization keeps its recent resources busy and forgets the old ones.
pub(super) struct Bounded<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T> Bounded<T> {
    pub(super) fn new(cap: usize) -> Bounded<T> {
        Bounded {
            items: VecDeque::new(),
            cap,
        }
    }

    /// Appends `item`; returns the oldest item when that made one too many, so that what refers
    /// to it can retire too.
    pub(super) fn push(&mut self, item: T) -> Option<T> {
        self.items.push_back(item);
        if self.items.len() > self.cap {
            self.items.pop_front()
        } else {
            None
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub(super) fn remove(&mut self, index: usize) -> Option<T> {
        self.items.remove(index)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut()
    }
}

/// Reading is free; changing the list goes through the methods above, which keep the cap.
impl<T> Deref for Bounded<T> {
    type Target = VecDeque<T>;

    fn deref(&self) -> &VecDeque<T> {
        &self.items
    }
}

impl<T> Index<usize> for Bounded<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        &self.items[index]
    }
}

impl<T> IndexMut<usize> for Bounded<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.items[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `items` into a list of `cap`, checking the cap after every push; `expected` is
    /// what retired, in order, and what the list holds at the end, oldest first.
    fn check(cap: usize, items: impl IntoIterator<Item = u32>, expected: &str) {
        let mut list = Bounded::new(cap);
        let mut retired = Vec::new();
        for item in items {
            retired.extend(list.push(item));
            assert!(list.len() <= cap, "{} items in a list of {cap}", list.len());
        }
        let kept: Vec<u32> = list.iter().copied().collect();
        assert_eq!(format!("retired {retired:?}, kept {kept:?}"), expected);
    }

    #[test]
    fn a_push_past_the_cap_retires_the_oldest_first() {
        check(3, 1..=2, "retired [], kept [1, 2]");
        check(3, 1..=3, "retired [], kept [1, 2, 3]");
        check(3, 1..=4, "retired [1], kept [2, 3, 4]");
        check(3, 1..=7, "retired [1, 2, 3, 4], kept [5, 6, 7]");
    }

    #[test]
    fn never_holds_more_than_its_cap() {
        check(1, 1..=3, "retired [1, 2], kept [3]");
        check(0, 1..=2, "retired [1, 2], kept []");
    }

    #[test]
    fn a_removed_item_frees_its_place() {
        let mut list = Bounded::new(2);
        list.push("a");
        list.push("b");
        assert_eq!(list.remove(0), Some("a"));
        assert_eq!(list.push("c"), None);
        assert_eq!(list.pop_front(), Some("b"));
        assert_eq!(list.push("d"), None);
        assert_eq!(list.push("e"), Some("c"));
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), ["d", "e"]);
    }
}
