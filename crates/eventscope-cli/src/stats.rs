//! `stats`: counts, rates and producer lag per group of the events received, printed when the
//! duration ends or on Ctrl-C; `--json` is a contract (one object per group, largest first).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::sync::watch;

use eventscope_core::event;
use eventscope_core::shape::percentile;
use eventscope_core::source::{FirstConnect, Source};
use eventscope_core::topic::TopicPattern;
use eventscope_core::wire::{ConnectionProfile, SourceStatus};

use crate::args::{StatsArgs, StatsBy};
use crate::print::cell;

pub async fn run(args: StatsArgs) -> Result<()> {
    for subject in &args.subjects {
        TopicPattern::parse(subject).context("invalid --subject")?;
    }
    if args.duration.is_some_and(|d| !(d > 0.0 && d.is_finite())) {
        bail!("invalid --duration: it must be a positive number of seconds");
    }
    let profile = ConnectionProfile {
        servers: vec![args.server.nats_url.clone()],
        subjects: args.subjects.clone(),
        ..ConnectionProfile::default()
    };
    let (status_tx, _status) = watch::channel(SourceStatus::disconnected("not connected"));
    let mut source =
        Source::connect(&profile, FirstConnect::FailFast, Arc::default(), status_tx).await?;
    let started = Instant::now();
    let until = args
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let mut tally = Tally::new(args.by);
    // One future for the whole run: an interrupt between two batches is not missed.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let ended = loop {
        tokio::select! {
            batch = source.next_batch() => {
                let Some(batch) = batch else {
                    break Some(format!(
                        "the subscription ended: the connection to {} is closed",
                        args.server.nats_url
                    ));
                };
                let received_ms = chrono::Utc::now().timestamp_millis();
                batch.for_each(|subject, _headers, body| {
                    tally.add(subject, body, received_ms);
                    true
                });
            }
            _ = sleep_until(until) => break None,
            _ = &mut interrupted => break None,
        }
    };
    let rows = tally.rows(started.elapsed().as_secs_f64());
    print(&rows, args.json)?;
    match ended {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

async fn sleep_until(until: Option<tokio::time::Instant>) {
    match until {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[derive(Default)]
struct Group {
    count: u64,
    bytes: u64,
    /// Receive time minus the envelope's `timestamp`, for the events that have one.
    lags: Vec<i64>,
}

/// Counts per group as messages arrive.
struct Tally {
    by: StatsBy,
    groups: HashMap<String, Group>,
}

impl Tally {
    fn new(by: StatsBy) -> Tally {
        Tally {
            by,
            groups: HashMap::default(),
        }
    }

    fn add(&mut self, subject: &str, body: &[u8], received_ms: i64) {
        let decoded = event::decode(body);
        let fields = decoded.resolve(subject);
        let key = match self.by {
            StatsBy::Source => fields.source.into_owned(),
            StatsBy::Org => fields.org.into_owned(),
            StatsBy::Subject => subject.to_string(),
            StatsBy::Event => match (fields.resource.is_empty(), fields.event_name.is_empty()) {
                (true, true) => String::new(),
                _ => format!("{}.{}", fields.resource, fields.event_name),
            },
        };
        let group = self.groups.entry(key).or_default();
        group.count += 1;
        group.bytes += body.len() as u64;
        if let Some(ts) = decoded.timestamp_ms {
            group.lags.push(received_ms.saturating_sub(ts));
        }
    }

    /// One row per group, largest count first (then by name), rates over `secs`.
    fn rows(self, secs: f64) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .groups
            .into_iter()
            .map(|(group, mut g)| Row {
                group,
                count: g.count,
                bytes: g.bytes,
                rate_per_sec: if secs > 0.0 {
                    (g.count as f64 / secs * 100.0).round() / 100.0
                } else {
                    0.0
                },
                lag_p50_ms: percentile(&mut g.lags, 0.5),
                lag_p99_ms: percentile(&mut g.lags, 0.99),
                lag_max_ms: g.lags.iter().copied().max(),
            })
            .collect();
        rows.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.group.cmp(&b.group)));
        rows
    }
}

/// One group as `--json` prints it (the contract); lags are null without timestamps.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    group: String,
    count: u64,
    bytes: u64,
    rate_per_sec: f64,
    lag_p50_ms: Option<i64>,
    lag_p99_ms: Option<i64>,
    lag_max_ms: Option<i64>,
}

fn print(rows: &[Row], json: bool) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        for row in rows {
            serde_json::to_writer(&mut out, row).context("cannot write to stdout")?;
            writeln!(out).context("cannot write to stdout")?;
        }
    } else {
        let width = rows.iter().map(|r| r.group.len()).max().unwrap_or(0).max(5);
        writeln!(
            out,
            "{:<width$}  {:>9}  {:>11}  {:>9}  {:>10}  {:>10}  {:>10}",
            "group", "count", "bytes", "rate/s", "lag p50", "lag p99", "lag max"
        )?;
        let ms = |v: Option<i64>| v.map_or("-".to_string(), |v| format!("{v}ms"));
        for r in rows {
            writeln!(
                out,
                "{:<width$}  {:>9}  {:>11}  {:>9.2}  {:>10}  {:>10}  {:>10}",
                cell(&r.group),
                r.count,
                r.bytes,
                r.rate_per_sec,
                ms(r.lag_p50_ms),
                ms(r.lag_p99_ms),
                ms(r.lag_max_ms),
            )?;
        }
    }
    out.flush().context("cannot write to stdout")
}
