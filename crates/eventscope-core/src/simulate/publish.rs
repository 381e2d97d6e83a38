//! The paced publisher: simulated events on their subjects at a rate, for a count, a duration
//! or forever, and what it did.

use std::time::Duration;

use thiserror::Error;

use super::Simulator;
use crate::topic::TopicError;

/// How often and how fast [`run`] publishes, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Events per second; `None` publishes as fast as the connection takes them.
    pub rate_per_sec: Option<f64>,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Count(u64),
    Duration(Duration),
    Forever,
}

/// What [`run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimReport {
    pub sent: u64,
    /// Bytes of event bodies published.
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Error)]
pub enum SimError {
    #[error("invalid rate {0}: expected a positive number of events per second")]
    BadRate(f64),
    #[error("a simulated event has no valid subject")]
    Subject(#[from] TopicError),
    #[error("cannot encode a simulated event")]
    Encode(#[from] serde_json::Error),
    #[error("cannot publish on {subject}")]
    Publish {
        subject: String,
        #[source]
        source: async_nats::PublishError,
    },
    #[error("cannot flush the connection")]
    Flush(#[from] async_nats::client::FlushError),
}

/// Ticks of the pacing clock: often enough that a burst stays small, rare enough to be cheap.
const TICK: Duration = Duration::from_millis(10);

/// Publishes simulated events on their subjects as compact JSON, paced, until the limit; then
/// flushes. Dropping the future stops it between two events.
pub async fn run(
    client: &async_nats::Client,
    sim: &mut Simulator,
    pace: Pace,
) -> Result<SimReport, SimError> {
    if let Some(rate) = pace.rate_per_sec {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(SimError::BadRate(rate));
        }
    }
    let started = tokio::time::Instant::now();
    let deadline = match pace.limit {
        Limit::Duration(d) => Some(started + d),
        _ => None,
    };
    let count = match pace.limit {
        Limit::Count(n) => n,
        _ => u64::MAX,
    };
    let mut report = SimReport {
        sent: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
    };
    let before_deadline = || deadline.is_none_or(|d| tokio::time::Instant::now() < d);

    match pace.rate_per_sec {
        None => {
            while report.sent < count && before_deadline() {
                for _ in 0..(count - report.sent).min(1024) {
                    publish_one(client, sim, &mut report).await?;
                }
                // Publishing into a roomy buffer may never wait: let other tasks run.
                tokio::task::yield_now().await;
            }
        }
        Some(rate) => {
            // Slow rates tick once per event; fast ones once per TICK with a burst each.
            let period = TICK.max(Duration::from_secs_f64((1.0 / rate).min(3600.0)));
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while report.sent < count {
                match deadline {
                    Some(d) => tokio::select! {
                        _ = ticker.tick() => {}
                        _ = tokio::time::sleep_until(d) => break,
                    },
                    None => {
                        ticker.tick().await;
                    }
                }
                if !before_deadline() {
                    break;
                }
                // The budget follows the clock since the start, so the average rate is exact
                // however the ticks fall.
                let due = (rate * started.elapsed().as_secs_f64()) as u64 + 1;
                while report.sent < due.min(count) {
                    publish_one(client, sim, &mut report).await?;
                }
            }
        }
    }
    client.flush().await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn publish_one(
    client: &async_nats::Client,
    sim: &mut Simulator,
    report: &mut SimReport,
) -> Result<(), SimError> {
    let env = sim.next();
    let subject = env.subject()?;
    let body = serde_json::to_vec(&env)?;
    report.bytes += body.len() as u64;
    client
        .publish(subject.clone(), body.into())
        .await
        .map_err(|source| SimError::Publish { subject, source })?;
    report.sent += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::event::Envelope;
    use crate::simulate::tests::sim;

    /// The desktop app runs the simulation in a task of its own.
    #[allow(dead_code)]
    fn run_can_be_spawned(client: async_nats::Client, mut sim: Simulator, pace: Pace) {
        tokio::spawn(async move { run(&client, &mut sim, pace).await });
    }

    async fn received(
        subscriber: &mut async_nats::Subscriber,
        n: usize,
    ) -> Vec<async_nats::Message> {
        let mut out = Vec::new();
        while out.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await;
            out.push(
                next.expect("a message within 10 s")
                    .expect("an open subscription"),
            );
        }
        out
    }

    #[tokio::test]
    async fn run_publishes_the_count_on_each_subject_at_the_rate() {
        let server = eventscope_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();
        let mut subscriber = client.subscribe("events.>").await.unwrap();
        client.flush().await.unwrap();

        let pace = Pace {
            rate_per_sec: Some(2_000.0),
            limit: Limit::Count(300),
        };
        let report = run(&client, &mut sim(21), pace).await.unwrap();
        assert_eq!(report.sent, 300);
        assert!(
            report.elapsed >= Duration::from_millis(140),
            "{:?}",
            report.elapsed
        );

        let expected: Vec<Envelope> = sim(21).take(300).collect();
        let messages = received(&mut subscriber, 300).await;
        let bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
        assert_eq!(report.bytes, bytes as u64);
        for (message, env) in messages.iter().zip(&expected) {
            assert_eq!(message.subject.as_str(), env.subject().unwrap());
            assert_eq!(
                message.payload.as_ref(),
                serde_json::to_vec(env).unwrap().as_slice()
            );
        }
    }

    #[tokio::test]
    async fn run_stops_after_the_duration_or_as_fast_as_possible_after_the_count() {
        let server = eventscope_testkit::NatsServer::start();
        let client = async_nats::connect(server.url()).await.unwrap();

        let pace = Pace {
            rate_per_sec: Some(500.0),
            limit: Limit::Duration(Duration::from_millis(300)),
        };
        let report = run(&client, &mut sim(1), pace).await.unwrap();
        assert!((30..=151).contains(&report.sent), "{report:?}");
        assert!(report.elapsed < Duration::from_secs(2), "{report:?}");

        let pace = Pace {
            rate_per_sec: None,
            limit: Limit::Count(5_000),
        };
        assert_eq!(run(&client, &mut sim(1), pace).await.unwrap().sent, 5_000);

        let pace = Pace {
            rate_per_sec: Some(-1.0),
            limit: Limit::Forever,
        };
        let err = run(&client, &mut sim(1), pace).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid rate -1: expected a positive number of events per second"
        );
    }
}
