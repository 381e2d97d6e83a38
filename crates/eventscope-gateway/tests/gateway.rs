//! The gateway's protocol, checked over real sockets: the built binary, a real nats-server, and
//! WebSocket clients (`docs/gateway-protocol.md` is the specification these tests read as).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use eventscope_gateway::auth::{sign, sign_with, Claims};
use eventscope_testkit::NatsServer;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// What an upgrade with `token` (in the header, or in `?token=` when `query`) is answered with:
/// `welcome` and its claims, or the HTTP status and the JSON body's code.
async fn check_auth(gateway: &Gateway, token: Option<&str>, query: bool, expected: Value) {
    let url = match (token, query) {
        (Some(t), true) => format!("{}?token={t}", gateway.url()),
        _ => gateway.url(),
    };
    let mut request = url.into_client_request().unwrap();
    if let (Some(t), false) = (token, query) {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let got = match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => {
            let mut client = Client { ws };
            client.frame().await
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
            json!({"status": response.status().as_u16(), "code": body["code"]})
        }
        Err(e) => panic!("unexpected failure: {e}"),
    };
    assert_eq!(got, expected, "token {token:?}");
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn only_a_valid_hs256_token_is_let_in() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--heartbeat-secs", "7"]);
    let claims = |exp: i64| Claims {
        sub: "u_9".into(),
        orgs: vec!["org_1".into(), "org_2".into()],
        exp,
    };
    let valid = sign(&claims(now() + 60), SECRET.as_bytes());
    let welcome =
        json!({"type": "welcome", "sub": "u_9", "orgs": ["org_1", "org_2"], "heartbeatSecs": 7});
    check_auth(&gateway, Some(&valid), false, welcome.clone()).await;
    check_auth(&gateway, Some(&valid), true, welcome).await;
    let refused = |code: &str| json!({"status": 401, "code": code});
    check_auth(&gateway, None, false, refused("missing_token")).await;
    check_auth(
        &gateway,
        Some("not-a-jwt"),
        false,
        refused("malformed_token"),
    )
    .await;
    check_auth(&gateway, Some("a.b.c"), true, refused("malformed_token")).await;
    let wrong_key = sign(&claims(now() + 60), b"another secret");
    check_auth(&gateway, Some(&wrong_key), false, refused("bad_signature")).await;
    let expired = sign(&claims(now() - 1), SECRET.as_bytes());
    check_auth(&gateway, Some(&expired), false, refused("expired_token")).await;
    let payload = serde_json::to_string(&claims(now() + 60)).unwrap();
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&payload)
    );
    check_auth(
        &gateway,
        Some(&none),
        false,
        refused("unsupported_algorithm"),
    )
    .await;
    // The right signature under another name is still refused.
    let valid_parts: Vec<&str> = valid.split('.').collect();
    let hs512 = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS512","typ":"JWT"}"#),
        valid_parts[1],
        valid_parts[2]
    );
    check_auth(
        &gateway,
        Some(&hs512),
        false,
        refused("unsupported_algorithm"),
    )
    .await;
    let metrics = gateway.metrics().await;
    assert_eq!(metrics["auth_failures_total"], 7);
}

/// An hour's token for `u_7` in `org_1`, under `alg`, naming `kid`, signed with `key`.
fn token_with_key(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let claims = Claims {
        sub: "u_7".into(),
        orgs: vec!["org_1".into()],
        exp: now() + 3600,
    };
    sign_with(&claims, alg, kid, key)
}

/// The private key `tests/keys/{name}`.
fn private_key(name: &str) -> EncodingKey {
    let pem = std::fs::read(key_file(name)).unwrap();
    EncodingKey::from_rsa_pem(&pem)
        .or_else(|_| EncodingKey::from_ec_pem(&pem))
        .unwrap()
}

#[tokio::test]
async fn with_a_key_set_the_kid_picks_the_key_and_the_key_the_algorithm() {
    let nats = NatsServer::start();
    let jwks = key_file("jwks.json");
    let gateway = Gateway::start_with_keys(&nats, &["--jwks", &jwks, "--heartbeat-secs", "7"]);
    let rsa = private_key("rsa-private.pem");
    let rs256 = token_with_key(Algorithm::RS256, Some("rsa-2026"), &rsa);
    let es256 = token_with_key(
        Algorithm::ES256,
        Some("ec-2026"),
        &private_key("ec-private.pem"),
    );
    let welcome = json!({"type": "welcome", "sub": "u_7", "orgs": ["org_1"], "heartbeatSecs": 7});
    check_auth(&gateway, Some(&rs256), false, welcome.clone()).await;
    check_auth(&gateway, Some(&es256), true, welcome).await;
    let refused = |code: &str| json!({"status": 401, "code": code});
    let wrong_kid = token_with_key(Algorithm::RS256, Some("rsa-2025"), &rsa);
    check_auth(&gateway, Some(&wrong_kid), false, refused("unknown_key")).await;
    let no_kid = token_with_key(Algorithm::RS256, None, &rsa);
    check_auth(&gateway, Some(&no_kid), false, refused("unknown_key")).await;
    // Algorithm confusion: HMAC keyed with the public key, which anyone has, under the RSA
    // key's id.
    let public_pem = std::fs::read(key_file("rsa-public.pem")).unwrap();
    let hmac_with_public_key = token_with_key(
        Algorithm::HS256,
        Some("rsa-2026"),
        &EncodingKey::from_secret(&public_pem).unwrap(),
    );
    check_auth(
        &gateway,
        Some(&hmac_with_public_key),
        false,
        refused("unsupported_algorithm"),
    )
    .await;
    // Nor is an HS256 secret a key here.
    check_auth(
        &gateway,
        Some(&token_for(&["org_1"])),
        false,
        refused("unsupported_algorithm"),
    )
    .await;
    assert_eq!(gateway.metrics().await["auth_failures_total"], 4);
    // The RS256 client is served like any other: its organization's events, not another's.
    let mut client = connect(&gateway, &rs256).await;
    client.subscribe("s1", "events.org_1.>").await;
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let (other, mine) = (envelope("org_2", 1), envelope("org_1", 2));
    publish(&nats_client, &[other, mine.clone()]).await;
    let expected: Value = serde_json::from_slice(&mine.1).unwrap();
    assert_eq!(
        client.frame().await,
        json!({"type": "event", "subscription": "s1", "topic": mine.0, "event": expected})
    );
}

/// What the gateway says on stderr when it refuses to start with `args` (and `secret` in
/// `EVENTSCOPE_JWT_SECRET`): one line, exit code 1, nothing on stdout.
fn check_refused_start(args: &[&str], secret: Option<&str>, expected: &str) {
    let mut command = std::process::Command::new(BIN);
    match secret {
        Some(secret) => command.env("EVENTSCOPE_JWT_SECRET", secret),
        None => command.env_remove("EVENTSCOPE_JWT_SECRET"),
    };
    let output = command
        .args([
            "--nats-url",
            "nats://127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("EVENTSCOPE_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        (
            output.status.code(),
            stderr.as_ref(),
            output.stdout.as_slice()
        ),
        (Some(1), format!("error: {expected}\n").as_str(), &b""[..]),
        "{args:?}"
    );
}

#[test]
fn the_gateway_starts_only_with_exactly_one_key_source() {
    let (jwks, public) = (key_file("jwks.json"), key_file("rsa-public.pem"));
    let secret_file = key_file("README.md");
    check_refused_start(
        &[],
        None,
        "no JWT key: set EVENTSCOPE_JWT_SECRET or give --jwt-secret-file, --jwt-public-key or --jwks",
    );
    // An empty variable is no secret.
    check_refused_start(
        &[],
        Some(""),
        "no JWT key: set EVENTSCOPE_JWT_SECRET or give --jwt-secret-file, --jwt-public-key or --jwks",
    );
    let two = |which: &str| {
        format!(
            "more than one JWT key ({which}): give exactly one of EVENTSCOPE_JWT_SECRET (or --jwt-secret-file), --jwt-public-key, --jwks"
        )
    };
    check_refused_start(
        &["--jwks", &jwks, "--jwt-public-key", &public],
        None,
        &two("--jwt-public-key, --jwks"),
    );
    check_refused_start(
        &["--jwks", &jwks],
        Some(SECRET),
        &two("EVENTSCOPE_JWT_SECRET, --jwks"),
    );
    check_refused_start(
        &[
            "--jwt-secret-file",
            &secret_file,
            "--jwt-public-key",
            &public,
        ],
        None,
        &two("--jwt-secret-file, --jwt-public-key"),
    );
    let p384 = key_file("ec-p384-public.pem");
    check_refused_start(
        &["--jwt-public-key", &p384],
        None,
        &format!(
            "cannot use --jwt-public-key {p384}: the key is an EC key on P-384; only P-256 (ES256) is accepted"
        ),
    );
    let private = key_file("rsa-private.pem");
    check_refused_start(
        &["--jwt-public-key", &private],
        None,
        &format!(
            "cannot use --jwt-public-key {private}: the file holds a private key; give the public key only"
        ),
    );
    check_refused_start(
        &["--jwks", &public],
        None,
        &format!("cannot use --jwks {public}: not a JWK set: invalid number at line 1 column 2"),
    );
    check_refused_start(
        &["--jwks", "/nonexistent/jwks.json"],
        None,
        "cannot read /nonexistent/jwks.json: No such file or directory (os error 2)",
    );
}

/// Every topic an `org_1` client might try, with the answer it gets.
const TOPICS: &[(&str, &str)] = &[
    ("events.org_1.>", "subscribed"),
    ("events.org_1.tasks.>", "subscribed"),
    ("events.org_1.*.task.created.*", "subscribed"),
    ("events.org_1.tasks.task.created.t_1", "subscribed"),
    ("events.org_2.>", "forbidden"),
    ("events.org_10.>", "forbidden"),
    ("events.ORG_1.>", "forbidden"),
    ("events.org_2.tasks.task.created.t_1", "forbidden"),
    ("events.*.tasks.task.created.*", "forbidden"),
    ("events.*.>", "forbidden"),
    ("events.>", "forbidden"),
    (">", "invalid_topic"),
    ("*.org_1.>", "invalid_topic"),
    ("*.*.>", "invalid_topic"),
    ("events", "invalid_topic"),
    ("events.org_1*.>", "invalid_topic"),
    ("events.org_1.>.x", "invalid_topic"),
    ("events..org_1", "invalid_topic"),
    ("events.org_1 .>", "invalid_topic"),
    ("events.org_1\t.>", "invalid_topic"),
    ("", "invalid_topic"),
    ("events.org_2,events.org_1.>", "forbidden"),
    ("events.org_1.>,events.org_2.>", "invalid_topic"),
    ("events.org_1.a,events.org_2.>", "subscribed"),
    ("events.org_1.a,events", "subscribed"),
];

#[tokio::test]
async fn an_org_token_never_receives_another_orgs_event() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let mut org1 = connect(&gateway, &token_for(&["org_1"])).await;
    for (i, (topic, answer)) in TOPICS.iter().enumerate() {
        let id = format!("s{i}");
        let frame = json!({"type": "subscribe", "id": id, "topic": topic}).to_string();
        org1.send(&frame).await;
        let got = org1.frame().await;
        let kind = match got["type"].as_str() {
            Some("error") => got["code"].as_str().unwrap().to_string(),
            other => other.unwrap().to_string(),
        };
        assert_eq!((topic, kind.as_str()), (topic, *answer), "{got}");
        assert_eq!(got["id"], id.as_str());
    }
    let mut staff = connect(&gateway, &token_for(&["*"])).await;
    staff.subscribe("all", "events.>").await;
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let orgs = ["org_1", "org_2", "org_10", "ORG_1", "org_1x"];
    let mut messages = Vec::new();
    for n in 0..50 {
        messages.push(envelope(orgs[n % orgs.len()], n));
    }
    // Subjects that put `org_1` elsewhere than the organization's place.
    messages.push(("events.org_2.org_1.task.created.t_x".into(), b"{}".to_vec()));
    messages.push((
        "events.org_2.tasks.task.created.org_1".into(),
        b"{}".to_vec(),
    ));
    messages.push(("events.org_1.end".into(), b"{}".to_vec()));
    publish(&nats_client, &messages).await;
    // The staff client sees every event; the org_1 client only org_1's, on every matching
    // subscription, ending with the sentinel.
    for (subject, _) in &messages {
        let got = staff.frame().await;
        assert_eq!(got["topic"], subject.as_str());
    }
    let mut seen = Vec::new();
    loop {
        let got = org1.frame().await;
        assert_eq!(got["type"], "event", "{got}");
        let topic = got["topic"].as_str().unwrap().to_string();
        assert!(topic.starts_with("events.org_1."), "org_1 received {topic}");
        if topic == "events.org_1.end" {
            break;
        }
        seen.push(topic);
    }
    let org1_events = messages
        .iter()
        .filter(|(s, _)| s.starts_with("events.org_1.tasks."))
        .count();
    assert!(org1_events > 0);
    assert!(seen.len() >= org1_events, "{seen:?}");
}

#[tokio::test]
async fn events_arrive_in_order_and_clients_share_one_nats_subscription() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let token = token_for(&["org_1"]);
    let (mut a, mut b) = (
        connect(&gateway, &token).await,
        connect(&gateway, &token).await,
    );
    a.subscribe("s1", "events.org_1.tasks.>").await;
    b.subscribe("mine", "events.org_1.tasks.>").await;
    a.subscribe("s2", "events.org_1.end").await;
    let metrics = gateway.metrics().await;
    assert_eq!(
        (
            metrics["connections"],
            metrics["subscriptions"],
            metrics["nats_subscriptions"]
        ),
        (2, 3, 2)
    );
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let messages: Vec<_> = (0..2_000).map(|n| envelope("org_1", n)).collect();
    publish(&nats_client, &messages).await;
    for (client, id) in [(&mut a, "s1"), (&mut b, "mine")] {
        for (subject, body) in &messages {
            let got = client.frame().await;
            let expected: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(
                got,
                json!({"type": "event", "subscription": id, "topic": subject, "event": expected})
            );
        }
    }
    a.check(
        r#"{"type":"unsubscribe","id":"s1"}"#,
        json!({"type": "unsubscribed", "id": "s1"}),
    )
    .await;
    // After `unsubscribed`, nothing more for s1: the next frame is the sentinel of s2.
    let later: Vec<_> = (2_000..2_100).map(|n| envelope("org_1", n)).collect();
    publish(&nats_client, &later).await;
    publish(
        &nats_client,
        &[("events.org_1.end".to_string(), b"\"end\"".to_vec())],
    )
    .await;
    assert_eq!(
        a.frame().await,
        json!({"type": "event", "subscription": "s2", "topic": "events.org_1.end", "event": "end"})
    );
    for (subject, _) in &later {
        assert_eq!(b.frame().await["topic"], subject.as_str());
    }
    // A non-JSON body arrives as raw bytes.
    publish(
        &nats_client,
        &[("events.org_1.tasks.x".to_string(), b"\xffbin".to_vec())],
    )
    .await;
    assert_eq!(
        b.frame().await,
        json!({"type": "event", "subscription": "mine", "topic": "events.org_1.tasks.x", "raw": "/2Jpbg=="})
    );
    gateway.wait_metric("nats_subscriptions", 2).await;
    drop(a);
    gateway.wait_metric("nats_subscriptions", 1).await;
    b.check(
        r#"{"type":"unsubscribe","id":"mine"}"#,
        json!({"type": "unsubscribed", "id": "mine"}),
    )
    .await;
    gateway.wait_metric("nats_subscriptions", 0).await;
    gateway.wait_metric("subscriptions", 0).await;
    gateway.wait_metric("connections", 1).await;
}

#[tokio::test]
async fn a_client_that_never_pongs_is_closed_and_a_live_one_stays() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--heartbeat-secs", "1"]);
    let token = token_for(&["org_1"]);
    let mut silent = connect(&gateway, &token).await;
    silent.subscribe("s1", "events.org_1.>").await;
    let mut live = connect(&gateway, &token).await;
    // The live client reads (tungstenite answers every ping) for seven intervals.
    let live = tokio::spawn(async move {
        let started = Instant::now();
        let mut pings = 0;
        while started.elapsed() < Duration::from_secs(7) {
            if let Ok(Some(Ok(Message::Ping(_)))) = tokio::time::timeout(
                Duration::from_millis(200),
                futures::StreamExt::next(&mut live.ws),
            )
            .await
            {
                pings += 1;
            }
        }
        (live, pings)
    });
    // Documented: closed two to three intervals after the last pong. The silent client reads
    // only after five intervals (reading would answer the pings), within the gateway's grace
    // period for the closing handshake, and finds the close code after the pings.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, _) = silent.until_closed().await;
    assert_eq!(code, Some(4008));
    let (mut live, pings) = live.await.unwrap();
    assert!(pings >= 5, "{pings} pings in 7 s");
    gateway.wait_metric("connections", 1).await;
    gateway.wait_metric("subscriptions", 0).await;
    assert_eq!(gateway.metrics().await["pong_timeouts_total"], 1);
    live.subscribe("still", "events.org_1.>").await;
}

#[tokio::test]
async fn a_slow_client_is_told_what_it_missed_and_others_get_everything() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--send-queue", "1024", "--max-missed", "1000000"]);
    // The fast client reads every event while they are published.
    let (mut slow, mut fast, nats_client) = slow_and_fast_after_4000(&gateway, &nats).await;
    // The slow client now reads what was queued and buffered, until a quiet spell; then, with
    // the next event, it hears how much it missed.
    let mut received = 0;
    while let Ok(got) = tokio::time::timeout(Duration::from_secs(1), slow.frame()).await {
        assert_eq!(got["type"], "event", "{got}");
        received += 1;
    }
    publish(
        &nats_client,
        &[("events.org_1.last".to_string(), b"\"last\"".to_vec())],
    )
    .await;
    let missed = loop {
        let got = slow.frame().await;
        match got["type"].as_str() {
            Some("event") => received += 1,
            Some("lagged") => break got["missed"].as_u64().unwrap(),
            _ => panic!("{got}"),
        }
    };
    assert!(missed > 0);
    assert_eq!(
        received + missed,
        4_000,
        "received {received}, missed {missed}"
    );
    assert_eq!(slow.frame().await["event"], "last");
    assert_eq!(fast.frame().await["event"], "last");
    let metrics = gateway.metrics().await;
    assert_eq!(
        (metrics["lagged_total"], metrics["dropped_total"]),
        (1, missed as i64)
    );
}
