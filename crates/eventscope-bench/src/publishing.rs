//! `publish` and `scenario` benchmarks: bulk publish from a template beside a bare async-nats loop
//! publishing the same bytes, the rate a paced send holds, and a scenario of publish/expect
//! pairs while other traffic flows on the bus.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use eventscope_core::publish::{Pace, Pins, Prepared};
use eventscope_core::scenario;
use eventscope_core::simulate::{self, SimConfig, Simulator};
use eventscope_core::template::{self, Scope};
use eventscope_core::wire::ConnectionProfile;
use eventscope_testkit::NatsServer;

fn prepared() -> Result<Prepared> {
    let envelope = template::get("task.created")
        .context("the catalogue has task.created")?
        .envelope;
    Ok(Prepared::new(
        envelope,
        Vec::new(),
        Pins::default(),
        Scope::new(),
    )?)
}

/// Bulk publish (`count` events, as fast as the connection takes them, `rounds` times each way)
/// and the rate held at each of `rates`.
pub async fn publish(count: u64, rounds: usize, rates: &[f64]) -> Result<()> {
    let server = NatsServer::start();
    let client = async_nats::connect(server.url()).await?;
    let prepared = prepared()?;
    let sample = prepared.build(0)?;
    println!(
        "bulk publish of {count} task.created events of {} bytes, {rounds} rounds each way, alternating",
        sample.body.len()
    );
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        let report = prepared
            .send(
                &client,
                Pace { count, rate: None },
                &CancellationToken::new(),
                |_| {},
            )
            .await?;
        settle(&client).await?;
        anyhow::ensure!(report.sent == count, "sent {} of {count}", report.sent);
        ours.push(count as f64 / started.elapsed().as_secs_f64());

        let started = Instant::now();
        for _ in 0..count {
            client
                .publish(sample.subject.clone(), sample.body.clone())
                .await?;
        }
        client.flush().await?;
        settle(&client).await?;
        bare.push(count as f64 / started.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, b) = (median(&mut ours), median(&mut bare));
    println!("  template (fresh id and timestamp each): {o:>10.0} events/s (rounds: {ours:.0?})");
    println!("  bare async-nats loop, same bytes:       {b:>10.0} events/s (rounds: {bare:.0?})");
    println!("  ratio template/bare: {:.2}", o / b);
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..count {
        bytes += prepared.build(i)?.body.len();
    }
    println!(
        "  building alone (no publish, a buffer each): {:.0} ns an event ({bytes} bytes)",
        started.elapsed().as_nanos() as f64 / count as f64
    );

    println!("rate accuracy (2 s each; publisher: (sent-1)/elapsed, subscriber: arrivals)");
    for &rate in rates {
        let mut sub = client.subscribe("events.>").await?;
        client.flush().await?;
        let n = (rate * 2.0) as u64;
        let counter = tokio::spawn(async move {
            let mut first = None;
            let mut last = Instant::now();
            let mut got = 0u64;
            while got < n {
                match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
                    Ok(Some(_)) => {
                        last = Instant::now();
                        first.get_or_insert(last);
                        got += 1;
                    }
                    _ => break,
                }
            }
            (got, first.map(|f| last.duration_since(f)))
        });
        let report = prepared
            .send(
                &client,
                Pace {
                    count: n,
                    rate: Some(rate),
                },
                &CancellationToken::new(),
                |_| {},
            )
            .await?;
        let sent_rate = (report.sent - 1) as f64 / report.elapsed.as_secs_f64();
        let (got, span) = counter.await?;
        let seen_rate = span.map_or(0.0, |s| (got.saturating_sub(1)) as f64 / s.as_secs_f64());
        println!(
            "  R={rate:>6.0}: publisher {sent_rate:>8.1}/s ({:+.2}%), subscriber {seen_rate:>8.1}/s ({:+.2}%), received {got} of {n}",
            (sent_rate / rate - 1.0) * 100.0,
            (seen_rate / rate - 1.0) * 100.0
        );
    }
    Ok(())
}

/// Returns once the server has processed everything sent before.
async fn settle(client: &async_nats::Client) -> Result<()> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, Vec::new().into()).await?;
    client.flush().await?;
    tokio::time::timeout(Duration::from_secs(30), echo.next())
        .await
        .context("the server did not echo")?;
    Ok(())
}

/// A scenario of `pairs` publish/expect pairs (a task created, its completion expected from a
/// responder) while the simulator puts `background` other events per second on the bus.
pub async fn scenario(pairs: usize, background: f64) -> Result<()> {
    let server = NatsServer::start();
    let url = server.url();

    // The responder: the platform's task service for the benchmark's organization.
    let responder = async_nats::connect(&url).await?;
    let mut created = responder
        .subscribe("events.org_bench.tasks.task.created.>")
        .await?;
    responder.flush().await?;
    tokio::spawn(async move {
        while let Some(msg) = created.next().await {
            let Ok(mut env) = serde_json::from_slice::<Value>(&msg.payload) else {
                continue;
            };
            env["eventName"] = "completed".into();
            env["id"] = eventscope_core::publish::fresh_id().into();
            let subject = msg.subject.replace(".task.created.", ".task.completed.");
            let _ = responder
                .publish(subject, serde_json::to_vec(&env).unwrap_or_default().into())
                .await;
        }
    });

    // The other traffic.
    let noise = async_nats::connect(&url).await?;
    let stop = CancellationToken::new();
    let noise_stop = stop.clone();
    let noise_task = tokio::spawn(async move {
        let mut sim = Simulator::new(SimConfig {
            start: chrono::Utc::now(),
            ..SimConfig::default()
        });
        let pace = simulate::Pace {
            rate_per_sec: Some(background),
            limit: simulate::Limit::Forever,
        };
        tokio::select! {
            r = simulate::run(&noise, &mut sim, pace) => r.map(|r| r.sent),
            _ = noise_stop.cancelled() => Ok(0),
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut text = String::from("name: bench\nvars: { org: org_bench }\nsteps:\n");
    for k in 0..pairs {
        text.push_str(&format!(
            "  - name: create {k}\n    publish:\n      template: task.created\n      set: {{organizationId: '{{{{ vars.org }}}}', resourceId: 'task_{{{{ run.id }}}}_{k}'}}\n  - name: completed {k}\n    expect: {{filter: 'org:{{{{ vars.org }}}} name:task.completed resourceId:task_{{{{ run.id }}}}_{k}', within: 10s}}\n"
        ));
    }
    let parsed = scenario::parse(&text, &Map::new()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let profile = ConnectionProfile {
        servers: vec![url.clone()],
        ..ConnectionProfile::default()
    };
    let started = Instant::now();
    let report = scenario::run(&parsed, &profile, false, &CancellationToken::new(), |_| {}).await?;
    let elapsed = started.elapsed();
    stop.cancel();
    let _ = noise_task.await;
    let failed = report
        .steps
        .iter()
        .filter(|s| s.status != eventscope_core::wire::StepStatus::Passed)
        .count();
    let expect_ms: Vec<u64> = report
        .steps
        .iter()
        .filter(|s| s.kind == "expect")
        .map(|s| s.elapsed_ms)
        .collect();
    let mut sorted = expect_ms.clone();
    sorted.sort_unstable();
    println!(
        "scenario of {pairs} publish/expect pairs with {background:.0} other events/s: {} steps, {failed} failed, {:.1} s ({:.1} ms a pair); expect step p50 {} ms, p99 {} ms, max {} ms; subscribed to {:?}",
        report.steps.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / pairs as f64,
        sorted[sorted.len() / 2],
        sorted[sorted.len() * 99 / 100],
        sorted[sorted.len() - 1],
        report.subjects
    );
    Ok(())
}
