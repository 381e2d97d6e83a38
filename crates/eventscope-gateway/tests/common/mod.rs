//! Test support for the gateway: the built binary on an ephemeral port against a testkit
//! nats-server, WebSocket clients over real sockets, tokens, and `/metrics` readings.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventscope_gateway::auth::{sign, Claims};
use eventscope_testkit::NatsServer;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "gateway test secret";
pub const BIN: &str = env!("CARGO_BIN_EXE_eventscope-gateway");
/// Generous: the machine is shared and slow; nothing here is a timing assertion.
pub const WAIT: Duration = Duration::from_secs(20);

/// The gateway binary, stopped (SIGKILL) on drop unless it already exited.
pub struct Gateway {
    child: Child,
    pub port: u16,
    args: Vec<String>,
    nats_url: String,
    secret: bool,
    /// Where its log goes (at info), when not to the test's stderr (at warn).
    log: Option<std::path::PathBuf>,
}

impl Gateway {
    /// The gateway with [`SECRET`] as its HS256 key.
    pub fn start(nats: &NatsServer, args: &[&str]) -> Gateway {
        let args = args.iter().map(|s| s.to_string()).collect();
        Gateway::launch(&nats.url(), 0, args, true, None)
    }

    /// Like [`Gateway::start`], logging at info to the file `log`.
    pub fn start_logging(nats: &NatsServer, args: &[&str], log: &std::path::Path) -> Gateway {
        let args = args.iter().map(|s| s.to_string()).collect();
        Gateway::launch(&nats.url(), 0, args, true, Some(log.to_path_buf()))
    }

    /// The gateway with no HS256 secret: `args` name its keys (`--jwks`, `--jwt-public-key`).
    pub fn start_with_keys(nats: &NatsServer, args: &[&str]) -> Gateway {
        let args = args.iter().map(|s| s.to_string()).collect();
        Gateway::launch(&nats.url(), 0, args, false, None)
    }

    fn launch(
        nats_url: &str,
        port: u16,
        args: Vec<String>,
        secret: bool,
        log: Option<std::path::PathBuf>,
    ) -> Gateway {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut command = Command::new(BIN);
            if secret {
                command.env("EVENTSCOPE_JWT_SECRET", SECRET);
            } else {
                command.env_remove("EVENTSCOPE_JWT_SECRET");
            }
            let mut child = command
                .args([
                    "--nats-url",
                    nats_url,
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(&args)
                .env(
                    "EVENTSCOPE_LOG",
                    if log.is_some() { "info" } else { "warn" },
                )
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(match &log {
                    Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                    None => Stdio::inherit(),
                })
                .spawn()
                .expect("the gateway binary runs");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                let port = addr.rsplit(':').next().unwrap().parse().unwrap();
                return Gateway {
                    child,
                    port,
                    args,
                    nats_url: nats_url.to_string(),
                    secret,
                    log,
                };
            }
            // The old process may still hold the port for a moment after a restart.
            let _ = child.wait();
            assert!(Instant::now() < deadline, "the gateway did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's resident memory in bytes (VmRSS).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the gateway ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops this gateway and starts a new process on the same port.
    pub fn restart(&mut self) {
        self.terminate();
        let next = Gateway::launch(
            &self.nats_url,
            self.port,
            self.args.clone(),
            self.secret,
            self.log.clone(),
        );
        *self = next;
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
            .await
            .unwrap()
            .unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// `/metrics` as name → value.
    pub async fn metrics(&self) -> HashMap<String, i64> {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                let name = name.strip_prefix("eventscope_gateway_")?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect()
    }

    /// Waits until `/metrics` says `name` is `value`.
    pub async fn wait_metric(&self, name: &str, value: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.metrics().await.get(name).copied();
            if now == Some(value) {
                return;
            }
            assert!(Instant::now() < deadline, "{name} is {now:?}, not {value}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn token_for(orgs: &[&str]) -> String {
    sign(
        &Claims {
            sub: "u_1".into(),
            orgs: orgs.iter().map(|s| s.to_string()).collect(),
            exp: now() + 3600,
        },
        SECRET.as_bytes(),
    )
}

/// The path of a test key in `tests/keys/`.
pub fn key_file(name: &str) -> String {
    format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of the gateway.
pub struct Client {
    pub ws: Socket,
}

/// Connects with the token in the `Authorization` header and reads the welcome.
pub async fn connect(gateway: &Gateway, token: &str) -> Client {
    let mut request = gateway.url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client { ws };
    let welcome = client.frame().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    client
}

impl Client {
    pub async fn send(&mut self, frame: &str) {
        self.ws.send(Message::text(frame)).await.unwrap();
    }

    /// The next text frame as JSON (pings are answered by tungstenite and skipped).
    pub async fn frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("the connection is open")
                .expect("the connection works");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends `frame` and asserts the answer.
    pub async fn check(&mut self, frame: &str, expected: Value) {
        self.send(frame).await;
        assert_eq!(self.frame().await, expected, "answer to {frame}");
    }

    pub async fn subscribe(&mut self, id: &str, topic: &str) {
        let frame = serde_json::json!({"type": "subscribe", "id": id, "topic": topic});
        self.check(
            &frame.to_string(),
            serde_json::json!({"type": "subscribed", "id": id, "topic": topic}),
        )
        .await;
    }

    /// Reads until the server closes; the close code and every text frame before it.
    pub async fn until_closed(&mut self) -> (Option<u16>, Vec<Value>) {
        let mut frames = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the close in time");
            match next {
                Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map(|f| u16::from(f.code)), frames)
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return (None, frames),
            }
        }
    }
}

pub fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code)
}

pub use eventscope_testkit::publish;

/// Publishes like [`publish`], `per_tick` messages every 10 ms: a steady rate a debug build
/// of the gateway keeps up with for a client that reads.
pub async fn publish_paced(
    nats: &async_nats::Client,
    messages: &[(String, Vec<u8>)],
    per_tick: usize,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for chunk in messages.chunks(per_tick) {
        tick.tick().await;
        publish(nats, chunk).await;
    }
}

/// `count` events of about 16 KiB, numbered in `n`: more than the sockets' buffers hold, so
/// the queue of a client that does not read overflows.
pub fn big_events(count: usize) -> Vec<(String, Vec<u8>)> {
    let pad = "x".repeat(16 * 1024);
    (0..count)
        .map(|n| {
            (
                format!("events.org_1.tasks.task.created.t_{n}"),
                format!(r#"{{"n":{n},"pad":"{pad}"}}"#).into_bytes(),
            )
        })
        .collect()
}

/// A small envelope with a sequence number in its id.
pub fn envelope(org: &str, n: usize) -> (String, Vec<u8>) {
    let subject = format!("events.{org}.tasks.task.created.t_{n}");
    let body = format!(
        r#"{{"id":"e_{n}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"t_{n}","eventName":"created","timestamp":"2026-01-01T00:00:00Z","payload":{{}}}}"#
    );
    (subject, body.into_bytes())
}

/// A slow and a fast client of `org_1` on `events.org_1.>`; 4,000 large events are published
/// (paced) while the fast one reads every one of them in order. Returns both clients and a NATS
/// connection, with the slow one not having read anything yet.
pub async fn slow_and_fast_after_4000(
    gateway: &Gateway,
    nats: &NatsServer,
) -> (Client, Client, async_nats::Client) {
    let token = token_for(&["org_1"]);
    let mut slow = connect(gateway, &token).await;
    let mut fast = connect(gateway, &token).await;
    slow.subscribe("s", "events.org_1.>").await;
    fast.subscribe("f", "events.org_1.>").await;
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let publisher = nats_client.clone();
    let publishing =
        tokio::spawn(async move { publish_paced(&publisher, &big_events(4_000), 20).await });
    for n in 0..4_000 {
        assert_eq!(fast.frame().await["event"]["n"], n);
    }
    publishing.await.unwrap();
    (slow, fast, nats_client)
}
