//! `tail --gateway URL --token-env VAR`: the built CLI through a real gateway (run in-process
//! on an ephemeral port) to a real nats-server, printing what `tail` prints from NATS.

use std::process::{Output, Stdio};
use std::time::Duration;

use eventscope_core::wire::ConnectionProfile;
use eventscope_gateway::auth::{sign, Claims, Verifier};
use eventscope_gateway::{Config, Gateway, Limits};
use eventscope_testkit::{publish, NatsServer};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eventscope-cli");
const WAIT: Duration = Duration::from_secs(30);
const SECRET: &[u8] = b"cli test secret";

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
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = _stop;
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

fn envelope(org: &str, source: &str, event: &str, n: usize) -> (String, String) {
    (
        format!("events.{org}.{source}.task.{event}.t_{n}"),
        format!(
            r#"{{"id":"e_{n}","organizationId":"{org}","source":"{source}","resource":"task","resourceId":"t_{n}","eventName":"{event}","timestamp":"2026-01-01T09:30:15.250Z","payload":{{}}}}"#
        ),
    )
}

/// Runs `tail` through the gateway while `events` are published (again every 200 ms, since
/// the CLI's subscriptions land at a moment the test does not see), until it exits.
async fn tail(
    nats: &NatsServer,
    args: &[&str],
    token: &str,
    events: &[(String, String)],
) -> Output {
    let child = Command::new(BIN)
        .arg("tail")
        .args(args)
        .env("GW_TOKEN", token)
        .env_remove("EVENTSCOPE_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    let events: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|(subject, body)| (subject.clone(), body.clone().into_bytes()))
        .collect();
    let publishing = tokio::spawn(async move {
        for _ in 0..100 {
            publish(&publisher, &events).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("tail finishes in time")
        .unwrap();
    publishing.abort();
    output
}

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
async fn tail_through_the_gateway_prints_only_the_tokens_orgs_events() {
    let nats = NatsServer::start();
    let url = gateway(&nats).await;
    let events = [
        envelope("org_2", "tasks", "created", 1),
        envelope("org_1", "tasks", "created", 2),
        envelope("org_2", "tasks", "failed", 3),
        envelope("org_1", "tasks", "failed", 4),
    ];
    let org1 = token(&["org_1"]);
    let args = [
        "--gateway",
        &url,
        "--token-env",
        "GW_TOKEN",
        "--subject",
        "events.org_1.>",
        "--json",
        "--count",
        "2",
    ];
    let output = tail(&nats, &args, &org1, &events).await;
    // Each round of publishing is complete before the next: the first two lines are a round's.
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), 2, "{output:?}");
    let expected = [events[1].1.as_str(), events[3].1.as_str()];
    assert!(
        lines == expected || lines == [expected[1], expected[0]],
        "{lines:?}"
    );
    check(&output, 0, &String::from_utf8_lossy(&output.stdout), "");

    let args = [
        "--gateway",
        &url,
        "--token-env",
        "GW_TOKEN",
        "--subject",
        "events.org_1.>",
        "--filter",
        "event:failed",
        "--json",
        "--count",
        "1",
    ];
    let output = tail(&nats, &args, &org1, &events).await;
    check(&output, 0, &format!("{}\n", events[3].1), "");
}

#[tokio::test]
async fn tail_through_the_gateway_fails_with_one_line() {
    let nats = NatsServer::start();
    let url = gateway(&nats).await;
    let org1 = token(&["org_1"]);
    let output = tail(
        &nats,
        &[
            "--gateway",
            &url,
            "--token-env",
            "GW_TOKEN",
            "--subject",
            "events.org_2.>",
        ],
        &org1,
        &[],
    )
    .await;
    check(
        &output,
        1,
        "",
        "error: the gateway refused events.org_2.>: forbidden: the token does not allow organization \"org_2\" (it allows org_1)\n",
    );
    let output = tail(
        &nats,
        &[
            "--gateway",
            &url,
            "--token-env",
            "GW_TOKEN",
            "--subject",
            "events.org_1.>",
        ],
        "not-a-token",
        &[],
    )
    .await;
    check(
        &output,
        1,
        "",
        "error: the gateway refused the token (malformed_token): the token is not a JWT: expected three dot-separated parts\n",
    );
    let output = tail(
        &nats,
        &["--gateway", &url, "--token-env", "NO_SUCH_VAR"],
        &org1,
        &[],
    )
    .await;
    check(
        &output,
        1,
        "",
        "error: no gateway token: the environment variable NO_SUCH_VAR is not set\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_through_the_gateway_stops_when_its_token_expires_and_says_so() {
    let nats = NatsServer::start();
    let url = gateway(&nats).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 2;
    let expiring = sign(
        &Claims {
            sub: "cli".into(),
            orgs: vec!["org_1".into()],
            exp,
        },
        SECRET,
    );
    let args = [
        "--gateway",
        &url,
        "--token-env",
        "GW_TOKEN",
        "--subject",
        "events.org_1.>",
        "--json",
    ];
    let output = tail(
        &nats,
        &args,
        &expiring,
        &[envelope("org_1", "tasks", "created", 1)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: the gateway closed the connection: the token expired at {exp} "
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
