//! How `tail` prints an event: a text line for people, or a JSON line for scripts.

use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use eventscope_core::event;
use eventscope_core::export::{json_line, InvalidLine};

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

#[cfg(test)]
mod tests {
    use super::*;

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
