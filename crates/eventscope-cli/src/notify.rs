//! `notify`: the notifications events would send by the rules, from the bus or an NDJSON file;
//! `notify explain` (why each rule did or did not notify for one event); `notify rules`.
//!
//! Events are held in a bounded store as they come, as the app holds them, so a rule that reads
//! its recipients from history (a message without participants) finds the conversation's
//! `created` event among the earlier ones.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::sync::watch;

use eventscope_core::ndjson::{Entry, Lines};
use eventscope_core::notify::{self, Held, HistoryIndex, RuleSet};
use eventscope_core::source::{FirstConnect, Source};
use eventscope_core::store::{EventStore, Incoming, StoreLimits};
use eventscope_core::topic::TopicPattern;
use eventscope_core::wire::{ConnectionProfile, SourceStatus};

use crate::args::{NotifyArgs, NotifyCommand, RulesArgs, DEFAULT_MAX_LINE_BYTES};
use crate::failure;

/// Exit code of an invalid rules file.
const INVALID: u8 = 2;
/// What the command holds of the events it reads, for the history lookups.
const HELD: StoreLimits = StoreLimits {
    capacity: 1_000_000,
    max_bytes: 1 << 30,
};

pub async fn run(args: NotifyArgs) -> ExitCode {
    let rules_args = match &args.command {
        Some(NotifyCommand::Explain(a)) => &a.rules,
        Some(NotifyCommand::Rules(a)) => &a.rules,
        None => &args.rules,
    };
    let rules = match load(rules_args) {
        Ok(Ok(rules)) => rules,
        Ok(Err(line)) => {
            eprintln!("error: {line}");
            return ExitCode::from(INVALID);
        }
        Err(err) => return failure::exit_code(Err(err)),
    };
    failure::exit_code(match &args.command {
        Some(NotifyCommand::Rules(a)) => list(&rules, a.json),
        Some(NotifyCommand::Explain(a)) => explain(&rules, &a.from_file, &a.event_id, a.json),
        None => notifications(rules, &args).await,
    })
}

/// The rules, or the line saying why the file is invalid.
fn load(args: &RulesArgs) -> Result<Result<RuleSet, String>> {
    let text = match &args.file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        }
        None => "rules: []".to_string(),
    };
    Ok(RuleSet::parse(&text, !args.no_builtin).map_err(|e| {
        let file = args.file.as_deref().unwrap_or("rules");
        format!("invalid rules file {file}: {e}")
    }))
}

fn list(rules: &RuleSet, json: bool) -> Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for rule in rules.rules() {
        if json {
            serde_json::to_writer(&mut out, rule)?;
            writeln!(out)?;
        } else {
            let channels: Vec<&str> = rule.channels.iter().map(|c| c.as_str()).collect();
            let kind = if rule.builtin {
                " (built-in)"
            } else if rule.overrides_builtin {
                " (overrides the built-in)"
            } else {
                ""
            };
            let off = if rule.enabled { "" } else { " [disabled]" };
            writeln!(
                out,
                "{}  {}  {}  {}  {}{kind}{off}",
                rule.id,
                rule.event,
                rule.priority.as_str(),
                channels.join(","),
                rule.name
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Events held as they are read, and the index of the events rules read history from.
struct Holder {
    store: EventStore,
    index: HistoryIndex,
}

impl Holder {
    fn new(rules: &RuleSet) -> Holder {
        Holder {
            store: EventStore::new(HELD),
            index: HistoryIndex::new(rules),
        }
    }

    fn push(&mut self, subject: &str, body: &[u8]) -> u64 {
        self.store.push(Incoming {
            subject,
            headers: &[],
            body,
            received_ms: chrono::Utc::now().timestamp_millis(),
        })
    }

    /// Notes a held event for later lookups (after it was evaluated: an event is never its own
    /// history).
    fn note(&mut self, seq: u64) {
        if let Some(ev) = self.store.get(seq) {
            self.index.note(&self.store, &ev);
        }
    }
}

/// Prints the notifications of each event.
struct Output {
    rules: RuleSet,
    holder: Holder,
    json: bool,
    left: Option<u64>,
    out: io::BufWriter<io::Stdout>,
}

impl Output {
    /// Evaluates one message; true once `--count` notifications are printed.
    fn offer(&mut self, subject: &str, body: &[u8]) -> Result<bool> {
        let seq = self.holder.push(subject, body);
        let now = chrono::Utc::now().timestamp_millis();
        if let Some(ev) = self.holder.store.get(seq) {
            let held = Held::indexed(&self.holder.store, &self.holder.index);
            for n in notify::notifications(&self.rules, &ev, &held, now) {
                if self.left == Some(0) {
                    break;
                }
                if self.json {
                    serde_json::to_writer(&mut self.out, &n)?;
                    writeln!(self.out)?;
                } else {
                    writeln!(
                        self.out,
                        "{}  {}  {}  {}  {}: {} | {}",
                        n.event_id,
                        n.rule,
                        n.priority.as_str(),
                        n.channel.as_str(),
                        n.recipient,
                        one_line(&n.title),
                        one_line(&n.body)
                    )?;
                }
                if let Some(left) = &mut self.left {
                    *left -= 1;
                }
            }
        }
        self.holder.note(seq);
        Ok(self.left == Some(0))
    }
}

fn one_line(text: &str) -> String {
    notify::channel::truncate(&text.replace(['\n', '\r'], " "), 200)
}

async fn notifications(rules: RuleSet, args: &NotifyArgs) -> Result<()> {
    let mut output = Output {
        holder: Holder::new(&rules),
        rules,
        json: args.json,
        left: args.count,
        out: io::BufWriter::new(io::stdout()),
    };
    if output.left == Some(0) {
        return Ok(());
    }
    if let Some(path) = &args.from_file {
        read_file(path, &mut |subject, body| output.offer(subject, body))?;
        output.out.flush()?;
        return Ok(());
    }
    for subject in &args.subjects {
        TopicPattern::parse(subject).context("invalid --subject")?;
    }
    let profile = ConnectionProfile {
        servers: vec![args.server.nats_url.clone()],
        subjects: args.subjects.clone(),
        ..ConnectionProfile::default()
    };
    let (status_tx, _status) = watch::channel(SourceStatus::disconnected("not connected"));
    let mut source =
        Source::connect(&profile, FirstConnect::FailFast, Arc::default(), status_tx).await?;
    let deadline = args
        .duration
        .map(|secs| {
            Duration::try_from_secs_f64(secs)
                .map_err(|_| anyhow::anyhow!("invalid --duration {secs}: expected seconds"))
        })
        .transpose()?
        .map(|d| tokio::time::Instant::now() + d);
    loop {
        let batch = match deadline {
            Some(at) => tokio::select! {
                batch = source.next_batch() => batch,
                _ = tokio::time::sleep_until(at) => break,
            },
            None => source.next_batch().await,
        };
        let Some(batch) = batch else {
            bail!(
                "the subscription ended: the connection to {} is closed",
                args.server.nats_url
            );
        };
        let mut result = Ok(false);
        batch.for_each(|subject, _headers, body| {
            result = output.offer(subject, body);
            matches!(result, Ok(false))
        });
        let done = result?;
        output.out.flush()?;
        if done {
            break;
        }
    }
    output.out.flush()?;
    Ok(())
}

/// Calls `each` with the subject and body of every line of an NDJSON file until it says stop.
/// A line over the bound is reported on stderr and skipped unread.
fn read_file(path: &str, each: &mut dyn FnMut(&str, &[u8]) -> Result<bool>) -> Result<()> {
    let (name, input): (&str, Box<dyn BufRead>) = if path == "-" {
        ("stdin", Box::new(io::stdin().lock()))
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
        (path, Box::new(io::BufReader::with_capacity(1 << 16, file)))
    };
    let max = DEFAULT_MAX_LINE_BYTES;
    let mut lines = Lines::new(input, max);
    loop {
        match lines
            .next_entry()
            .with_context(|| format!("cannot read {name}"))?
        {
            None => return Ok(()),
            Some(Entry::TooLong { line }) => {
                eprintln!("warning: {name}:{line}: the line is over {max} bytes, skipped");
            }
            Some(Entry::Event { subject, body, .. }) => {
                if each(&subject, &body)? {
                    return Ok(());
                }
            }
        }
    }
}

/// One rule's outcome as `notify explain --json` prints it.
#[derive(Serialize)]
struct Explained<'a> {
    rule: &'a str,
    matched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

fn explain(rules: &RuleSet, path: &str, event_id: &str, json: bool) -> Result<()> {
    let mut holder = Holder::new(rules);
    let mut found = None;
    read_file(path, &mut |subject, body| {
        let seq = holder.push(subject, body);
        if holder.store.get(seq).is_some_and(|e| e.id() == event_id) {
            found = Some(seq);
            return Ok(true);
        }
        holder.note(seq);
        Ok(false)
    })?;
    let Some(seq) = found else {
        bail!("no event with id {event_id:?} in {path}");
    };
    let ev = holder.store.get(seq).context("the event was evicted")?;
    let now = chrono::Utc::now().timestamp_millis();
    let held = Held::indexed(&holder.store, &holder.index);
    let mut out = io::BufWriter::new(io::stdout().lock());
    for o in notify::explain(rules, &ev, &held, now) {
        if json {
            let line = Explained {
                rule: &o.rule,
                matched: o.matched,
                reason: o.reason.as_ref().map(|r| r.kind()),
                detail: (!o.matched).then_some(o.detail.as_str()),
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else if o.matched {
            let channels: Vec<&str> = o.messages.iter().map(|m| m.channel.as_str()).collect();
            writeln!(
                out,
                "{}: matched: {} by {} (recipients from {})",
                o.rule,
                o.recipients.join(", "),
                channels.join(", "),
                o.source.map(|s| s.to_string()).unwrap_or_default()
            )?;
        } else {
            let kind = o.reason.as_ref().map(|r| r.kind()).unwrap_or_default();
            writeln!(out, "{}: {kind}: {}", o.rule, o.detail)?;
        }
    }
    out.flush()?;
    Ok(())
}
