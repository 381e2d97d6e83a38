//! The filter on a live stream against a real nats-server: a capture narrowed to the subjects a
//! query implies, with the query applied, shows exactly what the query selects from everything.

use std::sync::Arc;
use std::time::Duration;

use eventscope_core::filter::Filter;
use eventscope_core::live::Live;
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::ConnectionProfile;
use eventscope_testkit::{publish, wait_until, NatsServer};

const EVENTS: usize = 3_000;
/// How long each wait may take.
const WAIT: Duration = Duration::from_secs(20);

async fn live(server: &NatsServer, subjects: Vec<String>, query: &str) -> Arc<Live> {
    let live = Live::new(StoreLimits::default());
    let profile = ConnectionProfile {
        servers: vec![server.url()],
        subjects,
        ..ConnectionProfile::default()
    };
    live.connect(&profile, FirstConnect::FailFast)
        .await
        .unwrap();
    live.set_filter(query).unwrap();
    live
}

/// Waits until the applied filter has looked at every held event (the newest page comes first).
async fn wait_complete(live: &Live) {
    wait_until("the filter to complete", WAIT, || live.view_info().complete).await;
}

/// The ids of the view's rows, in order.
fn shown(live: &Live) -> Vec<String> {
    let view = live.view_info();
    let rows = live.rows(view.first_pos, (view.next_pos - view.first_pos) as usize);
    assert_eq!(rows.len() as u64, view.next_pos - view.first_pos);
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_captures_miss_no_match_and_show_no_other_event() {
    let server = NatsServer::start();
    let mut sim = Simulator::new(SimConfig {
        seed: 7,
        orgs: 4,
        ..SimConfig::default()
    });
    let orgs: Vec<String> = sim.org_ids().map(str::to_string).collect();
    let queries = [
        format!("org:{}", orgs[0]),
        format!("org:{},{} source:tasks", orgs[1], orgs[2]),
        "source:flows event:created".to_string(),
        "name:task.*".to_string(),
        format!("(org:{} OR source:apps) -event:created", orgs[3]),
        "resourceId:conv_* source:conversations".to_string(),
        format!("subject:events.{}.conversations.>", orgs[0]),
        "source:tasks has:payload.priority -payload.status:done".to_string(),
    ];

    // One capture of everything as the reference, and one narrowed capture per query.
    let everything = live(&server, vec!["events.>".into()], "").await;
    let mut narrowed = Vec::new();
    for query in &queries {
        let subjects = Filter::parse(query).unwrap().subjects();
        assert!(
            subjects != ["events.>"],
            "{query} should narrow the capture"
        );
        narrowed.push(live(&server, subjects, query).await);
    }
    server.wait_for_subscriptions(1 + queries.len() as u64, Duration::from_secs(5));

    let publisher = async_nats::connect(server.url()).await.unwrap();
    let events: Vec<_> = (0..EVENTS)
        .map(|_| {
            let env = sim.next();
            (env.subject().unwrap(), serde_json::to_vec(&env).unwrap())
        })
        .collect();
    publish(&publisher, &events).await;
    wait_until("every event in the reference capture", WAIT, || {
        everything.stats().received == EVENTS as u64
    })
    .await;

    for (query, live) in queries.iter().zip(&narrowed) {
        // What the query selects from everything, evaluated by the same core on the full capture.
        everything.set_filter(query).unwrap();
        wait_complete(&everything).await;
        let reference = everything.view_info();
        let expected = shown(&everything);
        assert_eq!(
            expected.len() as u64,
            reference.next_pos - reference.first_pos
        );
        assert!(!expected.is_empty(), "{query} selects nothing: a weak test");
        wait_until(query, WAIT, || shown(live).len() >= expected.len()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Several subscriptions interleave in any order; the set of events is what must agree.
        let (mut got, mut want) = (shown(live), expected);
        got.sort();
        want.sort();
        assert_eq!(got, want, "{query}");
        assert!(
            live.stats().received < EVENTS as u64,
            "{query}: the narrowed capture received everything"
        );
    }
}
