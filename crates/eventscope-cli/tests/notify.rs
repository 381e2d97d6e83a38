//! `eventscope-cli notify`, checked end to end: the built binary on files and against a real
//! nats-server, its output the contract of docs/notifications.md.

use std::process::Output;

use eventscope_testkit::{publish, NatsServer};

mod common;

use common::{cli, finish, WAIT};

fn event(id: &str, resource: &str, name: &str, resource_id: &str, payload: &str) -> String {
    let source = match resource {
        "task" => "tasks",
        _ => "conversations",
    };
    format!(
        r#"{{"id":"{id}","organizationId":"org_1","source":"{source}","resource":"{resource}","resourceId":"{resource_id}","eventName":"{name}","timestamp":"2026-01-01T09:00:00Z","payload":{payload}}}"#
    )
}

/// A conversation opened, a message in it that lacks its participants, a task that failed and
/// one that completed.
fn traffic() -> Vec<String> {
    vec![
        event(
            "evt_c",
            "conversation",
            "created",
            "conv_1",
            r#"{"title":"Billing","participants":["usr_1","usr_2"],"createdBy":{"id":"usr_1","name":"Ada"}}"#,
        ),
        event(
            "evt_m",
            "conversation",
            "message_posted",
            "conv_1",
            r#"{"text":"Zoë <b>here</b>","sender":{"id":"usr_1","name":"Ada"}}"#,
        ),
        event(
            "evt_f",
            "task",
            "failed",
            "task_1",
            r#"{"title":"Send invoice","owner":{"id":"usr_42"},"error":{"message":"SMTP timeout"},"attempt":1}"#,
        ),
        event(
            "evt_d",
            "task",
            "completed",
            "task_2",
            r#"{"title":"Call Bob","owner":{"id":"usr_42"}}"#,
        ),
    ]
}

const RULES: &str = r#"
rules:
  - id: retried
    event: task.failed
    when: 'payload.attempt>=2'
    title: 'Retried: {{ payload.title }}'
    channels: [push]
    recipients: {from: payload.owner.id}
  - id: conversation-created
    enabled: false
"#;

/// Asserts the exit code, stdout and stderr.
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

fn files() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, traffic().join("\n") + "\n").unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    (dir, s(events), s(rules))
}

const EXPECTED: &str = r#"{"eventId":"evt_m","rule":"new-message","priority":"normal","channel":"websocket","recipient":"usr_2","title":"Ada","body":"Zoë <b>here</b>"}
{"eventId":"evt_m","rule":"new-message","priority":"normal","channel":"push","recipient":"usr_2","title":"Ada","body":"Zoë <b>here</b>"}
{"eventId":"evt_f","rule":"task-failed","priority":"high","channel":"websocket","recipient":"usr_42","title":"Task failed: Send invoice","body":"SMTP timeout"}
{"eventId":"evt_f","rule":"task-failed","priority":"high","channel":"push","recipient":"usr_42","title":"Task failed: Send invoice","body":"SMTP timeout"}
{"eventId":"evt_f","rule":"task-failed","priority":"high","channel":"email","recipient":"usr_42","title":"Task failed: Send invoice","body":"SMTP timeout"}
{"eventId":"evt_d","rule":"task-completed","priority":"normal","channel":"websocket","recipient":"usr_42","title":"Task completed: Call Bob","body":"Call Bob is done"}
{"eventId":"evt_d","rule":"task-completed","priority":"normal","channel":"push","recipient":"usr_42","title":"Task completed: Call Bob","body":"Call Bob is done"}
"#;

#[tokio::test]
async fn notify_prints_each_notification_in_event_rule_recipient_channel_order() {
    let (_dir, events, rules) = files();
    let out = finish(
        cli(&[
            "notify",
            "--rules",
            &rules,
            "--from-file",
            &events,
            "--json",
        ])
        .spawn()
        .unwrap(),
    )
    .await;
    check(&out, 0, EXPECTED, "");
    // Without the built-ins only the file's rules remain, and `retried` wants a second attempt.
    let out = finish(
        cli(&[
            "notify",
            "--rules",
            &rules,
            "--no-builtin",
            "--from-file",
            &events,
            "--json",
        ])
        .spawn()
        .unwrap(),
    )
    .await;
    check(&out, 0, "", "");
}

#[tokio::test]
async fn explain_gives_each_rule_matched_or_its_reason() {
    let (_dir, events, rules) = files();
    let explain = |id: &'static str| {
        let (events, rules) = (events.clone(), rules.clone());
        async move {
            finish(
                cli(&[
                    "notify",
                    "explain",
                    "--event-id",
                    id,
                    "--rules",
                    &rules,
                    "--from-file",
                    &events,
                    "--json",
                ])
                .spawn()
                .unwrap(),
            )
            .await
        }
    };
    check(
        &explain("evt_d").await,
        0,
        r#"{"rule":"new-message","matched":false,"reason":"event","detail":"the rule is for conversation.message_posted, the event is task.completed"}
{"rule":"conversation-created","matched":false,"reason":"disabled","detail":"the rule is disabled"}
{"rule":"task-completed","matched":true}
{"rule":"task-failed","matched":false,"reason":"event","detail":"the rule is for task.failed, the event is task.completed"}
{"rule":"retried","matched":false,"reason":"event","detail":"the rule is for task.failed, the event is task.completed"}
"#,
        "",
    );
    check(
        &explain("evt_f").await,
        0,
        r#"{"rule":"new-message","matched":false,"reason":"event","detail":"the rule is for conversation.message_posted, the event is task.failed"}
{"rule":"conversation-created","matched":false,"reason":"disabled","detail":"the rule is disabled"}
{"rule":"task-completed","matched":false,"reason":"event","detail":"the rule is for task.completed, the event is task.failed"}
{"rule":"task-failed","matched":true}
{"rule":"retried","matched":false,"reason":"condition","detail":"payload.attempt>=2 does not hold: the event has 1"}
"#,
        "",
    );
    let out = finish(
        cli(&[
            "notify",
            "explain",
            "--event-id",
            "evt_m",
            "--rules",
            &rules,
            "--from-file",
            &events,
        ])
        .spawn()
        .unwrap(),
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().next(),
        Some("new-message: matched: usr_2 by websocket, push (recipients from history: conversation.created evt_c)")
    );
    check(
        &explain("evt_nope").await,
        1,
        "",
        &format!("error: no event with id \"evt_nope\" in {events}\n"),
    );
}

#[tokio::test]
async fn rules_lists_the_effective_rules_and_an_invalid_file_exits_2() {
    let (dir, _events, rules) = files();
    let out = finish(
        cli(&["notify", "rules", "--rules", &rules])
            .spawn()
            .unwrap(),
    )
    .await;
    check(
        &out,
        0,
        "new-message  conversation.message_posted  normal  websocket,push  New message (built-in)
conversation-created  conversation.created  normal  websocket  Conversation created (overrides the built-in) [disabled]
task-completed  task.completed  normal  websocket,push  Task completed (built-in)
task-failed  task.failed  high  websocket,push,email  Task failed (built-in)
retried  task.failed  normal  push  retried
",
        "",
    );
    let out = finish(cli(&["notify", "rules", "--json"]).spawn().unwrap()).await;
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
        .collect();
    assert_eq!(
        ids,
        [
            r#""new-message""#,
            r#""conversation-created""#,
            r#""task-completed""#,
            r#""task-failed""#
        ]
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - id: late\n    event: task.failed\n    title: '{{ payload.x '\n    channels: [push]\n    recipients: {from: payload.x}\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    for args in [
        vec!["notify", "rules", "--rules", &bad, "--json"],
        vec!["notify", "--rules", &bad, "--from-file", "-", "--json"],
    ] {
        let out = finish(cli(&args).spawn().unwrap()).await;
        check(
            &out,
            2,
            "",
            &format!("error: invalid rules file {bad}: 2:5: rule late: title: template error at 1:12: syntax error: unexpected end of input, expected end of variable block\n"),
        );
    }
}

#[tokio::test]
async fn notify_on_the_bus_prints_what_it_would_send_as_events_arrive() {
    let server = NatsServer::start();
    let (_dir, _events, rules) = files();
    let url = server.url();
    let before = server.subscription_count();
    let child = cli(&[
        "notify",
        "--nats-url",
        &url,
        "--rules",
        &rules,
        "--json",
        "--count",
        "7",
    ])
    .spawn()
    .unwrap();
    server.wait_for_subscriptions(before + 1, WAIT);
    let client = async_nats::connect(&url).await.unwrap();
    let mut messages = Vec::new();
    for body in traffic() {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let subject = format!(
            "events.org_1.{}.{}.{}.{}",
            v["source"].as_str().unwrap(),
            v["resource"].as_str().unwrap(),
            v["eventName"].as_str().unwrap(),
            v["resourceId"].as_str().unwrap()
        );
        messages.push((subject, body.into_bytes()));
    }
    publish(&client, &messages).await;
    check(&finish(child).await, 0, EXPECTED, "");
}
