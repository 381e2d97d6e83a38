//! Hostile clients, over real sockets (issue 15): what one client sends, with a token or
//! without, must not hurt any other client, the gateway's NATS connection, its memory or its
//! log; and tokens and close codes are read as the protocol says.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use eventscope_gateway::auth::{sign, Claims};
use eventscope_testkit::NatsServer;
use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

/// A client of `org` on `events.{org}.>` that must receive `count` events, in order.
async fn victim(gateway: &Gateway, org: &str) -> Client {
    let mut client = connect(gateway, &token_for(&[org])).await;
    client.subscribe("v", &format!("events.{org}.>")).await;
    client
}

async fn receives_every_event(client: &mut Client, nats: &NatsServer, org: &str, count: usize) {
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    let events: Vec<_> = (0..count).map(|n| envelope(org, n)).collect();
    publish(&publisher, &events).await;
    for n in 0..count {
        let frame = client.frame().await;
        assert_eq!(frame["type"], "event", "event {n}: {frame}");
        assert_eq!(frame["event"]["id"], format!("e_{n}"), "{frame}");
    }
}

#[tokio::test]
async fn a_topic_over_1_kib_is_refused_before_nats_and_other_orgs_keep_receiving() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let mut other = victim(&gateway, "org_2").await;
    let mut attacker = connect(&gateway, &token_for(&["org_1"])).await;
    // Over nats-server's 4 KiB control line: it would drop the gateway's connection.
    let long = format!("events.org_1.{}", "a".repeat(4080));
    attacker
        .check(
            &json!({"type": "subscribe", "id": "x", "topic": long}).to_string(),
            json!({"type": "error", "id": "x", "code": "invalid_topic",
                   "message": "the topic has 4093 bytes; the limit is 1024"}),
        )
        .await;
    // 1 KiB is still a topic.
    let at_limit = format!("events.org_1.{}", "a".repeat(1024 - "events.org_1.".len()));
    attacker.subscribe("y", &at_limit).await;
    receives_every_event(&mut other, &nats, "org_2", 100).await;
    assert_eq!(gateway.get("/healthz").await.0, 200);
    let metrics = gateway.metrics().await;
    assert_eq!(metrics["nats_connected"], 1);
    assert_eq!(metrics["nats_subscriptions"], 2);
}

#[tokio::test]
async fn refused_requests_are_logged_cut_escaped_and_summarized() {
    let nats = NatsServer::start();
    let dir = tempfile_dir();
    let log = dir.join("gateway.log");
    let gateway = Gateway::start_logging(&nats, &[], &log);
    // A `sub` that would forge a log line and repaint a terminal if written raw.
    let token = sign(
        &Claims {
            sub: "u\n\u{1b}[31mroot".into(),
            orgs: vec!["org_1".into()],
            exp: now() + 3600,
        },
        SECRET.as_bytes(),
    );
    let mut attacker = connect(&gateway, &token).await;
    let forbidden = format!("events.org_9.{}", "a".repeat(1000));
    let request = json!({"type": "subscribe", "id": "x", "topic": forbidden}).to_string();
    for _ in 0..2_000 {
        attacker.send(&request).await;
        attacker.send("not json\n\u{1b}[2J").await;
    }
    for _ in 0..4_000 {
        assert_eq!(attacker.frame().await["type"], "error");
    }
    attacker.ws.close(None).await.unwrap();
    gateway.wait_metric("connections", 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read(&log).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(!text.contains('\u{1b}'), "raw escape in the log:\n{text}");
    assert!(
        text.len() < 8 * 1024,
        "{} bytes of log:\n{text}",
        text.len()
    );
    assert!(text.lines().all(|l| l.len() < 1024), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("request refused") && l.contains("u\\n\\u{1b}[31mroot")),
        "{text}"
    );
    // Each refusal is either a line of its own or counted in a summary line.
    let one_by_one = text.matches("request refused").count();
    let summarized: u64 = text
        .lines()
        .filter(|l| l.contains("more requests refused"))
        .filter_map(|l| {
            l.split("refused=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(one_by_one <= 3, "{text}");
    assert_eq!(one_by_one as u64 + summarized, 4_000, "{text}");
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_at_its_byte_bound_and_others_are_served() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--send-queue-bytes", "262144"]);
    let mut other = victim(&gateway, "org_2").await;
    let attacker = connect(&gateway, &token_for(&["org_1"])).await;
    // Refused subscribes whose answers it never reads; each answer repeats a short prefix of
    // the topic at most.
    let topic = format!("events.org_1.{} x", "\u{300}".repeat(490));
    let request = json!({"type": "subscribe", "id": "x", "topic": topic}).to_string();
    let mut ws = attacker.ws;
    let sending = tokio::spawn(async move {
        for _ in 0..200_000 {
            if ws.send(Message::text(request.clone())).await.is_err() {
                break;
            }
        }
    });
    gateway.wait_metric("slow_disconnects_total", 1).await;
    gateway.wait_metric("connections", 1).await;
    sending.abort();
    assert!(
        gateway.rss() < 64 << 20,
        "the gateway holds {} MiB",
        gateway.rss() >> 20
    );
    receives_every_event(&mut other, &nats, "org_2", 100).await;
}

/// What an upgrade of `url` with `authorization` is answered with: `welcome` and its claims,
/// or the HTTP status and the body's code.
async fn upgrade(url: &str, authorization: Option<&str>) -> Value {
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Client { ws }.frame().await,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            json!({"status": response.status().as_u16(), "code": body["code"]})
        }
        Err(e) => panic!("unexpected failure: {e}"),
    }
}

/// A token with exactly this header and payload, signed with the gateway's secret.
fn forged(header: &str, payload: &str) -> String {
    let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
    let input = format!("{}.{}", b64(header), b64(payload));
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
    format!("{input}.{signature}")
}

#[tokio::test]
async fn tokens_are_read_as_rfc_7519_says() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--heartbeat-secs", "7"]);
    let url = gateway.url();
    let bearer = |t: &str| format!("Bearer {t}");
    let welcome = json!({"type": "welcome", "sub": "u", "orgs": ["org_1"], "heartbeatSecs": 7});
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let exp = now() + 3600;
    // A NumericDate may have a fraction.
    let fractional = forged(
        header,
        &format!(r#"{{"sub":"u","orgs":["org_1"],"exp":{exp}.5}}"#),
    );
    assert_eq!(upgrade(&url, Some(&bearer(&fractional))).await, welcome);
    // However far away, as long as it is a number.
    let far = forged(header, r#"{"sub":"u","orgs":["org_1"],"exp":1e300}"#);
    assert_eq!(upgrade(&url, Some(&bearer(&far))).await, welcome);
    // Not before a second that has not come.
    let early = forged(
        header,
        &format!(
            r#"{{"sub":"u","orgs":["org_1"],"exp":{exp},"nbf":{}}}"#,
            now() + 600
        ),
    );
    assert_eq!(
        upgrade(&url, Some(&bearer(&early))).await,
        json!({"status": 401, "code": "invalid_claims"})
    );
    // A header is a JSON object, even when an array would fill the same fields.
    let array_header = forged(
        r#"["JWT","HS256"]"#,
        &format!(r#"{{"sub":"u","orgs":["org_1"],"exp":{exp}}}"#),
    );
    assert_eq!(
        upgrade(&url, Some(&bearer(&array_header))).await,
        json!({"status": 401, "code": "malformed_token"})
    );
    // A proxy's Basic credentials are not the client's token and do not hide its `?token=`.
    let valid = sign(
        &Claims {
            sub: "u".into(),
            orgs: vec!["org_1".into()],
            exp,
        },
        SECRET.as_bytes(),
    );
    assert_eq!(
        upgrade(&format!("{url}?token={valid}"), Some("Basic dXNlcjpwYXNz")).await,
        welcome
    );
    assert_eq!(
        upgrade(&url, Some("Basic dXNlcjpwYXNz")).await,
        json!({"status": 401, "code": "missing_token"})
    );
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009_and_a_text_frame_not_utf8_with_1007() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let token = token_for(&["org_1"]);
    let mut other = victim(&gateway, "org_1").await;

    let big = connect(&gateway, &token).await;
    let (mut tx, rx) = big.ws.split();
    let sending = tokio::spawn(async move {
        let _ = tx.send(Message::text("x".repeat(1_500_000))).await;
        tx
    });
    let mut rx = rx;
    let code = loop {
        match tokio::time::timeout(WAIT, rx.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1009));
    let _ = sending.await;

    let mut bad = connect(&gateway, &token).await;
    let frame = Frame::message(
        b"{\"type\":\"\xff\"}".to_vec(),
        OpCode::Data(Data::Text),
        true,
    );
    bad.ws.send(Message::Frame(frame)).await.unwrap();
    let (code, _) = bad.until_closed().await;
    assert_eq!(code, Some(1007));

    gateway.wait_metric("connections", 1).await;
    receives_every_event(&mut other, &nats, "org_1", 10).await;
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_upgrade_timeout_and_a_full_gateway_answers_503() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(
        &nats,
        &["--max-connections", "20", "--upgrade-timeout-secs", "2"],
    );
    let mut other = victim(&gateway, "org_1").await;
    // Nineteen connections that never finish a request: ten silent, nine half-sent.
    let mut silent = Vec::new();
    for n in 0..19 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", gateway.port))
            .await
            .unwrap();
        if n % 2 == 1 {
            use tokio::io::AsyncWriteExt;
            stream
                .write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
                .await
                .unwrap();
        }
        silent.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Full: the twentieth is answered at once, not left waiting.
    let (status, body) = gateway.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "too_many_connections"
    );
    // Each of them is closed by the gateway within its timeout.
    for stream in &mut silent {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    }
    assert_eq!(gateway.get("/healthz").await.0, 200);
    let metrics = gateway.metrics().await;
    assert_eq!(metrics["upgrade_timeouts_total"], 19);
    assert_eq!(metrics["refused_connections_total"], 1);
    assert_eq!(metrics["connections"], 1);
    // The WebSocket client and the request for /metrics itself (the one for /healthz before
    // it may take a moment to be closed).
    gateway.wait_metric("http_connections", 2).await;
    gateway.wait_metric("upgrading_connections", 1).await;
    // The upgraded client was never subject to the timeout.
    receives_every_event(&mut other, &nats, "org_1", 10).await;
}

/// A fresh directory for one test's files.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "eventscope-hostile-{}-{}",
        std::process::id(),
        now_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
