//! Facet counts: how many of a view's rows have each organization, source and name.
//!
//! Counted from the store's index (interned symbols, no string work per event), so counting a
//! million rows takes milliseconds and can be redone about once a second instead of being
//! maintained through every push and eviction.

use rustc_hash::FxHashMap;

use crate::store::{EventRef, EventStore, Sym};
use crate::view::View;
use crate::wire::{FacetCount, Facets};

/// Counts the facets of `view`'s rows and keeps the `top` most frequent values of each.
pub fn count(store: &EventStore, view: &View, view_id: u64, top: usize) -> Facets {
    let syms = store.interner().len() + 1;
    let mut orgs = vec![0u64; syms];
    let mut sources = vec![0u64; syms];
    let mut names: FxHashMap<(Sym, Sym), u64> = FxHashMap::default();
    let mut total = 0u64;
    let mut tally = |ev: EventRef<'_>| {
        total += 1;
        orgs[ev.org_sym().0 as usize] += 1;
        sources[ev.source_sym().0 as usize] += 1;
        *names.entry(ev.name_syms()).or_default() += 1;
    };
    if view.filter().is_empty() {
        // Every held event: walk the store in order rather than look each one up.
        store
            .window(view.first_pos(), view.len())
            .for_each(&mut tally);
    } else {
        for &seq in view.window(0, view.len()).iter() {
            if let Some(ev) = store.get(seq) {
                tally(ev);
            }
        }
    }
    let interner = store.interner();
    let by_sym = |counts: Vec<u64>| {
        let pairs = counts
            .into_iter()
            .enumerate()
            .filter(|&(_, n)| n > 0)
            .map(|(sym, n)| (interner.resolve(Sym(sym as u32)).to_string(), n));
        top_of(pairs, top)
    };
    let names = names.into_iter().map(|((resource, event), n)| {
        let (resource, event) = (interner.resolve(resource), interner.resolve(event));
        let name = match (resource.is_empty(), event.is_empty()) {
            (true, true) => String::new(),
            _ => format!("{resource}.{event}"),
        };
        (name, n)
    });
    Facets {
        view_id,
        total,
        orgs: by_sym(orgs),
        sources: by_sym(sources),
        names: top_of(names, top),
    }
}

/// The `top` largest counts, largest first, ties by value so the panel does not shuffle.
fn top_of(pairs: impl Iterator<Item = (String, u64)>, top: usize) -> Vec<FacetCount> {
    let mut all: Vec<FacetCount> = pairs
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    all.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    all.truncate(top);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::store::Incoming;

    fn store_of(events: &[(&str, &str, &str, &str)]) -> EventStore {
        let mut store = EventStore::default();
        for (i, (org, source, resource, event)) in events.iter().enumerate() {
            let body = format!(
                r#"{{"id":"e{i}","organizationId":"{org}","source":"{source}","resource":"{resource}","resourceId":"r","eventName":"{event}","timestamp":"2026-11-27T10:00:00Z","payload":{{}}}}"#
            );
            store.push(Incoming {
                subject: "events.x",
                headers: &[],
                body: body.as_bytes(),
                received_ms: 0,
            });
        }
        store.push(Incoming {
            subject: "events.x",
            headers: &[],
            body: b"not json",
            received_ms: 0,
        });
        store
    }

    fn show(counts: &[FacetCount]) -> String {
        counts
            .iter()
            .map(|c| format!("{}={}", c.value, c.count))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check(store: &EventStore, query: &str, top: usize, expected: &str) {
        let mut view = View::new(Filter::parse(query).unwrap());
        view.refilter(store, 0);
        let f = count(store, &view, 7, top);
        let got = format!(
            "{} | {} | {} | {}",
            f.total,
            show(&f.orgs),
            show(&f.sources),
            show(&f.names)
        );
        assert_eq!(got, expected);
        assert_eq!(f.view_id, 7);
    }

    #[test]
    fn counts_per_org_source_and_name_among_the_views_rows() {
        let store = store_of(&[
            ("org_1", "tasks", "task", "created"),
            ("org_1", "tasks", "task", "failed"),
            ("org_2", "flows", "flow", "started"),
            ("org_1", "tasks", "task", "failed"),
            ("org_3", "tasks", "task", "failed"),
        ]);
        check(
            &store,
            "",
            10,
            "6 | org_1=3 =1 org_2=1 org_3=1 | tasks=4 =1 flows=1 | task.failed=3 =1 flow.started=1 task.created=1",
        );
        check(
            &store,
            "name:task.failed",
            10,
            "3 | org_1=2 org_3=1 | tasks=3 | task.failed=3",
        );
        check(
            &store,
            "source:tasks",
            1,
            "4 | org_1=3 | tasks=4 | task.failed=3",
        );
        check(&store, "org:nobody", 5, "0 |  |  | ");
    }
}
