//! `record`: everything received, into a local recording (docs/recording.md), until Ctrl-C or
//! SIGTERM, with a status line on stderr; `record query` prints it back as `tail` would.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use eventscope_core::record::{
    Query, Reader, Recorder, RecorderOptions, RecordingStats, Retention,
};
use eventscope_core::source::{FirstConnect, Source};
use eventscope_core::topic::TopicPattern;
use eventscope_core::wire::{ConnectionProfile, SourceStatus};

use crate::args::{RecordArgs, RecordCommand, RecordQueryArgs};
use crate::print::{cell, Printer};

pub async fn run(args: RecordArgs) -> Result<()> {
    if let Some(RecordCommand::Query(query)) = args.command {
        return query_recording(query);
    }
    let db = args.db.context("--db is required")?;
    for subject in &args.subjects {
        TopicPattern::parse(subject).context("invalid --subject")?;
    }
    let retention = Retention {
        max_bytes: args.max_bytes,
        max_age_secs: args.max_age,
    };
    let recorder = Recorder::open(
        &db,
        RecorderOptions {
            retention,
            ..RecorderOptions::default()
        },
    )?;
    let profile = ConnectionProfile {
        servers: vec![args.server.nats_url.clone()],
        subjects: args.subjects.clone(),
        ..ConnectionProfile::default()
    };
    let (status_tx, mut status) = watch::channel(SourceStatus::disconnected("not connected"));
    let mut source =
        Source::connect(&profile, FirstConnect::FailFast, Arc::default(), status_tx).await?;
    recorder.note_status(&status.borrow_and_update());
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut report = tokio::time::interval(Duration::from_secs(args.status_every.max(1)));
    report.tick().await;
    let mut failed_seen = false;
    let ended = loop {
        tokio::select! {
            batch = source.next_batch() => {
                let Some(batch) = batch else {
                    break Some(format!(
                        "the subscription ended: the connection to {} is closed",
                        args.server.nats_url
                    ));
                };
                recorder.record_batch(&batch, Utc::now().timestamp_millis());
            }
            Ok(()) = status.changed() => recorder.note_status(&status.borrow_and_update()),
            _ = report.tick() => {
                let stats = recorder.stats();
                eprintln!("{}", status_line(&stats));
                // Said once, loudly: the events still arrive, but nothing is kept any more.
                if let (Some(error), false) = (&stats.last_error, failed_seen) {
                    eprintln!("error: recording stopped: {error}");
                    failed_seen = true;
                }
            }
            _ = &mut interrupted => break None,
            _ = terminate.recv() => break None,
        }
    };
    recorder.close();
    let stats = recorder.stats();
    eprintln!("{}", status_line(&stats));
    if let Some(why) = ended {
        bail!("{why}");
    }
    if let Some(error) = stats.last_error {
        bail!("recording stopped: {error}");
    }
    Ok(())
}

/// `recording: 1234 messages, 1.2 MiB, 10:00:01-10:05:00, dropped 0[, queued 3.0 MiB]`.
fn status_line(stats: &RecordingStats) -> String {
    let time = |ms: Option<i64>| {
        ms.and_then(DateTime::from_timestamp_millis)
            .map_or("-".to_string(), |t| {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            })
    };
    let mut line = format!(
        "recording: {} messages, {:.1} MiB, {}..{}, dropped {}",
        stats.rows,
        stats.bytes_on_disk as f64 / (1 << 20) as f64,
        time(stats.oldest_ms),
        time(stats.newest_ms),
        stats.dropped,
    );
    if stats.queued_bytes > 0 {
        line.push_str(&format!(
            ", queued {:.1} MiB",
            stats.queued_bytes as f64 / (1 << 20) as f64
        ));
    }
    if !stats.writing {
        line.push_str(", not writing");
    }
    line
}

/// Messages in receive order on stdout, as `tail` prints them; the gaps of the range on stderr
/// (stdout stays NDJSON that `tail --from-file` reads back).
fn query_recording(args: RecordQueryArgs) -> Result<()> {
    let now = Utc::now();
    let since = match &args.since {
        Some(t) => parse_time(t, now).context("invalid --since")?,
        None => i64::MIN,
    };
    let until = match &args.until {
        Some(t) => parse_time(t, now).context("invalid --until")?,
        None => i64::MAX,
    };
    let reader = Reader::open(&args.db)?;
    for gap in reader.gaps(since, until)? {
        let end = gap.end_ms.map_or("now".to_string(), rfc3339);
        let missed = gap
            .missed
            .map_or(String::new(), |n| format!(" ({n} missed)"));
        eprintln!(
            "gap {}..{end}: {}{missed}",
            rfc3339(gap.start_ms),
            cell(&gap.reason)
        );
    }
    let mut printer = Printer::new(args.json, args.limit);
    let mut query = Query::range(args.org.as_deref(), since, until, 1000);
    'pages: loop {
        let page = reader.query(&query)?;
        let Some(last) = page.last() else { break };
        query.after = Some(last.cursor());
        for message in &page {
            let received = DateTime::from_timestamp_millis(message.received_ms).unwrap_or(now);
            if printer.print(&message.subject, &message.body, received)? {
                break 'pages;
            }
        }
        printer.flush()?;
    }
    printer.flush()
}

fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).map_or(ms.to_string(), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

/// RFC 3339, `now`, or a time relative to now (`-90s`, `-15m`, `-2h`, `-7d`), in ms.
fn parse_time(text: &str, now: DateTime<Utc>) -> Result<i64> {
    let text = text.trim();
    if text == "now" {
        return Ok(now.timestamp_millis());
    }
    if let Some(ago) = text.strip_prefix('-') {
        let secs = crate::args::parse_duration_secs(ago).map_err(anyhow::Error::msg)?;
        return Ok(now.timestamp_millis() - secs as i64 * 1000);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Ok(t.timestamp_millis()),
        Err(_) => bail!("{text:?} is neither RFC 3339 (2026-01-01T14:00:00Z) nor relative (-2h)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<i64, &str>) {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let got = parse_time(text, now).map_err(|e| e.to_string());
        assert_eq!(got.as_ref().map_err(String::as_str).copied(), expected);
    }

    #[test]
    fn times_are_rfc3339_or_relative() {
        check("now", Ok(1_767_312_000_000));
        check("-2h", Ok(1_767_312_000_000 - 7_200_000));
        check("-90s", Ok(1_767_312_000_000 - 90_000));
        check("2026-01-01T10:00:00.5+01:00", Ok(1_767_258_000_500));
        check("-2w", Err("unknown unit \"w\": use s, m, h or d"));
        check(
            "yesterday",
            Err("\"yesterday\" is neither RFC 3339 (2026-01-01T14:00:00Z) nor relative (-2h)"),
        );
    }
}
