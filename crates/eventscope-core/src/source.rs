//! The NATS source: connects with the profile's auth, subscribes, hands out messages in batches,
//! and reports its status and every drop it can see.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Message};
use futures::stream::{BoxStream, SelectAll, StreamExt};
use thiserror::Error;
use tokio::sync::watch;

use crate::topic::{TopicError, TopicPattern};
use crate::wire::{ConnectionProfile, ConnectionState, NatsAuth, SourceStatus};

/// Messages a subscription may buffer before the client drops them. Large, because a consumer
/// that is briefly descheduled must not lose messages; the memory is only used when needed.
pub const SUBSCRIPTION_CAPACITY: usize = 1 << 20;
/// Most messages handed out in one batch.
pub const MAX_BATCH: usize = 4096;

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
    #[error(transparent)]
    Gateway(#[from] crate::gateway::client::GatewayError),
}

impl SourceError {
    /// True when the request itself is wrong (a field to fix), not the server or the network.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            SourceError::Gateway(e) => e.is_invalid_input(),
            _ => matches!(
                self,
                SourceError::NoServer
                    | SourceError::Subject(_)
                    | SourceError::BadSeed(_)
                    | SourceError::HalfClientCert
                    | SourceError::BadUrl { .. }
            ),
        }
    }
}

/// Counters shared between the source, its event callback and whoever shows them.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages handed out by [`NatsSource::next_batch`].
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
}

/// How hard to try to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// Fail at once when the first connection fails (the CLI).
    FailFast,
    /// Return at once and keep trying in the background, reporting status (the app).
    Retry,
}

/// A live subscription to one or more subject patterns.
pub struct NatsSource {
    client: Client,
    /// Each message tagged with the index of the pattern whose subscription delivered it.
    messages: SelectAll<BoxStream<'static, (usize, Message)>>,
    patterns: Vec<TopicPattern>,
    counters: Arc<SourceCounters>,
    status: watch::Sender<SourceStatus>,
    /// `in_messages` and `received` at the last quiet check, to settle drops.
    last_check: (u64, u64),
}

/// Connects to NATS with the profile's servers, auth and TLS (no subscription).
pub async fn connect_client(profile: &ConnectionProfile) -> Result<Client, SourceError> {
    connect_with(profile, Initial::FailFast, None).await
}

/// Connects like [`connect_client`] and keeps `status` up to date with the connection's state
/// (the gateway tells its clients when NATS reconnects).
pub async fn connect_reporting(
    profile: &ConnectionProfile,
    initial: Initial,
    status: watch::Sender<SourceStatus>,
) -> Result<Client, SourceError> {
    connect_with(profile, initial, Some((Arc::default(), status))).await
}

async fn connect_with(
    profile: &ConnectionProfile,
    initial: Initial,
    callback: Option<(Arc<SourceCounters>, watch::Sender<SourceStatus>)>,
) -> Result<Client, SourceError> {
    let servers: Vec<String> = profile
        .servers
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if servers.is_empty() {
        return Err(SourceError::NoServer);
    }
    let mut options = ConnectOptions::new()
        .name("eventscope")
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .connection_timeout(Duration::from_secs(5))
        // The default backoff grows to several seconds; a monitor should come back quickly.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(2_000))
        });
    options = match &profile.auth {
        NatsAuth::None => options,
        NatsAuth::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.clone())
        }
        NatsAuth::Token { token } => options.token(token.clone()),
        NatsAuth::NKey { seed } => {
            // Checked here: a bad seed otherwise surfaces as "failed signing nonce".
            nkeys::KeyPair::from_seed(seed.trim())
                .map_err(|e| SourceError::BadSeed(e.to_string()))?;
            options.nkey(seed.trim().to_string())
        }
        NatsAuth::CredsFile { path } => {
            options
                .credentials_file(path)
                .await
                .map_err(|source| SourceError::Creds {
                    path: path.clone(),
                    source,
                })?
        }
    };
    let tls = &profile.tls;
    if let Some(ca) = tls.ca_file.as_deref().filter(|s| !s.is_empty()) {
        options = options.add_root_certificates(ca.into());
    }
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match (nonempty(&tls.cert_file), nonempty(&tls.key_file)) {
        (Some(cert), Some(key)) => {
            options = options.add_client_certificate(cert.into(), key.into())
        }
        (None, None) => {}
        _ => return Err(SourceError::HalfClientCert),
    }
    if tls.required {
        options = options.require_tls(true);
    }
    if initial == Initial::Retry {
        options = options.retry_on_initial_connect();
    }
    if let Some((counters, status)) = callback {
        options = options.event_callback(move |event| {
            on_event(&counters, &status, event);
            async {}
        });
    }
    let joined = servers.join(",");
    let addrs: Vec<async_nats::ServerAddr> = servers
        .iter()
        .map(|s| {
            s.parse().map_err(|source| SourceError::BadUrl {
                url: s.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    options
        .connect(addrs)
        .await
        .map_err(|source| SourceError::Connect {
            servers: joined,
            source,
        })
}

/// Turns the client's events into status and counters; nothing is only logged.
fn on_event(
    counters: &SourceCounters,
    status: &watch::Sender<SourceStatus>,
    event: async_nats::Event,
) {
    use async_nats::{ClientError, Event, ServerError};
    tracing::debug!(%event, "nats event");
    match event {
        Event::Connected => status.send_modify(|s| {
            if s.state == ConnectionState::Reconnecting {
                s.reconnects += 1;
            }
            s.state = ConnectionState::Connected;
            s.reason = None;
        }),
        Event::Disconnected => status.send_modify(|s| {
            s.state = ConnectionState::Reconnecting;
            if s.reason.is_none() {
                s.reason = Some("connection lost".into());
            }
        }),
        Event::LameDuckMode => status
            .send_modify(|s| s.reason = Some("server is shutting down (lame duck mode)".into())),
        Event::Draining | Event::Closed => status.send_modify(|s| {
            s.state = ConnectionState::Disconnected;
            s.reason = Some("connection closed".into());
        }),
        Event::SlowConsumer(_) => {
            counters
                .slow_consumer_events
                .fetch_add(1, Ordering::Relaxed);
        }
        Event::ServerError(ServerError::SlowConsumer(_)) => {
            counters
                .slow_consumer_reports
                .fetch_add(1, Ordering::Relaxed);
        }
        Event::ServerError(err) => {
            status.send_modify(|s| s.reason = Some(format!("server error: {err}")))
        }
        Event::ClientError(ClientError::MaxReconnects) => status.send_modify(|s| {
            s.state = ConnectionState::Disconnected;
            s.reason = Some("gave up reconnecting".into());
        }),
        // The client's words here are vague ("IO error"); `Live` probes the server for better
        // ones, so they only fill an empty reason.
        Event::ClientError(err) => status.send_modify(|s| {
            if s.state != ConnectionState::Connected && s.reason.is_none() {
                s.reason = Some(err.to_string());
            }
        }),
    }
}

impl NatsSource {
    /// Connects and subscribes to every subject pattern of the profile.
    pub async fn connect(
        profile: &ConnectionProfile,
        initial: Initial,
        counters: Arc<SourceCounters>,
        status: watch::Sender<SourceStatus>,
    ) -> Result<NatsSource, SourceError> {
        let patterns: Vec<TopicPattern> = profile
            .subjects
            .iter()
            .map(|s| TopicPattern::parse(s.trim()))
            .collect::<Result<_, _>>()?;
        status.send_replace(SourceStatus {
            state: ConnectionState::Connecting,
            server: profile.servers.join(", "),
            subjects: patterns.iter().map(|p| p.to_string()).collect(),
            reason: None,
            reconnects: 0,
            gateway: None,
        });
        let client =
            connect_with(profile, initial, Some((counters.clone(), status.clone()))).await?;
        if client.connection_state() == async_nats::connection::State::Connected {
            status.send_modify(|s| s.state = ConnectionState::Connected);
        }
        let mut messages = SelectAll::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let sub = client
                .subscribe(pattern.to_string())
                .await
                .map_err(|source| SourceError::Subscribe {
                    subject: pattern.to_string(),
                    source,
                })?;
            messages.push(sub.map(move |msg| (index, msg)).boxed());
        }
        let last_check = (client.statistics().in_messages.load(Ordering::Relaxed), 0);
        Ok(NatsSource {
            client,
            messages,
            patterns,
            counters,
            status,
            last_check,
        })
    }

    /// Waits for messages and returns every one that is ready (at most [`MAX_BATCH`]), in order
    /// per subscription; `None` when the subscriptions end.
    ///
    /// A message that two overlapping patterns both deliver is kept once: from the first
    /// pattern that matches it.
    pub async fn next_batch(&mut self) -> Option<Vec<Message>> {
        let mut batch = Vec::with_capacity(64);
        let mut duplicates = 0;
        while batch.is_empty() {
            let mut next = Some(self.messages.next().await?);
            while let Some((index, msg)) = next {
                if self.is_duplicate(index, &msg) {
                    duplicates += 1;
                } else {
                    batch.push(msg);
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
                next = futures::FutureExt::now_or_never(self.messages.next()).flatten();
            }
        }
        self.counters
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if duplicates > 0 {
            self.counters
                .duplicates
                .fetch_add(duplicates, Ordering::Relaxed);
        }
        Some(batch)
    }

    /// Whether an earlier pattern also selects the message, so its subscription has it too.
    fn is_duplicate(&self, index: usize, msg: &Message) -> bool {
        index > 0
            && self.patterns[..index]
                .iter()
                .any(|p| p.matches(msg.subject.as_str()))
    }

    /// Settles the client-side drop count when the stream has been quiet since the last call:
    /// every message the connection read and the subscriptions did not hand out was dropped.
    pub fn settle_drops(&mut self) {
        let seen = self.client.statistics().in_messages.load(Ordering::Relaxed);
        let received = self.counters.received.load(Ordering::Relaxed)
            + self.counters.duplicates.load(Ordering::Relaxed);
        if (seen, received) == self.last_check {
            let gap = seen.saturating_sub(received);
            self.counters
                .settled_drops
                .fetch_max(gap, Ordering::Relaxed);
        }
        self.last_check = (seen, received);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn counters(&self) -> &Arc<SourceCounters> {
        &self.counters
    }

    pub fn status(&self) -> watch::Receiver<SourceStatus> {
        self.status.subscribe()
    }
}

/// NATS headers as (name, value) pairs, one pair per value.
pub fn header_pairs(msg: &Message) -> Vec<(String, String)> {
    let Some(headers) = &msg.headers else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, values) in headers.iter() {
        for value in values {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}
