//! The composer's sends against a real nats-server: what arrives, marked as ours, and what is
//! refused before anything is sent.

use std::time::Duration;

use bytes::Bytes;
use eventscope_core::compose;
use eventscope_core::publish::Captured;
use eventscope_core::sent;
use eventscope_core::wire::PublishRequest;
use eventscope_testkit::NatsServer;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

fn template(name: &str) -> String {
    serde_json::to_string_pretty(&eventscope_core::template::get(name).unwrap().envelope).unwrap()
}

async fn received(sub: &mut async_nats::Subscriber) -> Vec<async_nats::Message> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        got.push(m);
    }
    got
}

fn request(envelope: String, count: u32, rate: Option<f64>) -> PublishRequest {
    PublishRequest {
        envelope,
        count,
        rate_per_sec: rate,
        pinned: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_sent_n_times_arrives_n_times_with_fresh_ids_marked_ours() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("events.>").await.unwrap();
    client.flush().await.unwrap();
    let text = template("task.created");
    let subject = compose::draft(&text, false).unwrap().subject;
    sent::mark_outgoing();
    let mut reports = Vec::new();
    let outcome = compose::send(
        &client,
        &request(text, 25, Some(500.0)),
        &CancellationToken::new(),
        |p| reports.push(p.sent),
    )
    .await
    .unwrap();
    assert_eq!(
        (outcome.sent, outcome.total, outcome.cancelled),
        (25, 25, false)
    );
    assert_eq!(reports.last(), Some(&25));
    let got = received(&mut sub).await;
    assert_eq!(got.len(), 25);
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| {
            assert_eq!(m.subject.as_str(), subject);
            let h = m.headers.as_ref().unwrap();
            assert_eq!(h.get(sent::HEADER).unwrap().as_str(), sent::mark());
            let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            body["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_stops_and_says_how_far_it_got() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let cancel = CancellationToken::new();
    let text = template("task.created");
    let outcome = compose::send(&client, &request(text, 1_000, Some(100.0)), &cancel, |p| {
        if p.sent >= 5 {
            cancel.cancel();
        }
    })
    .await
    .unwrap();
    assert!(outcome.cancelled);
    assert!(outcome.sent >= 5 && outcome.sent < 1_000, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_go_is_refused_before_anything_is_sent() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("events.>").await.unwrap();
    client.flush().await.unwrap();
    let no = CancellationToken::new();
    let mut big: serde_json::Value = serde_json::from_str(&template("task.created")).unwrap();
    big["payload"]["notes"] = "x".repeat(2 * 1024 * 1024).into();
    let err = compose::send(&client, &request(big.to_string(), 1, None), &no, |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("over the server's limit of 1048576 bytes"),
        "{err}"
    );
    let ok = template("task.created");
    let err = compose::send(&client, &request(ok.clone(), 0, None), &no, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "count must be between 1 and 1000000");
    let err = compose::send(&client, &request(ok, 1, Some(-3.0)), &no, |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid rate -3: expected a positive number of events per second"
    );
    let events = vec![
        Captured {
            subject: "events.a".into(),
            body: Bytes::from_static(b"{}"),
            at_ms: 0,
        },
        Captured {
            subject: "events.b".into(),
            body: vec![b' '; 2 * 1024 * 1024].into(),
            at_ms: 1,
        },
    ];
    assert!(compose::replay(&client, &events, None, &no, |_| {})
        .await
        .is_err());
    assert!(received(&mut sub).await.is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_sends_the_events_unchanged_in_their_order() {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut sub = client.subscribe("events.>").await.unwrap();
    client.flush().await.unwrap();
    let events: Vec<Captured> = (0..10)
        .map(|i| Captured {
            subject: format!("events.org_1.tasks.task.created.t{i}"),
            body: format!(r#"{{"id":"e{i}"}}"#).into_bytes().into(),
            at_ms: 1_000 + i * 20,
        })
        .collect();
    for rate in [None, Some(1_000.0)] {
        let outcome = compose::replay(&client, &events, rate, &CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert_eq!(outcome.sent, 10);
        let got = received(&mut sub).await;
        let seen: Vec<(String, Vec<u8>)> = got
            .iter()
            .map(|m| (m.subject.to_string(), m.payload.to_vec()))
            .collect();
        let sent: Vec<(String, Vec<u8>)> = events
            .iter()
            .map(|e| (e.subject.clone(), e.body.to_vec()))
            .collect();
        assert_eq!(seen, sent, "{rate:?}");
    }
}
