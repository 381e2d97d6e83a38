//! Who may watch what through the gateway: the keys tokens are checked with ([`Verifier`]),
//! tokens (verify, and sign for tests and benchmarks), and the rule that a topic's organization
//! must be one of the token's.
//!
//! The accepted algorithm comes from the gateway's configuration, never from the token: HS256 for
//! a shared secret, RS256 or ES256 for a public key, each key's own for a JWK set. The header's
//! `alg` is checked before anything else, so `none` and every other algorithm fail whatever the
//! signature says. jsonwebtoken checks the signature and parses the claims; `exp` and `nbf` are
//! checked here, against the clock the caller passes.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use eventscope_core::topic::{self, TopicPattern};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Organization ids the token may watch; `"*"` means every organization.
    pub orgs: Vec<String>,
    /// Expiry, seconds since the Unix epoch. A NumericDate (RFC 7519) may have a fraction:
    /// it is read rounded down, so a token never lives longer than it says.
    #[serde(deserialize_with = "numeric_date_floor")]
    pub exp: i64,
}

/// A NumericDate (RFC 7519: a JSON number of seconds, possibly with a fraction) as whole
/// seconds, rounded down.
fn numeric_date_floor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    numeric_date(d).map(f64::floor).map(|s| s as i64)
}

/// A NumericDate rounded up, for `nbf`: a token is never accepted early.
fn numeric_date_ceil<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<NumericDate>::deserialize(d).map(|n| n.map(|n| n.0.ceil() as i64))
}

fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    NumericDate::deserialize(d).map(|n| n.0)
}

/// Any JSON number that is finite; anything else is the claim's wrong type.
struct NumericDate(f64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("i64")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why a token was refused (HTTP 401 before the upgrade).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    #[error("no token: send `Authorization: Bearer <jwt>` or `?token=<jwt>`")]
    Missing,
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {alg:?} is not accepted (only {accepted})")]
    Algorithm { alg: String, accepted: String },
    #[error("the token's key id {0:?} is not in the key set")]
    UnknownKey(String),
    #[error("the token's key is set aside: {0}")]
    UnusableKey(String),
    #[error("the token names no key id (`kid`) and the key set holds {0} keys")]
    NoKeyId(usize),
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
            TokenError::Algorithm { .. } => "unsupported_algorithm",
            TokenError::UnknownKey(_) | TokenError::UnusableKey(_) | TokenError::NoKeyId(_) => {
                "unknown_key"
            }
            TokenError::Signature => "bad_signature",
            TokenError::Claims(_) => "invalid_claims",
            TokenError::Expired { .. } => "expired_token",
        }
    }
}

/// Why the gateway's token keys cannot be used (it refuses to start).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the HS256 secret is empty")]
    EmptySecret,
    #[error("the file holds a private key; give the public key only")]
    PrivateKey,
    #[error("not a PEM public key (RSA, or EC on P-256)")]
    NotAPublicKey,
    #[error("the key is an EC key on {0}; only P-256 (ES256) is accepted")]
    Curve(String),
    #[error("the key is not a valid {0:?} key")]
    Unusable(Algorithm),
    #[error("not a JWK set: {0}")]
    NotAKeySet(String),
    #[error("the key set holds no usable signing key{}", set_aside_list(.0))]
    NoSigningKey(Vec<String>),
}

fn set_aside_list(set_aside: &[String]) -> String {
    if set_aside.is_empty() {
        String::new()
    } else {
        format!(" ({})", set_aside.join("; "))
    }
}

/// Where a [`Verifier`]'s keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    Secret,
    PublicKey,
    KeySet,
}

/// One key and the one algorithm it accepts.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl Key {
    fn new(kid: Option<String>, alg: Algorithm, key: DecodingKey) -> Result<Key, KeyError> {
        // The crypto provider parses an EC key when it builds a verifier: a key that is not a
        // point on the curve is refused here, at startup, rather than at every token.
        if jsonwebtoken::crypto::verify("", b"", &key, alg).is_err() {
            return Err(KeyError::Unusable(alg));
        }
        let mut validation = Validation::new(alg);
        // The clock is the caller's: `verify` checks `exp` and `nbf` itself.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        // `aud` is not part of the protocol, and a token carrying one was always accepted.
        validation.validate_aud = false;
        Ok(Key {
            kid,
            alg,
            key,
            validation,
        })
    }
}

/// The keys tokens are checked with, from the gateway's configuration (exactly one source).
/// Each key accepts one algorithm, set by the key; the token's header only has to agree.
#[derive(Clone)]
pub struct Verifier {
    source: KeySource,
    keys: Vec<Key>,
    /// The algorithms of `keys`, for refusals ("RS256, ES256").
    accepted: String,
    /// Keys of a set that could not be used.
    set_aside: Vec<SetAside>,
}

/// The key material stays out: only where the keys came from, their ids and algorithms.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| (k.kid.as_deref(), k.alg))
            .collect();
        let mut out = f.debug_struct("Verifier");
        out.field("source", &self.source).field("keys", &keys);
        if !self.set_aside.is_empty() {
            let set_aside: Vec<_> = self.set_aside.iter().map(|k| k.kid.as_deref()).collect();
            out.field("set_aside", &set_aside);
        }
        out.finish()
    }
}

impl Verifier {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Result<Verifier, KeyError> {
        let key = DecodingKey::from_secret(secret).map_err(|_| KeyError::EmptySecret)?;
        Ok(Verifier::new(
            KeySource::Secret,
            vec![Key::new(None, Algorithm::HS256, key)?],
        ))
    }

    /// A PEM public key: RS256 for an RSA key, ES256 for an EC key on P-256.
    pub fn public_key(pem: &[u8]) -> Result<Verifier, KeyError> {
        if String::from_utf8_lossy(pem).contains("PRIVATE KEY-----") {
            return Err(KeyError::PrivateKey);
        }
        let key = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            Key::new(None, Algorithm::RS256, key)?
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            // An uncompressed point's length says the curve: 1 + 2 coordinates.
            let curve = match key.try_get_as_bytes().map_or(0, <[u8]>::len) {
                65 => None,
                97 => Some("P-384"),
                133 => Some("P-521"),
                _ => Some("a curve of unknown size"),
            };
            if let Some(curve) = curve {
                return Err(KeyError::Curve(curve.into()));
            }
            Key::new(None, Algorithm::ES256, key)?
        } else {
            return Err(KeyError::NotAPublicKey);
        };
        Ok(Verifier::new(KeySource::PublicKey, vec![key]))
    }

    /// A JWK set (RFC 7517): a token's `kid` picks the key, and the key's type its algorithm,
    /// RS256 for RSA and ES256 for EC P-256. Keys whose `use` is not `sig` are left out.
    ///
    /// A signing key the gateway cannot verify with (another curve, a symmetric key, an `alg`
    /// that disagrees with the key, a repeated or missing `kid`) is set aside rather than
    /// refused: identity providers publish keys of several kinds and rotate them, and one
    /// unusable key must not stop the gateway. [`Verifier::set_aside`] names them (the gateway
    /// logs it at startup), and a token that names one is refused with the reason.
    pub fn key_set(json: &[u8]) -> Result<Verifier, KeyError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| KeyError::NotAKeySet(e.to_string()))?;
        let signing: Vec<_> = set
            .keys
            .iter()
            .filter(|jwk| {
                matches!(
                    jwk.common.public_key_use,
                    None | Some(PublicKeyUse::Signature)
                )
            })
            .collect();
        let mut keys: Vec<Key> = Vec::with_capacity(signing.len());
        let mut set_aside = Vec::new();
        for (index, jwk) in signing.iter().enumerate() {
            let kid = jwk.common.key_id.clone();
            match set_key(jwk, kid.clone(), signing.len(), &keys) {
                Ok(key) => keys.push(key),
                Err(problem) => set_aside.push(SetAside {
                    key: match &kid {
                        Some(kid) => format!("{kid:?}"),
                        None => format!("number {}", index + 1),
                    },
                    kid,
                    problem,
                }),
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoSigningKey(
                set_aside.iter().map(SetAside::to_string).collect(),
            ));
        }
        let mut verifier = Verifier::new(KeySource::KeySet, keys);
        verifier.set_aside = set_aside;
        Ok(verifier)
    }

    /// The keys of a set that cannot be used, each with why (empty for other sources).
    pub fn set_aside(&self) -> impl Iterator<Item = String> + '_ {
        self.set_aside.iter().map(SetAside::to_string)
    }

    fn new(source: KeySource, keys: Vec<Key>) -> Verifier {
        let mut algs: Vec<Algorithm> = Vec::new();
        for key in &keys {
            if !algs.contains(&key.alg) {
                algs.push(key.alg);
            }
        }
        let accepted = algs
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        Verifier {
            source,
            keys,
            accepted,
            set_aside: Vec::new(),
        }
    }

    /// The key for a token whose header names `kid`: the only key, or in a set the one with
    /// that id (a set of one needs no id).
    fn key_for(&self, kid: Option<&str>) -> Result<&Key, TokenError> {
        if self.source != KeySource::KeySet {
            return Ok(&self.keys[0]);
        }
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or_else(|| {
                    match self
                        .set_aside
                        .iter()
                        .find(|k| k.kid.as_deref() == Some(kid))
                    {
                        Some(aside) => TokenError::UnusableKey(aside.to_string()),
                        None => TokenError::UnknownKey(kid.to_string()),
                    }
                }),
            None if self.keys.len() == 1 => Ok(&self.keys[0]),
            None => Err(TokenError::NoKeyId(self.keys.len())),
        }
    }
}

/// One signing key of a JWK set as a [`Key`], or why it cannot be one.
fn set_key(jwk: &Jwk, kid: Option<String>, signing: usize, usable: &[Key]) -> Result<Key, String> {
    if kid.is_none() && signing > 1 {
        return Err("has no `kid`, which a set of several keys needs".into());
    }
    if usable.iter().any(|k| k.kid == kid) {
        return Err("appears twice; the first is used".into());
    }
    let (kind, alg) =
        match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => ("an RSA key", Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                ("an EC P-256 key", Algorithm::ES256)
            }
            AlgorithmParameters::EllipticCurve(ec) => {
                let curve = match ec.curve {
                    EllipticCurve::P384 => "P-384",
                    EllipticCurve::P521 => "P-521",
                    EllipticCurve::Ed25519 => "Ed25519",
                    _ => "an unknown curve",
                };
                return Err(KeyError::Curve(curve.into()).to_string());
            }
            _ => return Err(
                "is neither RSA nor EC; only RSA (RS256) and EC P-256 (ES256) keys are accepted"
                    .into(),
            ),
        };
    if let Some(declared) = jwk.common.key_algorithm {
        if declared != KeyAlgorithm::from(alg) {
            return Err(format!(
                "its `alg` is {declared} but {kind} is verified with {alg:?}"
            ));
        }
    }
    DecodingKey::from_jwk(jwk)
        .map_err(|_| KeyError::Unusable(alg))
        .and_then(|key| Key::new(kid, alg, key))
        .map_err(|e| e.to_string())
}

/// A key of a JWK set that the gateway does not verify with, and why.
#[derive(Debug, Clone)]
struct SetAside {
    /// How the key is named in messages: its `kid`, or its place in the set.
    key: String,
    kid: Option<String>,
    problem: String,
}

impl fmt::Display for SetAside {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {} of the set: {}", self.key, self.problem)
    }
}

/// The header as far as is needed to refuse an algorithm jsonwebtoken has no name for (`none`).
#[derive(Deserialize)]
struct AlgName {
    alg: String,
    /// Only looked at when it is a string: any other type is refused with the whole header.
    kid: Option<serde_json::Value>,
}

/// The one claim read besides [`Claims`]: RFC 7519's not-before, checked against the caller's
/// clock like `exp`.
#[derive(Deserialize)]
struct NotBefore {
    #[serde(default, deserialize_with = "numeric_date_ceil")]
    nbf: Option<i64>,
}

/// Checks the token's form, algorithm, key, signature, claims, expiry and not-before, in that
/// order.
pub fn verify(token: &str, verifier: &Verifier, now_secs: i64) -> Result<Claims, TokenError> {
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
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("the header is not base64url JSON with an `alg`"))?;
    let header_json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|_| malformed("the header is not base64url JSON with an `alg`"))?;
    // serde reads a struct from an array too; a JOSE header is an object (RFC 7515).
    if !header_json.is_object() {
        return Err(malformed("the header is not a JSON object"));
    }
    let name: AlgName = serde_json::from_value(header_json)
        .map_err(|_| malformed("the header is not base64url JSON with an `alg`"))?;
    // A key the set holds but the gateway set aside explains the refusal better than its
    // algorithm would.
    if let Some(serde_json::Value::String(kid)) = &name.kid {
        if let Some(aside) = verifier
            .set_aside
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
        {
            return Err(TokenError::UnusableKey(aside.to_string()));
        }
    }
    let refuse = |accepted: &str| TokenError::Algorithm {
        alg: name.alg.clone(),
        accepted: accepted.to_string(),
    };
    let alg = Algorithm::from_str(&name.alg)
        .ok()
        .filter(|alg| verifier.keys.iter().any(|k| k.alg == *alg))
        .ok_or_else(|| refuse(&verifier.accepted))?;
    // Read here, not left to `decode`, so that its JSON errors can only be the claims'.
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| TokenError::Malformed(format!("the header is not a JWT header: {e}")))?;
    let key = verifier.key_for(header.kid.as_deref())?;
    if key.alg != alg {
        let kid = key.kid.as_deref().unwrap_or_default();
        return Err(refuse(&format!("{:?} for key {kid:?}", key.alg)));
    }
    let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
        .map_err(|e| match e.into_kind() {
            ErrorKind::Json(e) => TokenError::Claims(e.to_string()),
            ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                if URL_SAFE_NO_PAD.decode(signature).is_err() {
                    malformed("the signature is not base64url")
                } else {
                    malformed("the payload is not base64url")
                }
            }
            // The shape was checked above; what is left is a `crit` or `b64` it does not support.
            ErrorKind::InvalidToken => malformed("the header's `crit` or `b64` is not supported"),
            // A wrong signature, or one that cannot be one (an ECDSA signature of another
            // length): no key vouches for the token.
            _ => TokenError::Signature,
        })?
        .claims;
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
    // `decode` has read this payload already: it is base64url JSON.
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| TokenError::Claims(e.to_string()))?;
    // serde reads a struct from an array of the right length too; a claims set is an object.
    if !serde_json::from_slice::<serde_json::Value>(&payload).is_ok_and(|v| v.is_object()) {
        return Err(TokenError::Claims(
            "the claims are not a JSON object".into(),
        ));
    }
    let not_before: NotBefore =
        serde_json::from_slice(&payload).map_err(|e| TokenError::Claims(e.to_string()))?;
    if let Some(nbf) = not_before.nbf.filter(|nbf| *nbf > now_secs) {
        return Err(TokenError::Claims(format!(
            "`nbf` {nbf} is in the future (now {now_secs}, seconds since the epoch)"
        )));
    }
    Ok(claims)
}

/// An HS256 token for `claims` (tests, benchmarks, and issuing tokens for a gateway).
///
/// Panics on an empty secret, which no gateway accepts.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret).expect("an HS256 secret is not empty");
    sign_with(claims, Algorithm::HS256, None, &key)
}

/// A token for `claims` under `alg`, naming `kid` when given, signed with `key` (a secret for
/// HS256, a private key for RS256 and ES256).
///
/// Panics when the key is not of `alg`'s kind.
pub fn sign_with(claims: &Claims, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(String::from);
    jsonwebtoken::encode(&header, claims, key).expect("the key fits the algorithm")
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
        let key = EncodingKey::from_secret(secret).unwrap();
        let signature = jsonwebtoken::crypto::sign(signed.as_bytes(), &key, Algorithm::HS256);
        format!("{signed}.{}", signature.unwrap())
    }

    const RSA_PUBLIC: &[u8] = include_bytes!("../tests/keys/rsa-public.pem");
    const EC_PUBLIC: &[u8] = include_bytes!("../tests/keys/ec-public.pem");
    const JWKS: &[u8] = include_bytes!("../tests/keys/jwks.json");

    /// The private key of `tests/keys/{name}` for `alg`.
    fn private(name: &str, alg: Algorithm) -> EncodingKey {
        let pem =
            std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        }
    }

    /// `claims` under `alg`, naming `kid`, signed with the private key `tests/keys/{name}`.
    fn signed(claims: &Claims, alg: Algorithm, kid: Option<&str>, name: &str) -> String {
        sign_with(claims, alg, kid, &private(name, alg))
    }

    /// `alg: none` over these claims, with `kid` in the header when given.
    fn unsigned(claims: &Claims, kid: Option<&str>) -> String {
        let header = match kid {
            Some(kid) => format!(r#"{{"alg":"none","kid":"{kid}"}}"#),
            None => r#"{"alg":"none"}"#.to_string(),
        };
        format!(
            "{}.{}.",
            b64(&header),
            b64(&serde_json::to_string(claims).unwrap())
        )
    }

    fn check_token(verifier: &Verifier, token: &str, expected: Result<&Claims, &str>) {
        let got = verify(token, verifier, NOW).map_err(|e| format!("{}: {e}", e.code()));
        assert_eq!(
            got.as_ref(),
            expected.map_err(|s| s.to_string()).as_ref().copied()
        );
    }

    #[test]
    fn tokens() {
        let hs = Verifier::hs256(SECRET).unwrap();
        let good = claims(&["org_1", "org_2"], NOW + 60);
        let payload = serde_json::to_string(&good).unwrap();
        check_token(&hs, &sign(&good, SECRET), Ok(&good));
        check_token(&hs, &format!(" {} ", sign(&good, SECRET)), Ok(&good));
        check_token(
            &hs,
            "",
            Err("missing_token: no token: send `Authorization: Bearer <jwt>` or `?token=<jwt>`"),
        );
        check_token(
            &hs,
            "abc",
            Err("malformed_token: the token is not a JWT: expected three dot-separated parts"),
        );
        check_token(
            &hs,
            "a.b.c.d",
            Err("malformed_token: the token is not a JWT: expected three dot-separated parts"),
        );
        check_token(
            &hs,
            "%%.b.c",
            Err("malformed_token: the token is not a JWT: the header is not base64url JSON with an `alg`"),
        );
        check_token(
            &hs,
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
            &hs,
            &tampered,
            Err("bad_signature: the token's signature does not match"),
        );
        check_token(
            &hs,
            &format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&payload)),
            Err(
                r#"unsupported_algorithm: the token's algorithm "none" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS512"}"#, &payload, SECRET),
            Err(
                r#"unsupported_algorithm: the token's algorithm "HS512" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"RS256"}"#, &payload, SECRET),
            Err(
                r#"unsupported_algorithm: the token's algorithm "RS256" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &hs,
            &sign(&claims(&["org_1"], NOW), SECRET),
            Err("expired_token: the token expired at 1800000000 (now 1800000000, seconds since the epoch)"),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256"}"#, r#"{"sub":"u","exp":1900000000}"#, SECRET),
            Err("invalid_claims: the token's claims are invalid: missing field `orgs` at line 1 column 28"),
        );
        check_token(
            &hs,
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
            &hs,
            &forged(r#"{"alg":"HS256"}"#, "[]", SECRET),
            Err("invalid_claims: the token's claims are invalid: invalid length 0, expected struct Claims with 3 elements at line 1 column 2"),
        );
        // RFC 7519's not-before, against the same clock as `exp`.
        let with = |extra: &str| format!(r#"{{"sub":"u","orgs":[],"exp":1900000000{extra}}}"#);
        let u = Claims {
            sub: "u".into(),
            orgs: vec![],
            exp: 1_900_000_000,
        };
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256"}"#, &with(r#","nbf":1800000001"#), SECRET),
            Err("invalid_claims: the token's claims are invalid: `nbf` 1800000001 is in the future (now 1800000000, seconds since the epoch)"),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256"}"#, &with(r#","nbf":1800000000"#), SECRET),
            Ok(&u),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256"}"#, &with(r#","nbf":"soon""#), SECRET),
            Err(
                r#"invalid_claims: the token's claims are invalid: invalid type: string "soon", expected i64 at line 1 column 50"#,
            ),
        );
        // Claims the protocol does not use are ignored, `aud` included.
        check_token(
            &hs,
            &forged(
                r#"{"alg":"HS256"}"#,
                &with(r#","aud":"elsewhere","iat":1"#),
                SECRET,
            ),
            Ok(&u),
        );
        // Header fields other than `alg` are ignored, as long as JWT's own have their types.
        check_token(
            &hs,
            &forged(
                r#"{"alg":"HS256","typ":"JWT","kid":"any","x":[1]}"#,
                &with(""),
                SECRET,
            ),
            Ok(&u),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256","kid":5}"#, &with(""), SECRET),
            Err("malformed_token: the token is not a JWT: the header is not a JWT header: invalid type: integer `5`, expected a string at line 1 column 22"),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256","crit":["exp"]}"#, &with(""), SECRET),
            Err("malformed_token: the token is not a JWT: the header's `crit` or `b64` is not supported"),
        );
        check_token(
            &hs,
            &format!("{}.{}.%%", b64(r#"{"alg":"HS256"}"#), b64(&with(""))),
            Err("malformed_token: the token is not a JWT: the signature is not base64url"),
        );
        check_token(
            &hs,
            &forged(r#"{"alg":"hs256"}"#, &payload, SECRET),
            Err(
                r#"unsupported_algorithm: the token's algorithm "hs256" is not accepted (only HS256)"#,
            ),
        );
        check_token(
            &hs,
            &signed(&good, Algorithm::ES256, None, "ec-private.pem"),
            Err(
                r#"unsupported_algorithm: the token's algorithm "ES256" is not accepted (only HS256)"#,
            ),
        );
        // A JWT's claims are a JSON object: the array form, which serde alone would take, is
        // refused by jsonwebtoken's own reading of the claims.
        check_token(
            &hs,
            &forged(r#"{"alg":"HS256"}"#, r#"["u",[],1900000000]"#, SECRET),
            Err("invalid_claims: the token's claims are invalid: invalid length 3, expected struct ClaimsForValidation with 5 elements at line 1 column 19"),
        );
    }

    #[test]
    fn public_keys() {
        let rsa = Verifier::public_key(RSA_PUBLIC).unwrap();
        let ec = Verifier::public_key(EC_PUBLIC).unwrap();
        let good = claims(&["org_1"], NOW + 60);
        let (rs256, es256) = (Algorithm::RS256, Algorithm::ES256);
        check_token(
            &rsa,
            &signed(&good, rs256, None, "rsa-private.pem"),
            Ok(&good),
        );
        // A `kid` means nothing to a single key.
        check_token(
            &rsa,
            &signed(&good, rs256, Some("x"), "rsa-private.pem"),
            Ok(&good),
        );
        check_token(
            &rsa,
            &signed(&good, rs256, None, "rsa-other-private.pem"),
            Err("bad_signature: the token's signature does not match"),
        );
        check_token(
            &rsa,
            &signed(&claims(&["org_1"], NOW), rs256, None, "rsa-private.pem"),
            Err("expired_token: the token expired at 1800000000 (now 1800000000, seconds since the epoch)"),
        );
        check_token(
            &ec,
            &signed(&good, es256, None, "ec-private.pem"),
            Ok(&good),
        );
        check_token(
            &ec,
            &signed(&good, es256, None, "ec-other-private.pem"),
            Err("bad_signature: the token's signature does not match"),
        );
        // An ECDSA signature of the wrong length is no signature.
        let valid = signed(&good, es256, None, "ec-private.pem");
        check_token(
            &ec,
            &format!("{}AAAA", valid),
            Err("bad_signature: the token's signature does not match"),
        );
        // Algorithm confusion: HMAC keyed with the public key, which anyone has.
        for (verifier, pem, only) in [(&rsa, RSA_PUBLIC, "RS256"), (&ec, EC_PUBLIC, "ES256")] {
            check_token(
                verifier,
                &sign(&good, pem),
                Err(&format!(
                    r#"unsupported_algorithm: the token's algorithm "HS256" is not accepted (only {only})"#
                )),
            );
            check_token(
                verifier,
                &unsigned(&good, None),
                Err(&format!(
                    r#"unsupported_algorithm: the token's algorithm "none" is not accepted (only {only})"#
                )),
            );
        }
        check_token(
            &rsa,
            &signed(&good, es256, None, "ec-private.pem"),
            Err(
                r#"unsupported_algorithm: the token's algorithm "ES256" is not accepted (only RS256)"#,
            ),
        );
        check_token(
            &ec,
            &signed(&good, rs256, None, "rsa-private.pem"),
            Err(
                r#"unsupported_algorithm: the token's algorithm "RS256" is not accepted (only ES256)"#,
            ),
        );
    }

    #[test]
    fn key_sets() {
        let set = Verifier::key_set(JWKS).unwrap();
        let good = claims(&["org_1"], NOW + 60);
        let (rs256, es256) = (Algorithm::RS256, Algorithm::ES256);
        let rsa_kid = Some("rsa-2026");
        check_token(
            &set,
            &signed(&good, rs256, rsa_kid, "rsa-private.pem"),
            Ok(&good),
        );
        check_token(
            &set,
            &signed(&good, es256, Some("ec-2026"), "ec-private.pem"),
            Ok(&good),
        );
        check_token(
            &set,
            &signed(&good, rs256, Some("rsa-2025"), "rsa-private.pem"),
            Err(r#"unknown_key: the token's key id "rsa-2025" is not in the key set"#),
        );
        check_token(
            &set,
            &signed(&good, rs256, None, "rsa-private.pem"),
            Err("unknown_key: the token names no key id (`kid`) and the key set holds 2 keys"),
        );
        // A token naming a key the set holds but the gateway set aside says why.
        let p384 = Verifier::key_set(&jwks_with(|keys| keys[1]["crv"] = "P-384".into())).unwrap();
        check_token(
            &p384,
            &signed(&good, es256, Some("ec-2026"), "ec-private.pem"),
            Err(
                r#"unknown_key: the token's key is set aside: key "ec-2026" of the set: the key is an EC key on P-384; only P-256 (ES256) is accepted"#,
            ),
        );
        // The key decides the algorithm: the EC key's id on an RS256 token is refused.
        check_token(
            &set,
            &signed(&good, rs256, Some("ec-2026"), "rsa-private.pem"),
            Err(
                r#"unsupported_algorithm: the token's algorithm "RS256" is not accepted (only ES256 for key "ec-2026")"#,
            ),
        );
        check_token(
            &set,
            &signed(&good, rs256, rsa_kid, "rsa-other-private.pem"),
            Err("bad_signature: the token's signature does not match"),
        );
        check_token(
            &set,
            &signed(&claims(&["org_1"], NOW - 1), rs256, rsa_kid, "rsa-private.pem"),
            Err("expired_token: the token expired at 1799999999 (now 1800000000, seconds since the epoch)"),
        );
        // Algorithm confusion, with and without the RSA key's id.
        let hmac_with_public_key = |kid: Option<&str>| {
            sign_with(
                &good,
                Algorithm::HS256,
                kid,
                &EncodingKey::from_secret(RSA_PUBLIC).unwrap(),
            )
        };
        for token in [hmac_with_public_key(None), hmac_with_public_key(rsa_kid)] {
            check_token(
                &set,
                &token,
                Err(
                    r#"unsupported_algorithm: the token's algorithm "HS256" is not accepted (only RS256, ES256)"#,
                ),
            );
        }
        check_token(
            &set,
            &unsigned(&good, rsa_kid),
            Err(
                r#"unsupported_algorithm: the token's algorithm "none" is not accepted (only RS256, ES256)"#,
            ),
        );
        // With a single key, a token need not name it.
        let mut one: serde_json::Value = serde_json::from_slice(JWKS).unwrap();
        one["keys"].as_array_mut().unwrap().truncate(1);
        let one = Verifier::key_set(one.to_string().as_bytes()).unwrap();
        check_token(
            &one,
            &signed(&good, rs256, None, "rsa-private.pem"),
            Ok(&good),
        );
        check_token(
            &one,
            &signed(&good, es256, Some("ec-2026"), "ec-private.pem"),
            Err(
                r#"unsupported_algorithm: the token's algorithm "ES256" is not accepted (only RS256)"#,
            ),
        );
    }

    fn check_keys(loaded: Result<Verifier, KeyError>, expected: Result<&str, &str>) {
        let got = loaded.map(|v| format!("{v:?}")).map_err(|e| e.to_string());
        assert_eq!(got.as_deref().map_err(String::as_str), expected);
    }

    fn check_set_aside(jwks: &[u8], expected: &[&str]) {
        let verifier = Verifier::key_set(jwks).unwrap();
        assert_eq!(verifier.set_aside().collect::<Vec<_>>(), expected);
    }

    /// The JWK set of `tests/keys/jwks.json` with its keys changed by `edit`.
    fn jwks_with(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Vec<u8> {
        let mut set: serde_json::Value = serde_json::from_slice(JWKS).unwrap();
        edit(set["keys"].as_array_mut().unwrap());
        set.to_string().into_bytes()
    }

    #[test]
    fn key_sources() {
        // The secret never shows in Debug output.
        check_keys(
            Verifier::hs256(b"s3cret-value"),
            Ok("Verifier { source: Secret, keys: [(None, HS256)] }"),
        );
        check_keys(Verifier::hs256(b""), Err("the HS256 secret is empty"));
        check_keys(
            Verifier::public_key(RSA_PUBLIC),
            Ok("Verifier { source: PublicKey, keys: [(None, RS256)] }"),
        );
        check_keys(
            Verifier::public_key(EC_PUBLIC),
            Ok("Verifier { source: PublicKey, keys: [(None, ES256)] }"),
        );
        check_keys(
            Verifier::public_key(include_bytes!("../tests/keys/ec-p384-public.pem")),
            Err("the key is an EC key on P-384; only P-256 (ES256) is accepted"),
        );
        check_keys(
            Verifier::public_key(include_bytes!("../tests/keys/rsa-private.pem")),
            Err("the file holds a private key; give the public key only"),
        );
        check_keys(
            Verifier::public_key(b"ssh-rsa AAAA"),
            Err("not a PEM public key (RSA, or EC on P-256)"),
        );
        check_keys(
            Verifier::key_set(JWKS),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256), (Some("ec-2026"), ES256)] }"#,
            ),
        );
        check_keys(
            Verifier::key_set(b"{}"),
            Err("not a JWK set: missing field `keys` at line 1 column 2"),
        );
        // Keys for another use than signatures are left out.
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[1]["use"] = "enc".into())),
            Ok(r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256)] }"#),
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| {
                for key in keys.iter_mut() {
                    key["use"] = "enc".into();
                }
            })),
            Err("the key set holds no usable signing key"),
        );
        // A key the gateway cannot use is set aside, and said; the others still serve.
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[0]["alg"] = "ES256".into())),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("ec-2026"), ES256)], set_aside: [Some("rsa-2026")] }"#,
            ),
        );
        check_set_aside(
            &jwks_with(|keys| keys[0]["alg"] = "ES256".into()),
            &[
                r#"key "rsa-2026" of the set: its `alg` is ES256 but an RSA key is verified with RS256"#,
            ],
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[1]["alg"] = "ES256".into())),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256), (Some("ec-2026"), ES256)] }"#,
            ),
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| {
                keys[1].as_object_mut().unwrap().remove("kid");
            })),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256)], set_aside: [None] }"#,
            ),
        );
        check_set_aside(
            &jwks_with(|keys| {
                keys[1].as_object_mut().unwrap().remove("kid");
            }),
            &["key number 2 of the set: has no `kid`, which a set of several keys needs"],
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[1]["kid"] = "rsa-2026".into())),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256)], set_aside: [Some("rsa-2026")] }"#,
            ),
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[1]["crv"] = "P-384".into())),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256)], set_aside: [Some("ec-2026")] }"#,
            ),
        );
        check_keys(
            Verifier::key_set(&jwks_with(|keys| {
                keys.push(serde_json::json!({"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}))
            })),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256), (Some("ec-2026"), ES256)], set_aside: [Some("shared")] }"#,
            ),
        );
        // A point that is not on P-256.
        check_keys(
            Verifier::key_set(&jwks_with(|keys| keys[1]["y"] = keys[1]["x"].clone())),
            Ok(
                r#"Verifier { source: KeySet, keys: [(Some("rsa-2026"), RS256)], set_aside: [Some("ec-2026")] }"#,
            ),
        );
        // Nothing usable left: the gateway cannot start, and says why for each key.
        check_keys(
            Verifier::key_set(&jwks_with(|keys| {
                keys[0]["alg"] = "ES256".into();
                keys[1]["crv"] = "P-384".into();
            })),
            Err(
                r#"the key set holds no usable signing key (key "rsa-2026" of the set: its `alg` is ES256 but an RSA key is verified with RS256; key "ec-2026" of the set: the key is an EC key on P-384; only P-256 (ES256) is accepted)"#,
            ),
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
