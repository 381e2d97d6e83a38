//! `publish`: envelopes from a file, stdin, flags or a catalogue template, all checked before
//! the first is sent; flags and templates may be sent many times at a rate.

/// An event ready to go: its subject and its compact JSON body.
#[derive(Debug, PartialEq)]
struct Outgoing {
    subject: String,
    body: Vec<u8>,
    /// Where it starts in the input (none for an event built from flags).
    line: Option<usize>,
}

use std::io::{self, Read};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::value::RawValue;

use eventscope_core::event::{Envelope, Metadata};
use eventscope_core::publish::{self as core_publish, Pace, Pins, Prepared};
use eventscope_core::simulate;
use eventscope_core::template::{self, Scope};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::args::PublishArgs;
use crate::bus;
use eventscope_core::export::compact_json;

pub async fn run(args: PublishArgs) -> Result<()> {
    if args.list_templates {
        for name in template::names() {
            println!("{name}");
        }
        return Ok(());
    }
    refuse_when_read_only()?;
    // Everything is validated before connecting: a bad batch publishes nothing.
    let batch = match args.file.as_deref().or(args.path.as_deref()) {
        Some(path) => {
            let (name, text) = read_input(path)?;
            parse_envelopes(&text).with_context(|| format!("invalid event in {name}"))?
        }
        None if args.template.is_some() || args.count != 1 || args.rate.is_some() => {
            let prepared = prepared(&args).context("invalid event")?;
            return send_many(&args, &prepared).await;
        }
        None => vec![from_flags(&args).context("invalid event")?],
    };
    let client = bus::connect(&args.server.nats_url).await?;
    // The sizes too, against this server's limit: a message over it would fail after the
    // ones before it were sent.
    check_sizes(
        &batch,
        client.server_info().max_payload,
        &args.server.nats_url,
    )?;
    for event in &batch {
        client
            .publish(event.subject.clone(), event.body.clone().into())
            .await
            .with_context(|| format!("cannot publish on {}", event.subject))?;
    }
    bus::settle(&client).await?;
    eprintln!("published {} events", batch.len());
    Ok(())
}

/// Fails, naming the first event over it, when an event's body is over the server's
/// `max_payload`.
fn check_sizes(batch: &[Outgoing], max_payload: usize, server: &str) -> Result<()> {
    let Some(event) = batch.iter().find(|e| e.body.len() > max_payload) else {
        return Ok(());
    };
    let which = match event.line {
        Some(line) => format!("line {line}: "),
        None => String::new(),
    };
    bail!(
        "{which}the event has {} bytes; {server} takes at most {max_payload} (its max_payload); nothing was published",
        event.body.len()
    )
}

/// `EVENTSCOPE_READ_ONLY=1` refuses every publishing command, before it reads or connects.
pub fn refuse_when_read_only() -> Result<()> {
    core_publish::check_writable(core_publish::read_only_from_env())
        .with_context(|| format!("{} is set", core_publish::READ_ONLY_ENV))
}

/// `PATH=VALUE` (`--set`, `--var`): VALUE is JSON when it parses as JSON, else the string.
pub fn key_value(flag: &str, text: &str) -> Result<(String, Value)> {
    let Some((key, value)) = text.split_once('=') else {
        bail!("invalid {flag} {text:?}: expected PATH=VALUE");
    };
    if key.trim().is_empty() {
        bail!("invalid {flag} {text:?}: the path is empty");
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.trim().to_string(), value))
}

/// The event of `--template` (or of the flags) with `--org`, `--resource-id` and `--set`,
/// checked by building the first one.
fn prepared(args: &PublishArgs) -> Result<Prepared> {
    let mut set = Vec::new();
    let envelope = match &args.template {
        Some(name) => {
            let Some(t) = template::get(name) else {
                bail!(
                    "unknown template {name:?} (known: {})",
                    template::names().join(", ")
                );
            };
            if let Some(org) = &args.org {
                set.push(("organizationId".to_string(), Value::String(org.clone())));
            }
            if let Some(id) = &args.resource_id {
                set.push(("resourceId".to_string(), Value::String(id.clone())));
            }
            t.envelope
        }
        None => serde_json::to_value(envelope_from_flags(args)?)?,
    };
    for text in &args.set {
        set.push(key_value("--set", text)?);
    }
    Ok(Prepared::new(envelope, set, Pins::default(), Scope::new())?)
}

/// Sends `--count` events at `--rate`, each with a fresh id and timestamp; Ctrl-C stops
/// between two events and says how many went.
async fn send_many(args: &PublishArgs, prepared: &Prepared) -> Result<()> {
    let client = bus::connect(&args.server.nats_url).await?;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let pace = Pace {
        count: args.count,
        rate: args.rate,
    };
    let report = prepared.send(&client, pace, &cancel, |_| {}).await?;
    bus::settle(&client).await?;
    if report.cancelled {
        eprintln!(
            "published {} of {} events (interrupted)",
            report.sent, report.total
        );
    } else {
        eprintln!("published {} events", report.sent);
    }
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
        let mut event =
            outgoing(&envelope, raw.as_bytes()).with_context(|| format!("line {line}"))?;
        event.line = Some(line);
        out.push(event);
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
    Ok(Outgoing {
        subject,
        body,
        line: None,
    })
}

fn from_flags(args: &PublishArgs) -> Result<Outgoing> {
    let envelope = envelope_from_flags(args)?;
    let json = serde_json::to_vec(&envelope).context("cannot encode the event")?;
    outgoing(&envelope, &json)
}

fn envelope_from_flags(args: &PublishArgs) -> Result<Envelope> {
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
    Ok(Envelope {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::one_line;

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
}
