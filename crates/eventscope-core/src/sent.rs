//! Marks what this process publishes, so its own events are told apart when they come back.
//!
//! Each message Eventscope publishes carries the header `Eventscope-Sent` with a token drawn
//! once per process; an event received with that header and token is one this Eventscope sent.
//! A header rather than a set of sent ids: nothing to bound or forget, and an event replayed
//! with the same id by someone else is not mistaken for ours.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use rand::Rng;

/// The header every message this process publishes carries.
pub const HEADER: &str = "Eventscope-Sent";

/// This process's token: 12 random hex digits.
pub fn mark() -> &'static str {
    static MARK: OnceLock<String> = OnceLock::new();
    MARK.get_or_init(|| format!("{:012x}", rand::rng().random::<u64>() & 0xffff_ffff_ffff))
}

static MARKING: AtomicBool = AtomicBool::new(false);

/// Marks every message this process publishes from now on. The app does (its table shows what
/// it sent); the CLI does not, since no one but itself could recognise its token and a bulk
/// send should not pay for a header.
pub fn mark_outgoing() {
    MARKING.store(true, Ordering::Relaxed);
}

/// The headers a message this process publishes carries, when it marks them.
pub fn headers() -> Option<async_nats::HeaderMap> {
    MARKING.load(Ordering::Relaxed).then(|| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HEADER, mark());
        headers
    })
}

/// Whether headers stored as `name\0value\0` pairs carry this process's mark.
pub fn is_ours(raw_headers: &[u8]) -> bool {
    if raw_headers.is_empty() {
        return false;
    }
    let mut parts = raw_headers.split(|b| *b == 0);
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        if name.eq_ignore_ascii_case(HEADER.as_bytes()) && value == mark().as_bytes() {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], expected: bool) {
        let raw: Vec<u8> = headers
            .iter()
            .flat_map(|(k, v)| [k.as_bytes(), b"\0", v.as_bytes(), b"\0"].concat())
            .collect();
        assert_eq!(is_ours(&raw), expected, "{headers:?}");
    }

    #[test]
    fn only_our_mark_makes_an_event_ours() {
        check(&[], false);
        check(&[(HEADER, mark())], true);
        check(&[("Trace", "x"), ("eventscope-sent", mark())], true);
        check(&[(HEADER, "000000000000")], false);
        check(&[("Other", mark())], false);
        assert_eq!(mark().len(), 12);
        assert_eq!(mark(), mark());
    }
}
