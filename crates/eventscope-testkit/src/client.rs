//! What tests do beside a server: publish messages and wait for what should follow.

use std::time::{Duration, Instant};

/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `done` holds, looking every 20 ms; panics naming `what` after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Publishes `(subject, body)` messages in order and returns once they are flushed to the
/// server.
pub async fn publish<'a>(
    client: &async_nats::Client,
    messages: impl IntoIterator<Item = &'a (String, Vec<u8>)>,
) {
    for (subject, body) in messages {
        client
            .publish(subject.clone(), body.clone().into())
            .await
            .unwrap_or_else(|e| panic!("cannot publish on {subject}: {e}"));
    }
    client.flush().await.expect("cannot flush to the server");
}
