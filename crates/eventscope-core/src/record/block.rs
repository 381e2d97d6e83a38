//! A block: the messages of one organization from one commit window, encoded back to back in
//! one BLOB, so SQLite pays its per-row cost once per block rather than once per message.
//!
//! Each message is its id and receive time (as deltas from the previous one), its subject, its
//! headers and its body, each length-prefixed (LEB128 varints); the envelope fields are decoded
//! from the body when it is read.

/// A block's receive times span less than this: a query for `since..` reads the blocks that
/// start from `since - SPAN_MS`, and a block is closed when the next message is this much later.
pub const SPAN_MS: i64 = 1_000;

/// One organization's messages being gathered until the commit.
pub struct Block {
    pub org: String,
    pub first_ms: i64,
    pub last_ms: i64,
    pub count: u64,
    pub data: Vec<u8>,
    last_id: i64,
}

impl Block {
    pub fn new(org: &str, first_ms: i64) -> Block {
        Block {
            org: org.to_string(),
            first_ms,
            last_ms: first_ms,
            count: 0,
            data: Vec::new(),
            last_id: 0,
        }
    }

    /// Whether a message received at `received_ms` still belongs here.
    pub fn takes(&self, received_ms: i64) -> bool {
        received_ms - self.first_ms < SPAN_MS
    }

    /// Appends one message; `id` and `received_ms` never go down.
    pub fn push(
        &mut self,
        id: i64,
        received_ms: i64,
        subject: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) {
        put_varint(&mut self.data, (id - self.last_id) as u64);
        put_varint(&mut self.data, (received_ms - self.last_ms) as u64);
        put_bytes(&mut self.data, subject.as_bytes());
        put_varint(&mut self.data, headers.len() as u64);
        for (name, value) in headers {
            put_bytes(&mut self.data, name.as_bytes());
            put_bytes(&mut self.data, value.as_bytes());
        }
        put_bytes(&mut self.data, body);
        self.last_id = id;
        self.last_ms = received_ms;
        self.count += 1;
    }
}

/// One message as a block holds it, borrowing the block's bytes.
pub struct Encoded<'a> {
    pub id: i64,
    pub received_ms: i64,
    pub subject: &'a [u8],
    /// Header count, then the (name, value) pairs: decoded with [`headers`] only when kept.
    headers: (u64, &'a [u8]),
    pub body: &'a [u8],
}

impl Encoded<'_> {
    pub fn headers(&self) -> Vec<(String, String)> {
        let (count, mut rest) = self.headers;
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (Some(name), Some(value)) = (take_bytes(&mut rest), take_bytes(&mut rest)) else {
                break;
            };
            out.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
        out
    }
}

/// The messages of a block, in order; stops at the first malformed one.
pub struct Messages<'a> {
    data: &'a [u8],
    id: i64,
    received_ms: i64,
}

pub fn messages(data: &[u8], first_ms: i64) -> Messages<'_> {
    Messages {
        data,
        id: 0,
        received_ms: first_ms,
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Encoded<'a>;

    fn next(&mut self) -> Option<Encoded<'a>> {
        if self.data.is_empty() {
            return None;
        }
        let rest = &mut self.data;
        let id = self.id.checked_add(take_varint(rest)? as i64)?;
        let received_ms = self.received_ms.checked_add(take_varint(rest)? as i64)?;
        let subject = take_bytes(rest)?;
        let count = take_varint(rest)?;
        let before = *rest;
        for _ in 0..count {
            take_bytes(rest)?;
            take_bytes(rest)?;
        }
        let headers = (count, &before[..before.len() - rest.len()]);
        let body = take_bytes(rest)?;
        self.id = id;
        self.received_ms = received_ms;
        Some(Encoded {
            id,
            received_ms,
            subject,
            headers,
            body,
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn take_varint(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = data.split_first()?;
        *data = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn take_bytes<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(take_varint(data)?).ok()?;
    if len > data.len() {
        return None;
    }
    let (bytes, rest) = data.split_at(len);
    *data = rest;
    Some(bytes)
}
