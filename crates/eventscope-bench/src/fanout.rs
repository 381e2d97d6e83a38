//! Gateway fan-out benchmark: 100 clients each on its own `events.org_N.>` and 10 staff clients
//! on `events.>`, through the real gateway binary, while events are published at a fixed rate
//! to a real nats-server; then the same clients subscribing to NATS directly, as the baseline.
//!
//! Each event carries its publish time, so every client measures publish → receive latency.
//! The gateway's CPU comes from /proc/<pid>/stat, its memory per client from its RSS before and
//! after the clients connect.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eventscope_gateway::auth::{sign, Claims};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub(crate) const SECRET: &str = "fanout benchmark secret";

pub struct FanoutArgs {
    pub orgs: usize,
    pub staff: usize,
    pub rate: u64,
    pub seconds: u64,
    pub gateway_bin: Option<PathBuf>,
}

/// What every client of one run received.
struct Tally {
    /// Events received per client (org clients first, then staff).
    received: Vec<Arc<AtomicU64>>,
    /// Publish → receive latencies in microseconds, per client (each locks only its own).
    latencies: Vec<Arc<Mutex<Vec<u32>>>>,
}

impl Tally {
    fn new(clients: usize) -> Tally {
        Tally {
            received: (0..clients).map(|_| Arc::default()).collect(),
            latencies: (0..clients).map(|_| Arc::default()).collect(),
        }
    }

    /// What client `i` needs to record.
    fn client(&self, i: usize) -> (Arc<AtomicU64>, Arc<Mutex<Vec<u32>>>) {
        (self.received[i].clone(), self.latencies[i].clone())
    }
}

pub(crate) fn record(received: &AtomicU64, latencies: &Mutex<Vec<u32>>, body: &str) {
    if let Some(sent) = sent_us(body) {
        latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(now_us().saturating_sub(sent) as u32);
        received.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The publish time in an event body: the digits after `"sentUs":`.
fn sent_us(text: &str) -> Option<u64> {
    let start = text.find("\"sentUs\":")? + "\"sentUs\":".len();
    let digits = text[start..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// Seconds of CPU (user + system) the process has used.
fn process_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

pub(crate) fn process_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub(crate) struct GatewayProcess {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(bin: &PathBuf, nats_url: &str) -> Result<GatewayProcess> {
    start_gateway_logging(bin, nats_url, None)
}

/// The gateway; with `log`, logging at info into that file instead of warnings to stderr.
pub(crate) fn start_gateway_logging(
    bin: &PathBuf,
    nats_url: &str,
    log: Option<&std::path::Path>,
) -> Result<GatewayProcess> {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path)?),
        None => Stdio::inherit(),
    };
    let mut child = Command::new(bin)
        .args(["--nats-url", nats_url, "--listen", "127.0.0.1:0"])
        .env("EVENTSCOPE_JWT_SECRET", SECRET)
        .env(
            "EVENTSCOPE_LOG",
            if log.is_some() { "info" } else { "warn" },
        )
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the gateway said {line:?}"))?;
    Ok(GatewayProcess { child, port })
}

pub(crate) fn token(orgs: Vec<String>) -> String {
    sign(
        &Claims {
            sub: "bench".into(),
            orgs,
            exp: (now_us() / 1_000_000) as i64 + 3600,
        },
        SECRET.as_bytes(),
    )
}

/// Topic of client `i`: its own organization, or everything for staff.
fn topic_of(i: usize, orgs: usize) -> String {
    if i < orgs {
        format!("events.org_{i}.>")
    } else {
        "events.>".into()
    }
}

/// Connects every client to the gateway; returns once all are subscribed.
async fn gateway_clients(port: u16, args: &FanoutArgs, tally: &Tally) -> Result<()> {
    let total = args.orgs + args.staff;
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(total);
    for i in 0..total {
        let orgs = if i < args.orgs {
            vec![format!("org_{i}")]
        } else {
            vec!["*".to_string()]
        };
        let mut request = format!("ws://127.0.0.1:{port}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", token(orgs)).parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        let subscribe =
            serde_json::json!({"type":"subscribe","id":"s","topic":topic_of(i, args.orgs)});
        ws.send(Message::text(subscribe.to_string())).await?;
        let (received, latencies) = tally.client(i);
        let ready_tx = ready_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                if text.starts_with("{\"type\":\"subscribed\"") {
                    let _ = ready_tx.send(()).await;
                } else if text.starts_with("{\"type\":\"event\"") {
                    record(&received, &latencies, &text);
                } else if !text.starts_with("{\"type\":\"welcome\"") {
                    eprintln!("client {i}: {text}");
                }
            }
        });
    }
    for _ in 0..total {
        ready
            .recv()
            .await
            .context("a client ended before subscribing")?;
    }
    Ok(())
}

/// The baseline: every client subscribes to NATS itself.
async fn nats_clients(
    url: &str,
    args: &FanoutArgs,
    tally: &Tally,
) -> Result<Vec<async_nats::Client>> {
    let total = args.orgs + args.staff;
    let mut clients = Vec::with_capacity(total);
    for i in 0..total {
        let client = async_nats::connect(url).await?;
        let mut sub = client.subscribe(topic_of(i, args.orgs)).await?;
        client.flush().await?;
        let (received, latencies) = tally.client(i);
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                if let Ok(body) = std::str::from_utf8(&msg.payload) {
                    record(&received, &latencies, body);
                }
            }
        });
        clients.push(client);
    }
    Ok(clients)
}

/// Publishes `rate` events a second for `seconds`, spread over the organizations; returns
/// how many each organization got.
pub(crate) async fn publish(url: &str, args: &FanoutArgs) -> Result<Vec<u64>> {
    let client = async_nats::connect(url).await?;
    let mut per_org = vec![0u64; args.orgs];
    let ticks_per_sec = 1000;
    let per_tick = (args.rate / ticks_per_sec).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = args.rate * args.seconds;
    let mut n: u64 = 0;
    let pad = "p".repeat(300);
    while n < total {
        tick.tick().await;
        for _ in 0..per_tick.min(total - n) {
            // A fixed stride over the organizations: every one gets its share.
            let org = (n.wrapping_mul(7919) % args.orgs as u64) as usize;
            per_org[org] += 1;
            let body = format!(
                r#"{{"id":"e_{n}","organizationId":"org_{org}","source":"tasks","resource":"task","resourceId":"t_{n}","eventName":"created","timestamp":"2026-01-01T00:00:00Z","payload":{{"sentUs":{},"pad":"{pad}"}}}}"#,
                now_us()
            );
            client
                .publish(
                    format!("events.org_{org}.tasks.task.created.t_{n}"),
                    body.into(),
                )
                .await?;
            n += 1;
        }
    }
    client.flush().await?;
    Ok(per_org)
}

async fn wait_for_all(tally: &Tally, expected: &[u64]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = tally
            .received
            .iter()
            .zip(expected)
            .all(|(got, want)| got.load(Ordering::Relaxed) >= *want);
        if done {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Outcome {
    delivered: u64,
    expected: u64,
    complete: bool,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn outcome(tally: &Tally, expected: &[u64], complete: bool) -> Outcome {
    let mut lat: Vec<u32> = tally
        .latencies
        .iter()
        .flat_map(|l| std::mem::take(&mut *l.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();
    lat.sort_unstable();
    Outcome {
        delivered: tally
            .received
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum(),
        expected: expected.iter().sum(),
        complete,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().map_or(f64::NAN, |m| *m as f64 / 1000.0),
    }
}

/// Events each client should receive: its organization's count, or all for staff.
fn expectations(per_org: &[u64], args: &FanoutArgs) -> Vec<u64> {
    let all: u64 = per_org.iter().sum();
    (0..args.orgs + args.staff)
        .map(|i| if i < args.orgs { per_org[i] } else { all })
        .collect()
}

pub fn run(args: FanoutArgs) -> Result<()> {
    let bin = gateway_bin(args.gateway_bin.as_ref())?;
    let rt = crate::runtime()?;
    let clients = args.orgs + args.staff;
    println!(
        "fan-out: {} org clients (events.org_N.>) + {} staff clients (events.>), {} events/s for {} s",
        args.orgs, args.staff, args.rate, args.seconds
    );

    // Through the gateway.
    let nats = eventscope_testkit::NatsServer::start();
    let gateway = start_gateway(&bin, &nats.url())?;
    let gw_pid = gateway.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = process_rss(gw_pid);
    let tally = Tally::new(clients);
    rt.block_on(gateway_clients(gateway.port, &args, &tally))?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = process_rss(gw_pid);
    let (gw_cpu0, nats_cpu0) = (process_cpu(gw_pid), process_cpu(nats.pid().unwrap_or(0)));
    let t0 = Instant::now();
    let per_org = rt.block_on(publish(&nats.url(), &args))?;
    let publish_secs = t0.elapsed().as_secs_f64();
    let expected = expectations(&per_org, &args);
    let complete = rt.block_on(wait_for_all(&tally, &expected));
    let (gw_cpu, nats_cpu) = (
        process_cpu(gw_pid) - gw_cpu0,
        process_cpu(nats.pid().unwrap_or(0)) - nats_cpu0,
    );
    let through = outcome(&tally, &expected, complete);
    let metrics = rt.block_on(gateway_metrics(gateway.port))?;
    drop(gateway);
    drop(nats);

    // The baseline: the same clients on NATS directly.
    let nats = eventscope_testkit::NatsServer::start();
    let tally = Tally::new(clients);
    let direct_clients = rt.block_on(nats_clients(&nats.url(), &args, &tally))?;
    let nats_cpu0_direct = process_cpu(nats.pid().unwrap_or(0));
    let per_org = rt.block_on(publish(&nats.url(), &args))?;
    let expected = expectations(&per_org, &args);
    let complete = rt.block_on(wait_for_all(&tally, &expected));
    let nats_cpu_direct = process_cpu(nats.pid().unwrap_or(0)) - nats_cpu0_direct;
    let direct = outcome(&tally, &expected, complete);
    drop(direct_clients);

    println!(
        "published {} events in {publish_secs:.1} s",
        args.rate * args.seconds
    );
    println!(
        "{:<22} {:>12} {:>12} {:>9} {:>8} {:>8} {:>8}",
        "path", "delivered", "expected", "complete", "p50 ms", "p99 ms", "max ms"
    );
    for (name, o) in [("gateway", &through), ("nats direct", &direct)] {
        println!(
            "{name:<22} {:>12} {:>12} {:>9} {:>8.2} {:>8.2} {:>8.2}",
            o.delivered, o.expected, o.complete, o.p50_ms, o.p99_ms, o.max_ms
        );
    }
    let forwarded = metrics.get("events_forwarded_total").copied().unwrap_or(0);
    println!(
        "gateway: {forwarded} event frames forwarded, {} lagged, {} dropped",
        metrics.get("lagged_total").copied().unwrap_or(0),
        metrics.get("dropped_total").copied().unwrap_or(0)
    );
    println!(
        "gateway CPU: {gw_cpu:.2} s, {:.3} ms per 1,000 forwarded events ({:.0}% of a core)",
        gw_cpu * 1e6 / forwarded.max(1) as f64,
        gw_cpu * 100.0 / publish_secs
    );
    println!(
        "gateway memory: {:.1} MiB before clients, {:.1} MiB with {clients}: {:.1} KiB per client",
        rss_before as f64 / (1 << 20) as f64,
        rss_after as f64 / (1 << 20) as f64,
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0 / clients as f64
    );
    println!(
        "nats-server CPU: {nats_cpu:.2} s through the gateway (one subscription per topic), {nats_cpu_direct:.2} s with {clients} direct subscribers"
    );
    Ok(())
}

/// The gateway binary: the one given, or the one beside this benchmark.
pub(crate) fn gateway_bin(given: Option<&PathBuf>) -> Result<PathBuf> {
    let bin = match given {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark's directory")?
            .join("eventscope-gateway"),
    };
    if !bin.exists() {
        bail!(
            "no gateway binary at {} (cargo build --release -p eventscope-gateway, or --gateway-bin)",
            bin.display()
        );
    }
    Ok(bin)
}

pub(crate) async fn gateway_metrics(port: u16) -> Result<std::collections::HashMap<String, i64>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (name, value) = l.strip_prefix("eventscope_gateway_")?.split_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect())
}
