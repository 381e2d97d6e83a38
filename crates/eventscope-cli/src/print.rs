//! How `tail` prints an event: a text line for people, or a JSON line for scripts.

use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use eventscope_core::event;

/// Writes one line per event, up to a count, as text or JSON; buffered, flushed by the caller
/// after each burst so that a burst costs one write.
pub struct Printer {
    out: BufWriter<io::Stdout>,
    line: Vec<u8>,
    json: bool,
    seen: u64,
    limit: u64,
}

impl Printer {
    pub fn new(json: bool, limit: Option<u64>) -> Printer {
        Printer {
            out: BufWriter::with_capacity(1 << 16, io::stdout()),
            line: Vec::with_capacity(1024),
            json,
            seen: 0,
            limit: limit.unwrap_or(u64::MAX),
        }
    }

    /// Prints the event received at `now`; true once the count is reached.
    pub fn print(&mut self, subject: &str, body: &[u8], now: DateTime<Utc>) -> Result<bool> {
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
        Ok(self.done())
    }

    /// Prints the invalid entry of a line of a file that was too long to read (`line` counts
    /// from 1); true once the count is reached.
    pub fn print_skipped(&mut self, line: u64, max: usize, now: DateTime<Utc>) -> Result<bool> {
        self.line.clear();
        let error = format!("line {line}: longer than {max} bytes (--max-line-bytes); skipped");
        if self.json {
            let entry = InvalidLine {
                subject: "",
                body_base64: String::new(),
                error,
            };
            serde_json::to_writer(&mut self.line, &entry)
                .expect("serializing to memory cannot fail");
            self.line.push(b'\n');
        } else {
            let _ = writeln!(self.line, "{}  ! {error}", now.format("%H:%M:%S%.3f"));
        }
        self.out
            .write_all(&self.line)
            .context("cannot write to stdout")?;
        self.seen += 1;
        Ok(self.done())
    }

    pub fn done(&self) -> bool {
        self.seen >= self.limit
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context("cannot write to stdout")
    }
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
pub fn cell(value: &str) -> String {
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
pub fn compact_json(json: &[u8], out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
