//! History from JetStream against a real nats-server 2.9 with `-js`: time windows, following
//! into live events, the stream that is not there.

use chrono::{DateTime, Utc};
use eventscope_core::filter::Filter;
use eventscope_core::history::{HistoryMessage, HistoryQuery, HistoryReader};
use eventscope_testkit::{create_stream, publish_stored, NatsServer};

/// `n` envelopes alternating between org_1 and org_2 (and a task of org_1 every fourth).
fn events(from: usize, n: usize) -> Vec<(String, Vec<u8>)> {
    (from..from + n)
        .map(|i| {
            let org = if i % 2 == 0 { "org_1" } else { "org_2" };
            let (source, resource, name) = if i % 4 == 0 {
                ("tasks", "task", "failed")
            } else {
                ("flows", "flow", "run")
            };
            let subject = format!("events.{org}.{source}.{resource}.{name}.r_{i}");
            let body = format!(
                r#"{{"id":"ev_{i}","organizationId":"{org}","source":"{source}","resource":"{resource}","resourceId":"r_{i}","eventName":"{name}","timestamp":"2026-01-31T14:00:00Z","payload":{{"n":{i}}}}}"#
            );
            (subject, body.into_bytes())
        })
        .collect()
}

/// Reads until the reader ends; (seq, subject) of each message.
async fn read_all(mut reader: HistoryReader) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    while let Some(message) = reader.next().await {
        let HistoryMessage { seq, subject, .. } = message.unwrap();
        out.push((seq, subject));
    }
    out
}

async fn check(client: &async_nats::Client, query: HistoryQuery, expected: Vec<(u64, String)>) {
    let reader = HistoryReader::open(client.clone(), query).await.unwrap();
    assert_eq!(reader.stream(), "EVENTS");
    assert_eq!(read_all(reader).await, expected);
}

#[tokio::test]
async fn a_time_window_is_exactly_the_orgs_events_in_it_in_stream_order() {
    let server = NatsServer::start_with_jetstream();
    let client = async_nats::connect(server.url()).await.unwrap();
    create_stream(&client, "EVENTS", &["events.>"]).await;
    create_stream(&client, "ORDERS", &["orders.>"]).await;
    let mut sent = Vec::new();
    for round in 0..3 {
        let batch = events(round * 40, 40);
        let seqs = publish_stored(&client, &batch).await;
        sent.extend(seqs.into_iter().zip(batch.into_iter().map(|(s, _)| s)));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    // The window is picked by the stream's own receive times.
    let stream = async_nats::jetstream::new(client.clone())
        .get_stream("EVENTS")
        .await
        .unwrap();
    let mut times = Vec::new();
    for (seq, _) in &sent {
        let stored = stream.get_raw_message(*seq).await.unwrap();
        times.push(DateTime::<Utc>::from_timestamp_nanos(
            stored.time.unix_timestamp_nanos() as i64,
        ));
    }
    let (t1, t2) = (times[40], times[79]);
    let in_window = |lo: DateTime<Utc>, hi: Option<DateTime<Utc>>, org: &str| {
        sent.iter()
            .zip(&times)
            .filter(|((_, subject), t)| {
                subject.starts_with(&format!("events.{org}."))
                    && **t >= lo
                    && hi.is_none_or(|hi| **t <= hi)
            })
            .map(|(m, _)| m.clone())
            .collect::<Vec<_>>()
    };

    let mut window = HistoryQuery::new("events.org_1.>", t1);
    window.until = Some(t2);
    check(&client, window.clone(), in_window(t1, Some(t2), "org_1")).await;
    // To the end of the stream.
    check(
        &client,
        HistoryQuery::new("events.org_1.>", t1),
        in_window(t1, None, "org_1"),
    )
    .await;
    // A filter narrows the consumer's subject, and is applied to each event.
    let mut tasks = HistoryQuery::new("events.org_1.>", times[0]);
    tasks.filter = Some(Filter::parse("source:tasks -payload.n:8").unwrap());
    let reader = HistoryReader::open(client.clone(), tasks).await.unwrap();
    assert_eq!(reader.subject(), "events.org_1.tasks.>");
    let expected: Vec<_> = in_window(times[0], None, "org_1")
        .into_iter()
        .filter(|(_, s)| s.contains(".tasks.") && !s.ends_with(".r_8"))
        .collect();
    assert_eq!(read_all(reader).await, expected);
    // Nothing in the range: an empty read that ends.
    let later = HistoryQuery::new("events.org_1.>", Utc::now() + chrono::Duration::hours(1));
    check(&client, later, Vec::new()).await;
}

#[tokio::test]
async fn follow_joins_live_with_no_gap_and_no_duplicate() {
    let server = NatsServer::start_with_jetstream();
    let client = async_nats::connect(server.url()).await.unwrap();
    create_stream(&client, "EVENTS", &["events.>"]).await;
    let before = events(0, 400);
    let mut sent: Vec<(u64, String)> = publish_stored(&client, &before)
        .await
        .into_iter()
        .zip(before.into_iter().map(|(s, _)| s))
        .collect();

    let mut query = HistoryQuery::new("events.org_1.>", Utc::now() - chrono::Duration::hours(1));
    query.follow = true;
    let mut reader = HistoryReader::open(client.clone(), query).await.unwrap();
    // Live events keep arriving while history is read.
    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for round in 0..10 {
                let batch = events(400 + round * 60, 60);
                let seqs = publish_stored(&client, &batch).await;
                sent.extend(seqs.into_iter().zip(batch.into_iter().map(|(s, _)| s)));
            }
            sent
        })
    };
    let mut got = Vec::new();
    let mut caught_up_at = None;
    while got.len() < 500 {
        let message = reader.next().await.unwrap().unwrap();
        got.push((message.seq, message.subject));
        if caught_up_at.is_none() && reader.caught_up() {
            caught_up_at = Some(got.len());
        }
    }
    sent.extend(publisher.await.unwrap());
    let expected: Vec<_> = sent
        .into_iter()
        .filter(|(_, s)| s.starts_with("events.org_1."))
        .collect();
    assert_eq!(expected.len(), 500);
    assert_eq!(got, expected);
    assert!(caught_up_at.is_some_and(|at| at >= 200), "{caught_up_at:?}");
}

#[tokio::test]
async fn no_stream_for_the_subject_is_a_clear_error() {
    let server = NatsServer::start_with_jetstream();
    let client = async_nats::connect(server.url()).await.unwrap();
    create_stream(&client, "ORDERS", &["orders.>"]).await;
    let since = Utc::now();
    let error = |query| {
        let client = client.clone();
        async move {
            HistoryReader::open(client, query)
                .await
                .err()
                .expect("no reader")
                .to_string()
        }
    };
    assert_eq!(
        error(HistoryQuery::new("events.org_1.>", since)).await,
        "no JetStream stream holds events.org_1.>"
    );
    let mut named = HistoryQuery::new("events.org_1.>", since);
    named.stream = Some("ORDERS".into());
    assert_eq!(
        error(named.clone()).await,
        "the JetStream stream ORDERS holds no subject of events.org_1.> (it holds orders.>)"
    );
    named.stream = Some("NOPE".into());
    assert_eq!(
        error(named).await,
        "the JetStream stream NOPE does not exist"
    );
}
