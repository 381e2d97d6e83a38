//! `eventscope-screenshot`: writes the README's screenshot, the release app on simulated
//! traffic with a query applied and one event selected (`./dev screenshot`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use eventscope_core::simulate::{SimConfig, Simulator};
use eventscope_testkit::publish;
use eventscope_window::{connected_app, sibling_app, simulated};

#[tokio::main]
async fn main() -> Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "docs/screenshot.png".into()),
    );
    let (server, app) = connected_app(&sibling_app()).await;
    let mut sim = Simulator::new(SimConfig::default());
    let mut messages = simulated(&mut sim, 3000);
    // One message that is not an envelope, to show how it is flagged.
    messages.push((
        "events.org_demo.apps.app.event_received.app_1".into(),
        b"<html>not json</html>".to_vec(),
    ));
    messages.extend(simulated(&mut sim, 40));
    let client = async_nats::connect(server.url())
        .await
        .context("cannot connect to the test server")?;
    publish(&client, &messages).await;
    app.wait_text("count-received", "3041").await;
    app.fill("filter-input", "source:tasks,flows -event:created\u{E007}")
        .await;
    app.wait_text_contains("match-count", "matches").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let rows = app.rows().await;
    rows[rows.len().saturating_sub(8)]
        .click()
        .await
        .context("cannot click a row")?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let png = app.screenshot().await;
    std::fs::write(&out, png).with_context(|| format!("cannot write {}", out.display()))?;
    app.close().await;
    println!("wrote {}", out.display());
    Ok(())
}
