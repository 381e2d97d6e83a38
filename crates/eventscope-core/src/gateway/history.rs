//! The client side of the gateway's `history` request: one organization's stored events for
//! people without NATS credentials (the CLI's `history --gateway`, the app's timeline).

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use thiserror::Error;
use tokio_tungstenite::tungstenite::Message;

use super::protocol::{ErrorCode, ServerFrame};
use crate::source::gateway::{open, Socket};
use crate::source::SourceError;
use crate::wire::GatewayTarget;

/// A `history` request.
#[derive(Debug, Clone)]
pub struct HistoryRequest {
    /// Names the answer's frames (`subscription` of each event, `id` of `history_end`).
    pub id: String,
    /// `events.{org}.>` or narrower; the token must allow its organization.
    pub topic: String,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u64>,
}

impl HistoryRequest {
    /// The request frame.
    pub fn to_json(&self) -> String {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let mut frame = serde_json::json!({
            "type": "history",
            "id": self.id,
            "topic": self.topic,
            "since": time(&self.since),
        });
        if let Some(until) = &self.until {
            frame["until"] = time(until).into();
        }
        if let Some(limit) = self.limit {
            frame["limit"] = limit.into();
        }
        frame.to_string()
    }
}

/// Why history through the gateway failed.
#[derive(Debug, Error)]
pub enum GatewayHistoryError {
    #[error(transparent)]
    Connect(#[from] SourceError),
    #[error("the gateway refused the history request ({}): {message}", code.as_str())]
    Refused { code: ErrorCode, message: String },
    #[error(
        "the gateway dropped {missed} events of the history because they were read too slowly"
    )]
    Lagged { missed: u64 },
    #[error("the gateway closed the connection before the end of the history")]
    Closed,
    #[error("cannot read the gateway's answer: {0}")]
    Protocol(String),
}

/// One stored event as the gateway sent it.
#[derive(Debug, Clone)]
pub struct GatewayHistoryMessage {
    /// The stream sequence.
    pub seq: u64,
    pub subject: String,
    pub body: Vec<u8>,
}

/// A running `history` answer, read one event at a time.
pub struct GatewayHistory {
    ws: Socket,
    id: String,
    /// `history_end`'s count, once it came.
    ended: Option<u64>,
}

impl GatewayHistory {
    /// Connects with `token` and sends the request.
    pub async fn open(
        url: &str,
        token: &str,
        request: &HistoryRequest,
    ) -> Result<GatewayHistory, GatewayHistoryError> {
        let target = GatewayTarget {
            url: url.to_string(),
            token: token.trim().to_string(),
        };
        let (mut ws, _welcome) = open(&target).await?;
        ws.send(Message::Text(request.to_json().into()))
            .await
            .map_err(|e| GatewayHistoryError::Protocol(e.to_string()))?;
        Ok(GatewayHistory {
            ws,
            id: request.id.clone(),
            ended: None,
        })
    }

    /// The count `history_end` gave, once the answer is complete.
    pub fn count(&self) -> Option<u64> {
        self.ended
    }

    /// The next event; `None` after `history_end`.
    pub async fn next(&mut self) -> Result<Option<GatewayHistoryMessage>, GatewayHistoryError> {
        if self.ended.is_some() {
            return Ok(None);
        }
        loop {
            let text = match self.ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None => return Err(GatewayHistoryError::Closed),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(GatewayHistoryError::Protocol(e.to_string())),
            };
            match ServerFrame::parse(&text) {
                Ok(ServerFrame::HistoryEvent {
                    subscription,
                    topic,
                    seq,
                    body,
                }) if subscription == self.id => {
                    return Ok(Some(GatewayHistoryMessage {
                        seq,
                        subject: topic,
                        body: body.into_bytes(),
                    }))
                }
                Ok(ServerFrame::HistoryEnd { id, count }) if id == self.id => {
                    self.ended = Some(count);
                    let _ = self.ws.close(None).await;
                    return Ok(None);
                }
                Ok(ServerFrame::Error { id, code, message })
                    if id.as_deref() == Some(&self.id) || id.is_none() =>
                {
                    return Err(GatewayHistoryError::Refused { code, message })
                }
                Ok(ServerFrame::Lagged { missed }) => {
                    return Err(GatewayHistoryError::Lagged { missed })
                }
                Ok(_) => continue,
                Err(e) => return Err(GatewayHistoryError::Protocol(e.to_string())),
            }
        }
    }
}
