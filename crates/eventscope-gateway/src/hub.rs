//! Topics and fan-out: one NATS subscription per distinct topic, shared by every client that
//! asked for it, and each client's bounded outbox.
//!
//! The fan-out never waits for a client: it offers each event to each outbox with `try_send`.
//! A full outbox counts the event as missed; the count goes out as a `lagged` frame in front of
//! the next event that fits, and a client that misses too many in a row is disconnected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_nats::Client;
use eventscope_core::gateway::protocol::EventFrame;
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

/// One client's queue of frames to write, and what it missed.
pub struct Outbox {
    tx: mpsc::Sender<Item>,
    grant: Grant,
    max_missed: u64,
    /// Events missed since the last `lagged` frame was queued.
    missed: AtomicU64,
    too_slow: AtomicBool,
    /// Wakes the writer when the client is to be disconnected for being too slow.
    pub slow: Notify,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub fn new(
        tx: mpsc::Sender<Item>,
        grant: Grant,
        max_missed: u64,
        metrics: Arc<Metrics>,
    ) -> Outbox {
        Outbox {
            tx,
            grant,
            max_missed,
            missed: AtomicU64::new(0),
            too_slow: AtomicBool::new(false),
            slow: Notify::new(),
            metrics,
        }
    }

    /// Queues a frame that must not be dropped (answers to requests); waits for room.
    pub async fn send(&self, frame: String) -> bool {
        self.tx.send(Item::Frame(frame)).await.is_ok()
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
        if !self.grant.allows_subject(subject) {
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
        if self.missed.load(Ordering::Relaxed) > 0 {
            // The `lagged` frame and the event go in together, so the frame marks the gap.
            match self.tx.try_reserve_many(2) {
                Ok(mut permits) => {
                    let missed = self.missed.swap(0, Ordering::Relaxed);
                    if missed > 0 {
                        if let Some(p) = permits.next() {
                            p.send(Item::Lagged(missed));
                        }
                        Metrics::add(&self.metrics.lagged, 1);
                    }
                    if let Some(p) = permits.next() {
                        p.send(event());
                    }
                }
                Err(mpsc::error::TrySendError::Full(())) => self.miss(),
                Err(mpsc::error::TrySendError::Closed(())) => {}
            }
            return;
        }
        match self.tx.try_send(event()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.miss(),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
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
