//! One client connection: the reader (requests, pongs) and the writer (frames, pings, close),
//! and the cleanup of every subscription when either ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use eventscope_core::gateway::protocol::{
    ClientFrame, ErrorCode, NatsState, ServerFrame, CLOSE_GOING_AWAY, CLOSE_NO_PONG,
    CLOSE_TOO_SLOW, MAX_ID_BYTES,
};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};

use crate::auth::{Claims, Grant, TopicRefusal};
use crate::hub::{Item, Outbox, Target};
use crate::metrics::Metrics;
use crate::Shared;

/// Frames the writer sends in one go before it flushes the socket.
const WRITE_BATCH: usize = 256;
/// How long a closing frame may wait for a client that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the gateway waits, after its close frame, for the client's.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves one upgraded connection until it ends, then cleans up.
pub async fn run(socket: WebSocket, claims: Claims, shared: Arc<Shared>) {
    let limits = &shared.config.limits;
    Metrics::gauge(&shared.metrics.connections, 1);
    tracing::info!(sub = %claims.sub, orgs = ?claims.orgs, "client connected");
    let (tx, rx) = mpsc::channel(limits.send_queue.max(2));
    let outbox = Arc::new(Outbox::new(
        tx,
        Grant::new(&claims.orgs),
        limits.max_missed,
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
    let mut subscriptions: HashMap<String, (String, u64)> = HashMap::new();
    let ending = {
        let write = write(sink, rx, &outbox, &shared, started, &last_pong);
        let read = read(
            stream,
            &outbox,
            &claims,
            &shared,
            started,
            &last_pong,
            &mut subscriptions,
        );
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
            () = &mut read => "client closed",
        }
    };
    for (topic, key) in subscriptions.into_values() {
        shared.hub.detach(&topic, key).await;
    }
    Metrics::gauge(&shared.metrics.connections, -1);
    tracing::info!(sub = %claims.sub, ending, "client disconnected");
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
            () = outbox.slow.notified() => return too_slow(&mut sink, outbox, metrics).await,
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
                Some(item) => render(item, metrics),
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
                sink.feed(render(item, metrics)).await?;
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
            Some(Stop::TooSlow) => return too_slow(&mut sink, outbox, metrics).await,
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

fn render(item: Item, metrics: &Metrics) -> Message {
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

/// Reads the client's frames until it closes or the socket fails.
async fn read(
    mut stream: SplitStream<WebSocket>,
    outbox: &Arc<Outbox>,
    claims: &Claims,
    shared: &Shared,
    started: Instant,
    last_pong: &AtomicU64,
    subscriptions: &mut HashMap<String, (String, u64)>,
) {
    let grant = Grant::new(&claims.orgs);
    while let Some(Ok(message)) = stream.next().await {
        let answer = match message {
            Message::Pong(_) => {
                last_pong.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                continue;
            }
            Message::Ping(_) => continue,
            Message::Close(_) => return,
            Message::Binary(_) => Some(error(
                None,
                ErrorCode::BadRequest,
                "frames are JSON text, not binary".into(),
            )),
            Message::Text(frame) => {
                request(frame.as_str(), outbox, &grant, shared, subscriptions).await
            }
        };
        if let Some(answer) = answer {
            if !outbox.send(answer).await {
                return;
            }
        }
    }
}

fn error(id: Option<String>, code: ErrorCode, message: String) -> String {
    ServerFrame::Error { id, code, message }.to_json()
}

/// Handles one request; the answer to queue, if any.
async fn request(
    text: &str,
    outbox: &Arc<Outbox>,
    grant: &Grant,
    shared: &Shared,
    subscriptions: &mut HashMap<String, (String, u64)>,
) -> Option<String> {
    let limits = &shared.config.limits;
    if text.len() > limits.max_frame_bytes {
        return Some(error(
            None,
            ErrorCode::Limit,
            format!(
                "the frame has {} bytes; the limit is {}",
                text.len(),
                limits.max_frame_bytes
            ),
        ));
    }
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err((id, message)) => return Some(error(id, ErrorCode::BadRequest, message)),
    };
    match frame {
        ClientFrame::Subscribe { id, topic } => {
            if id.is_empty() || id.len() > MAX_ID_BYTES {
                return Some(error(
                    Some(id),
                    ErrorCode::BadRequest,
                    format!("a subscription id has 1 to {MAX_ID_BYTES} bytes"),
                ));
            }
            if subscriptions.contains_key(&id) {
                let message = format!("subscription {id:?} already exists");
                return Some(error(Some(id), ErrorCode::BadRequest, message));
            }
            if subscriptions.len() >= limits.max_subscriptions {
                let message = format!(
                    "a connection may hold {} subscriptions",
                    limits.max_subscriptions
                );
                return Some(error(Some(id), ErrorCode::Limit, message));
            }
            let pattern = match grant.authorize(&topic) {
                Ok(pattern) => pattern,
                Err(TopicRefusal::Invalid(m)) => {
                    return Some(error(Some(id), ErrorCode::InvalidTopic, m))
                }
                Err(TopicRefusal::Forbidden(m)) => {
                    tracing::info!(topic, "subscription refused: forbidden");
                    return Some(error(Some(id), ErrorCode::Forbidden, m));
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
                tracing::warn!(topic = pattern.as_str(), "nats subscribe failed: {e}");
                // The client was told `subscribed`; it hears the subscription end at once.
                let ended = ServerFrame::Unsubscribed { id: id.clone() };
                outbox.send(ended.to_json()).await;
                return None;
            }
            subscriptions.insert(id, (pattern.to_string(), key));
            None
        }
        ClientFrame::Unsubscribe { id } => match subscriptions.remove(&id) {
            Some((topic, key)) => {
                // Detached first: every event queued before `unsubscribed` was for it, none after.
                shared.hub.detach(&topic, key).await;
                Some(ServerFrame::Unsubscribed { id }.to_json())
            }
            None => {
                let message = format!("no subscription {id:?}");
                Some(error(Some(id), ErrorCode::BadRequest, message))
            }
        },
    }
}
