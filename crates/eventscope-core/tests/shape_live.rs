//! The stream's shape on a live stream against a real nats-server: after publishing known
//! counts, the rate series, the subject tree and the lag show them, for every event and for a
//! filtered view.

use std::sync::Arc;
use std::time::Duration;

use eventscope_core::live::Live;
use eventscope_core::shape::TreeQuery;
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{ConnectionProfile, GroupBy, TreeSort};
use eventscope_testkit::{publish, wait_until, NatsServer};

const WAIT: Duration = Duration::from_secs(20);

fn envelope(org: &str, source: &str, resource: &str, event: &str, id: &str) -> (String, Vec<u8>) {
    let stamp = chrono::Utc::now() - chrono::Duration::seconds(2);
    let body = format!(
        r#"{{"id":"evt_{id}","organizationId":"{org}","source":"{source}","resource":"{resource}","resourceId":"{id}","eventName":"{event}","timestamp":"{}","payload":{{}}}}"#,
        stamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    (
        format!("events.{org}.{source}.{resource}.{event}.{id}"),
        body.into_bytes(),
    )
}

/// Group name and total per series group, largest first.
fn totals(live: &Live, by: GroupBy) -> String {
    let series = live.rate_series(by, None, Some(100));
    assert!(series.points <= 100 && series.step_ms % 1000 == 0);
    series
        .groups
        .iter()
        .map(|g| format!("{}={}", g.name, g.total))
        .collect::<Vec<_>>()
        .join(" ")
}

fn tree(live: &Live, prefix: &str) -> String {
    let level = live
        .subject_tree(&TreeQuery {
            prefix: prefix.into(),
            sort: TreeSort::Count,
            offset: 0,
            limit: 50,
            search: String::new(),
        })
        .unwrap();
    level
        .nodes
        .iter()
        .map(|n| format!("{}={}", n.pattern, n.count))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_counts_show_in_series_tree_and_lag() {
    let server = NatsServer::start();
    let live = Live::new(StoreLimits::default());
    let profile = ConnectionProfile {
        servers: vec![server.url()],
        ..ConnectionProfile::default()
    };
    live.connect(&profile, FirstConnect::FailFast)
        .await
        .unwrap();
    server.wait_for_subscriptions(1, WAIT);
    let mut messages = Vec::new();
    for i in 0..6 {
        messages.push(envelope(
            "org_1",
            "tasks",
            "task",
            "created",
            &format!("t{i}"),
        ));
    }
    for i in 0..4 {
        messages.push(envelope("org_2", "flows", "flow", "run", &format!("f{i}")));
    }
    messages.push(envelope("org_1", "flows", "flow", "run", "f9"));
    let client = async_nats::connect(server.url()).await.unwrap();
    publish(&client, &messages).await;
    let live: Arc<Live> = live;
    wait_until("every event held", WAIT, || live.store().len() == 11).await;

    assert_eq!(totals(&live, GroupBy::Source), "tasks=6 flows=5");
    assert_eq!(totals(&live, GroupBy::Org), "org_1=7 org_2=4");
    assert_eq!(totals(&live, GroupBy::Event), "task.created=6 flow.run=5");
    assert_eq!(tree(&live, "events.>"), "events.org_1.>=7 events.org_2.>=4");
    assert_eq!(
        tree(&live, "events.org_1.>"),
        "events.org_1.tasks.>=6 events.org_1.flows.>=1"
    );
    let lag = live.lag(None);
    let sources: Vec<(String, u64)> = lag
        .sources
        .iter()
        .map(|s| (s.source.clone(), s.count))
        .collect();
    assert_eq!(
        sources,
        [("tasks".to_string(), 6), ("flows".to_string(), 5)]
    );
    assert!(lag.sources.iter().all(|s| s.p50_ms >= 1900 && !s.skewed));

    live.set_filter("source:flows").unwrap();
    wait_until("the filter to complete", WAIT, || live.view_info().complete).await;
    assert_eq!(totals(&live, GroupBy::Org), "org_2=4 org_1=1");
    assert_eq!(tree(&live, "events.*.flows.flow.run.>"), "events.*.flows.flow.run.f0=1 events.*.flows.flow.run.f1=1 events.*.flows.flow.run.f2=1 events.*.flows.flow.run.f3=1 events.*.flows.flow.run.f9=1");
    assert_eq!(live.anomalies(GroupBy::Source, None), vec![]);
}
