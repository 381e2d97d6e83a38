//! Reading a recording: pages of messages by organization and time, gaps, organizations. A
//! reader has its own read-only connection, so it reads beside the writer (WAL).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::schema::{self, parse_headers};
use super::{Query, RecordError, RecordedGap, RecordedMessage};

const COLUMNS: &str = "id, received_ms, timestamp_ms, org, source, resource, event_name, \
                       resource_id, event_id, subject, headers, origin, body";

/// A read-only view of a recording file (not `Sync`: one per thread, or behind a mutex).
pub struct Reader {
    conn: Connection,
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
        // The cursor narrows the time range so the index seeks straight to it; the rows at the
        // cursor's own millisecond are then told apart by id.
        let (index, org) = match &query.org {
            Some(_) => ("messages_org_time", "org = ?5 AND"),
            None => ("messages_time", ""),
        };
        let (mut since, mut until) = (query.since_ms, query.until_ms);
        let (same_ms, order) = if query.newest_first {
            ("id >= ?4", "DESC")
        } else {
            ("id <= ?4", "ASC")
        };
        let (cursor_ms, cursor_id) = match query.after {
            Some(c) if query.newest_first => {
                until = until.min(c.received_ms.saturating_add(1));
                (c.received_ms, c.id)
            }
            Some(c) => {
                since = since.max(c.received_ms);
                (c.received_ms, c.id)
            }
            None => (i64::MIN, 0),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages INDEXED BY {index}
             WHERE {org} received_ms >= ?1 AND received_ms < ?2
               AND NOT (received_ms = ?3 AND {same_ms})
             ORDER BY received_ms {order}, id {order} LIMIT ?6"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let limit = query.limit.min(i64::MAX as usize) as i64;
        let org = query.org.as_deref().unwrap_or("");
        let rows = stmt.query_map(
            params![since, until, cursor_ms, cursor_id, org, limit],
            message,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
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
            .prepare_cached("SELECT min(org) FROM messages WHERE org > ?1")?;
        let mut orgs = Vec::new();
        let mut after = String::new();
        let first: Option<String> = self
            .conn
            .query_row("SELECT min(org) FROM messages", [], |r| r.get(0))
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

fn message(r: &Row<'_>) -> rusqlite::Result<RecordedMessage> {
    Ok(RecordedMessage {
        id: r.get(0)?,
        received_ms: r.get(1)?,
        timestamp_ms: r.get(2)?,
        org: r.get(3)?,
        source: r.get(4)?,
        resource: r.get(5)?,
        event_name: r.get(6)?,
        resource_id: r.get(7)?,
        event_id: r.get(8)?,
        subject: r.get(9)?,
        headers: parse_headers(r.get(10)?),
        origin: r.get(11)?,
        body: r.get(12)?,
    })
}
