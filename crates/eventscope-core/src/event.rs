//! The event envelope: decoding that never panics and loses nothing, and the owned form used to
//! publish.
//!
//! Decoding borrows from the raw bytes: the payload and metadata are located, not parsed, so
//! ingest costs one pass over the message. Whatever is wrong is recorded as [`Problems`]; the
//! raw bytes are always kept by the caller.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::json_scan::{Cursor, ScanError};
use crate::topic;

/// The envelope fields, in the order the platform documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    Id,
    OrganizationId,
    Source,
    Resource,
    ResourceId,
    EventName,
    Timestamp,
    Payload,
    Metadata,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Id,
        Field::OrganizationId,
        Field::Source,
        Field::Resource,
        Field::ResourceId,
        Field::EventName,
        Field::Timestamp,
        Field::Payload,
        Field::Metadata,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::OrganizationId => "organizationId",
            Field::Source => "source",
            Field::Resource => "resource",
            Field::ResourceId => "resourceId",
            Field::EventName => "eventName",
            Field::Timestamp => "timestamp",
            Field::Payload => "payload",
            Field::Metadata => "metadata",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "id" => Field::Id,
            "organizationId" => Field::OrganizationId,
            "source" => Field::Source,
            "resource" => Field::Resource,
            "resourceId" => Field::ResourceId,
            "eventName" => Field::EventName,
            "timestamp" => Field::Timestamp,
            "payload" => Field::Payload,
            "metadata" => Field::Metadata,
            _ => return None,
        })
    }

    /// `metadata` is optional; every other field is required.
    fn required(self) -> bool {
        self != Field::Metadata
    }
}

/// What is wrong with a message, as a compact bit set stored beside each event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Problems(u32);

impl Problems {
    pub const NOT_UTF8: Problems = Problems(1);
    pub const NOT_JSON: Problems = Problems(1 << 1);
    pub const NOT_OBJECT: Problems = Problems(1 << 2);
    pub const BAD_TIMESTAMP: Problems = Problems(1 << 3);
    const MISSING_SHIFT: u32 = 8;
    const WRONG_TYPE_SHIFT: u32 = 20;

    pub fn missing(field: Field) -> Problems {
        Problems(1 << (Self::MISSING_SHIFT + field as u32))
    }

    pub fn wrong_type(field: Field) -> Problems {
        Problems(1 << (Self::WRONG_TYPE_SHIFT + field as u32))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, other: Problems) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn from_bits(bits: u32) -> Problems {
        Problems(bits)
    }

    /// The first problem in a few words, for a table cell.
    pub fn summary(self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        if self.contains(Problems::NOT_UTF8) {
            return Some("not UTF-8".into());
        }
        if self.contains(Problems::NOT_JSON) {
            return Some("not JSON".into());
        }
        if self.contains(Problems::NOT_OBJECT) {
            return Some("not an object".into());
        }
        let missing: Vec<&str> = Field::ALL
            .iter()
            .filter(|f| self.contains(Problems::missing(**f)))
            .map(|f| f.name())
            .collect();
        if !missing.is_empty() {
            return Some(format!("missing {}", missing.join(", ")));
        }
        if let Some(f) = Field::ALL
            .iter()
            .find(|f| self.contains(Problems::wrong_type(**f)))
        {
            return Some(format!("{} has the wrong type", f.name()));
        }
        Some("timestamp is not RFC 3339".into())
    }
}

impl std::ops::BitOr for Problems {
    type Output = Problems;
    fn bitor(self, rhs: Problems) -> Problems {
        Problems(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Problems {
    fn bitor_assign(&mut self, rhs: Problems) {
        self.0 |= rhs.0;
    }
}

/// The envelope as read from one message, borrowing from its bytes.
#[derive(Debug, Default)]
pub struct Decoded<'a> {
    pub id: Option<Cow<'a, str>>,
    pub organization_id: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub resource: Option<Cow<'a, str>>,
    pub resource_id: Option<Cow<'a, str>>,
    pub event_name: Option<Cow<'a, str>>,
    /// Milliseconds since the Unix epoch, when `timestamp` is valid RFC 3339.
    pub timestamp_ms: Option<i64>,
    /// The payload's JSON text, located but not parsed.
    pub payload: Option<&'a str>,
    /// The metadata object's JSON text.
    pub metadata: Option<&'a str>,
    pub problems: Problems,
    /// The parser's own words when the body is not JSON or not an envelope.
    pub error: Option<String>,
}

/// Decodes the envelope of one message. Never panics, whatever the bytes.
pub fn decode(body: &[u8]) -> Decoded<'_> {
    let mut out = Decoded::default();
    let Ok(text) = simdutf8::basic::from_utf8(body) else {
        let e = std::str::from_utf8(body).expect_err("simdutf8 and std agree");
        out.problems = Problems::NOT_UTF8 | Problems::NOT_JSON;
        out.error = Some(format!("not UTF-8: {e}"));
        return out;
    };
    match locate_fields(text) {
        Ok(fields) => read_fields(text, &fields, &mut out),
        // The rare path: let serde_json tell what is wrong, in its words.
        Err(_) => match serde_json::from_str::<&RawValue>(text) {
            Ok(_) => {
                out.problems = Problems::NOT_OBJECT;
                out.error = Some("expected an object".to_string());
            }
            Err(e) => {
                out.problems = Problems::NOT_JSON;
                out.error = Some(e.to_string());
            }
        },
    }
    out
}

/// The byte range of each envelope field's value, by `Field` index.
type FieldRanges = [Option<(usize, usize)>; Field::ALL.len()];

/// Walks the top-level object once, validating all of it and locating the envelope fields.
/// Fails on anything that is not exactly one JSON object. A repeated key keeps its last value,
/// as `JSON.parse` does.
fn locate_fields(text: &str) -> Result<FieldRanges, ScanError> {
    let mut fields: FieldRanges = [None; Field::ALL.len()];
    let mut c = Cursor::new(text);
    c.members(|key, range| {
        if let Some(field) = Field::from_name(&key) {
            fields[field as usize] = Some(range);
        }
        true
    })?;
    if !c.at_end() {
        return Err(ScanError { at: c.pos() });
    }
    Ok(fields)
}

fn read_fields<'a>(text: &'a str, fields: &FieldRanges, out: &mut Decoded<'a>) {
    let raw = |field: Field| fields[field as usize].map(|(start, end)| &text[start..end]);
    let mut problems = Problems::default();
    out.id = string_field(Field::Id, raw(Field::Id), &mut problems);
    out.organization_id = string_field(
        Field::OrganizationId,
        raw(Field::OrganizationId),
        &mut problems,
    );
    out.source = string_field(Field::Source, raw(Field::Source), &mut problems);
    out.resource = string_field(Field::Resource, raw(Field::Resource), &mut problems);
    out.resource_id = string_field(Field::ResourceId, raw(Field::ResourceId), &mut problems);
    out.event_name = string_field(Field::EventName, raw(Field::EventName), &mut problems);
    if let Some(ts) = string_field(Field::Timestamp, raw(Field::Timestamp), &mut problems) {
        match chrono::DateTime::parse_from_rfc3339(&ts) {
            Ok(t) => out.timestamp_ms = Some(t.timestamp_millis()),
            Err(_) => problems |= Problems::BAD_TIMESTAMP,
        }
    }
    match raw(Field::Payload) {
        Some(p) => out.payload = Some(p),
        None => problems |= Problems::missing(Field::Payload),
    }
    if let Some(m) = raw(Field::Metadata) {
        if m.starts_with('{') {
            out.metadata = Some(m);
        } else if m != "null" {
            problems |= Problems::wrong_type(Field::Metadata);
        }
    }
    out.problems = problems;
}

/// A string field: borrowed when it has no escapes, flagged when missing or not a string.
fn string_field<'a>(
    field: Field,
    raw: Option<&'a str>,
    problems: &mut Problems,
) -> Option<Cow<'a, str>> {
    let Some(text) = raw else {
        if field.required() {
            *problems |= Problems::missing(field);
        }
        return None;
    };
    if !text.starts_with('"') {
        *problems |= Problems::wrong_type(field);
        return None;
    }
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    match serde_json::from_str::<String>(text) {
        Ok(s) => Some(Cow::Owned(s)),
        Err(_) => {
            *problems |= Problems::wrong_type(field);
            None
        }
    }
}

/// Every problem as a sentence, for the detail pane and the CLI.
pub fn describe(problems: Problems, error: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if problems.contains(Problems::NOT_UTF8) {
        out.push("the body is not valid UTF-8; shown as hex".to_string());
    } else if problems.contains(Problems::NOT_JSON) {
        out.push(format!(
            "the body is not JSON ({})",
            error.unwrap_or("parse error")
        ));
    } else if problems.contains(Problems::NOT_OBJECT) {
        out.push(format!(
            "the body is JSON but not an envelope object ({})",
            error.unwrap_or("")
        ));
    }
    for field in Field::ALL {
        if problems.contains(Problems::missing(field)) {
            out.push(format!("field `{}` is missing", field.name()));
        }
        if problems.contains(Problems::wrong_type(field)) {
            let expected = if field == Field::Metadata {
                "an object"
            } else {
                "a string"
            };
            out.push(format!("field `{}` is not {expected}", field.name()));
        }
    }
    if problems.contains(Problems::BAD_TIMESTAMP) {
        out.push("field `timestamp` is not an RFC 3339 time".to_string());
    }
    out
}

/// The fields a table row shows, with subject tokens standing in for missing envelope fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub org: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub resource: Cow<'a, str>,
    pub event_name: Cow<'a, str>,
    pub resource_id: Cow<'a, str>,
}

impl<'a> Decoded<'a> {
    /// Envelope fields where present, else the matching subject tokens, else empty.
    pub fn resolve<'s>(&'s self, subject: &'s str) -> Resolved<'s> {
        fn pick<'s>(field: &'s Option<Cow<'_, str>>, token: Option<&'s str>) -> Cow<'s, str> {
            Cow::Borrowed(field.as_deref().or(token).unwrap_or(""))
        }
        // Parsing the subject costs an allocation: only when a field is missing.
        let complete = self.organization_id.is_some()
            && self.source.is_some()
            && self.resource.is_some()
            && self.event_name.is_some()
            && self.resource_id.is_some();
        let parts = if complete {
            None
        } else {
            topic::parse(subject)
        };
        Resolved {
            org: pick(&self.organization_id, parts.as_ref().map(|p| p.org)),
            source: pick(&self.source, parts.as_ref().map(|p| p.source)),
            resource: pick(&self.resource, parts.as_ref().map(|p| p.resource)),
            event_name: pick(&self.event_name, parts.as_ref().map(|p| p.event)),
            resource_id: pick(&self.resource_id, parts.as_ref().map(|p| p.resource_id)),
        }
    }
}

/// Metadata as the platform shapes it: key/value filters (which become subject tokens) and tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Filters in insertion order; published as `.key.value` subject tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "ordered_map")]
    pub filters: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A complete event, owned: what the simulator makes and `publish` sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: String,
    pub organization_id: String,
    pub source: String,
    pub resource: String,
    pub resource_id: String,
    pub event_name: String,
    pub timestamp: String,
    pub payload: serde_json::Value,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Envelope {
    /// The subject this event is published on, per the platform's topic scheme.
    pub fn subject(&self) -> Result<String, topic::TopicError> {
        topic::build(
            topic::SubjectSpec {
                org: &self.organization_id,
                source: &self.source,
                resource: &self.resource,
                event: &self.event_name,
                resource_id: &self.resource_id,
            },
            self.metadata
                .filters
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// `resource.eventName`, the name the platform documents events by.
    pub fn name(&self) -> String {
        format!("{}.{}", self.resource, self.event_name)
    }
}

/// Serializes `filters` as a JSON object while keeping their order.
mod ordered_map {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(v.len()))?;
        for (k, val) in v {
            map.serialize_entry(k, val)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `body` and renders what was found in one line, so expectations stay inline.
    fn check(body: &[u8], subject: &str, expected: &str) {
        let d = decode(body);
        let r = d.resolve(subject);
        let mut line = format!(
            "id={:?} org={} src={} res={} ev={} rid={} ts={:?} payload={} metadata={}",
            d.id.as_deref(),
            r.org,
            r.source,
            r.resource,
            r.event_name,
            r.resource_id,
            d.timestamp_ms,
            d.payload.map(str::len).unwrap_or(0),
            d.metadata.is_some(),
        );
        if let Some(summary) = d.problems.summary() {
            line.push_str(&format!(" problem={summary}"));
        }
        assert_eq!(line, expected);
    }

    const SUBJECT: &str = "events.org_s.tasks.task.failed.t_s";

    #[test]
    fn valid_envelope() {
        check(
            br#"{"id":"evt_1","organizationId":"org_1","source":"tasks","resource":"task","resourceId":"t_1","eventName":"failed","timestamp":"2026-11-27T10:00:00Z","payload":{"error":"boom"},"metadata":{"filters":{},"tags":["vip"]},"extra":[1,2]}"#,
            SUBJECT,
            r#"id=Some("evt_1") org=org_1 src=tasks res=task ev=failed rid=t_1 ts=Some(1795773600000) payload=16 metadata=true"#,
        );
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let d = decode(br#"{"id":"evt_\u00e9\"q","organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00+01:00","payload":null}"#);
        assert_eq!(d.id.as_deref(), Some("evt_é\"q"));
        assert!(matches!(d.id, Some(Cow::Owned(_))));
        assert_eq!(d.timestamp_ms, Some(1767222000000));
        assert!(d.problems.is_empty(), "{:?}", d.problems);
    }

    #[test]
    fn bad_input_is_flagged_not_dropped() {
        check(b"hello world", SUBJECT, "id=None org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=0 metadata=false problem=not JSON");
        check(b"", SUBJECT, "id=None org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=0 metadata=false problem=not JSON");
        check(
            b"\xff\xfe{\"id\":1}",
            "x.y",
            "id=None org= src= res= ev= rid= ts=None payload=0 metadata=false problem=not UTF-8",
        );
        check(b"[1,2,3]", SUBJECT, "id=None org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=0 metadata=false problem=not an object");
        check(b"42", SUBJECT, "id=None org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=0 metadata=false problem=not an object");
        check(b"{\"id\":\"a\"", SUBJECT, "id=None org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=0 metadata=false problem=not JSON");
        check(
            br#"{"id":"evt_2","payload":{}}"#,
            SUBJECT,
            r#"id=Some("evt_2") org=org_s src=tasks res=task ev=failed rid=t_s ts=None payload=2 metadata=false problem=missing organizationId, source, resource, resourceId, eventName, timestamp"#,
        );
        check(
            br#"{"id":7,"organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":1,"metadata":[]}"#,
            SUBJECT,
            "id=None org=o src=s res=r ev=e rid=x ts=Some(1767225600000) payload=1 metadata=false problem=id has the wrong type",
        );
        check(
            br#"{"id":"a","organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"yesterday","payload":{}}"#,
            SUBJECT,
            r#"id=Some("a") org=o src=s res=r ev=e rid=x ts=None payload=2 metadata=false problem=timestamp is not RFC 3339"#,
        );
        check(
            br#"{"id":null,"organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":{}}"#,
            SUBJECT,
            "id=None org=o src=s res=r ev=e rid=x ts=Some(1767225600000) payload=2 metadata=false problem=id has the wrong type",
        );
    }

    #[test]
    fn problems_are_described_in_full() {
        let d = decode(br#"{"id":1,"payload":{},"metadata":"x"}"#);
        assert_eq!(
            describe(d.problems, d.error.as_deref()),
            vec![
                "field `id` is not a string",
                "field `organizationId` is missing",
                "field `source` is missing",
                "field `resource` is missing",
                "field `resourceId` is missing",
                "field `eventName` is missing",
                "field `timestamp` is missing",
                "field `metadata` is not an object",
            ]
        );
        let d = decode(b"{nope");
        assert_eq!(
            describe(d.problems, d.error.as_deref()),
            vec!["the body is not JSON (key must be a string at line 1 column 2)"]
        );
    }

    #[test]
    fn huge_and_deep_payloads() {
        let big = "x".repeat(1 << 20);
        let body = format!(
            r#"{{"id":"big","organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":{{"text":"{big}"}}}}"#
        );
        let d = decode(body.as_bytes());
        assert!(d.problems.is_empty());
        assert_eq!(d.payload.unwrap().len(), big.len() + 11);

        let depth = 10_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(
            r#"{{"id":"deep","organizationId":"o","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":{deep}}}"#
        );
        let d = decode(body.as_bytes());
        assert_eq!(d.id.as_deref(), Some("deep"));
        assert!(d.problems.is_empty(), "{:?}", d.error);
        assert_eq!(d.payload.unwrap().len(), 2 * depth);
    }

    #[test]
    fn random_bytes_never_panic_and_validity_matches_serde_json() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let base = br#"{"id":"evt_1","organizationId":"org_1","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":{"a":[1,2.5,"\u00e9",null,true],"b":{"c":"d"}},"metadata":{"tags":["t"]}}"#;
        let alphabet = b"{}[]\",:0123456789.eE+-truefalsn \\u\x00\xff\xc3\xa9";
        for _ in 0..20_000 {
            let mut body = base.to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..body.len());
                match rng.random_range(0..3) {
                    0 => body[at] = alphabet[rng.random_range(0..alphabet.len())],
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                }
            }
            let d = decode(&body);
            let serde_ok = std::str::from_utf8(&body).is_ok_and(|t| {
                t.trim_start().starts_with('{') && serde_json::from_str::<&RawValue>(t).is_ok()
            });
            let ours_ok = !d.problems.contains(Problems::NOT_JSON)
                && !d.problems.contains(Problems::NOT_OBJECT);
            assert_eq!(ours_ok, serde_ok, "{:?}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn hostile_strings_are_kept_verbatim() {
        let d = decode(br#"{"id":"<script>alert(1)</script>","organizationId":"<img src=x onerror=alert(1)>","source":"s","resource":"r","resourceId":"x","eventName":"e","timestamp":"2026-01-01T00:00:00Z","payload":{}}"#);
        assert_eq!(d.id.as_deref(), Some("<script>alert(1)</script>"));
        assert_eq!(
            d.organization_id.as_deref(),
            Some("<img src=x onerror=alert(1)>")
        );
    }

    #[test]
    fn envelope_round_trip_and_subject() {
        let env = Envelope {
            id: "evt_1".into(),
            organization_id: "org_123".into(),
            source: "conversations".into(),
            resource: "conversation".into(),
            resource_id: "conv_1".into(),
            event_name: "message_posted".into(),
            timestamp: "2026-11-27T10:00:00Z".into(),
            payload: serde_json::json!({"text": "hi"}),
            metadata: Metadata {
                filters: vec![("participant".into(), "part_789".into())],
                tags: vec!["vip".into()],
            },
        };
        assert_eq!(
            env.subject().unwrap(),
            "events.org_123.conversations.conversation.message_posted.conv_1.participant.part_789"
        );
        let json = serde_json::to_string(&env).unwrap();
        assert_eq!(
            json,
            r#"{"id":"evt_1","organizationId":"org_123","source":"conversations","resource":"conversation","resourceId":"conv_1","eventName":"message_posted","timestamp":"2026-11-27T10:00:00Z","payload":{"text":"hi"},"metadata":{"filters":{"participant":"part_789"},"tags":["vip"]}}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), env);
        assert!(decode(json.as_bytes()).problems.is_empty());
    }
}
