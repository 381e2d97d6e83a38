//! The `history` request over real sockets: the built gateway, a real nats-server with
//! JetStream, WebSocket clients (`docs/gateway-protocol.md`, "History").

mod common;

use common::*;
use eventscope_testkit::{create_stream, publish_stored, NatsServer};
use serde_json::{json, Value};

/// Sends a `history` request and reads its answer through `history_end` or an error.
async fn history(client: &mut Client, request: Value) -> Vec<Value> {
    client.send(&request.to_string()).await;
    let mut frames = Vec::new();
    loop {
        let frame = client.frame().await;
        let last = matches!(frame["type"].as_str(), Some("history_end" | "error"));
        frames.push(frame);
        if last {
            return frames;
        }
    }
}

#[tokio::test]
async fn a_token_for_org_1_gets_org_1s_history_and_is_refused_org_2s() {
    let nats = NatsServer::start_with_jetstream();
    let client = async_nats::connect(nats.url()).await.unwrap();
    create_stream(&client, "EVENTS", &["events.>"]).await;
    let events: Vec<_> = (0..20)
        .map(|n| envelope(if n % 2 == 0 { "org_1" } else { "org_2" }, n))
        .collect();
    let seqs = publish_stored(&client, &events).await;
    let gateway = Gateway::start(&nats, &[]);
    let mut ws = connect(&gateway, &token_for(&["org_1"])).await;

    let mut expected: Vec<Value> = events
        .iter()
        .zip(&seqs)
        .filter(|((subject, _), _)| subject.starts_with("events.org_1."))
        .map(|((subject, body), seq)| {
            let event: Value = serde_json::from_slice(body).unwrap();
            json!({"type": "event", "subscription": "h1", "seq": seq, "topic": subject, "event": event})
        })
        .collect();
    expected.push(json!({"type": "history_end", "id": "h1", "count": 10}));
    let request = json!({"type": "history", "id": "h1", "topic": "events.org_1.>", "since": "2000-01-01T00:00:00Z"});
    assert_eq!(history(&mut ws, request).await, expected);

    // The limit stops the answer early.
    let request = json!({"type": "history", "id": "h2", "topic": "events.org_1.>", "since": "-1h", "limit": 3});
    let answer = history(&mut ws, request).await;
    assert_eq!(answer.len(), 4);
    assert_eq!(
        answer[3],
        json!({"type": "history_end", "id": "h2", "count": 3})
    );

    let request = json!({"type": "history", "id": "h3", "topic": "events.org_2.>", "since": "-1h"});
    let refused = history(&mut ws, request).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(
        (&refused[0]["type"], &refused[0]["id"], &refused[0]["code"]),
        (&json!("error"), &json!("h3"), &json!("forbidden"))
    );
    // The connection goes on.
    ws.subscribe("s1", "events.org_1.>").await;
}

#[tokio::test]
async fn no_stream_for_the_topic_is_an_error_frame() {
    let nats = NatsServer::start_with_jetstream();
    let gateway = Gateway::start(&nats, &[]);
    let mut ws = connect(&gateway, &token_for(&["org_1"])).await;
    let request = json!({"type": "history", "id": "h1", "topic": "events.org_1.>", "since": "-1h"});
    assert_eq!(
        history(&mut ws, request).await,
        [
            json!({"type": "error", "id": "h1", "code": "no_history", "message": "no JetStream stream holds events.org_1.>"})
        ]
    );
    let request =
        json!({"type": "history", "id": "h2", "topic": "events.org_1.>", "since": "yesterday"});
    let answer = history(&mut ws, request).await;
    assert_eq!(answer[0]["code"], "bad_request", "{answer:?}");
}
