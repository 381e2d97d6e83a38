//! The gateway's wire protocol (`docs/gateway-protocol.md`): the JSON text frames both ends
//! exchange, the close codes and the default limits.
//!
//! Frames are serialized with serde; the event frame, the only one on the hot path, is written
//! by [`EventFrame`] so the gateway formats a message's shared part once for all its clients.

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

/// Seconds between the server's pings unless configured otherwise.
pub const DEFAULT_HEARTBEAT_SECS: u64 = 20;
/// Subscriptions one connection may hold.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 64;
/// Largest client frame, in bytes; larger ones are answered with a `limit` error.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024;
/// Events waiting to be written to one client before it is counted as lagging.
pub const DEFAULT_SEND_QUEUE: usize = 4096;
/// Events a lagging client may miss in a row (between two `lagged` frames) before it is
/// disconnected with [`CLOSE_TOO_SLOW`].
pub const DEFAULT_MAX_MISSED: u64 = 10_000;
/// Longest subscription id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest topic, in bytes. The platform's scheme needs far less; nats-server drops a
/// connection whose control line (`SUB <subject> <sid>`) exceeds 4 KiB, so a longer topic must
/// never reach it.
pub const MAX_TOPIC_BYTES: usize = 1024;
/// Longest part of a client's request an `error` frame or a log line repeats, in bytes.
pub const MAX_ECHO_BYTES: usize = 200;
/// Bytes queued for one client before it is counted as lagging (events) or closed (answers).
pub const DEFAULT_SEND_QUEUE_BYTES: usize = 4 << 20;

/// The server is shutting down (WebSocket "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// A text frame that is not UTF-8 (WebSocket "invalid frame payload data").
pub const CLOSE_INVALID_DATA: u16 = 1007;
/// A message larger than the transport reads (WebSocket "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The token expired (after an `error` frame with code `token_expired`).
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// No pong within two heartbeat intervals.
pub const CLOSE_NO_PONG: u16 = 4008;
/// The client fell behind by more than the second bound of its send queue.
pub const CLOSE_TOO_SLOW: u16 = 4009;

/// A frame the client sends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientFrame {
    Subscribe {
        id: String,
        topic: String,
    },
    Unsubscribe {
        id: String,
    },
    /// The stored events of `topic` between two times (RFC 3339; `until` defaults to the end of
    /// the stream), at most `limit` of them, answered by event frames with `seq`, then
    /// `history_end`.
    History {
        id: String,
        topic: String,
        since: String,
        #[serde(default)]
        until: Option<String>,
        #[serde(default)]
        limit: Option<u64>,
    },
    /// A fresh token for the same `sub`, sent before the connection's token expires. Read by
    /// [`ClientFrame::parse`] itself, so serde's list of expected types stays the original one.
    #[serde(skip_deserializing)]
    Reauth {
        token: String,
    },
}

/// The token stays out of debug output, as out of every log.
impl std::fmt::Debug for ClientFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientFrame::Subscribe { id, topic } => f
                .debug_struct("Subscribe")
                .field("id", id)
                .field("topic", topic)
                .finish(),
            ClientFrame::Unsubscribe { id } => {
                f.debug_struct("Unsubscribe").field("id", id).finish()
            }
            ClientFrame::History {
                id,
                topic,
                since,
                until,
                limit,
            } => f
                .debug_struct("History")
                .field("id", id)
                .field("topic", topic)
                .field("since", since)
                .field("until", until)
                .field("limit", limit)
                .finish(),
            ClientFrame::Reauth { .. } => f.debug_struct("Reauth").finish_non_exhaustive(),
        }
    }
}

impl ClientFrame {
    /// Reads one client frame. On failure, the `id` of the request is returned with the error
    /// when the frame has a string `id`, so the answer can name it.
    pub fn parse(text: &str) -> Result<ClientFrame, (Option<String>, String)> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| (None, format!("the frame is not JSON: {e}")))?;
        if !value.is_object() {
            return Err((None, "a frame is a JSON object with a `type`".into()));
        }
        let id = value.get("id").and_then(|v| v.as_str()).map(String::from);
        if value.get("type").and_then(|v| v.as_str()) == Some("reauth") {
            return match value.get("token").and_then(|v| v.as_str()) {
                Some(token) => Ok(ClientFrame::Reauth {
                    token: token.to_string(),
                }),
                None => Err((
                    id,
                    "not a valid frame: `reauth` needs a string `token`".into(),
                )),
            };
        }
        serde_json::from_value(value).map_err(|e| (id, format!("not a valid frame: {e}")))
    }
}

/// Why a request was refused, as the `code` of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The token does not allow the topic's organization.
    Forbidden,
    /// The topic is not a subject pattern of the platform's scheme.
    InvalidTopic,
    /// The frame is not JSON, not a known frame, or refers to an unknown subscription.
    BadRequest,
    /// A limit of the connection was reached (subscriptions, frame size).
    Limit,
    /// The connection's token expired; the connection is closed with [`CLOSE_TOKEN_EXPIRED`].
    TokenExpired,
    /// A `reauth` token was refused; the connection goes on with the token it had.
    Unauthorized,
    /// No JetStream stream holds a `history` request's topic (or reading it failed).
    NoHistory,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InvalidTopic => "invalid_topic",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Limit => "limit",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NoHistory => "no_history",
        }
    }
}

/// The gateway's connection to NATS, as told to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NatsState {
    Reconnecting,
    Connected,
}

/// The body of an event frame: the NATS message itself when it is exactly one JSON value,
/// otherwise its bytes in base64, so the client gets the bytes that were published.
#[derive(Debug, Clone, Serialize)]
pub enum EventBody {
    #[serde(rename = "event")]
    Json(Box<RawValue>),
    #[serde(rename = "raw", serialize_with = "base64_bytes")]
    Raw(Vec<u8>),
}

impl EventBody {
    /// The bytes as they were published.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            EventBody::Json(raw) => String::from(Box::<str>::from(raw)).into_bytes(),
            EventBody::Raw(bytes) => bytes,
        }
    }
}

fn base64_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A frame the server sends.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame {
    #[serde(rename_all = "camelCase")]
    Welcome {
        sub: String,
        orgs: Vec<String>,
        heartbeat_secs: u64,
    },
    Subscribed {
        id: String,
        topic: String,
    },
    Unsubscribed {
        id: String,
    },
    Event {
        subscription: String,
        topic: String,
        #[serde(flatten)]
        body: EventBody,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
    },
    Lagged {
        missed: u64,
    },
    /// A stored event answering a `history` request (`subscription` is the request's id), at
    /// the stream sequence `seq`. Written by [`EventFrame::for_history`].
    #[serde(rename = "event")]
    HistoryEvent {
        subscription: String,
        topic: String,
        seq: u64,
        #[serde(flatten)]
        body: EventBody,
    },
    /// The end of a `history` answer: `count` events were sent.
    #[serde(rename = "history_end")]
    HistoryEnd {
        id: String,
        count: u64,
    },
    Status {
        nats: NatsState,
    },
    /// The answer to an accepted `reauth`: the new token's claims apply from here on.
    Reauthenticated {
        sub: String,
        orgs: Vec<String>,
        exp: i64,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("the frame is not JSON: {0}")]
    NotJson(String),
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
    #[error("{kind} frame without {field}")]
    Missing {
        kind: &'static str,
        field: &'static str,
    },
    #[error("event frame with both or neither of `event` and `raw`")]
    EventBody,
    #[error("event frame with invalid base64 in `raw`: {0}")]
    Base64(String),
    #[error("unknown error code {0:?}")]
    Code(String),
}

/// Every field any server frame has; the typed frame is made from it. (serde's tagged enums
/// cannot hold a `RawValue`, which `event` needs to keep the bytes exact.)
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Loose<'a> {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    sub: Option<String>,
    orgs: Option<Vec<String>>,
    heartbeat_secs: Option<u64>,
    topic: Option<String>,
    subscription: Option<String>,
    #[serde(borrow, default, deserialize_with = "present")]
    event: Option<&'a RawValue>,
    raw: Option<String>,
    code: Option<String>,
    message: Option<String>,
    missed: Option<u64>,
    nats: Option<NatsState>,
    exp: Option<i64>,
    seq: Option<u64>,
    count: Option<u64>,
}

/// A present key is `Some`, even when its value is `null` (a body can be `null`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl ServerFrame {
    /// Reads one server frame (the client side).
    pub fn parse(text: &str) -> Result<ServerFrame, FrameError> {
        let f: Loose =
            serde_json::from_str(text).map_err(|e| FrameError::NotJson(e.to_string()))?;
        let need = |kind: &'static str, field: &'static str| FrameError::Missing { kind, field };
        Ok(match f.kind.as_str() {
            "welcome" => ServerFrame::Welcome {
                sub: f.sub.ok_or(need("welcome", "sub"))?,
                orgs: f.orgs.ok_or(need("welcome", "orgs"))?,
                heartbeat_secs: f.heartbeat_secs.ok_or(need("welcome", "heartbeatSecs"))?,
            },
            "subscribed" => ServerFrame::Subscribed {
                id: f.id.ok_or(need("subscribed", "id"))?,
                topic: f.topic.ok_or(need("subscribed", "topic"))?,
            },
            "unsubscribed" => ServerFrame::Unsubscribed {
                id: f.id.ok_or(need("unsubscribed", "id"))?,
            },
            "event" => {
                let subscription = f.subscription.ok_or(need("event", "subscription"))?;
                let topic = f.topic.ok_or(need("event", "topic"))?;
                let body = match (f.event, f.raw) {
                    (Some(json), None) => EventBody::Json(json.to_owned()),
                    (None, Some(b64)) => EventBody::Raw(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .map_err(|e| FrameError::Base64(e.to_string()))?,
                    ),
                    _ => return Err(FrameError::EventBody),
                };
                match f.seq {
                    Some(seq) => ServerFrame::HistoryEvent {
                        subscription,
                        topic,
                        seq,
                        body,
                    },
                    None => ServerFrame::Event {
                        subscription,
                        topic,
                        body,
                    },
                }
            }
            "history_end" => ServerFrame::HistoryEnd {
                id: f.id.ok_or(need("history_end", "id"))?,
                count: f.count.ok_or(need("history_end", "count"))?,
            },
            "error" => ServerFrame::Error {
                id: f.id,
                code: match f.code.as_deref() {
                    Some("forbidden") => ErrorCode::Forbidden,
                    Some("invalid_topic") => ErrorCode::InvalidTopic,
                    Some("bad_request") => ErrorCode::BadRequest,
                    Some("limit") => ErrorCode::Limit,
                    Some("token_expired") => ErrorCode::TokenExpired,
                    Some("unauthorized") => ErrorCode::Unauthorized,
                    Some("no_history") => ErrorCode::NoHistory,
                    Some(other) => return Err(FrameError::Code(other.to_string())),
                    None => return Err(need("error", "code")),
                },
                message: f.message.unwrap_or_default(),
            },
            "lagged" => ServerFrame::Lagged {
                missed: f.missed.ok_or(need("lagged", "missed"))?,
            },
            "status" => ServerFrame::Status {
                nats: f.nats.ok_or(need("status", "nats"))?,
            },
            "reauthenticated" => ServerFrame::Reauthenticated {
                sub: f.sub.ok_or(need("reauthenticated", "sub"))?,
                orgs: f.orgs.ok_or(need("reauthenticated", "orgs"))?,
                exp: f.exp.ok_or(need("reauthenticated", "exp"))?,
            },
            other => return Err(FrameError::UnknownType(other.to_string())),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// An event frame made in two parts: the message's part (topic and body), formatted once, and
/// each subscriber's subscription id, put in front of it.
#[derive(Debug, Clone)]
pub struct EventFrame {
    /// `,"topic":"...","event":...}` or `,"topic":"...","raw":"..."}`.
    tail: String,
}

impl EventFrame {
    /// `body` goes out as `event` when it is exactly one JSON value, as `raw` otherwise
    /// (not UTF-8, not JSON, or with whitespace around the value).
    pub fn new(topic: &str, body: &[u8]) -> EventFrame {
        let mut tail = String::with_capacity(body.len() + topic.len() + 32);
        tail.push_str(",\"topic\":");
        push_json_string(&mut tail, topic);
        let exact_json = std::str::from_utf8(body).ok().filter(|text| {
            let trimmed = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
            !text.is_empty() && trimmed.len() == text.len() && crate::json_scan::is_valid(text)
        });
        match exact_json {
            Some(text) => {
                tail.push_str(",\"event\":");
                tail.push_str(text);
            }
            None => {
                tail.push_str(",\"raw\":\"");
                base64::engine::general_purpose::STANDARD.encode_string(body, &mut tail);
                tail.push('"');
            }
        }
        tail.push('}');
        EventFrame { tail }
    }

    /// The frame for one subscription.
    pub fn for_subscription(&self, subscription: &str) -> String {
        let mut frame = String::with_capacity(self.tail.len() + subscription.len() + 40);
        frame.push_str("{\"type\":\"event\",\"subscription\":");
        push_json_string(&mut frame, subscription);
        frame.push_str(&self.tail);
        frame
    }

    /// The frame answering the `history` request `id` with the event at stream sequence `seq`.
    pub fn for_history(&self, id: &str, seq: u64) -> String {
        let mut frame = String::with_capacity(self.tail.len() + id.len() + 60);
        frame.push_str("{\"type\":\"event\",\"subscription\":");
        push_json_string(&mut frame, id);
        frame.push_str(",\"seq\":");
        frame.push_str(&seq.to_string());
        frame.push_str(&self.tail);
        frame
    }

    /// Bytes of the shared part.
    pub fn len(&self) -> usize {
        self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping, written straight into the frame.
    let quoted = serde_json::to_string(s).expect("strings always serialize");
    out.push_str(&quoted);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_client(text: &str, expected: Result<ClientFrame, (Option<&str>, &str)>) {
        let got = ClientFrame::parse(text);
        let expected = expected.map_err(|(id, m)| (id.map(String::from), m.to_string()));
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn client_frames() {
        check_client(
            r#"{"type":"subscribe","id":"s1","topic":"events.org_1.>"}"#,
            Ok(ClientFrame::Subscribe {
                id: "s1".into(),
                topic: "events.org_1.>".into(),
            }),
        );
        check_client(
            r#"{"id":"s1","type":"unsubscribe","extra":true}"#,
            Ok(ClientFrame::Unsubscribe { id: "s1".into() }),
        );
        check_client(
            "hello",
            Err((
                None,
                "the frame is not JSON: expected value at line 1 column 1",
            )),
        );
        check_client(
            r#"{"type":"publish","id":"p1"}"#,
            Err((
                Some("p1"),
                "not a valid frame: unknown variant `publish`, expected one of `subscribe`, `unsubscribe`, `history`",
            )),
        );
        check_client(
            r#"{"type":"subscribe","id":"s2"}"#,
            Err((Some("s2"), "not a valid frame: missing field `topic`")),
        );
        check_client(
            r#"{"type":"subscribe","id":7,"topic":"events.>"}"#,
            Err((
                None,
                "not a valid frame: invalid type: integer `7`, expected a string",
            )),
        );
        check_client(
            "[1,2]",
            Err((None, "a frame is a JSON object with a `type`")),
        );
        check_client(
            r#"{"id":"s3"}"#,
            Err((Some("s3"), "not a valid frame: missing field `type`")),
        );
    }

    #[test]
    fn reauth_frames_carry_a_token_that_debug_output_hides() {
        let frame = ClientFrame::Reauth {
            token: "eyJ.secret.sig".into(),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(json, r#"{"type":"reauth","token":"eyJ.secret.sig"}"#);
        check_client(&json, Ok(frame.clone()));
        assert_eq!(format!("{frame:?}"), "Reauth { .. }");
        check_client(
            r#"{"type":"reauth","token":7}"#,
            Err((None, "not a valid frame: `reauth` needs a string `token`")),
        );
        check_server(
            ServerFrame::Reauthenticated {
                sub: "u_1".into(),
                orgs: vec!["org_1".into()],
                exp: 1_767_225_600,
            },
            r#"{"type":"reauthenticated","sub":"u_1","orgs":["org_1"],"exp":1767225600}"#,
        );
        check_server(
            ServerFrame::Error {
                id: None,
                code: ErrorCode::TokenExpired,
                message: "no".into(),
            },
            r#"{"type":"error","code":"token_expired","message":"no"}"#,
        );
    }

    fn check_server(frame: ServerFrame, json: &str) {
        assert_eq!(frame.to_json(), json);
        let back = ServerFrame::parse(json).unwrap();
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn server_frames_round_trip_as_documented() {
        check_server(
            ServerFrame::Welcome {
                sub: "u_1".into(),
                orgs: vec!["org_1".into()],
                heartbeat_secs: 20,
            },
            r#"{"type":"welcome","sub":"u_1","orgs":["org_1"],"heartbeatSecs":20}"#,
        );
        check_server(
            ServerFrame::Subscribed {
                id: "s1".into(),
                topic: "events.org_1.tasks.task.failed.*".into(),
            },
            r#"{"type":"subscribed","id":"s1","topic":"events.org_1.tasks.task.failed.*"}"#,
        );
        check_server(
            ServerFrame::Unsubscribed { id: "s1".into() },
            r#"{"type":"unsubscribed","id":"s1"}"#,
        );
        check_server(
            ServerFrame::Error {
                id: Some("s1".into()),
                code: ErrorCode::InvalidTopic,
                message: "no".into(),
            },
            r#"{"type":"error","id":"s1","code":"invalid_topic","message":"no"}"#,
        );
        check_server(
            ServerFrame::Error {
                id: None,
                code: ErrorCode::BadRequest,
                message: "no".into(),
            },
            r#"{"type":"error","code":"bad_request","message":"no"}"#,
        );
        check_server(
            ServerFrame::Lagged { missed: 12 },
            r#"{"type":"lagged","missed":12}"#,
        );
        check_server(
            ServerFrame::Status {
                nats: NatsState::Reconnecting,
            },
            r#"{"type":"status","nats":"reconnecting"}"#,
        );
        check_server(
            ServerFrame::Event {
                subscription: "s1".into(),
                topic: "events.org_1.x".into(),
                body: EventBody::Json(RawValue::from_string(r#"{"id": 1}"#.into()).unwrap()),
            },
            r#"{"type":"event","subscription":"s1","topic":"events.org_1.x","event":{"id": 1}}"#,
        );
    }

    /// The event frame for `body` on subscription `s"1`, and the bytes a client reads back.
    fn check_event(body: &[u8], json: &str) {
        let frame = EventFrame::new("events.org_1.a", body).for_subscription("s\"1");
        assert_eq!(frame, json);
        match ServerFrame::parse(&frame).unwrap() {
            ServerFrame::Event {
                subscription,
                topic,
                body: got,
            } => {
                assert_eq!(subscription, "s\"1");
                assert_eq!(topic, "events.org_1.a");
                assert_eq!(got.into_bytes(), body);
            }
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn event_frames_carry_the_exact_bytes() {
        check_event(
            br#"{"id":"e1","payload":{"a":[1,2]}}"#,
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","event":{"id":"e1","payload":{"a":[1,2]}}}"#,
        );
        check_event(
            b"null",
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","event":null}"#,
        );
        check_event(
            b"not json",
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","raw":"bm90IGpzb24="}"#,
        );
        // Whitespace around a value would be lost inside a JSON frame: sent raw.
        check_event(
            b"{}\n",
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","raw":"e30K"}"#,
        );
        check_event(
            b"\xff\x00",
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","raw":"/wA="}"#,
        );
        check_event(
            b"",
            r#"{"type":"event","subscription":"s\"1","topic":"events.org_1.a","raw":""}"#,
        );
    }

    #[test]
    fn bad_server_frames_are_errors_not_panics() {
        let check = |text: &str, expected: &str| {
            assert_eq!(ServerFrame::parse(text).unwrap_err().to_string(), expected);
        };
        check(
            "{",
            "the frame is not JSON: EOF while parsing an object at line 1 column 1",
        );
        check(r#"{"type":"hello"}"#, r#"unknown frame type "hello""#);
        check(r#"{"type":"lagged"}"#, "lagged frame without missed");
        check(
            r#"{"type":"event","subscription":"s","topic":"t"}"#,
            "event frame with both or neither of `event` and `raw`",
        );
        check(
            r#"{"type":"event","subscription":"s","topic":"t","raw":"!!"}"#,
            "event frame with invalid base64 in `raw`: Invalid symbol 33, offset 0.",
        );
        check(
            r#"{"type":"error","code":"teapot"}"#,
            r#"unknown error code "teapot""#,
        );
    }
}
