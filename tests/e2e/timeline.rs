//! The support timeline through the window: one organization's lanes, an update's diff, a
//! disconnection shown as a gap, and an item opening its event in the detail pane.

use super::*;

/// An envelope of `org` stamped `secs_ago` seconds before now.
fn stamped(
    id: &str,
    org: &str,
    (source, resource, event, rid): (&str, &str, &str, &str),
    secs_ago: i64,
    payload: serde_json::Value,
) -> (String, Vec<u8>) {
    let at = chrono::Utc::now() - chrono::Duration::seconds(secs_ago);
    let body = json!({
        "id": id, "organizationId": org, "source": source, "resource": resource,
        "resourceId": rid, "eventName": event,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "payload": payload, "metadata": {"filters": {}, "tags": []},
    });
    (
        format!("events.{org}.{source}.{resource}.{event}.{rid}"),
        serde_json::to_vec(&body).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_shows_an_orgs_lanes_an_updates_diff_and_a_gap() {
    let (mut server, app) = connected_app().await;
    let (task, record) = ("task_tl_1", "rec_tl_1");
    publish_to(
        &server,
        &[
            stamped(
                "tl_1",
                "org_tl",
                ("tasks", "task", "created", task),
                300,
                json!({"title": "Export"}),
            ),
            stamped(
                "tl_2",
                "org_tl",
                ("collections", "record", "created", record),
                240,
                json!({"status": "To Do"}),
            ),
            stamped(
                "tl_3",
                "org_tl",
                ("collections", "record", "updated", record),
                180,
                json!({"status": "Done"}),
            ),
            stamped(
                "tl_4",
                "org_tl",
                ("tasks", "task", "failed", task),
                120,
                json!({"error": {"message": "quota exceeded"}}),
            ),
            stamped(
                "other_1",
                "org_other",
                ("tasks", "task", "created", "task_other"),
                60,
                json!({}),
            ),
        ],
    )
    .await;
    app.wait_text("count-received", "5").await;

    // The server goes away for a while: the app says so and the timeline shows the silence.
    server.stop();
    app.wait_for("the app to see the server gone", || async {
        app.text("connection-status")
            .await
            .to_lowercase()
            .contains("reconnecting")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    app.wait_connected().await;
    publish_to(
        &server,
        &[stamped(
            "tl_5",
            "org_tl",
            ("tasks", "task", "created", "task_tl_2"),
            0,
            json!({"title": "Later"}),
        )],
    )
    .await;
    app.wait_text("count-received", "6").await;

    app.click("timeline-open").await;
    app.fill("timeline-org", "org_tl").await;
    app.keys_into("timeline-org", "\u{e007}").await;
    app.wait_for("the lanes of org_tl", || async {
        app.script("return [...document.querySelectorAll(\"[data-testid='timeline-lane']\")].map((l) => `${l.dataset.resourceId}:${l.dataset.state}`).join(' ')")
            .await
            == json!("task_tl_1:failed rec_tl_1:open task_tl_2:stuck")
    })
    .await;
    assert_eq!(app.text("timeline-events").await, "5");
    assert_eq!(app.text("timeline-failures").await, "1");
    assert_eq!(
        app.text("timeline-diff").await,
        r#"status: "To Do" → "Done""#
    );
    // The reconnection is noted as it happens; Refresh reads the timeline again until it shows.
    app.wait_for("the disconnection as a gap", || async {
        if app.find("timeline-gap").await.is_some() {
            return true;
        }
        app.click("timeline-refresh").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        false
    })
    .await;
    let gap = app.text("timeline-gap").await;
    assert!(
        gap.starts_with("⚠ no data ") && gap.ends_with(": disconnected"),
        "{gap}"
    );

    app.script(
        "document.querySelector(\"[data-testid='timeline-item'][data-event-id='tl_4']\").click()",
    )
    .await;
    app.wait_text_contains("event-detail", "quota exceeded")
        .await;
    app.close().await;
}
