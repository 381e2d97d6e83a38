//! Scenarios: the file format (YAML, or JSON), its validation with file positions, the runner
//! that publishes and checks what follows, and "save as scenario" from captured events.
//!
//! The format is a contract (`docs/scenarios.md`). The runner subscribes, before the first
//! publish, to the subjects its expectations' filters narrow to, and keeps every event received
//! since the start in an [`EventStore`]: an expectation sees events that arrived before its step
//! began, and evaluates them with the same filter code as the table.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use thiserror::Error;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::filter::Filter;
use crate::publish::{self, Pace, Pins, Prepared, PublishError};
use crate::source::{FirstConnect, Source, SourceCounters, SourceError};
use crate::store::{EventStore, Incoming, StoreLimits};
use crate::template::{self, Engine, Scope};
use crate::topic::PREFIX;
use crate::wire::{ConnectionProfile, SourceStatus, StepStatus, StepUpdate};

/// More steps than this is refused (10,000 is fine).
pub const MAX_STEPS: usize = 100_000;
/// Longest `within`, `for` or `wait`.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Default `within` of an `expect`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5);
/// Default `for` of an `expect_none`.
pub const DEFAULT_FOR: Duration = Duration::from_secs(1);
/// Most events one publish step may send.
pub const MAX_COUNT: u64 = 10_000_000;
/// Past this many distinct subjects the runner subscribes to everything (`events.>`).
const MAX_SUBJECTS: usize = 256;
/// Closest misses a failed expectation shows.
const MAX_MISSES: usize = 3;
/// What the runner keeps of the events it receives.
const STORE_LIMITS: StoreLimits = StoreLimits {
    capacity: 1_000_000,
    max_bytes: 1 << 30,
};

/// Why a scenario is invalid, at a position of its file (1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.describe())]
pub struct ScenarioError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ScenarioError {
    fn describe(&self) -> String {
        if self.line == 0 {
            self.message.clone()
        } else {
            format!("{}:{}: {}", self.line, self.column, self.message)
        }
    }

    fn at(loc: serde_saphyr::Location, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            line: loc.line() as usize,
            column: loc.column() as usize,
            message: message.into(),
        }
    }
}

/// A valid scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub vars: Map<String, Value>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    /// Where the step starts in the file.
    pub line: usize,
    pub column: usize,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Publish {
        /// The envelope: a catalogue template or the step's `event`.
        envelope: Value,
        set: Vec<(String, Value)>,
        count: u64,
        rate: Option<f64>,
    },
    Expect {
        /// A filter query, itself a template.
        filter: String,
        within: Duration,
        count: u64,
    },
    ExpectNone {
        filter: String,
        duration: Duration,
    },
    Wait(Duration),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Publish { .. } => "publish",
            Action::Expect { .. } => "expect",
            Action::ExpectNone { .. } => "expect_none",
            Action::Wait(_) => "wait",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    vars: Map<String, Value>,
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    publish: Option<Spanned<RawPublish>>,
    #[serde(default)]
    expect: Option<Spanned<RawExpect>>,
    #[serde(default)]
    expect_none: Option<Spanned<RawExpectNone>>,
    #[serde(default)]
    wait: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    #[serde(default)]
    template: Option<Spanned<String>>,
    #[serde(default)]
    event: Option<Spanned<Value>>,
    #[serde(default)]
    set: Map<String, Value>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    filter: Spanned<String>,
    #[serde(default)]
    within: Option<Spanned<String>>,
    #[serde(default)]
    count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectNone {
    filter: Spanned<String>,
    #[serde(default, rename = "for")]
    duration: Option<Spanned<String>>,
}

/// `500ms`, `5s`, `1.5s`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("invalid duration {text:?}: expected a number and ms, s, m or h (`5s`)");
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    let d = Duration::try_from_secs_f64(seconds).map_err(|_| bad())?;
    if d > MAX_DURATION {
        return Err(format!("duration {text:?} is over an hour"));
    }
    Ok(d)
}

/// Parses and validates a scenario: YAML errors, unknown templates, template syntax, undefined
/// `vars` and step names, invalid filters, each at its position. `vars` override the file's
/// (`--var`), and are checked with them.
pub fn parse(text: &str, vars: &Map<String, Value>) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = serde_saphyr::from_str(text).map_err(|e| yaml_error(&e))?;
    if raw.steps.len() > MAX_STEPS {
        return Err(ScenarioError {
            line: 0,
            column: 0,
            message: format!("{} steps: at most {MAX_STEPS} are allowed", raw.steps.len()),
        });
    }
    let engine = Engine::new();
    let catalogue = template::catalogue();
    let mut all_vars = raw.vars;
    all_vars.extend(vars.clone());
    let mut scope = Scope {
        vars: all_vars.clone(),
        run_id: "run0".into(),
        ..Scope::default()
    };
    let mut names = HashSet::new();
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (index, spanned) in raw.steps.into_iter().enumerate() {
        let loc = spanned.referenced;
        let raw = spanned.value;
        let actions = [
            raw.publish.is_some(),
            raw.expect.is_some(),
            raw.expect_none.is_some(),
            raw.wait.is_some(),
        ];
        let kind_count = actions.iter().filter(|a| **a).count();
        let step_label = |name: &str| format!("step {name:?}");
        let fallback = format!("step {}", index + 1);
        let name = raw.name.as_ref().map_or(fallback, |n| n.value.clone());
        if kind_count != 1 {
            return Err(ScenarioError::at(
                loc,
                format!(
                    "{}: expected exactly one of publish, expect, expect_none, wait",
                    step_label(&name)
                ),
            ));
        }
        if !names.insert(name.clone()) {
            let at = raw.name.as_ref().map_or(loc, |n| n.referenced);
            return Err(ScenarioError::at(
                at,
                format!("{}: another step has this name", step_label(&name)),
            ));
        }
        let fail =
            |at, what: String| ScenarioError::at(at, format!("{}: {what}", step_label(&name)));
        let action = if let Some(p) = raw.publish {
            let p_loc = p.referenced;
            let p = p.value;
            let envelope = match (p.template, p.event) {
                (Some(t), None) => match catalogue.iter().find(|c| c.name == t.value) {
                    Some(t) => t.envelope.clone(),
                    None => {
                        return Err(fail(
                            t.referenced,
                            format!(
                                "unknown template {:?} (known: {})",
                                t.value,
                                template::names().join(", ")
                            ),
                        ))
                    }
                },
                (None, Some(e)) => {
                    if !e.value.is_object() {
                        return Err(fail(
                            e.referenced,
                            "event: expected an envelope object".into(),
                        ));
                    }
                    e.value
                }
                _ => {
                    return Err(fail(
                        p_loc,
                        "publish: expected exactly one of template, event".into(),
                    ))
                }
            };
            let count = p.count.unwrap_or(1);
            if count == 0 || count > MAX_COUNT {
                return Err(fail(
                    p_loc,
                    format!("count {count}: expected 1 to {MAX_COUNT}"),
                ));
            }
            if let Some(rate) = p.rate {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(fail(
                        p_loc,
                        format!(
                            "invalid rate {rate}: expected a positive number of events per second"
                        ),
                    ));
                }
            }
            let set: Vec<(String, Value)> = p.set.into_iter().collect();
            // Building the first event checks the templates, the paths and the subject's
            // tokens as far as they are known before running.
            match Prepared::new(
                envelope.clone(),
                set.clone(),
                Pins::default(),
                scope.clone(),
            ) {
                Ok(_) => {}
                // A subject built from a value only a run knows (an earlier step's event) is
                // checked when it runs.
                Err(PublishError::Subject(_)) if !scope.placeholders.is_empty() => {}
                Err(e) => return Err(fail(p_loc, e.to_string())),
            }
            Action::Publish {
                envelope,
                set,
                count,
                rate: p.rate,
            }
        } else if let Some(e) = raw.expect {
            let e_loc = e.referenced;
            let e = e.value;
            check_filter(&engine, &scope, &e.filter).map_err(|m| fail(e.filter.referenced, m))?;
            let within = match &e.within {
                Some(w) => parse_duration(&w.value).map_err(|m| fail(w.referenced, m))?,
                None => DEFAULT_WITHIN,
            };
            let count = e.count.unwrap_or(1);
            if count == 0 {
                return Err(fail(
                    e_loc,
                    "count 0: expect at least 1 (or use expect_none)".into(),
                ));
            }
            scope.placeholders.push(name.clone());
            Action::Expect {
                filter: e.filter.value,
                within,
                count,
            }
        } else if let Some(e) = raw.expect_none {
            let e = e.value;
            check_filter(&engine, &scope, &e.filter).map_err(|m| fail(e.filter.referenced, m))?;
            let duration = match &e.duration {
                Some(w) => parse_duration(&w.value).map_err(|m| fail(w.referenced, m))?,
                None => DEFAULT_FOR,
            };
            Action::ExpectNone {
                filter: e.filter.value,
                duration,
            }
        } else {
            let w = raw.wait.expect("one action");
            Action::Wait(parse_duration(&w.value).map_err(|m| fail(w.referenced, m))?)
        };
        steps.push(Step {
            name,
            line: loc.line() as usize,
            column: loc.column() as usize,
            action,
        });
    }
    Ok(Scenario {
        name: raw.name.unwrap_or_default(),
        vars: all_vars,
        steps,
    })
}

fn check_filter(engine: &Engine, scope: &Scope, filter: &Spanned<String>) -> Result<(), String> {
    let text = engine
        .render(&filter.value, scope)
        .map_err(|e| format!("filter: {e}"))?;
    Filter::parse(&text).map_err(|e| format!("filter {text:?}: {e}"))?;
    Ok(())
}

fn yaml_error(e: &serde_saphyr::Error) -> ScenarioError {
    let loc = e.location();
    // The crate's message may carry a snippet of the file and its own position: keep the
    // first line, without the position, which is said once in front.
    let text = e.without_snippet().to_string();
    let mut message = text
        .lines()
        .next()
        .unwrap_or("invalid YAML")
        .trim()
        .to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    ScenarioError {
        line: loc.map_or(0, |l| l.line() as usize),
        column: loc.map_or(0, |l| l.column() as usize),
        message,
    }
}

/// Variables given beside a file (`--var`, the panel's lines): each value is JSON when it parses
/// as JSON, a string otherwise.
pub fn vars_from_pairs(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| {
            let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()));
            (k.trim().to_string(), value)
        })
        .collect()
}

/// A scenario before it runs: its name and every step pending.
pub fn outline(scenario: &Scenario) -> crate::wire::ScenarioOutline {
    crate::wire::ScenarioOutline {
        name: scenario.name.clone(),
        steps: scenario
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| StepUpdate {
                index: index as u32,
                name: step.name.clone(),
                kind: step.action.kind().to_string(),
                status: StepStatus::Pending,
                elapsed_ms: 0,
                message: None,
                event_ids: Vec::new(),
            })
            .collect(),
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run_id: String,
    /// Each step's last state, in file order.
    pub steps: Vec<StepUpdate>,
    pub elapsed: Duration,
    /// The subjects the run subscribed to.
    pub subjects: Vec<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Passed)
    }
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] SourceError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Runs a scenario against `profile`'s NATS server (its `subjects` are ignored: the runner
/// subscribes to what the expectations narrow to). `on_update` is called as each step goes
/// running, then passed or failed. Steps after a failure still run, so that a report shows
/// every failure; a cancelled run marks the rest skipped. Refuses at once when `read_only` and
/// the scenario publishes.
pub async fn run(
    scenario: &Scenario,
    profile: &ConnectionProfile,
    read_only: bool,
    cancel: &CancellationToken,
    mut on_update: impl FnMut(&StepUpdate) + Send,
) -> Result<RunReport, RunError> {
    if scenario
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Publish { .. }))
    {
        publish::check_writable(read_only)?;
    }
    let started = Instant::now();
    let engine = Engine::new();
    let mut scope = Scope::new();
    scope.vars = scenario.vars.clone();
    let subjects = subjects(scenario, &engine, &scope);

    let client = crate::source::nats::connect_client(profile).await?;
    let (status, _) = tokio::sync::watch::channel(SourceStatus::disconnected("not connected"));
    let listen = ConnectionProfile {
        subjects: subjects.clone(),
        gateway: None,
        ..profile.clone()
    };
    let mut source = Source::connect(
        &listen,
        FirstConnect::FailFast,
        Arc::new(SourceCounters::default()),
        status,
    )
    .await?;
    if let Source::Nats(s) = &source {
        // The subscriptions are in place on the server before anything is published.
        let _ = s.client().flush().await;
    }
    let mut inbox = Inbox::new();

    let mut updates: Vec<StepUpdate> = scenario
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepUpdate {
            index: i as u32,
            name: s.name.clone(),
            kind: s.action.kind().to_string(),
            status: StepStatus::Pending,
            elapsed_ms: 0,
            message: None,
            event_ids: Vec::new(),
        })
        .collect();
    for (i, step) in scenario.steps.iter().enumerate() {
        if cancel.is_cancelled() {
            for u in &mut updates[i..] {
                u.status = StepStatus::Skipped;
                on_update(u);
            }
            break;
        }
        let step_started = Instant::now();
        updates[i].status = StepStatus::Running;
        on_update(&updates[i]);
        let outcome = run_step(
            step,
            &engine,
            &mut scope,
            &client,
            &mut source,
            &mut inbox,
            cancel,
        )
        .await;
        let u = &mut updates[i];
        u.elapsed_ms = step_started.elapsed().as_millis() as u64;
        match outcome {
            Ok(ids) => {
                u.status = StepStatus::Passed;
                u.event_ids = ids;
            }
            Err((message, ids)) => {
                u.status = if cancel.is_cancelled() {
                    StepStatus::Skipped
                } else {
                    StepStatus::Failed
                };
                u.message = Some(message);
                u.event_ids = ids;
            }
        }
        on_update(u);
    }
    Ok(RunReport {
        run_id: scope.run_id,
        steps: updates,
        elapsed: started.elapsed(),
        subjects,
    })
}

/// What the expectations narrow to, rendered with the run's vars and id; `events.>` when one
/// does not narrow or there are too many.
fn subjects(scenario: &Scenario, engine: &Engine, scope: &Scope) -> Vec<String> {
    let everything = vec![format!("{PREFIX}.>")];
    let mut scope = scope.clone();
    let mut out: Vec<String> = Vec::new();
    for step in &scenario.steps {
        let filter = match &step.action {
            Action::Expect { filter, .. } => {
                scope.placeholders.push(step.name.clone());
                filter
            }
            Action::ExpectNone { filter, .. } => filter,
            _ => continue,
        };
        // A filter that depends on an earlier step's event is only known then: everything.
        if filter.contains("steps") {
            return everything;
        }
        let Ok(text) = engine.render(filter, &scope) else {
            return everything;
        };
        let Ok(filter) = Filter::parse(&text) else {
            return everything;
        };
        for s in filter.subjects() {
            if s == everything[0] {
                return everything;
            }
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.len() > MAX_SUBJECTS {
            return everything;
        }
    }
    if out.is_empty() {
        // Nothing to expect: subscribe to nothing the platform publishes.
        return vec![format!("_eventscope.{}", scope.run_id)];
    }
    out
}

/// The events received since the run started.
struct Inbox {
    store: EventStore,
    closed: bool,
    /// Sequence numbers by resource id: an expectation that names its resource (most do)
    /// looks at those events only, not at everything the bus carried since the start.
    by_resource: HashMap<Box<str>, Vec<u64>>,
    indexed: usize,
}

/// Entries the resource index may hold before it is rebuilt from what the store still holds.
const MAX_INDEXED: usize = 2 * STORE_LIMITS.capacity;

impl Inbox {
    fn new() -> Inbox {
        Inbox {
            store: EventStore::new(STORE_LIMITS),
            closed: false,
            by_resource: HashMap::new(),
            indexed: 0,
        }
    }

    fn take(&mut self, batch: crate::source::MessageBatch) {
        let now = chrono::Utc::now().timestamp_millis();
        batch.for_each(|subject, headers, body| {
            let seq = self.store.push(Incoming {
                subject,
                headers,
                body,
                received_ms: now,
            });
            if let Some(ev) = self.store.get(seq) {
                let rid = ev.resource_id();
                match self.by_resource.get_mut(rid) {
                    Some(seqs) => seqs.push(seq),
                    None => {
                        self.by_resource.insert(rid.into(), vec![seq]);
                    }
                }
                self.indexed += 1;
            }
            true
        });
        if self.indexed > MAX_INDEXED {
            let first = self.store.first_seq();
            self.by_resource.retain(|_, seqs| {
                seqs.retain(|s| *s >= first);
                !seqs.is_empty()
            });
            self.indexed = self.by_resource.values().map(Vec::len).sum();
        }
    }

    /// The held events with one of these resource ids, in order.
    fn of_resources(&self, rids: &[String]) -> Vec<u64> {
        let first = self.store.first_seq();
        let mut seqs: Vec<u64> = rids
            .iter()
            .filter_map(|r| self.by_resource.get(r.as_str()))
            .flatten()
            .copied()
            .filter(|s| *s >= first)
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }

    /// Stores what arrives until `deadline` or the first batch, whichever is first.
    async fn pump(&mut self, source: &mut Source, deadline: Instant, cancel: &CancellationToken) {
        if self.closed {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = cancel.cancelled() => {}
            }
            return;
        }
        tokio::select! {
            batch = source.next_batch() => match batch {
                Some(batch) => self.take(batch),
                None => self.closed = true,
            },
            _ = tokio::time::sleep_until(deadline) => {}
            _ = cancel.cancelled() => {}
        }
    }

    /// Stores whatever is ready now, without waiting.
    async fn drain(&mut self, source: &mut Source) {
        while !self.closed {
            match tokio::time::timeout(Duration::ZERO, source.next_batch()).await {
                Ok(Some(batch)) => self.take(batch),
                Ok(None) => self.closed = true,
                Err(_) => break,
            }
        }
    }
}

type StepResult = Result<Vec<String>, (String, Vec<String>)>;

async fn run_step(
    step: &Step,
    engine: &Engine,
    scope: &mut Scope,
    client: &async_nats::Client,
    source: &mut Source,
    inbox: &mut Inbox,
    cancel: &CancellationToken,
) -> StepResult {
    match &step.action {
        Action::Publish {
            envelope,
            set,
            count,
            rate,
        } => {
            let prepared = Prepared::new(
                envelope.clone(),
                set.clone(),
                Pins::default(),
                scope.clone(),
            )
            .map_err(|e| (e.to_string(), Vec::new()))?;
            let pace = Pace {
                count: *count,
                rate: *rate,
            };
            // Events keep arriving while a long publish runs: the source buffers them.
            let report = prepared
                .send(client, pace, cancel, |_| {})
                .await
                .map_err(|e| (e.to_string(), Vec::new()))?;
            if report.cancelled {
                return Err(("cancelled".into(), report.ids));
            }
            Ok(report.ids)
        }
        Action::Wait(d) => {
            let deadline = Instant::now() + *d;
            while Instant::now() < deadline && !cancel.is_cancelled() {
                inbox.pump(source, deadline, cancel).await;
            }
            Ok(Vec::new())
        }
        Action::Expect {
            filter,
            within,
            count,
        } => {
            let (text, filter) = render_filter(engine, scope, filter)?;
            let deadline = Instant::now() + *within;
            let mut matched: Vec<u64> = Vec::new();
            let mut next = inbox.store.first_seq();
            let rids = resource_ids(&filter);
            inbox.drain(source).await;
            loop {
                let now_ms = chrono::Utc::now().timestamp_millis();
                match &rids {
                    Some(rids) => {
                        matched = inbox
                            .of_resources(rids)
                            .into_iter()
                            .filter(|s| {
                                inbox
                                    .store
                                    .get(*s)
                                    .is_some_and(|ev| filter.matches(&ev, now_ms))
                            })
                            .collect();
                    }
                    None => {
                        next = next.max(inbox.store.first_seq());
                        while next < inbox.store.next_seq() {
                            if let Some(ev) = inbox.store.get(next) {
                                if filter.matches(&ev, now_ms) {
                                    matched.push(next);
                                }
                            }
                            next += 1;
                        }
                    }
                }
                if matched.len() as u64 >= *count {
                    let ids = ids_of(&inbox.store, &matched);
                    if let Some(ev) = inbox.store.get(matched[0]) {
                        let event: Value = serde_json::from_slice(ev.body()).unwrap_or(Value::Null);
                        let mut entry = Map::new();
                        entry.insert("event".into(), event);
                        scope.steps.insert(step.name.clone(), Value::Object(entry));
                    }
                    return Ok(ids);
                }
                if Instant::now() >= deadline || cancel.is_cancelled() {
                    let ids = ids_of(&inbox.store, &matched);
                    return Err((
                        expect_failure(&text, &filter, *count, &matched, inbox, within),
                        ids,
                    ));
                }
                inbox.pump(source, deadline, cancel).await;
            }
        }
        Action::ExpectNone { filter, duration } => {
            let (text, filter) = render_filter(engine, scope, filter)?;
            let deadline = Instant::now() + *duration;
            let mut next = inbox.store.first_seq();
            inbox.drain(source).await;
            loop {
                let now_ms = chrono::Utc::now().timestamp_millis();
                next = next.max(inbox.store.first_seq());
                while next < inbox.store.next_seq() {
                    if let Some(ev) = inbox.store.get(next) {
                        if filter.matches(&ev, now_ms) {
                            let id = ev.id().to_string();
                            return Err((
                                format!(
                                    "expected no event matching `{text}` for {}, got {} on {}",
                                    human(duration),
                                    if id.is_empty() { "an event" } else { &id },
                                    ev.subject(),
                                ),
                                vec![id],
                            ));
                        }
                    }
                    next += 1;
                }
                if Instant::now() >= deadline || cancel.is_cancelled() {
                    return Ok(Vec::new());
                }
                inbox.pump(source, deadline, cancel).await;
            }
        }
    }
}

/// The resource ids every event the filter can match has, when the filter names them (its
/// subjects all have a literal resource id token).
fn resource_ids(filter: &Filter) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for subject in filter.subjects() {
        let token = subject.split('.').nth(5)?;
        if token == "*" || token == ">" {
            return None;
        }
        // A filter's subjects come with and without metadata tokens: one id, several subjects.
        if !out.iter().any(|o| o == token) {
            out.push(token.to_string());
        }
    }
    (!out.is_empty()).then_some(out)
}

fn render_filter(
    engine: &Engine,
    scope: &Scope,
    filter: &str,
) -> Result<(String, Filter), (String, Vec<String>)> {
    let text = engine
        .render(filter, scope)
        .map_err(|e| (format!("filter: {e}"), Vec::new()))?;
    let parsed = Filter::parse(&text).map_err(|e| (format!("filter {text:?}: {e}"), Vec::new()))?;
    Ok((text, parsed))
}

fn ids_of(store: &EventStore, seqs: &[u64]) -> Vec<String> {
    seqs.iter()
        .take(1000)
        .filter_map(|s| store.get(*s).map(|e| e.id().to_string()))
        .collect()
}

fn human(d: &Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// "expected 1 event matching `...` within 5 s, 0 matched", then the closest misses: received
/// events that fail only one of the filter's terms, most recent first.
fn expect_failure(
    text: &str,
    filter: &Filter,
    count: u64,
    matched: &[u64],
    inbox: &Inbox,
    within: &Duration,
) -> String {
    let mut out = format!(
        "expected {count} event{} matching `{text}` within {}, {} matched (of {} received)",
        if count == 1 { "" } else { "s" },
        human(within),
        matched.len(),
        inbox.store.len(),
    );
    let terms = filter.conjuncts();
    if terms.len() < 2 {
        return out;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut misses = Vec::new();
    let mut seq = inbox.store.next_seq();
    while seq > inbox.store.first_seq() && misses.len() < MAX_MISSES {
        seq -= 1;
        let Some(ev) = inbox.store.get(seq) else {
            continue;
        };
        let failing: Vec<&Filter> = terms.iter().filter(|t| !t.matches(&ev, now_ms)).collect();
        if failing.len() == 1 {
            misses.push(format!(
                "\n  closest miss: {} {}.{} resourceId={} org={} fails `{}`",
                if ev.id().is_empty() { "-" } else { ev.id() },
                ev.resource(),
                ev.event_name(),
                ev.resource_id(),
                ev.org(),
                failing[0]
            ));
        }
    }
    if misses.is_empty() {
        out.push_str("\n  no received event fails only one term");
    }
    for m in misses {
        out.push_str(&m);
    }
    out
}

/// "Save as scenario": a scenario that publishes `events` again, in order, spaced as they were
/// (gaps of 50 ms to 10 s become `wait` steps). Ids and times become template expressions
/// (fresh at each send), organizations `vars.org`, and each resource id gets the run's id
/// appended (in the payload too), so every run makes new resources.
pub fn from_events(name: &str, events: &[Value]) -> String {
    let org = events
        .first()
        .and_then(|e| e["organizationId"].as_str())
        .unwrap_or("org_qa")
        .to_string();
    let resource_ids: Vec<String> = {
        let mut seen = Vec::new();
        for e in events {
            if let Some(r) = e["resourceId"].as_str() {
                if !r.is_empty() && !seen.iter().any(|s| s == r) {
                    seen.push(r.to_string());
                }
            }
        }
        seen
    };
    let mut steps = Vec::new();
    let mut last_ms: Option<i64> = None;
    for (k, e) in events.iter().enumerate() {
        let at_ms = e["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis());
        if let (Some(prev), Some(now)) = (last_ms, at_ms) {
            let gap = (now - prev).clamp(0, 10_000);
            if gap >= 50 {
                steps.push(
                    serde_json::json!({"name": format!("pause {}", k), "wait": format!("{gap}ms")}),
                );
            }
        }
        last_ms = at_ms.or(last_ms);
        let mut event = e.clone();
        templatize(&mut event, &org, &resource_ids);
        if let Some(obj) = event.as_object_mut() {
            obj.insert("id".into(), Value::String("evt_{{ ulid() }}".into()));
            obj.insert("timestamp".into(), Value::String("{{ now() }}".into()));
        }
        let label = format!(
            "{} {}.{}",
            k + 1,
            e["resource"].as_str().unwrap_or("event"),
            e["eventName"].as_str().unwrap_or("")
        );
        steps.push(serde_json::json!({"name": label, "publish": {"event": event}}));
    }
    let doc = serde_json::json!({
        "name": name,
        "vars": {"org": org},
        "steps": steps,
    });
    serde_saphyr::to_string(&doc)
        .unwrap_or_else(|_| serde_json::to_string_pretty(&doc).expect("JSON"))
}

/// Replaces the organization and the resource ids wherever a string is exactly one of them.
fn templatize(value: &mut Value, org: &str, resource_ids: &[String]) {
    match value {
        Value::String(s) => {
            if s == org {
                *s = "{{ vars.org }}".into();
            } else if resource_ids.iter().any(|r| r == s) {
                *s = format!("{s}_{{{{ run.id }}}}");
            } else if template::is_template(s) {
                // A captured string that looks like a template is published as it was.
                *s = format!("{{% raw %}}{s}{{% endraw %}}");
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| templatize(v, org, resource_ids)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| templatize(v, org, resource_ids)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and shows one line per step, or the error.
    fn check(text: &str, expected: &str) {
        let got = match parse(text, &Map::new()) {
            Ok(s) => s
                .steps
                .iter()
                .map(|s| {
                    let what = match &s.action {
                        Action::Publish {
                            count, rate, set, ..
                        } => {
                            format!("count={count} rate={rate:?} set={}", set.len())
                        }
                        Action::Expect {
                            filter,
                            within,
                            count,
                        } => format!("{filter:?} within={within:?} count={count}"),
                        Action::ExpectNone { filter, duration } => {
                            format!("{filter:?} for={duration:?}")
                        }
                        Action::Wait(d) => format!("{d:?}"),
                    };
                    format!(
                        "{}:{} {} {} {what}",
                        s.line,
                        s.column,
                        s.name,
                        s.action.kind()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected);
    }

    const ISSUE: &str = r#"name: task lifecycle
vars: { org: org_qa }
steps:
  - name: create
    publish:
      template: task.created          # or `event:` with a whole envelope
      set:                            # dotted paths into the envelope, each value a template
        organizationId: "{{ vars.org }}"
        resourceId: "task_{{ run.id }}"
        payload.taskId: "task_{{ run.id }}"
        payload.title: "Check the invoice"
      count: 1                        # optional; with `rate:` events/s
  - name: completed
    expect:
      filter: 'org:{{ vars.org }} name:task.completed resourceId:task_{{ run.id }}'
      within: 5s
      count: 1                        # at least this many
  - name: never failed
    expect_none:
      filter: 'name:task.failed resourceId:task_{{ run.id }}'
      for: 1s
  - name: pause
    wait: 500ms
"#;

    #[test]
    fn the_issue_s_example_parses() {
        check(
            ISSUE,
            r#"4:5 create publish count=1 rate=None set=4
13:5 completed expect "org:{{ vars.org }} name:task.completed resourceId:task_{{ run.id }}" within=5s count=1
18:5 never failed expect_none "name:task.failed resourceId:task_{{ run.id }}" for=1s
22:5 pause wait 500ms"#,
        );
        let json = r#"{"steps": [{"name": "w", "wait": "2s"}, {"expect": {"filter": "name:task.created", "within": "1.5s"}}]}"#;
        check(
            json,
            "1:12 w wait 2s\n1:41 step 2 expect \"name:task.created\" within=1.5s count=1",
        );
    }

    #[test]
    fn invalid_files_say_where() {
        check(
            "steps:\n  - name: a\n    wait: 1s\n   bad: [",
            "error: 4:4: while parsing a block collection, did not find expected '-' indicator",
        );
        check(
            "steps:\n  - name: a\n    publish:\n      template: task.started\n",
            "error: 4:17: step \"a\": unknown template \"task.started\" (known: conversation.created, conversation.message_posted, conversation.message_stream, flow.created, flow.updated, flow.run, task.created, task.completed, task.failed, app.installed, app.event_received, record.created, record.updated, record.deleted)",
        );
        check(
            "steps:\n  - name: a\n    publish:\n      template: task.created\n      set:\n        payload.title: \"{{ vars.nope }}\"\n",
            "error: 4:7: step \"a\": set payload.title: template error at 1:4: undefined value: `vars.nope` is undefined",
        );
        check(
            "steps:\n  - name: a\n    expect:\n      filter: 'orgg:x'\n",
            "error: 4:15: step \"a\": filter \"orgg:x\": invalid filter at 0: unknown field `orgg` (did you mean `org`)",
        );
        check(
            "steps:\n  - name: a\n    expect:\n      filter: 'name:x resourceId:{{ steps.b.event.resourceId }}'\n",
            "error: 4:15: step \"a\": filter: template error at 1:27: undefined value: `steps.b` is undefined",
        );
        check(
            "steps:\n  - name: a\n    wait: 5 parsecs\n",
            "error: 3:11: step \"a\": invalid duration \"5 parsecs\": expected a number and ms, s, m or h (`5s`)",
        );
        check(
            "steps:\n  - name: a\n    wait: 1s\n    expect: {filter: x}\n",
            "error: 2:5: step \"a\": expected exactly one of publish, expect, expect_none, wait",
        );
        check(
            "steps:\n  - name: a\n    wait: 1s\n  - name: a\n    wait: 1s\n",
            "error: 4:11: step \"a\": another step has this name",
        );
        check(
            "steps:\n  - name: a\n    wayt: 1s\n",
            "error: 3:5: unknown field `wayt`, expected one of name, publish, expect, expect_none, wait",
        );
    }

    #[test]
    fn a_later_step_may_use_an_earlier_expect_s_event() {
        let text = "steps:\n  - name: got\n    expect: {filter: 'name:task.created'}\n  - name: reply\n    publish:\n      template: task.completed\n      set: {resourceId: '{{ steps.got.event.resourceId }}'}\n";
        check(
            text,
            "2:5 got expect \"name:task.created\" within=5s count=1\n4:5 reply publish count=1 rate=None set=1",
        );
    }

    #[test]
    fn ten_thousand_steps_check_quickly() {
        let mut text = String::from("steps:\n");
        for i in 0..10_000 {
            text.push_str(&format!(
                "  - name: s{i}\n    publish:\n      template: task.created\n      set: {{resourceId: 'task_{{{{ run.id }}}}_{i}'}}\n"
            ));
        }
        let started = std::time::Instant::now();
        let s = parse(&text, &Map::new()).unwrap();
        assert_eq!(s.steps.len(), 10_000);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn expectations_that_name_their_resources_look_at_those_only() {
        let rids = |q: &str| resource_ids(&Filter::parse(q).unwrap());
        assert_eq!(
            rids("name:task.completed resourceId:task_1"),
            Some(vec!["task_1".to_string()])
        );
        assert_eq!(
            rids("resourceId:a,b org:o"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(rids("name:task.completed"), None);
        assert_eq!(rids("resourceId:task_*"), None);
        assert_eq!(rids("resourceId:a OR name:x.y"), None);
    }

    /// The app runs scenarios and sends in tasks of their own.
    #[allow(dead_code)]
    fn runs_and_sends_can_be_spawned(
        s: Scenario,
        profile: ConnectionProfile,
        prepared: Prepared,
        client: async_nats::Client,
    ) {
        tokio::spawn(
            async move { run(&s, &profile, false, &CancellationToken::new(), |_| {}).await },
        );
        tokio::spawn(async move {
            let pace = Pace {
                count: 1,
                rate: None,
            };
            prepared
                .send(&client, pace, &CancellationToken::new(), |_| {})
                .await
        });
    }

    #[test]
    fn durations() {
        let d = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(d("500ms"), Ok(500));
        assert_eq!(d("1.5s"), Ok(1500));
        assert_eq!(d("2m"), Ok(120_000));
        assert_eq!(d("2h").unwrap_err(), "duration \"2h\" is over an hour");
        assert!(d("5").is_err() && d("s").is_err() && d("-1s").is_err());
    }

    /// Answers every `task.created` with a `task.completed` of the same task, as the
    /// platform's task service would.
    async fn responder(url: &str) -> tokio::task::JoinHandle<()> {
        use futures::StreamExt;
        let client = async_nats::connect(url).await.unwrap();
        let mut sub = client
            .subscribe("events.*.tasks.task.created.>")
            .await
            .unwrap();
        client.flush().await.unwrap();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let mut env: Value = serde_json::from_slice(&msg.payload).unwrap();
                env["eventName"] = "completed".into();
                env["id"] = publish::fresh_id().into();
                let out = publish::outgoing(&env).unwrap();
                client.publish(out.subject, out.body).await.unwrap();
            }
        })
    }

    /// Runs `text` against a server with the responder; one line per step.
    async fn check_run(text: &str, expected: &str) {
        let server = eventscope_testkit::NatsServer::start();
        let _responder = responder(&server.url()).await;
        let scenario = parse(text, &Map::new()).unwrap();
        let profile = ConnectionProfile {
            servers: vec![server.url()],
            ..ConnectionProfile::default()
        };
        let mut seen = Vec::new();
        let report = run(&scenario, &profile, false, &CancellationToken::new(), |u| {
            seen.push(format!("{}:{:?}", u.name, u.status))
        })
        .await
        .unwrap();
        let lines: Vec<String> = report
            .steps
            .iter()
            .map(|u| {
                let message = u
                    .message
                    .as_deref()
                    .unwrap_or("")
                    .replace(&report.run_id, "RUN");
                let message = regex::Regex::new("evt_[0-9A-Z]{26}")
                    .unwrap()
                    .replace_all(&message, "EVT")
                    .into_owned();
                let message = regex::Regex::new("usr_[0-9a-z]+")
                    .unwrap()
                    .replace_all(&message, "USR")
                    .into_owned();
                format!(
                    "{:?} {} ids={} {message}",
                    u.status,
                    u.name,
                    u.event_ids.len()
                )
            })
            .collect();
        assert_eq!(lines.join("\n").trim_end(), expected);
        assert_eq!(seen.len(), 2 * report.steps.len(), "{seen:?}");
    }

    #[tokio::test]
    async fn a_run_passes_and_a_failed_expect_shows_the_closest_misses() {
        check_run(
            ISSUE,
            "Passed create ids=1 \nPassed completed ids=1 \nPassed never failed ids=0 \nPassed pause ids=0",
        )
        .await;
        let failing = ISSUE
            .replace(
                "org:{{ vars.org }} name:task.completed",
                "org:{{ vars.org }} name:task.failed",
            )
            .replace("within: 5s", "within: 300ms")
            .replace(
                "'name:task.failed resourceId",
                "'name:task.completed resourceId",
            );
        check_run(
            &failing,
            "Passed create ids=1 \nFailed completed ids=0 expected 1 event matching `org:org_qa name:task.failed resourceId:task_RUN` within 300 ms, 0 matched (of 1 received)\n  closest miss: EVT task.completed resourceId=task_RUN org=org_qa fails `name:task.failed`\nFailed never failed ids=1 expected no event matching `name:task.completed resourceId:task_RUN` for 1.0 s, got EVT on events.org_qa.tasks.task.completed.task_RUN.owner.USR\nPassed pause ids=0",
        )
        .await;
    }

    #[test]
    fn saved_events_become_a_scenario_that_parses() {
        let a = template::get("task.created").unwrap().envelope;
        let b = template::get("task.completed").unwrap().envelope;
        let yaml = from_events("incident", &[a.clone(), b]);
        let s = parse(&yaml, &Map::new()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let kinds: Vec<&str> = s.steps.iter().map(|s| s.action.kind()).collect();
        assert_eq!(kinds, ["publish", "wait", "publish"]);
        let Action::Publish { envelope, .. } = &s.steps[0].action else {
            panic!()
        };
        let rid = a["resourceId"].as_str().unwrap();
        assert_eq!(envelope["resourceId"], format!("{rid}_{{{{ run.id }}}}"));
        assert_eq!(envelope["organizationId"], "{{ vars.org }}");
        assert_eq!(envelope["id"], "evt_{{ ulid() }}");
        assert_eq!(s.vars["org"], a["organizationId"]);
    }
}
