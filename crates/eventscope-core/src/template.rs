//! Templates: the one engine (minijinja, strict about undefined values) that fills events for the
//! composer, `publish --template` and scenarios, and the catalogue of one template per platform
//! event type.
//!
//! A template is an envelope as JSON whose string values may hold `{{ ... }}` expressions: each
//! string is rendered on its own, so a value can never break the JSON around it, and an error
//! names the field it is in. Strings without `{{` or `{%` are copied, which keeps a bulk
//! publish of a plain template as cheap as publishing fixed bytes.
//!
//! Values a template can use: `vars.*`, `run.id`, `i`, `now()`, `ulid()` and, in scenarios,
//! `steps.<name>.event`.

use std::fmt::Write as _;
use std::io;

use chrono::{SecondsFormat, Utc};
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::simulate::{self, catalogue};

/// Most bytes one string of a template may render to: past it the render stops with an error.
/// Above NATS's default 1 MiB payload limit, so that a large but legal event renders.
pub const MAX_OUTPUT: usize = 4 << 20;
/// Instructions one render may execute: a loop that would run for minutes stops here after
/// some tens of milliseconds.
pub const FUEL: u64 = 2_000_000;
/// Nesting of calls, includes and blocks.
const RECURSION_LIMIT: usize = 64;

/// Why a template could not be rendered: where (the dotted path of the string in the envelope,
/// the line and column inside that string) and what.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.describe())]
pub struct TemplateError {
    /// The dotted path of the string in the envelope (`payload.title`); empty for a lone string.
    pub path: String,
    /// 1-based line and column inside the string, when the engine knows them.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl TemplateError {
    fn describe(&self) -> String {
        let mut out = String::new();
        if !self.path.is_empty() {
            let _ = write!(out, "{}: ", self.path);
        }
        if self.line > 0 {
            let _ = write!(out, "template error at {}:{}: ", self.line, self.column);
        } else {
            out.push_str("template error: ");
        }
        out.push_str(&self.message);
        out
    }

    fn at(mut self, path: &str) -> TemplateError {
        self.path = path.to_string();
        self
    }
}

/// What a template can refer to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// `vars.*`: the scenario's `vars`, overridden by `--var`.
    pub vars: Map<String, Value>,
    /// `run.id`: short, unique per run, valid as a subject token.
    pub run_id: String,
    /// `i`: the index within a repeated publish, from 0.
    pub i: u64,
    /// `steps.<name>.event`: what earlier steps matched, by step name.
    pub steps: Map<String, Value>,
    /// Steps whose event is not known yet (when a scenario is checked before it runs): any
    /// path into their `event` renders as `x`, so that only names that can never exist fail.
    pub placeholders: Vec<String>,
}

impl Scope {
    /// A scope for a new run: no vars, a fresh `run.id`.
    pub fn new() -> Scope {
        Scope {
            run_id: run_id(),
            ..Scope::default()
        }
    }

    fn to_value(&self) -> minijinja::Value {
        minijinja::context! {
            vars => minijinja::Value::from(minijinja::value::Serde(&self.vars)),
            run => minijinja::context! { id => self.run_id.as_str() },
            i => self.i,
            steps => self.steps_value(),
        }
    }

    fn steps_value(&self) -> minijinja::Value {
        let mut steps: std::collections::BTreeMap<String, minijinja::Value> = self
            .steps
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    minijinja::Value::from(minijinja::value::Serde(v)),
                )
            })
            .collect();
        for name in &self.placeholders {
            steps.insert(
                name.clone(),
                minijinja::context! { event => minijinja::Value::from_object(Anything) },
            );
        }
        minijinja::Value::from(steps)
    }
}

/// A value of which every attribute and item is another, rendered as `x`.
#[derive(Debug)]
struct Anything;

impl minijinja::value::Object for Anything {
    fn get_value(self: &std::sync::Arc<Self>, _key: &minijinja::Value) -> Option<minijinja::Value> {
        Some(minijinja::Value::from_object(Anything))
    }

    fn render(self: &std::sync::Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("x")
    }
}

/// A fresh `run.id`: 8 lowercase letters and digits, a valid subject token and a short one to
/// put in resource ids (40 bits of randomness: unique enough for the runs one bus sees).
pub fn run_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let bits: u64 = rand::random();
    (0..8)
        .map(|k| ALPHABET[((bits >> (k * 5)) & 31) as usize] as char)
        .collect()
}

/// A fresh ULID (26 Crockford base-32 characters, sortable by time).
pub fn ulid() -> String {
    simulate::event_id(Utc::now().timestamp_millis(), rand::random())["evt_".len()..].to_string()
}

/// The current time as the platform writes it (RFC 3339, milliseconds, `Z`).
pub fn now() -> String {
    with_time(Utc::now(), str::to_string)
}

/// Calls `f` with `time` as [`now`] writes it. A bulk send stamps hundreds of events per
/// millisecond: formatting once per millisecond took a third of its time.
pub(crate) fn with_time<T>(time: chrono::DateTime<Utc>, f: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let ms = time.timestamp_millis();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != ms {
            *last = (ms, time.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        f(&last.1)
    })
}

/// True when `text` has something to render; anything else is copied as it is.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The engine, configured once: strict undefined values, bounded work and recursion.
pub struct Engine {
    env: Environment<'static>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine { env: environment() }
    }

    /// Checks the syntax of one string without rendering it.
    pub fn check(&self, text: &str) -> Result<(), TemplateError> {
        if !is_template(text) {
            return Ok(());
        }
        self.env
            .template_from_str(text)
            .map(|_| ())
            .map_err(|e| convert(text, &e, false))
    }

    /// Renders one string.
    pub fn render(&self, text: &str, scope: &Scope) -> Result<String, TemplateError> {
        if !is_template(text) {
            return Ok(text.to_string());
        }
        let template = self
            .env
            .template_from_str(text)
            .map_err(|e| convert(text, &e, false))?;
        render_bounded(&template, text, scope.to_value())
    }

    /// Renders every string of `value` (keys stay as written); errors name the string's path.
    pub fn render_value(&self, value: &Value, scope: &Scope) -> Result<Value, TemplateError> {
        let mut path = String::new();
        self.walk(value, scope, &mut path)
    }

    /// Checks the syntax of every string of `value`.
    pub fn check_value(&self, value: &Value) -> Result<(), TemplateError> {
        fn walk(engine: &Engine, value: &Value, path: &mut String) -> Result<(), TemplateError> {
            match value {
                Value::String(s) => engine.check(s).map_err(|e| e.at(path)),
                Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
                    with_key(path, &i.to_string(), |path| walk(engine, v, path))
                }),
                Value::Object(map) => map
                    .iter()
                    .try_for_each(|(k, v)| with_key(path, k, |path| walk(engine, v, path))),
                _ => Ok(()),
            }
        }
        walk(self, value, &mut String::new())
    }

    fn walk(
        &self,
        value: &Value,
        scope: &Scope,
        path: &mut String,
    ) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => Value::String(self.render(s, scope).map_err(|e| e.at(path))?),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    out.push(with_key(path, &i.to_string(), |path| {
                        self.walk(v, scope, path)
                    })?);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map {
                    let rendered = with_key(path, k, |path| self.walk(v, scope, path))?;
                    out.insert(k.clone(), rendered);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// An environment configured as every template of Eventscope is: strict undefined values,
/// bounded work and recursion, `now()` and `ulid()`. Notification rules keep their compiled
/// templates in one of their own.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_function("now", now);
    env.add_function("ulid", ulid);
    env
}

/// Renders a compiled template (whose source is `text`) within [`MAX_OUTPUT`].
pub(crate) fn render_bounded(
    template: &minijinja::Template<'_, '_>,
    text: &str,
    context: minijinja::Value,
) -> Result<String, TemplateError> {
    let mut out = Bounded {
        buf: Vec::new(),
        over: false,
    };
    if let Err(e) = template.render_captured_to(context, &mut out) {
        return Err(convert(text, &e, out.over));
    }
    String::from_utf8(out.buf).map_err(|_| TemplateError {
        path: String::new(),
        line: 0,
        column: 0,
        message: "the output is not UTF-8".to_string(),
    })
}

/// True when some string of `value` is a template.
pub fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

fn with_key<T>(path: &mut String, key: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    let out = f(path);
    path.truncate(len);
    out
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Bounded {
    buf: Vec<u8>,
    over: bool,
}

impl io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > MAX_OUTPUT {
            self.over = true;
            return Err(io::Error::other("output too large"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub(crate) fn convert(text: &str, e: &minijinja::Error, over: bool) -> TemplateError {
    let (line, column) = match e.range() {
        Some(range) => {
            let before = &text[..range.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            (line, column)
        }
        None => (
            e.line().unwrap_or(0),
            if e.line().is_some() { 1 } else { 0 },
        ),
    };
    let message = if over {
        format!("the output is over {} MiB", MAX_OUTPUT >> 20)
    } else if e.kind() == ErrorKind::OutOfFuel {
        "too much work (a loop that does not end?)".to_string()
    } else {
        match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        }
    };
    TemplateError {
        path: String::new(),
        line,
        column,
        message,
    }
}

/// One template of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueTemplate {
    /// The event type's dotted name, `task.created`.
    pub name: &'static str,
    pub source: &'static str,
    pub description: &'static str,
    /// The envelope: the simulator's example for the type. Its `id` and `timestamp` are
    /// replaced at each send unless pinned.
    pub envelope: Value,
}

/// One template per platform event type, in the platform's order.
pub fn catalogue() -> Vec<CatalogueTemplate> {
    catalogue::all()
        .into_iter()
        .map(|t| CatalogueTemplate {
            name: t.name,
            source: t.source,
            description: t.description,
            envelope: serde_json::to_value(&t.example).expect("an envelope is JSON"),
        })
        .collect()
}

/// The template of the event type `name`.
pub fn get(name: &str) -> Option<CatalogueTemplate> {
    catalogue().into_iter().find(|t| t.name == name)
}

/// The catalogue as the composer lists it.
pub fn infos() -> Vec<crate::wire::TemplateInfo> {
    catalogue()
        .into_iter()
        .map(|t| crate::wire::TemplateInfo {
            name: t.name.to_string(),
            source: t.source.to_string(),
            description: t.description.to_string(),
            envelope: serde_json::to_string_pretty(&t.envelope).expect("an envelope is JSON"),
        })
        .collect()
}

/// The names of the catalogue, for "unknown template" errors and `--list-templates`.
pub fn names() -> Vec<&'static str> {
    catalogue::names().to_vec()
}

/// Sets the value at a dotted path (`payload.taskId`, `metadata.filters.owner`), creating
/// objects on the way; a number indexes an existing array.
pub fn set_path(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!("invalid path {path:?}"));
    }
    let mut here = target;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let last = keys.peek().is_none();
        here = match here {
            Value::Object(map) => {
                if last {
                    map.insert(key.to_string(), value);
                    return Ok(());
                }
                map.entry(key.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
            }
            Value::Array(items) => {
                let Some(slot) = key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) else {
                    return Err(format!("{path}: no element {key} in the array"));
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("{path}: the value before {key:?} is not an object")),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut scope = Scope {
            run_id: "r1".into(),
            i: 3,
            ..Scope::default()
        };
        scope.vars.insert("org".into(), json!("org_qa"));
        scope
            .steps
            .insert("made".into(), json!({"event": {"resourceId": "task_9"}}));
        scope
    }

    /// Renders `text` and shows the output or the error.
    fn check(text: &str, expected: &str) {
        let got = match Engine::new().render(text, &scope()) {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn values_a_template_can_use() {
        check("plain {not a template}", "plain {not a template}");
        check("{{ vars.org }}/{{ run.id }}/{{ i }}", "org_qa/r1/3");
        check("{{ steps.made.event.resourceId }}", "task_9");
        check("{{ steps['made'].event.resourceId }}", "task_9");
        let mut loose = scope();
        loose.placeholders.push("later".into());
        let got = Engine::new().render("{{ steps.later.event.payload.a[0] }}", &loose);
        assert_eq!(got.unwrap(), "x");
        let now = Engine::new().render("{{ now() }}", &scope()).unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok(), "{now}");
        let id = Engine::new().render("{{ ulid() }}", &scope()).unwrap();
        assert_eq!(id.len(), 26, "{id}");
        let run = run_id();
        assert!(crate::topic::check_token("run.id", &run).is_ok() && run.len() == 8);
        assert_ne!(run_id(), run_id());
    }

    #[test]
    fn errors_say_where_and_what() {
        check(
            "{{ vars.nope }}",
            "error: template error at 1:4: undefined value: `vars.nope` is undefined",
        );
        check(
            "line one\n  {{ steps.other.event }}",
            "error: template error at 2:11: undefined value: `steps.other` is undefined",
        );
        check(
            "{{ vars.org ",
            "error: template error at 1:9: syntax error: unexpected end of input, expected end of variable block",
        );
        check(
            "{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}",
            "error: template error at 1:1: too much work (a loop that does not end?)",
        );
        check(
            "{% for x in range(10000) %}{{ 'x' * 1000 }}{% endfor %}",
            "error: template error: the output is over 4 MiB",
        );
    }

    #[test]
    fn a_value_renders_string_by_string() {
        let engine = Engine::new();
        let v = json!({"a": "{{ vars.org }}", "b": [1, "x{{ i }}"], "c": "say \"{{ run.id }}\""});
        assert_eq!(
            engine.render_value(&v, &scope()).unwrap(),
            json!({"a": "org_qa", "b": [1, "x3"], "c": "say \"r1\""})
        );
        let bad = json!({"payload": {"list": ["ok", "{{ nope }}"]}});
        assert_eq!(
            engine.render_value(&bad, &scope()).unwrap_err().to_string(),
            "payload.list.1: template error at 1:4: undefined value: `nope` is undefined"
        );
        assert_eq!(
            engine
                .check_value(&json!({"x": "{% if %}"}))
                .unwrap_err()
                .to_string(),
            "x: template error at 1:7: syntax error: unexpected end of block"
        );
        // A 900 KB string renders (it has nothing to render, and would if it had).
        let big = format!("{}{{{{ i }}}}", "x".repeat(900_000));
        assert_eq!(engine.render(&big, &scope()).unwrap().len(), 900_001);
    }

    #[test]
    fn set_path_creates_objects_and_refuses_what_it_cannot_reach() {
        let mut v = json!({"payload": {"a": 1, "list": [1, 2]}, "id": "x"});
        set_path(&mut v, "payload.b.c", json!("d")).unwrap();
        set_path(&mut v, "payload.list.1", json!(5)).unwrap();
        set_path(&mut v, "id", json!("y")).unwrap();
        assert_eq!(
            v,
            json!({"payload": {"a": 1, "list": [1, 5], "b": {"c": "d"}}, "id": "y"})
        );
        let err = |path: &str| set_path(&mut v.clone(), path, json!(1)).unwrap_err();
        assert_eq!(
            err("payload.list.7"),
            "payload.list.7: no element 7 in the array"
        );
        assert_eq!(err("a..b"), "invalid path \"a..b\"");
        assert_eq!(
            err("id.x.y"),
            "id.x.y: the value before \"x\" is not an object"
        );
    }

    #[test]
    fn the_catalogue_has_a_template_per_event_type() {
        let names: Vec<&str> = catalogue().iter().map(|t| t.name).collect();
        assert_eq!(names, names_list());
        let t = get("task.created").unwrap();
        assert_eq!(t.envelope["resource"], "task");
        assert_eq!(t.envelope["eventName"], "created");
        assert!(t.envelope["payload"].is_object());
        assert!(get("task.started").is_none());
    }

    fn names_list() -> Vec<&'static str> {
        names()
    }
}
