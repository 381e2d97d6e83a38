//! The command line: subcommands, their flags and their help. A contract that scripts rely
//! on: change it only in ways that keep old invocations working.

use clap::{Args, Parser, Subcommand, ValueEnum};

use eventscope_core::DEFAULT_NATS_URL;

#[derive(Parser)]
#[command(
    name = "eventscope-cli",
    version,
    about = "Watch and inject the platform's NATS events"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print events as they arrive, one line each
    Tail(TailArgs),
    /// Publish envelopes from a file, from stdin, or built from flags
    Publish(PublishArgs),
    /// Publish simulated platform traffic
    Simulate(SimulateArgs),
    /// Run or check a scenario file: publish events and expect what follows (docs/scenarios.md)
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Count events, bytes, rate and producer lag per group until the duration ends or Ctrl-C
    Stats(StatsArgs),
    /// The notifications events would send by the notification rules (docs/notifications.md);
    /// `explain` says why each rule did or did not notify, `rules` lists the effective rules
    Notify(NotifyArgs),
    /// Print one organization's stored events from JetStream between two times, in stream order
    History(HistoryArgs),
    /// Record everything received to a local SQLite file until Ctrl-C or SIGTERM
    /// (docs/recording.md); `record query` reads it back
    Record(RecordArgs),
    /// Write the manual page or a shell's completions to stdout (for packagers)
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
    },
}

/// What `generate` writes.
#[derive(Clone, Copy, ValueEnum)]
pub enum Generated {
    Man,
    Bash,
    Zsh,
    Fish,
}

#[derive(Args)]
pub struct Server {
    /// NATS server URL
    #[arg(long, value_name = "URL", env = "EVENTSCOPE_NATS_URL", default_value = DEFAULT_NATS_URL)]
    pub nats_url: String,
}

#[derive(Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub server: Server,
    /// Subject pattern to subscribe to; repeat for several
    #[arg(long = "subject", value_name = "PATTERN", default_value = "events.>")]
    pub subjects: Vec<String>,
    /// Exit after this many messages
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Print each message as one JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Print only the events matching this query (docs/filter.md); on the bus, subscribe to
    /// the subjects it implies unless --subject is given
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// Read events from an NDJSON file (one envelope per line, as `tail --json` writes them)
    /// instead of the bus; `-` reads stdin
    #[arg(long, value_name = "PATH", conflicts_with = "subjects")]
    pub from_file: Option<String>,
    /// With --from-file: a longer line is printed as one invalid entry naming its line number,
    /// and skipped without being held in memory
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES, requires = "from_file")]
    pub max_line_bytes: usize,
    /// Watch through the platform's WebSocket gateway at this URL (ws:// or wss://) instead of
    /// NATS; --subject gives the topics
    #[arg(
        long,
        value_name = "URL",
        requires = "token_env",
        conflicts_with = "from_file"
    )]
    pub gateway: Option<String>,
    /// Environment variable that holds the gateway token
    #[arg(long, value_name = "VAR", requires = "gateway")]
    pub token_env: Option<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub server: Server,
    /// The organization whose events to read (the subject events.ORG.>)
    #[arg(long, value_name = "ORG")]
    pub org: String,
    /// First time to read: RFC 3339 or relative (-2h, -15m, -1d). JetStream's time is when the
    /// stream received the event, not the event's timestamp
    #[arg(
        long,
        value_name = "T",
        default_value = "-1h",
        allow_hyphen_values = true
    )]
    pub since: String,
    /// Last time to read (as --since); default: the end of the stream
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// The JetStream stream to read; default: the one whose subjects hold events.ORG.>
    #[arg(long, value_name = "NAME")]
    pub stream: Option<String>,
    /// Print only the events matching this query (docs/filter.md); the consumer is filtered on
    /// the narrower subject it implies
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub filter: Option<String>,
    /// Go on past the end of the stream with live events (joined by stream sequence: no gap, no
    /// duplicate) until --until or Ctrl-C
    #[arg(long)]
    pub follow: bool,
    /// Print each event as `tail --json` does (NDJSON that `tail --from-file` reads back)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV: time,org,source,resource,event,resourceId,id,subject,payload
    #[arg(long)]
    pub csv: bool,
    /// Replace e-mail addresses, phone numbers and names with stable pseudonyms (docs/export.md)
    #[arg(long)]
    pub mask: bool,
    /// Read through the platform's WebSocket gateway at this URL (ws:// or wss://) instead of
    /// NATS
    #[arg(long, value_name = "URL", requires = "token_env", conflicts_with_all = ["stream", "follow"])]
    pub gateway: Option<String>,
    /// Environment variable that holds the gateway token
    #[arg(long, value_name = "VAR", requires = "gateway")]
    pub token_env: Option<String>,
}

/// What `scenario` does with its file.
#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Run the scenario; exit 0 when every step passed, 1 when one failed, 2 when the file is
    /// invalid
    Run(ScenarioRunArgs),
    /// Validate the scenario without connecting; exit 2 with the file position when invalid
    Check(ScenarioCheckArgs),
}

#[derive(Args)]
pub struct ScenarioCheckArgs {
    /// The scenario file (YAML or JSON)
    #[arg(value_name = "FILE")]
    pub file: String,
    /// Set a scenario variable (`vars.KEY`); VALUE is JSON if it parses, else a string
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Args)]
pub struct ScenarioRunArgs {
    #[command(flatten)]
    pub check: ScenarioCheckArgs,
    #[command(flatten)]
    pub server: Server,
    /// Write a JUnit XML report (one testcase per step) to this file
    #[arg(long, value_name = "PATH")]
    pub junit: Option<String>,
    /// Print each step as one JSON object per line
    #[arg(long)]
    pub json: bool,
}
/// Longest line `tail --from-file` reads: above the largest message a NATS server takes by
/// default (1 MiB) and most configured ones (up to 8 MiB is common).
pub use eventscope_core::ndjson::DEFAULT_MAX_LINE_BYTES;
#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub server: Server,
    /// Subject pattern to subscribe to; repeat for several
    #[arg(long = "subject", value_name = "PATTERN", default_value = "events.>")]
    pub subjects: Vec<String>,
    /// Print the counts after this many seconds (default: on Ctrl-C)
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// What a group is: the source, the dotted event name, the organization or the subject
    #[arg(long, value_enum, default_value_t = StatsBy::Source)]
    pub by: StatsBy,
    /// Print one JSON object per group, largest count first:
    /// {"group","count","bytes","ratePerSec","lagP50Ms","lagP99Ms","lagMaxMs"}
    #[arg(long)]
    pub json: bool,
}

/// What `stats` groups by.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsBy {
    Source,
    Event,
    Org,
    Subject,
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
pub struct PublishArgs {
    #[command(flatten)]
    pub server: Server,
    /// Envelopes to publish: one JSON object (may span lines) or NDJSON; `-` reads stdin
    #[arg(long, value_name = "PATH", conflicts_with_all = FLAG_FIELDS)]
    pub file: Option<String>,
    /// Same as --file
    #[arg(value_name = "PATH", conflicts_with_all = FLAG_FIELDS, conflicts_with = "file")]
    pub path: Option<String>,
    /// organizationId of the event to build (with --template: replaces the template's)
    #[arg(long, value_name = "ORG", required_unless_present_any = ["file", "path", "template", "list_templates"])]
    pub org: Option<String>,
    /// source (producing service) of the event to build
    #[arg(long, required_unless_present_any = ["file", "path", "template", "list_templates"], conflicts_with = "template")]
    pub source: Option<String>,
    /// resource type of the event to build
    #[arg(long, required_unless_present_any = ["file", "path", "template", "list_templates"], conflicts_with = "template")]
    pub resource: Option<String>,
    /// eventName of the event to build
    #[arg(long, value_name = "NAME", required_unless_present_any = ["file", "path", "template", "list_templates"], conflicts_with = "template")]
    pub event: Option<String>,
    /// resourceId of the event to build (with --template: replaces the template's)
    #[arg(long, value_name = "ID", required_unless_present_any = ["file", "path", "template", "list_templates"])]
    pub resource_id: Option<String>,
    /// payload of the event to build (default {})
    #[arg(long, value_name = "JSON", conflicts_with = "template")]
    pub payload: Option<String>,
    /// metadata filter of the event to build; repeat for several, in subject order
    #[arg(long = "filter", value_name = "KEY=VALUE", conflicts_with = "template")]
    pub filters: Vec<String>,
    /// metadata tag of the event to build; repeat for several
    #[arg(long = "tag", value_name = "TAG", conflicts_with = "template")]
    pub tags: Vec<String>,
    /// Publish the catalogue's event of this type (`task.created`; see --list-templates)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["file", "path"])]
    pub template: Option<String>,
    /// Set a dotted path of the event (`payload.title=Hi`); VALUE is JSON if it parses, else a
    /// string, and may use template expressions (`{{ i }}`, `{{ run.id }}`); repeat for several
    #[arg(long = "set", value_name = "PATH=VALUE", requires = "template")]
    pub set: Vec<String>,
    /// Publish this many events (each with a fresh id and timestamp)
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with_all = ["file", "path"])]
    pub count: u64,
    /// Events per second (default: as fast as the server takes them)
    #[arg(long, value_name = "PER_SEC", conflicts_with_all = ["file", "path"], allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// List the catalogue's template names, one per line, and exit
    #[arg(long, exclusive = true)]
    pub list_templates: bool,
}

#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub server: Server,
    /// Events per second; 0 publishes as fast as the server takes them
    #[arg(
        long,
        value_name = "PER_SEC",
        default_value_t = 100.0,
        allow_negative_numbers = true
    )]
    pub rate: f64,
    /// Stop after this many events (default: run until interrupted)
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Number of simulated organizations
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub orgs: usize,
    /// Seed of the simulation, to replay the same events (default: random, printed at the end)
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

/// Which rules: the built-ins, overridden and extended by a rules file.
#[derive(Args)]
pub struct RulesArgs {
    /// The rules file (YAML or JSON, as the app's rules.yaml); an invalid file exits 2 with the
    /// rule id and the position
    #[arg(long = "rules", value_name = "FILE")]
    pub file: Option<String>,
    /// Leave the four built-in rules out
    #[arg(long)]
    pub no_builtin: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: Option<NotifyCommand>,
    #[command(flatten)]
    pub rules: RulesArgs,
    #[command(flatten)]
    pub server: Server,
    /// Subject pattern to subscribe to; repeat for several
    #[arg(long = "subject", value_name = "PATTERN", default_value = "events.>")]
    pub subjects: Vec<String>,
    /// Read events from an NDJSON file (as `tail --json` writes them) instead of the bus; `-`
    /// reads stdin
    #[arg(long, value_name = "PATH", conflicts_with = "subjects")]
    pub from_file: Option<String>,
    /// Exit after this many notifications
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit after this many seconds (on the bus)
    #[arg(long, value_name = "SECS", conflicts_with = "from_file")]
    pub duration: Option<f64>,
    /// Print one JSON object per notification, in event, rule, recipient and channel order:
    /// {"eventId","rule","priority","channel","recipient","title","body"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum NotifyCommand {
    /// Why each rule did or did not notify for one event of a file
    Explain(NotifyExplainArgs),
    /// List the effective rules (built-ins first, then the file's)
    Rules(NotifyRulesArgs),
}

#[derive(Args)]
pub struct NotifyExplainArgs {
    /// The event's id
    #[arg(long, value_name = "ID")]
    pub event_id: String,
    #[command(flatten)]
    pub rules: RulesArgs,
    /// The NDJSON file holding the event (the events before it are its history); `-` reads
    /// stdin
    #[arg(long, value_name = "PATH")]
    pub from_file: String,
    /// Print one JSON object per rule: {"rule","matched"} and when not matched
    /// {"reason","detail"}
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct NotifyRulesArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Print one JSON object per rule
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub command: Option<RecordCommand>,
    #[command(flatten)]
    pub server: Server,
    /// Subject pattern to subscribe to; repeat for several
    #[arg(long = "subject", value_name = "PATTERN", default_value = "events.>")]
    pub subjects: Vec<String>,
    /// The recording file (created when missing; a recording goes on where it stopped)
    #[arg(long, value_name = "PATH", required = true)]
    pub db: Option<String>,
    /// Most bytes the file may use; the oldest messages go first (suffixes K, M, G: binary)
    #[arg(long, value_name = "N", default_value = "2G", value_parser = parse_bytes)]
    pub max_bytes: u64,
    /// Longest a message is kept (90s, 15m, 12h, 7d)
    #[arg(long, value_name = "DUR", default_value = "7d", value_parser = parse_duration_secs)]
    pub max_age: u64,
    /// Seconds between two status lines on stderr
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub status_every: u64,
}

#[derive(Subcommand)]
pub enum RecordCommand {
    /// Print recorded messages as `tail` prints them (oldest first) and the gaps in the range
    /// on stderr
    Query(RecordQueryArgs),
}

#[derive(Args)]
pub struct RecordQueryArgs {
    /// The recording file
    #[arg(long, value_name = "PATH")]
    pub db: String,
    /// Only this organization's messages
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
    /// Received at or after this time: RFC 3339 or relative to now (-2h, -15m, -7d)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Received before this time: RFC 3339 or relative to now
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// At most this many messages
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Print each message as one JSON object per line, as `tail --json` does
    #[arg(long)]
    pub json: bool,
}

/// `N`, `NK`, `NM`, `NG` (binary multiples).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("unknown unit {unit:?}: use K, M, G or T")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a number of bytes, as 500M or 2G".to_string())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| "too large".to_string())
}

/// `90s`, `15m`, `12h`, `7d` (a bare number is seconds).
pub fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a duration, as 90s, 15m, 12h or 7d".to_string())?;
    n.checked_mul(unit_secs)
        .ok_or_else(|| "too large".to_string())
}
