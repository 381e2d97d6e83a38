//! `scenario run`, `scenario check` and `publish --template`, end to end: the built binary
//! against a real nats-server, with a responder playing the platform's task service.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use async_nats::Client;
use eventscope_testkit::NatsServer;
use futures::StreamExt;
use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eventscope-cli");
const WAIT: Duration = Duration::from_secs(60);

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("EVENTSCOPE_NATS_URL")
        .env_remove("EVENTSCOPE_READ_ONLY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("the CLI finishes in time")
        .expect("the CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stdout with what changes from run to run (times, run ids, event ids, user ids) masked.
fn masked(output: &Output) -> String {
    let out = text(&output.stdout);
    let re = |p: &str, with: &str, s: &str| regex_lite(p, with, s);
    let out = re(r"[0-9]+(\.[0-9])? (ms|s)\b", "T", &out);
    let out = re(r"task_[0-9a-z]{8}", "task_RUN", &out);
    let out = re(r"evt_[0-9A-Z]{26}", "EVT", &out);
    re(r"usr_[0-9a-z]+", "USR", &out)
}

/// A tiny stand-in for a regex replace, enough for the masks above (the CLI does not depend on
/// the regex crate, and its tests need not either).
fn regex_lite(pattern: &str, with: &str, s: &str) -> String {
    let class = |c: char, set: &str| match set {
        "digit" => c.is_ascii_digit(),
        "lowernum" => c.is_ascii_digit() || c.is_ascii_lowercase(),
        "upper" => c.is_ascii_digit() || c.is_ascii_uppercase(),
        _ => false,
    };
    // Each supported pattern: a literal prefix and a run of a class (a fixed length or more).
    let (prefix, set, len): (&str, &str, Option<usize>) = match pattern {
        r"task_[0-9a-z]{8}" => ("task_", "lowernum", Some(8)),
        r"evt_[0-9A-Z]{26}" => ("evt_", "upper", Some(26)),
        r"usr_[0-9a-z]+" => ("usr_", "lowernum", None),
        r"[0-9]+(\.[0-9])? (ms|s)\b" => return mask_times(s, with),
        _ => panic!("unsupported mask {pattern}"),
    };
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let run = after.chars().take_while(|c| class(*c, set)).count();
        if len.is_none_or(|n| run >= n) && run > 0 {
            let n = len.unwrap_or(run);
            out.push_str(with);
            rest = &after[n..];
        } else {
            out.push_str(prefix);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Replaces `12 ms` and `1.5 s` with `with`.
fn mask_times(s: &str, with: &str) -> String {
    let mut out = String::new();
    for (k, line) in s.split('\n').enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let words: Vec<&str> = line.split(' ').collect();
        let mut i = 0;
        let mut parts = Vec::new();
        while i < words.len() {
            let w = words[i];
            let unit = words.get(i + 1).map(|u| u.trim_end_matches([',', ')']));
            if !w.is_empty()
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
                && matches!(unit, Some("ms") | Some("s"))
            {
                let tail = &words[i + 1][unit.unwrap().len()..];
                parts.push(format!("{with}{tail}"));
                i += 2;
            } else {
                parts.push(w.to_string());
                i += 1;
            }
        }
        out.push_str(&parts.join(" "));
    }
    out
}

/// Answers every `task.created` with a `task.completed` of the same task, as the platform's
/// task service would.
async fn responder(server: &NatsServer) -> tokio::task::JoinHandle<()> {
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client
        .subscribe("events.*.tasks.task.created.>")
        .await
        .unwrap();
    client.flush().await.unwrap();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let mut env: Value = serde_json::from_slice(&msg.payload).unwrap();
            env["eventName"] = "completed".into();
            env["id"] = format!("{}_done", env["id"].as_str().unwrap()).into();
            let subject = msg.subject.replace(".task.created.", ".task.completed.");
            client
                .publish(subject, serde_json::to_vec(&env).unwrap().into())
                .await
                .unwrap();
        }
    })
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// The issue's example, with `within` and `for` short enough for a test.
const LIFECYCLE: &str = r#"name: task lifecycle
vars: { org: org_qa }
steps:
  - name: create
    publish:
      template: task.created
      set:
        organizationId: "{{ vars.org }}"
        resourceId: "task_{{ run.id }}"
        payload.taskId: "task_{{ run.id }}"
        payload.title: "Check the invoice"
  - name: completed
    expect:
      filter: 'org:{{ vars.org }} name:task.completed resourceId:task_{{ run.id }}'
      within: 5s
  - name: never failed
    expect_none:
      filter: 'name:task.failed resourceId:task_{{ run.id }}'
      for: 300ms
  - name: pause
    wait: 100ms
"#;

#[tokio::test]
async fn a_passing_scenario_prints_a_line_per_step_and_exits_0() {
    let server = NatsServer::start();
    let _responder = responder(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "lifecycle.yaml", LIFECYCLE);
    let out = run(
        &["scenario", "run", &file, "--nats-url", &server.url()],
        &[],
    )
    .await;
    assert_eq!(
        (out.status.code(), masked(&out), text(&out.stderr)),
        (
            Some(0),
            "✓ create T\n✓ completed T\n✓ never failed T\n✓ pause T\npassed: 4 of 4 steps passed in T\n"
                .to_string(),
            String::new()
        )
    );

    // --json: one object per step, with the ids of what it published or matched.
    let out = run(
        &[
            "scenario",
            "run",
            &file,
            "--nats-url",
            &server.url(),
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("create", "passed"),
            ("completed", "passed"),
            ("never failed", "passed"),
            ("pause", "passed")
        ]
    );
    let published = lines[0]["eventIds"][0].as_str().unwrap();
    assert_eq!(lines[1]["eventIds"][0], format!("{published}_done"));
}

#[tokio::test]
async fn a_failing_scenario_shows_the_closest_misses_exits_1_and_writes_junit() {
    let server = NatsServer::start();
    let _responder = responder(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let failing = LIFECYCLE
        .replace(
            "org:{{ vars.org }} name:task.completed",
            "org:{{ vars.org }} name:task.failed",
        )
        .replace("within: 5s", "within: 500ms")
        .replace(
            "'name:task.failed resourceId",
            "'name:task.completed resourceId",
        );
    let file = write(&dir, "failing.yaml", &failing);
    let junit = dir.path().join("report.xml");
    let junit = junit.to_str().unwrap();
    let started = Instant::now();
    let out = run(
        &[
            "scenario",
            "run",
            &file,
            "--nats-url",
            &server.url(),
            "--junit",
            junit,
        ],
        &[],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        (out.status.code(), masked(&out)),
        (
            Some(1),
            "✓ create T
✗ completed T
    expected 1 event matching `org:org_qa name:task.failed resourceId:task_RUN` within T, 0 matched (of 1 received)
    closest miss: EVT_done task.completed resourceId=task_RUN org=org_qa fails `name:task.failed`
✗ never failed T
    expected no event matching `name:task.completed resourceId:task_RUN` for T, got EVT_done on events.org_qa.tasks.task.completed.task_RUN.owner.USR
✓ pause T
failed: 2 of 4 steps passed in T
"
            .to_string()
        )
    );

    // The JUnit report, parsed back.
    let xml = std::fs::read_to_string(junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(
        (
            suite.attribute("name"),
            suite.attribute("tests"),
            suite.attribute("failures")
        ),
        (Some("task lifecycle"), Some("4"), Some("2"))
    );
    let cases: Vec<(String, Option<String>)> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|c| {
            let failure = c
                .children()
                .find(|n| n.has_tag_name("failure"))
                .map(|f| f.attribute("message").unwrap().to_string());
            (c.attribute("name").unwrap().to_string(), failure)
        })
        .collect();
    assert_eq!(cases[0], ("create".to_string(), None));
    assert!(cases[1]
        .1
        .as_deref()
        .unwrap()
        .starts_with("expected 1 event matching `org:org_qa name:task.failed resourceId:task_"));
    assert!(cases[2].1.is_some() && cases[3].1.is_none(), "{cases:?}");
}

#[tokio::test]
async fn invalid_files_exit_2_with_the_file_position_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &'static str, body: &'static str, expected: &'static str| {
        let file = write(&dir, name, body);
        async move {
            for command in ["check", "run"] {
                // Port 1: nothing listens there, and nothing may be tried.
                let out = run(
                    &[
                        "scenario",
                        command,
                        &file,
                        "--nats-url",
                        "nats://127.0.0.1:1",
                    ][..if command == "check" { 3 } else { 5 }],
                    &[],
                )
                .await;
                assert_eq!(
                    (out.status.code(), text(&out.stderr)),
                    (Some(2), format!("error: {file}:{expected}\n")),
                    "{command}"
                );
            }
        }
    };
    check(
        "yaml.yaml",
        "steps:\n  - name: a\n    wait: 1s\n   bad: [",
        "4:4: while parsing a block collection, did not find expected '-' indicator",
    )
    .await;
    check(
        "template.yaml",
        "steps:\n  - name: a\n    publish: {template: task.nope}\n",
        "3:25: step \"a\": unknown template \"task.nope\" (known: conversation.created, conversation.message_posted, conversation.message_stream, flow.created, flow.updated, flow.run, task.created, task.completed, task.failed, app.installed, app.event_received, record.created, record.updated, record.deleted)",
    )
    .await;
    check(
        "filter.yaml",
        "steps:\n  - name: a\n    expect:\n      filter: 'name:task.created orgg:x'\n",
        "4:15: step \"a\": filter \"name:task.created orgg:x\": invalid filter at 18: unknown field `orgg` (did you mean `org`)",
    )
    .await;
    check(
        "syntax.yaml",
        "steps:\n  - name: a\n    publish:\n      template: task.created\n      set:\n        payload.title: '{{ vars.title'\n",
        "4:7: step \"a\": set payload.title: template error at 1:9: syntax error: unexpected end of input, expected end of variable block",
    )
    .await;
    // A template that loops is stopped, and said so, when the file is checked.
    check(
        "loop.yaml",
        "steps:\n  - name: a\n    publish:\n      template: task.created\n      set:\n        payload.x: '{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}'\n",
        "4:7: step \"a\": set payload.x: template error at 1:1: too much work (a loop that does not end?)",
    )
    .await;

    let valid = write(&dir, "valid.yaml", LIFECYCLE);
    let out = run(&["scenario", "check", &valid], &[]).await;
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), format!("{valid}: 4 steps, valid\n"))
    );

    // Read-only: a scenario that publishes is refused before connecting.
    let out = run(
        &[
            "scenario",
            "run",
            &valid,
            "--nats-url",
            "nats://127.0.0.1:1",
        ],
        &[("EVENTSCOPE_READ_ONLY", "1")],
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "error: EVENTSCOPE_READ_ONLY is set: publishing is refused: the connection is read-only\n"
                .to_string()
        )
    );
}

#[tokio::test]
async fn vars_count_rate_and_an_earlier_step_s_event() {
    let server = NatsServer::start();
    let _responder = responder(&server).await;
    let dir = tempfile::tempdir().unwrap();
    // 20 events at 100/s take about 190 ms; the responder answers each; a later step uses the
    // event an expectation matched.
    let file = write(
        &dir,
        "many.yaml",
        r#"name: many
vars: { org: org_default, n: 20 }
steps:
  - name: burst
    publish:
      template: task.created
      set:
        organizationId: "{{ vars.org }}"
        resourceId: "task_{{ run.id }}_{{ i }}"
      count: 20
      rate: 100
  - name: all completed
    expect:
      filter: 'org:{{ vars.org }} name:task.completed'
      count: 20
      within: 5s
  - name: first created
    expect:
      filter: 'org:{{ vars.org }} name:task.created resourceId:task_{{ run.id }}_0'
  - name: fail it
    publish:
      template: task.failed
      set:
        organizationId: "{{ vars.org }}"
        resourceId: "{{ steps['first created'].event.resourceId }}"
        payload.title: "{{ steps['first created'].event.payload.title }}"
  - name: failed seen
    expect:
      filter: 'name:task.failed resourceId:task_{{ run.id }}_0'
  - name: the override reached the bus
    expect:
      filter: 'org:org_override name:task.created'
      count: 20
"#,
    );
    let out = run(
        &[
            "scenario",
            "run",
            &file,
            "--nats-url",
            &server.url(),
            "--var",
            "org=org_override",
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["eventIds"].as_array().unwrap().len(), 20);
    let burst_ms = lines[0]["elapsedMs"].as_u64().unwrap();
    assert!((150..2000).contains(&burst_ms), "{burst_ms}");
    assert_eq!(lines[1]["eventIds"].as_array().unwrap().len(), 20);
    assert_eq!(lines[4]["status"], "passed");
    assert_eq!(lines[5]["status"], "passed");
}

#[tokio::test]
async fn hostile_scenarios_end_in_bounded_time() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();

    // A 900 KB payload publishes and is matched.
    let big = "x".repeat(900 * 1024);
    let file = write(
        &dir,
        "big.yaml",
        &format!(
            "steps:\n  - name: big\n    publish:\n      template: task.created\n      set:\n        resourceId: 'big_{{{{ run.id }}}}'\n        payload.blob: '{big}'\n  - name: seen\n    expect:\n      filter: 'resourceId:big_{{{{ run.id }}}} is:large'\n"
        ),
    );
    let out = run(
        &["scenario", "run", &file, "--nats-url", &server.url()],
        &[],
    )
    .await;
    assert_eq!(
        (out.status.code(), masked(&out)),
        (
            Some(0),
            "✓ big T\n✓ seen T\npassed: 2 of 2 steps passed in T\n".to_string()
        )
    );

    // 10,000 steps: 9,999 publishes and one expectation of all of them.
    let mut text10k = String::from("steps:\n");
    for i in 0..9_999 {
        text10k.push_str(&format!(
            "  - publish: {{template: record.created, set: {{resourceId: 'rec_{{{{ run.id }}}}_{i}'}}}}\n"
        ));
    }
    text10k.push_str(
        "  - name: all\n    expect: {filter: 'name:record.created', count: 9999, within: 30s}\n",
    );
    let file = write(&dir, "many.yaml", &text10k);
    let started = Instant::now();
    let out = run(
        &[
            "scenario",
            "run",
            &file,
            "--nats-url",
            &server.url(),
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 10_000);
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "{:?}",
        started.elapsed()
    );

    // An expectation that never matches fails at `within`.
    let file = write(
        &dir,
        "never.yaml",
        "steps:\n  - name: never\n    expect: {filter: 'name:task.created resourceId:nothing', within: 700ms}\n",
    );
    let started = Instant::now();
    let out = run(
        &["scenario", "run", &file, "--nats-url", &server.url()],
        &[],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

async fn collect(
    client: &Client,
    sub: &mut async_nats::Subscriber,
    n: usize,
) -> Vec<(String, Value)> {
    client.flush().await.unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, sub.next())
            .await
            .unwrap()
            .unwrap();
        out.push((
            m.subject.to_string(),
            serde_json::from_slice(&m.payload).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn publish_from_a_template_with_set_count_and_rate() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("events.>").await.unwrap();
    client.flush().await.unwrap();

    let out = run(&["publish", "--list-templates"], &[]).await;
    assert_eq!(text(&out.stdout).lines().count(), 14);
    assert_eq!(text(&out.stdout).lines().nth(6), Some("task.created"));

    let started = Instant::now();
    let out = run(
        &[
            "publish",
            "--nats-url",
            &server.url(),
            "--template",
            "task.created",
            "--org",
            "org_cli",
            "--set",
            "resourceId=task_{{ i }}",
            "--set",
            "payload.priority=5",
            "--set",
            "payload.title=Call back",
            "--set",
            "payload.flags={\"vip\":true}",
            "--count",
            "30",
            "--rate",
            "200",
        ],
        &[],
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), "published 30 events\n".to_string())
    );
    assert!(started.elapsed() >= Duration::from_millis(140));
    let got = collect(&client, &mut sub, 30).await;
    let mut ids: Vec<&str> = got.iter().map(|(_, v)| v["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 30);
    let (subject, first) = &got[0];
    assert!(
        subject.starts_with("events.org_cli.tasks.task.created.task_0.owner."),
        "{subject}"
    );
    assert_eq!(first["payload"]["priority"], 5);
    assert_eq!(first["payload"]["title"], "Call back");
    assert_eq!(first["payload"]["flags"], serde_json::json!({"vip": true}));
    assert_eq!(got[29].1["resourceId"], "task_29");

    // Invalid ids and read-only: a clear line, nothing sent.
    let out = run(
        &[
            "publish",
            "--nats-url",
            &server.url(),
            "--template",
            "task.created",
            "--set",
            "resourceId=a b",
        ],
        &[],
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "error: invalid event: resourceId \"a b\" contains ' ', which a subject token cannot hold\n"
                .to_string()
        )
    );
    let out = run(
        &[
            "publish",
            "--nats-url",
            &server.url(),
            "--template",
            "task.created",
        ],
        &[("EVENTSCOPE_READ_ONLY", "1")],
    )
    .await;
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "error: EVENTSCOPE_READ_ONLY is set: publishing is refused: the connection is read-only\n"
                .to_string()
        )
    );
    let out = run(
        &[
            "publish",
            "--nats-url",
            &server.url(),
            "--template",
            "task.nope",
        ],
        &[],
    )
    .await;
    assert!(text(&out.stderr).starts_with(
        "error: invalid event: unknown template \"task.nope\" (known: conversation.created,"
    ));
    // Nothing of the refused commands reached the bus: the next message is this sentinel.
    client
        .publish("events.sentinel", "end".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let next = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.subject.as_str(), "events.sentinel");
}
