//! The CLI's connection to NATS for publishing: fail fast, and confirm before exiting that
//! the server has everything that was sent.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::StreamExt;

use eventscope_core::wire::ConnectionProfile;

/// How long the server may take to confirm that it has everything a command published.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The one place the CLI connects to NATS: fails fast (no retry of the first connection).
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    let profile = ConnectionProfile {
        servers: vec![url.to_string()],
        ..ConnectionProfile::default()
    };
    Ok(eventscope_core::source::nats::connect_client(&profile).await?)
}

/// Returns once the server has processed everything this client sent.
///
/// A flush only hands the bytes to the socket: after the process exits, the server may read
/// them after messages that others publish later, or lose them when the socket closes with a
/// reset. A message to the client's own inbox comes back only once the server has routed
/// everything sent before it.
pub async fn settle(client: &async_nats::Client) -> Result<()> {
    let what = "cannot confirm that the server received everything";
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.context(what)?;
    client
        .publish(inbox, Vec::new().into())
        .await
        .context(what)?;
    client.flush().await.context(what)?;
    match tokio::time::timeout(SETTLE_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => bail!("{what}: the connection closed"),
        Err(_) => bail!("{what}: no answer within {SETTLE_TIMEOUT:?}"),
    }
}
