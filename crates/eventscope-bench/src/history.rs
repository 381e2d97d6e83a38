//! `history`: reading one organization's events out of a JetStream stream with Eventscope's
//! history reader beside a bare async-nats ordered consumer on the same subject; `export`:
//! NDJSON, CSV and masked NDJSON of simulated events beside a plain copy of their bytes.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use chrono::{DateTime, Utc};
use eventscope_core::export::{ExportFormat, Exporter, Masking};
use eventscope_core::history::{HistoryQuery, HistoryReader};
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_testkit::NatsServer;
use futures::StreamExt;

/// Organizations the stream's events are spread over; the benchmark reads the first.
const ORGS: usize = 3;
const SUBJECT: &str = "events.org_0.>";

/// One envelope of `org`, about 490 bytes like the simulator's.
fn envelope(i: usize, org: usize) -> (String, Vec<u8>) {
    let subject = format!("events.org_{org}.tasks.task.completed.task_{i}");
    let body = format!(
        r#"{{"id":"ev_{i:012}","organizationId":"org_{org}","source":"tasks","resource":"task","resourceId":"task_{i}","eventName":"completed","timestamp":"2026-01-31T14:00:00.000Z","payload":{{"title":"Follow up with the customer about the renewal","status":"completed","durationMs":{},"owner":{{"id":"u_{}","name":"Ada Lovelace"}},"note":"nothing to add, the task went as planned and the customer was told by mail"}},"metadata":{{"filters":{{}},"tags":["bench"]}}}}"#,
        i % 9000,
        i % 97
    );
    (subject, body.into_bytes())
}

pub async fn history(events: usize, rounds: usize) -> Result<()> {
    let server = NatsServer::start_with_jetstream();
    let client = async_nats::connect(server.url()).await?;
    let js = jetstream::ContextBuilder::new()
        .timeout(eventscope_core::history::API_TIMEOUT)
        .build(client.clone());
    let mut stream = js
        .create_stream(jetstream::stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            ..Default::default()
        })
        .await
        .context("cannot create the stream")?;
    let started = Instant::now();
    // The bare consumer is made through this context, with the same API timeout as the
    // history reader's.
    // Core NATS into the stream's subjects, in steps the stream is let catch up with.
    const STEP: usize = 20_000;
    for from in (0..events).step_by(STEP) {
        for i in from..(from + STEP).min(events) {
            let (subject, body) = envelope(i, i % ORGS);
            client.publish(subject, body.into()).await?;
        }
        client.flush().await?;
        loop {
            let stored = stream.info().await?.state.messages as usize;
            if stored + 2 * STEP > (from + STEP).min(events) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (stream.info().await?.state.messages as usize) < events {
        if Instant::now() > deadline {
            bail!("the stream did not store every event");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected = events.div_ceil(ORGS) as u64;
    println!(
        "stream: {events} events stored in {:.1}s; reading the {expected} of org_0",
        started.elapsed().as_secs_f64()
    );
    let since = DateTime::<Utc>::from_timestamp(0, 0).expect("the epoch");
    let mut bare_rates = Vec::new();
    let mut ours_rates = Vec::new();
    for round in 0..rounds {
        // Alternating which goes first cancels the page cache's favour.
        for ours in [round % 2 == 1, round % 2 == 0] {
            let t = Instant::now();
            let got = if ours {
                let mut reader =
                    HistoryReader::open(client.clone(), HistoryQuery::new(SUBJECT, since)).await?;
                let mut n = 0u64;
                let mut bytes = 0usize;
                while let Some(message) = reader.next().await {
                    bytes += message?.body.len();
                    n += 1;
                }
                std::hint::black_box(bytes);
                n
            } else {
                let consumer = stream
                    .create_consumer(OrderedConfig {
                        filter_subject: SUBJECT.into(),
                        deliver_policy: DeliverPolicy::All,
                        ..OrderedConfig::default()
                    })
                    .await?;
                let mut messages = consumer.messages().await?;
                let mut n = 0u64;
                let mut bytes = 0usize;
                while n < expected {
                    let Some(message) = messages.next().await else {
                        break;
                    };
                    bytes += message?.payload.len();
                    n += 1;
                }
                std::hint::black_box(bytes);
                n
            };
            let secs = t.elapsed().as_secs_f64();
            if got != expected {
                bail!("read {got} events, not {expected}");
            }
            let rate = got as f64 / secs;
            println!(
                "round {round}: {:<28} {got} events in {secs:.2}s = {rate:>9.0} events/s",
                if ours {
                    "eventscope HistoryReader"
                } else {
                    "bare async-nats ordered"
                }
            );
            if ours {
                ours_rates.push(rate);
            } else {
                bare_rates.push(rate);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (bare, ours) = (median(&mut bare_rates), median(&mut ours_rates));
    println!(
        "median: bare {bare:.0}/s, history reader {ours:.0}/s: ratio {:.2} (target >= 0.70)",
        ours / bare
    );
    Ok(())
}

pub fn export(events: usize, rounds: usize) -> Result<()> {
    let mut sim = Simulator::new(SimConfig::default());
    let messages: Vec<(String, Vec<u8>)> = (0..events)
        .map(|_| {
            let env = sim.next();
            (
                env.subject().expect("simulated subjects are valid"),
                serde_json::to_vec(&env).expect("envelopes serialize"),
            )
        })
        .collect();
    let input: usize = messages.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{events} simulated events, {:.0} MB of JSON",
        input as f64 / 1e6
    );
    let mb_s = |secs: f64| input as f64 / 1e6 / secs;
    for round in 0..rounds {
        // Baseline: the same bytes and a newline each, through the same kind of buffer.
        let t = Instant::now();
        let mut out = std::io::BufWriter::with_capacity(1 << 18, std::io::sink());
        for (_, body) in &messages {
            out.write_all(body)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        let copy = t.elapsed().as_secs_f64();
        let mut line = Vec::new();
        for (label, format, mask) in [
            ("ndjson", ExportFormat::Ndjson, None),
            (
                "ndjson masked",
                ExportFormat::Ndjson,
                Some(Masking::default()),
            ),
            ("csv", ExportFormat::Csv, None),
            ("csv masked", ExportFormat::Csv, Some(Masking::default())),
        ] {
            let t = Instant::now();
            let mut exporter = Exporter::new(std::io::sink(), format, mask)?;
            for (subject, body) in &messages {
                exporter.write(subject, body)?;
            }
            let written = exporter.progress().bytes;
            exporter.finish()?;
            let secs = t.elapsed().as_secs_f64();
            line.push(format!(
                "{label} {:.0} MB/s ({:.0} MB out, {:.2}x the copy's time)",
                mb_s(secs),
                written as f64 / 1e6,
                secs / copy
            ));
        }
        println!(
            "round {round}: plain copy {:.0} MB/s; {}",
            mb_s(copy),
            line.join("; ")
        );
    }
    Ok(())
}
