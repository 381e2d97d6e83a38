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

/// Creates the JetStream stream `name` capturing `subjects` (file storage, in the server's
/// temporary directory).
pub async fn create_stream(client: &async_nats::Client, name: &str, subjects: &[&str]) {
    async_nats::jetstream::new(client.clone())
        .create_stream(async_nats::jetstream::stream::Config {
            name: name.to_string(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("cannot create the stream {name}: {e}"));
}

/// Publishes `(subject, body)` messages in order through JetStream, waiting for every
/// acknowledgement (acks are awaited in batches of 256); the stream sequences in order.
pub async fn publish_stored<'a>(
    client: &async_nats::Client,
    messages: impl IntoIterator<Item = &'a (String, Vec<u8>)>,
) -> Vec<u64> {
    let js = async_nats::jetstream::new(client.clone());
    let mut seqs = Vec::new();
    let mut pending = Vec::with_capacity(256);
    let mut messages = messages.into_iter().peekable();
    while messages.peek().is_some() {
        for (subject, body) in messages.by_ref().take(256) {
            let ack = js
                .publish(subject.clone(), body.clone().into())
                .await
                .unwrap_or_else(|e| panic!("cannot publish on {subject}: {e}"));
            pending.push(ack);
        }
        for ack in pending.drain(..) {
            seqs.push(
                ack.await
                    .expect("JetStream did not store a message")
                    .sequence,
            );
        }
    }
    seqs
}
