//! Eventscope's gateway source (`eventscope_core::source::gateway`) feeding `Live`, against the
//! real gateway binary and a real nats-server: what it stores, what its status says, and how it
//! comes back through a gateway restart.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use eventscope_core::live::Live;
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{
    Body, ConnectionProfile, ConnectionState, GatewayTarget, SourceStatus,
};
use eventscope_testkit::{wait_until, NatsServer};

fn profile(gateway: &Gateway, token: &str, topics: &[&str]) -> ConnectionProfile {
    ConnectionProfile {
        subjects: topics.iter().map(|s| s.to_string()).collect(),
        gateway: Some(GatewayTarget {
            url: gateway.url(),
            token: token.to_string(),
        }),
        ..ConnectionProfile::default()
    }
}

async fn wait_status(live: &Live, what: &str, done: impl Fn(&SourceStatus) -> bool) {
    wait_until(what, WAIT, || done(&live.status())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_holds_its_orgs_events_and_survives_a_gateway_restart() {
    let nats = NatsServer::start();
    let mut gateway = Gateway::start(&nats, &["--heartbeat-secs", "1"]);
    let live = Live::new(StoreLimits::default());
    let token = token_for(&["org_1"]);
    live.connect(
        &profile(&gateway, &token, &["events.org_1.>"]),
        FirstConnect::FailFast,
    )
    .await
    .unwrap();
    let status = live.status();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(status.gateway.as_ref().unwrap().orgs, ["org_1"]);
    assert_eq!(status.gateway.as_ref().unwrap().sub, "u_1");
    gateway.wait_metric("subscriptions", 1).await;
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let mut messages = Vec::new();
    for n in 0..200 {
        messages.push(envelope(if n % 2 == 0 { "org_1" } else { "org_2" }, n));
    }
    messages.push(("events.org_1.raw".into(), b"\xffnot json".to_vec()));
    publish(&nats_client, &messages).await;
    let expected: Vec<_> = messages
        .iter()
        .filter(|(s, _)| s.starts_with("events.org_1."))
        .collect();
    wait_until("org_1's events", WAIT, || {
        live.store().next_seq() == expected.len() as u64
    })
    .await;
    for (seq, (subject, body)) in expected.iter().enumerate() {
        let detail = live.detail(seq as u64).unwrap();
        assert_eq!(&detail.row.subject, subject);
        match detail.body {
            Body::Json { text } => assert_eq!(text.as_bytes(), body.as_slice()),
            Body::Hex { .. } => assert_eq!(subject, "events.org_1.raw"),
            Body::Text { text } => panic!("unexpected text body {text}"),
        }
    }
    assert_eq!(live.stats().received, expected.len() as u64);
    // Pings are answered: three intervals later the connection is the same one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(live.status().reconnects, 0);
    assert_eq!(live.status().state, ConnectionState::Connected);

    let before_restart = chrono_now_ms();
    gateway.restart();
    wait_status(&live, "the reconnection", |s| {
        s.state == ConnectionState::Connected && s.reconnects == 1
    })
    .await;
    let g = live.status().gateway.unwrap();
    let gap = g.last_gap.expect("the gap is reported");
    assert!(
        gap.from_ms >= before_restart && gap.to_ms >= gap.from_ms,
        "{gap:?}"
    );
    assert_eq!(gap.missed, None);
    assert_eq!(g.gaps, 1);
    // Subscribed again: new events arrive.
    gateway.wait_metric("subscriptions", 1).await;
    publish(&nats_client, &[envelope("org_1", 1_000)]).await;
    wait_until("an event after the restart", WAIT, || {
        live.store().next_seq() == expected.len() as u64 + 1
    })
    .await;
}

#[tokio::test]
async fn refusals_are_reported_in_the_status() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let live = Live::new(StoreLimits::default());
    let forged = token_for(&["org_1"]).replace('.', "");
    let err = live
        .connect(
            &profile(&gateway, &forged, &["events.org_1.>"]),
            FirstConnect::FailFast,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the gateway refused the token (malformed_token)"),
        "{err}"
    );
    let live = Arc::new(live);
    live.connect(
        &profile(
            &gateway,
            &token_for(&["org_1"]),
            &["events.org_2.>", "events.org_1.>"],
        ),
        FirstConnect::FailFast,
    )
    .await
    .unwrap();
    wait_status(&live, "the forbidden topic", |s| {
        s.gateway.as_ref().is_some_and(|g| !g.errors.is_empty())
    })
    .await;
    assert_eq!(
        live.status().gateway.unwrap().errors,
        [
            r#"events.org_2.>: forbidden: the token does not allow organization "org_2" (it allows org_1)"#
        ]
    );
    gateway.wait_metric("subscriptions", 1).await;
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_topics_store_each_event_once() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let live = Live::new(StoreLimits::default());
    let token = token_for(&["org_1"]);
    // The second topic is inside the first: the gateway delivers its events on both.
    live.connect(
        &profile(
            &gateway,
            &token,
            &["events.org_1.>", "events.org_1.tasks.>"],
        ),
        FirstConnect::FailFast,
    )
    .await
    .unwrap();
    gateway.wait_metric("subscriptions", 2).await;
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let messages: Vec<_> = (0..50).map(|n| envelope("org_1", n)).collect();
    publish(&nats_client, &messages).await;
    wait_until("the events", WAIT, || live.store().next_seq() >= 50).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(live.store().next_seq(), 50, "an event was stored twice");
}
