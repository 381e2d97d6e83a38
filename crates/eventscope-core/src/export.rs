//! Export: events written as NDJSON (exactly the lines `tail --json` prints, which
//! `tail --from-file` and the app's import read back) or CSV, optionally with personal data
//! replaced by stable pseudonyms (docs/export.md).
//!
//! Masking rewrites string values only, in place in the raw JSON, so a masked envelope is still
//! a valid envelope with its ids, key order and numbers unchanged.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};

use base64::Engine;
use chrono::DateTime;
use serde::Serialize;

use crate::event;

/// What the export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum ExportFormat {
    /// One line per event, as `tail --json` prints it.
    Ndjson,
    /// A header, then `time,org,source,resource,event,resourceId,id,subject,payload`.
    Csv,
}

/// How far an export has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportProgress {
    pub events: u64,
    /// Bytes handed to the output.
    pub bytes: u64,
}

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 9] = [
    "time",
    "org",
    "source",
    "resource",
    "event",
    "resourceId",
    "id",
    "subject",
    "payload",
];

/// The JSON line of a message that is not a valid envelope: its subject, its bytes and what is
/// wrong with them. `tail --from-file` reads it back as the same message.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidLine<'a> {
    pub subject: &'a str,
    pub body_base64: String,
    pub error: String,
}

/// Appends the `tail --json` line of one message: a valid envelope exactly as received
/// (whitespace between tokens removed when it spans lines), anything else as an
/// [`InvalidLine`].
pub fn json_line(subject: &str, body: &[u8], out: &mut Vec<u8>) {
    let decoded = event::decode(body);
    if decoded.problems.is_empty() {
        if memchr::memchr2(b'\n', b'\r', body).is_some() {
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

/// A streaming export to `W`: call [`Exporter::write`] per event, then [`Exporter::finish`].
pub struct Exporter<W: Write> {
    out: Output<W>,
    masker: Option<Masker>,
    line: Vec<u8>,
    masked: Vec<u8>,
    progress: ExportProgress,
    on_progress: Option<Box<dyn FnMut(ExportProgress) + Send>>,
    reported_bytes: u64,
}

enum Output<W: Write> {
    Ndjson(io::BufWriter<W>),
    Csv(Box<csv::Writer<Counting<W>>>),
}

/// The progress callback runs about once per this many bytes written.
const PROGRESS_EVERY: u64 = 4 << 20;

impl<W: Write> Exporter<W> {
    /// An export in `format`; with `mask`, personal data is replaced as it describes.
    pub fn new(out: W, format: ExportFormat, mask: Option<Masking>) -> io::Result<Exporter<W>> {
        let out = match format {
            ExportFormat::Ndjson => Output::Ndjson(io::BufWriter::with_capacity(1 << 18, out)),
            ExportFormat::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .buffer_capacity(1 << 18)
                    .from_writer(Counting {
                        inner: out,
                        bytes: 0,
                    });
                csv.write_record(CSV_HEADER).map_err(csv_error)?;
                Output::Csv(Box::new(csv))
            }
        };
        Ok(Exporter {
            out,
            masker: mask.map(Masker::new),
            line: Vec::with_capacity(4096),
            masked: Vec::with_capacity(4096),
            progress: ExportProgress::default(),
            on_progress: None,
            reported_bytes: 0,
        })
    }

    /// Calls `report` about every 4 MiB of output and once at the end.
    pub fn on_progress(&mut self, report: impl FnMut(ExportProgress) + Send + 'static) {
        self.on_progress = Some(Box::new(report));
    }

    pub fn progress(&self) -> ExportProgress {
        self.progress
    }

    /// Writes one message (its subject and raw body).
    pub fn write(&mut self, subject: &str, body: &[u8]) -> io::Result<()> {
        let body = match &mut self.masker {
            Some(masker) => {
                self.masked.clear();
                masker.mask_body(body, &mut self.masked);
                &self.masked[..]
            }
            None => body,
        };
        self.line.clear();
        match &mut self.out {
            Output::Ndjson(out) => {
                json_line(subject, body, &mut self.line);
                out.write_all(&self.line)?;
                self.progress.bytes += self.line.len() as u64;
            }
            Output::Csv(out) => {
                write_csv(out, subject, body, &mut self.line)?;
                // What the CSV writer has flushed so far: progress moves in buffer steps.
                self.progress.bytes = out.get_ref().bytes;
            }
        }
        self.progress.events += 1;
        if self.progress.bytes - self.reported_bytes >= PROGRESS_EVERY {
            self.reported_bytes = self.progress.bytes;
            if let Some(report) = &mut self.on_progress {
                report(self.progress);
            }
        }
        Ok(())
    }

    /// Hands what is buffered to the output (while following, each event as it comes).
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Output::Ndjson(out) => out.flush(),
            Output::Csv(out) => out.flush(),
        }
    }

    /// Flushes everything and hands the output back.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(report) = &mut self.on_progress {
            report(self.progress);
        }
        match self.out {
            Output::Ndjson(out) => out.into_inner().map_err(|e| e.into_error()),
            Output::Csv(out) => out
                .into_inner()
                .map(|c| c.inner)
                .map_err(|e| e.into_error()),
        }
    }
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A writer that counts what goes through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One CSV row: the envelope's fields (subject tokens where missing), the payload compacted;
/// for a message that is not an envelope, its text (lossy) as a JSON string in `payload`.
fn write_csv<W: Write>(
    out: &mut csv::Writer<W>,
    subject: &str,
    body: &[u8],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let decoded = event::decode(body);
    let fields = decoded.resolve(subject);
    let time = decoded
        .timestamp_ms
        .and_then(DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    scratch.clear();
    match decoded.payload {
        Some(payload) if decoded.problems.is_empty() => compact_json(payload.as_bytes(), scratch),
        Some(_) | None if !decoded.problems.is_empty() => {
            serde_json::to_writer(&mut *scratch, &String::from_utf8_lossy(body))
                .expect("serializing to memory cannot fail");
        }
        _ => {}
    }
    out.write_record([
        time.as_bytes(),
        fields.org.as_bytes(),
        fields.source.as_bytes(),
        fields.resource.as_bytes(),
        fields.event_name.as_bytes(),
        fields.resource_id.as_bytes(),
        decoded.id.as_deref().unwrap_or("").as_bytes(),
        subject.as_bytes(),
        &scratch[..],
    ])
    .map_err(csv_error)
}

/// What masking replaces: every e-mail address and phone number in a string (outside the
/// envelope's own fields), and every string value at one of `paths`.
#[derive(Debug, Clone)]
pub struct Masking {
    /// Dotted paths from the envelope's root; `*` is one key or array element, `**` any number
    /// of them (`payload.**.author.name`).
    pub paths: Vec<String>,
}

/// The paths masked by default: where the platform's events carry people's names.
pub const DEFAULT_NAME_PATHS: &[&str] = &[
    "payload.**.sender.name",
    "payload.**.author.name",
    "payload.**.actor.name",
    "payload.**.owner.name",
    "payload.**.assignee.name",
    "payload.**.requester.name",
    "payload.**.user.name",
    "payload.**.contact.name",
    "payload.**.customer.name",
    "payload.**.participants.*.name",
    "payload.**.members.*.name",
    "payload.**.fields.name",
    "**.displayName",
    "**.firstName",
    "**.lastName",
    "**.fullName",
];

impl Default for Masking {
    fn default() -> Masking {
        Masking {
            paths: DEFAULT_NAME_PATHS.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// The envelope's own fields: never masked (ids are kept so events can still be followed).
const ENVELOPE_FIELDS: &[&[u8]] = &[
    b"id",
    b"organizationId",
    b"source",
    b"resource",
    b"resourceId",
    b"eventName",
    b"timestamp",
];

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(Vec<u8>),
    Any,
    Deep,
}

/// One export's masking: the paths and the per-export key of its pseudonyms.
pub struct Masker {
    paths: Vec<Vec<Step>>,
    /// Last keys of the paths: a string under another key needs no path match.
    last_keys: Vec<Vec<u8>>,
    any_last: bool,
    /// SipHash with a random key of its own: the same input gives the same pseudonym within
    /// one export, and nothing outside it can tell what a pseudonym stands for.
    key: RandomState,
    text: Vec<u8>,
    path: Vec<PathStep>,
}

#[derive(Debug, Clone, Copy)]
enum PathStep {
    /// A key: its byte range in the body (raw, as written).
    Key(usize, usize),
    Index,
}

impl Masker {
    pub fn new(masking: Masking) -> Masker {
        let paths: Vec<Vec<Step>> = masking
            .paths
            .iter()
            .map(|p| {
                p.split('.')
                    .map(|s| match s {
                        "*" => Step::Any,
                        "**" => Step::Deep,
                        key => Step::Key(key.as_bytes().to_vec()),
                    })
                    .collect()
            })
            .collect();
        let mut last_keys = Vec::new();
        let mut any_last = false;
        for path in &paths {
            match path.last() {
                Some(Step::Key(k)) => last_keys.push(k.clone()),
                _ => any_last = true,
            }
        }
        Masker {
            paths,
            last_keys,
            any_last,
            key: RandomState::new(),
            text: Vec::new(),
            path: Vec::new(),
        }
    }

    /// Appends `body` with personal data replaced. A body that is not JSON has its e-mail
    /// addresses and phone numbers replaced in its bytes.
    pub fn mask_body(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        if !event::decode(body)
            .problems
            .contains(event::Problems::NOT_JSON)
        {
            if self.mask_json(body, out) {
                return;
            }
            out.truncate(start);
        }
        self.mask_text(body, out);
    }

    /// Walks valid JSON, copying it and rewriting the strings to mask; false when the bytes are
    /// not what a JSON walk expects (the caller then masks them as text).
    fn mask_json(&mut self, body: &[u8], out: &mut Vec<u8>) -> bool {
        // Per open container: is it an object, and is the next string in it a key.
        let mut frames: Vec<(bool, bool)> = Vec::with_capacity(8);
        self.path.clear();
        let mut i = 0;
        let n = body.len();
        while i < n {
            let b = body[i];
            match b {
                b'"' => {
                    let Some(end) = string_end(body, i + 1) else {
                        return false;
                    };
                    let is_key = frames.last().is_some_and(|f| f.0 && f.1);
                    if is_key {
                        if let Some(f) = frames.last_mut() {
                            f.1 = false;
                        }
                        if let Some(PathStep::Key(s, e)) = self.path.last_mut() {
                            (*s, *e) = (i + 1, end);
                        }
                        out.extend_from_slice(&body[i..=end]);
                    } else {
                        self.mask_string(body, i + 1, end, out);
                    }
                    i = end + 1;
                    continue;
                }
                b'{' => {
                    frames.push((true, true));
                    self.path.push(PathStep::Key(0, 0));
                }
                b'[' => {
                    frames.push((false, false));
                    self.path.push(PathStep::Index);
                }
                b'}' | b']' => {
                    frames.pop();
                    self.path.pop();
                }
                b',' => {
                    if let Some(f) = frames.last_mut() {
                        f.1 = f.0;
                    }
                }
                _ => {}
            }
            out.push(b);
            i += 1;
        }
        frames.is_empty()
    }

    /// The string whose contents are `body[start..end]` (the closing quote at `end`), masked.
    fn mask_string(&mut self, body: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
        let raw = &body[start..end];
        if self.path.len() == 1 {
            if let PathStep::Key(s, e) = self.path[0] {
                if ENVELOPE_FIELDS.contains(&&body[s..e]) {
                    out.extend_from_slice(&body[start - 1..=end]);
                    return;
                }
            }
        }
        if self.at_masked_path(body) {
            let text: String = if raw.contains(&b'\\') {
                serde_json::from_slice(&body[start - 1..=end]).unwrap_or_default()
            } else {
                String::from_utf8_lossy(raw).into_owned()
            };
            out.extend_from_slice(b"\"Person ");
            let h = self.hash(b'n', text.as_bytes());
            let _ = write!(out, "{:08x}", h as u32);
            out.push(b'"');
            return;
        }
        if !may_hold_personal_data(raw) {
            out.extend_from_slice(&body[start - 1..=end]);
            return;
        }
        if raw.contains(&b'\\') {
            // Escapes could hide an address (`\u0040`): mask the string's value.
            let value: String = serde_json::from_slice(&body[start - 1..=end]).unwrap_or_default();
            let mut masked = Vec::with_capacity(value.len());
            self.mask_text(value.as_bytes(), &mut masked);
            serde_json::to_writer(&mut *out, &String::from_utf8_lossy(&masked))
                .expect("serializing to memory cannot fail");
            return;
        }
        out.push(b'"');
        self.mask_text(raw, out);
        out.push(b'"');
    }

    fn at_masked_path(&self, body: &[u8]) -> bool {
        let Some(PathStep::Key(s, e)) = self.path.last() else {
            return self.any_last && self.matches_path(body);
        };
        let key = &body[*s..*e];
        if !self.any_last && !self.last_keys.iter().any(|k| k == key) {
            return false;
        }
        self.matches_path(body)
    }

    fn matches_path(&self, body: &[u8]) -> bool {
        self.paths
            .iter()
            .any(|pattern| path_matches(pattern, &self.path, body))
    }

    /// Appends `text` with e-mail addresses and phone numbers replaced.
    pub fn mask_text(&mut self, text: &[u8], out: &mut Vec<u8>) {
        let mut emails_done = std::mem::take(&mut self.text);
        emails_done.clear();
        self.mask_emails(text, &mut emails_done);
        self.mask_phones(&emails_done, out);
        self.text = emails_done;
    }

    fn mask_emails(&self, s: &[u8], out: &mut Vec<u8>) {
        let (mut from, mut copied) = (0, 0);
        while let Some(found) = memchr::memchr(b'@', &s[from..]) {
            let at = from + found;
            let mut l = at;
            while l > 0 && is_local_char(s[l - 1]) {
                l -= 1;
            }
            while l < at && s[l] == b'.' {
                l += 1;
            }
            let mut r = at + 1;
            while r < s.len() && is_domain_char(s[r]) {
                r += 1;
            }
            while r > at + 1 && matches!(s[r - 1], b'.' | b'-') {
                r -= 1;
            }
            if l < at && copied <= l && is_domain(&s[at + 1..r]) {
                out.extend_from_slice(&s[copied..l]);
                let h = self.hash(b'e', &s[l..r].to_ascii_lowercase());
                let _ = write!(out, "user-{:08x}@example.invalid", h as u32);
                copied = r;
                from = r;
            } else {
                from = at + 1;
            }
        }
        out.extend_from_slice(&s[copied..]);
    }

    fn mask_phones(&self, s: &[u8], out: &mut Vec<u8>) {
        let (mut i, mut copied) = (0, 0);
        let n = s.len();
        while i < n {
            let b = s[i];
            let starts = (b.is_ascii_digit() || b == b'+' || b == b'(')
                && (i == 0 || !is_word(s[i - 1]) && s[i - 1] != b':' && s[i - 1] != b'+');
            if !starts {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut digits = 0;
            while j < n && is_phone_char(s[j]) && (j == i || s[j] != b'+') {
                digits += usize::from(s[j].is_ascii_digit());
                j += 1;
            }
            while j > i && !s[j - 1].is_ascii_digit() {
                j -= 1;
            }
            if j > i && (j == n || !is_word(s[j]) && s[j] != b':') && is_phone(&s[i..j], digits) {
                out.extend_from_slice(&s[copied..i]);
                let number: Vec<u8> = s[i..j].iter().copied().filter(u8::is_ascii_digit).collect();
                let h = self.hash(b'p', &number);
                let _ = write!(out, "+000-{:08}", h % 100_000_000);
                copied = j;
                i = j;
            } else {
                i = j.max(i + 1);
            }
        }
        out.extend_from_slice(&s[copied..]);
    }

    fn hash(&self, kind: u8, input: &[u8]) -> u64 {
        let mut h = self.key.build_hasher();
        h.write_u8(kind);
        h.write(input);
        h.finish()
    }
}

/// Whether a path pattern matches the path to the current value.
fn path_matches(pattern: &[Step], path: &[PathStep], body: &[u8]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(Step::Deep), _) => {
            path_matches(&pattern[1..], path, body)
                || (!path.is_empty() && path_matches(pattern, &path[1..], body))
        }
        (Some(Step::Any), Some(_)) => path_matches(&pattern[1..], &path[1..], body),
        (Some(Step::Key(k)), Some(PathStep::Key(s, e))) => {
            &body[*s..*e] == k.as_slice() && path_matches(&pattern[1..], &path[1..], body)
        }
        _ => false,
    }
}

/// The index of the closing quote of the string whose contents start at `from`.
fn string_end(body: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let found = from + memchr::memchr2(b'"', b'\\', &body[from..])?;
        if body[found] == b'"' {
            return Some(found);
        }
        from = found + 2;
        if from > body.len() {
            return None;
        }
    }
}

/// A quick pass that clears most strings: an address needs an `@` (or an escape that could be
/// one), a phone number at least seven digits.
fn may_hold_personal_data(raw: &[u8]) -> bool {
    if memchr::memchr2(b'@', b'\\', raw).is_some() {
        return true;
    }
    raw.iter().filter(|b| b.is_ascii_digit()).count() >= 7
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// A host name with at least two labels and a top-level label of two or more letters.
fn is_domain(d: &[u8]) -> bool {
    let Some(dot) = d.iter().rposition(|b| *b == b'.') else {
        return false;
    };
    let tld = &d[dot + 1..];
    dot > 0 && d[0] != b'.' && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
}

fn is_phone_char(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/')
}

/// A phone number: `+` and 8 to 15 digits, or 10 to 15 digits split by separators, and not a
/// date (`2026-01-31 14`).
fn is_phone(run: &[u8], digits: usize) -> bool {
    if !(7..=15).contains(&digits) {
        return false;
    }
    if run[0] == b'+' {
        return digits >= 8;
    }
    let separated = run.iter().any(|b| matches!(b, b' ' | b'-' | b'(' | b'/'));
    let date = run.len() >= 10
        && run[..4].iter().all(u8::is_ascii_digit)
        && run[4] == b'-'
        && run[7] == b'-';
    digits >= 10 && separated && !date
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(masker: &mut Masker, input: &str) -> String {
        let mut out = Vec::new();
        masker.mask_body(input.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn emails_phones_and_names_become_stable_pseudonyms() {
        let mut masker = Masker::new(Masking::default());
        let body = r#"{"id":"ev_1","organizationId":"org_1","resourceId":"ann@x.io","payload":{"text":"mail ann@x.io or Bob.Lee+tag@mail.example.com, call +49 151 2345 6789 or (555) 123-4567","sender":{"id":"u_1","name":"Ann Smith"},"at":"2026-01-31 14:00:00","n":4915123456789,"esc":"ann\u0040x.io"}}"#;
        let masked = check(&mut masker, body);
        let value: serde_json::Value = serde_json::from_str(&masked).unwrap();
        let email = format!(
            "user-{:08x}@example.invalid",
            masker.hash(b'e', b"ann@x.io") as u32
        );
        let other = format!(
            "user-{:08x}@example.invalid",
            masker.hash(b'e', b"bob.lee+tag@mail.example.com") as u32
        );
        let phone = |n: &[u8]| format!("+000-{:08}", masker.hash(b'p', n) % 100_000_000);
        assert_eq!(
            value,
            serde_json::json!({
                "id": "ev_1", "organizationId": "org_1", "resourceId": "ann@x.io",
                "payload": {
                    "text": format!("mail {email} or {other}, call {} or {}", phone(b"4915123456789"), phone(b"5551234567")),
                    "sender": {"id": "u_1", "name": format!("Person {:08x}", masker.hash(b'n', b"Ann Smith") as u32)},
                    "at": "2026-01-31 14:00:00",
                    "n": 4915123456789u64,
                    "esc": email,
                }
            })
        );
        // Same input, same pseudonym; the next export has other keys.
        assert_eq!(check(&mut masker, body), masked);
        assert_ne!(check(&mut Masker::new(Masking::default()), body), masked);
    }

    #[test]
    fn text_that_is_not_json_is_masked_as_text() {
        let mut masker = Masker::new(Masking::default());
        let masked = check(
            &mut masker,
            "not json: ann@x.io +44 20 7946 0958 order 12345",
        );
        assert!(
            !masked.contains("ann@x.io") && !masked.contains("7946"),
            "{masked}"
        );
        assert!(masked.ends_with(" order 12345"), "{masked}");
    }

    #[test]
    fn ndjson_is_what_tail_json_prints_and_progress_counts_it() {
        let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut exporter = Exporter::new(Vec::new(), ExportFormat::Ndjson, None).unwrap();
        let seen = reports.clone();
        exporter.on_progress(move |p| seen.lock().unwrap().push(p));
        let pretty = b"{\n \"id\": \"e_1\", \"organizationId\": \"org_1\", \"source\": \"tasks\", \"resource\": \"task\", \"resourceId\": \"t_1\", \"eventName\": \"created\", \"timestamp\": \"2026-01-31T14:00:00Z\", \"payload\": {\"a b\": \" x \"}\n}";
        exporter
            .write("events.org_1.tasks.task.created.t_1", pretty)
            .unwrap();
        exporter.write("events.x", b"{}").unwrap();
        let out = String::from_utf8(exporter.finish().unwrap()).unwrap();
        let decoded = event::decode(b"{}");
        let error = event::describe(decoded.problems, decoded.error.as_deref()).join("; ");
        let invalid = format!(
            r#"{{"subject":"events.x","bodyBase64":"e30=","error":{}}}"#,
            serde_json::Value::from(error)
        );
        assert_eq!(
            out,
            format!(
                "{}\n{invalid}\n",
                r#"{"id":"e_1","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_1","eventName":"created","timestamp":"2026-01-31T14:00:00Z","payload":{"a b":" x "}}"#
            )
        );
        assert_eq!(
            *reports.lock().unwrap(),
            [ExportProgress {
                events: 2,
                bytes: out.len() as u64
            }]
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
    fn csv_rows_carry_the_envelope_fields_and_the_payload() {
        let mut exporter = Exporter::new(Vec::new(), ExportFormat::Csv, None).unwrap();
        exporter
            .write(
                "events.org_1.tasks.task.failed.t_1",
                br#"{"id":"ev_1","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_1","eventName":"failed","timestamp":"2026-01-31T14:00:00Z","payload":{ "a" : "x,y" }}"#,
            )
            .unwrap();
        exporter.write("odd.subject", b"\xff\xfe").unwrap();
        let out = String::from_utf8(exporter.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "time,org,source,resource,event,resourceId,id,subject,payload\n\
             2026-01-31T14:00:00.000Z,org_1,tasks,task,failed,t_1,ev_1,events.org_1.tasks.task.failed.t_1,\"{\"\"a\"\":\"\"x,y\"\"}\"\n\
             ,,,,,,,odd.subject,\"\"\"\u{FFFD}\u{FFFD}\"\"\"\n"
        );
    }
}
