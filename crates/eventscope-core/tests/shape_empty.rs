//! The shape queries answer at once on an empty store (the app asks them before any event).

use eventscope_core::live::Live;
use eventscope_core::shape::TreeQuery;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{GroupBy, TreeSort};

#[test]
fn an_empty_store_has_an_empty_shape() {
    let live = Live::new(StoreLimits::default());
    let series = live.rate_series(GroupBy::Source, None, Some(300));
    assert!(series.groups.is_empty());
    let tree = live
        .subject_tree(&TreeQuery {
            prefix: String::new(),
            sort: TreeSort::Count,
            offset: 0,
            limit: 50,
            search: String::new(),
        })
        .unwrap();
    assert_eq!(tree.total, 0);
    assert!(live.lag(None).sources.is_empty());
    assert!(live.anomalies(GroupBy::Source, None).is_empty());
}
