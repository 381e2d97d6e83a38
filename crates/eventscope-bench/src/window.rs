//! Benchmarks through the real window: the release app under Xvfb, driven over WebDriver, times
//! measured on the page's own clock (so WebDriver round trips do not count) beside the
//! publisher's.
//!
//! `window`: publish-to-visible latency at 1,000 events/s; at 10,000 events/s whether every batch
//! arrives, how often the visible rows change and the rate chart redraws, and how long a click
//! takes to select a row.
//! `composer`: from the Publish click to a rendered template; row clicks while the composer sends
//! beside row clicks while it does not.
//! `first-page`: a million held events, then the time from Enter to the first page of a new
//! result for envelope, payload and free-text queries.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use eventscope_core::simulate::Simulator;
use eventscope_testkit::{publish, NatsServer};
use eventscope_window::{connected_app, simulated, task_failed, App};
use serde_json::json;

/// Publishes `count` events at `rate` per second in bursts every 10 ms; returns each id's
/// publish time in Unix milliseconds.
async fn publish_paced(
    server: &NatsServer,
    prefix: &str,
    rate: u64,
    count: u64,
) -> Result<Vec<(String, f64)>> {
    let client = async_nats::connect(server.url()).await?;
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = Vec::with_capacity(count as usize);
    let mut n = 0;
    while n < count {
        tick.tick().await;
        for _ in 0..per_tick.min(count - n) {
            let id = format!("{prefix}_{n}");
            let (subject, body) = task_failed(
                &id,
                "org_bench",
                json!({"n": n, "text": "a realistic sentence of text for the payload, about this long"}),
            );
            client.publish(subject, body.into()).await?;
            sent.push((id, unix_ms()));
            n += 1;
        }
        client.flush().await?;
    }
    Ok(sent)
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs_f64()
        * 1000.0
}

/// Samples in order, for percentiles; the count says how many there are.
struct Samples(Vec<f64>);

impl Samples {
    fn new(mut samples: Vec<f64>) -> Samples {
        samples.sort_by(f64::total_cmp);
        Samples(samples)
    }

    fn percentile(&self, p: f64) -> String {
        match self.0.len() {
            0 => "-".into(),
            n => format!("{:.0}", self.0[((n - 1) as f64 * p).round() as usize]),
        }
    }

    /// `p50 X ms, max Y ms (N samples)`.
    fn summary(&self) -> String {
        format!(
            "p50 {} ms, max {} ms ({} samples)",
            self.percentile(0.5),
            self.percentile(1.0),
            self.0.len()
        )
    }
}

/// Records, in the page, when each event id is first rendered as a row, and how many animation
/// frames changed the visible rows.
const OBSERVE: &str = r#"
window.__seen = new Map();
window.__frames = 0;
let dirty = false;
const note = () => {
  for (const row of document.querySelectorAll('[data-testid=event-row]')) {
    const id = row.getAttribute('data-event-id');
    if (!window.__seen.has(id)) window.__seen.set(id, Date.now());
  }
  dirty = true;
};
new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-event-id'] });
const frame = () => { if (dirty) { window.__frames++; dirty = false; } requestAnimationFrame(frame); };
requestAnimationFrame(frame);
return true;
"#;

/// Clicks the middle visible row and resolves, on the page's clock, with the milliseconds until
/// it is selected and until its detail shows (null for what did not happen within 5 s).
const CLICK_AND_TIME: &str = r#"
const done = arguments[arguments.length - 1];
const rows = document.querySelectorAll('[data-testid=event-row]');
if (rows.length === 0) { done(null); return; }
const row = rows[Math.floor(rows.length / 2)];
const id = row.getAttribute('data-event-id');
const t0 = performance.now();
row.dispatchEvent(new MouseEvent('click', { bubbles: true }));
let selected = null;
const poll = () => {
  const now = performance.now();
  if (selected === null && document.querySelector(`[data-testid=event-row][data-event-id="${id}"][aria-selected=true]`)) selected = now - t0;
  const detail = document.querySelector('[data-testid=event-detail]');
  if (selected !== null && detail && detail.textContent.includes(id)) { done([selected, now - t0]); return; }
  if (now - t0 > 5000) { done([selected, null]); return; }
  requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
"#;

pub async fn responsiveness(app_path: &Path) -> Result<()> {
    let (server, app) = connected_app(app_path).await;
    app.script(OBSERVE).await;

    // 1. Publish-to-visible latency at 1,000 events/s for 10 s.
    let sent = publish_paced(&server, "lat", 1_000, 10_000).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = app.script("return Object.fromEntries(window.__seen)").await;
    let latencies = Samples::new(
        sent.iter()
            .filter_map(|(id, at)| Some(seen.get(id)?.as_f64()? - at))
            .collect(),
    );
    println!(
        "1,000 events/s: {} of {} events seen as rows; publish-to-visible p50 {} ms, p99 {} ms, max {} ms",
        latencies.0.len(),
        sent.len(),
        latencies.percentile(0.5),
        latencies.percentile(0.99),
        latencies.percentile(1.0),
    );

    // 2. 10,000 events/s for 10 s: batches, row updates, clicks.
    let read_number = |js: &'static str| {
        let app = &app;
        async move { app.script(js).await.as_f64().unwrap_or(f64::NAN) }
    };
    let batches_js = "return +document.querySelector('[data-testid=status-line]').dataset.batches";
    let redraws_js = "return +document.querySelector('[data-testid=rate-chart]').dataset.redraws";
    let redraws_before = read_number(redraws_js).await;
    let batches_before = read_number(batches_js).await;
    let frames_before = read_number("return window.__frames").await;
    let started = Instant::now();
    let publisher = {
        let url = server.url();
        tokio::spawn(async move {
            let client = async_nats::connect(url).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for n in 0..100_000u64 {
                if n % 100 == 0 {
                    tick.tick().await;
                }
                let (subject, body) =
                    task_failed(&format!("fast_{n}"), "org_bench", json!({"n": n}));
                client.publish(subject, body.into()).await?;
            }
            client.flush().await?;
            anyhow::Ok(())
        })
    };
    let (mut selected, mut detailed, mut clicks, mut timeouts) = (Vec::new(), Vec::new(), 0, 0);
    while !publisher.is_finished() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let times = app.client_execute_async(CLICK_AND_TIME).await;
        if let Some(pair) = times.as_array() {
            clicks += 1;
            // A click that did not select or show within 5 s is counted apart, not averaged.
            match (pair[0].as_f64(), pair[1].as_f64()) {
                (Some(s), Some(d)) => {
                    selected.push(s);
                    detailed.push(d);
                }
                (Some(s), None) => {
                    selected.push(s);
                    timeouts += 1;
                }
                _ => timeouts += 1,
            }
        }
        // Clicking paused the follow mode; resume so the rows keep moving.
        app.script("document.querySelector('[data-testid=pause-toggle]').textContent.includes('Resume') && document.querySelector('[data-testid=pause-toggle]').click()").await;
    }
    publisher.await??;
    let secs = started.elapsed().as_secs_f64();
    app.wait_text("count-received", "110000").await;
    let batches = read_number(batches_js).await - batches_before;
    let redraws = read_number(redraws_js).await - redraws_before;
    let missed = app
        .script("return +document.querySelector('[data-testid=status-line]').dataset.missedBatches")
        .await;
    let frames = read_number("return window.__frames").await - frames_before;
    let dropped = app.text("count-dropped").await;
    println!(
        "10,000 events/s for {secs:.1} s: {batches} batches ({:.1}/s), {missed} missed, visible rows changed in {:.1} frames/s, dropped {dropped}",
        batches / secs,
        frames / secs,
    );
    println!(
        "rate chart: {redraws} redraws ({:.1}/s) while the subject tree and lag refreshed every 2 s",
        redraws / secs
    );
    println!(
        "clicks: {clicks}, {timeouts} not done within 5 s; row selected {}; detail shown {}",
        Samples::new(selected).summary(),
        Samples::new(detailed).summary(),
    );
    app.close().await;
    Ok(())
}

/// In the page: types `query` into the search box, presses Enter, and resolves with the
/// milliseconds until the table shows rows of the new result (match count and rows both
/// updated), or with a description of what it saw instead.
const APPLY_AND_TIME: &str = r#"
const [query, expectRow, done] = arguments;
const input = document.querySelector('[data-testid=filter-input]');
const count = document.querySelector('[data-testid=match-count]');
const before = count.dataset.count;
input.value = query;
input.dispatchEvent(new Event('input', { bubbles: true }));
const t0 = performance.now();
input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
const check = () => {
  const rows = [...document.querySelectorAll('[data-testid=event-row]')];
  const shown = count.textContent.includes('match') && count.dataset.count !== before
    && rows.length > 0 && rows.every(r => r.textContent.includes(expectRow));
  if (shown) done(performance.now() - t0);
  else if (performance.now() - t0 > 20000) done(`count ${count.textContent} (${count.dataset.count}, was ${before}); ${rows.length} rows, first: ${rows[0]?.textContent}`);
  else requestAnimationFrame(check);
};
requestAnimationFrame(check);
"#;

pub async fn first_page(app_path: &Path, held: usize) -> Result<()> {
    let (server, app) = connected_app(app_path).await;
    let mut sim = Simulator::new(Default::default());
    let org = sim
        .org_ids()
        .nth(2)
        .context("the simulator has orgs")?
        .to_string();
    let client = async_nats::connect(server.url()).await?;
    for _ in 0..held.div_ceil(10_000) {
        publish(&client, &simulated(&mut sim, 10_000)).await;
    }
    let held = held.div_ceil(10_000) * 10_000;
    let deadline = Instant::now() + Duration::from_secs(120);
    while wait_digits(&app, "count-received").await != held.to_string() {
        if Instant::now() > deadline {
            bail!("the {held} events never arrived");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let queries = [
        (format!("org:{org}"), org.clone()),
        ("source:tasks event:failed".into(), "task.failed".into()),
        ("payload.status:failed".into(), String::new()),
        ("timeout".into(), String::new()),
    ];
    println!("first page after Enter, {held} events held (ms):");
    for (query, expect) in &queries {
        let mut times = Vec::new();
        for _ in 0..3 {
            let ms = app
                .client_execute_async_args(APPLY_AND_TIME, vec![json!(query), json!(expect)])
                .await;
            let Some(ms) = ms.as_f64() else {
                bail!("{query}: the result never showed: {ms}");
            };
            times.push(ms);
            app.keys_into("filter-input", "\u{E00C}").await;
            app.wait_text("match-count", &held.to_string()).await;
        }
        println!("  {query:<40} {times:.0?}");
    }
    app.close().await;
    Ok(())
}

async fn wait_digits(app: &App, testid: &str) -> String {
    app.text(testid)
        .await
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// In the page: clicks Publish and resolves with the milliseconds until the composer shows a
/// rendered template with its subject, then closes it.
const OPEN_COMPOSER_AND_TIME: &str = r#"
const done = arguments[arguments.length - 1];
const t0 = performance.now();
document.querySelector('[data-testid=publish-open]').click();
const poll = () => {
  const dialog = document.querySelector('[data-testid=publish-dialog]');
  const subject = document.querySelector('[data-testid=publish-subject]');
  if (dialog && dialog.open && subject && subject.textContent.startsWith('events.')) {
    const ms = performance.now() - t0;
    dialog.close();
    done(ms);
    return;
  }
  if (performance.now() - t0 > 5000) { done(null); return; }
  requestAnimationFrame(poll);
};
requestAnimationFrame(poll);
"#;

/// Row clicks for `seconds`, one every 400 ms: (select ms, detail ms) of each, timeouts apart.
async fn clicks_for(app: &App, seconds: u64) -> (Vec<f64>, Vec<f64>, u32) {
    let (mut selected, mut detailed, mut timeouts) = (Vec::new(), Vec::new(), 0);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let times = app.client_execute_async(CLICK_AND_TIME).await;
        match times.as_array().map(|p| (p[0].as_f64(), p[1].as_f64())) {
            Some((Some(s), Some(d))) => {
                selected.push(s);
                detailed.push(d);
            }
            _ => timeouts += 1,
        }
        app.script("document.querySelector('[data-testid=pause-toggle]').textContent.includes('Resume') && document.querySelector('[data-testid=pause-toggle]').click()").await;
    }
    (selected, detailed, timeouts)
}

pub async fn composer(app_path: &Path) -> Result<()> {
    let (server, app) = connected_app(app_path).await;
    // Background traffic so the table is moving: 1,000 events/s for the whole run.
    let traffic = {
        let url = server.url();
        tokio::spawn(async move {
            let client = async_nats::connect(url).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            for n in 0..60_000u64 {
                if n % 10 == 0 {
                    tick.tick().await;
                }
                let (subject, body) = task_failed(&format!("bg_{n}"), "org_bg", json!({"n": n}));
                client.publish(subject, body.into()).await?;
            }
            client.flush().await?;
            anyhow::Ok(())
        })
    };
    app.wait_row("bg_100").await;
    let mut opens = Vec::new();
    for _ in 0..10 {
        if let Some(ms) = app
            .client_execute_async(OPEN_COMPOSER_AND_TIME)
            .await
            .as_f64()
        {
            opens.push(ms);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "composer: opened with a rendered template in {} ({} of 10)",
        Samples::new(opens.clone()).summary(),
        opens.len()
    );

    let (quiet_s, quiet_d, quiet_t) = clicks_for(&app, 10).await;
    // A send of 20,000 at 2,000/s from the composer, then the same clicks while it runs.
    app.client_execute_async(OPEN_COMPOSER_AND_TIME).await;
    app.script("document.querySelector('[data-testid=publish-dialog]').showModal()")
        .await;
    app.fill("publish-count", "20000").await;
    app.fill("publish-rate", "2000").await;
    app.script("document.querySelector('[data-testid=publish-dialog]').close()")
        .await;
    app.script("document.querySelector('[data-testid=publish-send]').click()")
        .await;
    let (busy_s, busy_d, busy_t) = clicks_for(&app, 9).await;
    app.script("document.querySelector('[data-testid=publish-dialog]').showModal()")
        .await;
    app.wait_text_contains("publish-result", "sent 20000 of 20000")
        .await;
    let result = app.text("publish-result").await;
    traffic.abort();
    println!(
        "row clicks without a send: selected {}, detail {}, {quiet_t} timeouts",
        Samples::new(quiet_s).summary(),
        Samples::new(quiet_d).summary()
    );
    println!(
        "row clicks during the send: selected {}, detail {}, {busy_t} timeouts; the composer said {result:?}",
        Samples::new(busy_s).summary(),
        Samples::new(busy_d).summary()
    );
    app.close().await;
    Ok(())
}
