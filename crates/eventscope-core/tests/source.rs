//! The NATS source against a real nats-server: order, completeness, restarts, bad input.

use std::sync::Arc;
use std::time::Duration;

use eventscope_core::live::Live;
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{Body, ConnectionProfile, ConnectionState};
use eventscope_testkit::{publish, wait_until, NatsServer};

fn profile(url: &str) -> ConnectionProfile {
    ConnectionProfile {
        servers: vec![url.to_string()],
        ..ConnectionProfile::default()
    }
}

async fn live_on(server: &NatsServer) -> Arc<Live> {
    let live = Live::new(StoreLimits::default());
    live.connect(&profile(&server.url()), FirstConnect::FailFast)
        .await
        .unwrap();
    // The subscription is registered once the server has seen it, which a loaded machine may
    // take a while to get to: probe until one arrives.
    let probe = async_nats::connect(server.url()).await.unwrap();
    let env = Simulator::new(SimConfig::default()).next();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while live.store().next_seq() == 0 {
        assert!(std::time::Instant::now() < deadline, "no probe arrived");
        publish(
            &probe,
            &[(env.subject().unwrap(), serde_json::to_vec(&env).unwrap())],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Probes still in flight land before the clear.
    tokio::time::sleep(Duration::from_millis(200)).await;
    live.clear();
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_everything_in_order_at_a_sustained_rate() {
    let server = NatsServer::start();
    let live = live_on(&server).await;
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let mut sim = Simulator::new(SimConfig {
        seed: 1,
        ..SimConfig::default()
    });
    // 25,000 events a second, in bursts of 250 every 10 ms, for two seconds.
    let mut sent = Vec::with_capacity(50_000);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..200 {
        tick.tick().await;
        for _ in 0..250 {
            let env = sim.next();
            publisher
                .publish(
                    env.subject().unwrap(),
                    serde_json::to_vec(&env).unwrap().into(),
                )
                .await
                .unwrap();
            sent.push(env.id);
        }
    }
    publisher.flush().await.unwrap();
    wait_until("50,000 events", Duration::from_secs(30), || {
        live.store().len() == 50_000
    })
    .await;
    let store = live.store();
    let got: Vec<String> = store
        .window(store.first_seq(), 50_000)
        .map(|e| e.id().to_string())
        .collect();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "events arrived out of order or changed");
    let bad: Vec<_> = store
        .window(store.first_seq(), 50_000)
        .filter(|e| !e.problems().is_empty())
        .map(|e| {
            (
                e.problems().summary(),
                String::from_utf8_lossy(e.body()).into_owned(),
            )
        })
        .take(2)
        .collect();
    assert_eq!(bad, vec![]);
    assert_eq!(store.invalid(), 0);
    drop(store);
    let stats = live.stats();
    assert_eq!(
        (
            stats.dropped_client,
            stats.slow_consumer_reports,
            stats.evicted
        ),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_is_survived_and_reported() {
    let mut server = NatsServer::start();
    let live = live_on(&server).await;
    let mut status = live.watch_status();
    assert_eq!(live.status().state, ConnectionState::Connected);

    server.restart();
    // The source notices the loss, says so, and comes back on its own.
    let saw_reconnecting = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            status.changed().await.unwrap();
            if status.borrow().state == ConnectionState::Reconnecting {
                return status.borrow().reason.clone();
            }
        }
    })
    .await
    .expect("no reconnecting status");
    assert!(saw_reconnecting.is_some());
    wait_until("reconnect", Duration::from_secs(15), || {
        live.status().state == ConnectionState::Connected
    })
    .await;
    assert_eq!(live.status().reconnects, 1);

    let publisher = async_nats::connect(server.url()).await.unwrap();
    let after: Vec<_> = (0..100)
        .map(|i| {
            let body = format!(r#"{{"id":"after_{i}"}}"#);
            ("events.o.s.r.e.x".to_string(), body.into_bytes())
        })
        .collect();
    publish(&publisher, &after).await;
    wait_until("events after the restart", Duration::from_secs(10), || {
        live.store().len() == 100
    })
    .await;
    let store = live.store();
    let first = store.get(store.first_seq()).unwrap().id().to_string();
    assert_eq!(first, "after_0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_held_and_flagged() {
    let server = NatsServer::start();
    let live = live_on(&server).await;
    let publisher = async_nats::connect(server.url()).await.unwrap();
    let ok = |id: &str, payload: &str| {
        format!(
            r#"{{"id":"{id}","organizationId":"org_1","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-11-27T10:00:00Z","payload":{payload}}}"#
        )
    };
    let depth = 10_000;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("events.org_1.s.r.e.x", b"plain text, not json".to_vec()),
        ("events.org_1.s.r.e.x", b"\xff\xfe\x00binary".to_vec()),
        (
            "events.org_1.s.r.e.x",
            br#"{"id":"missing_fields"}"#.to_vec(),
        ),
        (
            "events.org_1.s.r.e.x",
            br#"{"id":42,"organizationId":[]}"#.to_vec(),
        ),
        (
            "events.org_1.s.r.e.x",
            ok("big", &format!(r#"{{"blob":"{}"}}"#, "y".repeat(1_000_000))).into_bytes(),
        ),
        (
            "events.org_1.s.r.e.x",
            ok(
                "deep",
                &format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
            )
            .into_bytes(),
        ),
        (
            "events.org_1.s.r.e.x",
            ok(
                "<script>alert(1)</script>",
                r#"{"html":"<img src=x onerror=alert(1)>"}"#,
            )
            .into_bytes(),
        ),
    ];
    let messages: Vec<_> = cases
        .iter()
        .map(|(subject, body)| (subject.to_string(), body.clone()))
        .collect();
    publish(&publisher, &messages).await;
    wait_until("every bad message", Duration::from_secs(10), || {
        live.store().len() == cases.len() as u64
    })
    .await;
    let rows = live.rows(0, 100);
    let problems: Vec<Option<&str>> = rows.iter().map(|r| r.problem.as_deref()).collect();
    assert_eq!(
        problems,
        vec![
            Some("not JSON"),
            Some("not UTF-8"),
            Some("missing organizationId, source, resource, resourceId, eventName, timestamp, payload"),
            Some("missing source, resource, resourceId, eventName, timestamp, payload"),
            None,
            None,
            None,
        ]
    );
    let big = live.detail(rows[4].seq).unwrap();
    assert_eq!(big.row.size as usize, cases[4].1.len());
    assert!(matches!(big.body, Body::Json { ref text } if text.len() == cases[4].1.len()));
    let hostile = live.detail(rows[6].seq).unwrap();
    assert_eq!(hostile.row.id, "<script>alert(1)</script>");
    assert!(matches!(
        live.detail(rows[1].seq).unwrap().body,
        Body::Hex { .. }
    ));
    assert_eq!(live.stats().invalid, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_is_described_while_connected_and_only_then() {
    let server = NatsServer::start_with_jetstream();
    let live = live_on(&server).await;
    let about = live
        .server_about()
        .expect("a connected source describes its server");
    // What the binary says of itself: "nats-server: v2.9.15".
    let out = std::process::Command::new(
        which_nats_server().unwrap_or_else(|| "/usr/sbin/nats-server".into()),
    )
    .arg("--version")
    .output()
    .unwrap();
    let says = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        format!("v{}", about.version),
        says.trim().rsplit(' ').next().unwrap(),
        "{says}"
    );
    assert!(about.jetstream);
    assert_eq!(about.max_payload, 1024 * 1024);
    live.disconnect();
    assert_eq!(live.server_about(), None);
}

fn which_nats_server() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join("nats-server"))
        .find(|p| p.exists())
}
