//! Eventscope's gateway source: watches events through the platform's WebSocket gateway with a
//! token, as a browser does, and hands them out as (subject, body) like the NATS source.
//!
//! A background task holds the connection: it subscribes to the profile's topics, answers pings
//! (tungstenite does while reading), reconnects with exponential backoff and jitter, subscribes
//! again, and reports gaps, `lagged` and `error` frames in the status. The token never reaches
//! a log or an error message.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{
    connecting, selected_earlier, FirstConnect, SourceCounters, SourceError, MAX_BATCH,
    SUBSCRIPTION_CAPACITY,
};
use crate::gateway::protocol::{ClientFrame, NatsState, ServerFrame};
use crate::topic::TopicPattern;
use crate::wire::{ConnectionState, GatewayTarget, SourceStatus, StreamGap};

/// How long a connection attempt (upgrade and welcome) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait between reconnection attempts.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// `error` frames kept in the status.
const ERRORS_KEPT: usize = 10;

/// One event as the gateway delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMessage {
    /// The NATS subject it was published on.
    pub subject: String,
    /// The bytes that were published.
    pub body: Vec<u8>,
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A live subscription to topics through the gateway.
pub struct GatewaySource {
    messages: mpsc::Receiver<GatewayMessage>,
    counters: Arc<SourceCounters>,
    task: JoinHandle<()>,
}

impl Drop for GatewaySource {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GatewaySource {
    /// Connects (at once with `FailFast`, in the background with `Retry`) and subscribes to
    /// every topic.
    pub async fn connect(
        target: &GatewayTarget,
        topics: Vec<TopicPattern>,
        first: FirstConnect,
        counters: Arc<SourceCounters>,
        status: watch::Sender<SourceStatus>,
    ) -> Result<GatewaySource, SourceError> {
        let url = target.url.trim().to_string();
        if url.is_empty() {
            return Err(SourceError::NoGatewayUrl);
        }
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(SourceError::BadGatewayUrl {
                url,
                reason: "expected ws:// or wss://".into(),
            });
        }
        if target.token.trim().is_empty() {
            return Err(SourceError::NoToken);
        }
        let target = GatewayTarget {
            url,
            token: target.token.trim().to_string(),
        };
        status.send_replace(connecting(target.url.clone(), &topics, true));
        let first = match first {
            FirstConnect::FailFast => Some(open(&target).await?),
            FirstConnect::Retry => None,
        };
        if let Some((_, welcome)) = &first {
            status.send_modify(|s| {
                s.state = ConnectionState::Connected;
                let g = s.gateway.get_or_insert_with(Default::default);
                g.sub = welcome.sub.clone();
                g.orgs = welcome.orgs.clone();
            });
        }
        let (tx, messages) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let link = Link {
            target,
            topics,
            status,
            counters: counters.clone(),
            tx,
        };
        let task = tokio::spawn(link.run(first));
        Ok(GatewaySource {
            messages,
            counters,
            task,
        })
    }

    /// Waits for events and returns every one that is ready (at most [`MAX_BATCH`]), in
    /// order per subscription; `None` when the source has stopped.
    pub async fn next_batch(&mut self) -> Option<Vec<GatewayMessage>> {
        let first = self.messages.recv().await?;
        let mut batch = Vec::with_capacity(64);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match self.messages.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        self.counters.add_received(batch.len(), 0);
        Some(batch)
    }
}

/// Upgrades with the token and reads the welcome.
async fn open(target: &GatewayTarget) -> Result<(Socket, Welcome), SourceError> {
    let connect_err = |reason: String| SourceError::GatewayConnect {
        url: target.url.clone(),
        reason,
    };
    let mut request =
        target
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| SourceError::BadGatewayUrl {
                url: target.url.clone(),
                reason: e.to_string(),
            })?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", target.token))
        .map_err(|_| SourceError::BadToken)?;
    request.headers_mut().insert("authorization", bearer);
    let attempt = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| refusal(e, &connect_err))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => match ServerFrame::parse(&text) {
                    Ok(ServerFrame::Welcome { sub, orgs, .. }) => {
                        return Ok((ws, Welcome { sub, orgs }))
                    }
                    Ok(_) => return Err(connect_err("the first frame was not `welcome`".into())),
                    Err(e) => return Err(connect_err(e.to_string())),
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(connect_err(e.to_string())),
                None => return Err(connect_err("closed before `welcome`".into())),
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| connect_err(format!("no welcome within {CONNECT_TIMEOUT:?}")))?
}

/// A 401 becomes the gateway's own words; anything else is a connection failure.
fn refusal(
    e: tokio_tungstenite::tungstenite::Error,
    connect_err: &dyn Fn(String) -> SourceError,
) -> SourceError {
    if let tokio_tungstenite::tungstenite::Error::Http(response) = &e {
        #[derive(serde::Deserialize)]
        struct Body {
            code: String,
            message: String,
        }
        if let Some(body) = response
            .body()
            .as_deref()
            .and_then(|b| serde_json::from_slice::<Body>(b).ok())
        {
            return SourceError::Refused {
                code: body.code,
                message: body.message,
            };
        }
        return connect_err(format!("HTTP {}", response.status()));
    }
    connect_err(e.to_string())
}

struct Welcome {
    sub: String,
    orgs: Vec<String>,
}

/// The connection task's state.
struct Link {
    target: GatewayTarget,
    topics: Vec<TopicPattern>,
    status: watch::Sender<SourceStatus>,
    counters: Arc<SourceCounters>,
    tx: mpsc::Sender<GatewayMessage>,
}

impl Link {
    async fn run(self, mut first: Option<(Socket, Welcome)>) {
        let mut attempt: u32 = 0;
        // Set while the stream is interrupted: since when, and why.
        let mut down: Option<(i64, String)> = None;
        loop {
            let opened = match first.take() {
                Some(open) => Ok(open),
                None => open(&self.target).await,
            };
            let (ws, welcome) = match opened {
                Ok(open) => open,
                Err(e) => {
                    let reason = e.to_string();
                    self.status.send_modify(|s| {
                        if s.state != ConnectionState::Connecting {
                            s.state = ConnectionState::Reconnecting;
                        }
                        s.reason = Some(format!("{reason}; retrying"));
                    });
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            attempt = 0;
            let gap = down.take();
            self.status.send_modify(|s| {
                s.state = ConnectionState::Connected;
                s.reason = None;
                let g = s.gateway.get_or_insert_with(Default::default);
                g.sub = welcome.sub;
                g.orgs = welcome.orgs;
                if let Some((from_ms, reason)) = gap {
                    s.reconnects += 1;
                    g.gaps += 1;
                    g.last_gap = Some(StreamGap {
                        from_ms,
                        to_ms: now_ms(),
                        missed: None,
                        reason,
                    });
                }
            });
            let ended = match self.pump(ws).await {
                Some(reason) => reason,
                None => return,
            };
            tracing::info!(gateway = %self.target.url, %ended, "gateway connection ended");
            self.status.send_modify(|s| {
                s.state = ConnectionState::Reconnecting;
                s.reason = Some(ended.clone());
            });
            down = Some((now_ms(), ended));
        }
    }

    /// Subscribes and reads until the connection ends (`Some(why)`) or nobody listens (`None`).
    async fn pump(&self, mut ws: Socket) -> Option<String> {
        let mut ids = HashMap::new();
        for (i, topic) in self.topics.iter().enumerate() {
            let id = format!("s{}", i + 1);
            let frame = ClientFrame::Subscribe {
                id: id.clone(),
                topic: topic.to_string(),
            };
            let text = serde_json::to_string(&frame).expect("client frames serialize");
            if let Err(e) = ws.send(Message::text(text)).await {
                return Some(format!("cannot subscribe: {e}"));
            }
            ids.insert(id, topic.to_string());
        }
        // A gateway that neither pings nor sends for this long is gone (a half-open socket).
        let mut silence = Duration::from_secs(60);
        loop {
            let message = match tokio::time::timeout(silence, ws.next()).await {
                Err(_) => return Some(format!("nothing from the gateway for {silence:?}")),
                Ok(None) => return Some("the gateway closed the connection".into()),
                Ok(Some(Err(e))) => return Some(format!("connection lost: {e}")),
                Ok(Some(Ok(message))) => message,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    return Some(match frame {
                        Some(f) => format!(
                            "closed by the gateway ({}{}{})",
                            u16::from(f.code),
                            if f.reason.is_empty() { "" } else { ": " },
                            f.reason
                        ),
                        None => "closed by the gateway".into(),
                    })
                }
                _ => continue,
            };
            match ServerFrame::parse(&text) {
                Ok(ServerFrame::Event {
                    subscription,
                    topic,
                    body,
                }) => {
                    // Overlapping topics each deliver an event that matches both: keep it
                    // from the first topic that selects it, as the NATS source does.
                    let index = subscription
                        .strip_prefix('s')
                        .and_then(|n| n.parse::<usize>().ok())
                        .map_or(0, |n| n.saturating_sub(1));
                    if selected_earlier(&self.topics, index, &topic) {
                        self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let message = GatewayMessage {
                        subject: topic,
                        body: body.into_bytes(),
                    };
                    if self.tx.send(message).await.is_err() {
                        return None;
                    }
                }
                Ok(ServerFrame::Lagged { missed }) => {
                    self.counters
                        .gateway_missed
                        .fetch_add(missed, Ordering::Relaxed);
                    let at = now_ms();
                    self.status.send_modify(|s| {
                        let g = s.gateway.get_or_insert_with(Default::default);
                        g.missed += missed;
                        g.gaps += 1;
                        g.last_gap = Some(StreamGap {
                            from_ms: at,
                            to_ms: at,
                            missed: Some(missed),
                            reason: "the gateway dropped events: this client fell behind".into(),
                        });
                    });
                }
                Ok(ServerFrame::Error { id, code, message }) => {
                    let about = id
                        .as_ref()
                        .and_then(|id| ids.get(id))
                        .map(|topic| format!("{topic}: "))
                        .unwrap_or_default();
                    self.note_error(format!("{about}{}: {message}", code.as_str()));
                }
                Ok(ServerFrame::Status { nats }) => self.status.send_modify(|s| match nats {
                    NatsState::Reconnecting => {
                        s.state = ConnectionState::Reconnecting;
                        s.reason = Some("the gateway is reconnecting to NATS".into());
                    }
                    NatsState::Connected => {
                        s.state = ConnectionState::Connected;
                        s.reason = None;
                    }
                }),
                Ok(ServerFrame::Welcome { heartbeat_secs, .. }) => {
                    silence = Duration::from_secs(heartbeat_secs.saturating_mul(3).max(10));
                }
                Ok(ServerFrame::Subscribed { .. } | ServerFrame::Unsubscribed { .. }) => {}
                Err(e) => self.note_error(format!("unreadable frame from the gateway: {e}")),
            }
        }
    }

    fn note_error(&self, text: String) {
        self.status.send_modify(|s| {
            let g = s.gateway.get_or_insert_with(Default::default);
            if g.errors.len() >= ERRORS_KEPT {
                g.errors.remove(0);
            }
            g.errors.push(text);
        });
    }
}

/// Exponential backoff with jitter: a random wait between half and all of
/// `BACKOFF_FIRST * 2^attempt`, at most `BACKOFF_MAX`, so clients of a restarted gateway do
/// not all come back at once.
fn backoff(attempt: u32) -> Duration {
    let full = BACKOFF_FIRST
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_cap() {
        for attempt in 0..40 {
            let full = BACKOFF_FIRST
                .saturating_mul(1u32 << attempt.min(16))
                .min(BACKOFF_MAX);
            for _ in 0..20 {
                let wait = backoff(attempt);
                assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
            }
        }
        assert_eq!(backoff(30).max(BACKOFF_MAX), BACKOFF_MAX);
    }
}
