//! Eventscope's gateway source: watches events through the platform's WebSocket gateway with a
//! token, as a browser does, and hands them out as (subject, body) like the NATS source.
//!
//! A background task holds the connection: it subscribes to the profile's topics, answers pings
//! (tungstenite does while reading), reconnects with exponential backoff and jitter, subscribes
//! again, and reports gaps, `lagged` and `error` frames in the status. The token never reaches
//! a log or an error message.
//!
//! A token runs out: the gateway closes the connection at its `exp` (4001). Given a fresher
//! token ([`GatewaySource::token_setter`]), the task sends it as `reauth` on the open connection
//! and uses it for every later one; without one, the source stops at the expiry and its status
//! says so.

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
use crate::gateway::protocol::{
    ClientFrame, ErrorCode, NatsState, ServerFrame, CLOSE_TOKEN_EXPIRED,
};
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

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A live subscription to topics through the gateway.
pub struct GatewaySource {
    messages: mpsc::Receiver<GatewayMessage>,
    counters: Arc<SourceCounters>,
    task: JoinHandle<()>,
    token: GatewayToken,
}

/// Gives a running [`GatewaySource`] a fresher token: sent at once as `reauth` on the open
/// connection, and used for every connection after.
#[derive(Clone)]
pub struct GatewayToken(Arc<watch::Sender<String>>);

impl GatewayToken {
    /// Hands over `token` (surrounding whitespace is not part of it); an empty one is ignored.
    pub fn set(&self, token: &str) {
        let token = token.trim();
        if !token.is_empty() {
            self.0.send_replace(token.to_string());
        }
    }
}

impl std::fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayToken(..)")
    }
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
        let (token_tx, token) = watch::channel(target.token.clone());
        let link = Link {
            target,
            topics,
            status,
            counters: counters.clone(),
            tx,
            token,
            token_gone: false,
        };
        let task = tokio::spawn(link.run(first));
        Ok(GatewaySource {
            messages,
            counters,
            task,
            token: GatewayToken(Arc::new(token_tx)),
        })
    }

    /// What gives this source a fresher token while it runs.
    pub fn token_setter(&self) -> GatewayToken {
        self.token.clone()
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
pub(crate) async fn open(target: &GatewayTarget) -> Result<(Socket, Welcome), SourceError> {
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

pub(crate) struct Welcome {
    sub: String,
    orgs: Vec<String>,
}

/// The connection task's state.
struct Link {
    /// The URL, and the token the last connection was opened with.
    target: GatewayTarget,
    topics: Vec<TopicPattern>,
    status: watch::Sender<SourceStatus>,
    counters: Arc<SourceCounters>,
    tx: mpsc::Sender<GatewayMessage>,
    /// The freshest token given.
    token: watch::Receiver<String>,
    /// Nobody can give a token any more (the source was dropped).
    token_gone: bool,
}

/// Why a connection ended.
struct Ended {
    reason: String,
    /// The gateway said the token expired.
    expired: bool,
}

impl Link {
    async fn run(mut self, mut first: Option<(Socket, Welcome)>) {
        let mut attempt: u32 = 0;
        // Set while the stream is interrupted: since when, and why.
        let mut down: Option<(i64, String)> = None;
        loop {
            let opened = match first.take() {
                Some(open) => Ok(open),
                None => {
                    self.target.token = self.token.borrow_and_update().clone();
                    open(&self.target).await
                }
            };
            let (ws, welcome) = match opened {
                Ok(open) => open,
                Err(SourceError::Refused { code, message })
                    if code == "expired_token" && !self.token.has_changed().unwrap_or(false) =>
                {
                    return self.stop_expired(&message);
                }
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
            let Ended {
                reason: ended,
                expired,
            } = match self.pump(ws).await {
                Some(ended) => ended,
                None => return,
            };
            tracing::info!(gateway = %self.target.url, %ended, "gateway connection ended");
            // Without a fresher token there is nothing to reconnect with.
            if expired && !self.token.has_changed().unwrap_or(false) {
                return self.stop_expired(&ended);
            }
            self.status.send_modify(|s| {
                s.state = ConnectionState::Reconnecting;
                s.reason = Some(ended.clone());
            });
            down = Some((now_ms(), ended));
        }
    }

    /// Ends the source: the token expired and no fresher one was given.
    fn stop_expired(&self, why: &str) {
        tracing::info!(gateway = %self.target.url, "the gateway token expired; stopping");
        self.status.send_modify(|s| {
            s.state = ConnectionState::Disconnected;
            s.reason = Some(format!(
                "the gateway token expired ({why}); give a fresh token to watch again"
            ));
        });
    }

    /// Sends a fresher token on the open connection.
    async fn send_reauth(&mut self, ws: &mut Socket) -> Result<(), String> {
        let token = self.token.borrow_and_update().clone();
        let frame = serde_json::to_string(&ClientFrame::Reauth {
            token: token.clone(),
        })
        .expect("client frames serialize");
        self.target.token = token;
        ws.send(Message::text(frame))
            .await
            .map_err(|e| format!("cannot send the new token: {e}"))
    }

    /// Subscribes and reads until the connection ends (`Some(why)`) or nobody listens (`None`).
    async fn pump(&mut self, mut ws: Socket) -> Option<Ended> {
        let lost = |reason: String| {
            Some(Ended {
                reason,
                expired: false,
            })
        };
        let mut expired = false;
        let mut ids = HashMap::new();
        for (i, topic) in self.topics.iter().enumerate() {
            let id = format!("s{}", i + 1);
            let frame = ClientFrame::Subscribe {
                id: id.clone(),
                topic: topic.to_string(),
            };
            let text = serde_json::to_string(&frame).expect("client frames serialize");
            if let Err(e) = ws.send(Message::text(text)).await {
                return lost(format!("cannot subscribe: {e}"));
            }
            ids.insert(id, topic.to_string());
        }
        // A gateway that neither pings nor sends for this long is gone (a half-open socket).
        let mut silence = Duration::from_secs(60);
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(silence, ws.next()) => next,
                changed = self.token.changed(), if !self.token_gone => {
                    match changed {
                        Ok(()) => {
                            if let Err(reason) = self.send_reauth(&mut ws).await {
                                return lost(reason);
                            }
                        }
                        Err(_) => self.token_gone = true,
                    }
                    continue;
                }
            };
            let message = match next {
                Err(_) => return lost(format!("nothing from the gateway for {silence:?}")),
                Ok(None) => {
                    return Some(Ended {
                        reason: "the gateway closed the connection".into(),
                        expired,
                    })
                }
                Ok(Some(Err(e))) => {
                    return Some(Ended {
                        reason: format!("connection lost: {e}"),
                        expired,
                    })
                }
                Ok(Some(Ok(message))) => message,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    return Some(Ended {
                        reason: match frame {
                            Some(f) => format!(
                                "closed by the gateway ({}{}{})",
                                u16::from(f.code),
                                if f.reason.is_empty() { "" } else { ": " },
                                f.reason
                            ),
                            None => "closed by the gateway".into(),
                        },
                        expired: expired || code == Some(CLOSE_TOKEN_EXPIRED),
                    });
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
                Ok(ServerFrame::Error {
                    code: ErrorCode::TokenExpired,
                    message,
                    ..
                }) => {
                    expired = true;
                    self.note_error(format!("token_expired: {message}"));
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
                Ok(ServerFrame::Reauthenticated { sub, orgs, .. }) => {
                    self.status.send_modify(|s| {
                        let g = s.gateway.get_or_insert_with(Default::default);
                        g.sub = sub;
                        g.orgs = orgs;
                    });
                }
                // Unasked: the new token does not allow the topic (after a `reauth`).
                Ok(ServerFrame::Unsubscribed { id }) => {
                    if let Some(topic) = ids.remove(&id) {
                        self.note_error(format!(
                            "{topic}: ended by the gateway: the new token does not allow it"
                        ));
                    }
                }
                Ok(ServerFrame::Subscribed { .. }) => {}
                // This source sends no `history` request.
                Ok(ServerFrame::HistoryEvent { .. } | ServerFrame::HistoryEnd { .. }) => {}
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
