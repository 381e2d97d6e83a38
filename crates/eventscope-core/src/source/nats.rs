//! The NATS source: connects with the profile's auth and TLS, subscribes, hands out messages in
//! batches, and reports its status and every drop it can see; while the server cannot be
//! reached it probes it, so the status says why.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Message};
use futures::stream::{BoxStream, SelectAll, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{
    connecting, selected_earlier, FirstConnect, SourceCounters, SourceError, MAX_BATCH,
    SUBSCRIPTION_CAPACITY,
};
use crate::topic::TopicPattern;
use crate::wire::{ConnectionProfile, ConnectionState, NatsAuth, SourceStatus};

/// A live subscription to one or more subject patterns.
pub struct NatsSource {
    client: Client,
    /// Each message tagged with the index of the pattern whose subscription delivered it.
    messages: SelectAll<BoxStream<'static, (usize, Message)>>,
    patterns: Vec<TopicPattern>,
    counters: Arc<SourceCounters>,
    /// `in_messages` and `received` at the last quiet check, to settle drops.
    last_check: (u64, u64),
    /// Explains in the status why the server cannot be reached, while it cannot.
    probe: JoinHandle<()>,
}

impl Drop for NatsSource {
    fn drop(&mut self) {
        self.probe.abort();
    }
}

/// Connects to NATS with the profile's servers, auth and TLS (no subscription).
pub async fn connect_client(profile: &ConnectionProfile) -> Result<Client, SourceError> {
    connect_with(profile, FirstConnect::FailFast, None).await
}

/// Connects like [`connect_client`] and keeps `status` up to date with the connection's state
/// (the gateway tells its clients when NATS reconnects).
pub async fn connect_reporting(
    profile: &ConnectionProfile,
    first: FirstConnect,
    status: watch::Sender<SourceStatus>,
) -> Result<Client, SourceError> {
    connect_with(profile, first, Some((Arc::default(), status))).await
}

async fn connect_with(
    profile: &ConnectionProfile,
    first: FirstConnect,
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
    if first == FirstConnect::Retry {
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
    /// Connects and subscribes to every pattern.
    pub async fn connect(
        profile: &ConnectionProfile,
        patterns: Vec<TopicPattern>,
        first: FirstConnect,
        counters: Arc<SourceCounters>,
        status: watch::Sender<SourceStatus>,
    ) -> Result<NatsSource, SourceError> {
        status.send_replace(connecting(profile.servers.join(", "), &patterns, false));
        let client = connect_with(profile, first, Some((counters.clone(), status.clone()))).await?;
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
        // async-nats retries an unreachable server silently; the probe says why it is not up.
        let probe = tokio::spawn(explain_while_down(status, profile.servers.clone()));
        Ok(NatsSource {
            client,
            messages,
            patterns,
            counters,
            last_check,
            probe,
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
                if selected_earlier(&self.patterns, index, msg.subject.as_str()) {
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
        self.counters.add_received(batch.len(), duplicates);
        Some(batch)
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

/// While the source is not connected, probes the first server every few seconds and puts what
/// the network says (`connection refused`, a timeout) in the status reason. Never returns.
async fn explain_while_down(status: watch::Sender<SourceStatus>, servers: Vec<String>) {
    let Some(addr) = servers.first().and_then(|s| host_port(s)) else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let waiting = |s: &SourceStatus| {
            matches!(
                s.state,
                ConnectionState::Connecting | ConnectionState::Reconnecting
            )
        };
        if !waiting(&status.borrow()) {
            continue;
        }
        let probe = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        let reason = match probe {
            Ok(Ok(_)) => format!("{addr} answers, waiting for NATS"),
            Ok(Err(e)) => format!("{addr}: {e}; retrying"),
            Err(_) => format!("{addr}: no answer within 3 s; retrying"),
        };
        status.send_if_modified(|s| {
            let changed = waiting(s) && s.reason.as_deref() != Some(&reason);
            if changed {
                s.reason = Some(reason.clone());
            }
            changed
        });
    }
}

/// `host:port` of a server URL (`nats://user:pass@host:4222` → `host:4222`; default port 4222).
fn host_port(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .split_once("://")
        .map_or(url.trim(), |(_, rest)| rest);
    let authority = rest.split('/').next()?.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    Some(if has_port {
        authority.to_string()
    } else {
        format!("{authority}:4222")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_server_urls() {
        assert_eq!(
            host_port("nats://127.0.0.1:4222").as_deref(),
            Some("127.0.0.1:4222")
        );
        assert_eq!(
            host_port("tls://ada:pw@nats.example:7422/").as_deref(),
            Some("nats.example:7422")
        );
        assert_eq!(host_port("localhost").as_deref(), Some("localhost:4222"));
        assert_eq!(host_port("nats://").as_deref(), None);
    }
}
