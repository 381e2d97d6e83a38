//! `eventscope-cli`: tail, publish and simulate platform events from a terminal or a script.
//!
//! Its flags and output formats are a contract that scripts rely on: change them only in ways
//! that keep old invocations working. Every failure ends with one line on stderr,
//! `error: <what failed>: <cause>`, and a non-zero exit code.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand};
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use serde_json::value::RawValue;

use eventscope_core::event::{self, Envelope, Metadata};
use eventscope_core::filter::Filter;
use eventscope_core::simulate::{self, Limit, Pace, SimConfig, Simulator};
use eventscope_core::store::{EventStore, Incoming, StoreLimits};
use eventscope_core::topic::{self, TopicPattern};
use eventscope_core::wire::ConnectionProfile;
use eventscope_core::DEFAULT_NATS_URL;

/// How long the server may take to confirm that it has everything a command published.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(
    name = "eventscope-cli",
    version,
    about = "Watch and inject the platform's NATS events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print events as they arrive, one line each
    Tail(TailArgs),
    /// Publish envelopes from a file, from stdin, or built from flags
    Publish(PublishArgs),
    /// Publish simulated platform traffic
    Simulate(SimulateArgs),
}

#[derive(Args)]
struct Server {
    /// NATS server URL
    #[arg(long, value_name = "URL", env = "EVENTSCOPE_NATS_URL", default_value = DEFAULT_NATS_URL)]
    nats_url: String,
}

#[derive(Args)]
struct TailArgs {
    #[command(flatten)]
    server: Server,
    /// Subject pattern to subscribe to; repeat for several
    #[arg(long = "subject", value_name = "PATTERN", default_value = "events.>")]
    subjects: Vec<String>,
    /// Exit after this many messages
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Print each message as one JSON object per line
    #[arg(long)]
    json: bool,
    /// Print only the events matching this query (docs/filter.md); on the bus, subscribe to
    /// the subjects it implies unless --subject is given
    #[arg(long, value_name = "QUERY")]
    filter: Option<String>,
    /// Read events from an NDJSON file (one envelope per line, as `tail --json` writes them)
    /// instead of the bus; `-` reads stdin
    #[arg(long, value_name = "PATH", conflicts_with = "subjects")]
    from_file: Option<String>,
    /// Watch through the platform's WebSocket gateway at this URL (ws:// or wss://) instead of
    /// NATS; --subject gives the topics
    #[arg(
        long,
        value_name = "URL",
        requires = "token_env",
        conflicts_with = "from_file"
    )]
    gateway: Option<String>,
    /// Environment variable that holds the gateway token
    #[arg(long, value_name = "VAR", requires = "gateway")]
    token_env: Option<String>,
}

const FLAG_FIELDS: [&str; 8] = [
    "org",
    "source",
    "resource",
    "event",
    "resource_id",
    "payload",
    "filters",
    "tags",
];

#[derive(Args)]
struct PublishArgs {
    #[command(flatten)]
    server: Server,
    /// Envelopes to publish: one JSON object (may span lines) or NDJSON; `-` reads stdin
    #[arg(long, value_name = "PATH", conflicts_with_all = FLAG_FIELDS)]
    file: Option<String>,
    /// Same as --file
    #[arg(value_name = "PATH", conflicts_with_all = FLAG_FIELDS, conflicts_with = "file")]
    path: Option<String>,
    /// organizationId of the event to build
    #[arg(long, value_name = "ORG", required_unless_present_any = ["file", "path"])]
    org: Option<String>,
    /// source (producing service) of the event to build
    #[arg(long, required_unless_present_any = ["file", "path"])]
    source: Option<String>,
    /// resource type of the event to build
    #[arg(long, required_unless_present_any = ["file", "path"])]
    resource: Option<String>,
    /// eventName of the event to build
    #[arg(long, value_name = "NAME", required_unless_present_any = ["file", "path"])]
    event: Option<String>,
    /// resourceId of the event to build
    #[arg(long, value_name = "ID", required_unless_present_any = ["file", "path"])]
    resource_id: Option<String>,
    /// payload of the event to build (default {})
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
    /// metadata filter of the event to build; repeat for several, in subject order
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// metadata tag of the event to build; repeat for several
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Args)]
struct SimulateArgs {
    #[command(flatten)]
    server: Server,
    /// Events per second; 0 publishes as fast as the server takes them
    #[arg(
        long,
        value_name = "PER_SEC",
        default_value_t = 100.0,
        allow_negative_numbers = true
    )]
    rate: f64,
    /// Stop after this many events (default: run until interrupted)
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    count: Option<u64>,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Number of simulated organizations
    #[arg(long, value_name = "N", default_value_t = 8)]
    orgs: usize,
    /// Seed of the simulation, to replay the same events (default: random, printed at the end)
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let result = match cli.command {
        Command::Tail(args) => tail(args).await,
        Command::Publish(args) => publish(args).await,
        Command::Simulate(args) => simulate(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Piped into `head`: the reader has what it wanted.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// Help and version as clap prints them; a usage error as one line, like every other failure,
/// with clap's exit code for usage errors.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let rendered = err.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("error: invalid arguments")
        .to_string();
    let rest: Vec<&str> = lines.collect();
    let line = if rest.is_empty() {
        first
    } else {
        format!("{first} {}", rest.join(", "))
    };
    eprintln!("{line} (see --help)");
    ExitCode::from(2)
}

/// The one place the CLI connects to NATS: fails fast (no retry of the first connection).
async fn connect(url: &str) -> Result<async_nats::Client> {
    let profile = ConnectionProfile {
        servers: vec![url.to_string()],
        ..ConnectionProfile::default()
    };
    Ok(eventscope_core::source::connect_client(&profile).await?)
}

/// Returns once the server has processed everything this client sent.
///
/// A flush only hands the bytes to the socket: after the process exits, the server may read
/// them after messages that others publish later, or lose them when the socket closes with a
/// reset. A message to the client's own inbox comes back only once the server has routed
/// everything sent before it.
async fn settle(client: &async_nats::Client) -> Result<()> {
    let what = "cannot confirm that the server received everything";
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.context(what)?;
    client
        .publish(inbox, Vec::new().into())
        .await
        .context(what)?;
    client.flush().await.context(what)?;
    match tokio::time::timeout(SETTLE_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => bail!("{what}: the connection closed"),
        Err(_) => bail!("{what}: no answer within {SETTLE_TIMEOUT:?}"),
    }
}

/// The error chain as one line. Some errors repeat their cause in their own message; the
/// repetition is dropped.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

async fn tail(args: TailArgs) -> Result<()> {
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let sieve = filter.map(Sieve::new);
    if let Some(path) = &args.from_file {
        return tail_file(path, Printer::new(&args, sieve));
    }
    let mut subjects = args.subjects.clone();
    // Only the default subscription is narrowed: it holds every event the filter can match,
    // and so does the narrowed one.
    if let Some(sieve) = &sieve {
        if subjects == [DEFAULT_SUBJECT] {
            subjects = sieve.filter.subjects();
            if subjects.is_empty() {
                bail!("the filter can match no subject; give --subject to subscribe anyway");
            }
        }
    }
    let patterns = subjects
        .iter()
        .map(|s| TopicPattern::parse(s).context("invalid --subject"))
        .collect::<Result<Vec<_>>>()?;
    let mut printer = Printer::new(&args, sieve);
    if let Some(url) = &args.gateway {
        return tail_gateway(url, &patterns, &args, printer).await;
    }
    let client = connect(&args.server.nats_url).await?;
    let mut subscriptions = Vec::with_capacity(patterns.len());
    for (index, pattern) in patterns.iter().enumerate() {
        let subscription = client
            .subscribe(pattern.as_str().to_string())
            .await
            .with_context(|| format!("cannot subscribe to {pattern}"))?;
        subscriptions.push(subscription.map(move |m| (index, m)).boxed());
    }
    let mut messages = futures::stream::select_all(subscriptions);
    // Overlapping patterns (`events.org_1.>`, `events.*.apps.>`) both deliver a message that
    // matches both: it is printed once, from the first pattern that selects it.
    let duplicate =
        |index: usize, subject: &str| patterns[..index].iter().any(|p| p.matches(subject));
    while !printer.done() {
        let Some((mut index, mut message)) = messages.next().await else {
            bail!(
                "the subscription ended: the connection to {} is closed",
                args.server.nats_url
            );
        };
        // Whatever else has already arrived goes out with it in one write and one flush.
        loop {
            if !duplicate(index, message.subject.as_str())
                && printer.print(message.subject.as_str(), &message.payload)?
            {
                break;
            }
            match messages.next().now_or_never() {
                Some(Some((i, next))) => (index, message) = (i, next),
                Some(None) | None => break,
            }
        }
        printer.flush()?;
    }
    Ok(())
}

/// `tail --gateway`: the same lines as from NATS, through the WebSocket gateway. A topic the
/// gateway refuses ends the command with the gateway's words.
async fn tail_gateway(
    url: &str,
    patterns: &[TopicPattern],
    args: &TailArgs,
    mut printer: Printer,
) -> Result<()> {
    use eventscope_core::gateway::client::GatewaySource;
    use eventscope_core::source::{Initial, SourceCounters};
    use eventscope_core::wire::{ConnectionState, GatewayTarget, SourceStatus};

    let var = args.token_env.as_deref().unwrap_or_default();
    let token = std::env::var(var)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .with_context(|| format!("no gateway token: the environment variable {var} is not set"))?;
    let profile = ConnectionProfile {
        subjects: patterns.iter().map(|p| p.to_string()).collect(),
        gateway: Some(GatewayTarget {
            url: url.to_string(),
            token,
        }),
        ..ConnectionProfile::default()
    };
    let (status_tx, mut status) = tokio::sync::watch::channel(SourceStatus {
        state: ConnectionState::Connecting,
        server: url.to_string(),
        subjects: Vec::new(),
        reason: None,
        reconnects: 0,
        gateway: None,
    });
    let mut source = GatewaySource::connect(
        &profile,
        Initial::FailFast,
        std::sync::Arc::new(SourceCounters::default()),
        status_tx,
    )
    .await?;
    while !printer.done() {
        let batch = tokio::select! {
            batch = source.next_batch() => batch,
            changed = status.changed() => {
                if changed.is_err() {
                    continue;
                }
                let refused = status
                    .borrow_and_update()
                    .gateway
                    .as_ref()
                    .and_then(|g| g.errors.first().cloned());
                if let Some(error) = refused {
                    bail!("the gateway refused {error}");
                }
                continue;
            }
        };
        let Some(batch) = batch else {
            bail!("the connection to the gateway {url} ended");
        };
        for message in &batch {
            if printer.print(&message.subject, &message.body)? {
                break;
            }
        }
        printer.flush()?;
    }
    Ok(())
}

/// What `tail` subscribes to unless told otherwise.
const DEFAULT_SUBJECT: &str = "events.>";

/// A filter and the one-event store it evaluates messages in: the filter reads events as the
/// app holds them, so the CLI and the app agree on every query.
struct Sieve {
    filter: Filter,
    store: EventStore,
}

impl Sieve {
    fn new(filter: Filter) -> Sieve {
        Sieve {
            filter,
            // Holding one event keeps at most two chunks allocated.
            store: EventStore::new(StoreLimits {
                capacity: 1,
                max_bytes: usize::MAX,
            }),
        }
    }

    fn keeps(&mut self, subject: &str, body: &[u8], now: DateTime<Utc>) -> bool {
        let now_ms = now.timestamp_millis();
        let seq = self.store.push(Incoming {
            subject,
            headers: &[],
            body,
            received_ms: now_ms,
        });
        self.store
            .get(seq)
            .is_some_and(|ev| self.filter.matches(&ev, now_ms))
    }
}

/// `tail --from-file`: the events of an NDJSON file, in file order, as `tail` would print them
/// had they come from the bus.
fn tail_file(path: &str, mut printer: Printer) -> Result<()> {
    use std::io::BufRead;
    let (name, mut input): (&str, Box<dyn BufRead>) = if path == "-" {
        ("stdin", Box::new(io::stdin().lock()))
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {path}"))?;
        (path, Box::new(io::BufReader::with_capacity(1 << 16, file)))
    };
    let mut raw = Vec::with_capacity(1024);
    while !printer.done() {
        raw.clear();
        let read = input
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("cannot read {name}"))?;
        if read == 0 {
            break;
        }
        while raw.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
            raw.pop();
        }
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let (subject, body) = file_event(&raw);
        printer.print(&subject, &body)?;
    }
    printer.flush()
}

/// Writes the lines of the events `tail` keeps (all, or those its filter selects), up to
/// `--count`, as text or `--json`; buffered, flushed by the caller after each burst.
struct Printer {
    out: BufWriter<io::Stdout>,
    line: Vec<u8>,
    json: bool,
    sieve: Option<Sieve>,
    seen: u64,
    limit: u64,
}

impl Printer {
    fn new(args: &TailArgs, sieve: Option<Sieve>) -> Printer {
        Printer {
            out: BufWriter::with_capacity(1 << 16, io::stdout()),
            line: Vec::with_capacity(1024),
            json: args.json,
            sieve,
            seen: 0,
            limit: args.count.unwrap_or(u64::MAX),
        }
    }

    /// Prints the event if the filter keeps it; true once `--count` events are printed.
    fn print(&mut self, subject: &str, body: &[u8]) -> Result<bool> {
        let now = Utc::now();
        if self
            .sieve
            .as_mut()
            .is_none_or(|s| s.keeps(subject, body, now))
        {
            self.line.clear();
            if self.json {
                json_line(subject, body, &mut self.line);
            } else {
                text_line(subject, body, now, &mut self.line);
            }
            self.out
                .write_all(&self.line)
                .context("cannot write to stdout")?;
            self.seen += 1;
        }
        Ok(self.done())
    }

    fn done(&self) -> bool {
        self.seen >= self.limit
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().context("cannot write to stdout")
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

/// The JSON line of an event that is not a valid envelope.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvalidLine<'a> {
    subject: &'a str,
    body_base64: String,
    error: String,
}

/// A valid envelope exactly as received; anything else as an object that names what is wrong
/// and carries the raw bytes.
fn json_line(subject: &str, body: &[u8], out: &mut Vec<u8>) {
    let decoded = event::decode(body);
    if decoded.problems.is_empty() {
        if body.contains(&b'\n') || body.contains(&b'\r') {
            compact_json(body, out);
        } else {
            out.extend_from_slice(body);
        }
    } else {
        let line = InvalidLine {
            subject,
            body_base64: base64::engine::general_purpose::STANDARD.encode(body),
            error: event::describe(decoded.problems, decoded.error.as_deref()).join("; "),
        };
        serde_json::to_writer(&mut *out, &line).expect("serializing to memory cannot fail");
    }
    out.push(b'\n');
}

/// `HH:MM:SS.mmm  org  source  resource.eventName  resourceId  SIZE  subject[  ! problem]`.
///
/// The time is the event's `timestamp` (UTC), or `received` when the event has none.
fn text_line(subject: &str, body: &[u8], received: DateTime<Utc>, out: &mut Vec<u8>) {
    let decoded = event::decode(body);
    let fields = decoded.resolve(subject);
    let time = decoded
        .timestamp_ms
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(received);
    let name = match (fields.resource.is_empty(), fields.event_name.is_empty()) {
        (true, true) => String::new(),
        _ => format!("{}.{}", fields.resource, fields.event_name),
    };
    let _ = write!(
        out,
        "{}  {:<12}  {:<13}  {:<27}  {:<13}  {:>7}  {}",
        time.format("%H:%M:%S%.3f"),
        cell(&fields.org),
        cell(&fields.source),
        cell(&name),
        cell(&fields.resource_id),
        size(body.len()),
        cell(subject),
    );
    if let Some(problem) = decoded.problems.summary() {
        let _ = write!(out, "  ! {problem}");
    }
    out.push(b'\n');
}

/// A field as one terminal cell: `-` when empty, control characters defused so that a hostile
/// value cannot break the line or move the cursor.
fn cell(value: &str) -> String {
    if value.is_empty() {
        return "-".to_string();
    }
    value
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b}B"),
        b if b < 1 << 20 => format!("{:.1}KiB", b as f64 / 1024.0),
        b => format!("{:.1}MiB", b as f64 / (1 << 20) as f64),
    }
}

/// Valid JSON without the whitespace between tokens; strings and key order stay as they are.
fn compact_json(json: &[u8], out: &mut Vec<u8>) {
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
            in_string = b == b'"';
        }
    }
}

/// An event ready to go: its subject and its compact JSON body.
#[derive(Debug, PartialEq)]
struct Outgoing {
    subject: String,
    body: Vec<u8>,
}

async fn publish(args: PublishArgs) -> Result<()> {
    // Everything is validated before connecting: a bad batch publishes nothing.
    let batch = match args.file.as_deref().or(args.path.as_deref()) {
        Some(path) => {
            let (name, text) = read_input(path)?;
            parse_envelopes(&text).with_context(|| format!("invalid event in {name}"))?
        }
        None => vec![from_flags(&args).context("invalid event")?],
    };
    let client = connect(&args.server.nats_url).await?;
    for event in &batch {
        client
            .publish(event.subject.clone(), event.body.clone().into())
            .await
            .with_context(|| format!("cannot publish on {}", event.subject))?;
    }
    settle(&client).await?;
    eprintln!("published {} events", batch.len());
    Ok(())
}

/// The text of `path` (`-`: stdin) and the name to give it in errors.
fn read_input(path: &str) -> Result<(String, String)> {
    let mut text = String::new();
    if path == "-" {
        io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        return Ok(("stdin".to_string(), text));
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    Ok((path.to_string(), text))
}

/// Envelopes from one JSON object (possibly pretty-printed) or NDJSON; blank lines are skipped.
///
/// The body published is the object as written, made compact: fields the envelope does not
/// know are kept, so that what a producer would really send can be replayed.
fn parse_envelopes(text: &str) -> Result<Vec<Outgoing>> {
    let mut out = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<&RawValue>() {
        let raw = match value {
            Ok(raw) => raw.get(),
            Err(e) => bail!("line {}: {}", e.line(), without_position(&e)),
        };
        // The raw value borrows from `text`, so its address gives its position.
        let offset = raw.as_ptr() as usize - text.as_ptr() as usize;
        let line = text[..offset].matches('\n').count() + 1;
        let found = match raw.as_bytes()[0] {
            b'{' => None,
            b'[' => Some("an array (give one object, or one object per line)"),
            b'"' => Some("a string"),
            _ => Some("a number, boolean or null"),
        };
        if let Some(found) = found {
            bail!("line {line}: expected an envelope object, found {found}");
        }
        let envelope: Envelope = serde_json::from_str(raw).map_err(|e| {
            anyhow::anyhow!(
                "line {}: {}",
                line + e.line().max(1) - 1,
                without_position(&e)
            )
        })?;
        out.push(outgoing(&envelope, raw.as_bytes()).with_context(|| format!("line {line}"))?);
    }
    if out.is_empty() {
        bail!("no envelope found");
    }
    Ok(out)
}

/// serde_json's message without its ` at line L column C`, which the caller restates.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    }
}

/// Checks what the envelope's type does not (the timestamp, the subject's tokens) and pairs
/// the subject with the compact body.
fn outgoing(envelope: &Envelope, json: &[u8]) -> Result<Outgoing> {
    if DateTime::parse_from_rfc3339(&envelope.timestamp).is_err() {
        bail!("timestamp {:?} is not an RFC 3339 time", envelope.timestamp);
    }
    let subject = envelope.subject()?;
    let mut body = Vec::with_capacity(json.len());
    compact_json(json, &mut body);
    Ok(Outgoing { subject, body })
}

fn from_flags(args: &PublishArgs) -> Result<Outgoing> {
    let payload = match &args.payload {
        Some(text) => serde_json::from_str(text).context("invalid --payload")?,
        None => serde_json::json!({}),
    };
    let filters = args
        .filters
        .iter()
        .map(|f| match f.split_once('=') {
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => bail!("invalid --filter {f:?}: expected key=value"),
        })
        .collect::<Result<Vec<_>>>()?;
    let now = Utc::now();
    let field = |value: &Option<String>| value.clone().unwrap_or_default();
    let envelope = Envelope {
        id: simulate::event_id(now.timestamp_millis(), rand::random()),
        organization_id: field(&args.org),
        source: field(&args.source),
        resource: field(&args.resource),
        resource_id: field(&args.resource_id),
        event_name: field(&args.event),
        timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        payload,
        metadata: Metadata {
            filters,
            tags: args.tags.clone(),
        },
    };
    let json = serde_json::to_vec(&envelope).context("cannot encode the event")?;
    outgoing(&envelope, &json)
}

async fn simulate(args: SimulateArgs) -> Result<()> {
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        bail!(
            "invalid --rate {}: expected events per second, or 0 for as fast as possible",
            args.rate
        );
    }
    if args.orgs == 0 {
        bail!("invalid --orgs 0: expected at least one organization");
    }
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(secs)) => Limit::Duration(
            Duration::try_from_secs_f64(secs)
                .with_context(|| format!("invalid --duration {secs}"))?,
        ),
        (None, None) => Limit::Forever,
    };
    let rate = (args.rate > 0.0).then_some(args.rate);
    let seed = args.seed.unwrap_or_else(rand::random);
    let url = &args.server.nats_url;
    let client = connect(url).await?;
    let mut sim = Simulator::new(SimConfig {
        seed,
        orgs: args.orgs,
        start: Utc::now(),
    });
    if let Some(rate) = rate {
        // Timestamps then keep pace with the wall clock.
        sim.set_mean_gap(Duration::from_secs_f64(1.0 / rate));
    }
    let report = simulate::run(
        &client,
        &mut sim,
        Pace {
            rate_per_sec: rate,
            limit,
        },
    )
    .await
    .context("simulation stopped")?;
    settle(&client).await?;
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "simulated {} events ({} bytes) for {} organizations in {secs:.2}s ({:.0}/s) to {url}, seed {seed}",
        report.sent,
        report.bytes,
        args.orgs,
        report.sent as f64 / secs.max(1e-9),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` as `publish --file` would, rendered as `subject body` lines or the error.
    fn check(text: &str, expected: &str) {
        let got = match parse_envelopes(text) {
            Ok(events) => events
                .iter()
                .map(|e| format!("{} {}", e.subject, String::from_utf8_lossy(&e.body)))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {}", one_line(&e)),
        };
        assert_eq!(got, expected);
    }

    const ENV: &str = r#"{"id":"evt_1","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_1","eventName":"created","timestamp":"2026-01-01T00:00:00Z","payload":{}}"#;

    #[test]
    fn one_pretty_envelope_is_published_compact_and_as_written() {
        check(
            "{\n  \"id\": \"evt_1\",\n  \"organizationId\": \"org_1\",\n  \"source\": \"tasks\",\n  \"resource\": \"task\",\n  \"resourceId\": \"t_1\",\n  \"eventName\": \"created\",\n  \"timestamp\": \"2026-01-01T00:00:00Z\",\n  \"payload\": {\"title\": \"a  b\\\" c\"},\n  \"extra\": [1, 2],\n  \"metadata\": {\"filters\": {\"owner\": \"u_1\"}, \"tags\": [\"vip\"]}\n}\n",
            r#"events.org_1.tasks.task.created.t_1.owner.u_1 {"id":"evt_1","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_1","eventName":"created","timestamp":"2026-01-01T00:00:00Z","payload":{"title":"a  b\" c"},"extra":[1,2],"metadata":{"filters":{"owner":"u_1"},"tags":["vip"]}}"#,
        );
    }

    #[test]
    fn ndjson_skips_blank_lines() {
        let text = format!("{ENV}\n\n  \n{}\n", ENV.replace("t_1", "t_2"));
        check(
            &text,
            &format!(
                "events.org_1.tasks.task.created.t_1 {ENV}\nevents.org_1.tasks.task.created.t_2 {}",
                ENV.replace("t_1", "t_2")
            ),
        );
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let bad_id = ENV.replace("t_1", "t.1");
        check(
            &format!("{ENV}\n{bad_id}"),
            r#"error: line 2: resourceId "t.1" contains '.', which a subject token cannot hold"#,
        );
        let no_source = ENV.replace(r#""source":"tasks","#, "");
        check(
            &format!("{ENV}\n\n{no_source}"),
            "error: line 3: missing field `source`",
        );
        check(
            &format!("{ENV}\n{{\n  \"id\": 1\n}}"),
            "error: line 3: invalid type: integer `1`, expected a string",
        );
        check(
            &format!("{ENV}\n{{\"id\": "),
            "error: line 2: EOF while parsing a value",
        );
        check(&format!("{ENV}\nnope"), "error: line 2: expected ident");
        check("[1]", "error: line 1: expected an envelope object, found an array (give one object, or one object per line)");
        check("", "error: no envelope found");
        check(
            &ENV.replace("2026-01-01T00:00:00Z", "yesterday"),
            r#"error: line 1: timestamp "yesterday" is not an RFC 3339 time"#,
        );
        let spaced_filter = ENV.replace(
            r#""payload":{}"#,
            r#""payload":{},"metadata":{"filters":{"owner":"a b"}}"#,
        );
        check(
            &spaced_filter,
            r#"error: line 1: metadata filter "owner" "a b" contains ' ', which a subject token cannot hold"#,
        );
    }

    #[test]
    fn compact_json_keeps_strings_intact() {
        let mut out = Vec::new();
        compact_json(
            b"{ \"a b\" : [ 1 ,\n 2 ],\t\"c\\\\\" : \"\\\" x \" }",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a b":[1,2],"c\\":"\" x "}"#
        );
    }

    #[test]
    fn sizes_and_cells_are_short_and_safe() {
        assert_eq!(
            [size(0), size(1023), size(1024), size(1536 * 1024)],
            ["0B", "1023B", "1.0KiB", "1.5MiB"]
        );
        assert_eq!(
            [cell(""), cell("a\nb\u{1b}[2J")],
            ["-", "a\u{FFFD}b\u{FFFD}[2J"]
        );
    }

    #[test]
    fn repeated_causes_are_said_once() {
        let inner = anyhow::anyhow!("refused").context("IO error: refused");
        let err = inner.context("cannot connect to x");
        assert_eq!(one_line(&err), "cannot connect to x: IO error: refused");
    }
}
