//! The app's composer over [`crate::publish`]: an envelope as typed (JSON text, possibly with
//! `{{ }}` templates) checked into a [`Draft`] with its subject, a received event made into the
//! composer's text, and the composer's send and replay requests run with progress and cancel.

use serde_json::Value;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::publish::{self, Captured, Pace, Pins, Prepared, PublishError, SendReport, Spacing};
use crate::template::Scope;
use crate::wire::{PublishOutcome, PublishProgress, PublishRequest};

/// The most a single send may repeat an envelope: a load test, not a flood by a typo.
pub const MAX_COUNT: u32 = 1_000_000;

/// The most events one replay sends: the newest of a larger view.
pub const MAX_REPLAY: usize = 100_000;

#[derive(Debug, Error)]
pub enum ComposeError {
    #[error("the envelope is not JSON: {0}")]
    NotJson(String),
    #[error("the envelope must be a JSON object")]
    NotObject,
    #[error("the envelope is {size} bytes, over the server's limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("count must be between 1 and {MAX_COUNT}")]
    BadCount,
    #[error("not connected to NATS: publishing needs a direct NATS connection")]
    NotConnected,
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl ComposeError {
    /// True when the envelope or the request is what must change.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            ComposeError::NotConnected => false,
            ComposeError::Publish(e) => e.is_invalid_input(),
            _ => true,
        }
    }

    pub fn is_read_only(&self) -> bool {
        matches!(self, ComposeError::Publish(PublishError::ReadOnly))
    }
}

/// An envelope that can be sent, and the subject its first send goes to.
pub struct Draft {
    prepared: Prepared,
    pub subject: String,
}

/// Checks an envelope as typed and builds its first event's subject (templates rendered, `i`
/// = 0). `pinned` keeps the envelope's own `id` and `timestamp`.
pub fn draft(text: &str, pinned: bool) -> Result<Draft, ComposeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json says "... at line 2 column 8"; the editor's words are line and column.
        let message = e.to_string();
        let plain = message.split(" at line ").next().unwrap_or(&message);
        ComposeError::NotJson(format!(
            "{plain} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(ComposeError::NotObject);
    }
    publish::check_fields(&value)?;
    let prepared = Prepared::new(
        value,
        Vec::new(),
        Pins {
            id: pinned,
            timestamp: pinned,
        },
        Scope::new(),
    )?;
    let subject = prepared.build(0)?.subject.to_string();
    Ok(Draft { prepared, subject })
}

/// A received event's body as the composer's text (pretty JSON): exactly as received, or with a
/// fresh id and timestamp.
pub fn republished(body: &[u8], fresh: bool) -> Result<String, ComposeError> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| ComposeError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ComposeError::NotObject);
    }
    if fresh {
        value["id"] = Value::String(publish::fresh_id());
        value["timestamp"] = Value::String(crate::template::now());
    }
    Ok(serde_json::to_string_pretty(&value).expect("JSON encodes"))
}

fn outcome(report: SendReport) -> PublishOutcome {
    PublishOutcome {
        sent: report.sent,
        total: report.total,
        elapsed_ms: report.elapsed.as_millis() as u64,
        cancelled: report.cancelled,
    }
}

/// Sends the composer's request on `client`. Everything is checked before the first message
/// goes out: the envelope, the count, the rate, and the size against the server's
/// `max_payload`.
pub async fn send(
    client: &async_nats::Client,
    request: &PublishRequest,
    cancel: &CancellationToken,
    progress: impl FnMut(PublishProgress) + Send,
) -> Result<PublishOutcome, ComposeError> {
    let draft = draft(&request.envelope, request.pinned)?;
    if request.count == 0 || request.count > MAX_COUNT {
        return Err(ComposeError::BadCount);
    }
    let limit = client.server_info().max_payload;
    // A fresh id and timestamp have fixed lengths; templates may grow a little per send.
    let size = draft.prepared.build(0)?.body.len() + 64;
    if limit > 0 && size > limit {
        return Err(ComposeError::TooLarge { size, limit });
    }
    let pace = Pace {
        count: u64::from(request.count),
        rate: request.rate_per_sec,
    };
    Ok(outcome(
        draft.prepared.send(client, pace, cancel, progress).await?,
    ))
}

/// Publishes captured events again, unchanged, in order: at `rate` events per second, or with
/// `None` at the spacing they were received with (gaps over a minute cut to a minute). Every
/// size is checked against the server's `max_payload` first.
pub async fn replay(
    client: &async_nats::Client,
    events: &[Captured],
    rate: Option<f64>,
    cancel: &CancellationToken,
    progress: impl FnMut(PublishProgress) + Send,
) -> Result<PublishOutcome, ComposeError> {
    let limit = client.server_info().max_payload;
    if let Some(big) = events.iter().find(|e| limit > 0 && e.body.len() > limit) {
        return Err(ComposeError::TooLarge {
            size: big.body.len(),
            limit,
        });
    }
    let spacing = match rate {
        Some(rate) => Spacing::Rate(rate),
        None => Spacing::Original,
    };
    Ok(outcome(
        publish::replay(client, events, spacing, false, cancel, progress).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        let got = match draft(text, false) {
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
            &envelope("task_{{ i }}"),
            "events.org_1.tasks.task.created.task_0.priority.high",
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
    fn a_received_event_is_republished_as_it_was_or_fresh() {
        let body = envelope("task_1");
        let same: Value =
            serde_json::from_str(&republished(body.as_bytes(), false).unwrap()).unwrap();
        assert_eq!(same["id"], "evt_1");
        let fresh: Value =
            serde_json::from_str(&republished(body.as_bytes(), true).unwrap()).unwrap();
        assert_ne!(fresh["id"], "evt_1");
        assert_ne!(fresh["timestamp"], same["timestamp"]);
        assert_eq!(fresh["resourceId"], "task_1");
        assert_eq!(fresh["payload"], same["payload"]);
        assert_eq!(
            republished(b"not json", true).unwrap_err().to_string(),
            "the envelope is not JSON: expected ident at line 1 column 2"
        );
    }

    #[test]
    fn every_template_is_a_valid_draft() {
        let infos = crate::template::infos();
        assert_eq!(infos.len(), 14);
        for t in infos {
            let d = draft(&t.envelope, false).unwrap_or_else(|e| panic!("{}: {e}", t.name));
            assert!(
                d.subject.starts_with("events."),
                "{}: {}",
                t.name,
                d.subject
            );
        }
    }
}
