//! The notification tally on a live stream against a real nats-server: what `Live` counts at
//! ingest equals the volume report over the same held events.

use std::sync::Arc;
use std::time::Duration;

use eventscope_core::live::Live;
use eventscope_core::notify::{self, RuleSet};
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::ConnectionProfile;
use eventscope_testkit::{publish, wait_until, NatsServer};

const EVENTS: u64 = 3_000;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_tally_counts_what_the_report_counts_over_the_same_events() {
    let server = NatsServer::start();
    let live = Live::new(StoreLimits::default());
    let rules = Arc::new(RuleSet::builtin());
    live.set_notify_rules(Some(rules.clone()));
    live.connect(
        &ConnectionProfile {
            servers: vec![server.url()],
            ..ConnectionProfile::default()
        },
        FirstConnect::FailFast,
    )
    .await
    .unwrap();
    let mut sim = Simulator::new(SimConfig::default());
    let messages: Vec<(String, Vec<u8>)> = (0..EVENTS)
        .map(|_| {
            let env = sim.next();
            (env.subject().unwrap(), serde_json::to_vec(&env).unwrap())
        })
        .collect();
    let client = async_nats::connect(server.url()).await.unwrap();
    publish(&client, &messages).await;
    wait_until("every event held", WAIT, || live.store().len() == EVENTS).await;
    let counted = live.notify_volume().expect("rules were set");
    let now = chrono::Utc::now().timestamp_millis();
    let report = notify::volume_report(rules, &live.store(), now, |_| {});
    assert_eq!(counted.examined, EVENTS);
    assert_eq!(counted.rules, report.rules);
    assert_eq!(counted.channels, report.channels);
    assert_eq!(counted.recipients, report.recipients);
    assert!(counted.notifications > 0);
    live.set_notify_rules(None);
    assert_eq!(live.notify_volume(), None);
}
