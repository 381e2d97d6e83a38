//! One event against the rules: the pattern, the `when` condition (the filter language on the
//! one event), the templates, the recipients (with the history fallback), and for every rule
//! that does not notify exactly one reason.
//!
//! Two ways in: [`explain`] renders everything and says why for each rule (the detail pane, the
//! editor, the CLI); [`would_notify`] only counts (the live stream and the volume report): it
//! reads the raw body along the paths it needs, and renders a template only when that is the
//! only way to know whether it would fail, so that the counts always equal what `explain` says.

use std::cell::OnceCell;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use ts_rs::TS;

use super::channel::{self, Message};
use super::rules::{Channel, Compiled, FieldPath, Priority, Ready, RuleSet, Slot};
use crate::event::Problems;
use crate::filter::{Expr, Filter, Term};
use crate::json_scan::Cursor;
use crate::store::{EventRef, EventStore, Sym};

/// Why a rule did not notify: exactly one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The rule is turned off (`enabled: false`).
    Disabled,
    /// The event is not the rule's: `pattern` is the rule's, `name` the event's.
    Event { pattern: String, name: String },
    /// The `when` query is false: the first of its terms that fails, and the value found there
    /// (JSON text; `None` when the event has nothing there).
    Condition { term: String, found: Option<String> },
    /// A template could not render: which one (`title`, `push.body`, ...), where, the missing
    /// name when a name is missing, and the engine's words.
    TemplateError {
        field: String,
        line: usize,
        column: usize,
        name: Option<String>,
        message: String,
    },
    /// Nobody to notify: `path` was missing (`why: missing`), held no ids (`empty`), or every id
    /// was excepted (`all_excepted`, with the ids).
    NoRecipients {
        path: String,
        why: NoRecipients,
        excepted: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum NoRecipients {
    Missing,
    Empty,
    AllExcepted,
}

impl Reason {
    /// The reason's name, as the CLI prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::Disabled => "disabled",
            Reason::Event { .. } => "event",
            Reason::Condition { .. } => "condition",
            Reason::TemplateError { .. } => "template_error",
            Reason::NoRecipients { .. } => "no_recipients",
        }
    }
}

/// Where a rule's recipients were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RecipientSource {
    /// The event itself.
    Event,
    /// A held event: the rule's `history` event of the same resource.
    #[serde(rename_all = "camelCase")]
    History {
        event_name: String,
        event_id: String,
    },
    /// The event lacks them and no held event has them.
    Unknown,
}

impl std::fmt::Display for RecipientSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecipientSource::Event => f.write_str("event"),
            RecipientSource::History {
                event_name,
                event_id,
            } => write!(f, "history: {event_name} {event_id}"),
            RecipientSource::Unknown => f.write_str("unknown"),
        }
    }
}

/// What one rule does with one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct RuleOutcome {
    pub rule: String,
    pub name: String,
    pub builtin: bool,
    pub priority: Priority,
    pub matched: bool,
    /// `None` exactly when matched.
    pub reason: Option<Reason>,
    /// The reason in words (empty when matched).
    pub detail: String,
    /// Who is notified, in order, without duplicates.
    pub recipients: Vec<String>,
    /// Where the recipients were read (`None` when the rule stopped before).
    pub source: Option<RecipientSource>,
    /// One per channel of the rule, in its order (empty unless matched).
    pub messages: Vec<Message>,
}

/// One notification as the CLI prints it: for email, `title` is the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub event_id: String,
    pub rule: String,
    pub priority: Priority,
    pub channel: Channel,
    pub recipient: String,
    pub title: String,
    pub body: String,
}

/// The held events the recipients may be looked up in: a store, and optionally the index the
/// live tally keeps of it (without one, the store is searched backwards).
#[derive(Clone, Copy, Default)]
pub struct Held<'s> {
    store: Option<&'s EventStore>,
    index: Option<&'s HistoryIndex>,
}

impl<'s> Held<'s> {
    /// No history: a rule whose event lacks the recipients says `unknown`.
    pub fn none() -> Held<'s> {
        Held::default()
    }

    /// The events of `store`.
    pub fn store(store: &'s EventStore) -> Held<'s> {
        Held {
            store: Some(store),
            index: None,
        }
    }

    /// The events of `store`, found through `index` (kept up to date over the same store).
    pub fn indexed(store: &'s EventStore, index: &'s HistoryIndex) -> Held<'s> {
        Held {
            store: Some(store),
            index: Some(index),
        }
    }

    /// The newest held event named `resource.event` about `resource_id`, received before `before`.
    fn find(
        &self,
        (resource, event): (&str, &str),
        resource_id: &str,
        before: u64,
    ) -> Option<EventRef<'s>> {
        let store = self.store?;
        if resource_id.is_empty() {
            return None;
        }
        if let Some(index) = self.index {
            let seq = index.get(resource, event, resource_id)?;
            return store.get(seq).filter(|e| e.seq() < before);
        }
        let interner = store.interner();
        let want = (interner.get(resource)?, interner.get(event)?);
        let end = before.min(store.next_seq());
        (store.first_seq()..end)
            .rev()
            .filter_map(|seq| store.get(seq))
            .find(|e| e.name_syms() == want && e.resource_id() == resource_id)
    }
}

/// The newest event of each resource for the names rules read history from: a map from the
/// name and resource id to a sequence number, bounded (entries evicted from the store go).
#[derive(Debug, Default)]
pub struct HistoryIndex {
    names: Vec<(String, String)>,
    syms: Vec<Option<(Sym, Sym)>>,
    seqs: FxHashMap<(u16, Box<str>), u64>,
}

/// Entries the index holds before it drops those of evicted events.
const HISTORY_ENTRIES: usize = 200_000;

impl HistoryIndex {
    /// An index of the events the rules of `rules` read history from.
    pub fn new(rules: &RuleSet) -> HistoryIndex {
        let mut names: Vec<(String, String)> = Vec::new();
        for r in &rules.ready {
            if let Some(h) = &r.history {
                if !names.contains(h) {
                    names.push(h.clone());
                }
            }
        }
        HistoryIndex {
            syms: vec![None; names.len()],
            names,
            seqs: FxHashMap::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Notes a held event of `store`.
    pub fn note(&mut self, store: &EventStore, ev: &EventRef<'_>) {
        if self.names.is_empty() {
            return;
        }
        let syms = ev.name_syms();
        for (i, (r, e)) in self.names.iter().enumerate() {
            if self.syms[i].is_none() {
                let interner = store.interner();
                if let (Some(a), Some(b)) = (interner.get(r), interner.get(e)) {
                    self.syms[i] = Some((a, b));
                }
            }
            if self.syms[i] == Some(syms) {
                if self.seqs.len() >= HISTORY_ENTRIES {
                    let first = store.first_seq();
                    self.seqs.retain(|_, seq| *seq >= first);
                    if self.seqs.len() >= HISTORY_ENTRIES {
                        self.seqs.clear();
                    }
                }
                self.seqs
                    .insert((i as u16, ev.resource_id().into()), ev.seq());
            }
        }
    }

    fn get(&self, resource: &str, event: &str, resource_id: &str) -> Option<u64> {
        let i = self
            .names
            .iter()
            .position(|(r, e)| r == resource && e == event)?;
        self.seqs.get(&(i as u16, Box::from(resource_id))).copied()
    }
}

/// What the evaluation of one event knows, built as it is needed.
pub(crate) struct Ctx<'e, 's> {
    pub ev: &'e EventRef<'s>,
    pub now_ms: i64,
    body: OnceCell<Option<&'s str>>,
    /// The body's top-level members (key, value text), scanned once.
    members: OnceCell<Vec<(std::borrow::Cow<'s, str>, &'s str)>>,
    /// The members of the nested objects looked into, by address: each is scanned once however
    /// many rules read it (a few an event).
    objects: std::cell::RefCell<Vec<Object<'s>>>,
    context: OnceCell<minijinja::Value>,
}

impl<'e, 's> Ctx<'e, 's> {
    pub(crate) fn new(ev: &'e EventRef<'s>, now_ms: i64) -> Ctx<'e, 's> {
        Ctx {
            ev,
            now_ms,
            body: OnceCell::new(),
            members: OnceCell::new(),
            objects: std::cell::RefCell::new(Vec::new()),
            context: OnceCell::new(),
        }
    }

    /// The value of `key` in the object `obj` (a slice of this event's body).
    fn get_in(&self, obj: &'s str, key: &str) -> Option<Option<&'s str>> {
        let at = obj.as_ptr() as usize;
        let mut objects = self.objects.borrow_mut();
        if let Some(o) = objects.iter().find(|o| o.at == at && o.len == obj.len()) {
            return o
                .members
                .as_ref()
                .map(|m| m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v));
        }
        let mut all = Vec::new();
        let members = Cursor::new(obj)
            .members(|k, (start, end)| {
                all.push((k, &obj[start..end]));
                true
            })
            .ok()
            .map(|()| all);
        let found = members
            .as_ref()
            .map(|m| m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v));
        if objects.len() < MAX_OBJECTS {
            objects.push(Object {
                at,
                len: obj.len(),
                members,
            });
        }
        found
    }

    /// The value of a top-level member of the body (the last of duplicates, as serde_json).
    fn member(&self, key: &str) -> Option<&'s str> {
        let members = self.members.get_or_init(|| {
            let mut out = Vec::new();
            if let Some(body) = self.body() {
                let mut all = Vec::new();
                let scanned = Cursor::new(body).members(|k, (start, end)| {
                    all.push((k, &body[start..end]));
                    true
                });
                if scanned.is_ok() {
                    out = all;
                }
            }
            out
        });
        members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
    }

    /// The body, when the store found it to be a valid JSON object: read on first use, since
    /// most rules stop at the event name or the condition.
    fn body(&self) -> Option<&'s str> {
        *self.body.get_or_init(|| {
            let problems = self.ev.problems();
            let valid = ![Problems::NOT_UTF8, Problems::NOT_JSON, Problems::NOT_OBJECT]
                .into_iter()
                .any(|p| problems.contains(p));
            valid
                .then(|| simdutf8::basic::from_utf8(self.ev.body()).ok())
                .flatten()
        })
    }

    /// The template context: the envelope's fields and `subject`.
    fn context(&self) -> &minijinja::Value {
        self.context.get_or_init(|| {
            let mut map = serde_json::Map::new();
            if let Some(Ok(Value::Object(body))) = self.body().map(serde_json::from_str::<Value>) {
                for key in ENVELOPE {
                    if let Some(v) = body.get(*key) {
                        map.insert(key.to_string(), v.clone());
                    }
                }
            }
            for (key, value) in self.filled() {
                if !value.is_empty() && !map.contains_key(key) {
                    map.insert(key.to_string(), Value::String(value.to_string()));
                }
            }
            map.insert("subject".into(), Value::String(self.ev.subject().into()));
            minijinja::Value::from(minijinja::value::Serde(&map))
        })
    }

    /// The envelope fields the store knows even when the body lacks them (from the subject).
    fn filled(&self) -> [(&'static str, &'s str); 6] {
        let ev = self.ev;
        [
            ("id", ev.id()),
            ("organizationId", ev.org()),
            ("source", ev.source()),
            ("resource", ev.resource()),
            ("resourceId", ev.resource_id()),
            ("eventName", ev.event_name()),
        ]
    }

    /// Whether the template context has a value at `names` (object keys only, as attribute
    /// lookups go).
    fn has_name(&self, names: &[String]) -> bool {
        let (root, keys) = names.split_first().expect("a name has a root");
        if root == "subject" {
            return keys.is_empty();
        }
        if !ENVELOPE.contains(&root.as_str()) {
            return false;
        }
        if let Some(value) = self.member(root) {
            return raw::exists(value, keys, &|o, k| self.get_in(o, k));
        }
        keys.is_empty()
            && self
                .filled()
                .iter()
                .any(|(k, v)| k == root && !v.is_empty())
    }

    /// The raw JSON texts at `path` (arrays on the way and at the end spread), or `None` when
    /// the path leads nowhere.
    fn values(&self, path: &FieldPath) -> Option<Vec<&'s str>> {
        let root = self.member(path.root)?;
        let mut out = Vec::new();
        raw::collect(root, &path.keys, &mut out, &|o, k| self.get_in(o, k)).then_some(out)
    }
}

/// Nested objects whose members one evaluation keeps.
const MAX_OBJECTS: usize = 32;

/// A nested object's members (`None` when it could not be scanned).
struct Object<'s> {
    at: usize,
    len: usize,
    members: Option<Vec<(std::borrow::Cow<'s, str>, &'s str)>>,
}

/// The envelope's fields a template sees.
const ENVELOPE: &[&str] = &[
    "id",
    "organizationId",
    "source",
    "resource",
    "resourceId",
    "eventName",
    "timestamp",
    "payload",
    "metadata",
];

/// Each rule's outcome for `ev`, in rule order.
pub fn explain(
    rules: &RuleSet,
    ev: &EventRef<'_>,
    held: &Held<'_>,
    now_ms: i64,
) -> Vec<RuleOutcome> {
    let ctx = Ctx::new(ev, now_ms);
    rules
        .ready
        .iter()
        .map(|ready| outcome(rules, ready, &ctx, held))
        .collect()
}

/// The notifications of `ev` in the CLI's order: rule, then recipient, then channel.
pub fn notifications(
    rules: &RuleSet,
    ev: &EventRef<'_>,
    held: &Held<'_>,
    now_ms: i64,
) -> Vec<Notification> {
    flatten(ev.id(), &explain(rules, ev, held, now_ms))
}

/// The notifications of outcomes already computed.
pub fn flatten(event_id: &str, outcomes: &[RuleOutcome]) -> Vec<Notification> {
    let mut out = Vec::new();
    for o in outcomes.iter().filter(|o| o.matched) {
        for recipient in &o.recipients {
            for m in &o.messages {
                out.push(Notification {
                    event_id: event_id.to_string(),
                    rule: o.rule.clone(),
                    priority: o.priority,
                    channel: m.channel,
                    recipient: recipient.clone(),
                    title: m.title.clone(),
                    body: m.body.clone(),
                });
            }
        }
    }
    out
}

fn outcome(rules: &RuleSet, ready: &Ready, ctx: &Ctx<'_, '_>, held: &Held<'_>) -> RuleOutcome {
    let rule = &ready.rule;
    let mut out = RuleOutcome {
        rule: rule.id.clone(),
        name: rule.name.clone(),
        builtin: rule.builtin,
        priority: rule.priority,
        matched: false,
        reason: None,
        detail: String::new(),
        recipients: Vec::new(),
        source: None,
        messages: Vec::new(),
    };
    let result = (|| {
        precondition(ready, ctx)?;
        let messages = render(rules, ready, ctx)?;
        let (recipients, source) = recipients(ready, ctx, held);
        out.source = Some(source);
        out.recipients = recipients?;
        out.messages = messages;
        Ok(())
    })();
    match result {
        Ok(()) => out.matched = true,
        Err(reason) => {
            out.detail = detail(&reason, ctx);
            if let (
                Some((r, e)),
                Reason::NoRecipients {
                    why: NoRecipients::Missing,
                    ..
                },
            ) = (&ready.history, &reason)
            {
                // Say where else the recipients were looked for.
                match &out.source {
                    Some(RecipientSource::History { event_id, .. }) => {
                        out.detail
                            .push_str(&format!(" here and in {r}.{e} {event_id}"));
                    }
                    _ => out.detail.push_str(&format!(
                        " and no {r}.{e} of {} is held",
                        ctx.ev.resource_id()
                    )),
                }
            }
            out.reason = Some(reason);
            out.recipients.clear();
        }
    }
    out
}

/// Enabled, the pattern, the condition.
fn precondition(ready: &Ready, ctx: &Ctx<'_, '_>) -> Result<(), Reason> {
    if !ready.rule.enabled {
        return Err(Reason::Disabled);
    }
    let (resource, event) = (ctx.ev.resource(), ctx.ev.event_name());
    if !ready.pattern.matches(resource, event) {
        return Err(Reason::Event {
            pattern: ready.rule.event.clone(),
            name: format!("{resource}.{event}"),
        });
    }
    if let Some(when) = &ready.when {
        if !when.matches(ctx.ev, ctx.now_ms) {
            return Err(condition_failure(when, ctx));
        }
    }
    Ok(())
}

/// The first top-level term of `when` that fails, and what the event has there.
fn condition_failure(when: &Filter, ctx: &Ctx<'_, '_>) -> Reason {
    let failed = when
        .conjuncts()
        .into_iter()
        .find(|c| !c.matches(ctx.ev, ctx.now_ms))
        .unwrap_or_else(|| when.clone());
    Reason::Condition {
        term: failed.to_string(),
        found: found(failed.expr(), ctx),
    }
}

/// What the event holds where `expr` looks (its first term that names a place).
fn found(expr: &Expr, ctx: &Ctx<'_, '_>) -> Option<String> {
    match expr {
        Expr::And(all) | Expr::Or(all) => all.iter().find_map(|e| found(e, ctx)),
        Expr::Not(inner) => found(inner, ctx),
        Expr::Term(term) => {
            let ev = ctx.ev;
            let quoted = |s: &str| Some(serde_json::to_string(s).expect("a string is JSON"));
            match term {
                Term::Field(field, _) => {
                    use crate::filter::EnvField::*;
                    match field {
                        Org => quoted(ev.org()),
                        Source => quoted(ev.source()),
                        Resource => quoted(ev.resource()),
                        Event => quoted(ev.event_name()),
                        ResourceId => quoted(ev.resource_id()),
                        Id => quoted(ev.id()),
                        Name => quoted(&format!("{}.{}", ev.resource(), ev.event_name())),
                    }
                }
                Term::Subject(_) => quoted(ev.subject()),
                Term::Path(path, _) | Term::Has(path) => {
                    let root = match path.root {
                        crate::filter::Root::Payload => "payload",
                        crate::filter::Root::Metadata => "metadata",
                    };
                    let p = FieldPath {
                        text: String::new(),
                        root,
                        keys: path.keys.clone(),
                    };
                    let values = ctx.values(&p)?;
                    let shown: Vec<String> = values.iter().map(|v| cut(v, 120)).collect();
                    match shown.len() {
                        0 => Some("[]".into()),
                        1 => shown.into_iter().next(),
                        _ => Some(format!("[{}]", shown.join(", "))),
                    }
                }
                Term::After(_) | Term::Before(_) => ctx.member("timestamp").map(|t| cut(t, 120)),
                Term::Is(_) | Term::Text(_) | Term::Regex(_) => None,
            }
        }
    }
}

fn cut(text: &str, max: usize) -> String {
    channel::truncate(text, max)
}

/// Renders the templates the rule's channels use, in the order title, body, push, email; the
/// first error is the reason.
fn render(rules: &RuleSet, ready: &Ready, ctx: &Ctx<'_, '_>) -> Result<Vec<Message>, Reason> {
    let mut rendered: Vec<(Slot, String)> = Vec::new();
    for slot in slots_used(ready) {
        let compiled = ready
            .template(slot)
            .expect("slots_used lists compiled ones");
        rendered.push((slot, render_one(rules, compiled, ctx)?));
    }
    let text = |slot: Slot, fallback: Slot| {
        rendered
            .iter()
            .find(|(s, _)| *s == slot)
            .or_else(|| rendered.iter().find(|(s, _)| *s == fallback))
            .map(|(_, t)| t.as_str())
            .unwrap_or_default()
    };
    Ok(ready
        .rule
        .channels
        .iter()
        .map(|&c| match c {
            Channel::Websocket => channel::format(
                c,
                text(Slot::Title, Slot::Title),
                text(Slot::Body, Slot::Body),
            ),
            Channel::Push => channel::format(
                c,
                text(Slot::PushTitle, Slot::Title),
                text(Slot::PushBody, Slot::Body),
            ),
            Channel::Email => channel::format(
                c,
                text(Slot::EmailSubject, Slot::Title),
                text(Slot::EmailBody, Slot::Body),
            ),
        })
        .collect())
}

/// The templates the rule's channels render, in order.
fn slots_used(ready: &Ready) -> impl Iterator<Item = Slot> + '_ {
    let has = |c: Channel| ready.rule.channels.contains(&c);
    let own = |slot: Slot| ready.template(slot).is_some();
    Slot::ALL.into_iter().filter(move |&slot| match slot {
        Slot::Title | Slot::Body => {
            has(Channel::Websocket)
                || (has(Channel::Push)
                    && !own(if slot == Slot::Title {
                        Slot::PushTitle
                    } else {
                        Slot::PushBody
                    }))
                || (has(Channel::Email)
                    && !own(if slot == Slot::Title {
                        Slot::EmailSubject
                    } else {
                        Slot::EmailBody
                    }))
        }
        Slot::PushTitle | Slot::PushBody => has(Channel::Push) && own(slot),
        Slot::EmailSubject | Slot::EmailBody => has(Channel::Email) && own(slot),
    })
}

fn render_one(rules: &RuleSet, compiled: &Compiled, ctx: &Ctx<'_, '_>) -> Result<String, Reason> {
    if !crate::template::is_template(&compiled.source) {
        return Ok(compiled.source.clone());
    }
    let template = rules
        .env
        .get_template(&compiled.key)
        .expect("every template was added to the environment");
    crate::template::render_bounded(&template, &compiled.source, ctx.context().clone()).map_err(
        |e| {
            let mut message = e.message;
            let mut name = missing_name(&message);
            // The environment keeps no debug info (see `RuleSet::parse`), so the engine does not
            // name what is undefined: it is the dotted name at the error's position.
            if name.is_none() && message == "undefined value" {
                name = name_at(&compiled.source, e.line, e.column).map(|full| {
                    // The shortest part of it the context lacks, as the engine would name it.
                    let parts: Vec<String> = full.split('.').map(str::to_string).collect();
                    (1..=parts.len())
                        .find(|&n| !ctx.has_name(&parts[..n]))
                        .map_or(full, |n| parts[..n].join("."))
                });
                if let Some(n) = &name {
                    message = format!("undefined value: `{n}` is undefined");
                }
            }
            Reason::TemplateError {
                field: compiled.slot.name().to_string(),
                line: e.line,
                column: e.column,
                name,
                message,
            }
        },
    )
}

/// The dotted name starting at a 1-based line and column (in characters) of `source`.
fn name_at(source: &str, line: usize, column: usize) -> Option<String> {
    let text = source.split('\n').nth(line.checked_sub(1)?)?;
    let name: String = text
        .chars()
        .skip(column.checked_sub(1)?)
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The name in "undefined value: `payload.x` is undefined".
fn missing_name(message: &str) -> Option<String> {
    if !message.starts_with("undefined value") {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The rule's recipients and where they were read; the error when there are none.
fn recipients(
    ready: &Ready,
    ctx: &Ctx<'_, '_>,
    held: &Held<'_>,
) -> (Result<Vec<String>, Reason>, RecipientSource) {
    let from = &ready.from;
    let no = |why, excepted| Reason::NoRecipients {
        path: from.text.clone(),
        why,
        excepted,
    };
    let (ids, source) = match ctx.values(from) {
        Some(values) => (ids_of(&values), RecipientSource::Event),
        None => {
            let found = ready
                .history
                .as_ref()
                .and_then(|(r, e)| held.find((r, e), ctx.ev.resource_id(), ctx.ev.seq()));
            let Some(earlier) = found else {
                return (
                    Err(no(NoRecipients::Missing, Vec::new())),
                    RecipientSource::Unknown,
                );
            };
            let source = RecipientSource::History {
                event_name: format!("{}.{}", earlier.resource(), earlier.event_name()),
                event_id: earlier.id().to_string(),
            };
            match Ctx::new(&earlier, ctx.now_ms).values(from) {
                Some(values) => (ids_of(&values), source),
                None => return (Err(no(NoRecipients::Missing, Vec::new())), source),
            }
        }
    };
    let mut ids = ids;
    if ids.is_empty() {
        return (Err(no(NoRecipients::Empty, Vec::new())), source);
    }
    if let Some(except) = &ready.except {
        let out: Vec<String> = ctx
            .values(except)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| id_of(v))
            .collect();
        let before = ids.clone();
        ids.retain(|id| !out.contains(id));
        if ids.is_empty() {
            return (Err(no(NoRecipients::AllExcepted, before)), source);
        }
    }
    (Ok(ids), source)
}

/// Whether `recipient` is at the rule's `from` for `ev` (in the event, or in its history).
pub(crate) fn is_candidate(
    ready: &Ready,
    ev: &EventRef<'_>,
    held: &Held<'_>,
    recipient: &str,
    now_ms: i64,
) -> bool {
    let ctx = Ctx::new(ev, now_ms);
    let ids = match ctx.values(&ready.from) {
        Some(values) => ids_of(&values),
        None => {
            let found = ready
                .history
                .as_ref()
                .and_then(|(r, e)| held.find((r, e), ev.resource_id(), ev.seq()));
            match found {
                Some(earlier) => Ctx::new(&earlier, now_ms)
                    .values(&ready.from)
                    .map(|v| ids_of(&v))
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        }
    };
    ids.iter().any(|id| id == recipient)
}

/// The distinct ids among raw JSON values, in order.
fn ids_of(values: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for v in values {
        if let Some(id) = id_of(v) {
            if !id.is_empty() && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// A recipient id from a raw JSON value: a string's text or a number's; anything else is not
/// an id.
fn id_of(raw: &str) -> Option<String> {
    match raw.as_bytes().first()? {
        b'"' => {
            if raw.contains('\\') {
                serde_json::from_str(raw).ok()
            } else {
                Some(raw[1..raw.len() - 1].to_string())
            }
        }
        b'-' | b'0'..=b'9' => Some(raw.to_string()),
        _ => None,
    }
}

/// The reason in words.
pub(crate) fn detail(reason: &Reason, _ctx: &Ctx<'_, '_>) -> String {
    match reason {
        Reason::Disabled => "the rule is disabled".into(),
        Reason::Event { pattern, name } => {
            format!("the rule is for {pattern}, the event is {name}")
        }
        Reason::Condition { term, found } => match found {
            Some(v) => format!("{term} does not hold: the event has {v}"),
            None => format!("{term} does not hold: the event has nothing there"),
        },
        Reason::TemplateError {
            field,
            line,
            column,
            message,
            ..
        } => format!("{field}: template error at {line}:{column}: {message}"),
        Reason::NoRecipients {
            path,
            why,
            excepted,
        } => match why {
            NoRecipients::Missing => format!("{path} is missing"),
            NoRecipients::Empty => format!("{path} holds no recipient ids"),
            NoRecipients::AllExcepted => format!(
                "every recipient at {path} is excepted ({})",
                excepted.join(", ")
            ),
        },
    }
}

/// Counting: the recipients `ready` notifies for the event, or `None` when it does not. Equal to
/// what [`explain`] says, at the cost of path walks over the raw body: templates made only of
/// `{{ names }}` are checked by looking the names up, the others rendered.
pub(crate) fn would_notify(
    rules: &RuleSet,
    ready: &Ready,
    ctx: &Ctx<'_, '_>,
    held: &Held<'_>,
) -> Option<Vec<String>> {
    if !ready.rule.enabled {
        return None;
    }
    if let Some(when) = &ready.when {
        if !when.matches(ctx.ev, ctx.now_ms) {
            return None;
        }
    }
    let ids = recipients(ready, ctx, held).0.ok()?;
    let small = ctx.ev.body().len().saturating_mul(64) <= crate::template::MAX_OUTPUT / 8;
    for slot in slots_used(ready) {
        let compiled = ready.template(slot)?;
        let ok = match &compiled.simple {
            Some(names) if small => names.iter().all(|n| ctx.has_name(n)),
            _ => render_one(rules, compiled, ctx).is_ok(),
        };
        if !ok {
            return None;
        }
    }
    Some(ids)
}

/// The raw JSON walks, over text the ingest scanner validated.
mod raw {
    use super::Cursor;

    /// serde_json's nesting limit: deeper values are not walked.
    const MAX_DEPTH: usize = 128;

    /// Whether `keys` lead somewhere through objects only.
    /// How an object's member is looked up (the caller caches the scans).
    pub(super) type Get<'g, 't> = &'g dyn Fn(&'t str, &str) -> Option<Option<&'t str>>;

    pub(super) fn exists<'t>(value: &'t str, keys: &[String], get: Get<'_, 't>) -> bool {
        let mut here = value;
        for key in keys {
            if !here.starts_with('{') {
                return false;
            }
            match get(here, key) {
                Some(Some(v)) => here = v,
                _ => return false,
            }
        }
        true
    }

    /// Pushes the texts at `keys` below `value`: a number key indexes an array, another key
    /// looks into every element, an array at the end gives its elements. False when the path
    /// leads nowhere.
    pub(super) fn collect<'t>(
        value: &'t str,
        keys: &[String],
        out: &mut Vec<&'t str>,
        get: Get<'_, 't>,
    ) -> bool {
        walk(value, keys, out, 0, get)
    }

    fn walk<'t>(
        value: &'t str,
        keys: &[String],
        out: &mut Vec<&'t str>,
        depth: usize,
        get: Get<'_, 't>,
    ) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let first = value.as_bytes().first().copied();
        let Some((key, rest)) = keys.split_first() else {
            if first == Some(b'[') {
                let _ = Cursor::new(value).items(|(s, e)| {
                    out.push(&value[s..e]);
                    true
                });
            } else {
                out.push(value);
            }
            return true;
        };
        match first {
            Some(b'{') => match get(value, key) {
                Some(Some(v)) => walk(v, rest, out, depth + 1, get),
                _ => false,
            },
            Some(b'[') => {
                let mut items = Vec::new();
                let _ = Cursor::new(value).items(|(s, e)| {
                    items.push(&value[s..e]);
                    true
                });
                match key.parse::<usize>() {
                    Ok(i) => items
                        .get(i)
                        .is_some_and(|v| walk(v, rest, out, depth + 1, get)),
                    Err(_) => {
                        let mut any = false;
                        for v in items {
                            any |= walk(v, keys, out, depth + 1, get);
                        }
                        any
                    }
                }
            }
            _ => false,
        }
    }
}
