//! Simulated platform traffic: a seeded generator of realistic envelopes, and a paced publisher.
//!
//! The generator plays many organizations at once and keeps every lifecycle the platform has
//! consistent (a conversation exists before anyone posts in it, a task ends at most once, a
//! deleted record is never touched again, ...), so that what a user sees in Eventscope reads
//! like real traffic. Live state is bounded per organization: old resources retire and simply
//! get no more events, which keeps memory flat over any number of events.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use thiserror::Error;

use crate::event::{Envelope, Metadata};
use crate::topic::TopicError;

/// Open resources of one kind an organization keeps before the oldest retires.
const MAX_OPEN: usize = 200;
/// Agent replies being streamed at once in one organization.
const MAX_STREAMS: usize = 16;
/// Installed apps per organization.
const MAX_APPS: usize = 24;
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

/// Kinds of id, each with its own counter so that ids of a kind are unique by construction.
#[derive(Clone, Copy)]
enum Slot {
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
struct Gen {
    rng: StdRng,
    key: u64,
    counters: [u64; SLOTS],
    now_ms: i64,
}

impl Gen {
    /// `prefix_` and 8 base-36 characters that look random but never repeat within a run: the
    /// slot's counter through a bijection of 40-bit numbers.
    fn mint(&mut self, prefix: &str, slot: Slot) -> String {
        let n = self.counters[slot as usize];
        self.counters[slot as usize] += 1;
        let x = scramble40(n, self.key.wrapping_add(slot as u64 * 0x9E37_79B9));
        format!("{prefix}_{}", base36(x, 8))
    }

    fn event_id(&mut self) -> String {
        let n = self.counters[Slot::Event as usize];
        self.counters[Slot::Event as usize] += 1;
        let unique = scramble40(n, self.key) as u128;
        let noise = self.rng.random::<u64>() as u128 & ((1 << 40) - 1);
        event_id(self.now_ms, (unique << 40) | noise)
    }

    fn timestamp(&self) -> String {
        rfc3339(self.now_ms)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *items.choose(&mut self.rng).expect("a non-empty table")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// An index into `len` items, favouring the newest (the end): recent resources are busier.
    fn recent(&mut self, len: usize) -> usize {
        let u: f64 = self.rng.random();
        len - 1 - ((u * u * len as f64) as usize).min(len - 1)
    }
}

const MASK40: u64 = (1 << 40) - 1;

/// A bijection of 40-bit numbers: xor, odd multiplications and xor-shifts each are one.
fn scramble40(n: u64, key: u64) -> u64 {
    let mut x = (n ^ key) & MASK40;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & MASK40;
    x ^= x >> 20;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & MASK40;
    x ^= x >> 17;
    x
}

fn base36(mut x: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(x % 36) as usize];
        x /= 36;
    }
    String::from_utf8(out).expect("ASCII digits")
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
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

struct Person {
    id: String,
    name: String,
    email: String,
    agent: bool,
}

impl Person {
    fn sender(&self) -> Value {
        json!({"id": self.id, "name": self.name, "type": if self.agent { "agent" } else { "user" }})
    }

    fn actor(&self) -> Value {
        json!({"id": self.id, "name": self.name})
    }

    fn owner(&self) -> Value {
        json!({"id": self.id, "name": self.name, "email": self.email})
    }
}

struct Conversation {
    id: String,
    /// Indexes into the organization's people.
    participants: Vec<usize>,
    streaming: bool,
}

/// An agent reply being streamed token by token.
struct Stream {
    conversation: String,
    message: String,
    agent: usize,
    text: &'static str,
    /// Byte offset of the next token.
    pos: usize,
    index: u32,
}

/// A streamed reply that is complete and waits to be posted as a message.
struct Reply {
    conversation: String,
    message: String,
    agent: usize,
    text: &'static str,
}

struct Flow {
    id: String,
    name: &'static str,
    trigger: &'static str,
    steps: Vec<&'static str>,
    version: u32,
    enabled: bool,
    /// A run reported as `running` that has not finished yet.
    run: Option<OpenRun>,
}

struct OpenRun {
    id: String,
    started_ms: i64,
    steps_done: usize,
}

struct Task {
    id: String,
    title: String,
    owner: usize,
    priority: &'static str,
    due_at: String,
}

struct App {
    id: String,
    kind: &'static AppKind,
}

struct Record {
    id: String,
    collection: &'static str,
    fields: Map<String, Value>,
}

struct Org {
    id: String,
    company: String,
    domain: String,
    tags: Vec<&'static str>,
    /// Users first, then agents.
    people: Vec<Person>,
    users: usize,
    conversations: VecDeque<Conversation>,
    streams: Vec<Stream>,
    replies: VecDeque<Reply>,
    flows: VecDeque<Flow>,
    tasks: VecDeque<Task>,
    apps: VecDeque<App>,
    records: VecDeque<Record>,
}

impl Org {
    fn new(gen: &mut Gen, index: usize) -> Org {
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
            conversations: VecDeque::new(),
            streams: Vec::new(),
            replies: VecDeque::new(),
            flows: VecDeque::new(),
            tasks: VecDeque::new(),
            apps: VecDeque::new(),
            records: VecDeque::new(),
        }
    }

    fn user(&self, gen: &mut Gen) -> usize {
        gen.rng.random_range(0..self.users)
    }

    fn agent(&self, gen: &mut Gen) -> usize {
        gen.rng.random_range(self.users..self.people.len())
    }

    fn envelope(
        &self,
        gen: &mut Gen,
        (source, resource, event): (&str, &str, &str),
        resource_id: &str,
        payload: Value,
        filters: Vec<(String, String)>,
    ) -> Envelope {
        let mut tags: Vec<String> = self.tags.iter().map(|t| t.to_string()).collect();
        if gen.chance(0.04) {
            tags.push("internal".into());
        }
        Envelope {
            id: gen.event_id(),
            organization_id: self.id.clone(),
            source: source.into(),
            resource: resource.into(),
            resource_id: resource_id.into(),
            event_name: event.into(),
            timestamp: gen.timestamp(),
            payload,
            metadata: Metadata { filters, tags },
        }
    }
}

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
        let mut gen = Gen {
            rng: StdRng::seed_from_u64(config.seed),
            key: 0,
            counters: [0; SLOTS],
            now_ms: start_ms,
        };
        gen.key = gen.rng.random();
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
        let u: f64 = self.gen.rng.random();
        // Exponential gaps: events of independent users arrive as a Poisson process.
        self.elapsed_ms += -(1.0 - u).ln() * self.mean_gap_ms;
        self.gen.now_ms = self.start_ms + self.elapsed_ms as i64;

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
        Kind::ConversationCreated => conversation_created(gen, org),
        Kind::MessagePosted => message_posted(gen, org),
        Kind::MessageStream => message_stream(gen, org),
        Kind::FlowCreated => flow_created(gen, org),
        Kind::FlowUpdated if org.flows.is_empty() => flow_created(gen, org),
        Kind::FlowUpdated => flow_updated(gen, org),
        Kind::FlowRun if org.flows.is_empty() => flow_created(gen, org),
        Kind::FlowRun => flow_run(gen, org),
        Kind::TaskCreated => task_created(gen, org),
        Kind::TaskCompleted | Kind::TaskFailed if org.tasks.is_empty() => task_created(gen, org),
        Kind::TaskCompleted => task_ended(gen, org, false),
        Kind::TaskFailed => task_ended(gen, org, true),
        Kind::AppInstalled => app_installed(gen, org),
        Kind::AppEventReceived if org.apps.is_empty() => app_installed(gen, org),
        Kind::AppEventReceived => app_event_received(gen, org),
        Kind::RecordCreated => record_created(gen, org),
        Kind::RecordUpdated | Kind::RecordDeleted if org.records.is_empty() => {
            record_created(gen, org)
        }
        Kind::RecordUpdated => record_updated(gen, org),
        Kind::RecordDeleted => record_deleted(gen, org),
    }
}

const CONVERSATION: (&str, &str) = ("conversations", "conversation");

fn conversation_created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("conv", Slot::Conversation);
    let users = gen.rng.random_range(1..=3).min(org.users);
    let mut participants: Vec<usize> = rand::seq::index::sample(&mut gen.rng, org.users, users)
        .into_iter()
        .collect();
    if gen.chance(0.85) {
        participants.push(org.agent(gen));
    }
    let channel = gen.pick(&["web", "web", "email", "whatsapp", "sms", "slack"]);
    let title = gen
        .pick(CONVERSATION_TITLES)
        .replace("{n}", &gen.rng.random_range(1000..99999).to_string());
    let payload = json!({
        "conversationId": id,
        "title": title,
        "channel": channel,
        "participants": participants.iter().map(|p| &org.people[*p].id).collect::<Vec<_>>(),
        "createdBy": org.people[participants[0]].actor(),
    });
    let env = org.envelope(
        gen,
        (CONVERSATION.0, CONVERSATION.1, "created"),
        &id,
        payload,
        vec![("channel".into(), channel.into())],
    );
    org.conversations.push_back(Conversation {
        id,
        participants,
        streaming: false,
    });
    if org.conversations.len() > MAX_OPEN {
        if let Some(old) = org.conversations.pop_front() {
            org.streams.retain(|s| s.conversation != old.id);
        }
    }
    env
}

fn message_posted(gen: &mut Gen, org: &mut Org) -> Envelope {
    // A finished stream is posted as a whole message before anything else is said.
    if let Some(reply) = org.replies.pop_front() {
        let conversation = org
            .conversations
            .iter()
            .find(|c| c.id == reply.conversation);
        let participants = conversation
            .map(|c| c.participants.clone())
            .unwrap_or_default();
        return posted(
            gen,
            org,
            &reply.conversation,
            &participants,
            reply.agent,
            reply.message,
            reply.text.to_string(),
        );
    }
    if org.conversations.is_empty() {
        return conversation_created(gen, org);
    }
    let c = gen.recent(org.conversations.len());
    let participants = org.conversations[c].participants.clone();
    let conversation = org.conversations[c].id.clone();
    let sender = *participants.choose(&mut gen.rng).expect("participants");
    let lines = if org.people[sender].agent {
        AGENT_LINES
    } else {
        USER_LINES
    };
    let mut text = gen.pick(lines).to_string();
    if gen.chance(0.3) {
        text.push(' ');
        text.push_str(gen.pick(lines));
    }
    let message = gen.mint("msg", Slot::Message);
    posted(
        gen,
        org,
        &conversation,
        &participants,
        sender,
        message,
        text,
    )
}

fn posted(
    gen: &mut Gen,
    org: &Org,
    conversation: &str,
    participants: &[usize],
    sender: usize,
    message: String,
    text: String,
) -> Envelope {
    let payload = json!({
        "conversationId": conversation,
        "messageId": message,
        "sender": org.people[sender].sender(),
        "text": text,
        "participants": participants.iter().map(|p| &org.people[*p].id).collect::<Vec<_>>(),
    });
    org.envelope(
        gen,
        (CONVERSATION.0, CONVERSATION.1, "message_posted"),
        conversation,
        payload,
        vec![("participant".into(), org.people[sender].id.clone())],
    )
}

fn message_stream(gen: &mut Gen, org: &mut Org) -> Envelope {
    let continue_one =
        !org.streams.is_empty() && (org.streams.len() >= MAX_STREAMS || gen.chance(0.8));
    if !continue_one {
        if org.conversations.is_empty() {
            return conversation_created(gen, org);
        }
        // Only a conversation with an agent in it, and not already streaming, gets a new reply.
        let found = (0..4)
            .map(|_| gen.recent(org.conversations.len()))
            .find(|c| {
                let c = &org.conversations[*c];
                !c.streaming && c.participants.iter().any(|p| org.people[*p].agent)
            });
        match found {
            Some(c) => {
                let conversation = &mut org.conversations[c];
                conversation.streaming = true;
                let agent = *conversation
                    .participants
                    .iter()
                    .find(|p| org.people[**p].agent)
                    .expect("an agent");
                let conversation = conversation.id.clone();
                org.streams.push(Stream {
                    conversation,
                    message: gen.mint("msg", Slot::Message),
                    agent,
                    text: gen.pick(REPLIES),
                    pos: 0,
                    index: 0,
                });
            }
            None if org.streams.is_empty() => return message_posted(gen, org),
            None => {}
        }
    }
    let s = if continue_one {
        gen.rng.random_range(0..org.streams.len())
    } else {
        org.streams.len() - 1
    };
    let stream = &mut org.streams[s];
    let rest = &stream.text[stream.pos..];
    // A token is a word with its leading space, as language models stream them.
    let len = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ')
        .map_or(rest.len(), |(i, _)| i);
    let token = &rest[..len];
    stream.pos += len;
    let done = stream.pos >= stream.text.len();
    let payload = json!({
        "conversationId": stream.conversation,
        "messageId": stream.message,
        "sender": org.people[stream.agent].sender(),
        "index": stream.index,
        "token": token,
        "done": done,
    });
    stream.index += 1;
    let env = org.envelope(
        gen,
        (CONVERSATION.0, CONVERSATION.1, "message_stream"),
        &org.streams[s].conversation,
        payload,
        vec![],
    );
    if done {
        let stream = org.streams.swap_remove(s);
        if let Some(c) = org
            .conversations
            .iter_mut()
            .find(|c| c.id == stream.conversation)
        {
            c.streaming = false;
        }
        org.replies.push_back(Reply {
            conversation: stream.conversation,
            message: stream.message,
            agent: stream.agent,
            text: stream.text,
        });
        if org.replies.len() > MAX_STREAMS {
            org.replies.pop_front();
        }
    }
    env
}

const FLOW: (&str, &str) = ("flows", "flow");

fn flow_created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("flow", Slot::Flow);
    let name = gen.pick(FLOW_NAMES);
    let trigger = gen.pick(TRIGGERS);
    let count = gen.rng.random_range(2..=4);
    let steps: Vec<&'static str> = STEPS
        .choose_multiple(&mut gen.rng, count)
        .copied()
        .collect();
    let author = org.user(gen);
    let payload = json!({
        "flowId": id,
        "name": name,
        "trigger": trigger,
        "steps": steps,
        "version": 1,
        "enabled": true,
        "createdBy": org.people[author].actor(),
    });
    let env = org.envelope(
        gen,
        (FLOW.0, FLOW.1, "created"),
        &id,
        payload,
        vec![("trigger".into(), trigger.into())],
    );
    org.flows.push_back(Flow {
        id,
        name,
        trigger,
        steps,
        version: 1,
        enabled: true,
        run: None,
    });
    if org.flows.len() > MAX_OPEN {
        org.flows.pop_front();
    }
    env
}

fn flow_updated(gen: &mut Gen, org: &mut Org) -> Envelope {
    let f = gen.recent(org.flows.len());
    let author = org.user(gen);
    let changed = gen.pick(&["steps", "steps", "trigger", "enabled", "name"]);
    let flow = &mut org.flows[f];
    match changed {
        "steps" => {
            let step = *STEPS.choose(&mut gen.rng).expect("steps");
            if flow.steps.len() < 4 && !flow.steps.contains(&step) {
                flow.steps.push(step);
            } else if flow.steps.len() > 1 {
                flow.steps.pop();
            }
        }
        "trigger" => flow.trigger = *TRIGGERS.choose(&mut gen.rng).expect("triggers"),
        "enabled" => flow.enabled = !flow.enabled,
        _ => flow.name = *FLOW_NAMES.choose(&mut gen.rng).expect("names"),
    }
    flow.version += 1;
    let payload = json!({
        "flowId": flow.id,
        "name": flow.name,
        "version": flow.version,
        "changed": [changed],
        "trigger": flow.trigger,
        "steps": flow.steps,
        "enabled": flow.enabled,
        "updatedBy": org.people[author].actor(),
    });
    let org = &*org;
    org.envelope(
        gen,
        (FLOW.0, FLOW.1, "updated"),
        &org.flows[f].id,
        payload,
        vec![],
    )
}

fn flow_run(gen: &mut Gen, org: &mut Org) -> Envelope {
    let f = gen.recent(org.flows.len());
    let now = gen.now_ms;
    let flow = &mut org.flows[f];
    let (run_id, started_ms, finished, done_before) = match flow.run.take() {
        Some(run) => (run.id, run.started_ms, true, run.steps_done),
        None => {
            let id = gen.mint("run", Slot::Run);
            let started = now - gen.rng.random_range(20..4_000);
            (id, started, gen.chance(0.8), 0)
        }
    };
    // An update may have shortened the flow while a run was open.
    let total = flow.steps.len();
    let done_before = done_before.min(total - 1);
    let failed = finished && gen.chance(0.12);
    // Steps finished so far; a failed run stops at the failing step.
    let reached = if finished && !failed {
        total
    } else {
        gen.rng.random_range(done_before..total)
    };
    let status = match (finished, failed) {
        (false, _) => "running",
        (true, true) => "failed",
        (true, false) => "succeeded",
    };
    let steps: Vec<Value> = flow
        .steps
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let state = match i.cmp(&reached) {
                std::cmp::Ordering::Less => "succeeded",
                std::cmp::Ordering::Equal if failed => "failed",
                std::cmp::Ordering::Equal if !finished => "running",
                _ => "pending",
            };
            json!({"name": name, "status": state})
        })
        .collect();
    if !finished {
        flow.run = Some(OpenRun {
            id: run_id.clone(),
            started_ms,
            steps_done: reached,
        });
    }
    let payload = json!({
        "flowId": flow.id,
        "runId": run_id,
        "status": status,
        "durationMs": (now - started_ms).max(1),
        "trigger": flow.trigger,
        "steps": steps,
    });
    let org = &*org;
    org.envelope(
        gen,
        (FLOW.0, FLOW.1, "run"),
        &org.flows[f].id,
        payload,
        vec![("status".into(), status.into())],
    )
}

const TASK: (&str, &str) = ("tasks", "task");

fn task_created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("task", Slot::Task);
    let owner = org.user(gen);
    let template = gen.pick(TASK_TITLES);
    let title = fill(gen, org, template);
    let priority = gen.pick(&["low", "normal", "normal", "normal", "high", "urgent"]);
    let due_at =
        rfc3339(gen.now_ms + gen.rng.random_range(1..=14) * 86_400_000 - gen.now_ms % 3_600_000);
    let payload = json!({
        "taskId": id,
        "title": title,
        "owner": org.people[owner].owner(),
        "priority": priority,
        "dueAt": due_at,
        "status": "open",
    });
    let env = org.envelope(
        gen,
        (TASK.0, TASK.1, "created"),
        &id,
        payload,
        vec![("owner".into(), org.people[owner].id.clone())],
    );
    org.tasks.push_back(Task {
        id,
        title,
        owner,
        priority,
        due_at,
    });
    if org.tasks.len() > MAX_OPEN {
        org.tasks.pop_front();
    }
    env
}

fn task_ended(gen: &mut Gen, org: &mut Org, failed: bool) -> Envelope {
    let t = gen.rng.random_range(0..org.tasks.len());
    let task = org.tasks.remove(t).expect("an open task");
    let owner = &org.people[task.owner];
    let mut payload = json!({
        "taskId": task.id,
        "title": task.title,
        "owner": owner.owner(),
        "priority": task.priority,
        "dueAt": task.due_at,
        "status": if failed { "failed" } else { "completed" },
    });
    if failed {
        let (code, message) = gen.pick(TASK_ERRORS);
        payload["error"] = json!({"code": code, "message": message});
        payload["attempt"] = json!(gen.rng.random_range(1..=3));
    }
    let event = if failed { "failed" } else { "completed" };
    org.envelope(
        gen,
        (TASK.0, TASK.1, event),
        &task.id,
        payload,
        vec![("owner".into(), owner.id.clone())],
    )
}

const APP: (&str, &str) = ("apps", "app");

fn app_installed(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("app", Slot::App);
    let kind = APPS.choose(&mut gen.rng).expect("apps");
    let by = org.user(gen);
    let version = format!(
        "{}.{}.{}",
        gen.rng.random_range(1..4),
        gen.rng.random_range(0..12),
        gen.rng.random_range(0..20)
    );
    let payload = json!({
        "appId": id,
        "app": kind.key,
        "name": kind.name,
        "version": version,
        "channel": kind.channel,
        "installedBy": org.people[by].actor(),
    });
    let env = org.envelope(
        gen,
        (APP.0, APP.1, "installed"),
        &id,
        payload,
        vec![("app".into(), kind.key.into())],
    );
    org.apps.push_back(App { id, kind });
    if org.apps.len() > MAX_APPS {
        org.apps.pop_front();
    }
    env
}

fn app_event_received(gen: &mut Gen, org: &mut Org) -> Envelope {
    let a = gen.rng.random_range(0..org.apps.len());
    let kind = org.apps[a].kind;
    let external_type = gen.pick(kind.types);
    let external_id = gen.mint(kind.key, Slot::External);
    let body = external_body(gen, org, kind.key);
    let payload = json!({
        "appId": org.apps[a].id,
        "app": kind.key,
        "channel": kind.channel,
        "externalType": external_type,
        "externalId": external_id,
        "body": body,
    });
    org.envelope(
        gen,
        (APP.0, APP.1, "event_received"),
        &org.apps[a].id,
        payload,
        vec![("channel".into(), kind.channel.into())],
    )
}

/// The body an external system would send, shaped like that system's own events.
fn external_body(gen: &mut Gen, org: &Org, app: &str) -> Value {
    let rng = &mut gen.rng;
    let person = &org.people[rng.random_range(0..org.users)];
    match app {
        "stripe" => json!({
            "object": "invoice",
            "id": format!("in_{}", base36(rng.random::<u64>() & MASK40, 10)),
            "customer": format!("cus_{}", base36(rng.random::<u64>() & MASK40, 8)),
            "amount": rng.random_range(5..2_000) * 100,
            "currency": *["usd", "eur", "gbp"].choose(rng).expect("currencies"),
        }),
        "github" => json!({
            "repository": format!("{}/{}", org.domain.split('.').next().unwrap_or("acme"), *["api", "web", "infra", "mobile"].choose(rng).expect("repos")),
            "ref": "refs/heads/main",
            "sender": person.email.split('@').next().unwrap_or("octocat"),
            "commits": rng.random_range(1..8),
        }),
        "shopify" => json!({
            "orderNumber": rng.random_range(1001..99_999),
            "totalPrice": format!("{}.{:02}", rng.random_range(9..900), rng.random_range(0..100)),
            "currency": *["CAD", "USD", "EUR"].choose(rng).expect("currencies"),
            "lineItems": rng.random_range(1..6),
        }),
        "slack" => json!({
            "channel": *["#support", "#sales", "#général", "#incidents"].choose(rng).expect("channels"),
            "user": person.name,
            "text": *USER_LINES.choose(rng).expect("lines"),
        }),
        "hubspot" => json!({
            "objectId": rng.random_range(10_000_000..99_999_999),
            "propertyName": "dealstage",
            "propertyValue": *["appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"].choose(rng).expect("stages"),
        }),
        "zendesk" => json!({
            "ticketId": rng.random_range(1_000..200_000),
            "subject": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "requester": person.email,
        }),
        "twilio" => json!({
            "from": format!("+4915{:09}", rng.random_range(0..1_000_000_000u64)),
            "to": "+14155550100",
            "body": *USER_LINES.choose(rng).expect("lines"),
        }),
        "calendly" => json!({
            "event": *["Intro call", "Product demo", "Onboarding session"].choose(rng).expect("events"),
            "invitee": person.name,
            "startTime": rfc3339(gen.now_ms + 86_400_000 - gen.now_ms % 1_800_000),
        }),
        "jira" => json!({
            "issueKey": format!("OPS-{}", rng.random_range(100..9_999)),
            "summary": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "status": *["To Do", "In Progress", "Done"].choose(rng).expect("statuses"),
        }),
        _ => json!({
            "conversationId": rng.random_range(100_000..999_999).to_string(),
            "author": person.email,
            "body": *USER_LINES.choose(rng).expect("lines"),
        }),
    }
}

const RECORD: (&str, &str) = ("collections", "record");

fn record_created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("rec", Slot::Record);
    let collection = gen.pick(COLLECTIONS);
    let fields = record_fields(gen, org, collection);
    let by = org.user(gen);
    let payload = json!({
        "collection": collection,
        "recordId": id,
        "fields": fields,
        "createdBy": org.people[by].actor(),
    });
    let env = org.envelope(
        gen,
        (RECORD.0, RECORD.1, "created"),
        &id,
        payload,
        vec![("collection".into(), collection.into())],
    );
    org.records.push_back(Record {
        id,
        collection,
        fields,
    });
    if org.records.len() > MAX_OPEN {
        org.records.pop_front();
    }
    env
}

fn record_updated(gen: &mut Gen, org: &mut Org) -> Envelope {
    let r = gen.recent(org.records.len());
    let collection = org.records[r].collection;
    let fresh = record_fields(gen, org, collection);
    let field = gen.pick(mutable_fields(collection));
    let by = org.user(gen);
    let record = &mut org.records[r];
    let previous = record
        .fields
        .insert(field.to_string(), fresh[field].clone())
        .unwrap_or(Value::Null);
    let payload = json!({
        "collection": collection,
        "recordId": record.id,
        "changed": [field],
        "previous": {field: previous},
        "fields": record.fields,
        "updatedBy": org.people[by].actor(),
    });
    let org = &*org;
    org.envelope(
        gen,
        (RECORD.0, RECORD.1, "updated"),
        &org.records[r].id,
        payload,
        vec![("collection".into(), collection.into())],
    )
}

fn record_deleted(gen: &mut Gen, org: &mut Org) -> Envelope {
    let r = gen.rng.random_range(0..org.records.len());
    let record = org.records.remove(r).expect("a live record");
    let by = org.user(gen);
    let payload = json!({
        "collection": record.collection,
        "recordId": record.id,
        "deletedBy": org.people[by].actor(),
    });
    org.envelope(
        gen,
        (RECORD.0, RECORD.1, "deleted"),
        &record.id,
        payload,
        vec![("collection".into(), record.collection.into())],
    )
}

fn record_fields(gen: &mut Gen, org: &Org, collection: &str) -> Map<String, Value> {
    let rng = &mut gen.rng;
    let person = &org.people[rng.random_range(0..org.users)];
    let company = COMPANIES.choose(rng).expect("companies").0;
    let value = match collection {
        "contacts" => {
            let (first, first_ascii) = *FIRST_NAMES.choose(rng).expect("names");
            let (last, last_ascii) = *LAST_NAMES.choose(rng).expect("names");
            json!({
                "name": format!("{first} {last}"),
                "email": format!("{first_ascii}.{last_ascii}@example.com"),
                "company": company,
                "stage": *["lead", "qualified", "customer", "churned"].choose(rng).expect("stages"),
            })
        }
        "deals" => json!({
            "title": format!("{company} – {} plan", *["Team", "Business", "Enterprise"].choose(rng).expect("plans")),
            "amount": rng.random_range(12..900) * 100,
            "currency": *["EUR", "USD", "GBP"].choose(rng).expect("currencies"),
            "stage": *["prospecting", "proposal", "negotiation", "closedwon", "closedlost"].choose(rng).expect("stages"),
            "ownerId": person.id,
        }),
        "tickets" => json!({
            "subject": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "status": *["open", "pending", "solved"].choose(rng).expect("statuses"),
            "priority": *["low", "normal", "high", "urgent"].choose(rng).expect("priorities"),
            "requester": person.email,
        }),
        "orders" => json!({
            "number": format!("SO-{}", rng.random_range(10_000..99_999)),
            "total": format!("{}.{:02}", rng.random_range(5..2_000), rng.random_range(0..100)),
            "currency": *["EUR", "USD", "GBP"].choose(rng).expect("currencies"),
            "status": *["pending", "paid", "shipped", "refunded"].choose(rng).expect("statuses"),
            "items": rng.random_range(1..7),
        }),
        _ => json!({
            "sku": format!("SKU-{}-{}", rng.random_range(1000..9999), *["BLK", "WHT", "RED", "XL"].choose(rng).expect("variants")),
            "name": *PRODUCTS.choose(rng).expect("products"),
            "price": format!("{}.{:02}", rng.random_range(3..1_500), *[0, 49, 90, 99].choose(rng).expect("cents")),
            "stock": rng.random_range(0..500),
        }),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn mutable_fields(collection: &str) -> &'static [&'static str] {
    match collection {
        "contacts" => &["stage", "stage", "company"],
        "deals" => &["stage", "amount"],
        "tickets" => &["status", "status", "priority"],
        "orders" => &["status"],
        _ => &["stock", "stock", "price"],
    }
}

/// Fills a template's `{name}`, `{company}` and `{n}` with this organization's details.
fn fill(gen: &mut Gen, org: &Org, template: &str) -> String {
    let person = &org.people[gen.rng.random_range(0..org.users)];
    let first = person.name.split(' ').next().unwrap_or("Alex");
    let company = if gen.chance(0.5) {
        org.company.as_str()
    } else {
        COMPANIES.choose(&mut gen.rng).expect("companies").0
    };
    template
        .replace("{name}", first)
        .replace("{company}", company)
        .replace("{n}", &gen.rng.random_range(1000..99_999).to_string())
}

/// How often and how fast [`run`] publishes, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Events per second; `None` publishes as fast as the connection takes them.
    pub rate_per_sec: Option<f64>,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(u64),
    Duration(Duration),
    Forever,
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimReport {
    pub sent: u64,
    /// Bytes of event bodies published.
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Error)]
pub enum SimError {
    #[error("invalid rate {0}: expected a positive number of events per second")]
    BadRate(f64),
    #[error("a simulated event has no valid subject")]
    Subject(#[from] TopicError),
    #[error("cannot encode a simulated event")]
    Encode(#[from] serde_json::Error),
    #[error("cannot publish on {subject}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::PublishError,
    },
    #[error("cannot flush the connection")]
    Flush(#[from] async_nats::client::FlushError),
}

/// Ticks of the pacing clock: often enough that a burst stays small, rare enough to be cheap.
const TICK: Duration = Duration::from_millis(10);

/// Publishes simulated events on their subjects as compact JSON, paced, until the limit; then
/// flushes. Dropping the future stops it between two events.
pub async fn run(
    client: &async_nats::Client,
    sim: &mut Simulator,
    pace: Pace,
) -> Result<SimReport, SimError> {
    if let Some(rate) = pace.rate_per_sec {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(SimError::BadRate(rate));
        }
    }
    let started = tokio::time::Instant::now();
    let deadline = match pace.limit {
        Limit::Duration(d) => Some(started + d),
        _ => None,
    };
    let count = match pace.limit {
        Limit::Count(n) => n,
        _ => u64::MAX,
    };
    let mut report = SimReport {
        sent: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    let before_deadline = || deadline.is_none_or(|d| tokio::time::Instant::now() < d);

    match pace.rate_per_sec {
        None => {
            while report.sent < count && before_deadline() {
                for _ in 0..(count - report.sent).min(1024) {
                    publish_one(client, sim, &mut report).await?;
                }
                // Publishing into a roomy buffer may never wait: let other tasks run.
                tokio::task::yield_now().await;
            }
        }
        Some(rate) => {
            // Slow rates tick once per event; fast ones once per TICK with a burst each.
            let period = TICK.max(Duration::from_secs_f64((1.0 / rate).min(3600.0)));
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while report.sent < count {
                match deadline {
                    Some(d) => tokio::select! {
                        _ = ticker.tick() => {}
                        _ = tokio::time::sleep_until(d) => break,
                    },
                    None => {
                        ticker.tick().await;
                    }
                }
                if !before_deadline() {
                    break;
                }
                // The budget follows the clock since the start, so the average rate is exact
                // however the ticks fall.
                let due = (rate * started.elapsed().as_secs_f64()) as u64 + 1;
                while report.sent < due.min(count) {
                    publish_one(client, sim, &mut report).await?;
                }
            }
        }
    }
    client.flush().await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn publish_one(
    client: &async_nats::Client,
    sim: &mut Simulator,
    report: &mut SimReport,
) -> Result<(), SimError> {
    let env = sim.next();
    let subject = env.subject()?;
    let body = serde_json::to_vec(&env)?;
    report.bytes += body.len() as u64;
    client
        .publish(subject.clone(), body.into())
        .await
        .map_err(|source| SimError::Publish { subject, source })?;
    report.sent += 1;
    Ok(())
}

const COMPANIES: &[(&str, &str)] = &[
    ("Acme", "acme.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.com"),
    ("Müller & Söhne", "mueller-soehne.de"),
    ("Hooli", "hooli.xyz"),
    ("Café Olé", "cafeole.fr"),
    ("Tokyo Robotics", "tokyorobotics.jp"),
    ("Fjord Analytics", "fjord.no"),
    ("Lagos Logistics", "lagoslogistics.ng"),
    ("Andes Outdoor", "andes.cl"),
    ("Northwind", "northwind.example"),
    ("Blue Bottle Labs", "bluebottle.dev"),
];

const FIRST_NAMES: &[(&str, &str)] = &[
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Aiko", "aiko"),
    ("Łukasz", "lukasz"),
    ("Amara", "amara"),
    ("Liam", "liam"),
    ("Priya", "priya"),
    ("Mateo", "mateo"),
    ("Chloé", "chloe"),
    ("Noah", "noah"),
    ("Fatima", "fatima"),
    ("Sven", "sven"),
    ("Mei", "mei"),
    ("Olu", "olu"),
    ("Ingrid", "ingrid"),
    ("Diego", "diego"),
];

const LAST_NAMES: &[(&str, &str)] = &[
    ("García", "garcia"),
    ("Müller", "mueller"),
    ("Tanaka", "tanaka"),
    ("Nowak", "nowak"),
    ("Okafor", "okafor"),
    ("Smith", "smith"),
    ("Patel", "patel"),
    ("Rossi", "rossi"),
    ("Dubois", "dubois"),
    ("Johansson", "johansson"),
    ("Chen", "chen"),
    ("Adeyemi", "adeyemi"),
    ("Novák", "novak"),
];

const AGENT_NAMES: &[&str] = &[
    "Support Assistant",
    "Sales Copilot",
    "Onboarding Guide",
    "Triage Bot",
    "Billing Helper",
];

const CONVERSATION_TITLES: &[&str] = &[
    "Refund for order #{n}",
    "Can't log in after password reset",
    "Pricing question – team plan",
    "Bug: CSV export is empty",
    "Welcome aboard 🎉",
    "Invoice {n} looks wrong",
    "Integration with Stripe",
    "Feature request: dark mode",
    "Données manquantes dans le rapport",
    "Delivery delayed 📦",
    "SSO setup for our team",
    "Question about the API rate limits",
];

const USER_LINES: &[&str] = &[
    "Hi! I can't find the export button anymore since the last update.",
    "Thanks, that worked 🙏",
    "Could you check invoice 4821? The total looks off by €20.",
    "We're seeing timeouts on the webhook endpoint since this morning.",
    "Is there a way to add more seats without changing plans?",
    "Perfect, merci beaucoup !",
    "The password reset link says it has expired, but I only just got it.",
    "Can we schedule a call for Thursday at 3pm CET?",
    "Our team in Tokyo gets an error: 「アクセスが拒否されました」",
    "Still broken on my side 😕 I cleared the cache twice.",
    "How do I connect our HubSpot account?",
    "Ok 👍",
    "Can you resend the onboarding email to Zoë?",
    "We'd like to upgrade to the Business plan before the end of the month.",
    "The mobile app crashes when I open a conversation with an attachment.",
    "Is the API down? Status page says everything is fine.",
    "Great, I'll let the team know.",
    "Why was my card charged twice? 💳",
    "Danke für die schnelle Antwort!",
    "Where can I change the billing address?",
];

const AGENT_LINES: &[&str] = &[
    "I've re-sent the link; it's valid for 24 hours.",
    "Thanks for your patience! I've escalated this to our billing team.",
    "You can find it under Settings → Data → Export.",
    "I've added 3 seats to your workspace; the change shows on your next invoice.",
    "Could you share a screenshot of the error message?",
    "The duplicate charge has been refunded ✅ It may take 5–10 days to appear.",
    "I've booked Thursday 15:00 CET – you'll get a calendar invite shortly.",
];

const REPLIES: &[&str] = &[
    "Sure! To export your data, open Settings, choose Data, then click Export. You will get an email with a download link within a few minutes.",
    "I checked invoice 4821: the difference is the VAT adjustment for your new billing address. I can send a corrected copy if you like.",
    "Thanks for reporting this. Our logs show the webhook endpoint answered with 504 since 08:12 UTC; the team is on it and I'll update you here.",
    "You can add seats at any time from Billing → Seats. The new seats are prorated, so you only pay for the remaining days of this period.",
    "Désolé pour ce souci ! J'ai réinitialisé votre accès, vous pouvez maintenant vous reconnecter avec votre adresse e-mail.",
    "Good news 🎉 the fix for the attachment crash is rolling out today in version 4.12. Please update the app and let me know if it persists.",
    "The duplicate charge comes from a retried payment. I have refunded the second one; your bank should show it within five business days.",
    "To connect HubSpot, open Apps, pick HubSpot, and sign in with an admin account. Contacts and deals sync every fifteen minutes after that.",
];

const FLOW_NAMES: &[&str] = &[
    "Route new leads",
    "Escalate VIP tickets",
    "Nightly invoice sync",
    "Welcome sequence",
    "Churn risk alert",
    "Sync Stripe customers",
    "Triage inbound email",
    "Weekly report digest",
];

const TRIGGERS: &[&str] = &["schedule", "webhook", "event", "manual"];

const STEPS: &[&str] = &[
    "fetch_contact",
    "classify_intent",
    "enrich_company",
    "send_email",
    "create_task",
    "post_to_slack",
    "update_record",
    "call_webhook",
    "wait_1h",
    "branch_on_score",
];

const TASK_TITLES: &[&str] = &[
    "Call back {name} about the renewal",
    "Review Q3 invoice batch",
    "Prepare onboarding deck for {company}",
    "Follow up: unpaid invoice #{n}",
    "Check churn risk for {company}",
    "Send contract draft to {name} ✍️",
    "Reconcile Stripe payouts",
    "Answer {name}'s question about SSO",
    "Update pricing page copy",
    "Ship order #{n} to Zürich",
];

const TASK_ERRORS: &[(&str, &str)] = &[
    ("TIMEOUT", "step send_email timed out after 30s"),
    ("UPSTREAM_5XX", "crm returned 502 Bad Gateway"),
    ("VALIDATION", "field dueAt is in the past"),
    (
        "RATE_LIMITED",
        "too many requests to the Stripe API; retry in 20s",
    ),
    (
        "PERMISSION_DENIED",
        "owner has no access to collection deals",
    ),
];

struct AppKind {
    key: &'static str,
    name: &'static str,
    channel: &'static str,
    types: &'static [&'static str],
}

const APPS: &[AppKind] = &[
    AppKind {
        key: "stripe",
        name: "Stripe",
        channel: "webhook",
        types: &[
            "stripe.invoice.paid",
            "stripe.invoice.payment_failed",
            "stripe.charge.succeeded",
            "stripe.customer.subscription.updated",
        ],
    },
    AppKind {
        key: "github",
        name: "GitHub",
        channel: "webhook",
        types: &[
            "github.push",
            "github.pull_request.opened",
            "github.issues.closed",
        ],
    },
    AppKind {
        key: "shopify",
        name: "Shopify",
        channel: "webhook",
        types: &["shopify.orders.create", "shopify.orders.fulfilled"],
    },
    AppKind {
        key: "slack",
        name: "Slack",
        channel: "sse",
        types: &["slack.message.channels", "slack.reaction_added"],
    },
    AppKind {
        key: "hubspot",
        name: "HubSpot",
        channel: "polling",
        types: &["hubspot.deal.propertyChange"],
    },
    AppKind {
        key: "zendesk",
        name: "Zendesk",
        channel: "polling",
        types: &["zendesk.ticket.created", "zendesk.ticket.solved"],
    },
    AppKind {
        key: "twilio",
        name: "Twilio",
        channel: "webhook",
        types: &["twilio.message.received"],
    },
    AppKind {
        key: "calendly",
        name: "Calendly",
        channel: "cloudevents",
        types: &["calendly.invitee.created", "calendly.invitee.canceled"],
    },
    AppKind {
        key: "jira",
        name: "Jira",
        channel: "cloudevents",
        types: &["jira.issue.created", "jira.issue.updated"],
    },
    AppKind {
        key: "intercom",
        name: "Intercom",
        channel: "sse",
        types: &["intercom.conversation.user.replied"],
    },
];

const COLLECTIONS: &[&str] = &["contacts", "deals", "tickets", "orders", "products"];

const TICKET_SUBJECTS: &[&str] = &[
    "Checkout fails with card declined",
    "Cannot upload files larger than 10 MB",
    "Wrong VAT on invoice",
    "Login loop on Safari",
    "Export to CSV is empty",
    "Commande non reçue",
];

const PRODUCTS: &[&str] = &[
    "Ergonomic chair",
    "Standing desk 160×80",
    "Noise-cancelling headset",
    "USB-C dock",
    "Café crème beans 1 kg",
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

    use futures::StreamExt;

    use super::*;

    fn sim(seed: u64) -> Simulator {
        Simulator::new(SimConfig {
            seed,
            ..SimConfig::default()
        })
    }

    /// The payload's keys for each event type, one line per type, from the first `n` events.
    fn shapes(n: usize) -> String {
        let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for env in sim(1).take(n) {
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

    #[test]
    fn every_internal_event_type_occurs_with_its_payload_shape() {
        assert_eq!(
            shapes(20_000),
            "\
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
task.failed: attempt dueAt error owner priority status taskId title"
        );
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

    /// The desktop app runs the simulation in a task of its own.
    #[allow(dead_code)]
    fn run_can_be_spawned(client: async_nats::Client, mut sim: Simulator, pace: Pace) {
        tokio::spawn(async move { run(&client, &mut sim, pace).await });
    }

    async fn received(
        subscriber: &mut async_nats::Subscriber,
        n: usize,
    ) -> Vec<async_nats::Message> {
        let mut out = Vec::new();
        while out.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await;
            out.push(
                next.expect("a message within 10 s")
                    .expect("an open subscription"),
            );
        }
        out
    }

    #[tokio::test]
    async fn run_publishes_the_count_on_each_subject_at_the_rate() {
        let server = eventscope_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let mut subscriber = client.subscribe("events.>").await.unwrap();
        client.flush().await.unwrap();

        let pace = Pace {
            rate_per_sec: Some(2_000.0),
            limit: Limit::Count(300),
        };
        let report = run(&client, &mut sim(21), pace).await.unwrap();
        assert_eq!(report.sent, 300);
        assert!(
            report.elapsed >= Duration::from_millis(140),
            "{:?}",
            report.elapsed
        );

        let expected: Vec<Envelope> = sim(21).take(300).collect();
        let messages = received(&mut subscriber, 300).await;
        let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
        assert_eq!(report.bytes, bytes as u64);
        for (message, env) in messages.iter().zip(&expected) {
            assert_eq!(message.subject.as_str(), env.subject().unwrap());
            assert_eq!(
                message.payload.as_ref(),
                serde_json::to_vec(env).unwrap().as_slice()
            );
        }
    }

    #[tokio::test]
    async fn run_stops_after_the_duration_or_as_fast_as_possible_after_the_count() {
        let server = eventscope_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();

        let pace = Pace {
            rate_per_sec: Some(500.0),
            limit: Limit::Duration(Duration::from_millis(300)),
        };
        let report = run(&client, &mut sim(1), pace).await.unwrap();
        assert!((30..=151).contains(&report.sent), "{report:?}");
        assert!(report.elapsed < Duration::from_secs(2), "{report:?}");

        let pace = Pace {
            rate_per_sec: None,
            limit: Limit::Count(5_000),
        };
        assert_eq!(run(&client, &mut sim(1), pace).await.unwrap().sent, 5_000);

        let pace = Pace {
            rate_per_sec: Some(-1.0),
            limit: Limit::Forever,
        };
        let err = run(&client, &mut sim(1), pace).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid rate -1: expected a positive number of events per second"
        );
    }
}
