//! `tail`: events from NATS, the gateway or an NDJSON file, filtered, printed as they come.

use std::io::{self, BufRead};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use tokio::sync::watch;

use eventscope_core::filter::{Filter, Sieve};
use eventscope_core::ndjson::{Entry, Lines};
use eventscope_core::source::{FirstConnect, Source};
use eventscope_core::topic::TopicPattern;
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
/// had they come from the bus. A line over `max_line` bytes is one invalid entry.
fn tail_file(path: &str, max_line: usize, mut output: Output) -> Result<()> {
    let (name, input): (&str, Box<dyn BufRead>) = if path == "-" {
        ("stdin", Box::new(io::stdin().lock()))
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
        (path, Box::new(io::BufReader::with_capacity(1 << 16, file)))
    };
    let mut lines = Lines::new(input, max_line);
    while !output.printer.done() {
        let entry = lines
            .next_entry()
            .with_context(|| format!("cannot read {name}"))?;
        match entry {
            None => break,
            Some(Entry::TooLong { line }) => {
                output.printer.print_skipped(line, max_line, Utc::now())?;
            }
            Some(Entry::Event { subject, body, .. }) => {
                output.offer(&subject, &body)?;
            }
        }
    }
    output.printer.flush()
}
