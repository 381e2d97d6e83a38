//! Server narrowing: the NATS subject patterns a query implies, so that a capture can
//! subscribe to only what can match.
//!
//! A pattern here is a token list with `*` and `>`; AND intersects pattern sets, OR unions
//! them, and a term that says nothing about the subject leaves it open. Envelope terms map to
//! the tokens of `events.{org}.{source}.{resource}.{event}.{resourceId}[.{key}.{value}...]`,
//! which assumes an event is published on the subject its envelope implies (the publisher's
//! rule in the platform). The reasoning behind the endings is in `docs/filter.md`.

use super::{EnvField, Expr, Glob, Term};
use crate::topic;

/// Past this many patterns a comma-list product is not worth subscribing to one by one.
const MAX_PATTERNS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(String),
    One,
    Rest,
}

type Pattern = Vec<Tok>;

/// `None`: the query does not narrow the subject (any subject may match).
type Narrowed = Option<Vec<Pattern>>;

pub(super) fn subjects(expr: &Expr) -> Vec<String> {
    match narrow(expr) {
        None => vec![format!("{}.>", topic::PREFIX)],
        Some(patterns) => patterns.iter().map(|p| render(p.as_slice())).collect(),
    }
}

fn render(pattern: &[Tok]) -> String {
    let tokens: Vec<&str> = pattern
        .iter()
        .map(|t| match t {
            Tok::Lit(s) => s.as_str(),
            Tok::One => "*",
            Tok::Rest => ">",
        })
        .collect();
    tokens.join(".")
}

fn narrow(expr: &Expr) -> Narrowed {
    match expr {
        Expr::Term(term) => narrow_term(term),
        // A negation can match events anywhere.
        Expr::Not(_) => None,
        Expr::And(list) => {
            let mut acc: Narrowed = None;
            for e in list {
                acc = match (acc, narrow(e)) {
                    (None, n) | (n, None) => n,
                    (Some(a), Some(b)) => {
                        if a.len().saturating_mul(b.len()) > MAX_PATTERNS {
                            // Too many to list: either side alone still holds every match.
                            Some(if a.len() <= b.len() { a } else { b })
                        } else {
                            let mut out = Vec::new();
                            for p in &a {
                                for q in &b {
                                    if let Some(r) = intersect(p, q) {
                                        add(&mut out, r);
                                    }
                                }
                            }
                            Some(out)
                        }
                    }
                };
            }
            acc
        }
        Expr::Or(list) => {
            let mut out = Vec::new();
            for e in list {
                for p in narrow(e)? {
                    add(&mut out, p);
                }
            }
            (out.len() <= MAX_PATTERNS).then_some(out)
        }
    }
}

fn narrow_term(term: &Term) -> Narrowed {
    match term {
        Term::Subject(pattern) => Some(vec![parse_pattern(pattern.as_str())]),
        Term::Field(EnvField::Id, _) => None,
        Term::Field(EnvField::Name, globs) => {
            let mut out = Vec::new();
            for glob in globs {
                let (resource, event) = name_tokens(glob)?;
                if resource == Tok::One && event == Tok::One {
                    return None;
                }
                for p in scheme(&[(3, resource.clone()), (4, event)]) {
                    add(&mut out, p);
                }
            }
            Some(out)
        }
        Term::Field(field, globs) => {
            let position = match field {
                EnvField::Org => 1,
                EnvField::Source => 2,
                EnvField::Resource => 3,
                EnvField::Event => 4,
                _ => 5,
            };
            let mut out = Vec::new();
            for glob in globs {
                // A glob or a value that cannot be a token does not narrow.
                let token = glob.as_literal().filter(|v| is_token(v))?;
                for p in scheme(&[(position, Tok::Lit(token.to_string()))]) {
                    add(&mut out, p);
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// The resource and event tokens of a `name:` value: `task.failed`, `task.*`, `*.failed`.
fn name_tokens(glob: &Glob) -> Option<(Tok, Tok)> {
    let text = glob.pieces().join("*");
    let (resource, event) = text.split_once('.')?;
    if event.contains('.') {
        return None;
    }
    let token = |part: &str, whole: bool| -> Tok {
        if whole && part == "*" {
            Tok::One
        } else if !part.contains('*') && is_token(part) {
            Tok::Lit(part.to_string())
        } else {
            Tok::One
        }
    };
    // A literal `*` in the name cannot be told from a wildcard here; such a name is no token.
    let has_literal_star = glob.pieces().iter().any(|p| p.contains('*'));
    if has_literal_star {
        return None;
    }
    Some((token(resource, true), token(event, true)))
}

fn is_token(value: &str) -> bool {
    topic::check_token("value", value).is_ok()
}

/// The patterns of platform subjects with the given tokens set (1 org ... 5 resourceId).
///
/// `>` stands for the tokens after the last one set: at least the resource id is left when
/// the last set token is the event or before, so one pattern ending in `>` is exact. After the
/// resource id only metadata tokens may follow, and there may be none, which `>` (one or more
/// tokens) does not match: the subject with nothing after needs its own pattern.
fn scheme(set: &[(usize, Tok)]) -> Vec<Pattern> {
    // A `*` token ends nothing: `name:task.*` is `events.*.*.task.>`.
    let last = set
        .iter()
        .filter(|(_, t)| *t != Tok::One)
        .map(|(i, _)| *i)
        .max()
        .unwrap_or(0);
    let mut pattern = vec![Tok::Lit(topic::PREFIX.to_string())];
    for i in 1..=last {
        let token = set
            .iter()
            .find(|(j, _)| *j == i)
            .map_or(Tok::One, |(_, t)| t.clone());
        pattern.push(token);
    }
    if last < 5 {
        pattern.push(Tok::Rest);
        return vec![pattern];
    }
    let mut with_metadata = pattern.clone();
    with_metadata.push(Tok::Rest);
    vec![pattern, with_metadata]
}

fn parse_pattern(text: &str) -> Pattern {
    text.split('.')
        .map(|t| match t {
            "*" => Tok::One,
            ">" => Tok::Rest,
            t => Tok::Lit(t.to_string()),
        })
        .collect()
}

/// The pattern of the subjects both match, if any.
fn intersect(a: &[Tok], b: &[Tok]) -> Option<Pattern> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    for i in 0.. {
        match (a.get(i), b.get(i)) {
            (None, None) => return Some(out),
            (Some(Tok::Rest), Some(Tok::Rest)) => {
                out.push(Tok::Rest);
                return Some(out);
            }
            // `>` needs one or more tokens: what the other has left, if anything.
            (Some(Tok::Rest), Some(_)) => {
                out.extend_from_slice(&b[i..]);
                return Some(out);
            }
            (Some(_), Some(Tok::Rest)) => {
                out.extend_from_slice(&a[i..]);
                return Some(out);
            }
            (Some(x), Some(y)) => out.push(match (x, y) {
                (Tok::One, t) | (t, Tok::One) => t.clone(),
                (Tok::Lit(p), Tok::Lit(q)) if p == q => x.clone(),
                _ => return None,
            }),
            _ => return None,
        }
    }
    unreachable!("the loop returns")
}

/// Whether every subject `q` matches is matched by `p`.
fn covers(p: &[Tok], q: &[Tok]) -> bool {
    for (i, token) in p.iter().enumerate() {
        match (token, q.get(i)) {
            (Tok::Rest, Some(_)) => return true,
            (_, None) | (_, Some(Tok::Rest)) => return false,
            (Tok::One, Some(_)) => {}
            (Tok::Lit(x), Some(Tok::Lit(y))) if x == y => {}
            _ => return false,
        }
    }
    p.len() == q.len()
}

/// Adds a pattern to a set, keeping neither duplicates nor patterns another one covers.
fn add(set: &mut Vec<Pattern>, pattern: Pattern) {
    if set.iter().any(|p| covers(p, &pattern)) {
        return;
    }
    set.retain(|p| !covers(&pattern, p));
    set.push(pattern);
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::super::Filter;
    use crate::simulate::{SimConfig, Simulator};
    use crate::store::{EventStore, Incoming};
    use crate::topic::TopicPattern;

    /// The subjects `query` narrows to, space-separated.
    fn check(query: &str, expected: &str) {
        let got = Filter::parse(query).unwrap().subjects().join(" ");
        assert_eq!(got, expected, "{query}");
    }

    #[test]
    fn envelope_terms_map_to_subject_tokens() {
        check("", "events.>");
        check("org:org_1", "events.org_1.>");
        check("source:flows,tasks", "events.*.flows.> events.*.tasks.>");
        check("org:o event:failed", "events.o.*.*.failed.>");
        check("name:task.failed", "events.*.*.task.failed.>");
        check("name:task.*", "events.*.*.task.>");
        check(
            "name:*.failed,flow.run",
            "events.*.*.*.failed.> events.*.*.flow.run.>",
        );
        // The resource id is the last fixed token: a subject may end there or carry metadata.
        check(
            "resourceId:conv_42",
            "events.*.*.*.*.conv_42 events.*.*.*.*.conv_42.>",
        );
        check(
            "org:o resourceId:a,b",
            "events.o.*.*.*.a events.o.*.*.*.a.> events.o.*.*.*.b events.o.*.*.*.b.>",
        );
        check("org:a OR org:b", "events.a.> events.b.>");
        check("org:a OR org:a source:s", "events.a.>");
        check("org:a OR -org:b", "events.>");
        check("subject:events.*.apps.> org:o", "events.o.apps.>");
        check("subject:events.*.*.*.*.*", "events.*.*.*.*.*");
        check("subject:events.*.*.*.*.* resourceId:r", "events.*.*.*.*.r");
        check("subject:other.> org:o", "");
        check("org:a org:b", "");
    }

    #[test]
    fn terms_that_say_nothing_of_the_subject_leave_it_open() {
        for query in [
            "org:org_*",
            "name:*",
            "name:task",
            "id:evt_1",
            "-org:o",
            "org:\"a b\"",
            "payload.x:1",
            "metadata.filters.participant:p",
            "hello",
            "/x/",
            "is:invalid",
            "last:5m",
            "org:o OR hello",
        ] {
            check(query, "events.>");
        }
        check("org:o hello", "events.o.>");
    }

    #[test]
    fn long_comma_lists_fall_back_to_the_shorter_side() {
        let many: Vec<String> = (0..20).map(|i| format!("o{i}")).collect();
        let query = format!("org:{} source:a,b,c,d,e", many.join(","));
        check(
            &query,
            "events.*.a.> events.*.b.> events.*.c.> events.*.d.> events.*.e.>",
        );
    }

    /// Every event a query matches is on one of the subjects it narrows to, on simulated traffic
    /// (with and without metadata tokens) and random queries built from its own values.
    #[test]
    fn narrowing_never_loses_a_matching_event() {
        let mut store = EventStore::default();
        let mut sim = Simulator::new(SimConfig::default());
        let mut values: [Vec<String>; 5] = Default::default();
        for _ in 0..3_000 {
            let env = sim.next();
            let subject = env.subject().unwrap();
            for (i, v) in [
                &env.organization_id,
                &env.source,
                &env.resource,
                &env.event_name,
                &env.resource_id,
            ]
            .into_iter()
            .enumerate()
            {
                if values[i].len() < 6 && !values[i].contains(v) {
                    values[i].push(v.clone());
                }
            }
            let body = serde_json::to_vec(&env).unwrap();
            store.push(Incoming {
                subject: &subject,
                headers: &[],
                body: &body,
                received_ms: 0,
            });
        }
        let keys = ["org", "source", "resource", "event", "resourceId"];
        let mut rng = StdRng::seed_from_u64(5);
        let atom = |rng: &mut StdRng| -> String {
            let k = rng.random_range(0..7);
            if k == 5 {
                return "metadata.tags:vip".into();
            }
            if k == 6 {
                let (r, e) = (&values[2], &values[3]);
                return format!(
                    "name:{}.{}",
                    r[rng.random_range(0..r.len())],
                    e[rng.random_range(0..e.len())]
                );
            }
            let pool = &values[k];
            let n = rng.random_range(1..3);
            let list: Vec<&str> = (0..n)
                .map(|_| pool[rng.random_range(0..pool.len())].as_str())
                .collect();
            format!("{}:{}", keys[k], list.join(","))
        };
        let mut checked = 0;
        for _ in 0..300 {
            let query = match rng.random_range(0..4) {
                0 => atom(&mut rng),
                1 => format!("{} {}", atom(&mut rng), atom(&mut rng)),
                2 => format!(
                    "{} OR {} {}",
                    atom(&mut rng),
                    atom(&mut rng),
                    atom(&mut rng)
                ),
                _ => format!(
                    "({} OR -{}) {}",
                    atom(&mut rng),
                    atom(&mut rng),
                    atom(&mut rng)
                ),
            };
            let filter = Filter::parse(&query).unwrap();
            let patterns: Vec<TopicPattern> = filter
                .subjects()
                .iter()
                .map(|s| TopicPattern::parse(s).unwrap())
                .collect();
            for ev in store.window(0, usize::MAX) {
                if filter.matches(&ev, 0) {
                    checked += 1;
                    assert!(
                        patterns.iter().any(|p| p.matches(ev.subject())),
                        "{query}: {} is outside {:?}",
                        ev.subject(),
                        filter.subjects()
                    );
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
