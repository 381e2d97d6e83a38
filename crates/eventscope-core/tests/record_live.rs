//! The local recording fed by a live stream against a real nats-server: everything received is
//! recorded, headers included, and a server restart leaves a gap between the messages.

use std::time::Duration;

use eventscope_core::live::Live;
use eventscope_core::record::{Query, Reader, RecordedGap, Recorder, RecorderOptions};
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{ConnectionProfile, ConnectionState};
use eventscope_testkit::{publish, wait_until, NatsServer};

const WAIT: Duration = Duration::from_secs(30);

fn envelope(n: usize) -> (String, Vec<u8>) {
    let body = format!(
        r#"{{"id":"evt_{n}","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"task_{n}","eventName":"created","timestamp":"2026-01-01T09:30:15.250Z","payload":{{}}}}"#
    );
    (
        format!("events.org_1.tasks.task.created.task_{n}"),
        body.into_bytes(),
    )
}

/// The gaps once the disconnection's gap has closed.
async fn closed_gaps(recorder: &Recorder, reader: &Reader) -> Vec<RecordedGap> {
    let mut gaps = Vec::new();
    wait_until("the gap to close", WAIT, || {
        recorder.flush();
        gaps = reader.gaps(i64::MIN, i64::MAX).unwrap();
        !gaps.is_empty() && gaps.iter().all(|g| g.end_ms.is_some())
    })
    .await;
    gaps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_recorded_as_a_gap_between_the_messages() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.sqlite");
    let recorder = Recorder::open(&path, RecorderOptions::default()).unwrap();
    let live = Live::new(StoreLimits::default());
    live.set_recording(Some(recorder.clone()));
    let profile = ConnectionProfile {
        servers: vec![server.url()],
        ..ConnectionProfile::default()
    };
    live.connect(&profile, FirstConnect::FailFast)
        .await
        .unwrap();
    server.wait_for_subscriptions(1, WAIT);
    let client = async_nats::connect(server.url()).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Eventscope-Sent", "abc");
    let (subject, body) = envelope(0);
    client
        .publish_with_headers(subject, headers, body.into())
        .await
        .unwrap();
    publish(&client, &(1..5).map(envelope).collect::<Vec<_>>()).await;
    wait_until("5 held", WAIT, || live.store().len() == 5).await;

    server.stop();
    wait_until("the disconnection", WAIT, || {
        live.status().state != ConnectionState::Connected
    })
    .await;
    let reader = Reader::open(&path).unwrap();
    wait_until("the gap to open", WAIT, || {
        recorder.flush();
        let gaps = reader.gaps(i64::MIN, i64::MAX).unwrap();
        gaps.iter().any(|g| g.end_ms.is_none())
    })
    .await;
    server.restart();
    wait_until("the reconnection", WAIT, || {
        live.status().state == ConnectionState::Connected
    })
    .await;
    server.wait_for_subscriptions(1, WAIT);
    publish(&client, &(5..10).map(envelope).collect::<Vec<_>>()).await;
    wait_until("10 held", WAIT, || live.store().len() == 10).await;
    let gaps = closed_gaps(&recorder, &reader).await;

    let recorded = reader
        .query(&Query::range(Some("org_1"), i64::MIN, i64::MAX, 100))
        .unwrap();
    let ids: Vec<&str> = recorded.iter().map(|m| m.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "evt_0", "evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6", "evt_7", "evt_8",
            "evt_9"
        ]
    );
    assert_eq!(
        recorded[0].headers,
        [("Eventscope-Sent".to_string(), "abc".to_string())]
    );
    assert_eq!(recorded[0].origin, server.url());
    // The first is the time before the first connection.
    let reasons: Vec<&str> = gaps.iter().map(|g| g.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "disconnected: not connected",
            "disconnected: connection lost"
        ]
    );
    let gap = &gaps[1];
    assert!(
        recorded[4].received_ms <= gap.start_ms && gap.end_ms.unwrap() <= recorded[5].received_ms,
        "{gap:?} between {} and {}",
        recorded[4].received_ms,
        recorded[5].received_ms
    );
    assert_eq!(recorder.stats().dropped, 0);
}
