//! `history`: one organization's stored events from JetStream (directly or through the
//! gateway), printed as text, as `tail --json` lines or as CSV, optionally masked.

use std::io::{self, Write};

use anyhow::{Context, Result};
use chrono::Utc;

use eventscope_core::export::{ExportFormat, Exporter, Masker, Masking};
use eventscope_core::filter::Filter;
use eventscope_core::history::{self, HistoryQuery, HistoryReader};

use crate::args::HistoryArgs;
use crate::print::Printer;

pub async fn run(args: HistoryArgs) -> Result<()> {
    let now = Utc::now();
    let since = history::parse_time(&args.since, now).context("invalid --since")?;
    let until = args
        .until
        .as_deref()
        .map(|t| history::parse_time(t, now))
        .transpose()
        .context("invalid --until")?;
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let subject = format!("events.{}.>", args.org);
    eventscope_core::topic::check_token("organization", &args.org).context("invalid --org")?;
    let mut output = Output::new(&args)?;
    match &args.gateway {
        Some(url) => {
            let token = crate::tail::gateway_token(args.token_env.as_deref().unwrap_or_default())?;
            let request = eventscope_core::gateway::history::HistoryRequest {
                id: "h1".to_string(),
                topic: subject,
                since,
                until,
                limit: None,
            };
            let mut reader =
                eventscope_core::gateway::history::GatewayHistory::open(url, &token, &request)
                    .await
                    .with_context(|| format!("cannot read the history through {url}"))?;
            let mut sieve = filter.map(eventscope_core::filter::Sieve::new);
            while let Some(message) = reader
                .next()
                .await
                .with_context(|| format!("cannot read the history through {url}"))?
            {
                let now_ms = Utc::now().timestamp_millis();
                if sieve
                    .as_mut()
                    .is_none_or(|s| s.keeps(&message.subject, &message.body, now_ms))
                {
                    output.write(&message.subject, &message.body)?;
                }
            }
        }
        None => {
            let client = crate::bus::connect(&args.server.nats_url).await?;
            let query = HistoryQuery {
                subject,
                since,
                until,
                stream: args.stream.clone(),
                follow: args.follow,
                filter,
            };
            let mut reader = HistoryReader::open(client, query)
                .await
                .context("cannot read the history")?;
            while let Some(message) = reader.next().await {
                let message = message.context("cannot read the history")?;
                output.write(&message.subject, &message.body)?;
                // While following, each event shows as it comes.
                if reader.caught_up() {
                    output.flush()?;
                }
            }
        }
    }
    output.finish()
}

/// Where the events go: text lines through the `tail` printer, or an export.
enum Output {
    Text {
        printer: Printer,
        masker: Option<Box<Masker>>,
        masked: Vec<u8>,
    },
    Export(Box<Exporter<io::Stdout>>),
}

impl Output {
    fn new(args: &HistoryArgs) -> Result<Output> {
        let mask = args.mask.then(Masking::default);
        let format = match (args.json, args.csv) {
            (true, _) => ExportFormat::Ndjson,
            (_, true) => ExportFormat::Csv,
            _ => {
                return Ok(Output::Text {
                    printer: Printer::new(false, None),
                    masker: mask.map(|m| Box::new(Masker::new(m))),
                    masked: Vec::new(),
                })
            }
        };
        let exporter =
            Exporter::new(io::stdout(), format, mask).context("cannot write to stdout")?;
        Ok(Output::Export(Box::new(exporter)))
    }

    fn write(&mut self, subject: &str, body: &[u8]) -> Result<()> {
        match self {
            Output::Text {
                printer,
                masker,
                masked,
            } => {
                let body = match masker {
                    Some(masker) => {
                        masked.clear();
                        masker.mask_body(body, masked);
                        &masked[..]
                    }
                    None => body,
                };
                printer.print(subject, body, Utc::now())?;
            }
            Output::Export(exporter) => exporter
                .write(subject, body)
                .context("cannot write to stdout")?,
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self {
            Output::Text { printer, .. } => printer.flush(),
            Output::Export(exporter) => exporter.flush().context("cannot write to stdout"),
        }
    }

    fn finish(self) -> Result<()> {
        match self {
            Output::Text { mut printer, .. } => printer.flush(),
            Output::Export(exporter) => exporter
                .finish()
                .and_then(|mut out| out.flush())
                .context("cannot write to stdout"),
        }
    }
}
