//! Publishing for the composer, the CLI and scenarios: an envelope (a template, `set` paths) made
//! into subject and bytes with a fresh id and timestamp per send, a batch checked whole before
//! the first send, sends paced at a rate with progress and cancellation, replay of captured
//! events, and the read-only switch that refuses all of it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::event::Envelope;
use crate::simulate;
use crate::template::{self, Engine, Scope, TemplateError};
use crate::topic::TopicError;
use crate::wire::PublishProgress;

/// The environment variable that makes the CLI refuse to publish (`1`, `true` or `yes`).
pub const READ_ONLY_ENV: &str = "EVENTSCOPE_READ_ONLY";

/// How often progress is reported while sending.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Ticks of the pacing clock: often enough that a burst stays small, rare enough to be cheap.
const TICK: Duration = Duration::from_millis(5);

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("publishing is refused: the connection is read-only")]
    ReadOnly,
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The envelope is not one (a field missing or of the wrong type, a bad timestamp, a bad
    /// `set` path).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Subject(#[from] TopicError),
    #[error("event {index} of the batch: {source}")]
    InBatch {
        index: usize,
        #[source]
        source: Box<PublishError>,
    },
    #[error("invalid rate {0}: expected a positive number of events per second")]
    BadRate(f64),
    #[error("cannot publish on {subject}: {source}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::PublishError,
    },
    #[error("cannot flush the connection: {0}")]
    Flush(#[from] async_nats::client::FlushError),
}

impl PublishError {
    /// True when the event itself is wrong (a field to fix), not the connection.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            PublishError::Template(_)
            | PublishError::Invalid(_)
            | PublishError::Subject(_)
            | PublishError::BadRate(_) => true,
            PublishError::InBatch { source, .. } => source.is_invalid_input(),
            _ => false,
        }
    }
}

/// Whether `EVENTSCOPE_READ_ONLY` asks for a read-only session.
pub fn read_only_from_env() -> bool {
    std::env::var(READ_ONLY_ENV).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Refuses to go on when the connection is read-only (the app's per-connection flag, or
/// [`read_only_from_env`] for the CLI). Every path that publishes calls it first.
pub fn check_writable(read_only: bool) -> Result<(), PublishError> {
    if read_only {
        Err(PublishError::ReadOnly)
    } else {
        Ok(())
    }
}

/// One event ready to go.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Cheap to clone (shared bytes), as async-nats takes it.
    pub subject: async_nats::Subject,
    pub body: Bytes,
    /// The envelope's `id`, so that the UI can mark what it sent.
    pub id: String,
}

/// What is replaced at each send unless pinned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pins {
    /// Keep the envelope's `id` as written.
    pub id: bool,
    /// Keep the envelope's `timestamp` as written.
    pub timestamp: bool,
}

/// A fresh event id, as the platform's producers write them (`evt_` and a ULID).
pub fn fresh_id() -> String {
    simulate::event_id(chrono::Utc::now().timestamp_millis(), rand::random())
}

/// Checks that `envelope` is one the platform accepts and returns its subject: what the
/// composer shows live, or why it cannot be built.
pub fn subject_of(envelope: &Value) -> Result<String, PublishError> {
    check_fields(envelope)?;
    let typed: Envelope = serde_json::from_value(envelope.clone())
        .map_err(|e| PublishError::Invalid(format!("not an envelope: {e}")))?;
    if chrono::DateTime::parse_from_rfc3339(&typed.timestamp).is_err() {
        return Err(PublishError::Invalid(format!(
            "timestamp {:?} is not an RFC 3339 time",
            typed.timestamp
        )));
    }
    Ok(typed.subject()?)
}

/// The envelope fields that must be strings, in the platform's order.
const REQUIRED: [&str; 7] = [
    "id",
    "organizationId",
    "source",
    "resource",
    "resourceId",
    "eventName",
    "timestamp",
];

/// The first required field that is missing or not a string, in the words the composer and the
/// CLI both show (serde's "missing field" does not say which envelope or what to write).
pub fn check_fields(envelope: &Value) -> Result<(), PublishError> {
    let Value::Object(object) = envelope else {
        return Err(PublishError::Invalid(
            "the envelope must be a JSON object".into(),
        ));
    };
    for field in REQUIRED {
        match object.get(field) {
            None | Some(Value::Null) => {
                return Err(PublishError::Invalid(format!(
                    "the envelope is missing {field}"
                )))
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(PublishError::Invalid(format!("{field} must be a string"))),
        }
    }
    Ok(())
}

/// An envelope checked and made into subject and compact bytes, fields kept as written (also
/// those the envelope does not know).
pub fn outgoing(envelope: &Value) -> Result<Outgoing, PublishError> {
    let subject = subject_of(envelope)?;
    let body = serde_json::to_vec(envelope).map_err(|e| PublishError::Invalid(e.to_string()))?;
    Ok(Outgoing {
        subject: subject.into(),
        body: body.into(),
        id: envelope["id"].as_str().unwrap_or_default().to_string(),
    })
}

/// Checks every envelope of a batch before anything is sent: the first bad one fails it.
pub fn prepare_batch(envelopes: &[Value]) -> Result<Vec<Outgoing>, PublishError> {
    envelopes
        .iter()
        .enumerate()
        .map(|(index, e)| {
            outgoing(e).map_err(|source| PublishError::InBatch {
                index,
                source: Box::new(source),
            })
        })
        .collect()
}

/// An envelope (a template) with its `set` paths, ready to be sent any number of times.
pub struct Prepared {
    engine: Engine,
    scope: Scope,
    envelope: Value,
    set: Vec<(String, Value)>,
    pins: Pins,
    /// The body cut where the fresh id and timestamp go, when nothing else changes from one
    /// send to the next: sending is then copying bytes.
    frame: Option<Frame>,
    subject: Option<async_nats::Subject>,
}

struct Frame {
    /// Body pieces around the id and the timestamp, in body order.
    pieces: Vec<Bytes>,
    /// For each hole between two pieces: true for the id, false for the timestamp.
    holes: Vec<bool>,
}

/// Stands for the id and the timestamp while the frame is cut; no template renders it.
const ID_MARK: &str = "\u{1}eventscope-id\u{1}";
const TIME_MARK: &str = "2000-01-01T00:00:00.000Z\u{1}";

impl Prepared {
    /// Checks the envelope by building the first event (`i` = 0): a template error, a bad path
    /// or an invalid subject is reported here, before anything is sent.
    pub fn new(
        envelope: Value,
        set: Vec<(String, Value)>,
        pins: Pins,
        scope: Scope,
    ) -> Result<Prepared, PublishError> {
        // A value the user sets is one they chose: it stays.
        let pins = Pins {
            id: pins.id || set.iter().any(|(p, _)| p == "id"),
            timestamp: pins.timestamp || set.iter().any(|(p, _)| p == "timestamp"),
        };
        let mut prepared = Prepared {
            engine: Engine::new(),
            scope,
            envelope,
            set,
            pins,
            frame: None,
            subject: None,
        };
        prepared.build(0)?;
        let dynamic = template::has_template(&prepared.envelope)
            || prepared.set.iter().any(|(_, v)| template::has_template(v));
        if !dynamic {
            prepared.frame = prepared.cut_frame();
            if prepared.frame.is_some() {
                prepared.subject = Some(prepared.build(0)?.subject);
            }
        }
        Ok(prepared)
    }

    /// The event of send number `i` (from 0): rendered, `set` applied, with a fresh id and
    /// timestamp unless pinned, checked.
    pub fn build(&self, i: u64) -> Result<Outgoing, PublishError> {
        if let (Some(frame), Some(subject)) = (&self.frame, &self.subject) {
            return Ok(frame.fill(subject));
        }
        let value = self.render(i, None)?;
        outgoing(&value)
    }

    fn render(&self, i: u64, marks: Option<(&str, &str)>) -> Result<Value, PublishError> {
        let mut scope = self.scope.clone();
        scope.i = i;
        let mut value = self.engine.render_value(&self.envelope, &scope)?;
        for (path, v) in &self.set {
            let v = self
                .engine
                .render_value(v, &scope)
                .map_err(|e| TemplateError {
                    path: format!("set {path}"),
                    ..e
                })?;
            template::set_path(&mut value, path, v).map_err(PublishError::Invalid)?;
        }
        if !value.is_object() {
            return Err(PublishError::Invalid(
                "the envelope is not an object".into(),
            ));
        }
        let (id, time) = match marks {
            Some((id, time)) => (id.to_string(), time.to_string()),
            None => (fresh_id(), template::now()),
        };
        if !self.pins.id {
            value["id"] = Value::String(id);
        }
        if !self.pins.timestamp {
            value["timestamp"] = Value::String(time);
        }
        Ok(value)
    }

    fn cut_frame(&self) -> Option<Frame> {
        let value = self.render(0, Some((ID_MARK, TIME_MARK))).ok()?;
        let body = serde_json::to_string(&value).ok()?;
        let id_mark = serde_json::to_string(ID_MARK).ok()?;
        let time_mark = serde_json::to_string(TIME_MARK).ok()?;
        let mut pieces = Vec::new();
        let mut holes = Vec::new();
        let mut rest = body.as_str();
        loop {
            let next_id = rest.find(&id_mark).map(|at| (at, true));
            let next_time = rest.find(&time_mark).map(|at| (at, false));
            let next = match (next_id, next_time) {
                (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            let Some((at, is_id)) = next else { break };
            pieces.push(Bytes::copy_from_slice(&rest.as_bytes()[..at]));
            holes.push(is_id);
            let len = if is_id {
                id_mark.len()
            } else {
                time_mark.len()
            };
            rest = &rest[at + len..];
        }
        pieces.push(Bytes::copy_from_slice(rest.as_bytes()));
        Some(Frame { pieces, holes })
    }

    /// The `{sent}` events of a send: `count` of them at `rate` per second (as fast as the
    /// connection takes them without one), reporting progress about every 100 ms, until done
    /// or cancelled. Flushes before returning.
    pub async fn send(
        &self,
        client: &async_nats::Client,
        pace: Pace,
        cancel: &CancellationToken,
        progress: impl FnMut(PublishProgress) + Send,
    ) -> Result<SendReport, PublishError> {
        let mut arena = BytesMut::new();
        send_paced(client, pace, cancel, progress, |i| {
            match (&self.frame, &self.subject) {
                (Some(frame), Some(subject)) => {
                    Ok(frame.fill_in(subject, &mut arena, i < MAX_REPORTED_IDS as u64))
                }
                _ => self.build(i),
            }
        })
        .await
    }
}

impl Frame {
    fn fill(&self, subject: &async_nats::Subject) -> Outgoing {
        let mut arena = BytesMut::new();
        self.fill_in(subject, &mut arena, true)
    }

    /// Writes the body into `arena`, a chunk shared by many bodies: a bulk send then allocates
    /// once per chunk, not once per event, and the connection's task frees a chunk once. The id
    /// is written straight into the body; `Outgoing::id` is only filled when `want_id`.
    fn fill_in(
        &self,
        subject: &async_nats::Subject,
        arena: &mut BytesMut,
        want_id: bool,
    ) -> Outgoing {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let now = chrono::Utc::now();
        // `simulate::event_id` without its String: `evt_`, 48 bits of milliseconds, 80 of entropy.
        let entropy: u128 = rand::random();
        let value = ((now.timestamp_millis().max(0) as u128 & ((1 << 48) - 1)) << 80)
            | (entropy & ((1 << 80) - 1));
        let mut id = [0u8; 30];
        id[..4].copy_from_slice(b"evt_");
        for (k, slot) in id[4..].iter_mut().enumerate() {
            *slot = ALPHABET[((value >> ((25 - k) * 5)) & 31) as usize];
        }
        let need = self.pieces.iter().map(|p| p.len()).sum::<usize>() + 96;
        if arena.capacity() - arena.len() < need {
            *arena = BytesMut::with_capacity(need.max(ARENA_BYTES));
        }
        template::with_time(now, |time| {
            for (k, piece) in self.pieces.iter().enumerate() {
                arena.extend_from_slice(piece);
                if let Some(&is_id) = self.holes.get(k) {
                    // Ids and times never need escaping: letters, digits, `_`, `-`, `:`, `.`.
                    arena.extend_from_slice(b"\"");
                    arena.extend_from_slice(if is_id { &id } else { time.as_bytes() });
                    arena.extend_from_slice(b"\"");
                }
            }
        });
        Outgoing {
            subject: subject.clone(),
            body: arena.split().freeze(),
            id: if want_id {
                String::from_utf8_lossy(&id).into_owned()
            } else {
                String::new()
            },
        }
    }
}

/// Size of the chunks bulk sends write bodies into.
const ARENA_BYTES: usize = 256 * 1024;

/// How many events to send and how fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub count: u64,
    /// Events per second; `None` sends as fast as the connection takes them.
    pub rate: Option<f64>,
}

/// What a send did.
#[derive(Debug, Clone, PartialEq)]
pub struct SendReport {
    pub sent: u64,
    pub total: u64,
    /// Bytes of event bodies sent.
    pub bytes: u64,
    pub elapsed: Duration,
    pub cancelled: bool,
    /// Ids of the first 1,000 events sent, for "sent" badges and scenario reports.
    pub ids: Vec<String>,
}

impl SendReport {
    /// "sent 500 of 500 in 5.0 s", as the composer says it.
    pub fn summary(&self) -> String {
        format!(
            "sent {} of {} in {:.1} s{}",
            self.sent,
            self.total,
            self.elapsed.as_secs_f64(),
            if self.cancelled { " (cancelled)" } else { "" }
        )
    }
}

/// Most ids a report keeps.
const MAX_REPORTED_IDS: usize = 1000;

/// Sends `pace.count` events made by `make(i)`, paced; the shared loop of sends and replays.
async fn send_paced(
    client: &async_nats::Client,
    pace: Pace,
    cancel: &CancellationToken,
    mut progress: impl FnMut(PublishProgress) + Send,
    mut make: impl FnMut(u64) -> Result<Outgoing, PublishError> + Send,
) -> Result<SendReport, PublishError> {
    if let Some(rate) = pace.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(PublishError::BadRate(rate));
        }
    }
    let started = tokio::time::Instant::now();
    let mut report = SendReport {
        sent: 0,
        total: pace.count,
        bytes: 0,
        elapsed: Duration::ZERO,
        cancelled: false,
        ids: Vec::new(),
    };
    let mut last_progress = started;
    let mut ticker = pace.rate.map(|rate| {
        // Slow rates tick once per event; fast ones once per TICK with a burst each.
        let period = TICK.max(Duration::from_secs_f64((1.0 / rate).min(3600.0)));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    while report.sent < pace.count {
        let due = match (&mut ticker, pace.rate) {
            (Some(ticker), Some(rate)) => {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = cancel.cancelled() => {}
                }
                // The budget follows the clock since the start, so the average rate is exact
                // however the ticks fall.
                ((rate * started.elapsed().as_secs_f64()) as u64 + 1).min(pace.count)
            }
            _ => (report.sent + 1024).min(pace.count),
        };
        while report.sent < due {
            if cancel.is_cancelled() {
                break;
            }
            let event = make(report.sent)?;
            report.bytes += event.body.len() as u64;
            if report.ids.len() < MAX_REPORTED_IDS {
                report.ids.push(event.id);
            }
            publish_one(client, event.subject.clone(), event.body)
                .await
                .map_err(|source| PublishError::Publish {
                    subject: event.subject.to_string(),
                    source,
                })?;
            report.sent += 1;
        }
        if cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = tokio::time::Instant::now();
            progress(snapshot(&report, started));
        }
        if ticker.is_none() {
            // Publishing into a roomy buffer may never wait: let other tasks run.
            tokio::task::yield_now().await;
        }
    }
    client.flush().await?;
    report.elapsed = started.elapsed();
    progress(snapshot(&report, started));
    Ok(report)
}

fn snapshot(report: &SendReport, started: tokio::time::Instant) -> PublishProgress {
    PublishProgress {
        sent: report.sent,
        total: report.total,
        bytes: report.bytes,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Publishes one event, marked as ours when this process marks what it sends
/// ([`crate::sent`]).
async fn publish_one(
    client: &async_nats::Client,
    subject: async_nats::Subject,
    body: Bytes,
) -> Result<(), async_nats::PublishError> {
    match crate::sent::headers() {
        Some(headers) => client.publish_with_headers(subject, headers, body).await,
        None => client.publish(subject, body).await,
    }
}

/// One captured event to publish again.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    pub subject: String,
    pub body: Bytes,
    /// When it was received (or its timestamp), milliseconds since the Unix epoch: the spacing
    /// of a replay at the original pace.
    pub at_ms: i64,
}

/// How a replay spaces its events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spacing {
    /// As they were received, gaps included (gaps over a minute are cut to a minute).
    Original,
    /// At this many events per second.
    Rate(f64),
    /// As fast as the connection takes them.
    Burst,
}

/// Longest gap a replay at the original spacing waits.
const MAX_REPLAY_GAP_MS: i64 = 60_000;

/// Publishes captured events again, in order, bytes as received unless `fresh` gives each a
/// new id and timestamp (then each must be a valid envelope: all are checked before the first
/// send).
pub async fn replay(
    client: &async_nats::Client,
    events: &[Captured],
    spacing: Spacing,
    fresh: bool,
    cancel: &CancellationToken,
    mut progress: impl FnMut(PublishProgress) + Send,
) -> Result<SendReport, PublishError> {
    let values: Option<Vec<Value>> = if fresh {
        let mut out = Vec::with_capacity(events.len());
        for (index, e) in events.iter().enumerate() {
            let in_batch = |source| PublishError::InBatch {
                index,
                source: Box::new(source),
            };
            let value: Value = serde_json::from_slice(&e.body)
                .map_err(|err| in_batch(PublishError::Invalid(format!("not JSON: {err}"))))?;
            subject_of(&value).map_err(in_batch)?;
            out.push(value);
        }
        Some(out)
    } else {
        None
    };
    let make = |i: u64| -> Result<Outgoing, PublishError> {
        let e = &events[i as usize];
        match &values {
            Some(values) => {
                let mut value = values[i as usize].clone();
                value["id"] = Value::String(fresh_id());
                value["timestamp"] = Value::String(template::now());
                outgoing(&value)
            }
            None => Ok(Outgoing {
                subject: e.subject.as_str().into(),
                body: e.body.clone(),
                id: crate::event::decode(&e.body)
                    .id
                    .map(|c| c.into_owned())
                    .unwrap_or_default(),
            }),
        }
    };
    let count = events.len() as u64;
    match spacing {
        Spacing::Rate(rate) => {
            send_paced(
                client,
                Pace {
                    count,
                    rate: Some(rate),
                },
                cancel,
                progress,
                make,
            )
            .await
        }
        Spacing::Burst => {
            send_paced(client, Pace { count, rate: None }, cancel, progress, make).await
        }
        Spacing::Original => {
            // One event per wait: the gaps are the pace.
            let started = tokio::time::Instant::now();
            let mut offset = Duration::ZERO;
            let mut report = SendReport {
                sent: 0,
                total: count,
                bytes: 0,
                elapsed: Duration::ZERO,
                cancelled: false,
                ids: Vec::new(),
            };
            let mut last_progress = started;
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    let gap = (e.at_ms - events[i - 1].at_ms).clamp(0, MAX_REPLAY_GAP_MS);
                    offset += Duration::from_millis(gap as u64);
                    tokio::select! {
                        _ = tokio::time::sleep_until(started + offset) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                if cancel.is_cancelled() {
                    report.cancelled = true;
                    break;
                }
                let event = make(i as u64)?;
                report.bytes += event.body.len() as u64;
                if report.ids.len() < MAX_REPORTED_IDS {
                    report.ids.push(event.id);
                }
                publish_one(client, event.subject.clone(), event.body)
                    .await
                    .map_err(|source| PublishError::Publish {
                        subject: event.subject.to_string(),
                        source,
                    })?;
                report.sent += 1;
                if last_progress.elapsed() >= PROGRESS_EVERY {
                    last_progress = tokio::time::Instant::now();
                    progress(snapshot(&report, started));
                }
            }
            client.flush().await?;
            report.elapsed = started.elapsed();
            progress(snapshot(&report, started));
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use serde_json::json;

    use super::*;

    fn task() -> Value {
        template::get("task.created").unwrap().envelope
    }

    /// Prepares `envelope` with `set` and shows the subject of event 0 or the error.
    fn check(envelope: Value, set: &[(&str, Value)], expected: &str) {
        let set = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut scope = Scope::new();
        scope.run_id = "r1".into();
        let got = match Prepared::new(envelope, set, Pins::default(), scope) {
            Ok(p) => p.build(0).unwrap().subject.to_string(),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn subjects_and_the_errors_the_composer_shows() {
        let owner = task()["metadata"]["filters"]["owner"]
            .as_str()
            .unwrap()
            .to_string();
        let org = task()["organizationId"].as_str().unwrap().to_string();
        check(
            task(),
            &[("resourceId", json!("task_{{ run.id }}"))],
            &format!("events.{org}.tasks.task.created.task_r1.owner.{owner}"),
        );
        check(
            task(),
            &[("resourceId", json!("task.1"))],
            r#"error: resourceId "task.1" contains '.', which a subject token cannot hold"#,
        );
        check(
            task(),
            &[("organizationId", json!("org 1"))],
            r#"error: organizationId "org 1" contains ' ', which a subject token cannot hold"#,
        );
        check(
            task(),
            &[("resourceId", json!("*"))],
            r#"error: resourceId "*" contains '*', which a subject token cannot hold"#,
        );
        check(
            task(),
            &[("payload.title", json!("{{ vars.title }}"))],
            "error: set payload.title: template error at 1:4: undefined value: `vars.title` is undefined",
        );
        check(
            json!({"id": "x"}),
            &[],
            "error: the envelope is missing organizationId",
        );
        check(
            task(),
            &[("id.x", json!(1))],
            "error: id.x: the value before \"x\" is not an object",
        );
    }

    #[test]
    fn each_send_gets_a_fresh_id_and_timestamp_unless_pinned() {
        for set in [vec![], vec![("payload.n".to_string(), json!("{{ i }}"))]] {
            let p = Prepared::new(task(), set.clone(), Pins::default(), Scope::new()).unwrap();
            let (a, b) = (p.build(0).unwrap(), p.build(1).unwrap());
            assert_ne!(a.id, b.id);
            let va: Value = serde_json::from_slice(&a.body).unwrap();
            assert_eq!(va["id"], a.id.as_str());
            assert!(
                chrono::DateTime::parse_from_rfc3339(va["timestamp"].as_str().unwrap()).is_ok()
            );
            assert_eq!(va["payload"], {
                let mut p = task()["payload"].clone();
                if !set.is_empty() {
                    p["n"] = json!("0");
                }
                p
            });
            let pinned = Pins {
                id: true,
                timestamp: true,
            };
            let p = Prepared::new(task(), set, pinned, Scope::new()).unwrap();
            let body: Value = serde_json::from_slice(&p.build(5).unwrap().body).unwrap();
            assert_eq!(
                (&body["id"], &body["timestamp"]),
                (&task()["id"], &task()["timestamp"])
            );
        }
    }

    #[test]
    fn an_id_or_timestamp_set_by_the_user_stays() {
        let set = vec![
            ("id".to_string(), json!("evt_mine")),
            ("timestamp".to_string(), json!("2026-01-01T00:00:00Z")),
        ];
        let p = Prepared::new(task(), set, Pins::default(), Scope::new()).unwrap();
        let body: Value = serde_json::from_slice(&p.build(3).unwrap().body).unwrap();
        assert_eq!(
            (&body["id"], &body["timestamp"]),
            (&json!("evt_mine"), &json!("2026-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn read_only_and_batches() {
        assert_eq!(
            check_writable(true).unwrap_err().to_string(),
            "publishing is refused: the connection is read-only"
        );
        assert!(check_writable(false).is_ok());
        let mut bad = task();
        bad["resourceId"] = json!("a b");
        let err = prepare_batch(&[task(), bad]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"event 1 of the batch: resourceId "a b" contains ' ', which a subject token cannot hold"#
        );
        assert!(err.is_invalid_input());
    }

    #[tokio::test]
    async fn send_paces_reports_and_cancels() {
        let server = eventscope_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let mut sub = client.subscribe("events.>").await.unwrap();
        client.flush().await.unwrap();
        let p = Prepared::new(task(), vec![], Pins::default(), Scope::new()).unwrap();
        let mut seen = Vec::new();
        let report = p
            .send(
                &client,
                Pace {
                    count: 300,
                    rate: Some(1000.0),
                },
                &CancellationToken::new(),
                |prog| seen.push(prog.sent),
            )
            .await
            .unwrap();
        assert_eq!((report.sent, report.cancelled), (300, false));
        assert!(report.elapsed >= Duration::from_millis(280), "{report:?}");
        assert_eq!(seen.last(), Some(&300));
        for _ in 0..300 {
            let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
                .await
                .unwrap()
                .unwrap();
            assert!(crate::event::decode(&msg.payload).problems.is_empty());
        }

        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.cancel();
        });
        let report = p
            .send(
                &client,
                Pace {
                    count: 100_000,
                    rate: Some(500.0),
                },
                &cancel,
                |_| {},
            )
            .await
            .unwrap();
        assert!(report.cancelled && report.sent < 1000, "{report:?}");
        assert!(
            report.summary().starts_with("sent "),
            "{}",
            report.summary()
        );

        // Replay at the original spacing: 3 events 100 ms apart take about 200 ms.
        let events: Vec<Captured> = (0..3)
            .map(|k| {
                let o = p.build(k).unwrap();
                Captured {
                    subject: o.subject.to_string(),
                    body: o.body,
                    at_ms: 1_000 + 100 * k as i64,
                }
            })
            .collect();
        let report = replay(
            &client,
            &events,
            Spacing::Original,
            false,
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(report.sent, 3);
        assert!(report.elapsed >= Duration::from_millis(190), "{report:?}");
        let report = replay(
            &client,
            &events,
            Spacing::Burst,
            true,
            &CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(report.sent, 3);
        assert!(!events.iter().any(|e| report
            .ids
            .iter()
            .any(|id| e.body.windows(id.len()).any(|w| w == id.as_bytes()))));
    }
}
