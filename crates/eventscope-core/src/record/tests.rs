//! The recording against its specification, on real files: restart, exact bytes, a full disk,
//! retention, overload.

use std::path::Path;

use super::*;
use crate::source::{GatewayMessage, MessageBatch};

fn envelope(org: &str, n: usize) -> (String, Vec<u8>) {
    let subject = format!("events.{org}.tasks.task.created.task_{n}");
    let body = format!(
        r#"{{"id":"evt_{n}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"task_{n}","eventName":"created","timestamp":"2026-01-01T09:30:15.250Z","payload":{{"title":"Call Zoë {n}"}}}}"#
    );
    (subject, body.into_bytes())
}

fn batch(messages: &[(String, Vec<u8>)]) -> MessageBatch {
    MessageBatch::Gateway(
        messages
            .iter()
            .map(|(subject, body)| GatewayMessage {
                subject: subject.clone(),
                body: body.clone(),
            })
            .collect(),
    )
}

/// Keeps the tests' messages of 1970 (received at a few seconds after the epoch).
const FOREVER: Retention = Retention {
    max_bytes: 1 << 30,
    max_age_secs: 100 * 365 * 24 * 3600,
};

fn options(retention: Retention) -> RecorderOptions {
    RecorderOptions {
        retention,
        ..RecorderOptions::default()
    }
}

/// Every message of `org` (all when `None`), oldest first, a page of `page` at a time.
fn all(path: &Path, org: Option<&str>, page: usize) -> Vec<RecordedMessage> {
    let reader = Reader::open(path).unwrap();
    let mut query = Query::range(org, i64::MIN, i64::MAX, page);
    let mut out: Vec<RecordedMessage> = Vec::new();
    loop {
        let got = reader.query(&query).unwrap();
        let Some(last) = got.last() else { break };
        query.after = Some(last.cursor());
        out.extend(got);
    }
    out
}

/// The (org, event id) of each message, in order.
fn check(messages: &[RecordedMessage], expected: &[(&str, &str)]) {
    let got: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m.org.as_str(), m.event_id.as_str()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_restart_keeps_the_history_and_pages_by_org_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(&path, options(FOREVER)).unwrap();
    let first: Vec<_> = (0..3)
        .map(|n| envelope(if n % 2 == 0 { "org_1" } else { "org_2" }, n))
        .collect();
    assert!(recorder.record_batch(&batch(&first), 1_000));
    assert!(recorder.record_batch(&batch(&[envelope("org_1", 3)]), 2_000));
    recorder.close();
    drop(recorder);

    let recorder = Recorder::open(&path, options(FOREVER)).unwrap();
    assert_eq!(recorder.stats().rows, 4);
    assert!(recorder.record_batch(&batch(&[envelope("org_2", 4)]), 3_000));
    recorder.flush();
    let stats = recorder.stats();
    assert_eq!(
        (stats.rows, stats.oldest_ms, stats.newest_ms, stats.dropped),
        (5, Some(1_000), Some(3_000), 0)
    );

    // Pages of one message, read while the writer is still open.
    check(
        &all(&path, None, 1),
        &[
            ("org_1", "evt_0"),
            ("org_2", "evt_1"),
            ("org_1", "evt_2"),
            ("org_1", "evt_3"),
            ("org_2", "evt_4"),
        ],
    );
    check(
        &all(&path, Some("org_1"), 2),
        &[("org_1", "evt_0"), ("org_1", "evt_2"), ("org_1", "evt_3")],
    );
    let reader = Reader::open(&path).unwrap();
    let mut newest = Query::range(Some("org_1"), 1_000, 2_000, 1);
    newest.newest_first = true;
    let page = reader.query(&newest).unwrap();
    check(&page, &[("org_1", "evt_2")]);
    newest.after = Some(page[0].cursor());
    check(&reader.query(&newest).unwrap(), &[("org_1", "evt_0")]);
    assert_eq!(reader.orgs().unwrap(), ["org_1", "org_2"]);
    let message = &reader.query(&Query::range(None, 0, 1_001, 1)).unwrap()[0];
    assert_eq!(
        (
            message.subject.as_str(),
            message.source.as_str(),
            message.resource.as_str(),
            message.event_name.as_str(),
            message.resource_id.as_str(),
            message.timestamp_ms,
        ),
        (
            "events.org_1.tasks.task.created.task_0",
            "tasks",
            "task",
            "created",
            "task_0",
            Some(1_767_259_815_250),
        )
    );
}

#[test]
fn any_bytes_are_kept_exactly_with_fields_from_the_subject() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(&path, options(FOREVER)).unwrap();
    let subject = "events.org_9.flows.flow.failed.flow_1".to_string();
    let bodies: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00not utf-8\x80".to_vec(),
        b"plain text, not JSON".to_vec(),
        Vec::new(),
        b"[1, 2, 3]".to_vec(),
        b"{\"id\": \"e1\",\n \"organizationId\": \"org_9\"}".to_vec(),
    ];
    let messages: Vec<_> = bodies
        .iter()
        .map(|b| (subject.clone(), b.clone()))
        .collect();
    recorder.record_batch(&batch(&messages), 5_000);
    recorder.flush();
    let got = all(&path, Some("org_9"), 10);
    assert_eq!(
        got.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
        bodies
    );
    assert_eq!(
        got.iter()
            .map(|m| format!(
                "{} {} {} {} {} {:?}",
                m.source, m.resource, m.event_name, m.resource_id, m.event_id, m.timestamp_ms
            ))
            .collect::<Vec<_>>(),
        [
            "flows flow failed flow_1  None",
            "flows flow failed flow_1  None",
            "flows flow failed flow_1  None",
            "flows flow failed flow_1  None",
            "flows flow failed flow_1 e1 None",
        ]
    );
}

#[test]
fn organizations_the_caller_resolved_are_the_ones_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(&path, options(FOREVER)).unwrap();
    let messages = [envelope("org_1", 1), envelope("org_1", 2)];
    // As the store resolved them (here unlike their envelopes, to tell them apart).
    let orgs = vec![std::sync::Arc::from("org_1"), std::sync::Arc::from("org_2")];
    assert!(recorder.record_resolved(&batch(&messages), 1_000, orgs));
    // A list of the wrong length is not trusted: the writer resolves them itself.
    let wrong = vec![std::sync::Arc::from("org_2"), std::sync::Arc::from("org_2")];
    assert!(recorder.record_resolved(&batch(&[envelope("org_1", 3)]), 1_001, wrong));
    recorder.flush();
    check(
        &all(&path, None, 10),
        &[("org_1", "evt_1"), ("org_2", "evt_2"), ("org_1", "evt_3")],
    );
    check(&all(&path, Some("org_2"), 10), &[("org_2", "evt_2")]);
}

#[test]
fn a_full_disk_stops_recording_says_why_and_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(
        &path,
        RecorderOptions {
            // 256 KiB: a file that cannot grow past it fails as a full disk does.
            max_page_count: Some(64),
            ..options(FOREVER)
        },
    )
    .unwrap();
    let mut accepted = 0;
    for round in 0..200 {
        let messages: Vec<_> = (0..50).map(|n| envelope("org_1", round * 50 + n)).collect();
        if recorder.record_batch(&batch(&messages), 1_000 + round as i64) {
            accepted += 50;
        }
        recorder.flush();
    }
    let stats = recorder.stats();
    assert_eq!(
        (stats.writing, stats.last_error.as_deref()),
        (false, Some("database or disk is full"))
    );
    assert_eq!(
        stats.dropped + stats.rows,
        10_000,
        "{stats:?} accepted {accepted}"
    );
    assert!(stats.rows > 0 && stats.rows < accepted, "{stats:?}");
    assert!(!recorder.record_batch(&batch(&[envelope("org_1", 0)]), 9_000));
    recorder.close();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(all(&path, None, 1000).len() as u64, stats.rows);
}

#[test]
fn retention_by_size_deletes_the_oldest_and_shrinks_the_file_when_lowered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let mib = 1 << 20;
    let recorder = Recorder::open(
        &path,
        options(Retention {
            max_bytes: 4 * mib,
            max_age_secs: 3600,
        }),
    )
    .unwrap();
    // About 14 MiB of messages of 1.2 KiB, 500 at a time.
    let filler = format!(r#","note":"{}""#, "x".repeat(1000));
    let now = chrono::Utc::now().timestamp_millis();
    for round in 0..24 {
        let messages: Vec<_> = (0..500)
            .map(|n| {
                let (subject, mut body) = envelope("org_1", round * 500 + n);
                body.splice(body.len() - 2..body.len() - 2, filler.bytes());
                (subject, body)
            })
            .collect();
        recorder.record_batch(&batch(&messages), now);
        recorder.flush();
        // Applies the retention now rather than within the second.
        recorder.set_retention(recorder.stats().retention).unwrap();
    }
    recorder.flush();
    let file_bytes = |path: &Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())",
            [],
            |r| r.get::<_, u64>(0),
        )
        .unwrap()
    };
    let stats = recorder.stats();
    let kept = all(&path, None, 5000);
    assert_eq!(kept.len() as u64, stats.rows);
    assert_eq!(kept.last().unwrap().event_id, "evt_11999");
    assert!(
        stats.rows < 12_000 && file_bytes(&path) <= 4 * mib + 256 * 1024,
        "{stats:?}, {} bytes",
        file_bytes(&path)
    );

    recorder
        .set_retention(Retention {
            max_bytes: 2 * mib,
            max_age_secs: 3600,
        })
        .unwrap();
    recorder.flush();
    assert!(file_bytes(&path) <= 2 * mib, "{} bytes", file_bytes(&path));
    let kept = all(&path, None, 5000);
    assert_eq!(kept.len() as u64, recorder.stats().rows);
    assert_eq!(kept.last().unwrap().event_id, "evt_11999");
}

#[test]
fn retention_by_age_deletes_what_is_older() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(&path, options(FOREVER)).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let hour = 3_600_000;
    for (n, at) in [(0, now - 3 * hour), (1, now - 2 * hour), (2, now - 10)] {
        recorder.record_batch(&batch(&[envelope("org_1", n)]), at);
    }
    recorder.flush();
    check(
        &all(&path, None, 10),
        &[("org_1", "evt_0"), ("org_1", "evt_1"), ("org_1", "evt_2")],
    );
    recorder
        .set_retention(Retention {
            max_bytes: FOREVER.max_bytes,
            max_age_secs: 150 * 60,
        })
        .unwrap();
    recorder.flush();
    check(
        &all(&path, None, 10),
        &[("org_1", "evt_1"), ("org_1", "evt_2")],
    );
    assert_eq!(recorder.stats().rows, 2);
}

#[test]
fn a_writer_that_cannot_keep_up_counts_what_it_missed_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let one = batch(&[envelope("org_1", 1)]);
    let recorder = Recorder::open(
        &path,
        RecorderOptions {
            // Room for exactly one of these batches.
            queue_bytes: one.bytes() + 128,
            ..options(FOREVER)
        },
    )
    .unwrap();
    recorder.flush();
    // Another writer holds the file: the recorder waits on it, as on a disk that stalls.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(recorder.record_batch(&one, 1_000));
    let missed = batch(&[envelope("org_1", 2), envelope("org_1", 3)]);
    assert!(!recorder.record_batch(&missed, 1_100));
    assert!(!recorder.record_batch(&missed, 1_200));
    blocker.execute_batch("COMMIT").unwrap();
    while recorder.stats().queued_bytes > 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(recorder.record_batch(&batch(&[envelope("org_1", 4)]), 1_300));
    recorder.flush();
    assert_eq!(recorder.stats().dropped, 4);
    check(
        &all(&path, None, 10),
        &[("org_1", "evt_1"), ("org_1", "evt_4")],
    );
    let reader = Reader::open(&path).unwrap();
    assert_eq!(
        reader.gaps(0, 10_000).unwrap(),
        [RecordedGap {
            start_ms: 1_100,
            end_ms: Some(1_300),
            reason: reason::OVERLOADED.into(),
            missed: Some(4),
        }]
    );
    assert_eq!(reader.dropped().unwrap(), 4);
}

#[test]
fn what_is_not_a_recording_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &Path, expected: &str| {
        let err = Reader::open(path).err().expect("refused");
        assert_eq!(
            err.to_string(),
            expected.replace("DIR", &dir.path().display().to_string())
        );
    };
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "hello, this is not SQLite at all, and it is long enough",
    )
    .unwrap();
    check(&text, "DIR/notes.txt is not an Eventscope recording");
    let other = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    check(&other, "DIR/other.sqlite is not an Eventscope recording");
    // A recording of one row per message (version 1) is not read as blocks.
    let old = dir.path().join("old.sqlite");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO meta VALUES ('version', 1)",
        )
        .unwrap();
    check(
        &old,
        "DIR/old.sqlite was written by an older Eventscope (recording version 1): \
         move it away to start a new recording",
    );
    assert_eq!(
        Recorder::open(&old, options(FOREVER))
            .err()
            .map(|e| e.to_string()),
        Some(format!(
            "{}/old.sqlite was written by an older Eventscope (recording version 1): \
             move it away to start a new recording",
            dir.path().display()
        ))
    );
    check(
        &dir.path().join("missing.sqlite"),
        "cannot open the recording DIR/missing.sqlite: no such file",
    );
    assert_eq!(
        Recorder::open(
            dir.path().join("r.sqlite"),
            options(Retention {
                max_bytes: 1000,
                max_age_secs: 1
            })
        )
        .err()
        .map(|e| e.to_string()),
        Some("the retention size must be at least 1 MiB".into())
    );
}
