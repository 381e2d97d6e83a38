//! Simulated platform traffic: a seeded generator of realistic envelopes, its catalogue of
//! event types, and a paced publisher.
//!
//! The generator plays many organizations at once and keeps every lifecycle the platform has
//! consistent (a conversation exists before anyone posts in it, a task ends at most once, a
//! deleted record is never touched again, ...), so that what a user sees in Eventscope reads
//! like real traffic. Live state is bounded per organization: old resources retire and simply
//! get no more events, which keeps memory flat over any number of events.
//!
//! This file is the engine: which organization and which event type come next. `state.rs` holds
//! what the generator remembers; one file per platform service writes its events
//! (`conversations.rs`, `flows.rs`, `tasks.rs`, `apps.rs`, `records.rs`) from the tables of
//! `words.rs`; [`catalogue`] has one example per event type; `publish.rs` has [`run`], the paced
//! publisher.

mod apps;
pub mod catalogue;
mod conversations;
mod flows;
mod publish;
mod records;
mod state;
mod tasks;
mod words;

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::event::Envelope;
use state::{Gen, Org};

pub use publish::{run, Limit, Pace, SimError, SimReport};

/// Average simulated time between two events unless [`Simulator::set_mean_gap`] says otherwise.
const DEFAULT_MEAN_GAP_MS: f64 = 40.0;

/// What to simulate. `orgs` below 1 counts as 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    pub orgs: usize,
    /// Timestamp of the first event; later ones advance from it.
    pub start: DateTime<Utc>,
}

impl Default for SimConfig {
    /// Seed 0, 8 organizations, starting 2026-01-01T09:00:00Z: fixed, so that the default
    /// stream is reproducible. Live publishers pass `Utc::now()`.
    fn default() -> Self {
        SimConfig {
            seed: 0,
            orgs: 8,
            start: DateTime::from_timestamp(1_767_258_000, 0).expect("a valid constant"),
        }
    }
}

/// An `evt_` id: 10 Crockford base-32 characters of milliseconds, then 16 of entropy, like a ULID,
/// so ids sort by time.
pub fn event_id(millis: i64, entropy: u128) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let value = ((millis.max(0) as u128 & ((1 << 48) - 1)) << 80) | (entropy & ((1 << 80) - 1));
    let mut out = String::with_capacity(30);
    out.push_str("evt_");
    for i in (0..26).rev() {
        out.push(ALPHABET[((value >> (i * 5)) & 31) as usize] as char);
    }
    out
}

/// The platform's internal event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConversationCreated,
    MessagePosted,
    MessageStream,
    FlowCreated,
    FlowUpdated,
    FlowRun,
    TaskCreated,
    TaskCompleted,
    TaskFailed,
    AppInstalled,
    AppEventReceived,
    RecordCreated,
    RecordUpdated,
    RecordDeleted,
}

impl Kind {
    /// Every type, in the order the platform's documentation lists them.
    const ALL: [Kind; 14] = [
        Kind::ConversationCreated,
        Kind::MessagePosted,
        Kind::MessageStream,
        Kind::FlowCreated,
        Kind::FlowUpdated,
        Kind::FlowRun,
        Kind::TaskCreated,
        Kind::TaskCompleted,
        Kind::TaskFailed,
        Kind::AppInstalled,
        Kind::AppEventReceived,
        Kind::RecordCreated,
        Kind::RecordUpdated,
        Kind::RecordDeleted,
    ];

    /// `{resource}.{eventName}`, the name the platform documents the type by.
    fn name(self) -> &'static str {
        match self {
            Kind::ConversationCreated => "conversation.created",
            Kind::MessagePosted => "conversation.message_posted",
            Kind::MessageStream => "conversation.message_stream",
            Kind::FlowCreated => "flow.created",
            Kind::FlowUpdated => "flow.updated",
            Kind::FlowRun => "flow.run",
            Kind::TaskCreated => "task.created",
            Kind::TaskCompleted => "task.completed",
            Kind::TaskFailed => "task.failed",
            Kind::AppInstalled => "app.installed",
            Kind::AppEventReceived => "app.event_received",
            Kind::RecordCreated => "record.created",
            Kind::RecordUpdated => "record.updated",
            Kind::RecordDeleted => "record.deleted",
        }
    }

    /// The platform service that publishes it.
    fn source(self) -> &'static str {
        match self {
            Kind::ConversationCreated | Kind::MessagePosted | Kind::MessageStream => {
                "conversations"
            }
            Kind::FlowCreated | Kind::FlowUpdated | Kind::FlowRun => "flows",
            Kind::TaskCreated | Kind::TaskCompleted | Kind::TaskFailed => "tasks",
            Kind::AppInstalled | Kind::AppEventReceived => "apps",
            Kind::RecordCreated | Kind::RecordUpdated | Kind::RecordDeleted => "collections",
        }
    }
}

/// How often each event type occurs, per mille: chat and integrations dominate real traffic.
const MIX: [(Kind, u32); 14] = [
    (Kind::ConversationCreated, 30),
    (Kind::MessagePosted, 200),
    (Kind::MessageStream, 250),
    (Kind::FlowCreated, 10),
    (Kind::FlowUpdated, 20),
    (Kind::FlowRun, 80),
    (Kind::TaskCreated, 60),
    (Kind::TaskCompleted, 40),
    (Kind::TaskFailed, 12),
    (Kind::AppInstalled, 5),
    (Kind::AppEventReceived, 143),
    (Kind::RecordCreated, 60),
    (Kind::RecordUpdated, 70),
    (Kind::RecordDeleted, 20),
];

/// A deterministic, endless source of realistic platform events.
pub struct Simulator {
    gen: Gen,
    orgs: Vec<Org>,
    /// Cumulative weights: a few organizations produce most of the traffic, as in real tenancy.
    org_weights: Vec<f64>,
    start_ms: i64,
    /// Simulated milliseconds since `start`, with the fraction the clock does not show yet.
    elapsed_ms: f64,
    mean_gap_ms: f64,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Simulator {
        let start_ms = config.start.timestamp_millis();
        let mut gen = Gen::new(config.seed, start_ms);
        let orgs: Vec<Org> = (0..config.orgs.max(1))
            .map(|i| Org::new(&mut gen, i))
            .collect();
        let mut total = 0.0;
        let org_weights = (0..orgs.len())
            .map(|i| {
                total += 1.0 / (i as f64 + 1.0).powf(0.8);
                total
            })
            .collect();
        Simulator {
            gen,
            orgs,
            org_weights,
            start_ms,
            elapsed_ms: 0.0,
            mean_gap_ms: DEFAULT_MEAN_GAP_MS,
        }
    }

    /// Sets the average simulated time between events (40 ms unless set). A live publisher sets
    /// it to 1 / rate so that event timestamps keep pace with the wall clock.
    pub fn set_mean_gap(&mut self, gap: Duration) {
        self.mean_gap_ms = gap.as_secs_f64() * 1000.0;
    }

    /// The simulated organizations' ids.
    pub fn org_ids(&self) -> impl Iterator<Item = &str> {
        self.orgs.iter().map(|o| o.id.as_str())
    }

    /// The next event. The stream never ends.
    #[allow(clippy::should_implement_trait)] // an endless stream: an Option would only be noise
    pub fn next(&mut self) -> Envelope {
        self.tick();
        let total = *self.org_weights.last().expect("at least one organization");
        let target = self.gen.rng.random::<f64>() * total;
        let o = self
            .org_weights
            .partition_point(|w| *w <= target)
            .min(self.orgs.len() - 1);

        let mut roll = self.gen.rng.random_range(0..1000);
        let kind = MIX
            .iter()
            .find(|(_, weight)| {
                if roll < *weight {
                    return true;
                }
                roll -= weight;
                false
            })
            .map_or(Kind::MessagePosted, |(kind, _)| *kind);
        generate(&mut self.gen, &mut self.orgs[o], kind)
    }

    /// The next event of the first organization, of `kind` unless its resource must come first.
    fn next_of(&mut self, kind: Kind) -> Envelope {
        self.tick();
        generate(&mut self.gen, &mut self.orgs[0], kind)
    }

    /// Advances the clock by one gap between events.
    fn tick(&mut self) {
        let u: f64 = self.gen.rng.random();
        // Exponential gaps: events of independent users arrive as a Poisson process.
        self.elapsed_ms += -(1.0 - u).ln() * self.mean_gap_ms;
        self.gen.now_ms = self.start_ms + self.elapsed_ms as i64;
    }
}

impl Iterator for Simulator {
    type Item = Envelope;

    fn next(&mut self) -> Option<Envelope> {
        Some(Simulator::next(self))
    }
}

/// One event of `kind`, or of the kind that must come first when its resource does not exist.
fn generate(gen: &mut Gen, org: &mut Org, kind: Kind) -> Envelope {
    match kind {
        Kind::ConversationCreated => conversations::created(gen, org),
        Kind::MessagePosted => conversations::message_posted(gen, org),
        Kind::MessageStream => conversations::message_stream(gen, org),
        Kind::FlowCreated => flows::created(gen, org),
        Kind::FlowUpdated if org.flows.is_empty() => flows::created(gen, org),
        Kind::FlowUpdated => flows::updated(gen, org),
        Kind::FlowRun if org.flows.is_empty() => flows::created(gen, org),
        Kind::FlowRun => flows::run(gen, org),
        Kind::TaskCreated => tasks::created(gen, org),
        Kind::TaskCompleted | Kind::TaskFailed if org.tasks.is_empty() => tasks::created(gen, org),
        Kind::TaskCompleted => tasks::ended(gen, org, false),
        Kind::TaskFailed => tasks::ended(gen, org, true),
        Kind::AppInstalled => apps::installed(gen, org),
        Kind::AppEventReceived if org.apps.is_empty() => apps::installed(gen, org),
        Kind::AppEventReceived => apps::event_received(gen, org),
        Kind::RecordCreated => records::created(gen, org),
        Kind::RecordUpdated | Kind::RecordDeleted if org.records.is_empty() => {
            records::created(gen, org)
        }
        Kind::RecordUpdated => records::updated(gen, org),
        Kind::RecordDeleted => records::deleted(gen, org),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

    use super::state::{MAX_APPS, MAX_OPEN, MAX_STREAMS};
    use super::*;

    pub(super) fn sim(seed: u64) -> Simulator {
        Simulator::new(SimConfig {
            seed,
            ..SimConfig::default()
        })
    }

    /// The payload's keys of each event type, one line per type in alphabetical order.
    pub(super) fn shapes<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> String {
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for env in events {
            let map = env.payload.as_object().expect("payload is an object");
            keys.entry(env.name())
                .or_default()
                .extend(map.keys().cloned());
        }
        keys.iter()
            .map(|(name, keys)| {
                format!(
                    "{name}: {}",
                    keys.iter().cloned().collect::<Vec<_>>().join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// What every event type's payload holds; the catalogue's examples have the same shapes.
    pub(super) const SHAPES: &str = "\
app.event_received: app appId body channel externalId externalType
app.installed: app appId channel installedBy name version
conversation.created: channel conversationId createdBy participants title
conversation.message_posted: conversationId messageId participants sender text
conversation.message_stream: conversationId done index messageId sender token
flow.created: createdBy enabled flowId name steps trigger version
flow.run: durationMs flowId runId status steps trigger
flow.updated: changed enabled flowId name steps trigger updatedBy version
record.created: collection createdBy fields recordId
record.deleted: collection deletedBy recordId
record.updated: changed collection fields previous recordId updatedBy
task.completed: dueAt owner priority status taskId title
task.created: dueAt owner priority status taskId title
task.failed: attempt dueAt error owner priority status taskId title";

    #[test]
    fn every_internal_event_type_occurs_with_its_payload_shape() {
        let events: Vec<Envelope> = sim(1).take(20_000).collect();
        assert_eq!(shapes(&events), SHAPES);
    }

    #[test]
    fn lifecycles_are_consistent_over_100_000_events() {
        #[derive(Debug, PartialEq)]
        enum State {
            Live,
            Ended,
        }
        let mut resources: HashMap<(String, String), State> = HashMap::new();
        // messageId -> (next token index, finished)
        let mut streams: HashMap<String, (u64, bool)> = HashMap::new();
        let mut posted: HashSet<String> = HashSet::new();
        // runId -> finished
        let mut runs: HashMap<String, bool> = HashMap::new();
        let mut ids = HashSet::new();
        let mut last = String::new();
        for env in sim(7).take(100_000) {
            let name = env.name();
            let p = &env.payload;
            let key = (env.resource.clone(), env.resource_id.clone());
            assert!(ids.insert(env.id.clone()), "duplicate id {}", env.id);
            assert!(
                env.timestamp >= last,
                "{} went back in time from {last}",
                env.timestamp
            );
            last = env.timestamp.clone();

            match name.as_str() {
                "conversation.created"
                | "flow.created"
                | "task.created"
                | "app.installed"
                | "record.created" => {
                    assert_eq!(
                        resources.insert(key, State::Live),
                        None,
                        "{name} of an existing resource"
                    )
                }
                "task.completed" | "task.failed" | "record.deleted" => {
                    assert_eq!(
                        resources.insert(key, State::Ended),
                        Some(State::Live),
                        "{name} of {}",
                        env.resource_id
                    )
                }
                _ => assert_eq!(
                    resources.get(&key),
                    Some(&State::Live),
                    "{name} of {}",
                    env.resource_id
                ),
            }
            let id_field = match env.resource.as_str() {
                "conversation" => "conversationId",
                "flow" => "flowId",
                "task" => "taskId",
                "app" => "appId",
                _ => "recordId",
            };
            assert_eq!(p[id_field], env.resource_id.as_str(), "{name}: {p}");

            match name.as_str() {
                "conversation.message_stream" => {
                    let (next, done) = streams
                        .entry(p["messageId"].as_str().unwrap().to_string())
                        .or_default();
                    assert!(!*done, "a token after the end of {p}");
                    assert_eq!(p["index"].as_u64(), Some(*next), "{p}");
                    assert_eq!(p["sender"]["type"], "agent");
                    *next += 1;
                    *done = p["done"].as_bool().unwrap();
                }
                "conversation.message_posted" => {
                    let message = p["messageId"].as_str().unwrap();
                    assert!(posted.insert(message.to_string()), "{message} posted twice");
                    if let Some((_, done)) = streams.get(message) {
                        assert!(*done, "{message} posted while still streaming");
                    }
                    let sender = p["sender"]["id"].as_str().unwrap();
                    assert!(
                        p["participants"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|id| id == sender),
                        "{p}"
                    );
                }
                "flow.run" => {
                    let finished = runs
                        .entry(p["runId"].as_str().unwrap().to_string())
                        .or_default();
                    assert!(!*finished, "a finished run reported again: {p}");
                    *finished = p["status"] != "running";
                }
                "task.failed" => {
                    assert!(
                        p["error"]["code"].is_string() && p["error"]["message"].is_string(),
                        "{p}"
                    );
                    assert!((1..=3).contains(&p["attempt"].as_u64().unwrap()), "{p}");
                }
                _ => {}
            }
        }
        assert!(streams.values().filter(|(_, done)| *done).count() > 800);
        assert!(runs.values().filter(|finished| !**finished).count() < runs.len() / 2);
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<Envelope> = sim(42).take(2_000).collect();
        let b: Vec<Envelope> = sim(42).take(2_000).collect();
        let c: Vec<Envelope> = sim(43).take(2_000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn events_weigh_400_to_600_bytes_on_average() {
        let mut per_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let (mut total, mut within) = (0, 0);
        for env in sim(3).take(10_000) {
            let size = serde_json::to_vec(&env).unwrap().len();
            total += size;
            within += usize::from((400..=600).contains(&size));
            let entry = per_type.entry(env.name()).or_default();
            entry.0 += 1;
            entry.1 += size;
        }
        let mean = total / 10_000;
        let detail: Vec<String> = per_type
            .iter()
            .map(|(name, (n, bytes))| format!("{name} {}", bytes / n))
            .collect();
        assert!(
            (400..=600).contains(&mean),
            "mean {mean} bytes; per type: {detail:#?}"
        );
        assert!(
            within >= 9_000,
            "{within} of 10,000 events weigh 400 to 600 bytes"
        );
    }

    #[test]
    fn subjects_are_valid_and_carry_filters() {
        let mut orgs = BTreeSet::new();
        let mut filter_keys = BTreeSet::new();
        let mut tags = BTreeSet::new();
        for env in sim(5).take(10_000) {
            let subject = env.subject().unwrap_or_else(|e| panic!("{e}: {env:?}"));
            let parts = crate::topic::parse(&subject).unwrap();
            assert_eq!(parts.org, env.organization_id);
            assert_eq!(parts.filters.len(), env.metadata.filters.len());
            assert!(chrono::DateTime::parse_from_rfc3339(&env.timestamp).is_ok());
            assert_eq!(env.timestamp.len(), "2026-01-01T09:00:00.000Z".len());
            assert!(
                env.id.starts_with("evt_") && env.id.len() == 30,
                "{}",
                env.id
            );
            assert!(crate::event::decode(&serde_json::to_vec(&env).unwrap())
                .problems
                .is_empty());
            orgs.insert(env.organization_id);
            filter_keys.extend(env.metadata.filters.into_iter().map(|(k, _)| k));
            tags.extend(env.metadata.tags);
        }
        assert_eq!(orgs.len(), 8);
        assert!(
            orgs.iter().all(|o| o.len() == 12 && o.starts_with("org_")),
            "{orgs:?}"
        );
        assert_eq!(
            filter_keys.into_iter().collect::<Vec<_>>().join(" "),
            "app channel collection owner participant status trigger"
        );
        assert!(tags.contains("internal") && tags.len() >= 2, "{tags:?}");
    }

    #[test]
    fn starts_at_the_configured_time_and_advances() {
        let mut s = Simulator::new(SimConfig {
            seed: 9,
            orgs: 1,
            start: SimConfig::default().start,
        });
        assert_eq!(s.org_ids().count(), 1);
        let first = s.next();
        let later = s.by_ref().nth(999).unwrap();
        assert!(
            first.timestamp.starts_with("2026-01-01T09:00:0"),
            "{}",
            first.timestamp
        );
        // 1,000 events 40 ms apart on average: about 40 s.
        assert!(
            later.timestamp.as_str() > "2026-01-01T09:00:30"
                && later.timestamp.as_str() < "2026-01-01T09:00:50",
            "{}",
            later.timestamp
        );

        s.set_mean_gap(Duration::from_secs(60));
        let hour_later = s.by_ref().nth(59).unwrap();
        assert!(
            hour_later.timestamp.as_str() > "2026-01-01T09:30",
            "{}",
            hour_later.timestamp
        );
    }

    #[test]
    fn live_state_stays_bounded() {
        let mut s = sim(11);
        for _ in 0..300_000 {
            s.next();
        }
        for org in &s.orgs {
            assert!(org.conversations.len() <= MAX_OPEN);
            assert!(org.flows.len() <= MAX_OPEN);
            assert!(org.tasks.len() <= MAX_OPEN);
            assert!(org.records.len() <= MAX_OPEN);
            assert!(org.apps.len() <= MAX_APPS);
            assert!(org.streams.len() <= MAX_STREAMS && org.replies.len() <= MAX_STREAMS);
        }
        assert_eq!(
            s.orgs[0].tasks.len(),
            MAX_OPEN,
            "the busiest organization reached the bound"
        );
    }

    #[test]
    fn event_ids_sort_by_time() {
        assert_eq!(event_id(0, 0), "evt_00000000000000000000000000");
        assert_eq!(
            event_id(1_767_225_600_000, 1),
            "evt_01KDVDNA000000000000000001"
        );
        assert!(event_id(1_767_225_600_001, 0) > event_id(1_767_225_600_000, u128::MAX));
    }
}
