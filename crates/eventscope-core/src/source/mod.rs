//! Where a live stream's events come from: a NATS subscription or the WebSocket gateway, behind
//! one [`Source`] that the app, the CLI and the benchmarks all read the same way.
//!
//! Both kinds take their subject patterns from the profile, report their state through one
//! `watch` of [`SourceStatus`], count what they receive and drop in [`SourceCounters`], and hand
//! out what is ready in one [`MessageBatch`]. A message that two overlapping patterns both
//! select (`events.org_1.>` and `events.*.apps.>`) is handed out once, from the first pattern
//! that selects it, and counted apart as a duplicate.

pub mod gateway;
pub mod nats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::watch;

use crate::topic::{TopicError, TopicPattern};
use crate::wire::{ConnectionProfile, ConnectionState, GatewayStatus, SourceStatus};
pub use gateway::{GatewayMessage, GatewaySource};
pub use nats::NatsSource;

/// Messages a subscription may buffer before the client drops them. Large, because a consumer
/// that is briefly descheduled must not lose messages; the memory is only used when needed.
pub const SUBSCRIPTION_CAPACITY: usize = 1 << 20;
/// Most messages handed out in one batch.
pub const MAX_BATCH: usize = 4096;

/// What to do when the first connection attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstConnect {
    /// Fail at once (the CLI, and the app's connect button: the user waits for an answer).
    FailFast,
    /// Return at once and keep trying in the background, reporting why in the status (the
    /// app at startup, the gateway server).
    Retry,
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("no server URL given")]
    NoServer,
    #[error(transparent)]
    Subject(#[from] TopicError),
    #[error("cannot read credentials file {path}: {source}")]
    Creds {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid NKey seed: {0}")]
    BadSeed(String),
    #[error("TLS client certificate needs both a certificate file and a key file")]
    HalfClientCert,
    #[error("invalid server URL {url:?}: {source}")]
    BadUrl { url: String, source: std::io::Error },
    #[error("cannot connect to {servers}: {source}")]
    Connect {
        servers: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot subscribe to {subject}: {source}")]
    Subscribe {
        subject: String,
        source: async_nats::SubscribeError,
    },
    #[error("no gateway URL given")]
    NoGatewayUrl,
    #[error("invalid gateway URL {url:?}: {reason}")]
    BadGatewayUrl { url: String, reason: String },
    #[error("no gateway token given")]
    NoToken,
    #[error("the gateway token cannot be sent in an HTTP header")]
    BadToken,
    #[error("the gateway refused the token ({code}): {message}")]
    Refused { code: String, message: String },
    #[error("cannot connect to the gateway {url}: {reason}")]
    GatewayConnect { url: String, reason: String },
}

impl SourceError {
    /// True when the request itself is wrong (a field to fix), not the server or the network.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            SourceError::NoServer
                | SourceError::Subject(_)
                | SourceError::BadSeed(_)
                | SourceError::HalfClientCert
                | SourceError::BadUrl { .. }
                | SourceError::NoGatewayUrl
                | SourceError::BadGatewayUrl { .. }
                | SourceError::NoToken
                | SourceError::BadToken
        )
    }
}

/// Counters shared between the source, its event callback and whoever shows them.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages handed out by [`Source::next_batch`].
    pub received: AtomicU64,
    /// Client-side drops reported one by one by the client (may undercount in a flood).
    pub slow_consumer_events: AtomicU64,
    /// Client-side drops established by comparing the connection's count of messages with
    /// `received` while the stream was quiet; exact, but only known after the fact.
    pub settled_drops: AtomicU64,
    /// Times the server said this client was a slow consumer (the server drops messages then).
    pub slow_consumer_reports: AtomicU64,
    /// Second copies of a message delivered to two overlapping subscriptions (`events.org_1.>`
    /// and `events.*.apps.>`), kept once and counted here so they are not taken for drops.
    pub duplicates: AtomicU64,
    /// Events a gateway dropped for this client because it fell behind (`lagged` frames).
    pub gateway_missed: AtomicU64,
}

impl SourceCounters {
    /// The best known count of messages the client dropped.
    pub fn dropped_client(&self) -> u64 {
        self.slow_consumer_events
            .load(Ordering::Relaxed)
            .max(self.settled_drops.load(Ordering::Relaxed))
            + self.gateway_missed.load(Ordering::Relaxed)
    }

    fn add_received(&self, handed_out: usize, duplicates: u64) {
        self.received
            .fetch_add(handed_out as u64, Ordering::Relaxed);
        if duplicates > 0 {
            self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        }
    }
}

/// The messages a source had ready at once, in order per subscription. A clone shares the
/// NATS messages' bytes (the recorder takes one to write on its own thread).
#[derive(Clone)]
pub enum MessageBatch {
    Nats(Vec<async_nats::Message>),
    Gateway(Vec<GatewayMessage>),
}

impl MessageBatch {
    pub fn len(&self) -> usize {
        match self {
            MessageBatch::Nats(batch) => batch.len(),
            MessageBatch::Gateway(batch) => batch.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the subjects and bodies (headers not counted): what bounds the queues that
    /// hold batches.
    pub fn bytes(&self) -> usize {
        match self {
            MessageBatch::Nats(batch) => batch
                .iter()
                .map(|m| m.subject.len() + m.payload.len())
                .sum(),
            MessageBatch::Gateway(batch) => {
                batch.iter().map(|m| m.subject.len() + m.body.len()).sum()
            }
        }
    }

    /// Calls `each(subject, headers, body)` for every message, in order, until it returns
    /// false. Headers are (name, value) pairs, one pair per value; the gateway has none.
    pub fn for_each(&self, mut each: impl FnMut(&str, &[(String, String)], &[u8]) -> bool) {
        match self {
            MessageBatch::Nats(batch) => {
                for msg in batch {
                    if !each(msg.subject.as_str(), &nats::header_pairs(msg), &msg.payload) {
                        return;
                    }
                }
            }
            MessageBatch::Gateway(batch) => {
                for msg in batch {
                    if !each(&msg.subject, &[], &msg.body) {
                        return;
                    }
                }
            }
        }
    }
}

/// A live subscription to the profile's subject patterns, through NATS or the gateway.
#[allow(clippy::large_enum_variant)] // one per connection: its size does not matter
pub enum Source {
    Nats(NatsSource),
    Gateway(GatewaySource),
}

impl Source {
    /// Connects to what the profile names (the gateway when it has a gateway target, else
    /// NATS) and subscribes to its subject patterns. `status` is reset and then kept current.
    pub async fn connect(
        profile: &ConnectionProfile,
        first: FirstConnect,
        counters: Arc<SourceCounters>,
        status: watch::Sender<SourceStatus>,
    ) -> Result<Source, SourceError> {
        let patterns: Vec<TopicPattern> = profile
            .subjects
            .iter()
            .map(|s| TopicPattern::parse(s.trim()))
            .collect::<Result<_, _>>()?;
        Ok(match &profile.gateway {
            Some(target) => Source::Gateway(
                GatewaySource::connect(target, patterns, first, counters, status).await?,
            ),
            None => {
                Source::Nats(NatsSource::connect(profile, patterns, first, counters, status).await?)
            }
        })
    }

    /// Waits for messages and returns every one that is ready (at most [`MAX_BATCH`]); `None`
    /// when the source has stopped.
    /// The NATS client, when the source talks to NATS directly (not through a gateway).
    pub fn nats_client(&self) -> Option<async_nats::Client> {
        match self {
            Source::Nats(s) => Some(s.client().clone()),
            Source::Gateway(_) => None,
        }
    }

    pub async fn next_batch(&mut self) -> Option<MessageBatch> {
        match self {
            Source::Nats(s) => s.next_batch().await.map(MessageBatch::Nats),
            Source::Gateway(s) => s.next_batch().await.map(MessageBatch::Gateway),
        }
    }

    /// What gives a gateway source a fresher token; `None` for NATS.
    pub fn gateway_token(&self) -> Option<gateway::GatewayToken> {
        match self {
            Source::Gateway(s) => Some(s.token_setter()),
            Source::Nats(_) => None,
        }
    }

    /// Establishes client-side drops when the stream has been quiet; call it every few hundred
    /// milliseconds. A gateway reports its drops itself (`lagged`), so only NATS settles.
    pub fn settle_drops(&mut self) {
        if let Source::Nats(s) = self {
            s.settle_drops();
        }
    }
}

/// The status a source starts from: connecting to `server`, subscribed to nothing yet.
fn connecting(server: String, patterns: &[TopicPattern], gateway: bool) -> SourceStatus {
    SourceStatus {
        state: ConnectionState::Connecting,
        server,
        subjects: patterns.iter().map(|p| p.to_string()).collect(),
        reason: None,
        reconnects: 0,
        gateway: gateway.then(GatewayStatus::default),
    }
}

/// Whether an earlier pattern than `patterns[index]` also selects `subject`, so that its
/// subscription delivers the message too and this copy is the duplicate.
fn selected_earlier(patterns: &[TopicPattern], index: usize, subject: &str) -> bool {
    patterns[..index.min(patterns.len())]
        .iter()
        .any(|p| p.matches(subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::GatewayTarget;

    #[test]
    fn invalid_gateway_profiles_are_refused_before_connecting() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let check = |url: &str, token: &str, subjects: &[&str], expected: &str| {
            let profile = ConnectionProfile {
                subjects: subjects.iter().map(|s| s.to_string()).collect(),
                gateway: Some(GatewayTarget {
                    url: url.into(),
                    token: token.into(),
                }),
                ..ConnectionProfile::default()
            };
            let (status, _) = watch::channel(SourceStatus::disconnected("not connected"));
            let err = rt
                .block_on(Source::connect(
                    &profile,
                    FirstConnect::FailFast,
                    Arc::default(),
                    status,
                ))
                .err()
                .expect("refused");
            assert_eq!(err.to_string(), expected);
            assert!(err.is_invalid_input());
        };
        check("", "t", &["events.org_1.>"], "no gateway URL given");
        check(
            "http://h/ws",
            "t",
            &["events.org_1.>"],
            r#"invalid gateway URL "http://h/ws": expected ws:// or wss://"#,
        );
        check(
            "ws://h/ws",
            " ",
            &["events.org_1.>"],
            "no gateway token given",
        );
        check(
            "ws://h/ws",
            "t",
            &["events..x"],
            r#"invalid subject pattern "events..x": it has an empty token"#,
        );
        check(
            "ws://127.0.0.1:1/ws",
            "bad\ntoken",
            &["events.org_1.>"],
            "the gateway token cannot be sent in an HTTP header",
        );
    }
}
