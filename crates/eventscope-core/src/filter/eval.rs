//! Evaluation of a query against one held event.
//!
//! Envelope terms read the store's index (interned names, byte ranges), never the body.
//! Payload and metadata terms walk the raw body along their path with the ingest scanner
//! (`json_scan`), skipping everything off the path and parsing only the scalars at its end:
//! building a `serde_json::Value` of the whole body cost about 2 µs an event, which made a
//! re-filter of a million events take a second. Bodies the store did not find to be a valid JSON
//! object are still parsed whole, once, so their verdict stays serde_json's. Free text and
//! regexes search the raw bytes (`search`).

use std::cell::{Cell, OnceCell};

use serde_json::Value;

use super::parse::{absolute_time, number};
use super::search::{self, Search};
use super::{Bound, Compare, EnvField, Expr, Flag, Glob, Path, Root, Term};
use crate::event::Problems;
use crate::json_scan::Cursor;
use crate::store::EventRef;

struct Ctx<'e, 'a> {
    ev: &'e EventRef<'a>,
    now_ms: i64,
    /// The body as JSON, or `None` when it is not JSON.
    json: OnceCell<Option<Value>>,
    /// The body holds a backslash, so a key or value may be written with escapes.
    escaped: OnceCell<bool>,
    /// A sweep's cursors for its free-text and regex terms; without them each event is searched
    /// alone.
    cursors: Option<&'e [Cursors<'e>]>,
}

/// A free-text or regex term and where its search stands.
pub(super) type Cursors<'f> = (&'f Term, Cell<search::Cursor>);

pub(super) fn matches(
    expr: &Expr,
    ev: &EventRef<'_>,
    now_ms: i64,
    cursors: Option<&[Cursors<'_>]>,
) -> bool {
    let ctx = Ctx {
        ev,
        now_ms,
        json: OnceCell::new(),
        escaped: OnceCell::new(),
        cursors,
    };
    eval(expr, &ctx)
}

impl Ctx<'_, '_> {
    /// Whether `searching`, the search of `term`, finds it in the event.
    fn search(&self, term: &Term, searching: Search<'_>) -> bool {
        let arena = self.ev.arena();
        let cursor = self
            .cursors
            .and_then(|all| all.iter().find(|(t, _)| std::ptr::eq(*t, term)));
        match cursor {
            Some((_, cell)) => {
                let mut cursor = cell.get();
                let found = searching.in_event(&arena, &mut cursor);
                cell.set(cursor);
                found
            }
            None => searching.in_event(&arena, &mut search::Cursor::new(0)),
        }
    }
}

fn eval(expr: &Expr, ctx: &Ctx<'_, '_>) -> bool {
    match expr {
        Expr::And(list) => list.iter().all(|e| eval(e, ctx)),
        Expr::Or(list) => list.iter().any(|e| eval(e, ctx)),
        Expr::Not(inner) => !eval(inner, ctx),
        Expr::Term(term) => term_matches(term, ctx),
    }
}

fn term_matches(term: &Term, ctx: &Ctx<'_, '_>) -> bool {
    let ev = ctx.ev;
    match term {
        Term::Field(EnvField::Name, globs) => {
            let (resource, event) = (ev.resource(), ev.event_name());
            globs.iter().any(|g| match g.as_literal() {
                // The common case compares in place instead of building the name.
                Some(lit) => {
                    lit.len() == resource.len() + 1 + event.len()
                        && lit.starts_with(resource)
                        && lit[resource.len()..].starts_with('.')
                        && lit.ends_with(event)
                }
                None => g.matches(&format!("{resource}.{event}")),
            })
        }
        Term::Field(field, globs) => {
            let value = match field {
                EnvField::Org => ev.org(),
                EnvField::Source => ev.source(),
                EnvField::Resource => ev.resource(),
                EnvField::Event => ev.event_name(),
                EnvField::ResourceId => ev.resource_id(),
                EnvField::Id => ev.id(),
                EnvField::Name => unreachable!("handled above"),
            };
            globs.iter().any(|g| g.matches(value))
        }
        Term::Subject(pattern) => pattern.matches(ev.subject()),
        Term::Text(text) => ctx.search(term, Search::Text(&text.needle)),
        Term::Regex(re) => ctx.search(
            term,
            Search::Regex {
                re: &re.re,
                prefix: re.prefix.as_ref(),
            },
        ),
        Term::After(t) => ev
            .timestamp_ms()
            .is_some_and(|ts| ts >= t.resolve(ctx.now_ms)),
        Term::Before(t) => ev
            .timestamp_ms()
            .is_some_and(|ts| ts < t.resolve(ctx.now_ms)),
        Term::Is(Flag::Invalid) => !ev.problems().is_empty(),
        Term::Is(Flag::Large) => ev.is_large(),
        Term::Has(path) => {
            may_hold(ctx, path, None) && at_path(ctx, path, false, &mut |v| !v.is_null())
        }
        Term::Path(path, compare) => {
            may_hold(ctx, path, Some(compare))
                && at_path(ctx, path, true, &mut |v| {
                    leaf_matches(v, compare, ctx.now_ms)
                })
        }
    }
}

/// A quick refusal before walking the body: without a backslash in the body every key and
/// string is written literally, so a path whose keys (or an equality whose literal text) do
/// not occur in the bytes cannot hold. Most events of a stream lack the field a payload term
/// names; this keeps the live filter's cost near a memory scan for them.
fn may_hold(ctx: &Ctx<'_, '_>, path: &Path, compare: Option<&Compare>) -> bool {
    let body = ctx.ev.body();
    if *ctx
        .escaped
        .get_or_init(|| memchr::memchr(b'\\', body).is_some())
    {
        return true;
    }
    let quoted_key = |key: &str| {
        memchr::memmem::find_iter(body, key.as_bytes())
            .any(|at| at > 0 && body[at - 1] == b'"' && body.get(at + key.len()) == Some(&b'"'))
    };
    let root = match path.root {
        Root::Payload => "payload",
        Root::Metadata => "metadata",
    };
    let keys_present = std::iter::once(root)
        .chain(path.keys.iter().map(String::as_str))
        .filter(|k| k.parse::<usize>().is_err())
        .all(quoted_key);
    if !keys_present {
        return false;
    }
    match compare {
        // A value that could be a number may be written otherwise (`3` equals `3.0`).
        Some(Compare::Eq(globs)) => {
            let literals: Option<Vec<&str>> = globs.iter().map(|g| g.as_literal()).collect();
            match literals {
                Some(lits) if !lits.iter().any(|l| l.is_empty() || number(l).is_some()) => lits
                    .iter()
                    .any(|l| memchr::memmem::find(body, l.as_bytes()).is_some()),
                _ => true,
            }
        }
        _ => true,
    }
}

/// Whether `test` holds for some value at `path`. Arrays on the way are searched element by
/// element unless the key is an index; with `spread`, an array at the end is too.
fn at_path(
    ctx: &Ctx<'_, '_>,
    path: &Path,
    spread: bool,
    test: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let root = match path.root {
        Root::Payload => "payload",
        Root::Metadata => "metadata",
    };
    if let Some(found) = raw::at_path(ctx.ev, root, &path.keys, spread, test) {
        return found;
    }
    let json = ctx
        .json
        .get_or_init(|| serde_json::from_slice(ctx.ev.body()).ok());
    parsed_at_path(json.as_ref(), root, &path.keys, spread, test)
}

/// The same question on the parsed body: the reference the raw walk is held to.
fn parsed_at_path(
    json: Option<&Value>,
    root: &str,
    keys: &[String],
    spread: bool,
    test: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let Some(Value::Object(body)) = json else {
        return false;
    };
    body.get(root).is_some_and(|v| walk(v, keys, spread, test))
}

/// The path walk over raw JSON text. Every function answers `None` when it cannot decide the
/// way serde_json would (the scanner stopped, a scalar serde_json refuses, a path deeper than
/// serde_json parses), and the caller then falls back to the parsed body.
mod raw {
    use super::*;

    /// serde_json refuses bodies nested deeper than this; beyond it the parsed body decides.
    const MAX_DEPTH: usize = 128;

    pub(super) fn at_path(
        ev: &EventRef<'_>,
        root: &str,
        keys: &[String],
        spread: bool,
        test: &mut dyn FnMut(&Value) -> bool,
    ) -> Option<bool> {
        let problems = ev.problems();
        // Only a body the ingest scanner validated is walked: its bytes are then known to be
        // UTF-8 and one JSON object, so the scanner's ranges are the values serde_json sees.
        if [Problems::NOT_UTF8, Problems::NOT_JSON, Problems::NOT_OBJECT]
            .into_iter()
            .any(|p| problems.contains(p))
        {
            return None;
        }
        let body = simdutf8::basic::from_utf8(ev.body()).ok()?;
        match get(body, root)? {
            Some(value) => walk(value, keys, spread, test, 1),
            None => Some(false),
        }
    }

    /// `walk` of the parsed module above, on the text of one value.
    fn walk(
        value: &str,
        keys: &[String],
        spread: bool,
        test: &mut dyn FnMut(&Value) -> bool,
        depth: usize,
    ) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first = *value.as_bytes().first()?;
        let Some((key, rest)) = keys.split_first() else {
            return match first {
                b'[' if spread => any_item(value, &mut |v| walk(v, keys, spread, test, depth + 1)),
                // Containers are never equal to or ordered against anything, and are not null:
                // an empty one answers every test as the full one would, without building it.
                b'[' => Some(test(&Value::Array(Vec::new()))),
                b'{' => Some(test(&Value::Object(serde_json::Map::new()))),
                _ => Some(test(&serde_json::from_str::<Value>(value).ok()?)),
            };
        };
        match first {
            b'{' => match get(value, key)? {
                Some(v) => walk(v, rest, spread, test, depth + 1),
                None => Some(false),
            },
            b'[' => match key.parse::<usize>() {
                Ok(i) => {
                    let mut n = 0;
                    let mut at = None;
                    any_item(value, &mut |v| {
                        if n == i {
                            at = Some(v);
                        }
                        n += 1;
                        Some(n > i)
                    })?;
                    match at {
                        Some(v) => walk(v, rest, spread, test, depth + 1),
                        None => Some(false),
                    }
                }
                Err(_) => any_item(value, &mut |v| walk(v, keys, spread, test, depth + 1)),
            },
            _ => Some(false),
        }
    }

    /// The value of `key` in the object `obj`; like serde_json, the last of duplicate keys wins.
    fn get<'t>(obj: &'t str, key: &str) -> Option<Option<&'t str>> {
        let mut found = None;
        Cursor::new(obj)
            .members(|k, (start, end)| {
                if k == key {
                    found = Some(&obj[start..end]);
                }
                true
            })
            .ok()?;
        Some(found)
    }

    /// Calls `each` on the text of every element of the array `arr` until one says true.
    fn any_item<'t>(arr: &'t str, each: &mut dyn FnMut(&'t str) -> Option<bool>) -> Option<bool> {
        let mut answer = Some(false);
        Cursor::new(arr)
            .items(|(start, end)| {
                answer = each(&arr[start..end]);
                answer == Some(false)
            })
            .ok()?;
        answer
    }
}

fn walk(
    value: &Value,
    keys: &[String],
    spread: bool,
    test: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let Some((key, rest)) = keys.split_first() else {
        return match value {
            Value::Array(items) if spread => items.iter().any(|v| walk(v, keys, spread, test)),
            v => test(v),
        };
    };
    match value {
        Value::Object(map) => map.get(key).is_some_and(|v| walk(v, rest, spread, test)),
        Value::Array(items) => match key.parse::<usize>() {
            Ok(i) => items.get(i).is_some_and(|v| walk(v, rest, spread, test)),
            Err(_) => items.iter().any(|v| walk(v, keys, spread, test)),
        },
        _ => false,
    }
}

fn leaf_matches(value: &Value, compare: &Compare, now_ms: i64) -> bool {
    match compare {
        Compare::Eq(globs) => globs.iter().any(|g| equals(value, g)),
        Compare::Gt(b) => order(value, b, now_ms).is_some_and(|o| o.is_gt()),
        Compare::Ge(b) => order(value, b, now_ms).is_some_and(|o| o.is_ge()),
        Compare::Lt(b) => order(value, b, now_ms).is_some_and(|o| o.is_lt()),
        Compare::Le(b) => order(value, b, now_ms).is_some_and(|o| o.is_le()),
    }
}

/// `:` on a JSON value: strings by glob, numbers by value (`3` is `3.0`), booleans and null by
/// their JSON text; objects never.
fn equals(value: &Value, glob: &Glob) -> bool {
    match value {
        Value::String(s) => glob.matches(s),
        Value::Number(n) => match (glob.as_literal().and_then(number), n.as_f64()) {
            (Some(want), Some(have)) => want == have,
            _ => glob.matches(&n.to_string()),
        },
        Value::Bool(b) => glob.matches(if *b { "true" } else { "false" }),
        Value::Null => glob.matches("null"),
        Value::Object(_) | Value::Array(_) => false,
    }
}

/// Numbers order against numbers, times (RFC 3339 strings) against times; anything else does
/// not compare.
fn order(value: &Value, bound: &Bound, now_ms: i64) -> Option<std::cmp::Ordering> {
    match (value, bound) {
        (Value::Number(n), Bound::Number(b)) => n.as_f64()?.partial_cmp(b),
        (Value::String(s), Bound::Time(t)) => Some(absolute_time(s)?.cmp(&t.resolve(now_ms))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Filter;
    use crate::store::{EventStore, Incoming};

    /// A message posted in a conversation, with metadata tokens on its subject.
    const MSG: (&str, &str) = (
        "events.org_123.conversations.conversation.message_posted.conv_42.participant.part_789",
        r#"{"id":"evt_01","organizationId":"org_123","source":"conversations","resource":"conversation","resourceId":"conv_42","eventName":"message_posted","timestamp":"2026-11-27T11:50:00Z","payload":{"text":"Hello Zoë, un café?","sender":{"name":"Ada Lovelace","id":"usr_1"},"participants":["part_1","part_2"],"attempt":3,"durationMs":512.5,"status":"failed","quote":"say \"hi\"","sentAt":"2026-11-27T10:00:00Z","replies":[{"by":"usr_2","n":1},{"by":"usr_3","n":7}],"error":null,"count":"10","ok":true,"star":"a*b"},"metadata":{"filters":{"participant":"part_789"},"tags":["vip"]}}"#,
    );
    /// A failed task in another organization, without metadata.
    const TASK: (&str, &str) = (
        "events.org_9.tasks.task.failed.task_7",
        r#"{"id":"evt_02","organizationId":"org_9","source":"tasks","resource":"task","resourceId":"task_7","eventName":"failed","timestamp":"2026-11-27T09:00:00Z","payload":{"error":{"code":"E42"},"attempt":1,"durationMs":90}}"#,
    );
    /// Not JSON: its envelope fields come from the subject.
    const JUNK: (&str, &str) = (
        "events.org_123.apps.app.event_received.app_456",
        "not json <b>ZOË</b>",
    );

    /// Evaluates each query against each event at 2026-11-27T12:00:00Z; `expected` lists the
    /// events that match, by name.
    fn check(cases: &[(&str, &str)]) {
        let mut store = EventStore::default();
        let events = [("msg", MSG), ("task", TASK), ("junk", JUNK)];
        for (_, (subject, body)) in events {
            store.push(Incoming {
                subject,
                headers: &[],
                body: body.as_bytes(),
                received_ms: 0,
            });
        }
        let now = super::absolute_time("2026-11-27T12:00:00Z").unwrap();
        let mut failures = Vec::new();
        for (query, expected) in cases {
            let filter = Filter::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let got: Vec<&str> = events
                .iter()
                .enumerate()
                .filter(|(seq, _)| filter.matches(&store.get(*seq as u64).unwrap(), now))
                .map(|(_, (name, _))| *name)
                .collect();
            if got.join(" ") != *expected {
                failures.push(format!(
                    "{query:?}: expected {expected:?}, got {:?}",
                    got.join(" ")
                ));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn envelope_fields_globs_and_comma_lists() {
        check(&[
            ("", "msg task junk"),
            ("org:org_123", "msg junk"),
            ("organizationId:org_9", "task"),
            ("org:org_1", ""),
            ("org:org_*", "msg task junk"),
            ("org:*3", "msg junk"),
            ("org:o*_*3", "msg junk"),
            ("source:flows,tasks", "task"),
            ("source:tasks,apps", "task junk"),
            ("resource:conversation", "msg"),
            ("event:failed", "task"),
            ("eventName:message_*", "msg"),
            ("name:task.failed", "task"),
            ("name:task.fail", ""),
            ("name:*.failed,app.*", "task junk"),
            ("name:conversation.message_posted", "msg"),
            ("id:evt_01", "msg"),
            ("id:evt_*", "msg task"),
            ("resourceId:conv_*", "msg"),
            ("resourceId:app_456", "junk"),
            // Values are case-sensitive, like the ids they name.
            ("org:ORG_123", ""),
            (r#"org:"org_123""#, "msg junk"),
            (r#"id:evt_0\*"#, ""),
        ]);
    }

    #[test]
    fn boolean_structure() {
        check(&[
            ("org:org_123 source:apps", "junk"),
            ("org:org_123 AND source:apps", "junk"),
            ("source:tasks OR source:apps", "task junk"),
            // AND binds tighter than OR.
            ("org:org_9 event:x OR source:apps", "junk"),
            ("org:org_9 (event:x OR source:tasks)", "task"),
            ("-org:org_123", "task"),
            ("-(org:org_123 source:apps)", "msg task"),
            ("--org:org_9", "task"),
            ("-(-org:org_9 OR -(event:failed))", "task"),
            ("((org:org_123) ((resource:conversation)))", "msg"),
            (
                "(source:tasks OR (source:apps -is:invalid)) OR id:evt_01",
                "msg task",
            ),
        ]);
    }

    #[test]
    fn subject_with_nats_wildcards() {
        check(&[
            ("subject:events.*.apps.app.event_received.>", "junk"),
            ("subject:events.>", "msg task junk"),
            ("subject:events.org_9.tasks.task.failed.*", "task"),
            // `*` is one token: metadata tokens make the subject longer.
            ("subject:events.*.*.*.*.*", "task junk"),
            ("subject:events.*.*.*.*.*.participant.part_789", "msg"),
        ]);
    }

    #[test]
    fn the_quick_refusal_never_hides_a_match() {
        // Keys and values written with escapes, or as other number forms, are still found;
        // a body without the key is refused before any walk.
        let bodies = [
            r#"{"payload":{"st\u0061tus":"f\u0061iled","n":3.0}}"#,
            r#"{"payload":{"status":"failed","n":3e0,"list":["x"]}}"#,
            r#"{"payload":{"other":"failed status"}}"#,
        ];
        let mut store = EventStore::default();
        for body in bodies {
            store.push(Incoming {
                subject: "events.o.s.r.e.id",
                headers: &[],
                body: body.as_bytes(),
                received_ms: 0,
            });
        }
        let matching = |query: &str| -> Vec<u64> {
            let filter = Filter::parse(query).unwrap();
            (0..3)
                .filter(|&seq| filter.matches(&store.get(seq).unwrap(), 0))
                .collect()
        };
        assert_eq!(matching("payload.status:failed"), [0, 1]);
        assert_eq!(matching("payload.n:3"), [0, 1]);
        assert_eq!(matching("payload.n>2"), [0, 1]);
        assert_eq!(matching("has:payload.status"), [0, 1]);
        assert_eq!(matching("payload.list:x"), [1]);
        assert_eq!(matching("-has:payload.status"), [2]);
        assert_eq!(matching("payload.other:failed"), Vec::<u64>::new());
    }

    #[test]
    fn payload_and_metadata_paths() {
        check(&[
            ("payload.status:failed", "msg"),
            ("payload.status:fail*", "msg"),
            ("payload.status:Failed", ""),
            (r#"payload.sender.name:"Ada Lovelace""#, "msg"),
            (r#"payload.sender.name:"Ada *""#, "msg"),
            ("payload.sender.name:Ada", ""),
            (r#"payload.quote:"say \"hi\"""#, "msg"),
            (r#"payload.star:"a\*b""#, "msg"),
            (r#"payload.star:a\*c"#, ""),
            // Any element of an array; arrays of objects are searched by key.
            ("payload.participants:part_2", "msg"),
            ("payload.participants:part_3", ""),
            ("payload.participants.1:part_2", "msg"),
            ("payload.participants.0:part_2", ""),
            ("payload.replies.by:usr_3", "msg"),
            ("payload.replies.n>5", "msg"),
            ("metadata.tags:vip", "msg"),
            ("metadata.filters.participant:part_789", "msg"),
            ("metadata.tags:beta,vip", "msg"),
            // Numbers compare as numbers, strings as strings.
            ("payload.attempt:3", "msg"),
            ("payload.attempt:3.0", "msg"),
            ("payload.attempt:\"3\"", "msg"),
            ("payload.count:10", "msg"),
            ("payload.count>5", ""),
            ("payload.attempt>=3", "msg"),
            ("payload.attempt>3", ""),
            ("payload.attempt<3", "task"),
            ("payload.attempt<=3", "msg task"),
            ("payload.durationMs>500", "msg"),
            ("payload.durationMs>-1e3", "msg task"),
            ("payload.durationMs<512.5", "task"),
            ("payload.ok:true", "msg"),
            ("payload.error:null", "msg"),
            ("payload.error.code:E42", "task"),
            // Times compare as times.
            ("payload.sentAt>2026-11-27T09:59Z", "msg"),
            ("payload.sentAt<2026-11-27T10:00:00+00:00", ""),
            ("payload.sentAt<=2026-11-27T11:00:00+01:00", "msg"),
            ("payload.sentAt>-3h", "msg"),
            ("payload.sentAt>-1h", ""),
            ("payload.text>5", ""),
            // Missing paths and non-JSON bodies match nothing, and their negation matches.
            ("payload.nope:x", ""),
            ("payload.status.deeper:x", ""),
            ("-payload.nope:x", "msg task junk"),
            ("payload:x", ""),
            ("has:payload.error", "task"),
            ("has:payload.error.code", "task"),
            ("has:payload.participants", "msg"),
            ("has:metadata", "msg"),
            ("has:metadata.filters.participant", "msg"),
            ("-has:payload", "junk"),
        ]);
    }

    #[test]
    fn free_text_and_regex() {
        check(&[
            ("hello", "msg"),
            ("HELLO", "msg"),
            ("zoë", "msg junk"),
            ("ZOË", "msg junk"),
            (r#""un café?""#, "msg"),
            (r#""UN CAFÉ""#, "msg"),
            (r#""say \"hi\"""#, ""),
            (r#""say \\\"hi""#, "msg"),
            ("part_789", "msg"),
            ("app_456", "junk"),
            ("task_7", "task"),
            ("<b>", "junk"),
            (r#""""#, "msg task junk"),
            ("/E\\d+/", "task"),
            ("/^not json/", "junk"),
            ("/(?i)zoë/", "msg junk"),
            ("/org_9\\.tasks/", "task"),
            ("/a\\/b/", ""),
        ]);
    }

    #[test]
    fn times_and_flags() {
        check(&[
            ("after:2026-11-27T10:00Z", "msg"),
            ("after:2026-11-27T09:00:00Z", "msg task"),
            ("before:2026-11-27T09:00:00Z", ""),
            ("before:2026-11-27T09:00:00.001Z", "task"),
            ("after:2026-11-27", "msg task"),
            ("before:-1h", "task"),
            ("after:-1h", "msg"),
            ("last:15m", "msg"),
            ("last:3h", "msg task"),
            ("last:1w", "msg task"),
            // An event without a valid timestamp is in no time range.
            ("-last:1w", "junk"),
            ("is:invalid", "junk"),
            ("-is:invalid", "msg task"),
            ("is:large", ""),
        ]);
    }

    /// The raw walk gives the parsed body's answer for every path term, on awkward bodies and
    /// on a few thousand simulated events of every type.
    #[test]
    fn raw_path_walk_agrees_with_the_parsed_body() {
        use super::super::{Expr, Term};
        use crate::simulate::{SimConfig, Simulator};

        let awkward = [
            r#"{"payload":{"status":"old"},"payload":{"status":"failed"}}"#,
            r#"{"payload":{"st\u0061tus":"failed","a":[[1,[2]],[{"b":600}]]}}"#,
            r#" { "payload" : { "status" : "failed" , "durationMs" : 7e2 , "error" : { } } } "#,
            r#"{"payload":{"items":[{"n":1},{"n":501}],"error":[],"x":[null]}}"#,
            r#"{"payload":{"error":null,"items":[],"n":"600"},"metadata":{"tags":[]}}"#,
            r#"{"payload":[{"status":"failed"}],"metadata":{"tags":["a","vip"]}}"#,
            r#"{"payload":"failed","metadata":null}"#,
            r#"[{"payload":{"status":"failed"}}]"#,
            r#"{"payload":{"status":"failed"}"#,
        ];
        let mut bodies: Vec<Vec<u8>> = awkward.iter().map(|b| b.as_bytes().to_vec()).collect();
        bodies.push(b"\xff{\"payload\":{}}".to_vec());
        let mut sim = Simulator::new(SimConfig {
            seed: 3,
            ..SimConfig::default()
        });
        bodies.extend((0..3000).map(|_| serde_json::to_vec(&sim.next()).unwrap()));
        let mut store = EventStore::default();
        for body in &bodies {
            store.push(Incoming {
                subject: "events.o.s.r.e.x",
                headers: &[],
                body,
                received_ms: 0,
            });
        }
        let queries = [
            "payload.status:failed",
            "payload.status:*",
            "payload.durationMs>500",
            "payload.n:600",
            "payload.items.n>500",
            "payload.items.1.n:501",
            "payload.a.b>=600",
            "payload.a.0.1:2",
            "payload.x:null",
            "payload.steps.status:failed",
            "payload.attempt>=2",
            "payload.dueAt<2026-11-27",
            "payload:failed",
            "metadata.tags:vip",
            "metadata.filters.status:*",
            "has:payload.error",
            "has:payload.error.code",
            "has:payload.items",
            "has:metadata.tags",
            "has:payload",
        ];
        type Test<'a> = Box<dyn FnMut(&serde_json::Value) -> bool + 'a>;
        let mut disagreements = Vec::new();
        for query in queries {
            let filter = Filter::parse(query).unwrap();
            let Expr::Term(term) = filter.expr() else {
                panic!("{query} is one term")
            };
            let (path, spread, mut test): (_, _, Test<'_>) = match term {
                Term::Has(path) => (path, false, Box::new(|v| !v.is_null())),
                Term::Path(path, compare) => (
                    path,
                    true,
                    Box::new(move |v| super::leaf_matches(v, compare, 0)),
                ),
                _ => panic!("{query} is a path term"),
            };
            let root = match path.root {
                super::Root::Payload => "payload",
                super::Root::Metadata => "metadata",
            };
            let mut hits = 0;
            for (seq, body) in bodies.iter().enumerate() {
                let ev = store.get(seq as u64).unwrap();
                let json = serde_json::from_slice(body).ok();
                let want =
                    super::parsed_at_path(json.as_ref(), root, &path.keys, spread, &mut test);
                let raw = super::raw::at_path(&ev, root, &path.keys, spread, &mut test);
                // A JSON object is always decided by the raw walk, never by the fallback.
                let object = matches!(json, Some(serde_json::Value::Object(_)));
                let got = raw.unwrap_or(want);
                hits += want as usize;
                if got != want || (object && raw.is_none()) {
                    disagreements.push(format!(
                        "{query} on {}: raw {raw:?}, parsed {want}",
                        String::from_utf8_lossy(body)
                    ));
                }
            }
            if hits == 0 {
                disagreements.push(format!("{query} matches nothing: the case proves little"));
            }
        }
        assert!(disagreements.is_empty(), "\n{}", disagreements.join("\n"));
    }

    #[test]
    fn large_bodies_are_flagged() {
        let mut store = EventStore::default();
        let body = format!(r#"{{"payload":"{}"}}"#, "x".repeat(300 * 1024));
        let seq = store.push(Incoming {
            subject: "events.o.s.r.e.x",
            headers: &[],
            body: body.as_bytes(),
            received_ms: 0,
        });
        let ev = store.get(seq).unwrap();
        let hits = |q: &str| Filter::parse(q).unwrap().matches(&ev, 0);
        assert_eq!(
            (hits("is:large"), hits("-is:large"), hits("xxxx")),
            (true, false, true)
        );
    }
}
