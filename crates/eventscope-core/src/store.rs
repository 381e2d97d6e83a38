//! The in-memory event store: raw messages in large chunks plus a small fixed-size index record
//! per event, monotonic sequence numbers, oldest-first eviction that is counted.
//!
//! Why this shape: keeping the raw bytes loses nothing and costs one copy; the index record
//! (about 64 bytes) holds byte ranges and interned ids, so rows are rendered and filtered
//! without parsing. Payloads are parsed only when a view needs them (the detail pane).

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::event::{self, Problems};
use crate::wire::{Body, EventDetail, RowSummary};

/// Default number of events held.
pub const DEFAULT_CAPACITY: usize = 1_000_000;
/// Default bound on the bytes of raw messages held.
pub const DEFAULT_MAX_BYTES: usize = 2 << 30;
/// Bodies above this size are flagged large.
pub const LARGE_BODY: usize = 256 * 1024;
const CHUNK_BYTES: usize = 4 << 20;

/// How much the store may hold; the oldest events go first when either bound is reached.
#[derive(Debug, Clone, Copy)]
pub struct StoreLimits {
    pub capacity: usize,
    pub max_bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            capacity: DEFAULT_CAPACITY,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// One message as it arrives from a source.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub subject: &'a str,
    /// NATS headers as (name, value) pairs.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub received_ms: i64,
}

/// A small integer standing for an interned string; 0 is the empty string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// Turns the few distinct orgs, sources and names into small integers, so that facets and
/// filters compare integers.
#[derive(Debug)]
pub struct Interner {
    ids: FxHashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut interner = Interner {
            ids: FxHashMap::default(),
            names: Vec::new(),
        };
        interner.intern("");
        interner
    }
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(sym) = self.ids.get(s) {
            return *sym;
        }
        let sym = Sym(self.names.len() as u32);
        self.names.push(s.into());
        self.ids.insert(s.into(), sym);
        sym
    }

    pub fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }

    pub fn resolve(&self, sym: Sym) -> &str {
        &self.names[sym.0 as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A byte range relative to the start of an event's bytes in its chunk.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// The fixed-size index record of one event. Layout in the chunk arena, from `offset`:
/// subject, headers (`name\0value\0` pairs), body, then any unescaped id/resourceId copies.
#[derive(Debug, Clone, Copy)]
struct Record {
    received_ms: i64,
    timestamp_ms: i64,
    offset: u32,
    subject_len: u32,
    headers_len: u32,
    body_len: u32,
    id: Span,
    resource_id: Span,
    org: Sym,
    source: Sym,
    resource: Sym,
    event_name: Sym,
    problems: Problems,
}

const NO_TIME: i64 = i64::MIN;

#[derive(Debug)]
struct Chunk {
    first_seq: u64,
    bytes: Vec<u8>,
    records: Vec<Record>,
}

impl Chunk {
    fn new(first_seq: u64, bytes: usize) -> Chunk {
        Chunk {
            first_seq,
            bytes: Vec::with_capacity(bytes),
            records: Vec::with_capacity(bytes / 512),
        }
    }

    fn end_seq(&self) -> u64 {
        self.first_seq + self.records.len() as u64
    }

    fn footprint(&self) -> usize {
        self.bytes.capacity() + self.records.capacity() * std::mem::size_of::<Record>()
    }
}

/// Why events left the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    /// Evicted because the store held `capacity` events.
    pub by_capacity: u64,
    /// Evicted because the raw bytes held reached `max_bytes`.
    pub by_memory: u64,
}

impl Evictions {
    pub fn total(&self) -> u64 {
        self.by_capacity + self.by_memory
    }
}

/// Every event received, up to the limits, addressable by sequence number.
#[derive(Debug)]
pub struct EventStore {
    limits: StoreLimits,
    chunks: VecDeque<Chunk>,
    /// Sequence number of the oldest held event; events below it are evicted even when their
    /// chunk is still allocated.
    first_seq: u64,
    next_seq: u64,
    /// Bytes of the chunks held (arena capacity plus index records).
    footprint: usize,
    raw_bytes: u64,
    invalid: u64,
    evictions: Evictions,
    interner: Interner,
}

impl Default for EventStore {
    fn default() -> Self {
        EventStore::new(StoreLimits::default())
    }
}

impl EventStore {
    pub fn new(limits: StoreLimits) -> EventStore {
        EventStore {
            limits: StoreLimits {
                capacity: limits.capacity.max(1),
                max_bytes: limits.max_bytes,
            },
            chunks: VecDeque::new(),
            first_seq: 0,
            next_seq: 0,
            footprint: 0,
            raw_bytes: 0,
            invalid: 0,
            evictions: Evictions::default(),
            interner: Interner::default(),
        }
    }

    /// Decodes, indexes and stores one message; returns its sequence number.
    pub fn push(&mut self, msg: Incoming<'_>) -> u64 {
        let decoded = event::decode(msg.body);
        let resolved = decoded.resolve(msg.subject);
        let headers_len: usize = msg.headers.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let escaped_extra = owned_len(&decoded.id) + owned_len(&decoded.resource_id);
        let needed = msg.subject.len() + headers_len + msg.body.len() + escaped_extra;

        let chunk = self.chunk_with_room(needed);
        let offset = chunk.bytes.len();
        chunk.bytes.extend_from_slice(msg.subject.as_bytes());
        for (name, value) in msg.headers {
            chunk.bytes.extend_from_slice(name.as_bytes());
            chunk.bytes.push(0);
            chunk.bytes.extend_from_slice(value.as_bytes());
            chunk.bytes.push(0);
        }
        let body_start = chunk.bytes.len();
        chunk.bytes.extend_from_slice(msg.body);
        let id = span_of(&mut chunk.bytes, offset, body_start, msg.body, &decoded.id);
        let resource_id = match &decoded.resource_id {
            Some(_) => span_of(
                &mut chunk.bytes,
                offset,
                body_start,
                msg.body,
                &decoded.resource_id,
            ),
            // From the subject token, which lives at the start of the record.
            None => subject_span(msg.subject, &resolved.resource_id),
        };
        let problems = decoded.problems;
        if !problems.is_empty() {
            self.invalid += 1;
        }
        let record = Record {
            received_ms: msg.received_ms,
            timestamp_ms: decoded.timestamp_ms.unwrap_or(NO_TIME),
            offset: offset as u32,
            subject_len: msg.subject.len() as u32,
            headers_len: headers_len as u32,
            body_len: msg.body.len() as u32,
            id,
            resource_id,
            org: self.interner.intern(&resolved.org),
            source: self.interner.intern(&resolved.source),
            resource: self.interner.intern(&resolved.resource),
            event_name: self.interner.intern(&resolved.event_name),
            problems,
        };
        // `chunk` borrowed all of `self`; interning needed it back, so look the chunk up again.
        let records = &mut self
            .chunks
            .back_mut()
            .expect("chunk_with_room made one")
            .records;
        let before = records.capacity();
        records.push(record);
        self.footprint += (records.capacity() - before) * std::mem::size_of::<Record>();
        self.raw_bytes += (msg.subject.len() + msg.body.len()) as u64;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.enforce_limits();
        seq
    }

    /// The last chunk if it has room for `needed` more bytes, else a new one.
    fn chunk_with_room(&mut self, needed: usize) -> &mut Chunk {
        let has_room = self.chunks.back().is_some_and(|c| {
            c.bytes.capacity() - c.bytes.len() >= needed
                && c.bytes.len() + needed <= u32::MAX as usize
        });
        if !has_room {
            if let Some(last) = self.chunks.back_mut() {
                let before = last.footprint();
                last.records.shrink_to_fit();
                self.footprint -= before - last.footprint();
            }
            let chunk = Chunk::new(self.next_seq, needed.max(CHUNK_BYTES));
            self.footprint += chunk.footprint();
            self.chunks.push_back(chunk);
        }
        self.chunks.back_mut().expect("just pushed")
    }

    fn enforce_limits(&mut self) {
        let held = self.next_seq - self.first_seq;
        if held > self.limits.capacity as u64 {
            let over = held - self.limits.capacity as u64;
            self.first_seq += over;
            self.evictions.by_capacity += over;
        }
        // Memory is given back a whole chunk at a time, the oldest first, but never the chunk
        // being written.
        while self.footprint > self.limits.max_bytes && self.chunks.len() > 1 {
            let end = self.chunks[0].end_seq();
            if end > self.first_seq {
                self.evictions.by_memory += end - self.first_seq;
                self.first_seq = end;
            }
            self.drop_front_chunk();
        }
        while self
            .chunks
            .front()
            .is_some_and(|c| c.end_seq() <= self.first_seq && c.end_seq() < self.next_seq)
        {
            self.drop_front_chunk();
        }
    }

    fn drop_front_chunk(&mut self) {
        if let Some(chunk) = self.chunks.pop_front() {
            self.footprint -= chunk.footprint();
            self.raw_bytes -= chunk
                .records
                .iter()
                .map(|r| (r.subject_len + r.body_len) as u64)
                .sum::<u64>()
                .min(self.raw_bytes);
        }
    }

    /// Number of events held.
    pub fn len(&self) -> u64 {
        self.next_seq - self.first_seq
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sequence number of the oldest held event.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Sequence number the next event will get (also the number ever pushed).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn evictions(&self) -> Evictions {
        self.evictions
    }

    /// Events ever pushed that were not valid envelopes.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Bytes of raw subjects and bodies in the chunks held.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Bytes the store has allocated for events (arena and index).
    pub fn footprint(&self) -> usize {
        self.footprint
    }

    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// Forgets every event; sequence numbers keep increasing.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.first_seq = self.next_seq;
        self.footprint = 0;
        self.raw_bytes = 0;
    }

    fn locate(&self, seq: u64) -> Option<(&Chunk, &Record)> {
        if seq < self.first_seq || seq >= self.next_seq {
            return None;
        }
        let i = self.chunks.partition_point(|c| c.end_seq() <= seq);
        let chunk = self.chunks.get(i)?;
        let record = chunk.records.get((seq - chunk.first_seq) as usize)?;
        Some((chunk, record))
    }

    /// One held event, or `None` when `seq` was evicted or not yet received.
    pub fn get(&self, seq: u64) -> Option<EventRef<'_>> {
        let (chunk, record) = self.locate(seq)?;
        let start = record.offset as usize;
        Some(EventRef {
            seq,
            record,
            chunk: &chunk.bytes,
            bytes: &chunk.bytes[start..],
            interner: &self.interner,
        })
    }

    /// Held events with sequence numbers in `start..start + count`, oldest first.
    pub fn window(&self, start: u64, count: usize) -> impl Iterator<Item = EventRef<'_>> {
        let start = start.max(self.first_seq);
        let end = start.saturating_add(count as u64).min(self.next_seq);
        (start..end).filter_map(move |seq| self.get(seq))
    }

    /// The newest `count` held events, oldest first.
    pub fn tail(&self, count: usize) -> impl Iterator<Item = EventRef<'_>> {
        let start = self.next_seq.saturating_sub(count as u64);
        self.window(start, count)
    }
}

fn owned_len(field: &Option<std::borrow::Cow<'_, str>>) -> usize {
    match field {
        Some(std::borrow::Cow::Owned(s)) => s.len(),
        _ => 0,
    }
}

/// Where a decoded string lives: inside the body when borrowed, else copied after it.
fn span_of(
    arena: &mut Vec<u8>,
    record_start: usize,
    body_start: usize,
    body: &[u8],
    field: &Option<std::borrow::Cow<'_, str>>,
) -> Span {
    match field {
        None => Span::default(),
        Some(std::borrow::Cow::Borrowed(s)) => {
            // The decoder borrowed `s` from `body`: its position is a pointer difference.
            let at = s.as_ptr() as usize - body.as_ptr() as usize;
            Span {
                start: (body_start - record_start + at) as u32,
                len: s.len() as u32,
            }
        }
        Some(std::borrow::Cow::Owned(s)) => {
            let start = arena.len() - record_start;
            arena.extend_from_slice(s.as_bytes());
            Span {
                start: start as u32,
                len: s.len() as u32,
            }
        }
    }
}

/// The span of a subject token (a sub-slice of `subject`), which starts the record.
fn subject_span(subject: &str, token: &str) -> Span {
    if token.is_empty() {
        return Span::default();
    }
    let at = token.as_ptr() as usize - subject.as_ptr() as usize;
    Span {
        start: at as u32,
        len: token.len() as u32,
    }
}

/// Where an event's subject and body lie in the chunk that holds it (see [`EventRef::arena`]).
pub(crate) struct Arena<'a> {
    /// Every byte written to the chunk, other events' too.
    pub bytes: &'a [u8],
    pub subject: std::ops::Range<usize>,
    pub body: std::ops::Range<usize>,
    /// The body is UTF-8 (the subject always is).
    pub body_utf8: bool,
}

/// A held event, borrowed from the store.
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    seq: u64,
    record: &'a Record,
    /// The whole chunk the event lives in, for searches that cross events.
    chunk: &'a [u8],
    /// The chunk's bytes from the start of this event.
    bytes: &'a [u8],
    interner: &'a Interner,
}

impl<'a> EventRef<'a> {
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn received_ms(&self) -> i64 {
        self.record.received_ms
    }

    pub fn timestamp_ms(&self) -> Option<i64> {
        (self.record.timestamp_ms != NO_TIME).then_some(self.record.timestamp_ms)
    }

    fn str_at(&self, span: Span) -> &'a str {
        let bytes = &self.bytes[span.start as usize..(span.start + span.len) as usize];
        // Spans are only ever taken from `&str`s, so this never fails; an empty string is the
        // harmless answer if it somehow did.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    pub fn subject(&self) -> &'a str {
        self.str_at(Span {
            start: 0,
            len: self.record.subject_len,
        })
    }

    pub fn body(&self) -> &'a [u8] {
        let start = (self.record.subject_len + self.record.headers_len) as usize;
        &self.bytes[start..start + self.record.body_len as usize]
    }

    /// The event's place in its chunk: free-text and regex terms search a chunk at once and
    /// map what they find back to the subject and body of each event.
    pub(crate) fn arena(&self) -> Arena<'a> {
        let start = self.record.offset as usize;
        let body = start + (self.record.subject_len + self.record.headers_len) as usize;
        Arena {
            bytes: self.chunk,
            subject: start..start + self.record.subject_len as usize,
            body: body..body + self.record.body_len as usize,
            body_utf8: !self.record.problems.contains(Problems::NOT_UTF8),
        }
    }

    fn raw_headers(&self) -> &'a [u8] {
        let start = self.record.subject_len as usize;
        &self.bytes[start..start + self.record.headers_len as usize]
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        let raw = self.raw_headers();
        let mut parts = raw
            .split(|b| *b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let mut out = Vec::new();
        while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
            out.push((name, value));
        }
        out
    }

    pub fn id(&self) -> &'a str {
        self.str_at(self.record.id)
    }

    pub fn resource_id(&self) -> &'a str {
        self.str_at(self.record.resource_id)
    }

    pub fn org(&self) -> &'a str {
        self.interner.resolve(self.record.org)
    }

    pub fn source(&self) -> &'a str {
        self.interner.resolve(self.record.source)
    }

    pub fn resource(&self) -> &'a str {
        self.interner.resolve(self.record.resource)
    }

    pub fn event_name(&self) -> &'a str {
        self.interner.resolve(self.record.event_name)
    }

    pub fn org_sym(&self) -> Sym {
        self.record.org
    }

    pub fn source_sym(&self) -> Sym {
        self.record.source
    }

    /// `resource` and `eventName`, which together make the event's name.
    pub fn name_syms(&self) -> (Sym, Sym) {
        (self.record.resource, self.record.event_name)
    }

    pub fn problems(&self) -> Problems {
        self.record.problems
    }

    pub fn is_large(&self) -> bool {
        self.record.body_len as usize > LARGE_BODY
    }

    pub fn row(&self) -> RowSummary {
        RowSummary {
            seq: self.seq,
            pos: self.seq,
            id: self.id().to_string(),
            received_ms: self.received_ms(),
            timestamp_ms: self.timestamp_ms(),
            org: self.org().to_string(),
            source: self.source().to_string(),
            resource: self.resource().to_string(),
            event_name: self.event_name().to_string(),
            resource_id: self.resource_id().to_string(),
            subject: self.subject().to_string(),
            size: self.record.body_len,
            problem: self.problems().summary(),
            sent: crate::sent::is_ours(self.raw_headers()),
        }
    }

    /// Everything about the event; decodes the body again for the parser's own error words.
    pub fn detail(&self) -> EventDetail {
        let body = self.body();
        let decoded = event::decode(body);
        let shown = match std::str::from_utf8(body) {
            Err(_) => {
                let (dump, truncated) = hex_dump(body, HEX_LIMIT);
                Body::Hex { dump, truncated }
            }
            Ok(text) if decoded.problems.contains(Problems::NOT_JSON) => Body::Text {
                text: text.to_string(),
            },
            Ok(text) => Body::Json {
                text: text.to_string(),
            },
        };
        EventDetail {
            row: self.row(),
            headers: self.headers(),
            body: shown,
            problems: event::describe(decoded.problems, decoded.error.as_deref()),
        }
    }
}

const HEX_LIMIT: usize = 64 * 1024;

/// `offset  hex bytes  ascii`, 16 bytes a line, of at most `limit` bytes.
pub fn hex_dump(bytes: &[u8], limit: usize) -> (String, bool) {
    use std::fmt::Write;
    let shown = &bytes[..bytes.len().min(limit)];
    let mut out = String::with_capacity(shown.len() * 4 + 16);
    for (i, line) in shown.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", i * 16);
        for j in 0..16 {
            match line.get(j) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if j == 7 {
                out.push(' ');
            }
        }
        out.push(' ');
        out.extend(line.iter().map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    (out, bytes.len() > limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(id: &str, org: &str) -> String {
        format!(
            r#"{{"id":"{id}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"t_{id}","eventName":"created","timestamp":"2026-11-27T10:00:00Z","payload":{{"title":"x"}}}}"#
        )
    }

    fn push(store: &mut EventStore, subject: &str, body: &[u8]) -> u64 {
        store.push(Incoming {
            subject,
            headers: &[],
            body,
            received_ms: 1_000,
        })
    }

    /// Renders the held events as `seq:id` so expectations stay on one line.
    fn check(store: &EventStore, start: u64, count: usize, expected: &str) {
        let got: Vec<String> = store
            .window(start, count)
            .map(|e| format!("{}:{}", e.seq(), e.id()))
            .collect();
        assert_eq!(got.join(" "), expected);
    }

    #[test]
    fn sequences_and_windows() {
        let mut store = EventStore::default();
        for i in 0..5 {
            assert_eq!(
                push(
                    &mut store,
                    "events.o.tasks.task.created.t",
                    envelope(&format!("e{i}"), "o").as_bytes()
                ),
                i
            );
        }
        check(&store, 0, 10, "0:e0 1:e1 2:e2 3:e3 4:e4");
        check(&store, 3, 10, "3:e3 4:e4");
        check(&store, 1, 2, "1:e1 2:e2");
        check(&store, 9, 2, "");
        assert_eq!(
            store.tail(2).map(|e| e.seq()).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(store.len(), 5);
    }

    #[test]
    fn capacity_evicts_oldest_first_and_counts() {
        let mut store = EventStore::new(StoreLimits {
            capacity: 3,
            max_bytes: usize::MAX,
        });
        for i in 0..7 {
            push(
                &mut store,
                "events.o.tasks.task.created.t",
                envelope(&format!("e{i}"), "o").as_bytes(),
            );
        }
        check(&store, 0, 10, "4:e4 5:e5 6:e6");
        assert_eq!(store.len(), 3);
        assert_eq!(store.first_seq(), 4);
        assert_eq!(
            store.evictions(),
            Evictions {
                by_capacity: 4,
                by_memory: 0
            }
        );
        assert!(store.get(3).is_none());
    }

    #[test]
    fn memory_bound_evicts_whole_chunks_and_frees_them() {
        let mut store = EventStore::new(StoreLimits {
            capacity: usize::MAX,
            max_bytes: 3 * CHUNK_BYTES,
        });
        let body = format!(
            r#"{{"id":"big","payload":"{}"}}"#,
            "x".repeat(CHUNK_BYTES / 2)
        );
        for _ in 0..20 {
            push(&mut store, "events.o.s.r.e.x", body.as_bytes());
        }
        assert!(
            store.footprint() <= 3 * CHUNK_BYTES + CHUNK_BYTES,
            "{}",
            store.footprint()
        );
        assert_eq!(store.evictions().by_memory + store.len(), 20);
        assert!(store.evictions().by_memory >= 14);
        assert_eq!(store.get(19).unwrap().id(), "big");
    }

    #[test]
    fn chunk_memory_is_released_after_count_eviction() {
        let mut store = EventStore::new(StoreLimits {
            capacity: 10,
            max_bytes: usize::MAX,
        });
        let body = envelope("e", "o");
        for _ in 0..100_000 {
            push(&mut store, "events.o.tasks.task.created.t", body.as_bytes());
        }
        assert_eq!(store.len(), 10);
        assert!(
            store.footprint() <= 2 * CHUNK_BYTES + 64 * 1024,
            "{}",
            store.footprint()
        );
    }

    #[test]
    fn rows_fall_back_to_subject_tokens() {
        let mut store = EventStore::default();
        let seq = push(
            &mut store,
            "events.org_9.apps.app.event_received.app_456",
            b"not json at all",
        );
        let row = store.get(seq).unwrap().row();
        assert_eq!(
            (
                row.org.as_str(),
                row.source.as_str(),
                row.resource.as_str(),
                row.event_name.as_str(),
                row.resource_id.as_str()
            ),
            ("org_9", "apps", "app", "event_received", "app_456")
        );
        assert_eq!(row.problem.as_deref(), Some("not JSON"));
        assert_eq!(store.invalid(), 1);
        let detail = store.get(seq).unwrap().detail();
        assert_eq!(
            detail.body,
            Body::Text {
                text: "not json at all".into()
            }
        );
        assert_eq!(
            detail.problems,
            vec!["the body is not JSON (expected ident at line 1 column 2)"]
        );
    }

    #[test]
    fn escaped_ids_and_headers_survive() {
        let mut store = EventStore::default();
        let headers = vec![
            ("Nats-Msg-Id".to_string(), "abc".to_string()),
            ("X-Trace".to_string(), "t1".to_string()),
        ];
        let body = br#"{"id":"evt_\u00e9","resourceId":"r\"1","payload":{}}"#;
        let seq = store.push(Incoming {
            subject: "events.o.s.r.e.x",
            headers: &headers,
            body,
            received_ms: 5,
        });
        let ev = store.get(seq).unwrap();
        assert_eq!(
            (ev.id(), ev.resource_id(), ev.subject()),
            ("evt_é", "r\"1", "events.o.s.r.e.x")
        );
        assert_eq!(ev.headers(), headers);
        assert_eq!(ev.body(), body);
        assert_eq!(ev.received_ms(), 5);
    }

    #[test]
    fn non_utf8_is_shown_as_hex() {
        let mut store = EventStore::default();
        let seq = push(&mut store, "events.o.s.r.e.x", b"\xff\x00ab");
        let detail = store.get(seq).unwrap().detail();
        assert_eq!(
            detail.body,
            Body::Hex {
                dump: "00000000  ff 00 61 62                                       ..ab\n".into(),
                truncated: false
            }
        );
        assert_eq!(detail.row.problem.as_deref(), Some("not UTF-8"));
    }

    #[test]
    fn clear_keeps_sequence_numbers_growing() {
        let mut store = EventStore::default();
        push(&mut store, "events.o.s.r.e.x", b"{}");
        store.clear();
        assert!(store.is_empty());
        assert_eq!(push(&mut store, "events.o.s.r.e.x", b"{}"), 1);
        check(&store, 0, 5, "1:");
    }
}
