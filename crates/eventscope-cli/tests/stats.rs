//! `eventscope-cli stats`, checked end to end: the built binary against a real nats-server, its
//! counts equal to what was published, per group.

use std::process::{Output, Stdio};
use std::time::Duration;

use eventscope_testkit::{publish, NatsServer};
use serde_json::Value;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_eventscope-cli");
const WAIT: Duration = Duration::from_secs(30);

/// An envelope stamped 2026-01-01T09:00Z, long before it is published: its lag is large and
/// positive.
fn envelope(org: &str, source: &str, resource: &str, event: &str, id: &str) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"id":"evt_{id}","organizationId":"{org}","source":"{source}","resource":"{resource}","resourceId":"{id}","eventName":"{event}","timestamp":"2026-01-01T09:00:00Z","payload":{{}}}}"#
    );
    (
        format!("events.{org}.{source}.{resource}.{event}.{id}"),
        body.into_bytes(),
    )
}

/// 5 tasks of org_1, 3 flows of org_2, 2 apps of org_1 and one message that is not JSON.
fn traffic() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(envelope(
            "org_1",
            "tasks",
            "task",
            "created",
            &format!("t{i}"),
        ));
    }
    for i in 0..3 {
        all.push(envelope("org_2", "flows", "flow", "run", &format!("f{i}")));
    }
    for i in 0..2 {
        all.push(envelope(
            "org_1",
            "apps",
            "app",
            "installed",
            &format!("a{i}"),
        ));
    }
    all.push((
        "events.org_3.apps.app.event_received.x".to_string(),
        b"not json".to_vec(),
    ));
    all
}

/// Starts `stats` and returns once the server holds its subscription.
fn start(server: &NatsServer, args: &[&str]) -> Child {
    let before = server.subscription_count();
    let url = server.url();
    let mut command = Command::new(BIN);
    command
        .args(["stats", "--nats-url", &url])
        .args(args)
        .env_remove("EVENTSCOPE_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().unwrap();
    server.wait_for_subscriptions(before + 1, WAIT);
    child
}

async fn finish(child: Child) -> Output {
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("stats finishes in time")
        .expect("stats runs")
}

/// `group count bytes` per JSON line, and the lag fields checked for shape.
fn check(output: &Output, expected: &[&str]) {
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(0), "")
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let mut got = Vec::new();
    for line in stdout.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        // The contract's keys, in the contract's order.
        let keys = [
            "group",
            "count",
            "bytes",
            "ratePerSec",
            "lagP50Ms",
            "lagP99Ms",
            "lagMaxMs",
        ];
        let at: Vec<Option<usize>> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")))
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]) && at[0] == Some(1),
            "{line}"
        );
        assert_eq!(row.as_object().unwrap().len(), keys.len());
        for lag in ["lagP50Ms", "lagP99Ms", "lagMaxMs"] {
            // Published now, stamped in the past: positive; null without a timestamp.
            assert!(
                row[lag].is_null() || row[lag].as_i64().unwrap() > 0,
                "{line}"
            );
        }
        assert!(row["ratePerSec"].as_f64().unwrap() > 0.0);
        got.push(format!(
            "{} {} {}",
            row["group"], row["count"], row["bytes"]
        ));
    }
    assert_eq!(got, expected);
}

fn bytes_of(messages: &[(String, Vec<u8>)], pick: impl Fn(&str) -> bool) -> usize {
    messages
        .iter()
        .filter(|(s, _)| pick(s))
        .map(|(_, b)| b.len())
        .sum()
}

#[tokio::test]
async fn stats_json_counts_what_was_published_per_group_largest_first() {
    let server = NatsServer::start();
    let messages = traffic();
    let client = async_nats::connect(server.url()).await.unwrap();
    let by_source = start(&server, &["--duration", "3", "--json"]);
    let by_org = start(&server, &["--duration", "3", "--json", "--by", "org"]);
    let by_event = start(&server, &["--duration", "3", "--json", "--by", "event"]);
    publish(&client, &messages).await;

    let tasks = bytes_of(&messages, |s| s.contains(".tasks."));
    let flows = bytes_of(&messages, |s| s.contains(".flows."));
    let apps = bytes_of(&messages, |s| s.contains(".app.installed."));
    check(
        &finish(by_source).await,
        &[
            &format!(r#""tasks" 5 {tasks}"#),
            &format!(r#""apps" 3 {}"#, apps + 8),
            &format!(r#""flows" 3 {flows}"#),
        ],
    );
    check(
        &finish(by_org).await,
        &[
            &format!(r#""org_1" 7 {}"#, tasks + apps),
            &format!(r#""org_2" 3 {flows}"#),
            r#""org_3" 1 8"#,
        ],
    );
    check(
        &finish(by_event).await,
        &[
            &format!(r#""task.created" 5 {tasks}"#),
            &format!(r#""flow.run" 3 {flows}"#),
            &format!(r#""app.installed" 2 {apps}"#),
            r#""app.event_received" 1 8"#,
        ],
    );
}

#[tokio::test]
async fn stats_prints_a_table_per_subject_on_ctrl_c() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let child = start(
        &server,
        &["--by", "subject", "--subject", "events.*.flows.>"],
    );
    publish(&client, &traffic()).await;
    // Let the messages reach the CLI, then interrupt it as a terminal would.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = finish(child).await;
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["group", "count", "bytes"],
            vec![
                "events.org_2.flows.flow.run.f0",
                "1",
                &bytes_of(&traffic(), |s| s.ends_with(".f0")).to_string()
            ],
            vec![
                "events.org_2.flows.flow.run.f1",
                "1",
                &bytes_of(&traffic(), |s| s.ends_with(".f1")).to_string()
            ],
            vec![
                "events.org_2.flows.flow.run.f2",
                "1",
                &bytes_of(&traffic(), |s| s.ends_with(".f2")).to_string()
            ],
        ]
    );
}
