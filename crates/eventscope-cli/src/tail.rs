//! `tail`: events from NATS, the gateway or an NDJSON file, filtered, printed as they come.

use std::io::{self, BufRead};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use base64::Engine;
use chrono::Utc;
use tokio::sync::watch;

use eventscope_core::event::{self, Metadata};
use eventscope_core::filter::{Filter, Sieve};
use eventscope_core::source::{FirstConnect, Source};
use eventscope_core::topic::{self, TopicPattern};
use eventscope_core::wire::{ConnectionProfile, GatewayTarget, SourceStatus};

use crate::args::TailArgs;
use crate::print::Printer;

pub async fn run(args: TailArgs) -> Result<()> {
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let sieve = filter.map(Sieve::new);
    if let Some(path) = &args.from_file {
        return tail_file(path, args.max_line_bytes, Output::new(&args, sieve));
    }
    let mut subjects = args.subjects.clone();
    // Only the default subscription is narrowed: it holds every event the filter can match,
    // and so does the narrowed one.
    if let Some(sieve) = &sieve {
        if subjects == [DEFAULT_SUBJECT] {
            subjects = sieve.filter().subjects();
            if subjects.is_empty() {
                bail!("the filter can match no subject; give --subject to subscribe anyway");
            }
        }
    }
    for subject in &subjects {
        TopicPattern::parse(subject).context("invalid --subject")?;
    }
    let (profile, ended) = match &args.gateway {
        Some(url) => (
            ConnectionProfile {
                subjects,
                gateway: Some(GatewayTarget {
                    url: url.clone(),
                    token: gateway_token(args.token_env.as_deref().unwrap_or_default())?,
                }),
                ..ConnectionProfile::default()
            },
            format!("the connection to the gateway {url} ended"),
        ),
        None => (
            ConnectionProfile {
                servers: vec![args.server.nats_url.clone()],
                subjects,
                ..ConnectionProfile::default()
            },
            format!(
                "the subscription ended: the connection to {} is closed",
                args.server.nats_url
            ),
        ),
    };
    let (status_tx, mut status) = watch::channel(SourceStatus::disconnected("not connected"));
    let mut source =
        Source::connect(&profile, FirstConnect::FailFast, Arc::default(), status_tx).await?;
    let mut output = Output::new(&args, sieve);
    while !output.printer.done() {
        let batch = tokio::select! {
            batch = source.next_batch() => batch,
            changed = status.changed() => {
                // A topic the gateway refuses ends the command with the gateway's words.
                let ending = changed.ok().and_then(|()| gateway_ending(&status.borrow_and_update()));
                if let Some(ending) = ending {
                    bail!("{ending}");
                }
                continue;
            }
        };
        let Some(batch) = batch else {
            // The source may stop (an expired token) before its last status is seen above.
            if let Some(ending) = gateway_ending(&status.borrow()) {
                bail!("{ending}");
            }
            bail!("{ended}")
        };
        // Everything that had arrived goes out in one write and one flush.
        let mut printed = Ok(());
        batch.for_each(
            |subject, _headers, body| match output.offer(subject, body) {
                Ok(done) => !done,
                Err(e) => {
                    printed = Err(e);
                    false
                }
            },
        );
        printed?;
        output.printer.flush()?;
    }
    Ok(())
}

/// What ends `tail` in the gateway's words: a refused topic, or the token running out (the
/// gateway closes with 4001 right after `token_expired`: not a refusal).
fn gateway_ending(status: &SourceStatus) -> Option<String> {
    let error = status.gateway.as_ref()?.errors.first()?;
    Some(match error.strip_prefix("token_expired: ") {
        Some(expired) => format!("the gateway closed the connection: {expired}"),
        None => format!("the gateway refused {error}"),
    })
}

/// The gateway token from the environment variable `--token-env` names (never an argument: it
/// would show in `ps`).
pub fn gateway_token(var: &str) -> Result<String> {
    std::env::var(var)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .with_context(|| format!("no gateway token: the environment variable {var} is not set"))
}

/// What `tail` subscribes to unless told otherwise.
const DEFAULT_SUBJECT: &str = "events.>";

/// What `tail` prints: the events its filter keeps (all without one), up to `--count`.
struct Output {
    sieve: Option<Sieve>,
    printer: Printer,
}

impl Output {
    fn new(args: &TailArgs, sieve: Option<Sieve>) -> Output {
        Output {
            sieve,
            printer: Printer::new(args.json, args.count),
        }
    }

    /// Prints the event if the filter keeps it; true once `--count` events are printed.
    fn offer(&mut self, subject: &str, body: &[u8]) -> Result<bool> {
        let now = Utc::now();
        if self
            .sieve
            .as_mut()
            .is_none_or(|s| s.keeps(subject, body, now.timestamp_millis()))
        {
            self.printer.print(subject, body, now)?;
        }
        Ok(self.printer.done())
    }
}

/// `tail --from-file`: the events of an NDJSON file, in file order, as `tail` would print them
/// had they come from the bus. A line longer than `max_line` bytes is one invalid entry: it is
/// reported as soon as it passes the bound and the rest of it is skipped unread into memory, so
/// memory stays bounded whatever the input (a 200 MB line, `/dev/zero`).
fn tail_file(path: &str, max_line: usize, mut output: Output) -> Result<()> {
    let (name, mut input): (&str, Box<dyn BufRead>) = if path == "-" {
        ("stdin", Box::new(io::stdin().lock()))
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
        (path, Box::new(io::BufReader::with_capacity(1 << 16, file)))
    };
    let mut raw = Vec::with_capacity(1024);
    let mut number: u64 = 0;
    while !output.printer.done() {
        number += 1;
        let line = next_line(&mut *input, &mut raw, max_line)
            .with_context(|| format!("cannot read {name}"))?;
        match line {
            Line::End => break,
            Line::Whole => {}
            Line::TooLong { rest } => {
                output.printer.print_skipped(number, max_line, Utc::now())?;
                if output.printer.done() {
                    break;
                }
                if rest {
                    skip_line(&mut *input).with_context(|| format!("cannot read {name}"))?;
                }
                continue;
            }
        }
        while raw.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            raw.pop();
        }
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (subject, body) = file_event(&raw);
        output.offer(&subject, &body)?;
    }
    output.printer.flush()
}

/// What [`next_line`] found.
enum Line {
    /// No more input.
    End,
    /// A line of at most the bound, in the buffer.
    Whole,
    /// A line over the bound: the buffer holds part of it; `rest` when the rest of it is still
    /// to be skipped.
    TooLong { rest: bool },
}

/// Reads one line (with its `\n`, if any) into `raw`, holding at most `max` bytes of it plus
/// the line end: a longer line stops the read at the bound.
fn next_line(input: &mut dyn BufRead, raw: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    raw.clear();
    // A `\r\n` ending is not part of the line's length.
    let bound = max.saturating_add(2);
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(if raw.is_empty() {
                Line::End
            } else {
                Line::Whole
            });
        }
        let (taken, ends) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if raw.len() + taken > bound {
            let fits = bound - raw.len();
            raw.extend_from_slice(&chunk[..fits]);
            input.consume(fits);
            return Ok(Line::TooLong { rest: true });
        }
        raw.extend_from_slice(&chunk[..taken]);
        input.consume(taken);
        if ends {
            return Ok(line_over(raw, max));
        }
    }
}

/// Whether the line in `raw`, read through its end, is over `max` bytes without that end.
fn line_over(raw: &[u8], max: usize) -> Line {
    let mut len = raw.len();
    if raw.ends_with(b"\r\n") {
        len -= 2;
    } else if raw.ends_with(b"\n") {
        len -= 1;
    }
    if len > max {
        Line::TooLong { rest: false }
    } else {
        Line::Whole
    }
}

/// Skips the rest of the current line, through its `\n` or to the end of the input, a buffer
/// at a time.
fn skip_line(input: &mut dyn BufRead) -> io::Result<()> {
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                input.consume(n);
            }
        }
    }
}

/// The subject and body of one line of a file: an envelope goes on the subject it would be
/// published on; a `tail --json` line for an invalid message gives back its subject and bytes;
/// anything else is a body without a subject.
fn file_event(line: &[u8]) -> (String, Vec<u8>) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Invalid {
        subject: String,
        body_base64: String,
        #[allow(dead_code)] // read back only to recognise the line
        error: Option<String>,
    }
    let decoded = event::decode(line);
    let envelope_subject = || {
        let metadata: Metadata = match decoded.metadata {
            Some(text) => serde_json::from_str(text).ok()?,
            None => Metadata::default(),
        };
        let spec = topic::SubjectSpec {
            org: decoded.organization_id.as_deref()?,
            source: decoded.source.as_deref()?,
            resource: decoded.resource.as_deref()?,
            event: decoded.event_name.as_deref()?,
            resource_id: decoded.resource_id.as_deref()?,
        };
        let filters = metadata
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        topic::build(spec, filters).ok()
    };
    if let Some(subject) = envelope_subject() {
        return (subject, line.to_vec());
    }
    if let Ok(invalid) = serde_json::from_slice::<Invalid>(line) {
        if let Ok(body) = base64::engine::general_purpose::STANDARD.decode(&invalid.body_base64) {
            return (invalid.subject, body);
        }
    }
    (String::new(), line.to_vec())
}
