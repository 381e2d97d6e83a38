//! Who may watch what through the gateway: HS256 tokens (verify and sign) and the rule that a
//! topic's organization must be one of the token's.
//!
//! Only HS256 is accepted; the header's `alg` is checked before anything else, so `none` and
//! every other algorithm fail whatever the signature says.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

use eventscope_core::topic::{self, TopicPattern};

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Organization ids the token may watch; `"*"` means every organization.
    pub orgs: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// Why a token was refused (HTTP 401 before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("no token: send `Authorization: Bearer <jwt>` or `?token=<jwt>`")]
    Missing,
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted (only HS256)")]
    Algorithm(String),
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token's claims are invalid: {0}")]
    Claims(String),
    #[error("the token expired at {exp} (now {now}, seconds since the epoch)")]
    Expired { exp: i64, now: i64 },
}

impl TokenError {
    /// The `code` of the 401 answer.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Missing => "missing_token",
            TokenError::Malformed(_) => "malformed_token",
            TokenError::Algorithm(_) => "unsupported_algorithm",
            TokenError::Signature => "bad_signature",
            TokenError::Claims(_) => "invalid_claims",
            TokenError::Expired { .. } => "expired_token",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// Checks the token's form, algorithm, signature, claims and expiry, in that order.
pub fn verify(token: &str, secret: &[u8], now_secs: i64) -> Result<Claims, TokenError> {
    let malformed = |what: &str| TokenError::Malformed(what.to_string());
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| malformed("the header is not base64url JSON with an `alg`"))?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm(header.alg));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| malformed("the signature is not base64url"))?;
    let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    let mut check = mac(secret);
    check.update(&token.as_bytes()[..signed_len]);
    check
        .verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not base64url"))?;
    let claims: Claims =
        serde_json::from_slice(&payload).map_err(|e| TokenError::Claims(e.to_string()))?;
    if claims.sub.is_empty() {
        return Err(TokenError::Claims("`sub` is empty".into()));
    }
    if let Some(bad) = claims
        .orgs
        .iter()
        .find(|o| *o != "*" && topic::check_token("org", o).is_err())
    {
        return Err(TokenError::Claims(format!(
            "{bad:?} in `orgs` is not an organization id"
        )));
    }
    if claims.exp <= now_secs {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now: now_secs,
        });
    }
    Ok(claims)
}

/// An HS256 token for `claims` (tests, benchmarks, and issuing tokens for a gateway).
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims always serialize"));
    let signed = format!("{header}.{payload}");
    let mut m = mac(secret);
    m.update(signed.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signed}.{signature}")
}

/// Why a topic was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicRefusal {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
}

/// What a token lets its holder watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    every_org: bool,
    orgs: Vec<String>,
}

impl Grant {
    pub fn new(orgs: &[String]) -> Grant {
        Grant {
            every_org: orgs.iter().any(|o| o == "*"),
            orgs: orgs.iter().filter(|o| *o != "*").cloned().collect(),
        }
    }

    pub fn every_org(&self) -> bool {
        self.every_org
    }

    /// The subject pattern for `topic` when the grant allows it.
    ///
    /// A topic must be `events.{org}...`: the first token literally `events`, the second the
    /// organization. A wildcard in the organization's place (`events.*...`, `events.>`) could
    /// match any organization, so only a grant of every organization may use one.
    pub fn authorize(&self, topic: &str) -> Result<TopicPattern, TopicRefusal> {
        let pattern =
            TopicPattern::parse(topic).map_err(|e| TopicRefusal::Invalid(e.to_string()))?;
        // The pattern is validated: its tokens are `*`, `>` or literals.
        let mut tokens = pattern.as_str().split('.');
        if tokens.next() != Some(topic::PREFIX) {
            return Err(TopicRefusal::Invalid(format!(
                "topic {topic:?} does not start with `{}.`",
                topic::PREFIX
            )));
        }
        let Some(org) = tokens.next() else {
            return Err(TopicRefusal::Invalid(format!(
                "topic {topic:?} names no organization (`{}.{{orgId}}...`)",
                topic::PREFIX
            )));
        };
        if self.every_org {
            return Ok(pattern);
        }
        if org == "*" || org == ">" {
            return Err(TopicRefusal::Forbidden(format!(
                "topic {topic:?} has a wildcard for the organization; the token allows only {}",
                self.describe()
            )));
        }
        if !self.orgs.iter().any(|o| o == org) {
            return Err(TopicRefusal::Forbidden(format!(
                "the token does not allow organization {org:?} (it allows {})",
                self.describe()
            )));
        }
        Ok(pattern)
    }

    /// True when an event on `subject` may reach the holder: a second check at delivery, so a
    /// mistake in [`Grant::authorize`] alone cannot leak another organization's event.
    pub fn allows_subject(&self, subject: &str) -> bool {
        if self.every_org {
            return true;
        }
        let mut tokens = subject.split('.');
        tokens.next() == Some(topic::PREFIX)
            && tokens
                .next()
                .is_some_and(|org| self.orgs.iter().any(|o| o == org))
    }

    fn describe(&self) -> String {
        if self.orgs.is_empty() {
            "no organization".into()
        } else {
            self.orgs.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    const SECRET: &[u8] = b"test secret";
    const NOW: i64 = 1_800_000_000;

    fn claims(orgs: &[&str], exp: i64) -> Claims {
        Claims {
            sub: "u_1".into(),
            orgs: orgs.iter().map(|s| s.to_string()).collect(),
            exp,
        }
    }

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    /// A token with this header and payload JSON, signed with HMAC-SHA256 of `secret`.
    fn forged(header: &str, payload: &str, secret: &[u8]) -> String {
        let signed = format!("{}.{}", b64(header), b64(payload));
        let mut m = mac(secret);
        m.update(signed.as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    }

    fn check_token(token: &str, expected: Result<&Claims, &str>) {
        let got = verify(token, SECRET, NOW).map_err(|e| format!("{}: {e}", e.code()));
        assert_eq!(
            got.as_ref(),
            expected.map_err(|s| s.to_string()).as_ref().copied()
        );
    }

    #[test]
    fn tokens() {
        let good = claims(&["org_1", "org_2"], NOW + 60);
        let payload = serde_json::to_string(&good).unwrap();
        check_token(&sign(&good, SECRET), Ok(&good));
        check_token(&format!(" {} ", sign(&good, SECRET)), Ok(&good));
        check_token(
            "",
            Err("missing_token: no token: send `Authorization: Bearer <jwt>` or `?token=<jwt>`"),
        );
        check_token(
            "abc",
            Err("malformed_token: the token is not a JWT: expected three dot-separated parts"),
        );
        check_token(
            "a.b.c.d",
            Err("malformed_token: the token is not a JWT: expected three dot-separated parts"),
        );
        check_token(
            "%%.b.c",
            Err("malformed_token: the token is not a JWT: the header is not base64url JSON with an `alg`"),
        );
        check_token(
            &sign(&good, b"another secret"),
            Err("bad_signature: the token's signature does not match"),
        );
        // The payload swapped for another organization's keeps the signature of the first.
        let original = sign(&good, SECRET);
        let parts: Vec<&str> = original.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&payload.replace("org_2", "org_3")),
            parts[2]
        );
        check_token(
            &tampered,
            Err("bad_signature: the token's signature does not match"),
        );
        check_token(
            &format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&payload)),
            Err(
                r#"unsupported_algorithm: the token's algorithm "none" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &forged(r#"{"alg":"HS512"}"#, &payload, SECRET),
            Err(
                r#"unsupported_algorithm: the token's algorithm "HS512" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &forged(r#"{"alg":"RS256"}"#, &payload, SECRET),
            Err(
                r#"unsupported_algorithm: the token's algorithm "RS256" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &sign(&claims(&["org_1"], NOW), SECRET),
            Err("expired_token: the token expired at 1800000000 (now 1800000000, seconds since the epoch)"),
        );
        check_token(
            &forged(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":1900000000}"#, SECRET),
            Err("invalid_claims: the token's claims are invalid: missing field `orgs` at line 1 column 28"),
        );
        check_token(
            &forged(
                r#"{"alg":"HS256"}"#,
                r#"{"sub":"u","orgs":["a.b"],"exp":1900000000}"#,
                SECRET,
            ),
            Err(
                r#"invalid_claims: the token's claims are invalid: "a.b" in `orgs` is not an organization id"#,
            ),
        );
        check_token(
            &forged(r#"{"alg":"HS256"}"#, "[]", SECRET),
            Err("invalid_claims: the token's claims are invalid: invalid length 0, expected struct Claims with 3 elements at line 1 column 2"),
        );
    }

    fn check_topic(orgs: &[&str], topic: &str, expected: Result<(), &str>) {
        let grant = Grant::new(&orgs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let got = grant.authorize(topic).map(|_| ()).map_err(|e| match e {
            TopicRefusal::Invalid(m) => format!("invalid_topic: {m}"),
            TopicRefusal::Forbidden(m) => format!("forbidden: {m}"),
        });
        assert_eq!(got, expected.map_err(String::from), "{orgs:?} {topic}");
    }

    #[test]
    fn topics_by_organization() {
        let o1 = &["org_1"][..];
        check_topic(o1, "events.org_1.>", Ok(()));
        check_topic(o1, "events.org_1.tasks.task.failed.*", Ok(()));
        check_topic(o1, "events.org_1", Ok(()));
        check_topic(
            o1,
            "events.org_2.>",
            Err(r#"forbidden: the token does not allow organization "org_2" (it allows org_1)"#),
        );
        check_topic(
            o1,
            "events.*.apps.app.event_received.app_456",
            Err(
                r#"forbidden: topic "events.*.apps.app.event_received.app_456" has a wildcard for the organization; the token allows only org_1"#,
            ),
        );
        check_topic(
            o1,
            "events.>",
            Err(
                r#"forbidden: topic "events.>" has a wildcard for the organization; the token allows only org_1"#,
            ),
        );
        check_topic(
            o1,
            ">",
            Err(r#"invalid_topic: topic ">" does not start with `events.`"#),
        );
        check_topic(
            o1,
            "*.org_1.>",
            Err(r#"invalid_topic: topic "*.org_1.>" does not start with `events.`"#),
        );
        check_topic(
            o1,
            "events",
            Err(r#"invalid_topic: topic "events" names no organization (`events.{orgId}...`)"#),
        );
        check_topic(
            o1,
            "events.org_1*.>",
            Err(
                r#"invalid_topic: invalid subject pattern "events.org_1*.>": a wildcard must be a whole token"#,
            ),
        );
        check_topic(
            o1,
            "events.org_1 .>",
            Err(
                r#"invalid_topic: invalid subject pattern "events.org_1 .>": a token contains whitespace"#,
            ),
        );
        check_topic(
            &[],
            "events.org_1.>",
            Err(
                r#"forbidden: the token does not allow organization "org_1" (it allows no organization)"#,
            ),
        );
        check_topic(&["*"], "events.>", Ok(()));
        check_topic(&["*"], "events.*.tasks.>", Ok(()));
        check_topic(&["org_1", "*"], "events.org_9.>", Ok(()));
        check_topic(
            &["*"],
            "other.>",
            Err(r#"invalid_topic: topic "other.>" does not start with `events.`"#),
        );
    }

    /// Random topics built from the pieces that could fool a check (wildcards, look-alike org
    /// ids, empty tokens, spaces, unicode), checked against subjects of several organizations.
    #[test]
    fn an_org_1_token_never_authorizes_a_topic_that_matches_another_org() {
        let pieces = [
            "events",
            "org_1",
            "org_2",
            "org_10",
            "org_",
            "ORG_1",
            "*",
            ">",
            "",
            " ",
            "org_1 ",
            "org_1*",
            "org_1>",
            "tasks",
            "task",
            "failed",
            "t_1",
            "é",
            "\u{0}",
            "\t",
            "events.",
            "org_1.org_2",
            ".",
        ];
        let subjects = [
            "events.org_1.tasks.task.failed.t_1",
            "events.org_2.tasks.task.failed.t_1",
            "events.org_10.tasks.task.failed.t_1",
            "events.org_2.org_1.task.failed.t_1",
            "events.org_2",
            "events.org_2.x",
            "events.ORG_1.tasks.task.failed.t_1",
            "events.org_2.tasks.task.failed.t_1.owner.org_1",
            "events.é.tasks",
            "other.org_1.tasks",
        ];
        let grant = Grant::new(&["org_1".to_string()]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let (mut allowed, mut total) = (0, 0);
        for _ in 0..20_000 {
            let len = rng.random_range(1..8);
            let topic: Vec<&str> = (0..len)
                .map(|i| {
                    // Lean towards platform-shaped topics so many are allowed.
                    match (i, rng.random_range(0..4)) {
                        (0, 0..=2) => "events",
                        (1, 0..=1) => "org_1",
                        _ => pieces[rng.random_range(0..pieces.len())],
                    }
                })
                .collect();
            let topic = topic.join(".");
            total += 1;
            let Ok(pattern) = grant.authorize(&topic) else {
                continue;
            };
            allowed += 1;
            for subject in subjects {
                if pattern.matches(subject) {
                    assert!(
                        subject.starts_with("events.org_1."),
                        "{topic:?} was allowed and matches {subject:?}"
                    );
                    assert!(grant.allows_subject(subject));
                }
            }
        }
        // The generator must reach both sides of the rule for the test to mean anything.
        assert!(
            allowed > 1_000 && allowed < total - 1_000,
            "{allowed} of {total}"
        );
    }

    #[test]
    fn delivery_check_by_subject() {
        let one = Grant::new(&["org_1".to_string()]);
        assert!(one.allows_subject("events.org_1.tasks.task.created.t_1"));
        assert!(!one.allows_subject("events.org_2.tasks.task.created.t_1"));
        assert!(!one.allows_subject("events.org_10.tasks.task.created.t_1"));
        assert!(!one.allows_subject("other.org_1.x"));
        assert!(!one.allows_subject("events"));
        let all = Grant::new(&["*".to_string()]);
        assert!(all.every_org());
        assert!(all.allows_subject("events.org_2.tasks.task.created.t_1"));
    }
}
