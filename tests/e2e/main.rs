//! End-to-end tests of the built desktop app: tauri-driver with WebKitWebDriver under Xvfb,
//! driven over WebDriver, against a real nats-server. Build with `--features custom-protocol`
//! so the binary embeds `ui/dist`.

mod app;

use std::time::Duration;

use app::App;
use eventscope_testkit::NatsServer;
use serde_json::json;

fn envelope(id: &str, org: &str, payload: serde_json::Value) -> (String, Vec<u8>) {
    let body = json!({
        "id": id,
        "organizationId": org,
        "source": "tasks",
        "resource": "task",
        "resourceId": format!("task_{id}"),
        "eventName": "failed",
        "timestamp": "2026-11-27T10:00:00.000Z",
        "payload": payload,
        "metadata": {"filters": {}, "tags": ["e2e"]},
    });
    (
        format!("events.{org}.tasks.task.failed.task_{id}"),
        serde_json::to_vec(&body).unwrap(),
    )
}

async fn publish(server: &NatsServer, messages: &[(String, Vec<u8>)]) {
    let client = async_nats::connect(server.url()).await.unwrap();
    for (subject, body) in messages {
        client
            .publish(subject.clone(), body.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_appear_and_selecting_one_shows_its_payload() {
    let server = NatsServer::start();
    let app = App::launch(&server.url()).await;
    app.wait_connected().await;

    let events: Vec<_> = (0..20)
        .map(|i| {
            envelope(
                &format!("evt_{i}"),
                "org_e2e",
                json!({"error": format!("boom number {i}"), "attempt": 3}),
            )
        })
        .collect();
    publish(&server, &events).await;

    app.wait_text("count-received", "20").await;
    let row = app.wait_row("evt_19").await;
    row.click().await.unwrap();
    let detail = app
        .wait_text_contains("event-detail", "boom number 19")
        .await;
    assert!(
        detail.contains("events.org_e2e.tasks.task.failed.task_evt_19"),
        "{detail}"
    );
    assert_eq!(app.text("count-dropped").await, "0");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_json_appears_flagged() {
    let server = NatsServer::start();
    let app = App::launch(&server.url()).await;
    app.wait_connected().await;
    publish(
        &server,
        &[(
            "events.org_x.apps.app.event_received.app_1".to_string(),
            b"this is <b>not</b> JSON".to_vec(),
        )],
    )
    .await;
    app.wait_text("count-received", "1").await;
    let rows = app.rows().await;
    assert_eq!(rows.len(), 1);
    let text = app
        .script("return document.querySelector('[data-testid=event-row]').textContent")
        .await;
    let text = text.as_str().unwrap();
    assert!(text.contains("not JSON"), "{text}");
    assert!(
        text.contains("org_x"),
        "subject tokens stand in for the missing fields: {text}"
    );
    rows[0].click().await.unwrap();
    app.wait_text_contains("event-detail", "this is <b>not</b> JSON")
        .await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_lose_nothing() {
    let server = NatsServer::start();
    let app = App::launch(&server.url()).await;
    app.wait_connected().await;
    let first: Vec<_> = (0..30)
        .map(|i| envelope(&format!("a_{i}"), "org_p", json!({"n": i})))
        .collect();
    publish(&server, &first).await;
    app.wait_row("a_29").await;

    app.click("pause-toggle").await;
    let more: Vec<_> = (0..200)
        .map(|i| envelope(&format!("b_{i}"), "org_p", json!({"n": i})))
        .collect();
    publish(&server, &more).await;
    app.wait_text("count-received", "230").await;
    // Paused, the view stays where it was.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app.row("b_199").await.is_none(),
        "paused view followed the stream"
    );
    assert!(app.row("a_29").await.is_some());

    app.click("pause-toggle").await;
    app.wait_row("b_199").await;
    // Everything is still there: jump to the top and find the first event.
    app.script("document.querySelector('[data-testid=event-table]')?.scrollTo(0, 0)")
        .await;
    app.wait_row("a_0").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_huge_and_deep_payloads_render_as_text() {
    let server = NatsServer::start();
    let app = App::launch(&server.url()).await;
    app.wait_connected().await;
    let depth = 10_000;
    let deep: serde_json::Value =
        serde_json::from_str(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let hostile = envelope(
        "hostile",
        "org_h",
        json!({"html": "<img src=x onerror=\"window.__pwned=1\">", "script": "<script>window.__pwned=2</script>"}),
    );
    let big = envelope("big", "org_h", json!({"blob": "z".repeat(1_000_000)}));
    let deep_raw = {
        let (subject, body) = envelope("deep", "org_h", deep);
        let text = String::from_utf8(body).unwrap().replace(
            &format!("{}{}", "[".repeat(100), "]".repeat(100)),
            &format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        );
        (subject, text.into_bytes())
    };
    publish(
        &server,
        &[
            hostile,
            big,
            deep_raw,
            (
                "events.org_h.s.r.e.bin".into(),
                vec![0xff, 0xfe, 0x00, 0x41],
            ),
        ],
    )
    .await;
    app.wait_text("count-received", "4").await;

    for id in ["hostile", "big", "deep"] {
        app.wait_row(id).await.click().await.unwrap();
        app.wait_text_contains("event-detail", id).await;
    }
    app.wait_row("hostile").await.click().await.unwrap();
    app.wait_text_contains("event-detail", "<img src=x onerror=")
        .await;
    app.wait_text_contains("event-detail", "<script>window.__pwned=2</script>")
        .await;
    let pwned = app
        .script("return window.__pwned === undefined ? null : window.__pwned")
        .await;
    assert_eq!(
        pwned,
        serde_json::Value::Null,
        "a payload string was executed"
    );
    let injected = app.script("return document.querySelectorAll('[data-testid=event-detail] img, [data-testid=event-detail] script').length").await;
    assert_eq!(injected, json!(0));
    // The app is still up and streaming.
    publish(&server, &[envelope("after", "org_h", json!({}))]).await;
    app.wait_text("count-received", "5").await;
    app.close().await;
}
