//! The composer's core: an envelope as typed becomes a checked message with its subject, sent
//! once or N times at a rate with progress and cancellation, each marked as ours.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::event::Envelope;
use crate::simulate::{self, catalogue};
use crate::wire::{PublishOutcome, PublishProgress, PublishRequest, TemplateInfo};

/// The most a single send may repeat an envelope: a load test, not a flood by a typo.
pub const MAX_COUNT: u32 = 1_000_000;

#[derive(Debug, Error)]
pub enum ComposeError {
    #[error("the envelope is not JSON: {0}")]
    NotJson(String),
    #[error("the envelope must be a JSON object")]
    NotObject,
    #[error("the envelope is missing {0}")]
    Missing(&'static str),
    #[error("{field} must be a string")]
    NotString { field: &'static str },
    #[error("{0}")]
    Subject(#[from] crate::topic::TopicError),
    #[error("the envelope is {size} bytes, over the server's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("count must be between 1 and {MAX_COUNT}")]
    BadCount,
    #[error("invalid rate {0}: expected a positive number of events per second")]
    BadRate(f64),
    #[error("this connection is read-only: publishing is refused")]
    ReadOnly,
    #[error("not connected to NATS: publishing needs a direct NATS connection")]
    NotConnected,
    #[error("cannot publish on {subject}: {message}")]
    Publish { subject: String, message: String },
}

impl ComposeError {
    /// True when the envelope or the request is what must change.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(
            self,
            ComposeError::ReadOnly | ComposeError::NotConnected | ComposeError::Publish { .. }
        )
    }
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

/// An envelope that can be sent: the object as typed (unknown fields kept) and its subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    object: Map<String, Value>,
    pub subject: String,
}

/// Checks an envelope as typed and builds its subject.
pub fn draft(text: &str) -> Result<Draft, ComposeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ComposeError::NotJson(
            format!("{e}")
                .replace(" at line ", " (line ")
                .replace(" column ", ", column ")
                + ")",
        )
    })?;
    let Value::Object(object) = value else {
        return Err(ComposeError::NotObject);
    };
    for field in REQUIRED {
        match object.get(field) {
            None | Some(Value::Null) => return Err(ComposeError::Missing(field)),
            Some(Value::String(_)) => {}
            Some(_) => return Err(ComposeError::NotString { field }),
        }
    }
    let envelope: Envelope = serde_json::from_value(Value::Object(object.clone()))
        .map_err(|e| ComposeError::NotJson(e.to_string()))?;
    let subject = envelope.subject()?;
    Ok(Draft { object, subject })
}

impl Draft {
    /// The compact JSON to publish: as typed, or with a fresh `id` and `timestamp`.
    pub fn body(&self, fresh: bool) -> Vec<u8> {
        if !fresh {
            return serde_json::to_vec(&self.object).expect("a JSON object encodes");
        }
        let mut object = self.object.clone();
        let now = Utc::now();
        object.insert(
            "id".into(),
            Value::String(simulate::event_id(
                now.timestamp_millis(),
                rand::rng().random(),
            )),
        );
        object.insert(
            "timestamp".into(),
            Value::String(now.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        serde_json::to_vec(&object).expect("a JSON object encodes")
    }
}

/// The platform's event types, for the composer's template list.
pub fn templates() -> Vec<TemplateInfo> {
    catalogue::all()
        .into_iter()
        .map(|t| TemplateInfo {
            name: t.name.to_string(),
            source: t.source.to_string(),
            description: t.description.to_string(),
        })
        .collect()
}

/// The example of event type `name` as pretty JSON, with a fresh id and timestamp.
pub fn template(name: &str) -> Option<String> {
    let example = catalogue::get(name)?.example;
    let draft = Draft {
        subject: String::new(),
        object: match serde_json::to_value(&example).expect("an envelope encodes") {
            Value::Object(o) => o,
            _ => unreachable!("an envelope is an object"),
        },
    };
    let fresh: Value = serde_json::from_slice(&draft.body(true)).expect("just encoded");
    Some(serde_json::to_string_pretty(&fresh).expect("JSON encodes"))
}

/// A received event's body as the composer's text (pretty JSON): exactly as received, or with a
/// fresh id and timestamp.
pub fn republished(body: &[u8], fresh: bool) -> Result<String, ComposeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ComposeError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(ComposeError::NotObject);
    };
    let draft = Draft {
        object,
        subject: String::new(),
    };
    let value: Value = serde_json::from_slice(&draft.body(fresh)).expect("just encoded");
    Ok(serde_json::to_string_pretty(&value).expect("JSON encodes"))
}

/// Ticks of the pacing clock: often enough that a burst stays small.
const TICK: Duration = Duration::from_millis(10);
/// How often progress is reported: a bar moves smoothly at this, the IPC does not notice it.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Sends `request` on `client`: every message carries [`crate::sent::HEADER`]; `cancel` stops it
/// between two messages; `progress` is called about 10 times a second. The whole request is
/// checked (envelope, count, rate, size against the server's `max_payload`) before the first
/// message goes out.
pub async fn send(
    client: &async_nats::Client,
    request: &PublishRequest,
    cancel: &AtomicBool,
    mut progress: impl FnMut(PublishProgress),
) -> Result<PublishOutcome, ComposeError> {
    let draft = draft(&request.envelope)?;
    if request.count == 0 || request.count > MAX_COUNT {
        return Err(ComposeError::BadCount);
    }
    if let Some(rate) = request.rate_per_sec {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ComposeError::BadRate(rate));
        }
    }
    let limit = client.server_info().max_payload;
    // A fresh id and timestamp have fixed lengths, so one body's size stands for all.
    let size = draft.body(!request.pinned).len() + 64;
    if limit > 0 && size > limit {
        return Err(ComposeError::TooLarge { size, limit });
    }
    let total = u64::from(request.count);
    let start = Instant::now();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(crate::sent::HEADER, crate::sent::mark());
    let mut sent = 0u64;
    let mut reported = start;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let elapsed_ms = |start: Instant| start.elapsed().as_millis() as u64;
    while sent < total && !cancel.load(Ordering::Relaxed) {
        // Paced: as many as the rate allows by now, then wait for the next tick.
        let due = match request.rate_per_sec {
            Some(rate) => ((start.elapsed().as_secs_f64() * rate).floor() as u64 + 1).min(total),
            None => (sent + 256).min(total),
        };
        while sent < due && !cancel.load(Ordering::Relaxed) {
            client
                .publish_with_headers(
                    draft.subject.clone(),
                    headers.clone(),
                    draft.body(!request.pinned).into(),
                )
                .await
                .map_err(|e| ComposeError::Publish {
                    subject: draft.subject.clone(),
                    message: e.to_string(),
                })?;
            sent += 1;
        }
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            progress(PublishProgress {
                sent,
                total,
                elapsed_ms: elapsed_ms(start),
            });
        }
        if request.rate_per_sec.is_some() && sent < total {
            tick.tick().await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    client.flush().await.map_err(|e| ComposeError::Publish {
        subject: draft.subject.clone(),
        message: e.to_string(),
    })?;
    let outcome = PublishOutcome {
        sent,
        total,
        elapsed_ms: elapsed_ms(start),
        cancelled: sent < total,
    };
    progress(PublishProgress {
        sent,
        total,
        elapsed_ms: outcome.elapsed_ms,
    });
    Ok(outcome)
}

/// An event as it was received, to publish again unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    pub subject: String,
    pub body: Vec<u8>,
    pub received_ms: i64,
}

/// The most events one replay sends: the newest of a larger view.
pub const MAX_REPLAY: usize = 100_000;

/// Publishes `events` again, unchanged, in order: at `rate` events per second, or with `None` at
/// the spacing they were received with. Every size is checked against the server's
/// `max_payload` before the first is sent; `cancel` stops it between two events.
pub async fn replay(
    client: &async_nats::Client,
    events: &[Captured],
    rate: Option<f64>,
    cancel: &AtomicBool,
    mut progress: impl FnMut(PublishProgress),
) -> Result<PublishOutcome, ComposeError> {
    if let Some(rate) = rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ComposeError::BadRate(rate));
        }
    }
    let limit = client.server_info().max_payload;
    if let Some(big) = events.iter().find(|e| limit > 0 && e.body.len() > limit) {
        return Err(ComposeError::TooLarge {
            size: big.body.len(),
            limit,
        });
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(crate::sent::HEADER, crate::sent::mark());
    let total = events.len() as u64;
    let start = Instant::now();
    let first_ms = events.first().map_or(0, |e| e.received_ms);
    let mut reported = start;
    let mut sent = 0u64;
    for (i, event) in events.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        let due = match rate {
            Some(rate) => Duration::from_secs_f64(i as f64 / rate),
            None => Duration::from_millis((event.received_ms - first_ms).max(0) as u64),
        };
        // Sleep in short steps so a cancel is honoured during a long original gap.
        while start.elapsed() < due && !cancel.load(Ordering::Relaxed) {
            tokio::time::sleep((due - start.elapsed()).min(Duration::from_millis(100))).await;
        }
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        client
            .publish_with_headers(
                event.subject.clone(),
                headers.clone(),
                event.body.clone().into(),
            )
            .await
            .map_err(|e| ComposeError::Publish {
                subject: event.subject.clone(),
                message: e.to_string(),
            })?;
        sent += 1;
        if reported.elapsed() >= PROGRESS_EVERY {
            reported = Instant::now();
            progress(PublishProgress {
                sent,
                total,
                elapsed_ms: start.elapsed().as_millis() as u64,
            });
        }
    }
    client.flush().await.map_err(|e| ComposeError::Publish {
        subject: String::from("(flush)"),
        message: e.to_string(),
    })?;
    let outcome = PublishOutcome {
        sent,
        total,
        elapsed_ms: start.elapsed().as_millis() as u64,
        cancelled: sent < total,
    };
    progress(PublishProgress {
        sent,
        total,
        elapsed_ms: outcome.elapsed_ms,
    });
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let got = match draft(text) {
            Ok(d) => d.subject,
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "{text}");
    }

    fn envelope(resource_id: &str) -> String {
        serde_json::json!({
            "id": "evt_1", "organizationId": "org_1", "source": "tasks", "resource": "task",
            "resourceId": resource_id, "eventName": "created",
            "timestamp": "2026-12-01T10:00:00.000Z", "payload": {"title": "x"},
            "metadata": {"filters": {"priority": "high"}, "tags": []}
        })
        .to_string()
    }

    #[test]
    fn a_draft_names_its_subject_or_why_there_is_none() {
        check(
            &envelope("task_1"),
            "events.org_1.tasks.task.created.task_1.priority.high",
        );
        check(
            &envelope("task.1"),
            "error: resourceId \"task.1\" contains '.', which a subject token cannot hold",
        );
        check(
            &envelope("a b"),
            "error: resourceId \"a b\" contains ' ', which a subject token cannot hold",
        );
        check(
            &envelope("t*"),
            "error: resourceId \"t*\" contains '*', which a subject token cannot hold",
        );
        check("[1]", "error: the envelope must be a JSON object");
        check(
            r#"{"id": "e"}"#,
            "error: the envelope is missing organizationId",
        );
        check(
            &envelope("t").replace(r#""source":"tasks""#, r#""source":7"#),
            "error: source must be a string",
        );
        check(
            "{\n  \"id\": ",
            "error: the envelope is not JSON: EOF while parsing a value (line 2, column 8)",
        );
    }

    #[test]
    fn a_fresh_body_changes_id_and_timestamp_and_keeps_the_rest() {
        let text = envelope("task_1").replace(r#""payload""#, r#""extra":true,"payload""#);
        let d = draft(&text).unwrap();
        let same: Value = serde_json::from_slice(&d.body(false)).unwrap();
        assert_eq!(same, serde_json::from_str::<Value>(&text).unwrap());
        let fresh: Value = serde_json::from_slice(&d.body(true)).unwrap();
        assert_ne!(fresh["id"], same["id"]);
        assert_ne!(fresh["timestamp"], same["timestamp"]);
        assert_eq!(fresh["extra"], true);
        assert_eq!(fresh["payload"], same["payload"]);
    }

    #[test]
    fn a_received_event_is_republished_as_it_was_or_fresh() {
        let body = envelope("task_1");
        let same: Value =
            serde_json::from_str(&republished(body.as_bytes(), false).unwrap()).unwrap();
        assert_eq!(same["id"], "evt_1");
        let fresh: Value =
            serde_json::from_str(&republished(body.as_bytes(), true).unwrap()).unwrap();
        assert_ne!(fresh["id"], "evt_1");
        assert_eq!(fresh["resourceId"], "task_1");
        assert_eq!(
            republished(b"not json", true).unwrap_err().to_string(),
            "the envelope is not JSON: expected ident at line 1 column 2"
        );
    }

    #[test]
    fn every_template_is_a_valid_draft() {
        let names: Vec<String> = templates().into_iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 14);
        assert!(names.contains(&"task.created".to_string()));
        for name in names {
            let text = template(&name).unwrap();
            let d = draft(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(d.subject.starts_with("events."), "{name}: {}", d.subject);
        }
        assert_eq!(template("task.exploded"), None);
    }
}
