//! One client connection: the reader (requests, pongs) and the writer (frames, pings, close),
//! and the cleanup of every subscription when either ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use eventscope_core::gateway::protocol::{
    ClientFrame, ErrorCode, EventFrame, NatsState, ServerFrame, CLOSE_GOING_AWAY,
    CLOSE_INVALID_DATA, CLOSE_NO_PONG, CLOSE_TOKEN_EXPIRED, CLOSE_TOO_BIG, CLOSE_TOO_SLOW,
    MAX_ID_BYTES, MAX_TOPIC_BYTES,
};
use eventscope_core::history::{self, HistoryQuery, HistoryReader};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};

use crate::auth::{self, Claims, Grant, TopicRefusal};
use crate::echo::{self, shown};
use crate::hub::{Item, Outbox, Target};
use crate::metrics::Metrics;
use crate::Shared;

/// Frames the writer sends in one go before it flushes the socket.
const WRITE_BATCH: usize = 256;
/// How long a closing frame may wait for a client that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the gateway waits, after its close frame, for the client's.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Each connection logs its first refused request of an interval, and the number of the
/// others at the end of it: what a client sends cannot grow the log faster than that.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Serves one upgraded connection until it ends, then cleans up.
pub async fn run(socket: WebSocket, claims: Claims, shared: Arc<Shared>) {
    let limits = &shared.config.limits;
    Metrics::gauge(&shared.metrics.connections, 1);
    tracing::info!(sub = %shown(&claims.sub), orgs = ?claims.orgs, "client connected");
    let (tx, rx) = mpsc::channel(limits.send_queue.max(2));
    let outbox = Arc::new(Outbox::new(
        tx,
        Grant::new(&claims.orgs),
        limits.max_missed,
        limits.send_queue_bytes,
        shared.metrics.clone(),
    ));
    let welcome = ServerFrame::Welcome {
        sub: claims.sub.clone(),
        orgs: claims.orgs.clone(),
        heartbeat_secs: shared.config.heartbeat.as_secs().max(1),
    };
    outbox.send(welcome.to_json()).await;
    let nats_now = *shared.nats_state.borrow();
    if nats_now != NatsState::Connected {
        outbox
            .send(ServerFrame::Status { nats: nats_now }.to_json())
            .await;
    }
    let (sink, stream) = socket.split();
    let last_pong = AtomicU64::new(0);
    let started = Instant::now();
    let mut state = State {
        grant: Grant::new(&claims.orgs),
        refusals: RefusalLog::new(shown(&claims.sub)),
        expires: expiry(claims.exp),
        claims,
        subscriptions: HashMap::new(),
        histories: HashMap::new(),
    };
    let ending = {
        let write = write(sink, rx, &outbox, &shared, started, &last_pong);
        // `read` ends at the token's expiry too: the writer then sends what is queued, the
        // `token_expired` error last, and closes with 4001.
        let read = read(stream, &outbox, &shared, started, &last_pong, &mut state);
        tokio::pin!(write, read);
        tokio::select! {
            ending = &mut write => {
                // The closing handshake: the client may still be reading frames sent before
                // the close and answering pings. Dropping the socket now would make its next
                // write draw a reset, and a reset discards what it has not read yet, the close
                // code included. So keep reading until it answers the close, or a grace period.
                let _ = tokio::time::timeout(CLOSE_GRACE, &mut read).await;
                ending
            }
            closing = &mut read => match closing {
                None => "client closed",
                Some((code, reason)) => {
                    // The reader cannot go on; the writer says why, in the close frame.
                    outbox.close_with(code, reason);
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT + CLOSE_GRACE, &mut write).await;
                    reason
                }
            },
        }
    };
    state.refusals.flush();
    for history in state.histories.into_values() {
        history.abort();
    }
    for (topic, key) in state.subscriptions.into_values() {
        shared.hub.detach(&topic, key).await;
    }
    Metrics::gauge(&shared.metrics.connections, -1);
    tracing::info!(sub = %shown(&state.claims.sub), ending, "client disconnected");
}

/// What the reader keeps about its connection.
struct State {
    claims: Claims,
    /// What `claims` allow.
    grant: Grant,
    /// Subscription id → its topic and hub key.
    subscriptions: HashMap<String, (String, u64)>,
    /// The `history` answers being sent, by request id.
    histories: HashMap<String, tokio::task::AbortHandle>,
    refusals: RefusalLog,
    /// When `claims` expire.
    expires: tokio::time::Instant,
}

/// The instant a token with this `exp` expires.
fn expiry(exp: i64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    // Capped at ten years: an absurd `exp` (a valid NumericDate) must not overflow a deadline.
    const MAX_LEFT_MS: i64 = 10 * 365 * 24 * 3600 * 1000;
    let left = exp
        .saturating_mul(1000)
        .saturating_sub(now_ms)
        .clamp(0, MAX_LEFT_MS);
    tokio::time::Instant::now() + Duration::from_millis(left as u64)
}

/// Writes queued frames, pings and status changes; returns why it stopped.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Item>,
    outbox: &Outbox,
    shared: &Shared,
    started: Instant,
    last_pong: &AtomicU64,
) -> &'static str {
    let heartbeat = shared.config.heartbeat;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut nats = shared.nats_state.clone();
    let mut told = *nats.borrow_and_update();
    let mut shutdown = shared.shutdown.clone();
    let metrics = &shared.metrics;
    loop {
        let first = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => return going_away(&mut sink).await,
            () = outbox.slow.notified() => return ended(&mut sink, &mut rx, outbox, metrics).await,
            _ = ping.tick() => {
                let since = started.elapsed().as_millis() as u64 - last_pong.load(Ordering::Relaxed);
                if since > 2 * heartbeat.as_millis() as u64 {
                    return no_pong(&mut sink, metrics).await;
                }
                Message::Ping(Default::default())
            }
            changed = nats.changed() => {
                if changed.is_err() {
                    continue;
                }
                let now = *nats.borrow_and_update();
                if now == told {
                    continue;
                }
                told = now;
                text(ServerFrame::Status { nats: now }.to_json())
            }
            item = rx.recv() => match item {
                Some(item) => render(item, outbox, metrics),
                None => return "outbox closed",
            },
        };
        // Whatever else is ready goes out with it, in one flush. A client that stops reading
        // blocks this write, so what else ends a connection is watched meanwhile; a write stuck
        // for three intervals means no pong could have come either.
        let written = async {
            sink.feed(first).await?;
            for _ in 0..WRITE_BATCH {
                let Ok(item) = rx.try_recv() else { break };
                sink.feed(render(item, outbox, metrics)).await?;
            }
            sink.flush().await
        };
        let stop = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => Some(Stop::Shutdown),
            () = outbox.slow.notified() => Some(Stop::TooSlow),
            () = tokio::time::sleep(3 * heartbeat) => Some(Stop::NoPong),
            result = written => result.err().map(|_| Stop::WriteFailed),
        };
        match stop {
            None => {}
            Some(Stop::Shutdown) => return going_away(&mut sink).await,
            Some(Stop::TooSlow) => return ended(&mut sink, &mut rx, outbox, metrics).await,
            Some(Stop::NoPong) => return no_pong(&mut sink, metrics).await,
            Some(Stop::WriteFailed) => return "write failed",
        }
    }
}

enum Stop {
    Shutdown,
    TooSlow,
    NoPong,
    WriteFailed,
}

async fn going_away(sink: &mut SplitSink<WebSocket, Message>) -> &'static str {
    close(sink, CLOSE_GOING_AWAY, "the gateway is shutting down").await;
    "gateway shutting down"
}

/// Closes for the reason the outbox holds: the reader's (1007, 1009, 4001) or too slow.
async fn ended(
    sink: &mut SplitSink<WebSocket, Message>,
    rx: &mut mpsc::Receiver<Item>,
    outbox: &Outbox,
    metrics: &Metrics,
) -> &'static str {
    match outbox.closing() {
        Some((code, reason)) => {
            if code == CLOSE_TOO_SLOW {
                Metrics::add(&metrics.slow_disconnects, 1);
            } else {
                // What was queued before the reason arose goes first (the `token_expired`
                // error, the answers before an oversized message), as far as the client reads.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    while let Ok(item) = rx.try_recv() {
                        sink.feed(render(item, outbox, metrics)).await?;
                    }
                    sink.flush().await
                })
                .await;
            }
            close(sink, code, reason).await;
            reason
        }
        None => too_slow(sink, outbox, metrics).await,
    }
}

/// The client hears how much it missed before it is let go.
async fn too_slow(
    sink: &mut SplitSink<WebSocket, Message>,
    outbox: &Outbox,
    metrics: &Metrics,
) -> &'static str {
    Metrics::add(&metrics.lagged, 1);
    Metrics::add(&metrics.slow_disconnects, 1);
    let lagged = ServerFrame::Lagged {
        missed: outbox.take_missed(),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.feed(text(lagged.to_json()))).await;
    close(sink, CLOSE_TOO_SLOW, "too slow: the send queue overflowed").await;
    "too slow"
}

async fn no_pong(sink: &mut SplitSink<WebSocket, Message>, metrics: &Metrics) -> &'static str {
    Metrics::add(&metrics.pong_timeouts, 1);
    close(
        sink,
        CLOSE_NO_PONG,
        "no pong within two heartbeat intervals",
    )
    .await;
    "no pong"
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn render(item: Item, outbox: &Outbox, metrics: &Metrics) -> Message {
    outbox.taken(&item);
    match item {
        Item::Event {
            subscription,
            frame,
        } => {
            Metrics::add(&metrics.events_forwarded, 1);
            text(frame.for_subscription(&subscription))
        }
        Item::Lagged(missed) => text(ServerFrame::Lagged { missed }.to_json()),
        Item::Frame(frame) => text(frame),
    }
}

fn text(frame: String) -> Message {
    Message::Text(Utf8Bytes::from(frame))
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(frame)).await;
}

/// Reads the client's frames until it closes or the socket fails; the close code and reason to
/// send when what the client sent ends the connection (1009, 1007).
async fn read(
    mut stream: SplitStream<WebSocket>,
    outbox: &Arc<Outbox>,
    shared: &Shared,
    started: Instant,
    last_pong: &AtomicU64,
    state: &mut State,
) -> Option<(u16, &'static str)> {
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = tokio::time::sleep_until(state.expires) => {
                let expired = ServerFrame::Error {
                    id: None,
                    code: ErrorCode::TokenExpired,
                    message: format!(
                        "the token expired at {} (seconds since the epoch); connect again with a fresh token, or send `reauth` before `exp`",
                        state.claims.exp
                    ),
                };
                outbox.send(expired.to_json()).await;
                return Some((CLOSE_TOKEN_EXPIRED, "the token expired"));
            }
        };
        let message = match next {
            None => return None,
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                let closing = read_error(e);
                if closing.is_some() {
                    // Keep reading what is left (the client's close, the rest of its frame):
                    // unread bytes at close make the kernel reset the connection, and a reset
                    // discards the close frame before the client reads it.
                    tokio::spawn(async move {
                        let drain = async { while stream.next().await.is_some() {} };
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT + CLOSE_GRACE, drain).await;
                    });
                }
                return closing;
            }
        };
        let answer = match message {
            Message::Pong(_) => {
                last_pong.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                continue;
            }
            Message::Ping(_) => continue,
            Message::Close(_) => return None,
            Message::Binary(bytes) => Some(state.refusals.refuse(
                None,
                ErrorCode::BadRequest,
                "frames are JSON text, not binary".into(),
                &format!("a binary frame of {} bytes", bytes.len()),
            )),
            Message::Text(frame) => request(frame.as_str(), outbox, shared, state).await,
        };
        if let Some(answer) = answer {
            if !outbox.send(answer).await {
                return outbox.closing();
            }
        }
    }
}

/// The close a read error calls for: a message over the transport's limit (1009) or a text
/// frame that is not UTF-8 (1007); `None` when the socket itself failed.
fn read_error(e: axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::{CapacityError, Error};
    let inner = e.into_inner();
    match inner.downcast_ref::<Error>()? {
        Error::Capacity(CapacityError::MessageTooLong { .. }) => Some((
            CLOSE_TOO_BIG,
            "the message is larger than the gateway reads",
        )),
        Error::Capacity(_) => Some((CLOSE_TOO_BIG, "the message is too large")),
        Error::Utf8(_) => Some((CLOSE_INVALID_DATA, "a text frame is not UTF-8")),
        _ => None,
    }
}

/// An `error` frame. It never repeats more of the request than a short prefix: an id only
/// when it is a valid one, and a message cut to a few hundred bytes.
fn error(id: Option<String>, code: ErrorCode, message: String) -> String {
    let id = id.filter(|id| !id.is_empty() && id.len() <= MAX_ID_BYTES);
    ServerFrame::Error {
        id,
        code,
        message: echo::message(message),
    }
    .to_json()
}

/// One connection's refused requests in the log (see [`REFUSAL_LOG_INTERVAL`]).
pub struct RefusalLog {
    /// The token's `sub`, already made safe to log.
    sub: String,
    since: Instant,
    logged: bool,
    more: u64,
}

impl RefusalLog {
    fn new(sub: String) -> RefusalLog {
        RefusalLog {
            sub,
            since: Instant::now(),
            logged: false,
            more: 0,
        }
    }

    /// Logs (or counts) the refusal of `input` and returns the `error` frame for it.
    fn refuse(
        &mut self,
        id: Option<String>,
        code: ErrorCode,
        message: String,
        input: &str,
    ) -> String {
        if self.since.elapsed() >= REFUSAL_LOG_INTERVAL {
            self.flush();
            self.since = Instant::now();
            self.logged = false;
        }
        if self.logged {
            self.more += 1;
        } else {
            self.logged = true;
            tracing::info!(
                sub = %self.sub,
                code = code.as_str(),
                request = %shown(input),
                "request refused"
            );
        }
        error(id, code, message)
    }

    /// Logs how many refusals were not logged one by one.
    fn flush(&mut self) {
        if self.more > 0 {
            tracing::info!(
                sub = %self.sub,
                refused = self.more,
                secs = self.since.elapsed().as_secs(),
                "more requests refused"
            );
            self.more = 0;
        }
    }
}

/// Handles one request; the answer to queue, if any.
async fn request(
    text: &str,
    outbox: &Arc<Outbox>,
    shared: &Shared,
    state: &mut State,
) -> Option<String> {
    let limits = &shared.config.limits;
    let State {
        grant,
        subscriptions,
        refusals,
        histories,
        ..
    } = state;
    if text.len() > limits.max_frame_bytes {
        let message = format!(
            "the frame has {} bytes; the limit is {}",
            text.len(),
            limits.max_frame_bytes
        );
        // Only its size is logged: a frame may hold anything, a token included.
        return Some(refusals.refuse(None, ErrorCode::Limit, message.clone(), &message));
    }
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err((id, message)) => {
            return Some(refusals.refuse(id, ErrorCode::BadRequest, message.clone(), &message))
        }
    };
    match frame {
        ClientFrame::Subscribe { id, topic } => {
            if id.is_empty() || id.len() > MAX_ID_BYTES {
                let message = format!("a subscription id has 1 to {MAX_ID_BYTES} bytes");
                return Some(refusals.refuse(Some(id), ErrorCode::BadRequest, message, &topic));
            }
            if subscriptions.contains_key(&id) {
                let message = format!("subscription {id:?} already exists");
                return Some(refusals.refuse(Some(id), ErrorCode::BadRequest, message, &topic));
            }
            if subscriptions.len() >= limits.max_subscriptions {
                let message = format!(
                    "a connection may hold {} subscriptions",
                    limits.max_subscriptions
                );
                return Some(refusals.refuse(Some(id), ErrorCode::Limit, message, &topic));
            }
            // Before anything parses it, and long before NATS: a subject over nats-server's
            // control line limit makes it drop the gateway's connection, every client's.
            if topic.len() > MAX_TOPIC_BYTES {
                let message = format!(
                    "the topic has {} bytes; the limit is {MAX_TOPIC_BYTES}",
                    topic.len()
                );
                return Some(refusals.refuse(Some(id), ErrorCode::InvalidTopic, message, &topic));
            }
            let pattern = match grant.authorize(&topic) {
                Ok(pattern) => pattern,
                Err(TopicRefusal::Invalid(m)) => {
                    return Some(refusals.refuse(Some(id), ErrorCode::InvalidTopic, m, &topic))
                }
                Err(TopicRefusal::Forbidden(m)) => {
                    return Some(refusals.refuse(Some(id), ErrorCode::Forbidden, m, &topic))
                }
            };
            // Queued before the topic is attached, so `subscribed` precedes its first event.
            let subscribed = ServerFrame::Subscribed {
                id: id.clone(),
                topic: pattern.to_string(),
            };
            if !outbox.send(subscribed.to_json()).await {
                return None;
            }
            let key = shared.hub.new_key();
            let target = Target {
                key,
                subscription: Arc::from(id.as_str()),
                outbox: outbox.clone(),
            };
            if let Err(e) = shared.hub.attach(pattern.as_str(), target).await {
                tracing::warn!(topic = %shown(pattern.as_str()), "nats subscribe failed: {e}");
                // The client was told `subscribed`; it hears the subscription end at once.
                let ended = ServerFrame::Unsubscribed { id: id.clone() };
                outbox.send(ended.to_json()).await;
                return None;
            }
            subscriptions.insert(id, (pattern.to_string(), key));
            None
        }
        ClientFrame::History {
            id,
            topic,
            since,
            until,
            limit,
        } => {
            histories.retain(|_, task| !task.is_finished());
            if id.is_empty() || id.len() > MAX_ID_BYTES {
                let message = format!("a history id has 1 to {MAX_ID_BYTES} bytes");
                return Some(refusals.refuse(Some(id), ErrorCode::BadRequest, message, &topic));
            }
            if histories.contains_key(&id) {
                let message = format!("history {id:?} is still being sent");
                return Some(refusals.refuse(Some(id), ErrorCode::BadRequest, message, &topic));
            }
            if histories.len() >= MAX_HISTORIES {
                let message = format!("a connection may read {MAX_HISTORIES} histories at once");
                return Some(refusals.refuse(Some(id), ErrorCode::Limit, message, &topic));
            }
            if topic.len() > MAX_TOPIC_BYTES {
                let message = format!(
                    "the topic has {} bytes; the limit is {MAX_TOPIC_BYTES}",
                    topic.len()
                );
                return Some(refusals.refuse(Some(id), ErrorCode::InvalidTopic, message, &topic));
            }
            // Exactly as `subscribe`: the topic's organization must be the token's.
            let pattern = match grant.authorize(&topic) {
                Ok(pattern) => pattern,
                Err(TopicRefusal::Invalid(m)) => {
                    return Some(refusals.refuse(Some(id), ErrorCode::InvalidTopic, m, &topic))
                }
                Err(TopicRefusal::Forbidden(m)) => {
                    return Some(refusals.refuse(Some(id), ErrorCode::Forbidden, m, &topic))
                }
            };
            let now = chrono::Utc::now();
            let times = history::parse_time(&since, now).and_then(|since| {
                let until = until
                    .as_deref()
                    .map(|t| history::parse_time(t, now))
                    .transpose()?;
                Ok((since, until))
            });
            let (since, until) = match times {
                Ok(times) => times,
                Err(e) => {
                    return Some(refusals.refuse(
                        Some(id),
                        ErrorCode::BadRequest,
                        e.to_string(),
                        &topic,
                    ))
                }
            };
            let query = HistoryQuery {
                subject: pattern.to_string(),
                since,
                until,
                stream: shared.history_stream.get().cloned(),
                follow: false,
                filter: None,
            };
            let task = tokio::spawn(send_history(
                shared.hub.client().clone(),
                query,
                id.clone(),
                limit.unwrap_or(u64::MAX),
                outbox.clone(),
            ));
            histories.insert(id, task.abort_handle());
            None
        }
        ClientFrame::Reauth { token } => reauth(&token, outbox, shared, state).await,
        ClientFrame::Unsubscribe { id } => match subscriptions.remove(&id) {
            Some((topic, key)) => {
                // Detached first: every event queued before `unsubscribed` was for it, none after.
                shared.hub.detach(&topic, key).await;
                Some(ServerFrame::Unsubscribed { id }.to_json())
            }
            None => {
                let message = format!("no subscription {:?}", echo::prefix(&id, MAX_ID_BYTES));
                Some(refusals.refuse(Some(id), ErrorCode::BadRequest, message.clone(), &message))
            }
        },
    }
}

/// `history` answers one connection may have running at once.
const MAX_HISTORIES: usize = 4;

/// Answers one `history` request: its events in stream order (each waits for room in the
/// client's queue for a while, then is missed as a live event is), then `history_end`; an
/// `error` (`no_history`) when no stream holds the topic or reading fails.
async fn send_history(
    client: async_nats::Client,
    query: HistoryQuery,
    id: String,
    limit: u64,
    outbox: Arc<Outbox>,
) {
    let topic = query.subject.clone();
    let mut reader = match HistoryReader::open(client, query).await {
        Ok(reader) => reader,
        Err(e) => {
            tracing::info!(topic = %shown(&topic), "history refused: {e}");
            outbox
                .send(error(Some(id), ErrorCode::NoHistory, e.to_string()))
                .await;
            return;
        }
    };
    let mut count = 0;
    while count < limit {
        let message = match reader.next().await {
            None => break,
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                outbox
                    .send(error(Some(id), ErrorCode::NoHistory, e.to_string()))
                    .await;
                return;
            }
        };
        let frame = EventFrame::new(&message.subject, &message.body).for_history(&id, message.seq);
        match outbox.offer_stored(&message.subject, frame).await {
            Some(true) => count += 1,
            Some(false) => {}
            None => return,
        }
    }
    outbox
        .send(ServerFrame::HistoryEnd { id, count }.to_json())
        .await;
}

/// A `reauth`: a fresh token for the same `sub` replaces the connection's claims. Its orgs apply
/// from here on: the subscriptions they no longer allow are ended (`unsubscribed`) before the
/// answer, `reauthenticated`. A refused token changes nothing (the old one still runs out).
async fn reauth(
    token: &str,
    outbox: &Arc<Outbox>,
    shared: &Shared,
    state: &mut State,
) -> Option<String> {
    // The token itself is never logged: only why it was refused.
    let claims = match auth::verify(token, &shared.config.verifier, crate::unix_now()) {
        Ok(claims) => claims,
        Err(e) => {
            let message = format!("the new token is refused ({}): {e}", e.code());
            return Some(state.refusals.refuse(
                None,
                ErrorCode::Unauthorized,
                message,
                &format!("reauth: {}", e.code()),
            ));
        }
    };
    if claims.sub != state.claims.sub {
        let message = format!(
            "the new token is for another user ({:?}, not {:?})",
            echo::prefix(&claims.sub, MAX_ID_BYTES),
            echo::prefix(&state.claims.sub, MAX_ID_BYTES)
        );
        return Some(state.refusals.refuse(
            None,
            ErrorCode::Unauthorized,
            message,
            "reauth: another sub",
        ));
    }
    let grant = Grant::new(&claims.orgs);
    // Narrowed first, so no event of an org the new token lacks is delivered from here on.
    outbox.set_grant(grant.clone());
    let ended: Vec<String> = state
        .subscriptions
        .iter()
        .filter(|(_, (topic, _))| grant.authorize(topic).is_err())
        .map(|(id, _)| id.clone())
        .collect();
    for id in ended {
        if let Some((topic, key)) = state.subscriptions.remove(&id) {
            shared.hub.detach(&topic, key).await;
            if !outbox
                .send(ServerFrame::Unsubscribed { id }.to_json())
                .await
            {
                return None;
            }
        }
    }
    tracing::info!(sub = %shown(&claims.sub), orgs = ?claims.orgs, "client reauthenticated");
    state.expires = expiry(claims.exp);
    state.grant = grant;
    let answer = ServerFrame::Reauthenticated {
        sub: claims.sub.clone(),
        orgs: claims.orgs.clone(),
        exp: claims.exp,
    };
    state.claims = claims;
    Some(answer.to_json())
}
