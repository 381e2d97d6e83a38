//! The platform's topic scheme: building subjects from envelopes, parsing them, matching patterns.
//!
//! `events.{orgId}.{source}.{resource}.{event}.{resourceId}[.{key}.{value}...]`, with NATS
//! wildcards: `*` is exactly one token, `>` one or more trailing tokens.

use thiserror::Error;

/// The first token of every platform subject.
pub const PREFIX: &str = "events";

/// Why a subject, pattern or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error("{what} is empty")]
    EmptyToken { what: String },
    #[error("{what} {token:?} contains {bad:?}, which a subject token cannot hold")]
    BadToken {
        what: String,
        token: String,
        bad: char,
    },
    #[error("invalid subject pattern {pattern:?}: {reason}")]
    BadPattern {
        pattern: String,
        reason: &'static str,
    },
}

/// Checks that `token` can stand as one token of a concrete subject.
///
/// `what` names the token in the error (`organizationId`, `metadata filter key`, ...).
pub fn check_token(what: &str, token: &str) -> Result<(), TopicError> {
    if token.is_empty() {
        return Err(TopicError::EmptyToken {
            what: what.to_string(),
        });
    }
    if let Some(bad) = token
        .chars()
        .find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
    {
        return Err(TopicError::BadToken {
            what: what.to_string(),
            token: token.to_string(),
            bad,
        });
    }
    Ok(())
}

/// The parts of a subject that the platform's scheme gives names to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectParts<'a> {
    pub org: &'a str,
    pub source: &'a str,
    pub resource: &'a str,
    pub event: &'a str,
    pub resource_id: &'a str,
    /// Metadata filters as (key, value) pairs, in subject order. A trailing key without a value
    /// is dropped.
    pub filters: Vec<(&'a str, &'a str)>,
}

/// Reads the named segments of a platform subject; `None` when it is not one.
pub fn parse(subject: &str) -> Option<SubjectParts<'_>> {
    let mut tokens = subject.split('.');
    if tokens.next()? != PREFIX {
        return None;
    }
    let org = tokens.next()?;
    let source = tokens.next()?;
    let resource = tokens.next()?;
    let event = tokens.next()?;
    let resource_id = tokens.next()?;
    let rest: Vec<&str> = tokens.collect();
    let filters = rest.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect();
    Some(SubjectParts {
        org,
        source,
        resource,
        event,
        resource_id,
        filters,
    })
}

/// The segments an envelope contributes to its subject.
#[derive(Debug, Clone, Copy)]
pub struct SubjectSpec<'a> {
    pub org: &'a str,
    pub source: &'a str,
    pub resource: &'a str,
    pub event: &'a str,
    pub resource_id: &'a str,
}

/// Builds the subject an event is published on; every token is checked, never mangled.
pub fn build<'a>(
    spec: SubjectSpec<'_>,
    filters: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, TopicError> {
    let mut subject = String::with_capacity(96);
    subject.push_str(PREFIX);
    for (what, token) in [
        ("organizationId", spec.org),
        ("source", spec.source),
        ("resource", spec.resource),
        ("eventName", spec.event),
        ("resourceId", spec.resource_id),
    ] {
        check_token(what, token)?;
        subject.push('.');
        subject.push_str(token);
    }
    for (key, value) in filters {
        check_token("metadata filter key", key)?;
        check_token(&format!("metadata filter {key:?}"), value)?;
        subject.push('.');
        subject.push_str(key);
        subject.push('.');
        subject.push_str(value);
    }
    Ok(subject)
}

/// A NATS subject pattern (`*` one token, `>` the rest), validated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    text: String,
    tokens: Vec<PatternToken>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternToken {
    Literal(String),
    One,
    Rest,
}

impl TopicPattern {
    pub fn parse(pattern: &str) -> Result<TopicPattern, TopicError> {
        let bad = |reason| TopicError::BadPattern {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("it is empty"));
        }
        let raw: Vec<&str> = pattern.split('.').collect();
        let mut tokens = Vec::with_capacity(raw.len());
        for (i, token) in raw.iter().enumerate() {
            tokens.push(match *token {
                "" => return Err(bad("it has an empty token")),
                "*" => PatternToken::One,
                ">" if i + 1 == raw.len() => PatternToken::Rest,
                ">" => return Err(bad("`>` may only be the last token")),
                t if t.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                    return Err(bad("a token contains whitespace"))
                }
                t if t.contains(['*', '>']) => return Err(bad("a wildcard must be a whole token")),
                t => PatternToken::Literal(t.to_string()),
            });
        }
        Ok(TopicPattern {
            text: pattern.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `subject` (a concrete subject) is one the pattern selects.
    pub fn matches(&self, subject: &str) -> bool {
        let mut subject_tokens = subject.split('.');
        for token in &self.tokens {
            match token {
                PatternToken::Rest => return subject_tokens.next().is_some(),
                PatternToken::One => {
                    if subject_tokens.next().is_none() {
                        return false;
                    }
                }
                PatternToken::Literal(lit) => {
                    if subject_tokens.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        subject_tokens.next().is_none()
    }
}

impl std::fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_match(pattern: &str, subject: &str, expected: bool) {
        let p = TopicPattern::parse(pattern).unwrap();
        assert_eq!(p.matches(subject), expected, "{pattern} vs {subject}");
    }

    #[test]
    fn matching() {
        check_match("events.>", "events.org_1.tasks.task.created.t_1", true);
        check_match("events.>", "events", false);
        check_match(
            "events.*.tasks.>",
            "events.org_1.tasks.task.failed.t_9",
            true,
        );
        check_match("events.*.tasks.>", "events.org_1.flows.flow.run.f_1", false);
        check_match(
            "events.org_123.conversations.conversation.message_posted.*",
            "events.org_123.conversations.conversation.message_posted.conv_1",
            true,
        );
        // `*` is exactly one token: metadata filters make the subject longer.
        check_match(
            "events.org_123.conversations.conversation.message_posted.*",
            "events.org_123.conversations.conversation.message_posted.conv_1.participant.p_1",
            false,
        );
        check_match(
            "events.*.apps.app.event_received.app_456",
            "events.org_9.apps.app.event_received.app_456",
            true,
        );
        check_match("events.org_1", "events.org_1.x", false);
        check_match("a.b", "a.b", true);
        check_match("a.*", "a", false);
    }

    fn check_pattern_error(pattern: &str, expected: &str) {
        let err = TopicPattern::parse(pattern).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn invalid_patterns() {
        check_pattern_error("", r#"invalid subject pattern "": it is empty"#);
        check_pattern_error(
            "events..x",
            r#"invalid subject pattern "events..x": it has an empty token"#,
        );
        check_pattern_error(
            "events.>.x",
            r#"invalid subject pattern "events.>.x": `>` may only be the last token"#,
        );
        check_pattern_error(
            "events.org*",
            r#"invalid subject pattern "events.org*": a wildcard must be a whole token"#,
        );
        check_pattern_error(
            "events.a b",
            r#"invalid subject pattern "events.a b": a token contains whitespace"#,
        );
    }

    fn spec<'a>(org: &'a str, resource_id: &'a str) -> SubjectSpec<'a> {
        SubjectSpec {
            org,
            source: "conversations",
            resource: "conversation",
            event: "message_posted",
            resource_id,
        }
    }

    #[test]
    fn building() {
        assert_eq!(
            build(spec("org_123", "conv_1"), []).unwrap(),
            "events.org_123.conversations.conversation.message_posted.conv_1"
        );
        assert_eq!(
            build(spec("org_123", "conv_1"), [("participant", "part_789"), ("channel", "web")]).unwrap(),
            "events.org_123.conversations.conversation.message_posted.conv_1.participant.part_789.channel.web"
        );
        let err = |s: SubjectSpec, f: Vec<(&str, &str)>| build(s, f).unwrap_err().to_string();
        assert_eq!(
            err(spec("org.1", "c"), vec![]),
            r#"organizationId "org.1" contains '.', which a subject token cannot hold"#
        );
        assert_eq!(
            err(spec("org_1", "conv 1"), vec![]),
            r#"resourceId "conv 1" contains ' ', which a subject token cannot hold"#
        );
        assert_eq!(
            err(spec("org_1", "*"), vec![]),
            r#"resourceId "*" contains '*', which a subject token cannot hold"#
        );
        assert_eq!(err(spec("", "c"), vec![]), "organizationId is empty");
        assert_eq!(
            err(spec("o", "c"), vec![("participant", "a>b")]),
            r#"metadata filter "participant" "a>b" contains '>', which a subject token cannot hold"#
        );
    }

    #[test]
    fn parsing() {
        let parts = parse("events.org_1.tasks.task.failed.t_1.owner.u_1.team").unwrap();
        assert_eq!(
            parts,
            SubjectParts {
                org: "org_1",
                source: "tasks",
                resource: "task",
                event: "failed",
                resource_id: "t_1",
                filters: vec![("owner", "u_1")],
            }
        );
        assert_eq!(parse("events.org_1.tasks.task.failed"), None);
        assert_eq!(parse("other.org_1.tasks.task.failed.t_1"), None);
    }
}
