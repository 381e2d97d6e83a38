//! The gateway under faults, over real sockets: a client too slow to keep, a nats-server
//! restart, malformed and oversized frames, and SIGTERM.

mod common;

use std::time::Duration;

use common::*;
use eventscope_testkit::NatsServer;
use futures::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_client_too_far_behind_is_disconnected_with_4009_and_others_get_everything() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &["--send-queue", "1024", "--max-missed", "200"]);
    // The fast client reads every event while they are published.
    let (mut slow, mut fast, _nats_client) = slow_and_fast_after_4000(&gateway, &nats).await;
    gateway.wait_metric("slow_disconnects_total", 1).await;
    // The slow client reads what was on its way, then how much it missed, then the close.
    let (code, frames) = slow.until_closed().await;
    assert_eq!(code, Some(4009));
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "lagged", "{last}");
    assert!(last["missed"].as_u64().unwrap() > 200, "{last}");
    assert!(frames[..frames.len() - 1]
        .iter()
        .all(|f| f["type"] == "event"));
    gateway.wait_metric("connections", 1).await;
    fast.subscribe("again", "events.org_1.tasks.>").await;
}

#[tokio::test]
async fn clients_stay_through_a_nats_restart_and_are_told() {
    let mut nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    assert_eq!(gateway.get("/healthz").await.0, 200);
    let mut client = connect(&gateway, &token_for(&["org_1"])).await;
    client.subscribe("s1", "events.org_1.>").await;
    nats.stop();
    assert_eq!(
        client.frame().await,
        json!({"type": "status", "nats": "reconnecting"})
    );
    let (status, body) = gateway.get("/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(gateway.metrics().await["nats_connected"], 0);
    nats.restart();
    assert_eq!(
        client.frame().await,
        json!({"type": "status", "nats": "connected"})
    );
    assert_eq!(gateway.get("/healthz").await.0, 200);
    // The subscription was renewed on the new server.
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        publish(&publisher, &[envelope("org_1", 1)]).await;
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(500), client.frame()).await {
            assert_eq!(got["topic"], "events.org_1.tasks.task.created.t_1");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no event after the restart"
        );
    }
}

#[tokio::test]
async fn malformed_frames_are_answered_and_never_break_the_gateway() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(
        &nats,
        &["--max-subscriptions", "2", "--max-frame-bytes", "1024"],
    );
    let mut client = connect(&gateway, &token_for(&["org_1"])).await;
    let bad = |message: &str| json!({"type": "error", "code": "bad_request", "message": message});
    client
        .check(
            "hello",
            bad("the frame is not JSON: expected value at line 1 column 1"),
        )
        .await;
    client
        .check("[]", bad("a frame is a JSON object with a `type`"))
        .await;
    client
        .check(
            r#"{"type":"publish","id":"p1"}"#,
            json!({"type": "error", "id": "p1", "code": "bad_request", "message": "not a valid frame: unknown variant `publish`, expected one of `subscribe`, `unsubscribe`, `history`"}),
        )
        .await;
    client
        .check(
            r#"{"type":"unsubscribe","id":"nope"}"#,
            json!({"type": "error", "id": "nope", "code": "bad_request", "message": "no subscription \"nope\""}),
        )
        .await;
    let huge = json!({"type": "subscribe", "id": "h", "topic": "x".repeat(2000)}).to_string();
    client
        .check(
            &huge,
            json!({"type": "error", "code": "limit", "message": format!("the frame has {} bytes; the limit is 1024", huge.len())}),
        )
        .await;
    client
        .ws
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    assert_eq!(
        client.frame().await,
        bad("frames are JSON text, not binary")
    );
    client.subscribe("a", "events.org_1.a.>").await;
    client
        .check(
            r#"{"type":"subscribe","id":"a","topic":"events.org_1.b.>"}"#,
            json!({"type": "error", "id": "a", "code": "bad_request", "message": "subscription \"a\" already exists"}),
        )
        .await;
    client.subscribe("b", "events.org_1.b.>").await;
    client
        .check(
            r#"{"type":"subscribe","id":"c","topic":"events.org_1.c.>"}"#,
            json!({"type": "error", "id": "c", "code": "limit", "message": "a connection may hold 2 subscriptions"}),
        )
        .await;
    // A message larger than the transport takes ends that connection, and only that one.
    let mut other = connect(&gateway, &token_for(&["org_1"])).await;
    let _ = other.ws.send(Message::text("x".repeat(2 << 20))).await;
    let (code, _) = other.until_closed().await;
    assert!(matches!(code, Some(1009) | None), "{code:?}");
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    publish(
        &publisher,
        &[("events.org_1.a.x".to_string(), b"1".to_vec())],
    )
    .await;
    assert_eq!(
        client.frame().await,
        json!({"type": "event", "subscription": "a", "topic": "events.org_1.a.x", "event": 1})
    );
    gateway.wait_metric("connections", 1).await;
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_cleanly() {
    let nats = NatsServer::start();
    let mut gateway = Gateway::start(&nats, &[]);
    let mut client = connect(&gateway, &token_for(&["org_1"])).await;
    client.subscribe("s1", "events.org_1.>").await;
    let exit = tokio::task::spawn_blocking(move || {
        let code = gateway.terminate();
        (gateway, code)
    });
    let (code, _) = client.until_closed().await;
    assert_eq!(code, Some(1001));
    let (_gateway, exit_code) = exit.await.unwrap();
    assert_eq!(exit_code, Some(0));
}
