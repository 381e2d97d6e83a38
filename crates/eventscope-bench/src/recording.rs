//! The local recording's benchmarks: what recording adds to ingest at the bus rate (beside
//! ingest alone, in one run), and the timeline's query over a recording of ten million events.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use eventscope_core::record::{Query, Reader, Recorder, RecorderOptions, Retention};
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::{GatewayMessage, MessageBatch};
use rusqlite::params;

use crate::{print_row, run_round, runtime, simulated, Mode};

pub fn record(events: usize, rounds: usize) -> Result<()> {
    let this = std::env::current_exe()?;
    let server = eventscope_testkit::NatsServer::start();
    let url = server.url();
    eprintln!("generating {events} events ...");
    let messages: Vec<(String, Bytes)> = simulated(events)
        .map(|(subject, body)| (subject, Bytes::from(body)))
        .collect();
    let raw_bytes: usize = messages.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{events} events, {:.0} bytes on average, published as fast as the server takes them",
        raw_bytes as f64 / events as f64
    );
    println!(
        "{:>5}  {:<16} {:>9} {:>13} {:>9} {:>10} {:>8} {:>8} {:>13} {:>14} {:>9} {:>9}",
        "round",
        "mode",
        "received",
        "dropped",
        "cpu s",
        "cpu s/1M",
        "x raw",
        "wall s",
        "rss/JSON",
        "store/JSON",
        "recorded",
        "rec drop"
    );
    let rt = runtime()?;
    let mut extra: Vec<f64> = Vec::new();
    let mut ratio: Vec<f64> = Vec::new();
    let mut view_dropped = 0;
    for round in 1..=rounds {
        let mut order = [Mode::Ingest, Mode::Recorded];
        if round % 2 == 0 {
            order.reverse();
        }
        let mut per_million = [0.0; 2];
        for mode in order {
            let report = rt.block_on(run_round(&this, &url, mode, &messages))?;
            let cpu = report.cpu_secs * 1e6 / events as f64;
            per_million[(mode == Mode::Recorded) as usize] = cpu;
            view_dropped += report.dropped;
            print_row(
                round,
                &crate::mode_name(mode),
                &report,
                cpu,
                None,
                raw_bytes,
            );
            if mode == Mode::Recorded {
                println!(
                    "{:>5}  {:<16} recorded {} of {}, the recorder dropped {}",
                    "", "", report.recorded, report.received, report.recorder_dropped
                );
            }
        }
        extra.push(per_million[1] - per_million[0]);
        ratio.push(per_million[1] / per_million[0]);
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "recording's extra CPU: median {:.2} CPU-s per million events (each round: {extra:.2?}); \
         Recorded/Ingest CPU ratio median {:.2} (each round: {ratio:.2?}); dropped from the view: {view_dropped}",
        median(&extra),
        median(&ratio)
    );
    Ok(())
}

pub fn timeline_query(events: usize, orgs: usize, page: usize, db: Option<PathBuf>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = db.unwrap_or_else(|| dir.path().join("timeline.sqlite"));
    let hour = 3_600_000i64;
    // The recording's 48 h end now.
    let end = chrono::Utc::now().timestamp_millis();
    let start = end - 48 * hour;
    if path.exists() {
        println!("reusing {}", path.display());
    } else {
        fill(&path, events, orgs, start, end)?;
    }
    let rows: i64 = rusqlite::Connection::open(&path)?.query_row(
        "SELECT coalesce(sum(count), 0) FROM blocks",
        [],
        |r| r.get(0),
    )?;
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "{rows} events over 48 h, {orgs} organizations, {:.2} GB on disk",
        bytes as f64 / 1e9
    );
    // The file was just written: what it reads is in the page cache. A cold read needs the
    // cache dropped (root only); both are shown when it can be.
    let cold = std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    // One organization from the middle of the sorted list.
    let org = {
        let orgs = Reader::open(&path)?.orgs()?;
        orgs[orgs.len() / 2].clone()
    };
    let org = org.as_str();
    let (since, until) = (end - 24 * hour, end + 1);
    let time = |what: &str, run: &dyn Fn(&Reader) -> Result<usize>| -> Result<()> {
        let opened = Instant::now();
        let reader = Reader::open(&path)?;
        let started = Instant::now();
        let n = run(&reader)?;
        println!(
            "{what:<58} {n:>7} rows {:>9.1} ms (+{:.1} ms to open)",
            started.elapsed().as_secs_f64() * 1e3,
            started.duration_since(opened).as_secs_f64() * 1e3
        );
        Ok(())
    };
    let first_page = |newest_first: bool| {
        move |reader: &Reader| -> Result<usize> {
            let mut query = Query::range(Some(org), since, until, page);
            query.newest_first = newest_first;
            Ok(reader.query(&query)?.len())
        }
    };
    if cold {
        time(
            &format!("{org}'s last 24 h, first {page}, newest first (cold cache)"),
            &first_page(true),
        )?;
    }
    for round in 1..=3 {
        time(
            &format!("{org}'s last 24 h, first {page}, newest first (run {round})"),
            &first_page(true),
        )?;
    }
    time(
        &format!("{org}'s last 24 h, first {page}, oldest first"),
        &first_page(false),
    )?;
    time(
        &format!("{org}'s last 24 h, page 50 of {page} by cursor (all 50)"),
        &|reader| {
            let mut query = Query::range(Some(org), since, until, page);
            let mut n = 0;
            for _ in 0..50 {
                let got = reader.query(&query)?;
                let Some(last) = got.last() else { break };
                query.after = Some(last.cursor());
                n += got.len();
            }
            Ok(n)
        },
    )?;
    time("every org's last 24 h, first page", &|reader| {
        Ok(reader.query(&Query::range(None, since, until, page))?.len())
    })?;
    time("the organizations (orgs())", &|reader| {
        Ok(reader.orgs()?.len())
    })?;
    time("gaps of the last 24 h", &|reader| {
        Ok(reader.gaps(since, until)?.len())
    })?;
    // For scale: what the index saves, the same question without it.
    time(
        &format!("{org}'s last 24 h, first {page}, newest first, NOT INDEXED (baseline)"),
        &|_| {
            let conn = rusqlite::Connection::open(&path)?;
            let mut stmt = conn.prepare(
                "SELECT id, data FROM blocks NOT INDEXED
                 WHERE org = ?1 AND first_ms >= ?2 AND first_ms < ?3
                 ORDER BY first_ms DESC, id DESC LIMIT ?4",
            )?;
            let n = stmt
                .query_map(params![org, since, until, page as i64], |_| Ok(()))?
                .count();
            Ok(n)
        },
    )?;
    Ok(())
}

/// Writes `events` simulated events over `start..end` into a new recording through the
/// recorder, a second of receive time per batch, waiting for the writer whenever its queue is
/// half full (nothing is dropped).
fn fill(path: &PathBuf, events: usize, orgs: usize, start: i64, end: i64) -> Result<()> {
    let queue_bytes = 256 << 20;
    let recorder = Recorder::open(
        path,
        RecorderOptions {
            retention: Retention {
                max_bytes: u64::MAX / 2,
                max_age_secs: 30 * 24 * 3600,
            },
            queue_bytes,
            ..RecorderOptions::default()
        },
    )?;
    // Distinct events to cycle through: their content does not change what the query costs.
    let mut sim = Simulator::new(SimConfig {
        seed: 7,
        orgs,
        ..SimConfig::default()
    });
    let distinct: Vec<(String, Vec<u8>)> = (0..200_000.min(events))
        .map(|_| {
            let env = sim.next();
            let subject = env.subject().expect("simulated subjects are valid");
            let body = serde_json::to_vec(&env).expect("envelopes serialize");
            (subject, body)
        })
        .collect();
    let started = Instant::now();
    let step = (end - start) as f64 / events as f64;
    let mut done = 0;
    let mut batch = Vec::new();
    let mut second = start;
    let hand_over = |batch: &mut Vec<GatewayMessage>, at: i64| -> Result<()> {
        let messages = MessageBatch::Gateway(std::mem::take(batch));
        if recorder.stats().queued_bytes as usize > queue_bytes / 2 {
            recorder.flush();
        }
        anyhow::ensure!(
            recorder.record_batch(&messages, at),
            "the recorder dropped a batch: {:?}",
            recorder.stats()
        );
        Ok(())
    };
    while done < events {
        let at = start + (done as f64 * step) as i64;
        if at >= second + 1000 && !batch.is_empty() {
            hand_over(&mut batch, second)?;
            second = at;
        }
        let (subject, body) = &distinct[done % distinct.len()];
        batch.push(GatewayMessage {
            subject: subject.clone(),
            body: body.clone(),
        });
        done += 1;
        if done % 200_000 == 0 {
            eprint!(
                "\rfilled {done} of {events} ({:.0} events/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    hand_over(&mut batch, second)?;
    recorder.close();
    eprintln!();
    Ok(())
}
