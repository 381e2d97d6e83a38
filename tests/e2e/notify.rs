//! Notification previews through the window: the detail pane's cards for a failed and a
//! completed task, a rule edited in the Notifications view changing the preview before it is
//! saved, and the recipient box.

use super::*;

fn task(id: &str, event: &str, payload: serde_json::Value) -> (String, Vec<u8>) {
    let body = json!({
        "id": id, "organizationId": "org_n", "source": "tasks", "resource": "task",
        "resourceId": "task_n1", "eventName": event, "timestamp": "2026-11-30T10:00:00.000Z",
        "payload": payload, "metadata": {"filters": {}, "tags": []},
    });
    (
        format!("events.org_n.tasks.task.{event}.task_n1"),
        serde_json::to_vec(&body).unwrap(),
    )
}

/// `rule-id=matched` for every card of the preview, in the order shown.
async fn cards(app: &App) -> serde_json::Value {
    app.script(
        "return [...document.querySelectorAll(\"[data-testid='notify-rule']\")].map((c) => `${c.dataset.ruleId}=${c.dataset.matched}`).join(' ')",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_notifies_its_owner_a_completed_one_says_why_not_and_edits_show_at_once() {
    let (server, app) = connected_app().await;
    let owner = json!({"id": "usr_42", "name": "Ada"});
    publish_to(
        &server,
        &[
            task(
                "n_fail",
                "failed",
                json!({"title": "Send <b>invoice</b>", "owner": owner, "error": {"message": "SMTP timeout"}}),
            ),
            task("n_done", "completed", json!({"title": "Ship", "owner": owner})),
        ],
    )
    .await;

    app.wait_row("n_fail").await.click().await.unwrap();
    app.wait_for("the failed task's cards", || async {
        cards(&app).await
            == json!("task-failed=true new-message=false conversation-created=false task-completed=false")
    })
    .await;
    let card = app.text("notify-rule").await;
    assert!(card.contains("To usr_42"), "{card}");
    // The payload's markup is text in every channel: the title shows its tags as written.
    assert_eq!(
        app.text("notify-title").await,
        "Task failed: Send <b>invoice</b>"
    );

    app.wait_row("n_done").await.click().await.unwrap();
    app.wait_for("the completed task's cards", || async {
        cards(&app).await
            == json!("task-completed=true new-message=false conversation-created=false task-failed=false")
    })
    .await;
    let reason = app
        .script("return document.querySelector(\"[data-testid='notify-rule'][data-rule-id='task-failed'] [data-testid='notify-reason']\").textContent")
        .await;
    assert!(
        reason.as_str().unwrap().contains("task.completed"),
        "{reason}"
    );

    // An override typed in the editor re-renders the preview before anything is saved.
    app.click("notify-open").await;
    app.wait_for("the rules editor", || async {
        app.find("notify-rules-editor").await.is_some()
    })
    .await;
    let rules =
        "rules:\\n  - id: task-completed\\n    title: 'Done at last: {{ payload.title }}'\\n";
    app.script(&format!(
        "const v = document.querySelector(\"[data-testid='notify-rules-editor']\").cmView; v.dispatch({{changes: {{from: 0, to: v.state.doc.length, insert: \"{rules}\"}}}})"
    ))
    .await;
    app.wait_text_contains("notify-preview", "Done at last: Ship")
        .await;
    app.wait_for("the edit marked unsaved", || async {
        app.find("notify-unsaved").await.is_some()
    })
    .await;

    // The recipient box: what usr_42 got from what is held.
    app.select("notify-since", "0").await;
    app.fill("notify-recipient", "usr_42").await;
    app.keys_into("notify-recipient", "\u{e007}").await;
    app.wait_text("notify-delivered-count", "2").await;
    let got = app
        .script("return [...document.querySelectorAll(\"[data-testid='notify-delivered']\")].map((d) => d.dataset.eventId).join(' ')")
        .await;
    assert_eq!(got, json!("n_done n_fail"));
    app.close().await;
}
