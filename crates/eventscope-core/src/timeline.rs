//! One organization's story over a time range: events from every origin merged by time and
//! de-duplicated by id, summed up, and grouped into one lane per resource with its lifecycle.
//!
//! The timeline is what support reads to answer "what happened to org X yesterday": events held
//! in memory, the local recording and JetStream history each hold part of the range, so they
//! are merged here and each event keeps the list of places it came from. Times are the
//! envelope's `timestamp` when it parses (when it happened), else the receive time.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use ts_rs::TS;

use crate::event;

/// Where a timeline event was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum Origin {
    /// Held in memory by this Eventscope (live or imported).
    Held,
    /// Read back from the local recording.
    Recording,
    /// Read from JetStream history.
    History,
}

/// One message offered to the timeline.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub origin: Origin,
    pub received_ms: i64,
    /// The held event's sequence number (to select it in the table), when held.
    pub seq: Option<u64>,
    pub subject: &'a str,
    pub body: &'a [u8],
}

/// A message read from the recording or from history, owned until the timeline is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub origin: Origin,
    pub received_ms: i64,
    pub subject: String,
    pub body: Vec<u8>,
}

impl Owned {
    pub fn as_input(&self) -> Input<'_> {
        Input {
            origin: self.origin,
            received_ms: self.received_ms,
            seq: None,
            subject: &self.subject,
            body: &self.body,
        }
    }
}

/// The held events of `org` that may fall in the range (the envelope time decides in
/// [`build`]; a message without one is placed by its receive time).
pub fn held<'s>(
    store: &'s crate::store::EventStore,
    org: &'s str,
) -> impl Iterator<Item = Input<'s>> + 's {
    let count = (store.next_seq() - store.first_seq()) as usize;
    store
        .window(store.first_seq(), count)
        .filter(move |e| e.org() == org)
        .map(|e| Input {
            origin: Origin::Held,
            received_ms: e.received_ms(),
            seq: Some(e.seq()),
            subject: e.subject(),
            body: e.body(),
        })
}

/// Where JetStream history is read from: NATS directly, or the gateway for those without NATS
/// credentials (its `history` request, authorized as `subscribe` is).
pub enum HistoryFrom<'a> {
    Nats(async_nats::Client),
    Gateway { url: &'a str, token: &'a str },
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryReadError {
    #[error(transparent)]
    Nats(#[from] crate::history::HistoryError),
    #[error(transparent)]
    Gateway(#[from] crate::gateway::history::GatewayHistoryError),
}

/// `org`'s events in JetStream between `from_ms` and `to_ms` (the stream's receive times), at
/// most [`MAX_EVENTS`], in stream order.
pub async fn read_history(
    from: HistoryFrom<'_>,
    org: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Owned>, HistoryReadError> {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let subject = format!("events.{org}.>");
    let mut out = Vec::new();
    match from {
        HistoryFrom::Nats(client) => {
            let mut query = crate::history::HistoryQuery::new(subject, time(from_ms));
            query.until = Some(time(to_ms));
            let mut reader = crate::history::HistoryReader::open(client, query).await?;
            while out.len() < MAX_EVENTS {
                let Some(message) = reader.next().await else {
                    break;
                };
                let m = message?;
                out.push(Owned {
                    origin: Origin::History,
                    received_ms: m.received.timestamp_millis(),
                    subject: m.subject,
                    body: m.body.to_vec(),
                });
            }
        }
        HistoryFrom::Gateway { url, token } => {
            let request = crate::gateway::history::HistoryRequest {
                id: "timeline".into(),
                topic: subject,
                since: time(from_ms),
                until: Some(time(to_ms)),
                limit: Some(MAX_EVENTS as u64),
            };
            let mut reader =
                crate::gateway::history::GatewayHistory::open(url, token, &request).await?;
            // The gateway's frames carry no receive time: the envelope's time places them.
            let now_ms = chrono::Utc::now().timestamp_millis();
            while let Some(m) = reader.next().await? {
                out.push(Owned {
                    origin: Origin::History,
                    received_ms: now_ms,
                    subject: m.subject,
                    body: m.body,
                });
            }
        }
    }
    Ok(out)
}

/// The messages of `org` in the range, from any origin, de-duplicated by id and in time order:
/// what an export of the timeline writes.
pub fn merged<'a>(
    org: &str,
    from_ms: i64,
    to_ms: i64,
    inputs: impl IntoIterator<Item = Input<'a>>,
) -> Vec<Input<'a>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(i64, Input<'a>)> = Vec::new();
    for input in inputs {
        let d = event::decode(input.body);
        let Some(at_ms) = placed(&d, &input, org, from_ms, to_ms) else {
            continue;
        };
        if let Some(id) = d.id.as_deref().filter(|id| !id.is_empty()) {
            if !seen.insert(id.to_string()) {
                continue;
            }
        }
        out.push((at_ms, input));
    }
    out.sort_by_key(|(at, _)| *at);
    out.into_iter().map(|(_, input)| input).collect()
}

/// A stretch of the range with no data, and why (`disconnected`, `recorder overloaded`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TimelineGap {
    pub from_ms: i64,
    pub to_ms: i64,
    pub reason: String,
}

/// What happened to one field between two versions of a resource's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// JSON pointer into the payload (`/status`, `/steps/2/status`).
    pub path: String,
    pub change: ChangeKind,
    /// Compact JSON, cut to 200 bytes; absent when added.
    pub before: Option<String>,
    /// Compact JSON, cut to 200 bytes; absent when removed.
    pub after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One step of a resource's lifecycle; a burst of `message_stream` tokens is one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TimelineItem {
    /// The (first) event's id.
    pub event_id: String,
    /// `created`, `updated`, `message_stream`, ...
    pub event_name: String,
    pub at_ms: i64,
    /// The last event of a burst; equals `atMs` for a single event.
    pub until_ms: i64,
    /// Since the lane's previous item; absent for the first.
    pub since_previous_ms: Option<i64>,
    /// Events in this item: 1, or the tokens of a streamed reply.
    pub count: u32,
    /// The held event's sequence number, to select it in the table and detail pane.
    pub seq: Option<u64>,
    pub origins: Vec<Origin>,
    /// For an update: the payload's changes against the resource's previous version.
    pub changes: Vec<FieldChange>,
    /// One line of what the item says (a failure's error, a run's status, a burst's text).
    pub note: Option<String>,
    /// A failure: `task.failed`, a flow run that failed.
    pub failed: bool,
}

/// Where a resource's lifecycle stands at the end of the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub enum LaneState {
    Open,
    Completed,
    Failed,
    Deleted,
    /// Created and never completed or failed (a task, a flow run left running).
    Stuck,
}

/// One resource's events in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TimelineLane {
    pub resource: String,
    pub resource_id: String,
    pub state: LaneState,
    pub first_ms: i64,
    pub last_ms: i64,
    pub events: u32,
    pub items: Vec<TimelineItem>,
}

/// A count under a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct NamedCount {
    pub name: String,
    pub count: u32,
}

/// The header: the range summed up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct TimelineSummary {
    pub events: u32,
    /// By `resource.eventName`, most first.
    pub by_type: Vec<NamedCount>,
    /// `task.failed` and failed flow runs.
    pub failures: u32,
    /// Messages that are not valid envelopes.
    pub invalid: u32,
    /// Resources created and never finished.
    pub stuck: u32,
    pub gaps: u32,
    /// Events found in more than one origin, shown once.
    pub duplicates: u32,
    /// Per origin, how many events came from it.
    pub by_origin: Vec<NamedCount>,
}

/// The timeline of one organization over a range.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub org: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub summary: TimelineSummary,
    /// Lanes ordered by their first event.
    pub lanes: Vec<TimelineLane>,
    pub gaps: Vec<TimelineGap>,
    /// More events matched than [`MAX_EVENTS`]: the newest were left out.
    pub truncated: bool,
}

/// The most events one timeline holds; a longer range is narrowed by the user.
pub const MAX_EVENTS: usize = 50_000;

struct Entry {
    at_ms: i64,
    id: String,
    resource: String,
    resource_id: String,
    event_name: String,
    seq: Option<u64>,
    origins: Vec<Origin>,
    payload: Option<Value>,
    valid: bool,
}

/// Builds the timeline of `org` between `from_ms` (inclusive) and `to_ms` (exclusive) from
/// messages of any origin, in any order. Messages of other organizations are left out.
pub fn build<'a>(
    org: &str,
    from_ms: i64,
    to_ms: i64,
    inputs: impl IntoIterator<Item = Input<'a>>,
    gaps: Vec<TimelineGap>,
) -> Timeline {
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut duplicates = 0u32;
    let mut truncated = false;
    for input in inputs {
        let d = event::decode(input.body);
        let Some(at_ms) = placed(&d, &input, org, from_ms, to_ms) else {
            continue;
        };
        let id = d.id.as_deref().unwrap_or("").to_string();
        if !id.is_empty() {
            if let Some(&i) = by_id.get(&id) {
                let e = &mut entries[i];
                if !e.origins.contains(&input.origin) {
                    e.origins.push(input.origin);
                    e.origins.sort();
                }
                e.seq = e.seq.or(input.seq);
                duplicates += 1;
                continue;
            }
        }
        if entries.len() >= MAX_EVENTS {
            truncated = true;
            continue;
        }
        let topic: Vec<&str> = input.subject.split('.').collect();
        let part = |field: Option<std::borrow::Cow<'_, str>>, at: usize| -> String {
            field
                .map(|f| f.into_owned())
                .or_else(|| topic.get(at).map(|t| t.to_string()))
                .unwrap_or_default()
        };
        let entry = Entry {
            at_ms,
            resource: part(d.resource.clone(), 3),
            event_name: part(d.event_name.clone(), 4),
            resource_id: part(d.resource_id.clone(), 5),
            seq: input.seq,
            origins: vec![input.origin],
            payload: d.payload.and_then(|p| serde_json::from_str(p).ok()),
            valid: d.problems.is_empty(),
            id: id.clone(),
        };
        if !id.is_empty() {
            by_id.insert(id, entries.len());
        }
        entries.push(entry);
    }
    // Stable: equal times keep their arrival order, which is the stream's order.
    entries.sort_by_key(|e| e.at_ms);

    let mut summary = TimelineSummary {
        events: entries.len() as u32,
        duplicates,
        gaps: gaps.len() as u32,
        ..TimelineSummary::default()
    };
    let mut by_type: BTreeMap<String, u32> = BTreeMap::new();
    let mut by_origin: BTreeMap<Origin, u32> = BTreeMap::new();
    let mut lanes: Vec<TimelineLane> = Vec::new();
    let mut lane_of: HashMap<(String, String), usize> = HashMap::new();
    let mut previous: HashMap<usize, Value> = HashMap::new();
    // The reply a lane's last item is streaming: tokens of the same reply join that item.
    let mut burst: HashMap<usize, Option<String>> = HashMap::new();
    for e in &entries {
        *by_type
            .entry(format!("{}.{}", e.resource, e.event_name))
            .or_default() += 1;
        for o in &e.origins {
            *by_origin.entry(*o).or_default() += 1;
        }
        if !e.valid {
            summary.invalid += 1;
        }
        let failed = is_failure(e);
        if failed {
            summary.failures += 1;
        }
        let key = (e.resource.clone(), e.resource_id.clone());
        let li = *lane_of.entry(key).or_insert_with(|| {
            lanes.push(TimelineLane {
                resource: e.resource.clone(),
                resource_id: e.resource_id.clone(),
                state: LaneState::Open,
                first_ms: e.at_ms,
                last_ms: e.at_ms,
                events: 0,
                items: Vec::new(),
            });
            lanes.len() - 1
        });
        let lane = &mut lanes[li];
        let since_previous_ms = lane.items.last().map(|i| e.at_ms - i.until_ms);
        lane.events += 1;
        lane.last_ms = e.at_ms;
        lane.state = next_state(lane.state, e);

        let message = message_of(e.payload.as_ref());
        if e.event_name == "message_stream" {
            let same_reply = burst.get(&li) == Some(&message);
            if let (true, Some(last)) = (same_reply, lane.items.last_mut()) {
                if last.event_name == "message_stream" {
                    last.count += 1;
                    last.until_ms = e.at_ms;
                    if let Some(token) = e
                        .payload
                        .as_ref()
                        .and_then(|p| p.get("token"))
                        .and_then(Value::as_str)
                    {
                        let note = last.note.get_or_insert_with(String::new);
                        if note.len() < 160 {
                            note.push_str(token);
                        }
                    }
                    for o in &e.origins {
                        if !last.origins.contains(o) {
                            last.origins.push(*o);
                        }
                    }
                    continue;
                }
            }
        }
        if e.event_name == "message_stream" {
            burst.insert(li, message);
        } else {
            burst.remove(&li);
        }
        // Versions of a resource are what `created` and `updated` carry; a failure's or a
        // message's payload is about the event, not a new version to compare.
        let versioned = matches!(e.event_name.as_str(), "created" | "updated");
        let changes = match (&e.payload, previous.get(&li)) {
            (Some(now), Some(before)) if e.event_name == "updated" => diff(before, now),
            _ => Vec::new(),
        };
        if let (true, Some(p)) = (versioned, &e.payload) {
            previous.insert(li, p.clone());
        }
        lane.items.push(TimelineItem {
            event_id: e.id.clone(),
            event_name: e.event_name.clone(),
            at_ms: e.at_ms,
            until_ms: e.at_ms,
            since_previous_ms,
            count: 1,
            seq: e.seq,
            origins: e.origins.clone(),
            changes,
            note: note_of(e),
            failed,
        });
    }
    for lane in &mut lanes {
        if lane.state == LaneState::Open && unfinished(lane) {
            lane.state = LaneState::Stuck;
        }
        if lane.state == LaneState::Stuck {
            summary.stuck += 1;
        }
    }
    let mut by_type: Vec<NamedCount> = by_type
        .into_iter()
        .map(|(name, count)| NamedCount { name, count })
        .collect();
    by_type.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    summary.by_type = by_type;
    summary.by_origin = by_origin
        .into_iter()
        .map(|(o, count)| NamedCount {
            name: origin_name(o).to_string(),
            count,
        })
        .collect();
    Timeline {
        org: org.to_string(),
        from_ms,
        to_ms,
        summary,
        lanes,
        gaps,
        truncated,
    }
}

/// When a message of `org` happened, if it is `org`'s and falls in `from_ms..to_ms`: the
/// envelope's time, else its receive time; a message that is not an envelope is `org`'s when
/// its subject names it.
fn placed(
    d: &event::Decoded<'_>,
    input: &Input<'_>,
    org: &str,
    from_ms: i64,
    to_ms: i64,
) -> Option<i64> {
    let in_org = match d.organization_id.as_deref() {
        Some(o) => o == org,
        None => input.subject.split('.').nth(1) == Some(org),
    };
    let at_ms = d.timestamp_ms.unwrap_or(input.received_ms);
    (in_org && (from_ms..to_ms).contains(&at_ms)).then_some(at_ms)
}

fn origin_name(o: Origin) -> &'static str {
    match o {
        Origin::Held => "held",
        Origin::Recording => "recording",
        Origin::History => "history",
    }
}

fn is_failure(e: &Entry) -> bool {
    match (e.resource.as_str(), e.event_name.as_str()) {
        ("task", "failed") => true,
        ("flow", "run") => run_status(e) == Some("failed"),
        _ => false,
    }
}

fn run_status(e: &Entry) -> Option<&str> {
    e.payload.as_ref()?.get("status")?.as_str()
}

fn next_state(state: LaneState, e: &Entry) -> LaneState {
    match (e.resource.as_str(), e.event_name.as_str()) {
        (_, "completed") => LaneState::Completed,
        (_, "failed") => LaneState::Failed,
        (_, "deleted") => LaneState::Deleted,
        ("flow", "run") => match run_status(e) {
            Some("failed") => LaneState::Failed,
            Some("succeeded") => LaneState::Completed,
            Some("running") => LaneState::Open,
            _ => state,
        },
        _ => state,
    }
}

/// A task created in the range with no completion or failure, or a flow whose last run is
/// still running: what support calls "stuck".
fn unfinished(lane: &TimelineLane) -> bool {
    match lane.resource.as_str() {
        "task" => lane
            .items
            .first()
            .is_some_and(|i| i.event_name == "created"),
        "flow" => lane
            .items
            .iter()
            .rev()
            .find(|i| i.event_name == "run")
            .is_some_and(|i| i.note.as_deref() == Some("running")),
        _ => false,
    }
}

fn message_of(payload: Option<&Value>) -> Option<String> {
    payload?
        .get("messageId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn note_of(e: &Entry) -> Option<String> {
    let p = e.payload.as_ref()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| cut(s, 160));
    match (e.resource.as_str(), e.event_name.as_str()) {
        ("task", "failed") => text(p.pointer("/error/message")).or_else(|| text(p.get("error"))),
        ("flow", "run") => text(p.get("status")),
        ("conversation", "message_posted") => text(p.get("text")).or_else(|| text(p.get("body"))),
        ("conversation", "message_stream") => text(p.get("token")),
        _ => text(p.get("title")).or_else(|| text(p.get("name"))),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The payload's changes from `before` to `after`, as JSON Patch (RFC 6902) computes them.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let show = |v: Option<&Value>| v.map(|v| cut(&v.to_string(), 200));
    json_patch::diff(before, after)
        .0
        .iter()
        .map(|op| match op {
            json_patch::PatchOperation::Add(a) => FieldChange {
                path: a.path.to_string(),
                change: ChangeKind::Added,
                before: None,
                after: show(Some(&a.value)),
            },
            json_patch::PatchOperation::Remove(r) => FieldChange {
                path: r.path.to_string(),
                change: ChangeKind::Removed,
                before: show(before.pointer(r.path.as_str())),
                after: None,
            },
            json_patch::PatchOperation::Replace(r) => FieldChange {
                path: r.path.to_string(),
                change: ChangeKind::Changed,
                before: show(before.pointer(r.path.as_str())),
                after: show(Some(&r.value)),
            },
            other => FieldChange {
                path: String::new(),
                change: ChangeKind::Changed,
                before: None,
                after: Some(cut(&format!("{other:?}"), 200)),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_700_000_000_000;

    struct Msg {
        origin: Origin,
        subject: String,
        body: Vec<u8>,
    }

    fn ev(id: &str, resource: &str, event: &str, rid: &str, at_s: i64, payload: Value) -> Msg {
        at(
            Origin::Held,
            "org_1",
            id,
            resource,
            event,
            rid,
            at_s,
            payload,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn at(
        origin: Origin,
        org: &str,
        id: &str,
        resource: &str,
        event: &str,
        rid: &str,
        at_s: i64,
        payload: Value,
    ) -> Msg {
        let ts = chrono::DateTime::from_timestamp_millis(T0 + at_s * 1000)
            .unwrap()
            .to_rfc3339();
        let source = format!("{resource}s");
        let body = json!({
            "id": id, "organizationId": org, "source": source, "resource": resource,
            "resourceId": rid, "eventName": event, "timestamp": ts, "payload": payload,
            "metadata": {}
        });
        Msg {
            origin,
            subject: format!("events.{org}.{source}.{resource}.{event}.{rid}"),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    /// Builds org_1's timeline over the first hour after T0.
    fn check(msgs: &[Msg], gaps: Vec<TimelineGap>) -> Timeline {
        let inputs = msgs.iter().enumerate().map(|(i, m)| Input {
            origin: m.origin,
            received_ms: T0 + 3_600_000 + i as i64,
            seq: (m.origin == Origin::Held).then_some(i as u64),
            subject: &m.subject,
            body: &m.body,
        });
        build("org_1", T0, T0 + 3_600_000, inputs, gaps)
    }

    fn lane<'t>(t: &'t Timeline, rid: &str) -> &'t TimelineLane {
        t.lanes.iter().find(|l| l.resource_id == rid).expect("lane")
    }

    fn steps(l: &TimelineLane) -> Vec<(&str, u32)> {
        l.items
            .iter()
            .map(|i| (i.event_name.as_str(), i.count))
            .collect()
    }

    #[test]
    fn an_event_found_in_several_origins_is_shown_once_with_each_origin() {
        let mut again = ev("e1", "task", "created", "t1", 10, json!({"title": "Ship"}));
        again.origin = Origin::Recording;
        let t = check(
            &[
                again,
                ev("e1", "task", "created", "t1", 10, json!({"title": "Ship"})),
            ],
            vec![],
        );
        assert_eq!(t.summary.events, 1);
        assert_eq!(t.summary.duplicates, 1);
        let item = &lane(&t, "t1").items[0];
        assert_eq!(item.origins, vec![Origin::Held, Origin::Recording]);
        // The held copy gives the row to select, whichever origin came first.
        assert_eq!(item.seq, Some(1));
    }

    #[test]
    fn other_organizations_and_times_outside_the_range_are_left_out() {
        let t = check(
            &[
                at(
                    Origin::Held,
                    "org_2",
                    "x",
                    "task",
                    "created",
                    "t9",
                    5,
                    json!({}),
                ),
                ev("early", "task", "created", "t8", -5, json!({})),
                ev("late", "task", "created", "t7", 3_600, json!({})),
                ev("in", "task", "created", "t1", 0, json!({})),
            ],
            vec![],
        );
        let ids: Vec<&str> = t.lanes.iter().map(|l| l.resource_id.as_str()).collect();
        assert_eq!(ids, ["t1"]);
    }

    #[test]
    fn a_task_created_and_never_finished_is_stuck_and_a_failure_says_its_error() {
        let t = check(
            &[
                ev("a", "task", "created", "t1", 1, json!({"title": "A"})),
                ev("b", "task", "created", "t2", 2, json!({"title": "B"})),
                ev(
                    "c",
                    "task",
                    "failed",
                    "t2",
                    62,
                    json!({"error": {"message": "timeout"}}),
                ),
                ev("d", "task", "created", "t3", 3, json!({})),
                ev("e", "task", "completed", "t3", 4, json!({})),
            ],
            vec![],
        );
        assert_eq!(lane(&t, "t1").state, LaneState::Stuck);
        let failed = lane(&t, "t2");
        assert_eq!(failed.state, LaneState::Failed);
        assert_eq!(failed.items[1].note.as_deref(), Some("timeout"));
        assert_eq!(failed.items[1].since_previous_ms, Some(60_000));
        assert!(failed.items[1].failed);
        // A failure is not a new version of the task: nothing to compare.
        assert!(failed.items[1].changes.is_empty());
        assert_eq!(lane(&t, "t3").state, LaneState::Completed);
        assert_eq!((t.summary.stuck, t.summary.failures), (1, 1));
        assert_eq!(
            t.summary.by_type[0],
            NamedCount {
                name: "task.created".into(),
                count: 3
            }
        );
    }

    #[test]
    fn each_update_shows_what_changed_against_the_previous_version() {
        let t = check(
            &[
                ev(
                    "a",
                    "record",
                    "created",
                    "r1",
                    1,
                    json!({"status": "To Do", "tags": ["x"]}),
                ),
                ev(
                    "b",
                    "record",
                    "updated",
                    "r1",
                    2,
                    json!({"status": "Done", "tags": ["x"], "owner": "u1"}),
                ),
                ev(
                    "c",
                    "record",
                    "updated",
                    "r1",
                    3,
                    json!({"status": "Done", "owner": "u1"}),
                ),
                ev("d", "record", "deleted", "r1", 4, json!({})),
            ],
            vec![],
        );
        let l = lane(&t, "r1");
        assert_eq!(l.state, LaneState::Deleted);
        let shown = |i: usize| -> Vec<(String, ChangeKind, Option<String>, Option<String>)> {
            l.items[i]
                .changes
                .iter()
                .map(|c| (c.path.clone(), c.change, c.before.clone(), c.after.clone()))
                .collect()
        };
        assert_eq!(
            shown(1),
            [
                (
                    "/owner".into(),
                    ChangeKind::Added,
                    None,
                    Some("\"u1\"".into())
                ),
                (
                    "/status".into(),
                    ChangeKind::Changed,
                    Some("\"To Do\"".into()),
                    Some("\"Done\"".into())
                ),
            ]
        );
        assert_eq!(
            shown(2),
            [(
                "/tags".into(),
                ChangeKind::Removed,
                Some("[\"x\"]".into()),
                None
            )]
        );
    }

    #[test]
    fn the_tokens_of_one_streamed_reply_are_one_item() {
        let token = |id: &str, msg: &str, s: i64, tok: &str| {
            ev(
                id,
                "conversation",
                "message_stream",
                "c1",
                s,
                json!({"messageId": msg, "token": tok}),
            )
        };
        let t = check(
            &[
                ev("a", "conversation", "created", "c1", 1, json!({})),
                token("s1", "m1", 2, "Hel"),
                token("s2", "m1", 3, "lo"),
                token("s3", "m1", 4, "!"),
                token("s4", "m2", 5, "Next"),
                ev(
                    "b",
                    "conversation",
                    "message_posted",
                    "c1",
                    6,
                    json!({"text": "ok"}),
                ),
            ],
            vec![],
        );
        let l = lane(&t, "c1");
        assert_eq!(
            steps(l),
            [
                ("created", 1),
                ("message_stream", 3),
                ("message_stream", 1),
                ("message_posted", 1)
            ]
        );
        assert_eq!(l.items[1].note.as_deref(), Some("Hello!"));
        assert_eq!(
            (l.items[1].at_ms, l.items[1].until_ms),
            (T0 + 2_000, T0 + 4_000)
        );
        assert_eq!(l.events, 6);
    }

    #[test]
    fn bytes_that_are_not_an_envelope_still_count_under_their_subjects_organization() {
        let msgs = [Msg {
            origin: Origin::Recording,
            subject: "events.org_1.tasks.task.created.t5".into(),
            body: b"\xff not json".to_vec(),
        }];
        // Not JSON has no timestamp: the receive time places it (inside the range here).
        let inputs = msgs.iter().map(|m| Input {
            origin: m.origin,
            received_ms: T0 + 5,
            seq: None,
            subject: &m.subject,
            body: &m.body,
        });
        let t = build("org_1", T0, T0 + 10, inputs, vec![]);
        assert_eq!((t.summary.events, t.summary.invalid), (1, 1));
        assert_eq!(steps(lane(&t, "t5")), [("created", 1)]);
    }

    #[test]
    fn gaps_are_kept_and_counted() {
        let gap = TimelineGap {
            from_ms: T0 + 1_000,
            to_ms: T0 + 120_000,
            reason: "disconnected".into(),
        };
        let t = check(&[], vec![gap.clone()]);
        assert_eq!((t.gaps.clone(), t.summary.gaps), (vec![gap], 1));
    }
}
