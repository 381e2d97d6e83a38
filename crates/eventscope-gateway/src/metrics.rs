//! The gateway's counters and their Prometheus text exposition (`GET /metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters shared by every connection and topic; all relaxed, read only for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicI64,
    /// Subscriptions held by clients (each `subscribe` accepted and not yet ended).
    pub subscriptions: AtomicI64,
    /// NATS subscriptions: one per distinct topic.
    pub nats_subscriptions: AtomicI64,
    /// Messages received from NATS.
    pub nats_messages: AtomicU64,
    /// Event frames written to clients.
    pub events_forwarded: AtomicU64,
    /// `lagged` frames sent.
    pub lagged: AtomicU64,
    /// Events not sent to a client because its send queue was full.
    pub dropped: AtomicU64,
    /// Clients disconnected for being too slow (4009).
    pub slow_disconnects: AtomicU64,
    /// Clients disconnected for not answering pings (4008).
    pub pong_timeouts: AtomicU64,
    /// Upgrades refused for a bad or missing token.
    pub auth_failures: AtomicU64,
    /// Open TCP connections, upgraded or not.
    pub http_connections: AtomicI64,
    /// Open TCP connections not (yet) upgraded to a WebSocket.
    pub upgrading: AtomicI64,
    /// Connections answered 503 because `--max-connections` were open.
    pub refused_connections: AtomicU64,
    /// Connections closed for not being upgraded within `--upgrade-timeout-secs`.
    pub upgrade_timeouts: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn gauge(gauge: &AtomicI64, delta: i64) {
        gauge.fetch_add(delta, Ordering::Relaxed);
    }

    /// Prometheus text format, version 0.0.4.
    pub fn render(&self, nats_connected: bool) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: i128| {
            let _ = writeln!(out, "# HELP eventscope_gateway_{name} {help}");
            let _ = writeln!(out, "# TYPE eventscope_gateway_{name} {kind}");
            let _ = writeln!(out, "eventscope_gateway_{name} {value}");
        };
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed) as i128;
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed) as i128;
        metric(
            "nats_connected",
            "gauge",
            "1 when the gateway is connected to NATS.",
            nats_connected as i128,
        );
        metric(
            "connections",
            "gauge",
            "Open WebSocket connections.",
            g(&self.connections),
        );
        metric(
            "subscriptions",
            "gauge",
            "Subscriptions held by clients.",
            g(&self.subscriptions),
        );
        metric(
            "nats_subscriptions",
            "gauge",
            "NATS subscriptions, one per distinct topic.",
            g(&self.nats_subscriptions),
        );
        metric(
            "nats_messages_total",
            "counter",
            "Messages received from NATS.",
            c(&self.nats_messages),
        );
        metric(
            "events_forwarded_total",
            "counter",
            "Event frames written to clients.",
            c(&self.events_forwarded),
        );
        metric(
            "lagged_total",
            "counter",
            "Lagged frames sent to clients that fell behind.",
            c(&self.lagged),
        );
        metric(
            "dropped_total",
            "counter",
            "Events not sent to a client because its send queue was full.",
            c(&self.dropped),
        );
        metric(
            "slow_disconnects_total",
            "counter",
            "Clients disconnected with 4009 for falling too far behind.",
            c(&self.slow_disconnects),
        );
        metric(
            "pong_timeouts_total",
            "counter",
            "Clients disconnected with 4008 for not answering pings.",
            c(&self.pong_timeouts),
        );
        metric(
            "auth_failures_total",
            "counter",
            "Upgrades refused with 401.",
            c(&self.auth_failures),
        );
        metric(
            "http_connections",
            "gauge",
            "Open TCP connections, upgraded to a WebSocket or not.",
            g(&self.http_connections),
        );
        metric(
            "upgrading_connections",
            "gauge",
            "Open TCP connections not upgraded to a WebSocket.",
            g(&self.upgrading),
        );
        metric(
            "refused_connections_total",
            "counter",
            "Connections answered 503 because --max-connections were open.",
            c(&self.refused_connections),
        );
        metric(
            "upgrade_timeouts_total",
            "counter",
            "Connections closed for not being upgraded in time.",
            c(&self.upgrade_timeouts),
        );
        out
    }
}
