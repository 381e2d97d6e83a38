//! The CLI's contract, checked end to end: the built binary against a real nats-server.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use async_nats::{Client, Subscriber};
use eventscope_testkit::{free_port, publish, NatsServer};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;

mod common;

use common::{cli, finish, WAIT};

/// A compact envelope with this resource id and extra `metadata` JSON (or none).
fn envelope(resource_id: &str, metadata: &str) -> String {
    format!(
        r#"{{"id":"evt_{resource_id}","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"{resource_id}","eventName":"created","timestamp":"2026-01-01T09:30:15.250Z","payload":{{"title":"Call Zoë 🎉"}}{metadata}}}"#
    )
}

async fn run(args: &[&str]) -> Output {
    finish(cli(args).spawn().unwrap()).await
}

async fn run_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = cli(args).stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    finish(child).await
}

/// Asserts the exit code and the whole of stderr.
fn check(output: &Output, code: i32, stderr: &str) {
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(code), stderr),
        "stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
}

async fn subscriber(server: &NatsServer) -> (Client, Subscriber) {
    let client = async_nats::connect(server.url()).await.unwrap();
    let subscriber = client.subscribe("events.>").await.unwrap();
    client.flush().await.unwrap();
    (client, subscriber)
}

/// Everything the subscriber got before a sentinel published now: what was published earlier
/// on the server has been routed before it.
async fn drain(client: &Client, subscriber: &mut Subscriber) -> Vec<(String, String)> {
    client
        .publish("events.sentinel", "end".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut got = Vec::new();
    loop {
        let message = tokio::time::timeout(WAIT, subscriber.next())
            .await
            .unwrap()
            .unwrap();
        if message.subject.as_str() == "events.sentinel" {
            return got;
        }
        let body = String::from_utf8_lossy(&message.payload).into_owned();
        got.push((message.subject.to_string(), body));
    }
}

/// Starts `tail` and returns once the server holds its subscriptions.
fn start_tail(server: &NatsServer, args: &[&str], patterns: u64) -> Child {
    let before = server.subscription_count();
    let url = server.url();
    let mut all = vec!["tail", "--nats-url", &url];
    all.extend_from_slice(args);
    let child = cli(&all).spawn().unwrap();
    server.wait_for_subscriptions(before + patterns, WAIT);
    child
}

#[tokio::test]
async fn tail_json_prints_exactly_what_was_published_in_order() {
    let server = NatsServer::start();
    let tail = start_tail(&server, &["--json", "--count", "6"], 1);
    let client = async_nats::connect(server.url()).await.unwrap();
    let pretty = "{\n  \"id\": \"evt_p\",\n  \"organizationId\": \"org_1\",\n  \"source\": \"tasks\",\n  \"resource\": \"task\",\n  \"resourceId\": \"t_p\",\n  \"eventName\": \"created\",\n  \"timestamp\": \"2026-01-01T09:30:15Z\",\n  \"payload\": {\"text\": \"two  spaces\"}\n}";
    let bodies: [(&str, Vec<u8>); 6] = [
        (
            "events.org_1.tasks.task.created.t_1",
            envelope("t_1", "").into_bytes(),
        ),
        (
            "events.org_1.tasks.task.created.t_p",
            pretty.as_bytes().to_vec(),
        ),
        (
            "events.org_1.tasks.task.failed.t_9",
            b"hello world".to_vec(),
        ),
        (
            "events.org_1.apps.app.event_received.app_1",
            b"\xff\xfe\x00bin".to_vec(),
        ),
        (
            "events.org_1.tasks.task.created.t_2",
            br#"{"id":"evt_x","payload":{}}"#.to_vec(),
        ),
        (
            "events.org_1.tasks.task.created.t_3.owner.u_1",
            envelope(
                "t_3",
                r#","metadata":{"filters":{"owner":"u_1"}},"extra":true"#,
            )
            .into_bytes(),
        ),
    ];
    let bodies: Vec<_> = bodies
        .into_iter()
        .map(|(s, b)| (s.to_string(), b))
        .collect();
    publish(&client, &bodies).await;

    let output = finish(tail).await;
    check(&output, 0, "");
    let expected = [
        envelope("t_1", ""),
        r#"{"id":"evt_p","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_p","eventName":"created","timestamp":"2026-01-01T09:30:15Z","payload":{"text":"two  spaces"}}"#.to_string(),
        r#"{"subject":"events.org_1.tasks.task.failed.t_9","bodyBase64":"aGVsbG8gd29ybGQ=","error":"the body is not JSON (expected value at line 1 column 1)"}"#.to_string(),
        r#"{"subject":"events.org_1.apps.app.event_received.app_1","bodyBase64":"//4AYmlu","error":"the body is not valid UTF-8; shown as hex"}"#.to_string(),
        r#"{"subject":"events.org_1.tasks.task.created.t_2","bodyBase64":"eyJpZCI6ImV2dF94IiwicGF5bG9hZCI6e319","error":"field `organizationId` is missing; field `source` is missing; field `resource` is missing; field `resourceId` is missing; field `eventName` is missing; field `timestamp` is missing"}"#.to_string(),
        envelope("t_3", r#","metadata":{"filters":{"owner":"u_1"}},"extra":true"#),
    ];
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        expected.join("\n") + "\n"
    );
}

#[tokio::test]
async fn tail_prints_a_readable_line_per_event_from_every_pattern() {
    let server = NatsServer::start();
    let tail = start_tail(
        &server,
        &[
            "--count",
            "3",
            "--subject",
            "events.*.tasks.>",
            "--subject",
            "events.org_2.apps.>",
        ],
        2,
    );
    let client = async_nats::connect(server.url()).await.unwrap();
    client
        .publish("events.org_1.flows.flow.run.f_1", "not selected".into())
        .await
        .unwrap();
    client
        .publish(
            "events.org_1.tasks.task.created.t_1",
            envelope("t_1", "").into(),
        )
        .await
        .unwrap();
    client
        .publish("events.org_2.apps.app.event_received.app_7", "oops".into())
        .await
        .unwrap();
    client
        .publish("events.org_1.tasks.task.failed.t_2", r#"{"id":"e"}"#.into())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let output = finish(tail).await;
    check(&output, 0, "");
    // The two subscriptions are merged, so only the order within each pattern is fixed.
    let mut lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (time, rest) = line.split_at(12);
            assert!(
                time.as_bytes()[2] == b':' && time.as_bytes()[8] == b'.',
                "{line}"
            );
            // A message without a timestamp shows its receive time, which the test cannot know.
            if rest.contains("! ") {
                format!("hh:mm:ss.mmm{rest}")
            } else {
                line.to_string()
            }
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines.join("\n"),
        "\
09:30:15.250  org_1         tasks          task.created                 t_1               193B  events.org_1.tasks.task.created.t_1
hh:mm:ss.mmm  org_1         tasks          task.failed                  t_2                10B  events.org_1.tasks.task.failed.t_2  ! missing organizationId, source, resource, resourceId, eventName, timestamp, payload
hh:mm:ss.mmm  org_2         apps           app.event_received           app_7               4B  events.org_2.apps.app.event_received.app_7  ! not JSON"
    );
}

#[tokio::test]
async fn tail_exits_quietly_when_stdout_is_closed() {
    let server = NatsServer::start();
    let mut tail = start_tail(&server, &["--json"], 1);
    drop(tail.stdout.take());
    let client = async_nats::connect(server.url()).await.unwrap();
    for i in 0..3 {
        client
            .publish(format!("events.o.s.r.e.x{i}"), envelope("x", "").into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    check(&finish(tail).await, 0, "");
}

#[tokio::test]
async fn publish_sends_ndjson_and_pretty_files_on_their_subjects() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("events.ndjson");
    let with_filter = envelope(
        "t_2",
        r#","metadata":{"filters":{"owner":"u_1","team":"core"},"tags":["vip"]}"#,
    );
    std::fs::write(
        &ndjson,
        format!(
            "{}\n\n{with_filter}\n   \n{}\n",
            envelope("t_1", ""),
            envelope("t_3", "")
        ),
    )
    .unwrap();
    let output = run(&[
        "publish",
        "--nats-url",
        &server.url(),
        "--file",
        ndjson.to_str().unwrap(),
    ])
    .await;
    check(&output, 0, "published 3 events\n");
    assert_eq!(
        drain(&client, &mut received).await,
        [
            (
                "events.org_1.tasks.task.created.t_1".to_string(),
                envelope("t_1", "")
            ),
            (
                "events.org_1.tasks.task.created.t_2.owner.u_1.team.core".to_string(),
                with_filter
            ),
            (
                "events.org_1.tasks.task.created.t_3".to_string(),
                envelope("t_3", "")
            ),
        ]
    );

    let pretty = dir.path().join("one.json");
    std::fs::write(&pretty, "{\n  \"id\": \"evt_9\",\n  \"organizationId\": \"org_2\",\n  \"source\": \"collections\",\n  \"resource\": \"record\",\n  \"resourceId\": \"rec_9\",\n  \"eventName\": \"deleted\",\n  \"timestamp\": \"2026-01-01T00:00:00.000Z\",\n  \"payload\": {\"collection\": \"deals\"}\n}\n").unwrap();
    let output = run(&[
        "publish",
        "--nats-url",
        &server.url(),
        "--file",
        pretty.to_str().unwrap(),
    ])
    .await;
    check(&output, 0, "published 1 events\n");
    assert_eq!(
        drain(&client, &mut received).await,
        [(
            "events.org_2.collections.record.deleted.rec_9".to_string(),
            r#"{"id":"evt_9","organizationId":"org_2","source":"collections","resource":"record","resourceId":"rec_9","eventName":"deleted","timestamp":"2026-01-01T00:00:00.000Z","payload":{"collection":"deals"}}"#.to_string()
        )]
    );
}

#[tokio::test]
async fn publish_reads_stdin() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let input = format!("{}\n{}\n", envelope("t_1", ""), envelope("t_2", ""));
    for args in [&["publish", "-"][..], &["publish", "--file", "-"][..]] {
        let mut args = args.to_vec();
        let url = server.url();
        args.extend(["--nats-url", &url]);
        let output = run_with_stdin(&args, &input).await;
        check(&output, 0, "published 2 events\n");
        let subjects: Vec<String> = drain(&client, &mut received)
            .await
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            subjects,
            [
                "events.org_1.tasks.task.created.t_1",
                "events.org_1.tasks.task.created.t_2"
            ]
        );
    }
}

#[tokio::test]
async fn publish_builds_an_event_from_flags() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let output = run(&[
        "publish",
        "--nats-url",
        &server.url(),
        "--org",
        "org_9",
        "--source",
        "tasks",
        "--resource",
        "task",
        "--event",
        "completed",
        "--resource-id",
        "task_5",
        "--payload",
        r#"{"title": "Ship it"}"#,
        "--filter",
        "owner=usr_1",
        "--filter",
        "team=core",
        "--tag",
        "vip",
        "--tag",
        "beta",
    ])
    .await;
    check(&output, 0, "published 1 events\n");
    let got = drain(&client, &mut received).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0,
        "events.org_9.tasks.task.completed.task_5.owner.usr_1.team.core"
    );
    let mut body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    let id = body["id"].take();
    let timestamp = body["timestamp"].take();
    assert!(
        id.as_str().unwrap().starts_with("evt_") && id.as_str().unwrap().len() == 30,
        "{id}"
    );
    assert!(chrono_like(timestamp.as_str().unwrap()), "{timestamp}");
    assert_eq!(
        body.to_string(),
        r#"{"eventName":"completed","id":null,"metadata":{"filters":{"owner":"usr_1","team":"core"},"tags":["vip","beta"]},"organizationId":"org_9","payload":{"title":"Ship it"},"resource":"task","resourceId":"task_5","source":"tasks","timestamp":null}"#
    );
}

/// `2026-11-27T10:00:00.123Z`: RFC 3339, UTC, milliseconds.
fn chrono_like(text: &str) -> bool {
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn publish_validates_every_event_first_and_sends_nothing_on_error() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.ndjson");
    std::fs::write(
        &file,
        format!("{}\n{}\n", envelope("t_1", ""), envelope("t.2", "")),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let output = run(&["publish", "--nats-url", &server.url(), "--file", path]).await;
    check(
        &output,
        1,
        &format!("error: invalid event in {path}: line 2: resourceId \"t.2\" contains '.', which a subject token cannot hold\n"),
    );
    assert_eq!(drain(&client, &mut received).await, []);

    let output = run(&[
        "publish",
        "--nats-url",
        &server.url(),
        "--org",
        "org_1",
        "--source",
        "tasks",
        "--resource",
        "task",
        "--event",
        "created",
        "--resource-id",
        "a b",
    ])
    .await;
    check(&output, 1, "error: invalid event: resourceId \"a b\" contains ' ', which a subject token cannot hold\n");
    assert_eq!(drain(&client, &mut received).await, []);
}

#[tokio::test]
async fn simulate_delivers_exactly_the_count_of_valid_envelopes() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let output = finish(
        cli(&[
            "simulate", "--count", "500", "--rate", "5000", "--orgs", "4", "--seed", "7",
        ])
        .env("EVENTSCOPE_NATS_URL", server.url())
        .spawn()
        .unwrap(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0));
    let summary = String::from_utf8(output.stderr).unwrap();
    assert!(summary.starts_with("simulated 500 events ("), "{summary}");
    assert!(
        summary.contains(" bytes) for 4 organizations in "),
        "{summary}"
    );
    assert!(
        summary.ends_with(&format!("/s) to {}, seed 7\n", server.url())),
        "{summary}"
    );

    let got = drain(&client, &mut received).await;
    assert_eq!(got.len(), 500);
    let mut orgs = std::collections::BTreeSet::new();
    for (subject, body) in &got {
        let envelope: eventscope_core::event::Envelope = serde_json::from_str(body).unwrap();
        assert_eq!(&envelope.subject().unwrap(), subject);
        assert!(eventscope_core::event::decode(body.as_bytes())
            .problems
            .is_empty());
        orgs.insert(envelope.organization_id);
    }
    assert_eq!(orgs.len(), 4);
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_with_one_line() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    for command in [
        &["tail"][..],
        &[
            "publish",
            "--org",
            "o",
            "--source",
            "s",
            "--resource",
            "r",
            "--event",
            "e",
            "--resource-id",
            "x",
        ][..],
        &["simulate", "--count", "1"][..],
    ] {
        let mut args = command.to_vec();
        args.extend(["--nats-url", &url]);
        let started = Instant::now();
        let output = run(&args).await;
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{command:?} took {:?}",
            started.elapsed()
        );
        check(
            &output,
            1,
            &format!(
                "error: cannot connect to {url}: IO error: Connection refused (os error 111)\n"
            ),
        );
    }
}

#[tokio::test]
async fn bad_input_fails_with_one_line_before_connecting() {
    let unreachable = format!("nats://127.0.0.1:{}", free_port());
    let output = run(&[
        "tail",
        "--nats-url",
        &unreachable,
        "--subject",
        "events.a b",
    ])
    .await;
    check(&output, 1, "error: invalid --subject: invalid subject pattern \"events.a b\": a token contains whitespace\n");

    let output = run(&[
        "publish",
        "--nats-url",
        &unreachable,
        "--file",
        "/nonexistent/events.ndjson",
    ])
    .await;
    check(
        &output,
        1,
        "error: cannot read /nonexistent/events.ndjson: No such file or directory (os error 2)\n",
    );

    let output = run_with_stdin(&["publish", "--nats-url", &unreachable, "-"], "{\"id\": \n").await;
    check(
        &output,
        1,
        "error: invalid event in stdin: line 2: EOF while parsing a value\n",
    );

    let output = run(&["publish", "--nats-url", &unreachable, "--org", "o"]).await;
    check(
        &output,
        2,
        "error: the following required arguments were not provided: --source <SOURCE>, --resource <RESOURCE>, --event <NAME>, --resource-id <ID> (see --help)\n",
    );
}

/// An NDJSON capture of simulated traffic, plus lines that are not valid envelopes.
fn capture(dir: &std::path::Path) -> (std::path::PathBuf, Vec<(String, Vec<u8>)>) {
    use eventscope_core::simulate::{SimConfig, Simulator};
    let mut sim = Simulator::new(SimConfig {
        seed: 9,
        ..SimConfig::default()
    });
    let mut events = Vec::new();
    let mut text = String::new();
    for _ in 0..2_000 {
        let env = sim.next();
        let line = serde_json::to_string(&env).unwrap();
        text.push_str(&line);
        text.push('\n');
        events.push((env.subject().unwrap(), line.into_bytes()));
    }
    // `tail --json`'s line for a message that was not JSON, then a line that is not JSON.
    text.push_str(r#"{"subject":"events.org_1.apps.app.event_received.app_1","bodyBase64":"aGVsbG8gd29ybGQ=","error":"the body is not JSON (expected value at line 1 column 1)"}"#);
    text.push_str("\n\nnot json, org_1\n");
    events.push((
        "events.org_1.apps.app.event_received.app_1".into(),
        b"hello world".to_vec(),
    ));
    events.push((String::new(), b"not json, org_1".to_vec()));
    let path = dir.join("capture.ndjson");
    std::fs::write(&path, text).unwrap();
    (path, events)
}

/// The ids (or the first bytes of invalid bodies) the core's own evaluation selects.
fn core_ids(events: &[(String, Vec<u8>)], query: &str) -> Vec<String> {
    use eventscope_core::filter::Filter;
    use eventscope_core::store::{EventStore, Incoming};
    let filter = Filter::parse(query).unwrap();
    let mut store = EventStore::default();
    for (subject, body) in events {
        store.push(Incoming {
            subject,
            headers: &[],
            body,
            received_ms: 0,
        });
    }
    store
        .window(0, usize::MAX)
        .filter(|ev| filter.matches(ev, chrono_now_ms()))
        .map(|ev| match ev.id() {
            "" => ev.subject().to_string(),
            id => id.to_string(),
        })
        .collect()
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The ids of `tail --json` output lines: an envelope's id, else the invalid line's subject.
fn output_ids(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.get("id")
                .or(v.get("subject"))
                .and_then(|s| s.as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn tail_from_file_selects_the_same_events_as_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let (path, events) = capture(dir.path());
    let path = path.to_str().unwrap();
    let queries = [
        "",
        "org:org_1",
        "source:flows,tasks -event:created",
        "name:task.failed OR name:flow.run payload.status:failed",
        "resourceId:conv_* metadata.tags:vip",
        "has:payload.error OR is:invalid",
        "payload.durationMs>500",
        "after:2026-01-01T09:00:30Z before:2026-01-01T09:01Z",
        "\"hello world\" OR org_1",
        "/evt_[0-9A-Z]{10}0/",
        "subject:events.*.conversations.conversation.message_posted.*.participant.>",
        // Queries that start with `-`, given as their own argument the way a user types them:
        // a value, not a flag.
        "-source:apps",
        "-(org:org_1 OR source:flows)",
        "-has:payload.error",
        "--x",
    ];
    let mut total = 0;
    for query in queries {
        let output = run(&["tail", "--from-file", path, "--filter", query, "--json"]).await;
        check(&output, 0, "");
        let expected = core_ids(&events, query);
        assert_eq!(output_ids(&output), expected, "{query}");
        total += expected.len();
    }
    assert!(total > 2_000, "{total}");

    // Without a filter every line comes back, exactly as written for envelopes.
    let output = run(&["tail", "--from-file", path, "--json", "--count", "3"]).await;
    check(&output, 0, "");
    let text = std::fs::read_to_string(path).unwrap();
    let first: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        first.join("\n") + "\n"
    );
}

#[tokio::test]
async fn an_invalid_filter_fails_with_its_position_before_reading_or_connecting() {
    let unreachable = format!("nats://127.0.0.1:{}", free_port());
    let output = run(&[
        "tail",
        "--nats-url",
        &unreachable,
        "--filter",
        "org:a orgg:b",
    ])
    .await;
    check(
        &output,
        1,
        "error: invalid filter at 6: unknown field `orgg` (did you mean `org`)\n",
    );
    let output = run(&["tail", "--from-file", "/nonexistent", "--filter", "(a"]).await;
    check(
        &output,
        1,
        "error: invalid filter at 2: expected `)` to close the `(` at 0\n",
    );
    let output = run(&["tail", "--from-file", "x", "--subject", "events.>"]).await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn tail_filter_narrows_the_subscription_and_applies_the_query() {
    let server = NatsServer::start();
    // `org:org_1 event:failed` is one subscription, `events.org_1.*.*.failed.>`.
    let tail = start_tail(
        &server,
        &[
            "--json",
            "--count",
            "2",
            "--filter",
            "org:org_1 event:failed -payload.retry:true",
        ],
        1,
    );
    let client = async_nats::connect(server.url()).await.unwrap();
    let failed = |org: &str, id: &str, payload: &str| {
        format!(
            r#"{{"id":"{id}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"t_1","eventName":"failed","timestamp":"2026-01-01T09:30:15Z","payload":{payload}}}"#
        )
    };
    let published = [
        (
            "events.org_2.tasks.task.failed.t_1",
            failed("org_2", "e1", "{}"),
        ),
        (
            "events.org_1.tasks.task.failed.t_1",
            failed("org_1", "e2", r#"{"retry":true}"#),
        ),
        ("events.org_1.tasks.task.created.t_1", envelope("t_1", "")),
        (
            "events.org_1.tasks.task.failed.t_1",
            failed("org_1", "e3", "{}"),
        ),
        (
            "events.org_1.tasks.task.failed.t_1.owner.u_1",
            failed("org_1", "e4", r#"{"retry":false}"#),
        ),
    ];
    let published: Vec<_> = published
        .into_iter()
        .map(|(s, b)| (s.to_string(), b.into_bytes()))
        .collect();
    publish(&client, &published).await;
    let output = finish(tail).await;
    check(&output, 0, "");
    assert_eq!(output_ids(&output), ["e3", "e4"]);
}

#[tokio::test]
async fn overlapping_subjects_print_each_event_once() {
    let server = NatsServer::start();
    // `org:org_1 OR source:apps` narrows to two overlapping subscriptions.
    let tail = start_tail(
        &server,
        &[
            "--json",
            "--count",
            "3",
            "--filter",
            "org:org_1 OR source:apps",
        ],
        2,
    );
    let client = async_nats::connect(server.url()).await.unwrap();
    let event = |org: &str, source: &str, id: &str| {
        (
            format!("events.{org}.{source}.x.created.r_1"),
            format!(
                r#"{{"id":"{id}","organizationId":"{org}","source":"{source}","resource":"x","resourceId":"r_1","eventName":"created","timestamp":"2026-01-01T09:30:15Z","payload":{{}}}}"#
            ),
        )
    };
    let events = [
        event("org_1", "apps", "both"),
        event("org_2", "tasks", "neither"),
        event("org_1", "tasks", "org"),
        event("org_2", "apps", "apps"),
    ]
    .map(|(subject, body)| (subject, body.into_bytes()));
    publish(&client, &events).await;
    let output = finish(tail).await;
    check(&output, 0, "");
    let mut ids = output_ids(&output);
    ids.sort();
    assert_eq!(ids, ["apps", "both", "org"]);
}

/// Runs `eventscope-cli args` to the end; its output and its peak resident memory in bytes
/// (VmHWM, read while it runs).
async fn run_measured(args: &[&str]) -> (Output, u64) {
    let child = cli(args).spawn().unwrap();
    let pid = child.id().unwrap();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watching = {
        let peak = peak.clone();
        tokio::spawn(async move {
            while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                let hwm = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .unwrap_or(0);
                peak.fetch_max(hwm * 1024, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let output = finish(child).await;
    watching.abort();
    (output, peak.load(std::sync::atomic::Ordering::Relaxed))
}

#[tokio::test]
async fn tail_from_file_reports_a_line_over_max_line_bytes_as_invalid_and_skips_it_in_bounded_memory(
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.ndjson");
    {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(out, "{}", envelope("t_1", "")).unwrap();
        // 100 MB on one line: far over the default bound of 8 MiB.
        let block = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            out.write_all(&block).unwrap();
        }
        writeln!(out).unwrap();
        writeln!(out, "{}", envelope("t_3", "")).unwrap();
    }
    let path = file.to_str().unwrap();
    let (output, peak) = run_measured(&["tail", "--from-file", path, "--json"]).await;
    check(&output, 0, "");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout:.300}");
    assert_eq!(lines[0], envelope("t_1", ""));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(lines[1]).unwrap(),
        serde_json::json!({"subject": "", "bodyBase64": "",
            "error": "line 2: longer than 8388608 bytes (--max-line-bytes); skipped"})
    );
    assert_eq!(lines[2], envelope("t_3", ""));
    assert!(peak < 48 << 20, "peak memory {} MiB", peak >> 20);

    // The bound is the user's; a line exactly at it is read.
    let exact = envelope("t_4", "");
    let file = dir.path().join("exact.ndjson");
    std::fs::write(&file, format!("{exact}\r\n{exact}x\n")).unwrap();
    let bound = exact.len().to_string();
    let output = run(&[
        "tail",
        "--from-file",
        file.to_str().unwrap(),
        "--max-line-bytes",
        &bound,
    ])
    .await;
    check(&output, 0, "");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("t_4"), "{stdout}");
    assert!(
        lines[1].ends_with(&format!(
            "! line 2: longer than {bound} bytes (--max-line-bytes); skipped"
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn tail_from_file_on_endless_input_without_newlines_reports_it_and_never_aborts() {
    let (output, peak) = run_measured(&[
        "tail",
        "--from-file",
        "/dev/zero",
        "--json",
        "--count",
        "1",
        "--max-line-bytes",
        "1048576",
    ])
    .await;
    check(&output, 0, "");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "{\"subject\":\"\",\"bodyBase64\":\"\",\"error\":\"line 1: longer than 1048576 bytes (--max-line-bytes); skipped\"}\n"
    );
    assert!(peak < 32 << 20, "peak memory {} MiB", peak >> 20);
}

#[tokio::test]
async fn publish_checks_every_size_against_the_servers_max_payload_before_sending_any() {
    let server = NatsServer::start();
    let (client, mut received) = subscriber(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.ndjson");
    let big = envelope("t_2", "").replace(
        r#""payload":{"title":"Call Zoë 🎉"}"#,
        &format!(r#""payload":{{"pad":"{}"}}"#, "x".repeat(1_100_000)),
    );
    std::fs::write(&file, format!("{}\n{big}\n", envelope("t_1", ""))).unwrap();
    let path = file.to_str().unwrap();
    let output = run(&["publish", "--nats-url", &server.url(), "--file", path]).await;
    check(
        &output,
        1,
        &format!(
            "error: line 2: the event has {} bytes; {} takes at most 1048576 (its max_payload); nothing was published\n",
            big.len(),
            server.url()
        ),
    );
    assert_eq!(drain(&client, &mut received).await, []);
}
