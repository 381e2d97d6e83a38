//! The subject tree: the view's subjects grouped one token at a time, each level named by the
//! platform's scheme, expanded level by level, sorted, searched and paged.
//!
//! Why on demand: subjects are not interned (every resource id is distinct), and a UI expands
//! one node at a time, so one pass over the view's subjects per request costs less than keeping
//! a tree of every held subject current through ingest and eviction.

use rustc_hash::FxHashMap;

use crate::store::EventStore;
use crate::topic::{TopicError, TopicPattern};
use crate::view::View;
use crate::wire::{SubjectLevel, SubjectNode, TreeSort};

use super::{for_each_event_in, in_parts};

/// A node's rate is its events over this last stretch of receive time.
pub const RATE_WINDOW_MS: i64 = 10_000;

/// Which children to list: those of `prefix` (a pattern ending in `>`, such as
/// `events.org_1.>`, or empty for the root), in `sort` order, `offset..offset + limit` of them,
/// only subjects whose tokens below the prefix contain `search` (ASCII case ignored) when it is
/// not empty.
#[derive(Debug, Clone, Default)]
pub struct TreeQuery {
    pub prefix: String,
    pub sort: TreeSort,
    pub offset: usize,
    pub limit: usize,
    pub search: String,
}

/// What the scheme calls the token at `depth` (0 is `events`).
fn level_name(depth: usize) -> &'static str {
    match depth {
        0 => "prefix",
        1 => "organization",
        2 => "source",
        3 => "resource",
        4 => "event",
        5 => "resourceId",
        d if d % 2 == 0 => "metadataKey",
        _ => "metadataValue",
    }
}

#[derive(Default)]
struct Acc {
    count: u64,
    exact: u64,
    bytes: u64,
    recent: u64,
    deeper: bool,
}

/// The children of `query.prefix` among the view's subjects, counted at `now_ms`.
pub fn subject_tree(
    store: &EventStore,
    view: &View,
    view_id: u64,
    query: &TreeQuery,
    now_ms: i64,
) -> Result<SubjectLevel, TopicError> {
    let prefix = query.prefix.trim();
    // The tokens before `>`: a child is the token that follows them.
    let parent: Vec<String> = match prefix {
        "" => Vec::new(),
        p => {
            TopicPattern::parse(p)?;
            match p.strip_suffix(".>").or_else(|| (p == ">").then_some("")) {
                Some("") => Vec::new(),
                Some(head) => head.split('.').map(str::to_string).collect(),
                None => {
                    return Err(TopicError::BadPattern {
                        pattern: p.to_string(),
                        reason: "a tree prefix must end with `>`",
                    })
                }
            }
        }
    };
    let depth = parent.len();
    let needle = query.search.trim().to_ascii_lowercase();
    let recent_from = now_ms - RATE_WINDOW_MS;
    let parts = in_parts(view, |rows| {
        let mut children: FxHashMap<&str, Acc> = FxHashMap::default();
        let mut lowered = String::new();
        let ahead = rows.start + PREFETCH..rows.end + PREFETCH;
        let mut ahead = ahead.filter_map(|i| view.seq_at(i));
        for_each_event_in(store, view, rows, |ev| {
            if let Some(seq) = ahead.next() {
                prefetch_subject(store, seq);
            }
            let subject = ev.subject();
            let Some((below, token, rest)) = child_of(subject, &parent) else {
                return;
            };
            if !needle.is_empty() {
                lowered.clear();
                lowered.push_str(below);
                lowered.make_ascii_lowercase();
                if !lowered.contains(&needle) {
                    return;
                }
            }
            let acc = children.entry(token).or_default();
            acc.count += 1;
            acc.bytes += ev.body().len() as u64;
            if ev.received_ms() >= recent_from {
                acc.recent += 1;
            }
            if rest.is_empty() {
                acc.exact += 1;
            } else {
                acc.deeper = true;
            }
        });
        children
    });
    let mut parts = parts.into_iter();
    let mut children = parts.next().unwrap_or_default();
    for part in parts {
        for (token, acc) in part {
            let sum = children.entry(token).or_default();
            sum.count += acc.count;
            sum.exact += acc.exact;
            sum.bytes += acc.bytes;
            sum.recent += acc.recent;
            sum.deeper |= acc.deeper;
        }
    }
    let head: String = parent.iter().map(|t| format!("{t}.")).collect();
    let rate = |acc: &Acc| acc.recent as f64 * 1000.0 / RATE_WINDOW_MS as f64;
    let mut nodes: Vec<(&str, Acc)> = children.into_iter().collect();
    nodes.sort_unstable_by(|(a_label, a), (b_label, b)| {
        let order = match query.sort {
            TreeSort::Count => b.count.cmp(&a.count),
            TreeSort::Rate => b.recent.cmp(&a.recent),
            TreeSort::Bytes => b.bytes.cmp(&a.bytes),
        };
        order.then_with(|| a_label.cmp(b_label))
    });
    let total = nodes.len();
    let nodes = nodes
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|(label, acc)| SubjectNode {
            label: label.to_string(),
            level: level_name(depth).to_string(),
            pattern: match acc.deeper {
                true => format!("{head}{label}.>"),
                false => format!("{head}{label}"),
            },
            count: acc.count,
            exact: acc.exact,
            bytes: acc.bytes,
            rate_per_sec: rate(&acc),
            has_children: acc.deeper,
        })
        .collect();
    Ok(SubjectLevel {
        view_id,
        prefix: prefix.to_string(),
        total: total as u32,
        offset: query.offset as u32,
        nodes,
    })
}

/// How many events ahead the pass asks for the subject's bytes: each subject is a miss in a
/// different part of the arena, and waiting for them one at a time was most of the pass.
const PREFETCH: usize = 16;

/// Asks the CPU to start loading the subject of event `seq` (a hint: it never faults).
fn prefetch_subject(store: &EventStore, seq: u64) {
    #[cfg(target_arch = "x86_64")]
    if let Some(ev) = store.get(seq) {
        let arena = ev.arena();
        // SAFETY: the pointer is inside `arena.bytes`; a prefetch reads nothing architecturally.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(arena.bytes.as_ptr().add(arena.subject.start) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (store, seq);
}

/// The part of `subject` below `parent` (a pattern's tokens, `*` matching any one), its first
/// token and what follows that token (without the dot); `None` when the subject is not below
/// `parent`.
fn child_of<'s>(subject: &'s str, parent: &[String]) -> Option<(&'s str, &'s str, &'s str)> {
    let mut rest = subject;
    for want in parent {
        let (token, after) = rest.split_once('.')?;
        if want != "*" && want != token {
            return None;
        }
        rest = after;
    }
    if rest.is_empty() {
        return None;
    }
    let (token, after) = rest.split_once('.').unwrap_or((rest, ""));
    Some((rest, token, after))
}
