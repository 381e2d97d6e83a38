//! History from JetStream: one organization's events between two times, read with an ordered
//! consumer from the stream that holds them, optionally followed past the end into live events.
//!
//! Times are the stream's *receive* times (when JetStream stored the message), not the events'
//! `timestamp` fields: a consumer can only start by the stream's clock.
//!
//! The consumer is an ephemeral ordered pull consumer (async-nats recreates it after a gap,
//! from the next stream sequence), so a reader hands out each stored message once, in stream
//! order. Following is the same consumer going on: history and live join at a stream sequence,
//! with no gap and no duplicate. Memory is bounded by the consumer's pull batch (500 messages
//! in flight, each at most the server's `max_payload`).

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use thiserror::Error;

use crate::filter::{Filter, Sieve};
use crate::topic::{TopicError, TopicPattern};

/// How long a JetStream API request may take. Creating a filtered consumer makes nats-server
/// 2.9 count the filter's pending messages, which takes seconds on a stream of millions.
pub const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Why history cannot be read.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("no JetStream stream holds {subject}")]
    NoStream { subject: String },
    #[error(
        "several JetStream streams hold parts of {subject} ({streams}): name one with --stream"
    )]
    AmbiguousStreams { subject: String, streams: String },
    #[error("the JetStream stream {stream} does not exist")]
    UnknownStream { stream: String },
    #[error("the JetStream stream {stream} holds no subject of {subject} (it holds {holds})")]
    StreamMisses {
        stream: String,
        subject: String,
        holds: String,
    },
    #[error(
        "the server made a consumer filtered on {got:?}, not {asked:?}: it would deliver the wrong events"
    )]
    WrongFilter { asked: String, got: String },
    #[error("invalid subject: {0}")]
    Subject(#[from] TopicError),
    #[error("invalid time {text:?}: give RFC 3339 (2026-01-31T14:00:00Z) or a relative time (-2h, -15m, -1d)")]
    Time { text: String },
    #[error("the time range ends before it starts ({since} to {until})")]
    EmptyRange {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("cannot read history from JetStream: {0}")]
    JetStream(String),
}

/// What to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// The subject pattern (`events.org_1.>` or narrower); the consumer is filtered on it, or
    /// on the narrower subject the filter implies.
    pub subject: String,
    /// First receive time to deliver.
    pub since: DateTime<Utc>,
    /// Receive time after which nothing is delivered; `None` for the end of the stream (or,
    /// following, forever).
    pub until: Option<DateTime<Utc>>,
    /// The stream to read; `None` finds the one whose subjects hold `subject`.
    pub stream: Option<String>,
    /// Go on past the end of the stream with live events.
    pub follow: bool,
    /// Only the events this query keeps (docs/filter.md).
    pub filter: Option<Filter>,
}

impl HistoryQuery {
    /// Everything on `subject` from `since` to the end of the stream.
    pub fn new(subject: impl Into<String>, since: DateTime<Utc>) -> HistoryQuery {
        HistoryQuery {
            subject: subject.into(),
            since,
            until: None,
            stream: None,
            follow: false,
            filter: None,
        }
    }
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct HistoryMessage {
    /// The stream sequence: the order of history, and where history joins live.
    pub seq: u64,
    /// When the stream received the message.
    pub received: DateTime<Utc>,
    pub subject: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// A running read of one query.
pub struct HistoryReader {
    stream: String,
    subject: String,
    messages: Option<Ordered>,
    /// The stream's last sequence when the read began: the end of history.
    end_seq: u64,
    until: Option<DateTime<Utc>>,
    follow: bool,
    caught_up: bool,
    sieve: Option<Sieve>,
}

impl HistoryReader {
    /// Finds the stream, creates the consumer and checks that the server filters as asked.
    pub async fn open(
        client: async_nats::Client,
        query: HistoryQuery,
    ) -> Result<HistoryReader, HistoryError> {
        TopicPattern::parse(&query.subject)?;
        if let Some(until) = query.until {
            if until < query.since {
                return Err(HistoryError::EmptyRange {
                    since: query.since,
                    until,
                });
            }
        }
        let subject = narrowed(&query.subject, query.filter.as_ref());
        let js = jetstream::ContextBuilder::new()
            .timeout(API_TIMEOUT)
            .build(client);
        let mut stream = find_stream(&js, &query.subject, query.stream.as_deref()).await?;
        let name = stream.cached_info().config.name.clone();
        let end_seq = stream
            .info()
            .await
            .map_err(|e| HistoryError::JetStream(e.to_string()))?
            .state
            .last_sequence;
        let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(
            query.since.timestamp_nanos_opt().unwrap_or(0) as i128,
        )
        .map_err(|e| HistoryError::JetStream(e.to_string()))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartTime { start_time },
                ..OrderedConfig::default()
            })
            .await
            .map_err(|e| HistoryError::JetStream(e.to_string()))?;
        let info = consumer.cached_info();
        // nats-server 2.9 ignores fields it does not know (`filter_subjects`): a consumer it
        // made differently from what was asked would deliver other organizations' events.
        if info.config.filter_subject != subject {
            return Err(HistoryError::WrongFilter {
                asked: subject,
                got: info.config.filter_subject.clone(),
            });
        }
        let pending = info.num_pending;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| HistoryError::JetStream(e.to_string()))?;
        Ok(HistoryReader {
            stream: name,
            subject,
            messages: (pending > 0 || query.follow).then_some(messages),
            end_seq,
            until: query.until,
            follow: query.follow,
            caught_up: pending == 0,
            sieve: query.filter.map(Sieve::new),
        })
    }

    /// The stream being read.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The subject the consumer is filtered on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// True once every message stored when the read began has been handed out (or skipped):
    /// from then on a following reader hands out live events.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// The next message in stream order; `None` at the end of the range (never while
    /// following, unless `until` passes).
    pub async fn next(&mut self) -> Option<Result<HistoryMessage, HistoryError>> {
        loop {
            let messages = self.messages.as_mut()?;
            let message = match messages.next().await {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    self.messages = None;
                    return Some(Err(HistoryError::JetStream(e.to_string())));
                }
                None => {
                    self.messages = None;
                    return None;
                }
            };
            let (seq, pending, received) = match message.info() {
                Ok(info) => (
                    info.stream_sequence,
                    info.pending,
                    DateTime::from_timestamp_nanos(info.published.unix_timestamp_nanos() as i64),
                ),
                Err(e) => {
                    self.messages = None;
                    return Some(Err(HistoryError::JetStream(e.to_string())));
                }
            };
            if self.until.is_some_and(|until| received > until)
                || (!self.follow && seq > self.end_seq)
            {
                self.messages = None;
                return None;
            }
            if pending == 0 || seq >= self.end_seq {
                self.caught_up = true;
                if !self.follow {
                    // The last message of the range: nothing more to ask the server for.
                    self.messages = None;
                }
            }
            let message = message.split().0;
            if let Some(sieve) = &mut self.sieve {
                if !sieve.keeps(
                    &message.subject,
                    &message.payload,
                    received.timestamp_millis(),
                ) {
                    continue;
                }
            }
            let headers = message
                .headers
                .map(|h| {
                    h.iter()
                        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.to_string(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            return Some(Ok(HistoryMessage {
                seq,
                received,
                subject: message.subject.to_string(),
                headers,
                body: message.payload,
            }));
        }
    }
}

/// The consumer's subject: the query's, narrowed by the one subject the filter implies (one
/// filter subject per consumer on nats-server 2.9, so a filter implying several narrows nothing).
fn narrowed(subject: &str, filter: Option<&Filter>) -> String {
    if let Some(filter) = filter {
        if let [only] = filter.subjects().as_slice() {
            if let Some(both) = intersection(subject, only) {
                return both;
            }
        }
    }
    subject.to_string()
}

/// The pattern of the subjects both patterns match, when there are any.
pub fn intersection(a: &str, b: &str) -> Option<String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    for i in 0.. {
        match (a.get(i), b.get(i)) {
            (None, None) => break,
            (Some(&">"), Some(_)) => {
                out.extend_from_slice(&b[i..]);
                break;
            }
            (Some(_), Some(&">")) => {
                out.extend_from_slice(&a[i..]);
                break;
            }
            (Some(&"*"), Some(y)) => out.push(*y),
            (Some(x), Some(&"*")) => out.push(*x),
            (Some(x), Some(y)) if x == y => out.push(*x),
            _ => return None,
        }
    }
    Some(out.join("."))
}

/// The stream named, or the one stream whose subjects hold `subject` (preferring one that holds
/// all of it).
async fn find_stream(
    js: &jetstream::Context,
    subject: &str,
    named: Option<&str>,
) -> Result<stream::Stream, HistoryError> {
    if let Some(name) = named {
        let stream = js.get_stream(name).await.map_err(|e| {
            if e.to_string().contains("not found") {
                HistoryError::UnknownStream {
                    stream: name.to_string(),
                }
            } else {
                HistoryError::JetStream(e.to_string())
            }
        })?;
        let holds = &stream.cached_info().config.subjects;
        if !holds.iter().any(|s| overlaps(s, subject)) {
            return Err(HistoryError::StreamMisses {
                stream: name.to_string(),
                subject: subject.to_string(),
                holds: holds.join(", "),
            });
        }
        return Ok(stream);
    }
    let mut streams = js.streams();
    let (mut covering, mut overlapping) = (Vec::new(), Vec::new());
    while let Some(info) = streams.next().await {
        let info = info.map_err(|e| HistoryError::JetStream(e.to_string()))?;
        let holds = &info.config.subjects;
        if holds.iter().any(|s| covers(s, subject)) {
            covering.push(info.config.name.clone());
        } else if holds.iter().any(|s| overlaps(s, subject)) {
            overlapping.push(info.config.name.clone());
        }
    }
    covering.sort();
    overlapping.sort();
    let name = match (covering.first(), overlapping.as_slice()) {
        (Some(name), _) => name.clone(),
        (None, [only]) => only.clone(),
        (None, []) => {
            return Err(HistoryError::NoStream {
                subject: subject.to_string(),
            })
        }
        (None, several) => {
            return Err(HistoryError::AmbiguousStreams {
                subject: subject.to_string(),
                streams: several.join(", "),
            })
        }
    };
    js.get_stream(&name)
        .await
        .map_err(|e| HistoryError::JetStream(e.to_string()))
}

/// True when some subject matches both patterns.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (Some(">"), Some(_)) | (Some(_), Some(">")) => return true,
            (None, None) => return true,
            (Some(x), Some(y)) if x == y || x == "*" || y == "*" => {}
            _ => return false,
        }
    }
}

/// True when every subject `inner` matches is matched by `outer`.
pub fn covers(outer: &str, inner: &str) -> bool {
    let (mut o, mut i) = (outer.split('.'), inner.split('.'));
    loop {
        match (o.next(), i.next()) {
            (Some(">"), Some(_)) => return true,
            (None, None) => return true,
            (Some("*"), Some(x)) if x != ">" => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// A time as given on a command line or in a request: RFC 3339, `now`, or relative to `now`
/// (`-90s`, `-15m`, `-2h`, `-1d`, `-1w`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, HistoryError> {
    let bad = || HistoryError::Time {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    if trimmed == "now" {
        return Ok(now);
    }
    if let Some(relative) = trimmed.strip_prefix('-') {
        let split = relative
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(bad)?;
        let (digits, unit) = relative.split_at(split);
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let span = match unit {
            "s" => Duration::try_seconds(n),
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(bad)?;
        return now.checked_sub_signed(span).ok_or_else(bad);
    }
    DateTime::parse_from_rfc3339(trimmed)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, &str, bool)], rule: fn(&str, &str) -> bool) {
        for (a, b, expected) in cases {
            assert_eq!(rule(a, b), *expected, "{a} / {b}");
        }
    }

    #[test]
    fn streams_are_matched_by_overlap_and_cover() {
        check(
            &[
                ("events.>", "events.org_1.>", true),
                ("events.org_1.>", "events.>", true),
                ("events.org_2.>", "events.org_1.>", false),
                ("events.*.tasks.>", "events.org_1.>", true),
                ("orders.>", "events.org_1.>", false),
                ("events.org_1", "events.org_1.>", false),
            ],
            overlaps,
        );
        check(
            &[
                ("events.>", "events.org_1.>", true),
                ("events.*.>", "events.org_1.tasks.>", true),
                ("events.org_1.>", "events.>", false),
                ("events.*.tasks.>", "events.org_1.>", false),
                ("events.org_1.*", "events.org_1.>", false),
            ],
            covers,
        );
        let both: Vec<Option<String>> = [
            ("events.org_1.>", "events.*.tasks.>"),
            ("events.*.tasks.>", "events.org_1.>"),
            ("events.org_1.>", "events.org_2.>"),
            ("events.>", "events.org_1.flows.flow.run.*"),
            ("events.org_1.*", "events.*.tasks"),
        ]
        .iter()
        .map(|(a, b)| intersection(a, b))
        .collect();
        assert_eq!(
            both,
            [
                Some("events.org_1.tasks.>".to_string()),
                Some("events.org_1.tasks.>".to_string()),
                None,
                Some("events.org_1.flows.flow.run.*".to_string()),
                Some("events.org_1.tasks".to_string()),
            ]
        );
    }

    #[test]
    fn times_are_rfc3339_or_relative_to_now() {
        let now = DateTime::parse_from_rfc3339("2026-01-31T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let parsed: Vec<String> = [
            "-2h",
            "-15m",
            "-1d",
            "-90s",
            "now",
            "2026-01-30T10:00:00+01:00",
        ]
        .iter()
        .map(|t| parse_time(t, now).unwrap().to_rfc3339())
        .collect();
        assert_eq!(
            parsed,
            [
                "2026-01-31T12:00:00+00:00",
                "2026-01-31T13:45:00+00:00",
                "2026-01-30T14:00:00+00:00",
                "2026-01-31T13:58:30+00:00",
                "2026-01-31T14:00:00+00:00",
                "2026-01-30T09:00:00+00:00",
            ]
        );
        for bad in ["yesterday", "-2", "-h", "-2y", "", "2026-13-01"] {
            assert!(
                parse_time(bad, now)
                    .unwrap_err()
                    .to_string()
                    .contains("invalid time"),
                "{bad}"
            );
        }
    }
}
