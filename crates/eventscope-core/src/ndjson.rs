//! Files of events, one per line (NDJSON as `tail --json` prints and exports write): read
//! with every line bounded in bytes, each line made back into the subject and bytes it had.
//!
//! `tail --from-file`, `notify --from-file` and the app's Open file read through here, so a
//! file means the same thing to each of them.

use std::io::{self, BufRead};

use base64::Engine;

use crate::event::{self, Metadata};
use crate::topic;

/// The longest line read by default; a longer one is skipped and counted.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A message: its subject (empty when the line does not say) and its bytes.
    Event {
        line: u64,
        subject: String,
        body: Vec<u8>,
    },
    /// A line over the bound: reported, the rest of it skipped unread.
    TooLong { line: u64 },
}

/// The entries of an NDJSON input, blank lines left out. A line longer than `max` bytes is
/// one [`Entry::TooLong`]: reported as soon as it passes the bound and the rest of it skipped
/// unread into memory, so memory stays bounded whatever the input (a 200 MB line, `/dev/zero`).
pub struct Lines<R> {
    input: R,
    max: usize,
    raw: Vec<u8>,
    number: u64,
    /// The rest of a too-long line, skipped at the next read: a caller that stops at the
    /// report (`tail --count 1` on `/dev/zero`) never reads an endless line's rest.
    skip_rest: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(input: R, max: usize) -> Lines<R> {
        Lines {
            input,
            max,
            raw: Vec::with_capacity(1024),
            number: 0,
            skip_rest: false,
        }
    }

    /// The next entry, or `None` at the end of the input.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if std::mem::take(&mut self.skip_rest) {
            skip_line(&mut self.input)?;
        }
        loop {
            self.number += 1;
            match next_line(&mut self.input, &mut self.raw, self.max)? {
                Line::End => return Ok(None),
                Line::Whole => {}
                Line::TooLong { rest } => {
                    self.skip_rest = rest;
                    return Ok(Some(Entry::TooLong { line: self.number }));
                }
            }
            while self.raw.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                self.raw.pop();
            }
            if self.raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (subject, body) = file_event(&self.raw);
            return Ok(Some(Entry::Event {
                line: self.number,
                subject,
                body,
            }));
        }
    }
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
pub fn file_event(line: &[u8]) -> (String, Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry of `input`, with lines bounded at 64 bytes, as `line subject body` strings.
    fn check(input: &[u8]) -> Vec<String> {
        let mut lines = Lines::new(input, 64);
        let mut out = Vec::new();
        while let Some(entry) = lines.next_entry().unwrap() {
            out.push(match entry {
                Entry::Event {
                    line,
                    subject,
                    body,
                } => format!("{line} {subject:?} {}", String::from_utf8_lossy(&body)),
                Entry::TooLong { line } => format!("{line} too long"),
            });
        }
        out
    }

    #[test]
    fn lines_become_subjects_and_bytes_and_long_lines_are_skipped_unread() {
        let envelope = r#"{"id":"e1","organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"n","timestamp":"t","metadata":{"filters":{"k":"v"}}}"#;
        let mut input = Vec::new();
        input.extend_from_slice(b"\r\n  \n");
        input.extend_from_slice(&[b'a'; 100]);
        input.extend_from_slice(b"\n");
        input.extend_from_slice(
            br#"{"subject":"events.o.s","bodyBase64":"/w==","error":"not JSON"}"#,
        );
        input.extend_from_slice(b"\nnot json\r\n");
        let mut lines = Lines::new(envelope.as_bytes(), 1 << 10);
        let Some(Entry::Event { subject, .. }) = lines.next_entry().unwrap() else {
            panic!("an event")
        };
        assert_eq!(subject, "events.o.s.r.n.x.k.v");
        assert_eq!(
            check(&input),
            [
                "3 too long".to_string(),
                "4 \"events.o.s\" \u{fffd}".to_string(),
                "5 \"\" not json".to_string(),
            ]
        );
    }
}
