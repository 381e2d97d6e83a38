//! `simulate`: realistic platform traffic, paced, from the core's simulator.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;

use eventscope_core::simulate::{self, Limit, Pace, SimConfig, Simulator};

use crate::args::SimulateArgs;
use crate::bus;

pub async fn run(args: SimulateArgs) -> Result<()> {
    crate::publish::refuse_when_read_only()?;
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        bail!(
            "invalid --rate {}: expected events per second, or 0 for as fast as possible",
            args.rate
        );
    }
    if args.orgs == 0 {
        bail!("invalid --orgs 0: expected at least one organization");
    }
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(secs)) => Limit::Duration(
            Duration::try_from_secs_f64(secs)
                .with_context(|| format!("invalid --duration {secs}"))?,
        ),
        (None, None) => Limit::Forever,
    };
    let rate = (args.rate > 0.0).then_some(args.rate);
    let seed = args.seed.unwrap_or_else(rand::random);
    let url = &args.server.nats_url;
    let client = bus::connect(url).await?;
    let mut sim = Simulator::new(SimConfig {
        seed,
        orgs: args.orgs,
        start: Utc::now(),
    });
    if let Some(rate) = rate {
        // Timestamps then keep pace with the wall clock.
        sim.set_mean_gap(Duration::from_secs_f64(1.0 / rate));
    }
    let report = simulate::run(
        &client,
        &mut sim,
        Pace {
            rate_per_sec: rate,
            limit,
        },
    )
    .await
    .context("simulation stopped")?;
    bus::settle(&client).await?;
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "simulated {} events ({} bytes) for {} organizations in {secs:.2}s ({:.0}/s) to {url}, seed {seed}",
        report.sent,
        report.bytes,
        args.orgs,
        report.sent as f64 / secs.max(1e-9),
    );
    Ok(())
}
