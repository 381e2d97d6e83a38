//! Reading a recording: pages of messages by organization and time, gaps, organizations. A
//! reader has its own read-only connection, so it reads beside the writer (WAL).

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use super::block::{self, SPAN_MS};
use super::schema;
use super::{Query, RecordError, RecordedGap, RecordedMessage};
use crate::event;

/// A read-only view of a recording file (not `Sync`: one per thread, or behind a mutex).
pub struct Reader {
    conn: Connection,
}

/// A message taken from a block, its envelope fields not decoded yet.
struct Found {
    id: i64,
    received_ms: i64,
    org: Arc<str>,
    origin: Arc<str>,
    subject: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reader {
    /// Opens an existing recording; refuses a file that is not one.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader, RecordError> {
        Ok(Reader {
            conn: schema::open_for_reading(path.as_ref())?,
        })
    }

    /// One page of messages in receive order (see [`Query`]); pass the last one's
    /// [`RecordedMessage::cursor`] as `after` for the next page.
    pub fn query(&self, query: &Query) -> Result<Vec<RecordedMessage>, RecordError> {
        // Blocks are read in order of their first receive time from the index, decoded, and
        // their messages in range kept; reading stops once no further block can hold a message
        // that comes before the page's last one.
        let (index, org) = match &query.org {
            Some(_) => ("blocks_org_time", "org = ?4 AND"),
            None => ("blocks_time", ""),
        };
        let (mut since, mut until) = (query.since_ms, query.until_ms);
        match query.after {
            Some(c) if query.newest_first => until = until.min(c.received_ms.saturating_add(1)),
            Some(c) => since = since.max(c.received_ms),
            None => {}
        }
        if since >= until || query.limit == 0 {
            return Ok(Vec::new());
        }
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT org, origin, first_ms, last_ms, data FROM blocks INDEXED BY {index}
             WHERE {org} first_ms >= ?1 AND first_ms < ?2 AND last_ms >= ?3
             ORDER BY first_ms {order}, id {order}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let from = since.saturating_sub(SPAN_MS);
        let mut rows = match &query.org {
            Some(org) => stmt.query(params![from, until, since, org])?,
            None => stmt.query(params![from, until, since])?,
        };
        // Page order: oldest first, or newest first.
        let before = |a: &Found, b: &Found| {
            let o = (a.received_ms, a.id).cmp(&(b.received_ms, b.id));
            if query.newest_first {
                o.reverse()
            } else {
                o
            }
        };
        let after_cursor = |ms: i64, id: i64| match query.after {
            None => true,
            Some(c) if query.newest_first => (ms, id) < (c.received_ms, c.id),
            Some(c) => (ms, id) > (c.received_ms, c.id),
        };
        let mut found: Vec<Found> = Vec::new();
        let mut sorted = true;
        let mut names: (Arc<str>, Arc<str>) = (Arc::from(""), Arc::from(""));
        while let Some(row) = rows.next()? {
            let first_ms: i64 = row.get(2)?;
            if found.len() >= query.limit {
                if !sorted {
                    found.sort_unstable_by(before);
                    found.truncate(query.limit);
                    sorted = true;
                }
                let last = &found[query.limit - 1];
                let done = if query.newest_first {
                    first_ms.saturating_add(SPAN_MS) < last.received_ms
                } else {
                    first_ms > last.received_ms
                };
                if done {
                    break;
                }
            }
            let org = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            if *names.0 != *org {
                names.0 = Arc::from(org);
            }
            let origin = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            if *names.1 != *origin {
                names.1 = Arc::from(origin);
            }
            let data = row.get_ref(4)?.as_blob().map_err(rusqlite::Error::from)?;
            for m in block::messages(data, first_ms) {
                if m.received_ms < since || m.received_ms >= until {
                    continue;
                }
                if !after_cursor(m.received_ms, m.id) {
                    continue;
                }
                found.push(Found {
                    id: m.id,
                    received_ms: m.received_ms,
                    org: names.0.clone(),
                    origin: names.1.clone(),
                    subject: String::from_utf8_lossy(m.subject).into_owned(),
                    headers: m.headers(),
                    body: m.body.to_vec(),
                });
                sorted = false;
            }
        }
        found.sort_unstable_by(before);
        found.truncate(query.limit);
        Ok(found.into_iter().map(message).collect())
    }

    /// The gaps that overlap `since_ms..until_ms` (an open one reaches to now), oldest first.
    pub fn gaps(&self, since_ms: i64, until_ms: i64) -> Result<Vec<RecordedGap>, RecordError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT start_ms, end_ms, reason, missed FROM gaps
             WHERE start_ms < ?2 AND (end_ms IS NULL OR end_ms >= ?1)
             ORDER BY start_ms, id",
        )?;
        let rows = stmt.query_map(params![since_ms, until_ms], |r| {
            Ok(RecordedGap {
                start_ms: r.get(0)?,
                end_ms: r.get(1)?,
                reason: r.get(2)?,
                missed: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The organizations recorded, sorted (one index seek each, however many messages).
    pub fn orgs(&self) -> Result<Vec<String>, RecordError> {
        let mut next = self
            .conn
            .prepare_cached("SELECT min(org) FROM blocks WHERE org > ?1")?;
        let mut orgs = Vec::new();
        let mut after = String::new();
        let first: Option<String> = self
            .conn
            .query_row("SELECT min(org) FROM blocks", [], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(first) = first else {
            return Ok(orgs);
        };
        orgs.push(first.clone());
        after.clone_from(&first);
        while let Some(org) = next
            .query_row([&after], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten()
        {
            after.clone_from(&org);
            orgs.push(org);
        }
        Ok(orgs)
    }

    /// Messages the recorder could not record over the recording's life (its queue was full).
    pub fn dropped(&self) -> Result<u64, RecordError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'dropped'", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0))
    }
}

/// The message with its envelope fields decoded, as the writer resolved its organization.
fn message(found: Found) -> RecordedMessage {
    let decoded = event::decode(&found.body);
    let fields = decoded.resolve(&found.subject);
    RecordedMessage {
        id: found.id,
        received_ms: found.received_ms,
        timestamp_ms: decoded.timestamp_ms,
        org: found.org.to_string(),
        source: fields.source.into_owned(),
        resource: fields.resource.into_owned(),
        event_name: fields.event_name.into_owned(),
        resource_id: fields.resource_id.into_owned(),
        event_id: decoded.id.as_deref().unwrap_or("").to_string(),
        subject: found.subject.clone(),
        headers: found.headers,
        body: found.body.clone(),
        origin: found.origin.to_string(),
    }
}
