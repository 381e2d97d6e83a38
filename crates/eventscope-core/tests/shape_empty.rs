//! The shape queries answer at once on an empty store (the app asks them before any event), and
//! on a view narrowed in time.

use eventscope_core::live::Live;
use eventscope_core::shape::TreeQuery;
use eventscope_core::store::{Incoming, StoreLimits};
use eventscope_core::wire::{GroupBy, TreeSort};

fn tree(live: &Live) -> u64 {
    live.subject_tree(&TreeQuery {
        prefix: String::new(),
        sort: TreeSort::Count,
        offset: 0,
        limit: 50,
        search: String::new(),
    })
    .unwrap()
    .total as u64
}

#[test]
fn an_empty_store_has_an_empty_shape() {
    let live = Live::new(StoreLimits::default());
    let series = live.rate_series(GroupBy::Source, None, Some(300));
    assert!(series.groups.is_empty());
    assert_eq!(tree(&live), 0);
    assert!(live.lag(None).sources.is_empty());
    assert!(live.anomalies(GroupBy::Source, None).is_empty());
}

#[test]
fn a_view_narrowed_in_time_has_a_shape() {
    let live = Live::new(StoreLimits::default());
    let now = chrono::Utc::now();
    {
        let mut store = live.store();
        for (i, ts) in [now.to_rfc3339(), "2026-01-01T00:00:00Z".to_string()]
            .iter()
            .enumerate()
        {
            let body = format!(
                r#"{{"id":"e{i}","organizationId":"o","source":"tasks","resource":"task","resourceId":"t{i}","eventName":"failed","timestamp":"{ts}","payload":{{}}}}"#
            );
            store.push(Incoming {
                subject: &format!("events.o.tasks.task.failed.t{i}"),
                headers: &[],
                body: body.as_bytes(),
                received_ms: now.timestamp_millis(),
            });
        }
    }
    let from = (now - chrono::Duration::minutes(15)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (now + chrono::Duration::seconds(2)).format("%Y-%m-%dT%H:%M:%SZ");
    let applied = live
        .set_filter(&format!("after:{from} before:{to}"))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = applied;
    let series = live.rate_series(GroupBy::Source, None, Some(300));
    assert_eq!(series.groups.iter().map(|g| g.total).sum::<u64>(), 1);
    assert_eq!(tree(&live), 1);
    assert_eq!(live.lag(None).sources.len(), 1);
    live.anomalies(GroupBy::Source, None);
}
