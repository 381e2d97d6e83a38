//! The real-time WebSocket gateway (`docs/gateway-protocol.md`): clients with an org-scoped
//! token subscribe to topic patterns and receive the matching NATS events.
//!
//! The binary (`main.rs`) reads flags and the token keys; [`Gateway::serve`] runs the gateway on a
//! bound listener until `shutdown` turns true, which closes every client with 1001.

pub mod auth;
pub mod echo;
pub mod hub;
pub mod listener;
pub mod metrics;
pub mod session;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use eventscope_core::gateway::protocol::{self, NatsState};
use eventscope_core::source::{self, FirstConnect};
use eventscope_core::wire::{ConnectionProfile, ConnectionState, SourceStatus};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{TokenError, Verifier};
use crate::hub::Hub;
use crate::metrics::Metrics;

/// Largest WebSocket message the transport reads at all; anything between
/// [`Limits::max_frame_bytes`] and this is answered with a `limit` error, anything larger ends
/// the connection (1009).
pub const MAX_TRANSPORT_MESSAGE: usize = 1 << 20;
/// Initial read buffer of a connection.
const READ_BUFFER: usize = 8 * 1024;
/// How long shutdown waits for clients to receive their close frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The per-connection limits (`docs/gateway-protocol.md`, "Limits").
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_subscriptions: usize,
    pub max_frame_bytes: usize,
    pub send_queue: usize,
    /// Bytes queued per connection: events over it are missed, answers over it close (4009).
    pub send_queue_bytes: usize,
    pub max_missed: u64,
    /// Open TCP connections (WebSocket or not); beyond it a connection is answered 503.
    pub max_connections: usize,
    /// How long a connection may take to be upgraded to a WebSocket (its request read and its
    /// token checked); then it is closed.
    pub upgrade_timeout: Duration,
}

/// Seconds a connection has to be upgraded unless configured otherwise.
pub const DEFAULT_UPGRADE_TIMEOUT_SECS: u64 = 5;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_subscriptions: protocol::DEFAULT_MAX_SUBSCRIPTIONS,
            max_frame_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            send_queue: protocol::DEFAULT_SEND_QUEUE,
            send_queue_bytes: protocol::DEFAULT_SEND_QUEUE_BYTES,
            max_missed: protocol::DEFAULT_MAX_MISSED,
            max_connections: listener::default_max_connections(),
            upgrade_timeout: Duration::from_secs(DEFAULT_UPGRADE_TIMEOUT_SECS),
        }
    }
}

#[derive(Clone)]
pub struct Config {
    /// NATS servers, auth and TLS, as the app connects.
    pub nats: ConnectionProfile,
    /// The keys tokens are checked with, and so the one algorithm each accepts.
    pub verifier: Verifier,
    pub heartbeat: Duration,
    pub limits: Limits,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("nats", &eventscope_core::profile::redacted(&self.nats))
            .field("verifier", &self.verifier)
            .field("heartbeat", &self.heartbeat)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What every connection shares.
pub struct Shared {
    pub config: Config,
    pub hub: Hub,
    pub metrics: Arc<Metrics>,
    pub nats_state: watch::Receiver<NatsState>,
    pub shutdown: watch::Receiver<bool>,
    /// The JetStream stream `history` requests read; unset, the one holding the topic.
    pub history_stream: std::sync::OnceLock<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Nats(#[from] source::SourceError),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// How long [`connect`] waits for NATS before serving anyway (health says 503 meanwhile).
const NATS_START_WAIT: Duration = Duration::from_secs(5);

/// A gateway connected (or connecting) to NATS, not yet serving.
pub struct Gateway {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Gateway {
    /// Connects to NATS, retrying in the background while it is down, and waits a few seconds
    /// for the first connection so the first clients do not start with `reconnecting`.
    pub async fn connect(config: Config) -> Result<Gateway, GatewayError> {
        let (status_tx, status_rx) = watch::channel(SourceStatus {
            state: ConnectionState::Connecting,
            server: config.nats.servers.join(", "),
            subjects: Vec::new(),
            reason: None,
            reconnects: 0,
            gateway: None,
        });
        let client =
            source::nats::connect_reporting(&config.nats, FirstConnect::Retry, status_tx).await?;
        let mut nats_state = follow_nats(status_rx);
        let _ = tokio::time::timeout(
            NATS_START_WAIT,
            nats_state.wait_for(|s| *s == NatsState::Connected),
        )
        .await;
        let metrics = Arc::new(Metrics::default());
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            hub: Hub::new(client, metrics.clone()),
            config,
            metrics,
            nats_state,
            shutdown,
            history_stream: std::sync::OnceLock::new(),
        });
        Ok(Gateway { shared, stop })
    }

    /// `history` requests read this JetStream stream (`--history-stream`); set once, before
    /// serving.
    pub fn history_stream(&self, stream: &str) {
        let _ = self.shared.history_stream.set(stream.to_string());
    }

    /// Serves HTTP on `listener` until `shutdown` is true; then closes every client with 1001
    /// and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), GatewayError> {
        let shared = self.shared;
        let app = Router::new()
            .route("/ws", get(upgrade))
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_text))
            .with_state(shared.clone());
        let stop = self.stop;
        let signal = async move {
            let _ = shutdown.wait_for(|s| *s).await;
            let _ = stop.send(true);
        };
        let limits = &shared.config.limits;
        let listener = listener::GuardedListener::new(
            listener,
            limits.max_connections,
            limits.upgrade_timeout,
            shared.metrics.clone(),
        );
        let app = app.into_make_service_with_connect_info::<listener::Conn>();
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .map_err(GatewayError::Serve)?;
        // Upgraded connections outlive the HTTP server; each closes itself with 1001.
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while shared.metrics.connections.load(Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// The NATS connection's state as clients hear it (connecting counts as reconnecting).
fn follow_nats(mut status: watch::Receiver<SourceStatus>) -> watch::Receiver<NatsState> {
    let of = |s: &SourceStatus| match s.state {
        ConnectionState::Connected => NatsState::Connected,
        _ => NatsState::Reconnecting,
    };
    let (tx, rx) = watch::channel(of(&status.borrow_and_update()));
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let state = of(&status.borrow_and_update());
            if *tx.borrow() != state {
                tracing::info!(nats = ?state, "nats connection changed");
                tx.send_replace(state);
            }
        }
    });
    rx
}

/// The token of a request: `Authorization: Bearer`, else `?token=`. An `Authorization` header
/// of another scheme (Basic, added by a proxy) is not the client's token and does not hide one.
fn token_of(request: &Request) -> Option<String> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    if bearer.is_some() {
        return bearer;
    }
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn upgrade(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let now = unix_now();
    let verdict = match token_of(&request) {
        Some(token) => auth::verify(&token, &shared.config.verifier, now),
        None => Err(TokenError::Missing),
    };
    let claims = match verdict {
        Ok(claims) => claims,
        Err(e) => {
            Metrics::add(&shared.metrics.auth_failures, 1);
            tracing::info!(code = e.code(), "upgrade refused");
            return refuse(StatusCode::UNAUTHORIZED, e.code(), &e.to_string());
        }
    };
    // Upgraded: the connection's deadline no longer applies.
    if let Some(axum::extract::ConnectInfo(conn)) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<listener::Conn>>()
    {
        conn.upgraded();
    }
    let (mut parts, _) = request.into_parts();
    let ws = match <WebSocketUpgrade as FromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
    {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    // Client frames are small: a 128 KiB read buffer per connection (the default) would be
    // most of a connection's memory.
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_TRANSPORT_MESSAGE)
        .max_frame_size(MAX_TRANSPORT_MESSAGE)
        .on_upgrade(move |socket| session::run(socket, claims, shared))
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if nats_connected(&shared) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "nats: not connected\n").into_response()
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let body = shared.metrics.render(nats_connected(&shared));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn nats_connected(shared: &Shared) -> bool {
    shared.hub.client().connection_state() == async_nats::connection::State::Connected
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
