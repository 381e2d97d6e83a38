//! The shape of the stream, specified: series, tree, lag and anomalies against direct
//! computations on simulated traffic, through eviction and re-filtering.

use std::collections::BTreeMap;

use super::*;
use crate::filter::Filter;
use crate::store::{Incoming, StoreLimits};
use crate::wire::{Anomaly, AnomalyKind, TreeSort};

const T0: i64 = 1_800_000_000_000;

/// One envelope; `ts` is the envelope's timestamp, `at` the receive time.
fn push(store: &mut EventStore, subject: &str, ts: Option<i64>, at: i64) -> u64 {
    let t: Vec<&str> = subject.split('.').collect();
    let timestamp = ts
        .map(|ms| {
            let time = chrono::DateTime::from_timestamp_millis(ms).unwrap();
            format!(
                r#","timestamp":"{}""#,
                time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"{{"id":"e{}","organizationId":"{}","source":"{}","resource":"{}","eventName":"{}","resourceId":"{}"{timestamp},"payload":{{}}}}"#,
        store.next_seq(),
        t[1],
        t[2],
        t[3],
        t[4],
        t[5]
    );
    store.push(Incoming {
        subject,
        headers: &[],
        body: body.as_bytes(),
        received_ms: at,
    })
}

/// A small deterministic generator (xorshift), so traffic is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SOURCES: [(&str, &str, &str); 4] = [
    ("tasks", "task", "created"),
    ("flows", "flow", "run"),
    ("apps", "app", "event_received"),
    ("conversations", "conversation", "message_posted"),
];

fn random_subject(rng: &mut Rng) -> String {
    let (source, resource, event) = SOURCES[rng.below(4) as usize];
    format!(
        "events.org_{}.{source}.{resource}.{event}.r{}",
        rng.below(12),
        rng.below(5)
    )
}

fn view(store: &EventStore, query: &str) -> View {
    let mut v = View::new(Filter::parse(query).unwrap());
    v.refilter(store, T0);
    v
}

/// The series as `name=total[counts]` per group, `|`-separated.
fn show(s: &RateSeries) -> String {
    s.groups
        .iter()
        .map(|g| {
            format!(
                "{}{}={}{:?}",
                if g.other { "*" } else { "" },
                g.name,
                g.total,
                g.counts
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Counts per group and step computed the obvious way from the view's events.
fn direct(
    store: &EventStore,
    v: &View,
    by: GroupBy,
    range: SeriesRange,
) -> BTreeMap<String, Vec<u32>> {
    let (from, step, points) = range.grid();
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for i in 0..v.len() {
        let ev = store.get(v.seq_at(i).unwrap()).unwrap();
        let name = match by {
            GroupBy::Source => ev.source().to_string(),
            GroupBy::Org => ev.org().to_string(),
            GroupBy::Event => format!("{}.{}", ev.resource(), ev.event_name()),
        };
        let at = ev.received_ms();
        if at >= from && at < from + step * points as i64 {
            out.entry(name).or_insert_with(|| vec![0; points])[((at - from) / step) as usize] += 1;
        }
    }
    out
}

/// Asserts that the series equal the direct count (top 8 exactly, the rest summed as other),
/// whether read from the index or from the events.
fn check_series(
    store: &EventStore,
    index: &ShapeIndex,
    query: &str,
    by: GroupBy,
    range: SeriesRange,
) {
    let v = view(store, query);
    let from_index = series(store, &v, 1, Some(index), by, range);
    let from_events = series(store, &v, 1, None, by, range);
    assert_eq!(show(&from_index), show(&from_events), "{query} {by:?}");
    let want = direct(store, &v, by, range);
    let mut got: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut other_total = 0;
    for g in &from_index.groups {
        if g.other {
            other_total = g.total;
        } else {
            assert_eq!(
                Some(&g.counts),
                want.get(&g.name),
                "{query} {by:?} {}",
                g.name
            );
            got.insert(g.name.clone(), g.counts.clone());
        }
    }
    let rest: u64 = want
        .iter()
        .filter(|(k, _)| !got.contains_key(*k))
        .map(|(_, c)| c.iter().map(|&n| n as u64).sum::<u64>())
        .sum();
    assert_eq!(other_total, rest, "{query} {by:?}");
    assert!(from_index.groups.len() <= TOP_GROUPS + 1);
}

#[test]
fn series_equal_a_direct_count_through_eviction_clear_and_refilter() {
    let mut store = EventStore::new(StoreLimits {
        capacity: 3000,
        max_bytes: usize::MAX,
    });
    let mut index = ShapeIndex::new();
    let mut rng = Rng(7);
    let mut at = T0;
    let ranges = |at: i64| {
        [
            SeriesRange::recent(at),
            SeriesRange {
                from_ms: at - 20_000,
                to_ms: at + 1,
                max_points: 7,
            },
            SeriesRange {
                from_ms: at - 3_600_000,
                to_ms: at + 1000,
                max_points: 300,
            },
        ]
    };
    for round in 0..40 {
        // Batches of a random size, each received at one time, 0-1.5 s apart.
        for _ in 0..rng.below(6) + 1 {
            at += rng.below(1500) as i64;
            for _ in 0..rng.below(300) {
                push(&mut store, &random_subject(&mut rng), Some(at - 5), at);
            }
            index.on_pushed(&store);
        }
        if round == 25 {
            store.clear();
            index.trim(store.first_seq());
        }
        assert_eq!(index.len(), store.len());
        for range in ranges(at) {
            for by in [GroupBy::Source, GroupBy::Event, GroupBy::Org] {
                for query in ["", "org:org_1,org_2", "source:flows OR resourceId:r3"] {
                    check_series(&store, &index, query, by, range);
                }
            }
        }
    }
    assert!(store.evictions().total() > 0);
}

#[test]
fn series_keep_the_top_eight_and_sum_the_rest_as_other() {
    let mut store = EventStore::default();
    let mut index = ShapeIndex::new();
    // Receive times only grow (the index counts a time that steps back in the newest second).
    for i in 0..10u32 {
        for org in 0..10 - i {
            let at = T0 + i as i64 * 1000;
            push(
                &mut store,
                &format!("events.o{org}.tasks.task.created.t"),
                None,
                at,
            );
        }
    }
    index.on_pushed(&store);
    let range = SeriesRange {
        from_ms: T0,
        to_ms: T0 + 10_000,
        max_points: 5,
    };
    let s = series(
        &store,
        &view(&store, ""),
        3,
        Some(&index),
        GroupBy::Org,
        range,
    );
    assert_eq!(
        (s.from_ms, s.step_ms, s.points, s.view_id),
        (T0, 2000, 5, 3)
    );
    assert_eq!(
        show(&s),
        "o0=10[2, 2, 2, 2, 2] | o1=9[2, 2, 2, 2, 1] | o2=8[2, 2, 2, 2, 0] | o3=7[2, 2, 2, 1, 0] | \
         o4=6[2, 2, 2, 0, 0] | o5=5[2, 2, 1, 0, 0] | o6=4[2, 2, 0, 0, 0] | o7=3[2, 1, 0, 0, 0] | \
         *other=3[3, 0, 0, 0, 0]"
    );
    assert_eq!((s.held_from_ms, s.held_to_ms), (Some(T0), Some(T0 + 9000)));
    let s = series(
        &store,
        &view(&store, "org:o9"),
        3,
        Some(&index),
        GroupBy::Event,
        range,
    );
    assert_eq!(show(&s), "task.created=1[1, 0, 0, 0, 0]");
}

fn tree(
    store: &EventStore,
    query: &str,
    prefix: &str,
    sort: TreeSort,
    page: (usize, usize),
    search: &str,
) -> String {
    let v = view(store, query);
    let q = TreeQuery {
        prefix: prefix.into(),
        sort,
        offset: page.0,
        limit: page.1,
        search: search.into(),
    };
    let level = subject_tree(store, &v, 1, &q, T0 + 60_000).unwrap();
    let nodes: Vec<String> = level
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{} {} {}/{} {}B {}/s",
                n.level, n.pattern, n.count, n.exact, n.bytes, n.rate_per_sec
            )
        })
        .collect();
    format!("{} of {}: {}", nodes.len(), level.total, nodes.join(", "))
}

#[test]
fn the_subject_tree_follows_the_scheme_level_by_level() {
    let mut store = EventStore::default();
    for (subject, at) in [
        ("events.org_1.tasks.task.created.t1", T0),
        ("events.org_1.tasks.task.created.t1.owner.u1", T0 + 55_000),
        ("events.org_1.tasks.task.failed.t2", T0 + 56_000),
        ("events.org_1.flows.flow.run.f1", T0 + 57_000),
        ("events.org_2.tasks.task.created.t3", T0 + 58_000),
        ("events.org_2.tasks.task.created.t4", T0),
        ("events.org_2.tasks.task.created.t5", T0),
    ] {
        push(&mut store, subject, None, at);
    }
    check_tree(&store);
}

fn check_tree(store: &EventStore) {
    let b = |seq: u64| store.get(seq).unwrap().body().len();
    let sizes: Vec<usize> = (0..7).map(b).collect();
    let org1: usize = sizes[..4].iter().sum();
    let org2: usize = sizes[4..].iter().sum();
    assert_eq!(
        tree(store, "", "", TreeSort::Count, (0, 10), ""),
        format!("1 of 1: prefix events.> 7/0 {}B 0.4/s", org1 + org2)
    );
    assert_eq!(
        tree(store, "", "events.>", TreeSort::Count, (0, 10), ""),
        format!("2 of 2: organization events.org_1.> 4/0 {org1}B 0.3/s, organization events.org_2.> 3/0 {org2}B 0.1/s")
    );
    // By rate, org_1 leads too; by count org_2's tasks lead among the sources of both orgs.
    assert_eq!(
        tree(store, "", "events.*.>", TreeSort::Count, (0, 10), ""),
        format!(
            "2 of 2: source events.*.tasks.> 6/0 {}B 0.3/s, source events.*.flows.> 1/0 {}B 0.1/s",
            org1 + org2 - sizes[3],
            sizes[3]
        )
    );
    assert_eq!(
        tree(
            store,
            "",
            "events.org_1.tasks.task.created.>",
            TreeSort::Count,
            (0, 10),
            ""
        ),
        format!(
            "1 of 1: resourceId events.org_1.tasks.task.created.t1.> 2/1 {}B 0.1/s",
            sizes[0] + sizes[1]
        )
    );
    assert_eq!(
        tree(
            store,
            "",
            "events.org_1.tasks.task.created.t1.>",
            TreeSort::Count,
            (0, 10),
            ""
        ),
        format!(
            "1 of 1: metadataKey events.org_1.tasks.task.created.t1.owner.> 1/0 {}B 0.1/s",
            sizes[1]
        )
    );
    // Paged: the second of three resource ids of org_2, by name on equal counts.
    assert_eq!(
        tree(
            store,
            "",
            "events.org_2.tasks.task.created.>",
            TreeSort::Count,
            (1, 1),
            ""
        ),
        format!(
            "1 of 3: resourceId events.org_2.tasks.task.created.t4 1/1 {}B 0/s",
            sizes[5]
        )
    );
    assert_eq!(
        tree(
            store,
            "",
            "events.org_2.tasks.task.created.>",
            TreeSort::Rate,
            (0, 1),
            ""
        ),
        format!(
            "1 of 3: resourceId events.org_2.tasks.task.created.t3 1/1 {}B 0.1/s",
            sizes[4]
        )
    );
    // A search keeps the subjects below the prefix that contain it, ASCII case ignored.
    assert_eq!(
        tree(store, "", "events.>", TreeSort::Count, (0, 10), "FAILED"),
        format!(
            "1 of 1: organization events.org_1.> 1/0 {}B 0.1/s",
            sizes[2]
        )
    );
    // The view's subjects only.
    assert_eq!(
        tree(
            store,
            "source:flows",
            "events.>",
            TreeSort::Bytes,
            (0, 10),
            ""
        ),
        format!(
            "1 of 1: organization events.org_1.> 1/0 {}B 0.1/s",
            sizes[3]
        )
    );
    let err = subject_tree(
        store,
        &view(store, ""),
        1,
        &TreeQuery {
            prefix: "events.org_1".into(),
            ..TreeQuery::default()
        },
        T0,
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        r#"invalid subject pattern "events.org_1": a tree prefix must end with `>`"#
    );
}

#[test]
fn lag_percentiles_equal_a_sort_and_skew_is_flagged() {
    let mut store = EventStore::default();
    let mut rng = Rng(11);
    let mut want: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for i in 0..5000 {
        let (source, resource, event) = SOURCES[(i % 3) as usize];
        let lag = match source {
            "flows" if i == 4000 => -2500, // a clock ahead
            "flows" => rng.below(200) as i64,
            _ => 50 + rng.below(5000) as i64,
        };
        let at = T0 + i;
        push(
            &mut store,
            &format!("events.o.{source}.{resource}.{event}.r"),
            Some(at - lag),
            at,
        );
        want.entry(source).or_default().push(lag);
    }
    push(&mut store, "events.o.tasks.task.created.r", None, T0);
    let report = lag(&store, &view(&store, ""), 4, 4000);
    assert_eq!(report.view_id, 4);
    for s in &report.sources {
        let mut lags = want[s.source.as_str()].clone();
        lags.sort();
        let at = |p: f64| lags[((p * lags.len() as f64).ceil() as usize) - 1];
        assert_eq!(
            (s.count as usize, s.p50_ms, s.p99_ms, s.max_ms, s.min_ms),
            (
                lags.len(),
                at(0.5),
                at(0.99),
                *lags.last().unwrap(),
                lags[0]
            ),
            "{}",
            s.source
        );
        assert_eq!(s.negative as usize, lags.iter().filter(|&&l| l < 0).count());
        assert_eq!(
            s.over_threshold as usize,
            lags.iter().filter(|&&l| l > 4000).count()
        );
    }
    let flows = report.sources.iter().find(|s| s.source == "flows").unwrap();
    assert!(flows.skewed);
    assert_eq!(flows.outliers[0].lag_ms, -2500);
    assert_eq!(flows.outliers[0].id, format!("e{}", flows.outliers[0].seq));
    assert_eq!(flows.outliers.len(), 5);
    let narrow = lag(&store, &view(&store, "source:flows lag"), 4, 4000);
    assert_eq!(narrow.sources.len(), 0, "free text `lag` matches nothing");
}

/// Runs the detector over one group's per-second `counts` and lists what it reports.
fn check_detect(counts: &[u32], expected: &str) {
    let mut found = Vec::new();
    anomaly::detect(
        counts,
        T0,
        T0 + counts.len() as i64 * 1000,
        &AnomalyParams::default(),
        |kind, from, to, ongoing, text| {
            found.push(format!(
                "{kind:?} {}..{}{} {text}",
                (from - T0) / 1000,
                (to - T0) / 1000,
                if ongoing { " ongoing" } else { "" }
            ));
        },
    );
    assert_eq!(found.join("; "), expected);
}

#[test]
fn silences_and_spikes_are_found() {
    let steady = |secs: usize, n: u32| vec![n; secs];
    // 5 a second for two minutes, 40 s of nothing, then 5 a second again.
    let counts = [steady(120, 5), steady(40, 0), steady(60, 5)].concat();
    check_detect(
        &counts,
        "Silence 120..160 silent for 40 s (usually every 1 s)",
    );
    // Silent at the end: ongoing.
    let counts = [steady(120, 5), steady(30, 0)].concat();
    check_detect(
        &counts,
        "Silence 120..150 ongoing silent for 30 s (usually every 1 s)",
    );
    // A burst of 200 a second for 3 s.
    let counts = [steady(120, 5), steady(3, 200), steady(60, 5)].concat();
    check_detect(
        &counts,
        "Spike 120..123 spiked to 200/s (recent mean 5.0/s)",
    );
    // A source that speaks every 20 s is not silent after 30 s.
    let sparse: Vec<u32> = (0..600).map(|i| u32::from(i % 20 == 0)).collect();
    check_detect(&sparse, "");
    // Too few events to judge.
    check_detect(
        &[
            0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        "",
    );
}

#[test]
fn steady_traffic_raises_no_alarm_over_ten_minutes() {
    let mut store = EventStore::default();
    let mut index = ShapeIndex::new();
    let mut rng = Rng(3);
    // 600 s of traffic in batches every 50 ms; sources and orgs of very different rates.
    let rates = [40u64, 10, 2, 1]; // events per second per source, spread over 12 orgs
    for tick in 0..12_000i64 {
        let at = T0 + tick * 50;
        for (i, &(source, resource, event)) in SOURCES.iter().enumerate() {
            // Poisson-like: each tick an event with probability rate/20, sometimes two.
            for _ in 0..2 {
                if rng.below(40) < rates[i] {
                    let subject =
                        format!("events.org_{}.{source}.{resource}.{event}.r", rng.below(12));
                    push(&mut store, &subject, Some(at), at);
                }
            }
        }
        index.on_pushed(&store);
    }
    let range = SeriesRange {
        from_ms: T0,
        to_ms: T0 + 600_000,
        max_points: 600,
    };
    for by in [GroupBy::Source, GroupBy::Org] {
        let found = anomalies(
            &store,
            &view(&store, ""),
            Some(&index),
            by,
            range,
            AnomalyParams::default(),
        );
        assert_eq!(found, vec![], "{by:?}");
    }
    // The same traffic with one source stopped for a minute and one org spiking is caught.
    let mut store2 = EventStore::default();
    for ev in store.window(0, store.len() as usize) {
        let (at, subject) = (ev.received_ms(), ev.subject().to_string());
        if ev.source() == "flows" && (300_000..360_000).contains(&(at - T0)) {
            continue;
        }
        push(&mut store2, &subject, None, at);
    }
    for _ in 0..300 {
        push(
            &mut store2,
            "events.org_5.apps.app.event_received.r",
            None,
            T0 + 400_500,
        );
    }
    let v = view(&store2, "");
    let show = |a: &Vec<Anomaly>| {
        a.iter()
            .map(|a| {
                format!(
                    "{:?} {} {}..{}",
                    a.kind,
                    a.group,
                    (a.from_ms - T0) / 1000,
                    (a.to_ms - T0) / 1000
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let found = anomalies(
        &store2,
        &v,
        None,
        GroupBy::Source,
        range,
        AnomalyParams::default(),
    );
    assert_eq!(show(&found), "Silence flows 300..360; Spike apps 400..401");
    let found = anomalies(
        &store2,
        &v,
        None,
        GroupBy::Org,
        range,
        AnomalyParams::default(),
    );
    assert_eq!(show(&found), "Spike org_5 400..401");
    assert_eq!(found[0].kind, AnomalyKind::Spike);
}

#[test]
fn a_large_tree_counted_in_parts_equals_a_direct_count() {
    // Above 64k rows the tree is counted on every core, in contiguous parts.
    let mut store = EventStore::default();
    let mut rng = Rng(5);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..70_000 {
        let subject = random_subject(&mut rng);
        let org = subject.split('.').take(2).collect::<Vec<_>>().join(".");
        *want.entry(format!("{org}.>")).or_default() += 1;
        push(&mut store, &subject, None, T0 + i);
    }
    let q = TreeQuery {
        prefix: "events.>".into(),
        limit: 100,
        ..TreeQuery::default()
    };
    let level = subject_tree(&store, &view(&store, ""), 1, &q, T0).unwrap();
    let got: BTreeMap<String, u64> = level
        .nodes
        .iter()
        .map(|n| (n.pattern.clone(), n.count))
        .collect();
    assert_eq!(got, want);
    let level = subject_tree(&store, &view(&store, "org:org_3"), 1, &q, T0).unwrap();
    let got: Vec<(&str, u64)> = level
        .nodes
        .iter()
        .map(|n| (n.pattern.as_str(), n.count))
        .collect();
    assert_eq!(got, [("events.org_3.>", want["events.org_3.>"])]);
}
