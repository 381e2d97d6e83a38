//! The recording's file: its tables, pragmas and version, shared by the writer and readers.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::RecordError;

/// Bumped when the tables change in a way an older reader cannot read.
/// 1 kept a row per message; 2 keeps a row per organization and commit window (block.rs).
pub const VERSION: i64 = 2;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY,
    org TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    origin TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_org_time ON blocks (org, first_ms);
CREATE INDEX IF NOT EXISTS blocks_time ON blocks (first_ms);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    reason TEXT NOT NULL,
    missed INTEGER
);
CREATE INDEX IF NOT EXISTS gaps_time ON gaps (start_ms);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Opens (creating when missing) the file for writing.
///
/// WAL with `synchronous=NORMAL`: a commit is appended to the log without an fsync, so a crash
/// of the process loses nothing committed (the OS has the pages) and a power cut loses at most
/// the commits since the last checkpoint; the file is never corrupt either way. The writer
/// commits every 250 ms, so a kill -9 loses at most that. `auto_vacuum=INCREMENTAL` lets the
/// retention give pages back when the size limit is lowered.
pub fn open_for_writing(path: &Path) -> Result<Connection, RecordError> {
    let failed = |source| open_failed(path, source);
    let conn = Connection::open(path).map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(failed)?;
    // auto_vacuum only takes on a file with no table yet; on an older file it stays as it was.
    // 16 KiB pages hold a few bodies each (fewer splits than 4 KiB); like auto_vacuum, only a
    // new file takes it.
    conn.execute_batch("PRAGMA page_size = 16384; PRAGMA auto_vacuum = INCREMENTAL")
        .map_err(failed)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(failed)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RecordError::NoWal {
            path: path.display().to_string(),
            mode,
        });
    }
    // Checkpoints (each with an fsync) every 1,024 pages (16 MiB) rather than SQLite's 1,000
    // 4 KiB pages; 32 MiB of page cache keeps the organization index's pages at hand.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 33554432;
         PRAGMA wal_autocheckpoint = 1024; PRAGMA cache_size = -32768;",
    )
    .map_err(failed)?;
    check_version(&conn, path)?;
    conn.execute_batch(TABLES).map_err(failed)?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('version', ?1)",
        [VERSION],
    )
    .map_err(failed)?;
    Ok(conn)
}

/// Opens an existing recording to read; never creates or changes it.
pub fn open_for_reading(path: &Path) -> Result<Connection, RecordError> {
    let failed = |source| open_failed(path, source);
    if !path.exists() {
        return Err(RecordError::Open {
            path: path.display().to_string(),
            reason: "no such file".into(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(failed)?;
    match check_version(&conn, path)? {
        Some(_) => Ok(conn),
        None => Err(RecordError::NotARecording {
            path: path.display().to_string(),
        }),
    }
}

/// SQLite's words, without the path it appends (the message names it first).
fn open_failed(path: &Path, e: rusqlite::Error) -> RecordError {
    let shown = path.display().to_string();
    let text = e.to_string();
    RecordError::Open {
        reason: text
            .strip_suffix(&format!(": {shown}"))
            .unwrap_or(&text)
            .to_string(),
        path: shown,
    }
}

/// The file's recording version; `None` for a new (empty) file. Refuses other SQLite files
/// and newer versions.
fn check_version(conn: &Connection, path: &Path) -> Result<Option<i64>, RecordError> {
    let not_ours = || RecordError::NotARecording {
        path: path.display().to_string(),
    };
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| match e {
            // "file is not a database"
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
                not_ours()
            }
            e => open_failed(path, e),
        })?;
    if tables == 0 {
        return Ok(None);
    }
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|_| not_ours())?;
    match version {
        None => Err(not_ours()),
        Some(v) if v > VERSION => Err(RecordError::NewerVersion {
            path: path.display().to_string(),
            version: v,
        }),
        Some(v) if v < VERSION => Err(RecordError::OlderVersion {
            path: path.display().to_string(),
            version: v,
        }),
        Some(v) => Ok(Some(v)),
    }
}
