//! Topics and fan-out: one NATS subscription per distinct topic, shared by every client that
//! asked for it, and each client's bounded outbox.
//!
//! The fan-out never waits for a client: it offers each event to each outbox with `try_send`.
//! A full outbox counts the event as missed; the count goes out as a `lagged` frame in front of
//! the next event that fits, and a client that misses too many in a row is disconnected.
//!
//! An outbox is bounded twice: in items (`--send-queue`) and in bytes (`--send-queue-bytes`).
//! The byte bound is what holds a connection's memory: an event that does not fit is missed, an
//! answer to a request that does not fit closes the connection (4009), since answers are never
//! dropped. Either way what the connection queued is freed when it closes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use async_nats::Client;
use eventscope_core::gateway::protocol::{EventFrame, CLOSE_TOO_SLOW};
use futures::StreamExt;
use tokio::sync::{mpsc, Mutex, Notify};
use tokio::task::AbortHandle;

use crate::auth::Grant;
use crate::metrics::Metrics;

/// What a connection's writer sends, in order.
#[derive(Debug)]
pub enum Item {
    /// An event for one of the client's subscriptions.
    Event {
        subscription: Arc<str>,
        frame: Arc<EventFrame>,
    },
    /// The client missed this many events since the last `lagged` frame.
    Lagged(u64),
    /// Any other frame, already serialized.
    Frame(String),
}

impl Item {
    /// The bytes it holds and will write, as counted against the outbox's byte bound (an
    /// event's shared part is counted for each client: while it waits, each one pins it).
    pub fn size(&self) -> usize {
        match self {
            Item::Event {
                subscription,
                frame,
            } => event_size(subscription, frame),
            Item::Lagged(_) => LAGGED_SIZE,
            Item::Frame(frame) => frame.len(),
        }
    }
}

/// How long a stored event waits for room in a client's queue before it is missed.
pub const STORED_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const STORED_POLL: std::time::Duration = std::time::Duration::from_millis(2);

/// A `lagged` frame's bytes, about.
const LAGGED_SIZE: usize = 32;

fn event_size(subscription: &str, frame: &EventFrame) -> usize {
    // `{"type":"event","subscription":` and the quotes around the id.
    frame.len() + subscription.len() + 34
}

/// One client's queue of frames to write, and what it missed.
pub struct Outbox {
    tx: mpsc::Sender<Item>,
    /// What the connection's token allows; replaced by a `reauth`.
    grant: RwLock<Grant>,
    max_missed: u64,
    max_bytes: usize,
    /// Bytes queued and not yet taken by the writer.
    bytes: AtomicUsize,
    /// Why the connection is to be closed, when it is not for missing events.
    closing: OnceLock<(u16, &'static str)>,
    /// Events missed since the last `lagged` frame was queued.
    missed: AtomicU64,
    too_slow: AtomicBool,
    /// Wakes the writer when the client is to be disconnected: too slow, or
    /// [`Outbox::close_with`].
    pub slow: Notify,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn new(
        tx: mpsc::Sender<Item>,
        grant: Grant,
        max_missed: u64,
        max_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Outbox {
        Outbox {
            tx,
            grant: RwLock::new(grant),
            max_missed,
            max_bytes,
            bytes: AtomicUsize::new(0),
            closing: OnceLock::new(),
            missed: AtomicU64::new(0),
            too_slow: AtomicBool::new(false),
            slow: Notify::new(),
            metrics,
        }
    }

    /// Queues a frame that must not be dropped (answers to requests); waits for room in
    /// items. False when the connection is closing, or is now because the frame is over the
    /// byte bound (a client that sends requests and does not read their answers).
    pub async fn send(&self, frame: String) -> bool {
        if self.closing.get().is_some() {
            return false;
        }
        if !self.take_room(frame.len()) {
            self.close_with(
                CLOSE_TOO_SLOW,
                "too slow: the send queue is over its byte limit",
            );
            return false;
        }
        self.tx.send(Item::Frame(frame)).await.is_ok()
    }

    /// Counts `size` bytes as queued when they fit under the bound.
    fn take_room(&self, size: usize) -> bool {
        let mut now = self.bytes.load(Ordering::Relaxed);
        loop {
            // One item always fits in an empty outbox, so a bound smaller than a frame does not
            // stop every frame.
            if now > 0 && now + size > self.max_bytes {
                return false;
            }
            match self.bytes.compare_exchange_weak(
                now,
                now + size,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => now = actual,
            }
        }
    }

    /// The writer took `item` out of the queue: its bytes are no longer held here.
    pub fn taken(&self, item: &Item) {
        self.bytes.fetch_sub(item.size(), Ordering::Relaxed);
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Asks the writer to close the connection with `code` (the first reason given wins);
    /// nothing more is queued.
    pub fn close_with(&self, code: u16, reason: &'static str) {
        let _ = self.closing.set((code, reason));
        self.too_slow.store(true, Ordering::Relaxed);
        self.slow.notify_one();
    }

    /// The close asked for with [`Outbox::close_with`], if any.
    pub fn closing(&self) -> Option<(u16, &'static str)> {
        self.closing.get().copied()
    }

    /// From now on, events are checked against `grant` (a `reauth` with other orgs).
    pub fn set_grant(&self, grant: Grant) {
        *write(&self.grant) = grant;
    }

    /// Events missed and not yet reported (for the last `lagged` frame before 4009).
    pub fn take_missed(&self) -> u64 {
        self.missed.swap(0, Ordering::Relaxed)
    }

    /// Offers an event without waiting: queued, or counted as missed.
    fn offer(&self, subscription: &Arc<str>, subject: &str, frame: &Arc<EventFrame>) {
        if self.too_slow.load(Ordering::Relaxed) {
            return;
        }
        // Authorization happened at subscribe; this second check makes a leak take two bugs.
        let allowed = self
            .grant
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .allows_subject(subject);
        if !allowed {
            tracing::error!(
                subject,
                "refused to deliver an event outside the token's orgs"
            );
            return;
        }
        let event = || Item::Event {
            subscription: subscription.clone(),
            frame: frame.clone(),
        };
        let size = event_size(subscription, frame);
        if self.missed.load(Ordering::Relaxed) > 0 {
            // The `lagged` frame and the event go in together, so the frame marks the gap.
            if !self.take_room(size + LAGGED_SIZE) {
                return self.miss();
            }
            match self.tx.try_reserve_many(2) {
                Ok(mut permits) => {
                    let missed = self.missed.swap(0, Ordering::Relaxed);
                    if missed > 0 {
                        if let Some(p) = permits.next() {
                            p.send(Item::Lagged(missed));
                        }
                        Metrics::add(&self.metrics.lagged, 1);
                    } else {
                        self.bytes.fetch_sub(LAGGED_SIZE, Ordering::Relaxed);
                    }
                    if let Some(p) = permits.next() {
                        p.send(event());
                    }
                }
                Err(e) => {
                    self.bytes.fetch_sub(size + LAGGED_SIZE, Ordering::Relaxed);
                    if matches!(e, mpsc::error::TrySendError::Full(())) {
                        self.miss();
                    }
                }
            }
            return;
        }
        if !self.take_room(size) {
            return self.miss();
        }
        if let Err(e) = self.tx.try_send(event()) {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                self.miss();
            }
        }
    }

    /// Offers a stored event (a `history` answer): waits up to [`STORED_WAIT`] for room, as
    /// JetStream can be read faster than any client, then counts it as missed as a live event
    /// would be (the client hears `lagged`). `Some(true)` when queued, `Some(false)` when
    /// missed or refused, `None` when the connection is closing.
    pub async fn offer_stored(&self, subject: &str, frame: String) -> Option<bool> {
        if self.too_slow.load(Ordering::Relaxed) || self.closing.get().is_some() {
            return None;
        }
        let allowed = self
            .grant
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .allows_subject(subject);
        if !allowed {
            tracing::error!(
                subject,
                "refused to deliver a stored event outside the token's orgs"
            );
            return Some(false);
        }
        let deadline = tokio::time::Instant::now() + STORED_WAIT;
        let mut frame = frame;
        loop {
            if self.too_slow.load(Ordering::Relaxed) {
                return None;
            }
            let size = frame.len();
            if self.take_room(size) {
                if self.missed.load(Ordering::Relaxed) > 0 && self.take_room(LAGGED_SIZE) {
                    let missed = self.missed.swap(0, Ordering::Relaxed);
                    if self.tx.try_send(Item::Lagged(missed)).is_err() {
                        self.bytes.fetch_sub(LAGGED_SIZE, Ordering::Relaxed);
                        self.missed.fetch_add(missed, Ordering::Relaxed);
                    } else {
                        Metrics::add(&self.metrics.lagged, 1);
                    }
                }
                match self.tx.try_send(Item::Frame(frame)) {
                    Ok(()) => return Some(true),
                    Err(mpsc::error::TrySendError::Full(Item::Frame(back))) => {
                        self.bytes.fetch_sub(size, Ordering::Relaxed);
                        frame = back;
                    }
                    Err(_) => {
                        self.bytes.fetch_sub(size, Ordering::Relaxed);
                        return None;
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                self.miss();
                return Some(false);
            }
            tokio::time::sleep(STORED_POLL).await;
        }
    }

    fn miss(&self) {
        Metrics::add(&self.metrics.dropped, 1);
        let missed = self.missed.fetch_add(1, Ordering::Relaxed) + 1;
        if missed > self.max_missed && !self.too_slow.swap(true, Ordering::Relaxed) {
            self.slow.notify_one();
        }
    }
}

/// One client subscription attached to a topic.
#[derive(Clone)]
pub struct Target {
    /// Unique over the gateway's life, so a subscription can be detached exactly.
    pub key: u64,
    pub subscription: Arc<str>,
    pub outbox: Arc<Outbox>,
}

struct Topic {
    targets: Arc<RwLock<Vec<Target>>>,
    task: AbortHandle,
}

/// Every topic some client watches.
pub struct Hub {
    client: Client,
    topics: Mutex<HashMap<String, Topic>>,
    metrics: Arc<Metrics>,
    next_key: AtomicU64,
}

impl Hub {
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Hub {
        Hub {
            client,
            topics: Mutex::new(HashMap::new()),
            metrics,
            next_key: AtomicU64::new(1),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn new_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Attaches `target` to `topic`, subscribing to NATS if it is the topic's first.
    pub async fn attach(
        &self,
        topic: &str,
        target: Target,
    ) -> Result<(), async_nats::SubscribeError> {
        let mut topics = self.topics.lock().await;
        if let Some(existing) = topics.get(topic) {
            write(&existing.targets).push(target);
        } else {
            let subscriber = self.client.subscribe(topic.to_string()).await?;
            let targets = Arc::new(RwLock::new(vec![target]));
            let task = tokio::spawn(fan_out(subscriber, targets.clone(), self.metrics.clone()))
                .abort_handle();
            topics.insert(topic.to_string(), Topic { targets, task });
            Metrics::gauge(&self.metrics.nats_subscriptions, 1);
            tracing::debug!(topic, "nats subscription opened");
        }
        Metrics::gauge(&self.metrics.subscriptions, 1);
        Ok(())
    }

    /// Detaches the subscription `key` from `topic`; the last one out closes the NATS
    /// subscription.
    pub async fn detach(&self, topic: &str, key: u64) {
        let mut topics = self.topics.lock().await;
        let Some(entry) = topics.get(topic) else {
            return;
        };
        let empty = {
            let mut targets = write(&entry.targets);
            let before = targets.len();
            targets.retain(|t| t.key != key);
            if targets.len() < before {
                Metrics::gauge(&self.metrics.subscriptions, -1);
            }
            targets.is_empty()
        };
        if empty {
            if let Some(entry) = topics.remove(topic) {
                // Dropping the subscriber with its task unsubscribes from NATS.
                entry.task.abort();
                Metrics::gauge(&self.metrics.nats_subscriptions, -1);
                tracing::debug!(topic, "nats subscription closed");
            }
        }
    }
}

/// Reads one NATS subscription and offers each message to every target, in order.
async fn fan_out(
    mut subscriber: async_nats::Subscriber,
    targets: Arc<RwLock<Vec<Target>>>,
    metrics: Arc<Metrics>,
) {
    while let Some(message) = subscriber.next().await {
        Metrics::add(&metrics.nats_messages, 1);
        let subject = message.subject.as_str();
        let frame = Arc::new(EventFrame::new(subject, &message.payload));
        let targets = targets.read().unwrap_or_else(|e| e.into_inner());
        for target in targets.iter() {
            target.outbox.offer(&target.subscription, subject, &frame);
        }
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
