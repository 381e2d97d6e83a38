//! Hostile clients against the gateway binary (issue 15): `attacks` measures a well-behaved
//! client's deliveries and latency under each attack beside a run with no attack, and the
//! gateway's peak memory; `soak` runs 110 clients at 10,000 events/s for minutes while clients
//! join, leave and misbehave on a schedule, sampling the gateway's memory.
//!
//! Both start the gateway and publish as the `fanout` mode does (`fanout.rs`); every event
//! carries its publish time, so each client measures publish → receive latency.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::fanout::{self, FanoutArgs};

/// Events a second to the watched organization during each attack.
const ATTACK_RATE: u64 = 2_000;
/// Seconds of publishing per attack.
const ATTACK_SECONDS: u64 = 10;

/// What one watching client received.
#[derive(Default)]
struct Watch {
    received: AtomicU64,
    latencies: Mutex<Vec<u32>>,
    /// The connection ended before the run did.
    closed: AtomicBool,
}

impl Watch {
    fn p(&self, p: f64) -> f64 {
        let mut lat = self
            .latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        lat.sort_unstable();
        fanout::percentile(&lat, p)
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the gateway with a token for `orgs`, its welcome read.
async fn open(port: u16, orgs: &[&str]) -> Result<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
    let token = fanout::token(orgs.iter().map(|s| s.to_string()).collect());
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.next().await.context("no welcome")??;
    Ok(ws)
}

/// A well-behaved client of `org` on `topic`: reads everything, records every event; returns
/// once it is subscribed.
async fn watcher(port: u16, org: &str, topic: &str) -> Result<(Arc<Watch>, JoinHandle<()>)> {
    let mut ws = open(port, &[org]).await?;
    let subscribe = serde_json::json!({"type": "subscribe", "id": "w", "topic": topic});
    ws.send(Message::text(subscribe.to_string())).await?;
    loop {
        match ws.next().await.context("closed before subscribed")?? {
            Message::Text(text) if text.starts_with("{\"type\":\"subscribed\"") => break,
            Message::Text(text) => anyhow::bail!("not subscribed: {text}"),
            _ => continue,
        }
    }
    let watch = Arc::new(Watch::default());
    let recording = watch.clone();
    let task = tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                if text.starts_with("{\"type\":\"event\"") {
                    fanout::record(&recording.received, &recording.latencies, &text);
                }
            }
        }
        recording.closed.store(true, Ordering::Relaxed);
    });
    Ok((watch, task))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    None,
    LongTopic,
    RefusalFlood,
    NonReaders,
    SilentConnections,
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::None => "baseline (no attack)",
            Attack::LongTopic => "long topic (4 KiB)",
            Attack::RefusalFlood => "refusal flood (4 conns)",
            Attack::NonReaders => "non-reading clients (4)",
            Attack::SilentConnections => "300 silent connections",
        }
    }
}

/// A subscribe over nats-server's control line, as issue 15 found it.
fn long_topic_frame(org: &str) -> String {
    let topic = format!("events.{org}.{}", "a".repeat(4080));
    serde_json::json!({"type": "subscribe", "id": "x", "topic": topic}).to_string()
}

/// A refused subscribe of about 16 KB whose topic Debug-escapes to four times its size.
fn refused_frame() -> String {
    let topic = format!("events.org_9.{}", "\u{300}".repeat(8_000));
    serde_json::json!({"type": "subscribe", "id": "x", "topic": topic}).to_string()
}

/// Runs `attack` until `stop`; the attackers' tasks.
async fn start_attack(port: u16, attack: Attack, stop: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    match attack {
        Attack::None => {}
        Attack::LongTopic => {
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                // A valid org token; it tries again whenever it is answered.
                let Ok(mut ws) = open(port, &["org_1"]).await else {
                    return;
                };
                let frame = long_topic_frame("org_1");
                while !stop.load(Ordering::Relaxed) {
                    if ws.send(Message::text(frame.clone())).await.is_err() {
                        return;
                    }
                    let _ = tokio::time::timeout(Duration::from_millis(50), ws.next()).await;
                }
            }));
        }
        Attack::RefusalFlood => {
            for _ in 0..4 {
                let stop = stop.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(ws) = open(port, &["org_1"]).await else {
                        return;
                    };
                    let (mut tx, mut rx) = ws.split();
                    // It reads its answers, so it is never too slow: only the refusals count.
                    tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
                    let frame = refused_frame();
                    while !stop.load(Ordering::Relaxed) {
                        if tx.send(Message::text(frame.clone())).await.is_err() {
                            return;
                        }
                    }
                }));
            }
        }
        Attack::NonReaders => {
            // Two flood refused subscribes and never read; two subscribe to the watched
            // organization's events and never read.
            for n in 0..4 {
                let stop = stop.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(mut ws) = open(port, &["org_0"]).await else {
                        return;
                    };
                    if n < 2 {
                        let frame = refused_frame();
                        while !stop.load(Ordering::Relaxed) {
                            let sent = tokio::time::timeout(
                                Duration::from_secs(1),
                                ws.send(Message::text(frame.clone())),
                            )
                            .await;
                            if matches!(sent, Ok(Err(_))) {
                                return;
                            }
                        }
                    } else {
                        let subscribe = serde_json::json!(
                            {"type": "subscribe", "id": "s", "topic": "events.org_0.>"});
                        let _ = ws.send(Message::text(subscribe.to_string())).await;
                        while !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    drop(ws);
                }));
            }
        }
        Attack::SilentConnections => {
            tasks.push(tokio::spawn(silent_connections(port, 300, stop)));
        }
    }
    tasks
}

/// Keeps `count` TCP connections open that never send a byte, opening new ones as the gateway
/// closes them.
async fn silent_connections(port: u16, count: usize, stop: Arc<AtomicBool>) {
    let mut held: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        held.retain(|t| !t.is_finished());
        while held.len() < count {
            let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                break;
            };
            let stop = stop.clone();
            held.push(tokio::spawn(async move {
                let mut buf = [0u8; 512];
                // Ends when the gateway closes it (or answers 503).
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => return,
                        _ => {}
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in held {
        task.abort();
    }
}

/// The gateway's peak resident memory (VmHWM), in bytes.
fn process_peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

struct AttackRow {
    attack: Attack,
    delivered: u64,
    expected: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    peak_rss: u64,
    end_rss: u64,
    log_bytes: u64,
    healthz_ok: bool,
    metrics: std::collections::HashMap<String, i64>,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

pub fn attacks(gateway_bin: Option<PathBuf>) -> Result<()> {
    let bin = fanout::gateway_bin(gateway_bin.as_ref())?;
    let rt = crate::runtime()?;
    let dir = tempfile::tempdir()?;
    println!(
        "attacks: one well-behaved client on events.org_0.>, {ATTACK_RATE} events/s for {ATTACK_SECONDS} s, under each attack in turn (a fresh gateway each)"
    );
    let mut rows = Vec::new();
    for attack in [
        Attack::None,
        Attack::LongTopic,
        Attack::RefusalFlood,
        Attack::NonReaders,
        Attack::SilentConnections,
    ] {
        let nats = eventscope_testkit::NatsServer::start();
        let log = dir.path().join(format!("{attack:?}.log"));
        let gateway = fanout::start_gateway_logging(&bin, &nats.url(), Some(&log))?;
        let pid = gateway.child.id();
        let port = gateway.port;
        std::thread::sleep(Duration::from_millis(300));
        let row = rt.block_on(async {
            let (watch, watching) = watcher(port, "org_0", "events.org_0.>").await?;
            let stop = Arc::new(AtomicBool::new(false));
            let attackers = start_attack(port, attack, stop.clone()).await;
            // The attack is under way before the events start.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let args = FanoutArgs {
                orgs: 1,
                staff: 0,
                rate: ATTACK_RATE,
                seconds: ATTACK_SECONDS,
                gateway_bin: None,
            };
            let per_org = fanout::publish(&nats.url(), &args).await?;
            let expected = per_org[0];
            let deadline = Instant::now() + Duration::from_secs(10);
            while watch.received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let healthz_ok = healthz(port).await;
            let metrics = fanout::gateway_metrics(port).await.unwrap_or_default();
            let peak_rss = process_peak_rss(pid);
            stop.store(true, Ordering::Relaxed);
            for task in attackers {
                let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
            }
            watching.abort();
            // Memory a few seconds after the attackers left (closing takes up to 5 s).
            tokio::time::sleep(Duration::from_secs(6)).await;
            let end_rss = fanout::process_rss(pid);
            anyhow::Ok(AttackRow {
                attack,
                delivered: watch.received.load(Ordering::Relaxed),
                expected,
                p50_ms: watch.p(0.5),
                p99_ms: watch.p(0.99),
                max_ms: watch.p(1.0),
                peak_rss,
                end_rss,
                log_bytes: std::fs::metadata(&log).map_or(0, |m| m.len()),
                healthz_ok,
                metrics,
            })
        })?;
        drop(gateway);
        rows.push(row);
    }
    let baseline_p99 = rows[0].p99_ms;
    println!(
        "{:<26} {:>9} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9} {:>9} {:>9} {:>7}",
        "attack",
        "delivered",
        "expected",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p99 ×",
        "peak MiB",
        "end MiB",
        "log KiB",
        "healthz"
    );
    for r in &rows {
        println!(
            "{:<26} {:>9} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            r.attack.name(),
            r.delivered,
            r.expected,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.p99_ms / baseline_p99,
            mib(r.peak_rss),
            mib(r.end_rss),
            r.log_bytes as f64 / 1024.0,
            if r.healthz_ok { "200" } else { "not 200" },
        );
    }
    for r in &rows {
        let m = |name: &str| r.metrics.get(name).copied().unwrap_or(0);
        println!(
            "{:<26} nats_connected={} slow_disconnects={} refused_connections={} upgrade_timeouts={} auth_failures={}",
            r.attack.name(),
            m("nats_connected"),
            m("slow_disconnects_total"),
            m("refused_connections_total"),
            m("upgrade_timeouts_total"),
            m("auth_failures_total"),
        );
    }
    Ok(())
}

async fn healthz(port: u16) -> bool {
    use tokio::io::AsyncWriteExt;
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        anyhow::Ok(text.starts_with("HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), attempt).await,
        Ok(Ok(true))
    )
}

/// The soak's steady clients: org clients `org_0..org_89` and 10 staff on `events.>`; org
/// clients 90..99 leave and join again on a schedule and are not counted.
const SOAK_ORGS: usize = 100;
const SOAK_STAFF: usize = 10;
const SOAK_CHURNING: usize = 10;
const SOAK_RATE: u64 = 10_000;

pub fn soak(minutes: u64, gateway_bin: Option<PathBuf>) -> Result<()> {
    let bin = fanout::gateway_bin(gateway_bin.as_ref())?;
    let rt = crate::runtime()?;
    let dir = tempfile::tempdir()?;
    let nats = eventscope_testkit::NatsServer::start();
    let log = dir.path().join("soak.log");
    let gateway = fanout::start_gateway_logging(&bin, &nats.url(), Some(&log))?;
    let pid = gateway.child.id();
    let port = gateway.port;
    std::thread::sleep(Duration::from_millis(300));
    let seconds = minutes * 60;
    println!(
        "soak: {SOAK_ORGS} org clients + {SOAK_STAFF} staff, {SOAK_RATE} events/s for {minutes} min; org clients {}..{} leave and join every 10 s; a misbehaving client every 15 s (non-reader, refusal flood, long topic, 100 silent connections, in turn)",
        SOAK_ORGS - SOAK_CHURNING,
        SOAK_ORGS - 1
    );
    rt.block_on(async {
        let steady = SOAK_ORGS - SOAK_CHURNING;
        let mut watches = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..steady {
            let org = format!("org_{i}");
            let (w, t) = watcher(port, &org, &format!("events.{org}.>")).await?;
            watches.push(w);
            tasks.push(t);
        }
        for _ in 0..SOAK_STAFF {
            let (w, t) = watcher(port, "*", "events.>").await?;
            watches.push(w);
            tasks.push(t);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let schedule = tokio::spawn(schedule(port, stop.clone()));
        let start_rss = fanout::process_rss(pid);
        let samples: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
        let sampling = {
            let samples = samples.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((t0.elapsed().as_secs(), fanout::process_rss(pid)));
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            })
        };
        let args = FanoutArgs {
            orgs: SOAK_ORGS,
            staff: SOAK_STAFF,
            rate: SOAK_RATE,
            seconds,
            gateway_bin: None,
        };
        let t0 = Instant::now();
        let per_org = fanout::publish(&nats.url(), &args).await?;
        let publish_secs = t0.elapsed().as_secs_f64();
        let all: u64 = per_org.iter().sum();
        let expected: Vec<u64> = (0..steady)
            .map(|i| per_org[i])
            .chain((0..SOAK_STAFF).map(|_| all))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline
            && watches
                .iter()
                .zip(&expected)
                .any(|(w, e)| w.received.load(Ordering::Relaxed) < *e)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_secs(10), schedule).await;
        let _ = sampling.await;
        let metrics = fanout::gateway_metrics(port).await.unwrap_or_default();
        let delivered: u64 = watches
            .iter()
            .map(|w| w.received.load(Ordering::Relaxed))
            .sum();
        let wanted: u64 = expected.iter().sum();
        let short = watches
            .iter()
            .zip(&expected)
            .filter(|(w, e)| w.received.load(Ordering::Relaxed) < **e)
            .count();
        let closed = watches
            .iter()
            .filter(|w| w.closed.load(Ordering::Relaxed))
            .count();
        let mut lat: Vec<u32> = watches
            .iter()
            .flat_map(|w| std::mem::take(&mut *w.latencies.lock().unwrap_or_else(|e| e.into_inner())))
            .collect();
        lat.sort_unstable();
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Warm-up: the first minute (or the first tenth of a shorter run).
        let warm_at = (seconds / 10).min(60);
        let warm = samples
            .iter()
            .find(|(t, _)| *t >= warm_at)
            .map_or(start_rss, |s| s.1);
        let end = samples.last().map_or(0, |s| s.1);
        let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
        println!("published {all} events in {publish_secs:.1} s");
        println!(
            "steady clients: {} ({} org + {SOAK_STAFF} staff); delivered {delivered} of {wanted}; {short} short of their count; {closed} closed by the gateway",
            steady + SOAK_STAFF,
            steady
        );
        println!(
            "latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            fanout::percentile(&lat, 0.5),
            fanout::percentile(&lat, 0.99),
            fanout::percentile(&lat, 1.0)
        );
        println!(
            "gateway RSS: {:.1} MiB with the clients connected, {:.1} MiB after warm-up ({warm_at} s), {:.1} MiB at the end, {:.1} MiB at most; end/warm-up {:+.1}%",
            mib(start_rss),
            mib(warm),
            mib(end),
            mib(max),
            (end as f64 / warm as f64 - 1.0) * 100.0
        );
        println!(
            "RSS samples (s: MiB): {}",
            samples
                .iter()
                .map(|(t, r)| format!("{t}: {:.1}", mib(*r)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let m = |name: &str| metrics.get(name).copied().unwrap_or(0);
        println!(
            "gateway: forwarded={} lagged={} dropped={} slow_disconnects={} upgrade_timeouts={} refused_connections={} connections_now={}; log {:.1} KiB",
            m("events_forwarded_total"),
            m("lagged_total"),
            m("dropped_total"),
            m("slow_disconnects_total"),
            m("upgrade_timeouts_total"),
            m("refused_connections_total"),
            m("connections"),
            std::fs::metadata(&log).map_or(0, |m| m.len()) as f64 / 1024.0
        );
        for t in tasks {
            t.abort();
        }
        anyhow::Ok(())
    })?;
    drop(gateway);
    Ok(())
}

/// Clients joining, leaving and misbehaving until `stop`.
async fn schedule(port: u16, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut n: u64 = 0;
    let mut churning: Vec<Option<JoinHandle<()>>> = (0..SOAK_CHURNING).map(|_| None).collect();
    let mut misbehaving: Vec<(Arc<AtomicBool>, Vec<JoinHandle<()>>)> = Vec::new();
    let kinds = [
        Attack::NonReaders,
        Attack::RefusalFlood,
        Attack::LongTopic,
        Attack::SilentConnections,
    ];
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        // Every 10 s one churning client leaves, or joins again.
        if n.is_multiple_of(2) {
            let slot = ((n / 2) as usize) % SOAK_CHURNING;
            match churning[slot].take() {
                Some(task) => task.abort(),
                None => {
                    let org = format!("org_{}", SOAK_ORGS - SOAK_CHURNING + slot);
                    if let Ok((_, task)) = watcher(port, &org, &format!("events.{org}.>")).await {
                        churning[slot] = Some(task);
                    }
                }
            }
        }
        // Every 15 s a misbehaving client starts; each stops after 10 s.
        for (done, tasks) in misbehaving.iter() {
            if done.load(Ordering::Relaxed) {
                for t in tasks {
                    t.abort();
                }
            }
        }
        misbehaving.retain(|(done, _)| !done.load(Ordering::Relaxed));
        if n.is_multiple_of(3) {
            let kind = kinds[((n / 3) as usize) % kinds.len()];
            let attack_stop = Arc::new(AtomicBool::new(false));
            let tasks = match kind {
                Attack::SilentConnections => vec![tokio::spawn(silent_connections(
                    port,
                    100,
                    attack_stop.clone(),
                ))],
                Attack::NonReaders => {
                    // A staff client that never reads: it falls behind on everything.
                    let stop = attack_stop.clone();
                    vec![tokio::spawn(async move {
                        let Ok(mut ws) = open(port, &["*"]).await else {
                            return;
                        };
                        let subscribe = serde_json::json!(
                            {"type": "subscribe", "id": "s", "topic": "events.>"});
                        let _ = ws.send(Message::text(subscribe.to_string())).await;
                        while !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })]
                }
                other => start_attack(port, other, attack_stop.clone()).await,
            };
            let done = attack_stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                done.store(true, Ordering::Relaxed);
            });
            misbehaving.push((attack_stop, tasks));
        }
    }
    for (done, tasks) in misbehaving {
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.abort();
        }
    }
    for task in churning.into_iter().flatten() {
        task.abort();
    }
}
