//! `record` and `record query` end to end: the built binary against a real nats-server; a
//! kill -9 in the middle of writing leaves a sound file missing at most the last second.

use std::process::Output;
use std::time::{Duration, Instant};

use eventscope_testkit::{publish, wait_until, NatsServer};
use tokio::process::Child;

mod common;

use common::{cli, finish, WAIT};

fn envelope(org: &str, n: usize) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"id":"evt_{n}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"task_{n}","eventName":"created","timestamp":"2026-01-01T09:30:15.250Z","payload":{{"title":"Call Zoë"}}}}"#
    );
    (
        format!("events.{org}.tasks.task.created.task_{n}"),
        body.into_bytes(),
    )
}

/// Starts `record` into `db` and waits until it subscribed.
async fn record(server: &NatsServer, db: &str) -> Child {
    let before = server.subscription_count();
    let child = cli(&["record", "--nats-url", &server.url(), "--db", db])
        .spawn()
        .unwrap();
    server.wait_for_subscriptions(before + 1, WAIT);
    child
}

/// Asserts the exit code, stdout and stderr of a run.
fn check(output: &Output, code: i32, stdout: &str, stderr: &str) {
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).as_ref(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(code), stdout, stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reads_back_as_tail_prints_it() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rec.sqlite").display().to_string();
    let recorder = record(&server, &db).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut messages = vec![envelope("org_1", 1), envelope("org_2", 2)];
    messages.push((
        "events.org_1.apps.app.updated.app_1".into(),
        b"\xffnot json".to_vec(),
    ));
    publish(&client, &messages).await;
    let path = dir.path().join("rec.sqlite");
    wait_until("3 recorded", WAIT, || {
        rusqlite::Connection::open(&path)
            .and_then(|c| {
                c.query_row("SELECT coalesce(sum(count), 0) FROM blocks", [], |r| {
                    r.get(0)
                })
            })
            .is_ok_and(|n: i64| n == 3)
    })
    .await;
    // SAFETY: kill(2) on our own child, still running.
    unsafe { libc::kill(recorder.id().unwrap() as i32, libc::SIGTERM) };
    let stopped = finish(recorder).await;
    assert_eq!(stopped.status.code(), Some(0), "{stopped:?}");
    assert!(
        String::from_utf8_lossy(&stopped.stderr).starts_with("recording: 3 messages"),
        "{stopped:?}"
    );

    let output = finish(
        cli(&["record", "query", "--db", &db, "--org", "org_1", "--json"])
            .spawn()
            .unwrap(),
    )
    .await;
    check(
        &output,
        0,
        &format!(
            "{}\n{}\n",
            String::from_utf8_lossy(&messages[0].1),
            r#"{"subject":"events.org_1.apps.app.updated.app_1","bodyBase64":"/25vdCBqc29u","error":"the body is not valid UTF-8; shown as hex"}"#
        ),
        "",
    );
    let output = finish(
        cli(&[
            "record", "query", "--db", &db, "--since", "-1h", "--limit", "1", "--json",
        ])
        .spawn()
        .unwrap(),
    )
    .await;
    check(
        &output,
        0,
        &format!("{}\n", String::from_utf8_lossy(&messages[0].1)),
        "",
    );
    let output = finish(
        cli(&["record", "query", "--db", &db, "--until", "-1h"])
            .spawn()
            .unwrap(),
    )
    .await;
    check(&output, 0, "", "");
    let output = finish(
        cli(&["record", "query", "--db", "/nonexistent/rec.sqlite"])
            .spawn()
            .unwrap(),
    )
    .await;
    check(
        &output,
        1,
        "",
        "error: cannot open the recording /nonexistent/rec.sqlite: no such file\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_recording_leaves_a_sound_file_missing_at_most_the_last_second() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rec.sqlite").display().to_string();
    let mut recorder = record(&server, &db).await;
    let client = async_nats::connect(server.url()).await.unwrap();
    // 2,000 events a second for 3 s, each noted with when it was sent; the kill comes while
    // they are still being sent and written.
    let mut sent: Vec<Instant> = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let batch: Vec<_> = (n..n + 20).map(|i| envelope("org_1", i)).collect();
        publish(&client, &batch).await;
        sent.extend(std::iter::repeat_n(Instant::now(), 20));
        n += 20;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    recorder.start_kill().unwrap();
    let killed = Instant::now();
    recorder.wait().await.unwrap();

    let conn = rusqlite::Connection::open(dir.path().join("rec.sqlite")).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let reader = eventscope_core::record::Reader::open(dir.path().join("rec.sqlite")).unwrap();
    let query = eventscope_core::record::Query::range(None, i64::MIN, i64::MAX, usize::MAX);
    let ids: Vec<String> = reader
        .query(&query)
        .unwrap()
        .into_iter()
        .map(|m| m.event_id)
        .collect();
    // What is there is what was sent, in order, with nothing missing before its end.
    let expected: Vec<String> = (0..ids.len()).map(|i| format!("evt_{i}")).collect();
    assert_eq!(ids, expected);
    let lost = &sent[ids.len()..];
    assert!(
        lost.iter()
            .all(|at| killed.duration_since(*at) <= Duration::from_secs(1)),
        "{} of {} lost, the first sent {:?} before the kill",
        lost.len(),
        sent.len(),
        lost.first().map(|at| killed.duration_since(*at))
    );
}
