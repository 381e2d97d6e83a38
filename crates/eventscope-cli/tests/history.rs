//! `history`: the built CLI against a real nats-server with JetStream, directly and through a
//! real gateway (in-process); its `--json` output read back by `tail --from-file`.

use std::process::{Output, Stdio};
use std::time::Duration;

use eventscope_core::wire::ConnectionProfile;
use eventscope_gateway::auth::{sign, Claims, Verifier};
use eventscope_gateway::{Config, Gateway, Limits};
use eventscope_testkit::{create_stream, publish_stored, NatsServer};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eventscope-cli");
const WAIT: Duration = Duration::from_secs(30);
const SECRET: &[u8] = b"cli history secret";

async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .envs(env.iter().copied())
        .env_remove("EVENTSCOPE_NATS_URL")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).await.unwrap();
        drop(pipe);
    }
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the CLI finishes in time")
        .unwrap()
}

/// Asserts the exit code and stderr; stdout as text.
fn check(output: &Output, code: i32, stderr: &str) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).as_ref()
        ),
        (Some(code), stderr),
        "stdout: {stdout}"
    );
    stdout
}

/// org_1 and org_2 events with people's data, a pretty-printed one and one that is not JSON.
fn events() -> Vec<(String, Vec<u8>)> {
    let mut events: Vec<(String, Vec<u8>)> = (0..12)
        .map(|n| {
            let org = if n % 2 == 0 { "org_1" } else { "org_2" };
            let person = ["ann.lee@example.com", "bob@mail.example.org"][n % 4 / 2];
            let phone = ["+49 151 2345 6789", "(555) 123-4567"][n % 4 / 2];
            (
                format!("events.{org}.tasks.task.created.t_{n}"),
                format!(
                    r#"{{"id":"e_{n}","organizationId":"{org}","source":"tasks","resource":"task","resourceId":"t_{n}","eventName":"created","timestamp":"2026-01-01T09:30:15.250Z","payload":{{"owner":{{"id":"u_{n}","name":"Ann Lee","email":"{person}"}},"note":"call {phone}"}}}}"#
                )
                .into_bytes(),
            )
        })
        .collect();
    events.push((
        "events.org_1.tasks.task.failed.t_90".into(),
        b"{\n  \"id\": \"e_90\", \"organizationId\": \"org_1\", \"source\": \"tasks\", \"resource\": \"task\",\n  \"resourceId\": \"t_90\", \"eventName\": \"failed\",\n  \"timestamp\": \"2026-01-01T09:30:16Z\", \"payload\": {\"by\": \"ann.lee@example.com\"}\n}".to_vec(),
    ));
    events.push((
        "events.org_1.tasks.task.failed.t_91".into(),
        b"not json, mail ann.lee@example.com".to_vec(),
    ));
    events
}

async fn stream_with_events(nats: &NatsServer) {
    let client = async_nats::connect(nats.url()).await.unwrap();
    create_stream(&client, "EVENTS", &["events.>"]).await;
    publish_stored(&client, &events()).await;
}

/// What `tail --from-file - --json` prints for `ndjson`.
async fn tail_json(ndjson: &str) -> String {
    let output = run(
        &["tail", "--from-file", "-", "--json"],
        &[],
        Some(ndjson.as_bytes()),
    )
    .await;
    check(&output, 0, "")
}

#[tokio::test]
async fn history_json_is_the_orgs_events_as_tail_prints_them_in_stream_order() {
    let nats = NatsServer::start_with_jetstream();
    stream_with_events(&nats).await;
    let url = nats.url();
    let output = run(
        &[
            "history",
            "--org",
            "org_1",
            "--since",
            "-1h",
            "--json",
            "--nats-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    let stdout = check(&output, 0, "");
    let lines: Vec<&str> = stdout.lines().collect();
    let mut expected: Vec<String> = events()
        .iter()
        .filter(|(s, _)| s.starts_with("events.org_1."))
        .take(6)
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .collect();
    expected.push(
        r#"{"id":"e_90","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_90","eventName":"failed","timestamp":"2026-01-01T09:30:16Z","payload":{"by":"ann.lee@example.com"}}"#.into(),
    );
    assert_eq!(lines[..7], expected[..]);
    let invalid: serde_json::Value = serde_json::from_str(lines[7]).unwrap();
    assert_eq!(invalid["subject"], "events.org_1.tasks.task.failed.t_91");
    assert_eq!(lines.len(), 8);
    // `tail --from-file` reads it back as the same events.
    assert_eq!(tail_json(&stdout).await, stdout);

    let csv = run(
        &["history", "--org", "org_1", "--csv", "--nats-url", &url],
        &[],
        None,
    )
    .await;
    let csv = check(&csv, 0, "");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "time,org,source,resource,event,resourceId,id,subject,payload"
    );
    assert_eq!(
        rows[1],
        r#"2026-01-01T09:30:15.250Z,org_1,tasks,task,created,t_0,e_0,events.org_1.tasks.task.created.t_0,"{""owner"":{""id"":""u_0"",""name"":""Ann Lee"",""email"":""ann.lee@example.com""},""note"":""call +49 151 2345 6789""}""#
    );
    assert_eq!(rows.len(), 9);
}

#[tokio::test]
async fn masked_history_keeps_no_email_or_phone_and_reimports() {
    let nats = NatsServer::start_with_jetstream();
    stream_with_events(&nats).await;
    let url = nats.url();
    let output = run(
        &[
            "history",
            "--org",
            "org_1",
            "--json",
            "--mask",
            "--nats-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    let stdout = check(&output, 0, "");
    for secret in [
        "ann.lee@example.com",
        "bob@mail.example.org",
        "2345 6789",
        "123-4567",
        "Ann Lee",
    ] {
        assert!(!stdout.contains(secret), "{secret} survived: {stdout}");
    }
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .take(7)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Ids kept; the same address has the same pseudonym everywhere in the export.
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e_0", "e_2", "e_4", "e_6", "e_8", "e_10", "e_90"]);
    let ann = lines[0]["payload"]["owner"]["email"].as_str().unwrap();
    assert!(
        ann.starts_with("user-") && ann.ends_with("@example.invalid"),
        "{ann}"
    );
    assert_eq!(lines[2]["payload"]["owner"]["email"], ann);
    assert_eq!(lines[6]["payload"]["by"], ann);
    assert_ne!(lines[1]["payload"]["owner"]["email"], ann);
    assert_eq!(
        lines[0]["payload"]["owner"]["name"],
        lines[1]["payload"]["owner"]["name"]
    );
    assert_eq!(tail_json(&stdout).await, stdout);
}

#[tokio::test]
async fn no_stream_for_the_org_fails_with_one_line() {
    let nats = NatsServer::start_with_jetstream();
    let url = nats.url();
    let output = run(
        &["history", "--org", "org_1", "--nats-url", &url],
        &[],
        None,
    )
    .await;
    check(
        &output,
        1,
        "error: cannot read the history: no JetStream stream holds events.org_1.>\n",
    );
    let output = run(
        &[
            "history",
            "--org",
            "org_1",
            "--since",
            "yesterday",
            "--nats-url",
            &url,
        ],
        &[],
        None,
    )
    .await;
    check(
        &output,
        1,
        "error: invalid --since: invalid time \"yesterday\": give RFC 3339 (2026-01-31T14:00:00Z) or a relative time (-2h, -15m, -1d)\n",
    );
}

/// A gateway on 127.0.0.1 for `nats`; its `ws://` URL. It stops with the test's runtime.
async fn gateway(nats: &NatsServer) -> String {
    let config = Config {
        nats: ConnectionProfile {
            servers: vec![nats.url()],
            ..ConnectionProfile::default()
        },
        verifier: Verifier::hs256(SECRET).unwrap(),
        heartbeat: Duration::from_secs(20),
        limits: Limits::default(),
    };
    let gateway = Gateway::connect(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = stop;
        gateway.serve(listener, shutdown).await.unwrap();
    });
    url
}

fn token(orgs: &[&str]) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3600;
    sign(
        &Claims {
            sub: "cli".into(),
            orgs: orgs.iter().map(|s| s.to_string()).collect(),
            exp,
        },
        SECRET,
    )
}

#[tokio::test]
async fn history_through_the_gateway_is_the_tokens_org_only() {
    let nats = NatsServer::start_with_jetstream();
    stream_with_events(&nats).await;
    let ws = gateway(&nats).await;
    let token = token(&["org_1"]);
    let env = [("HISTORY_TOKEN", token.as_str())];
    let url = nats.url();
    let direct = run(
        &["history", "--org", "org_1", "--json", "--nats-url", &url],
        &[],
        None,
    )
    .await;
    let through = run(
        &[
            "history",
            "--org",
            "org_1",
            "--json",
            "--gateway",
            &ws,
            "--token-env",
            "HISTORY_TOKEN",
        ],
        &env,
        None,
    )
    .await;
    assert_eq!(check(&through, 0, ""), check(&direct, 0, ""));
    let refused = run(
        &[
            "history",
            "--org",
            "org_2",
            "--gateway",
            &ws,
            "--token-env",
            "HISTORY_TOKEN",
        ],
        &env,
        None,
    )
    .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot read the history through {ws}: the gateway refused the history request (forbidden): "
        )),
        "{stderr}"
    );
}
