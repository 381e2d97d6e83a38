//! Side-by-side ingest benchmark: Eventscope's ingest (receive, decode, index, store) against a
//! raw async-nats subscriber that only counts, and against the obvious design (parse every event
//! into a `serde_json::Value` and keep it), each in its own process, in one run against one
//! nats-server. The shared machine's noise cancels out in the ratios. `refilter` times the
//! filter language over a million held events beside a plain scan of the same store.

mod attacks;
mod fanout;
mod history;
mod notify;
mod publishing;
mod recording;
mod window;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use eventscope_core::live::Live;
use eventscope_core::record::{Recorder, RecorderOptions};
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::{FirstConnect, SUBSCRIPTION_CAPACITY};
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::ConnectionProfile;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "Eventscope benchmarks, measured beside a raw async-nats subscriber")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// CPU per million events and memory per raw byte, for each subscriber design.
    Ingest {
        /// Events published per round.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Rounds; each round runs every mode once, in turn.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Which subscribers to run (`unshaped` is ingest without the shape index).
        #[arg(long, value_delimiter = ',', default_values = ["raw", "ingest", "naive", "filtered", "filtered-payload"])]
        modes: Vec<Mode>,
        /// Use this nats-server instead of starting one.
        #[arg(long)]
        nats_url: Option<String>,
        /// Another build of eventscope-bench (say, of the main branch): every mode but `raw`
        /// also runs its subscriber, right after this build's, for a before/after in one run.
        #[arg(long, value_name = "PATH")]
        baseline_bin: Option<std::path::PathBuf>,
    },
    /// In-process cost per event of each ingest step, without NATS (for profiling the hot path).
    Steps {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Re-filtering held events with `View::refilter`, beside a plain scan of the same store.
    Refilter {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Timed runs per query; the table shows the fastest.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// The stream's shape over a million held events: building the shape index, rate series
    /// by each grouping from the index and re-aggregated from the events (a new grouping or
    /// filter), the subject tree, producer lag and anomalies.
    Shape {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Timed runs per step; the table shows the fastest.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Gateway fan-out: org clients and staff clients through the gateway binary, beside the
    /// same clients on NATS directly (build eventscope-gateway in the same profile first).
    Fanout {
        /// Clients, each on its own `events.org_N.>`.
        #[arg(long, default_value_t = 100)]
        orgs: usize,
        /// Staff clients (`*` token) on `events.>`.
        #[arg(long, default_value_t = 10)]
        staff: usize,
        /// Events published per second.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The gateway binary (default: beside this one).
        #[arg(long)]
        gateway_bin: Option<std::path::PathBuf>,
    },
    /// Hostile clients (issue 15): a well-behaved client's deliveries and p99 latency under
    /// each attack (long topic, refusal flood, non-reading clients, 300 silent connections)
    /// beside a run with no attack, and the gateway's peak memory.
    Attacks {
        /// The gateway binary (default: beside this one).
        #[arg(long)]
        gateway_bin: Option<std::path::PathBuf>,
    },
    /// 110 clients at 10,000 events/s while clients join, leave and misbehave on a schedule;
    /// deliveries to the steady clients and the gateway's memory over time.
    Soak {
        /// Minutes of publishing.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// The gateway binary (default: beside this one).
        #[arg(long)]
        gateway_bin: Option<std::path::PathBuf>,
    },
    /// The release app's window under load (Xvfb, tauri-driver): publish-to-visible latency at
    /// 1,000 events/s, batches, row updates and clicks at 10,000 events/s.
    Window {
        /// The app binary (default: beside this one; `EVENTSCOPE_APP` also names it).
        #[arg(long)]
        app: Option<std::path::PathBuf>,
    },
    /// The composer through the window: time from the Publish click to a rendered template, and
    /// row clicks while the composer sends 20,000 events at 2,000/s beside clicks while it does
    /// not.
    Composer {
        /// The app binary (default: beside this one; `EVENTSCOPE_APP` also names it).
        #[arg(long)]
        app: Option<std::path::PathBuf>,
    },
    /// Time from Enter to the first page of a new filter result in the window, with this many
    /// events held.
    FirstPage {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// The app binary (default: beside this one; `EVENTSCOPE_APP` also names it).
        #[arg(long)]
        app: Option<std::path::PathBuf>,
    },
    /// Bulk publish from a template beside a bare async-nats loop publishing the same bytes, and
    /// the rate a paced send holds.
    Publish {
        #[arg(long, default_value_t = 200_000)]
        count: u64,
        /// Rounds of each, alternating; the medians are compared.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Rates to check, events per second.
        #[arg(long, value_delimiter = ',', default_values_t = [1000.0, 5000.0, 20000.0])]
        rates: Vec<f64>,
    },
    /// A scenario of publish/expect pairs while the simulator publishes other traffic.
    Scenario {
        #[arg(long, default_value_t = 1000)]
        pairs: usize,
        /// Other events per second on the bus.
        #[arg(long, default_value_t = 5000.0)]
        background: f64,
    },
    /// Notification rules (issue 10): live ingest alone beside ingest that counts the would-be
    /// notifications of 24 rules, and the volume report over held events.
    Notify {
        /// Events published per round of the live part.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Rounds of the live part; each runs both subscribers, in turn.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Events held for the volume report.
        #[arg(long, default_value_t = 1_000_000)]
        held: usize,
    },
    /// One organization's 1,000,000 events out of a JetStream stream of 3,000,000: the
    /// history reader beside a bare async-nats ordered consumer on the same subject.
    History {
        /// Events in the stream, spread over three organizations.
        #[arg(long, default_value_t = 3_000_000)]
        events: usize,
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
    /// Export of simulated events: NDJSON, CSV, each masked, beside a plain copy of the bytes.
    Export {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Ingest alone beside ingest with the local recording, at the bus rate, in one run: the
    /// recording's extra CPU per million events and what it dropped.
    Record {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Rounds; each runs both, their order swapped every other round.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The timeline's query over a large recording: one organization's last 24 h, first page,
    /// from a recording of this many events over 48 h.
    TimelineQuery {
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
        /// Organizations the events are spread over.
        #[arg(long, default_value_t = 200)]
        orgs: usize,
        /// Rows per page.
        #[arg(long, default_value_t = 500)]
        page: usize,
        /// Keep (or reuse, when it exists) the recording at this path instead of a temporary one.
        #[arg(long)]
        db: Option<std::path::PathBuf>,
    },
    /// One subscriber process (started by `ingest`).
    #[command(hide = true)]
    Subscriber {
        #[arg(long)]
        mode: Mode,
        #[arg(long)]
        url: String,
        #[arg(long)]
        count: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
enum Mode {
    /// async-nats subscriber that only counts messages.
    Raw,
    /// Eventscope's live ingest: the source, decoding, indexing and the store.
    Ingest,
    /// Eventscope's live ingest with the shape index (the rate chart's per-second counts) off:
    /// `Ingest` over this is what the aggregation costs.
    Unshaped,
    /// The obvious design: `serde_json::Value` per event, kept in a `Vec`.
    Naive,
    /// Eventscope's ingest with a live filter on envelope fields ([`ENVELOPE_QUERY`]).
    Filtered,
    /// Eventscope's ingest with a live filter on payload paths ([`PAYLOAD_QUERY`]).
    FilteredPayload,
    /// Eventscope's ingest counting the would-be notifications of the 4 built-in rules and 20
    /// custom ones ([`notify::CUSTOM_RULES`]).
    Notify,
    /// Eventscope's live ingest with the local recording on (a file in a temporary directory).
    Recorded,
}

/// The live filters of the `filtered` modes: what a user watching a stream typically types.
const ENVELOPE_QUERY: &str = "source:tasks,flows -event:created";
const PAYLOAD_QUERY: &str = "payload.status:failed OR payload.durationMs>500";

/// What a subscriber process reports when it is done.
#[derive(Debug, Serialize, Deserialize)]
struct Report {
    mode: Mode,
    received: u64,
    dropped: u64,
    cpu_secs: f64,
    wall_secs: f64,
    /// Growth of the resident set while receiving.
    rss_growth: u64,
    /// Bytes the design itself says it holds (the store's footprint), when it knows.
    held_bytes: u64,
    /// Messages the recording could not record (`recorded` mode).
    #[serde(default)]
    recorder_dropped: u64,
    /// Messages in the recording at the end (`recorded` mode).
    #[serde(default)]
    recorded: u64,
}

fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Ingest {
            events,
            rounds,
            modes,
            nats_url,
            baseline_bin,
        } => ingest(events, rounds, &modes, nats_url, baseline_bin.as_deref()),
        Cmd::Steps { events } => steps(events),
        Cmd::Notify {
            events,
            rounds,
            held,
        } => notify::run(events, rounds, held),
        Cmd::Fanout {
            orgs,
            staff,
            rate,
            seconds,
            gateway_bin,
        } => fanout::run(fanout::FanoutArgs {
            orgs,
            staff,
            rate,
            seconds,
            gateway_bin,
        }),
        Cmd::Refilter { events, runs } => refilter(events, runs),
        Cmd::History { events, rounds } => runtime()?.block_on(history::history(events, rounds)),
        Cmd::Export { events, rounds } => history::export(events, rounds),
        Cmd::Publish {
            count,
            rounds,
            rates,
        } => runtime()?.block_on(publishing::publish(count, rounds, &rates)),
        Cmd::Scenario { pairs, background } => {
            runtime()?.block_on(publishing::scenario(pairs, background))
        }
        Cmd::Attacks { gateway_bin } => attacks::attacks(gateway_bin),
        Cmd::Soak {
            minutes,
            gateway_bin,
        } => attacks::soak(minutes, gateway_bin),
        Cmd::Shape { events, runs } => shape(events, runs),
        Cmd::Record { events, rounds } => recording::record(events, rounds),
        Cmd::TimelineQuery {
            events,
            orgs,
            page,
            db,
        } => recording::timeline_query(events, orgs, page, db),
        Cmd::Window { app } => runtime()?.block_on(window::responsiveness(
            &app.unwrap_or_else(eventscope_window::sibling_app),
        )),
        Cmd::Composer { app } => runtime()?.block_on(window::composer(
            &app.unwrap_or_else(eventscope_window::sibling_app),
        )),
        Cmd::FirstPage { events, app } => runtime()?.block_on(window::first_page(
            &app.unwrap_or_else(eventscope_window::sibling_app),
            events,
        )),
        Cmd::Subscriber { mode, url, count } => {
            let report = runtime()?.block_on(subscriber(mode, &url, count))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn ingest(
    events: usize,
    rounds: usize,
    modes: &[Mode],
    nats_url: Option<String>,
    baseline: Option<&std::path::Path>,
) -> Result<()> {
    let this = std::env::current_exe()?;
    let server = match nats_url {
        Some(_) => None,
        None => Some(eventscope_testkit::NatsServer::start()),
    };
    let url = nats_url.unwrap_or_else(|| server.as_ref().expect("started above").url());
    eprintln!("generating {events} events ...");
    let messages: Vec<(String, Bytes)> = simulated(events)
        .map(|(subject, body)| (subject, Bytes::from(body)))
        .collect();
    let raw_bytes: usize = messages.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{events} events, {:.0} bytes on average, {:.1} MB of JSON; server {url}",
        raw_bytes as f64 / events as f64,
        raw_bytes as f64 / 1e6
    );
    println!(
        "{:>5}  {:<16} {:>9} {:>13} {:>9} {:>10} {:>8} {:>8} {:>13} {:>14}",
        "round",
        "mode",
        "received",
        "dropped",
        "cpu s",
        "cpu s/1M",
        "x raw",
        "wall s",
        "rss/JSON",
        "store/JSON"
    );
    let rt = runtime()?;
    let mut ratios: Vec<(Mode, f64, f64)> = Vec::new();
    let mut over_ingest: Vec<(Mode, f64)> = Vec::new();
    let mut over_baseline: Vec<(Mode, f64)> = Vec::new();
    let mut shape_cost: Vec<f64> = Vec::new();
    for round in 1..=rounds {
        let mut raw_cpu = None;
        let mut ingest_cpu = None;
        let mut unshaped_cpu = None;
        // The subscriber right after `raw` tends to pay for the publisher's warm-up: when both
        // `ingest` and `unshaped` run, they swap places every other round.
        let mut order = modes.to_vec();
        if round % 2 == 0 {
            let at = |m| order.iter().position(|&x| x == m);
            if let (Some(a), Some(b)) = (at(Mode::Ingest), at(Mode::Unshaped)) {
                order.swap(a, b);
            }
        }
        for &mode in &order {
            let report = rt.block_on(run_round(&this, &url, mode, &messages))?;
            let per_million = report.cpu_secs * 1e6 / events as f64;
            if let Some(baseline) = baseline.filter(|_| mode != Mode::Raw) {
                let before = rt.block_on(run_round(baseline, &url, mode, &messages))?;
                let before_per_million = before.cpu_secs * 1e6 / events as f64;
                over_baseline.push((mode, per_million / before_per_million));
                print_row(
                    round,
                    &format!("{} (base)", mode_name(mode)),
                    &before,
                    before_per_million,
                    raw_cpu,
                    raw_bytes,
                );
            }
            match mode {
                Mode::Raw => raw_cpu = Some(per_million),
                Mode::Ingest => ingest_cpu = Some(per_million),
                Mode::Filtered | Mode::FilteredPayload => {
                    if let Some(base) = ingest_cpu {
                        over_ingest.push((mode, per_million / base));
                    }
                }
                Mode::Unshaped => unshaped_cpu = Some(per_million),
                Mode::Naive | Mode::Notify | Mode::Recorded => {}
            }
            if let (Some(on), Some(off), Mode::Ingest | Mode::Unshaped) =
                (ingest_cpu, unshaped_cpu, mode)
            {
                shape_cost.push(on / off);
            }
            let ratio = print_row(
                round,
                &mode_name(mode),
                &report,
                per_million,
                raw_cpu,
                raw_bytes,
            );
            let held = report.held_bytes as f64 / raw_bytes as f64;
            ratios.push((mode, ratio, held));
        }
    }
    for &mode in modes.iter().filter(|m| **m != Mode::Raw) {
        let mut r: Vec<f64> = ratios
            .iter()
            .filter(|(m, x, _)| *m == mode && x.is_finite())
            .map(|(_, x, _)| *x)
            .collect();
        r.sort_by(f64::total_cmp);
        if let Some(median) = r.get(r.len() / 2) {
            println!("median CPU ratio {:?}/raw: {median:.2}", mode);
        }
    }
    for (mode, query) in [
        (Mode::Filtered, ENVELOPE_QUERY),
        (Mode::FilteredPayload, PAYLOAD_QUERY),
    ] {
        let mut r: Vec<f64> = over_ingest
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, x)| *x)
            .collect();
        r.sort_by(f64::total_cmp);
        if let Some(median) = r.get(r.len() / 2) {
            println!("median CPU ratio {mode:?}/Ingest (live filter `{query}`): {median:.2} (each round: {r:.2?})");
        }
    }
    if !shape_cost.is_empty() {
        let mut r = shape_cost.clone();
        r.sort_by(f64::total_cmp);
        println!(
            "median CPU ratio Ingest/Unshaped (the shape index's cost at ingest): {:.3} (each round: {shape_cost:.3?})",
            r[r.len() / 2]
        );
    }
    for &mode in modes.iter().filter(|m| **m != Mode::Raw) {
        let r: Vec<f64> = over_baseline
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, x)| *x)
            .collect();
        if !r.is_empty() {
            println!("CPU ratio {mode:?} this build / baseline, each round: {r:.2?}");
        }
    }
    Ok(())
}

/// Prints one row of the ingest table; returns the CPU ratio to the raw subscriber.
fn print_row(
    round: usize,
    name: &str,
    report: &Report,
    per_million: f64,
    raw_cpu: Option<f64>,
    raw_bytes: usize,
) -> f64 {
    let ratio = raw_cpu.map(|r| per_million / r).unwrap_or(f64::NAN);
    let rss = report.rss_growth as f64 / raw_bytes as f64;
    let held = report.held_bytes as f64 / raw_bytes as f64;
    println!(
        "{round:>5}  {name:<16} {:>9} {:>13} {:>9.2} {:>10.2} {:>8.2} {:>8.2} {:>13.2} {:>14}",
        report.received,
        report.dropped,
        report.cpu_secs,
        per_million,
        ratio,
        report.wall_secs,
        rss,
        if report.held_bytes > 0 {
            format!("{held:.2}")
        } else {
            "-".into()
        },
    );
    ratio
}

fn steps(events: usize) -> Result<()> {
    let messages: Vec<(String, Vec<u8>)> = simulated(events).collect();
    let time = |name: &str, f: &mut dyn FnMut()| {
        let cpu0 = cpu_secs();
        f();
        let ns = (cpu_secs() - cpu0) * 1e9 / events as f64;
        println!("{name:<40} {ns:>8.0} ns/event");
    };
    time("utf-8 check", &mut || {
        for (_, body) in &messages {
            std::hint::black_box(std::str::from_utf8(body).is_ok());
        }
    });
    time("serde_json::Value parse (obvious design)", &mut || {
        for (_, body) in &messages {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(body).ok());
        }
    });
    time("event::decode, one message in cache", &mut || {
        let body = &messages[0].1;
        for _ in 0..events {
            std::hint::black_box(eventscope_core::event::decode(std::hint::black_box(body)));
        }
    });
    time("event::decode (envelope only)", &mut || {
        for (_, body) in &messages {
            std::hint::black_box(eventscope_core::event::decode(body));
        }
    });
    let mut store = eventscope_core::store::EventStore::default();
    time("EventStore::push (decode, index, store)", &mut || {
        for (subject, body) in &messages {
            store.push(eventscope_core::store::Incoming {
                subject,
                headers: &[],
                body,
                received_ms: 0,
            });
        }
    });
    // The shape index's share of ingest: `ShapeIndex::on_pushed` after every batch of 64.
    let mut index = eventscope_core::shape::ShapeIndex::new();
    time("ShapeIndex::on_pushed, batches of 64", &mut || {
        for end in (store.first_seq()..store.next_seq()).step_by(64) {
            index.on_pushed_until(&store, end);
        }
        index.on_pushed(&store);
    });
    // The live filter's share of ingest: `View::on_pushed` after every batch of 64, as `Live`
    // does, on the store just filled.
    for query in ["", ENVELOPE_QUERY, PAYLOAD_QUERY] {
        let filter = eventscope_core::filter::Filter::parse(query)?;
        let mut view = eventscope_core::view::View::new(filter);
        let first = store.first_seq();
        time(&format!("View::on_pushed `{query}`"), &mut || {
            for end in (first..store.next_seq()).step_by(64) {
                view.on_pushed_until(&store, end, 0);
            }
            view.on_pushed(&store, 0);
        });
    }
    Ok(())
}

/// Fills a store with `events` simulated events received at 10,000 a second, then times each
/// shape query on one thread (wall clock, fastest of `runs`).
fn shape(events: usize, runs: usize) -> Result<()> {
    use eventscope_core::filter::Filter;
    use eventscope_core::shape::{self, AnomalyParams, SeriesRange, ShapeIndex, TreeQuery};
    use eventscope_core::store::{EventStore, Incoming};
    use eventscope_core::view::View;
    use eventscope_core::wire::{GroupBy, TreeSort};

    eprintln!("filling a store with {events} simulated events ...");
    let mut store = EventStore::new(StoreLimits {
        capacity: events.max(1),
        ..StoreLimits::default()
    });
    let t0 = chrono::Utc::now().timestamp_millis() - events as i64 / 10;
    for (i, (subject, body)) in simulated(events).enumerate() {
        store.push(Incoming {
            subject: &subject,
            headers: &[],
            body: &body,
            received_ms: t0 + i as i64 / 10,
        });
    }
    let now_ms = t0 + events as i64 / 10 + 1;
    let time = |name: &str, f: &mut dyn FnMut() -> usize| {
        let mut best = f64::INFINITY;
        let mut n = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            n = f();
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{name:<64} {best:>9.1} ms  ({n})");
    };
    println!(
        "{} events held over {} s of receive time",
        store.len(),
        events / 10_000
    );
    let mut index = ShapeIndex::new();
    time("ShapeIndex built in one call (events counted)", &mut || {
        index = ShapeIndex::new();
        index.on_pushed(&store);
        index.len() as usize
    });
    let all = SeriesRange {
        from_ms: t0,
        to_ms: now_ms,
        max_points: 300,
    };
    let recent = SeriesRange::recent(now_ms);
    let mut unfiltered = View::new(Filter::default());
    unfiltered.refilter(&store, now_ms);
    for by in [GroupBy::Source, GroupBy::Event, GroupBy::Org] {
        time(
            &format!("series by {by:?}, everything held, from the index (groups)"),
            &mut || {
                shape::series(&store, &unfiltered, 0, Some(&index), by, all)
                    .groups
                    .len()
            },
        );
        time(
            &format!("series by {by:?}, everything held, from the events (groups)"),
            &mut || {
                shape::series(&store, &unfiltered, 0, None, by, all)
                    .groups
                    .len()
            },
        );
    }
    time(
        "series by Source, last 15 minutes, from the index (groups)",
        &mut || {
            shape::series(
                &store,
                &unfiltered,
                0,
                Some(&index),
                GroupBy::Source,
                recent,
            )
            .groups
            .len()
        },
    );
    let org = store
        .get(store.first_seq())
        .map(|e| e.org().to_string())
        .unwrap_or_default();
    for query in [format!("org:{org}"), ENVELOPE_QUERY.to_string()] {
        let mut view = View::new(Filter::parse(&query)?);
        time(&format!("View::refilter `{query}` (matches)"), &mut || {
            view.refilter(&store, now_ms);
            view.len()
        });
        for by in [GroupBy::Source, GroupBy::Event, GroupBy::Org] {
            time(
                &format!("  then series by {by:?} from its events (groups)"),
                &mut || {
                    shape::series(&store, &view, 0, Some(&index), by, all)
                        .groups
                        .len()
                },
            );
        }
        time("  then lag per source (sources)", &mut || {
            shape::lag(&store, &view, 0, shape::DEFAULT_LAG_THRESHOLD_MS)
                .sources
                .len()
        });
    }
    let tree = |prefix: &str, sort| TreeQuery {
        prefix: prefix.to_string(),
        sort,
        offset: 0,
        limit: 100,
        search: String::new(),
    };
    time("subject tree `events.>` by count (nodes)", &mut || {
        shape::subject_tree(
            &store,
            &unfiltered,
            0,
            &tree("events.>", TreeSort::Count),
            now_ms,
        )
        .map_or(0, |l| l.total as usize)
    });
    let level = format!("events.{org}.conversations.conversation.message_posted.>");
    time(
        &format!("subject tree `{level}` by rate (nodes)"),
        &mut || {
            shape::subject_tree(
                &store,
                &unfiltered,
                0,
                &tree(&level, TreeSort::Rate),
                now_ms,
            )
            .map_or(0, |l| l.total as usize)
        },
    );
    time("lag per source, everything held (sources)", &mut || {
        shape::lag(&store, &unfiltered, 0, shape::DEFAULT_LAG_THRESHOLD_MS)
            .sources
            .len()
    });
    for by in [GroupBy::Source, GroupBy::Org] {
        time(
            &format!("anomalies by {by:?}, everything held, from the index (found)"),
            &mut || {
                shape::anomalies(
                    &store,
                    &unfiltered,
                    Some(&index),
                    by,
                    all,
                    AnomalyParams::default(),
                )
                .len()
            },
        );
    }
    Ok(())
}

/// The free-text and regex searches of `refilter`, each with the grep that does the same search
/// over the bodies written as NDJSON: an outside anchor for "as fast as grep". Regexes stay
/// case-sensitive, as the filter's are.
const SEARCHES: &[(&str, &str, &str)] = &[
    ("timeout", "-i -F", "timeout"),
    ("\"ada lovelace\"", "-i -F", "ada lovelace"),
    // A rare word (no simulated event holds it), a common one, a phrase, a non-ASCII word.
    ("\"disk full\"", "-i -F", "disk full"),
    ("invoice", "-i -F", "invoice"),
    ("\"webhook endpoint\"", "-i -F", "webhook endpoint"),
    ("Zoë", "-i -F", "Zoë"),
    // A regex with a literal prefix, and one whose literal is inside.
    ("/timed out after \\d+s/", "-P", "timed out after \\d+s"),
    ("/\\d+ Bad Gateway/", "-P", "\\d+ Bad Gateway"),
];

/// Fills a store in-process, then times `View::refilter` for each kind of term against a plain
/// single-threaded scan that touches every held event's index record. Wall-clock times: the
/// refilter runs on every core, which is what the user waits for. Each query is then applied
/// as the app applies it (`Live::set_filter`: the newest page at once, a thread completing the
/// rest in steps), and the first page and the completion are timed. The free-text and regex
/// searches are last run by `grep -c` over the same bodies in a file (one process, one core).
fn refilter(events: usize, runs: usize) -> Result<()> {
    use eventscope_core::filter::Filter;
    use eventscope_core::store::Incoming;
    use eventscope_core::view::View;

    eprintln!("filling a store with {events} simulated events ...");
    let live = Live::new(StoreLimits {
        capacity: events.max(1),
        ..StoreLimits::default()
    });
    let dir = tempfile::tempdir()?;
    let ndjson = dir.path().join("events.ndjson");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&ndjson)?);
    {
        let mut store = live.store();
        for (subject, body) in simulated(events) {
            file.write_all(&body)?;
            file.write_all(b"\n")?;
            store.push(Incoming {
                subject: &subject,
                headers: &[],
                body: &body,
                received_ms: 0,
            });
        }
    }
    file.into_inner()?.sync_all()?;
    let store = live.store();
    // The busiest organization of the data, so the org term has many matches to collect.
    let org = store
        .get(store.first_seq())
        .map(|e| e.org().to_string())
        .unwrap_or_default();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let fastest = |f: &mut dyn FnMut() -> Result<usize>| -> Result<(usize, f64)> {
        let mut best = f64::INFINITY;
        let mut n = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            n = f()?;
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok((n, best))
    };
    let (held, scan_ms) = fastest(&mut || {
        Ok(store
            .window(store.first_seq(), store.len() as usize)
            .filter(|e| std::hint::black_box(e.org()).len() == org.len())
            .count())
    })?;
    println!(
        "{} events held, {:.1} MB of raw bytes, {} threads",
        store.len(),
        store.raw_bytes() as f64 / 1e6,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    drop(store);
    println!(
        "{:<48} {:>9} {:>9} {:>8} {:>11} {:>11}",
        "query", "matches", "ms", "x scan", "first page", "complete"
    );
    let row = |query: &str, matches: usize, ms: f64, applied: Option<(f64, f64)>| {
        let (first, complete) = match applied {
            Some((first, complete)) => (format!("{first:.1}"), format!("{complete:.1}")),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{query:<48} {matches:>9} {ms:>9.1} {:>8.2} {first:>11} {complete:>11}",
            ms / scan_ms
        );
    };
    row("(plain scan, touching org())", held, scan_ms, None);
    let queries = [
        format!("org:{org}"),
        "source:flows,tasks".into(),
        "name:task.failed".into(),
        "resourceId:conv_*".into(),
        "-source:conversations".into(),
        "(event:failed OR name:flow.run) source:flows,tasks".into(),
        "payload.status:failed".into(),
        "payload.durationMs>500".into(),
        "has:payload.error".into(),
    ];
    let searches = SEARCHES.iter().map(|(query, _, _)| query.to_string());
    for query in queries.into_iter().chain(searches) {
        let filter = Filter::parse(&query).with_context(|| format!("bench query {query}"))?;
        let mut view = View::new(filter);
        let (matches, ms) = {
            let store = live.store();
            fastest(&mut || {
                view.refilter(&store, now_ms);
                Ok(view.len())
            })?
        };
        row(&query, matches, ms, Some(apply(&live, &query)?));
    }
    // grep reads the file from the page cache after its first run, as the store is in memory.
    for (_, flags, pattern) in SEARCHES {
        let (matches, ms) = fastest(&mut || {
            let out = Command::new("grep")
                .arg("-c")
                .args(flags.split_whitespace())
                .args(["--", pattern])
                .arg(&ndjson)
                .env("LC_ALL", "C.UTF-8")
                .output()
                .context("cannot run grep")?;
            let count = String::from_utf8_lossy(&out.stdout);
            count
                .trim()
                .parse()
                .with_context(|| format!("grep printed {count:?}"))
        })?;
        row(
            &format!("grep -c {flags} '{pattern}' (bodies)"),
            matches,
            ms,
            None,
        );
    }
    Ok(())
}

/// Applies `query` as the app does and returns the milliseconds to the first page and to the
/// complete view (the completing thread's steps and pauses included).
fn apply(live: &std::sync::Arc<Live>, query: &str) -> Result<(f64, f64)> {
    let started = Instant::now();
    live.set_filter(query)?;
    let first = started.elapsed().as_secs_f64() * 1e3;
    while !live.view_info().complete {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((first, started.elapsed().as_secs_f64() * 1e3))
}

/// The mode as the command line spells it.
fn mode_name(mode: Mode) -> String {
    mode.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// Starts one subscriber process, publishes everything as fast as the server takes it, and
/// collects the subscriber's report.
/// Runs one subscriber process of the bench binary `exe` against `messages`.
async fn run_round(
    exe: &std::path::Path,
    url: &str,
    mode: Mode,
    messages: &[(String, Bytes)],
) -> Result<Report> {
    let mut child = Command::new(exe)
        .args(["subscriber", "--mode", &mode_name(mode), "--url", url])
        .args(["--count", &messages.len().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the subscriber process")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    match lines.next() {
        Some(Ok(line)) if line == "ready" => {}
        other => bail!("subscriber did not get ready: {other:?}"),
    }
    let client = async_nats::connect(url).await?;
    for (subject, body) in messages {
        client.publish(subject.clone(), body.clone()).await?;
    }
    client.flush().await?;
    let line = tokio::task::spawn_blocking(move || lines.next())
        .await?
        .context("subscriber printed nothing")??;
    child.wait()?;
    Ok(serde_json::from_str(&line)?)
}

/// The same `events` simulated events (seed 7) for every benchmark: subject and JSON body.
fn simulated(events: usize) -> impl Iterator<Item = (String, Vec<u8>)> {
    let mut sim = Simulator::new(SimConfig {
        seed: 7,
        ..SimConfig::default()
    });
    (0..events).map(move |_| {
        let env = sim.next();
        let subject = env.subject().expect("simulated subjects are valid");
        (
            subject,
            serde_json::to_vec(&env).expect("envelopes serialize"),
        )
    })
}

fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Receives `count` messages (or stops after a quiet spell) and reports what it cost.
async fn subscriber(mode: Mode, url: &str, count: u64) -> Result<Report> {
    let quiet = Duration::from_secs(5);
    let mut held_bytes = 0;
    let (mut recorder_dropped, mut recorded) = (0, 0);
    let (received, cpu0, rss0, started) = match mode {
        Mode::Raw | Mode::Naive => {
            let client = async_nats::ConnectOptions::new()
                .subscription_capacity(SUBSCRIPTION_CAPACITY)
                .connect(url)
                .await?;
            let mut sub = client.subscribe("events.>").await?;
            client.flush().await?;
            let (cpu0, rss0) = ready(&mut std::io::stdout())?;
            let mut kept: Vec<(String, serde_json::Value)> = Vec::new();
            let mut n = 0u64;
            let mut started = None;
            while n < count {
                match tokio::time::timeout(quiet, sub.next()).await {
                    Ok(Some(msg)) => {
                        started.get_or_insert_with(Instant::now);
                        n += 1;
                        if mode == Mode::Naive {
                            let value = serde_json::from_slice(&msg.payload)
                                .unwrap_or(serde_json::Value::Null);
                            kept.push((msg.subject.to_string(), value));
                        }
                    }
                    _ => break,
                }
            }
            std::hint::black_box(&kept);
            (n, cpu0, rss0, started)
        }
        Mode::Ingest
        | Mode::Unshaped
        | Mode::Filtered
        | Mode::FilteredPayload
        | Mode::Notify
        | Mode::Recorded => {
            let live = Live::new(StoreLimits::default());
            let dir = tempfile::tempdir()?;
            if mode == Mode::Recorded {
                let recorder =
                    Recorder::open(dir.path().join("rec.sqlite"), RecorderOptions::default())?;
                live.set_recording(Some(recorder));
            }
            match mode {
                Mode::Unshaped => live.set_shape_index(false),
                Mode::Filtered => drop(live.set_filter(ENVELOPE_QUERY)?),
                Mode::FilteredPayload => drop(live.set_filter(PAYLOAD_QUERY)?),
                Mode::Notify => live.set_notify_rules(Some(std::sync::Arc::new(notify::rules()?))),
                _ => {}
            }
            let profile = ConnectionProfile {
                servers: vec![url.to_string()],
                ..ConnectionProfile::default()
            };
            live.connect(&profile, FirstConnect::FailFast).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (cpu0, rss0) = ready(&mut std::io::stdout())?;
            let mut started = None;
            let mut last = (0, Instant::now());
            let n = loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = live.store().next_seq();
                if n > 0 {
                    started.get_or_insert_with(Instant::now);
                }
                if n >= count || (n == last.0 && last.1.elapsed() > quiet) {
                    break n;
                }
                if n != last.0 {
                    last = (n, Instant::now());
                }
            };
            held_bytes = live.store().footprint() as u64;
            // The writer's work counts: the CPU is read once it has written everything.
            if let Some(recorder) = live.recording() {
                recorder.close();
                let stats = recorder.stats();
                recorder_dropped = stats.dropped;
                recorded = stats.rows;
            }
            (n, cpu0, rss0, started)
        }
    };
    Ok(Report {
        mode,
        received,
        dropped: count - received,
        cpu_secs: cpu_secs() - cpu0,
        wall_secs: started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0),
        rss_growth: rss_bytes().saturating_sub(rss0),
        held_bytes,
        recorder_dropped,
        recorded,
    })
}

fn ready(out: &mut impl Write) -> Result<(f64, u64)> {
    writeln!(out, "ready")?;
    out.flush()?;
    Ok((cpu_secs(), rss_bytes()))
}
