//! End-to-end tests of the built desktop app: tauri-driver with WebKitWebDriver under Xvfb,
//! driven over WebDriver, against a real nats-server. Build with `--features custom-protocol`
//! so the binary embeds `ui/dist`.

use std::path::Path;
use std::time::{Duration, Instant};

use eventscope_testkit::{publish, NatsServer};
use eventscope_window::{task_failed as envelope, App};
use serde_json::json;

mod notify;
mod timeline;

/// The app as cargo built it for these tests.
const APP: &str = env!("CARGO_BIN_EXE_eventscope");

/// A fresh nats-server and the app, connected to it.
async fn connected_app() -> (NatsServer, App) {
    eventscope_window::connected_app(Path::new(APP)).await
}

/// Publishes `messages` from a client of its own, flushed.
async fn publish_to(server: &NatsServer, messages: &[(String, Vec<u8>)]) {
    let client = async_nats::connect(server.url()).await.unwrap();
    publish(&client, messages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_appear_and_selecting_one_shows_its_payload() {
    let (server, app) = connected_app().await;

    let events: Vec<_> = (0..20)
        .map(|i| {
            envelope(
                &format!("evt_{i}"),
                "org_e2e",
                json!({"error": format!("boom number {i}"), "attempt": 3}),
            )
        })
        .collect();
    publish_to(&server, &events).await;

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
    let (server, app) = connected_app().await;
    publish_to(
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
    let (server, app) = connected_app().await;
    let first: Vec<_> = (0..30)
        .map(|i| envelope(&format!("a_{i}"), "org_p", json!({"n": i})))
        .collect();
    publish_to(&server, &first).await;
    app.wait_row("a_29").await;

    app.click("pause-toggle").await;
    let more: Vec<_> = (0..200)
        .map(|i| envelope(&format!("b_{i}"), "org_p", json!({"n": i})))
        .collect();
    publish_to(&server, &more).await;
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
    let (server, app) = connected_app().await;
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
    publish_to(
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
    publish_to(&server, &[envelope("after", "org_h", json!({}))]).await;
    app.wait_text("count-received", "5").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_another_server_with_a_password_never_writes_it() {
    let first = NatsServer::start();
    let second =
        NatsServer::start_with_config("authorization { user: ada, password: \"s3cret-pw\" }");
    let app = App::launch(Path::new(APP), &first.url()).await;
    app.wait_connected().await;

    app.click("connect-button").await;
    app.fill("conn-servers", &second.url()).await;
    app.select("conn-auth-kind", "userPassword").await;
    app.fill("conn-user", "ada").await;
    app.fill("conn-password", "wrong").await;
    app.click("connect-submit").await;
    app.wait_text_contains("connect-error", "authorization violation")
        .await;

    app.fill("conn-password", "s3cret-pw").await;
    app.click("connect-submit").await;
    app.wait_text_contains("connection-server", &second.url())
        .await;
    app.wait_connected().await;

    let client =
        async_nats::ConnectOptions::with_user_and_password("ada".into(), "s3cret-pw".into())
            .connect(second.url())
            .await
            .unwrap();
    publish(
        &client,
        &[envelope(
            "on_second",
            "org_2",
            json!({"where": "second server"}),
        )],
    )
    .await;
    app.wait_row("on_second").await;

    // The connection is remembered, its secret is not written anywhere in the config.
    let written = app.config_files_text();
    assert!(written.contains(&second.url()), "{written}");
    assert!(
        !written.contains("s3cret-pw"),
        "the password reached the disk: {written}"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_context_fills_the_dialog_and_its_secret_stays_in_it() {
    let first = NatsServer::start();
    let second =
        NatsServer::start_with_config("authorization { user: ada, password: \"s3cret-ctx\" }");
    let app = App::launch(Path::new(APP), &first.url()).await;
    app.wait_connected().await;
    // The `nats` CLI's configuration, beside Eventscope's own.
    let nats = app.config_home().join("nats");
    std::fs::create_dir_all(nats.join("context")).unwrap();
    let context = json!({"description": "Staging", "url": second.url(), "user": "ada", "password": "s3cret-ctx"});
    std::fs::write(nats.join("context/staging.json"), context.to_string()).unwrap();
    std::fs::write(nats.join("context.txt"), "staging").unwrap();

    app.click("connect-button").await;
    app.select("conn-nats-context", "staging").await;
    app.wait_attr("conn-servers", "value", &second.url()).await;
    app.wait_attr("conn-user", "value", "ada").await;
    app.wait_attr(
        "conn-password",
        "placeholder",
        "•••• from nats context staging",
    )
    .await;

    // File fields say whether the file is there before anything connects.
    assert!(app.find("conn-ca-file-browse").await.is_some());
    app.fill("conn-ca-file", "/nonexistent/ca.pem").await;
    app.wait_attr("conn-ca-file-state", "data-state", "missing")
        .await;
    let ca = app.config_home().join("ca.pem");
    std::fs::write(&ca, "not a certificate yet").unwrap();
    app.fill("conn-ca-file", ca.to_str().unwrap()).await;
    app.wait_attr("conn-ca-file-state", "data-state", "readable")
        .await;
    app.fill("conn-ca-file", "").await;

    // Enter in a field submits, as a keyboard user would.
    app.keys_into("conn-user", "\u{E007}").await;
    app.wait_text_contains("connection-server", &second.url())
        .await;
    app.wait_connected().await;
    let client =
        async_nats::ConnectOptions::with_user_and_password("ada".into(), "s3cret-ctx".into())
            .connect(second.url())
            .await
            .unwrap();
    publish(&client, &[envelope("via_context", "org_c", json!({}))]).await;
    app.wait_row("via_context").await;

    // Eventscope remembers the context's name, never its password.
    let own = std::fs::read_to_string(
        app.config_home()
            .join("dev.eventscope.app")
            .join("connection.json"),
    )
    .unwrap();
    assert!(own.contains("\"natsContext\": \"staging\""), "{own}");
    assert!(!own.contains("s3cret-ctx"), "{own}");
    app.close().await;
}

/// What WebKit tells a screen reader as Tab moves through the top bar, the filter bar, the
/// facets and the connection dialog (each `role "label"`, read from WebKit's accessibility tree
/// through WebDriver's computed role and label), and how a table row is announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_reaches_every_control_in_order_and_each_says_what_it_is() {
    let (server, app) = connected_app().await;
    publish_to(&server, &[envelope("a11y", "org_a", json!({}))]).await;
    app.wait_row("a11y").await;
    app.wait_for("the facets", || async {
        app.find("facet-value").await.is_some()
    })
    .await;
    assert_eq!(
        app.tab_through("connect-button", 19).await,
        [
            r#"button "Connect…""#,
            r#"button "Open file…""#,
            r#"button "Publish…""#,
            r#"button "Replay…""#,
            r#"button "Scenarios…""#,
            r#"button "Pause""#,
            r#"button "Clear""#,
            r#"button "Switch to the dark theme""#,
            r#"button "About Eventscope""#,
            r#"textbox "Filter query""#,
            r#"button "History""#,
            r#"button "Views""#,
            r#"button "Columns""#,
            r#"button "Facets""#,
            r#"button "Export…""#,
            r#"button "How to write a query""#,
            r#"button "Stack by""#,
            r#"button "org_a 1""#,
            r#"button "tasks 1""#,
            r#"button "task.failed 1""#,
        ]
    );
    let row = app
        .attr("event-row", "aria-label")
        .await
        .unwrap_or_default();
    assert!(row.starts_with("task.failed in org_a at "), "{row}");

    app.click("connect-button").await;
    assert_eq!(
        app.tab_through("conn-kind", 14).await,
        [
            r#"button "Source""#,
            r#"textbox "Server URL(s)""#,
            r#"textbox "Subject patterns""#,
            r#"button "Method""#,
            r#"checkbox "Require TLS (even for nats:// URLs)""#,
            r#"textbox "CA file""#,
            r#"button "CA file: choose a file""#,
            r#"textbox "Client certificate""#,
            r#"button "Client certificate: choose a file""#,
            r#"textbox "Client key""#,
            r#"button "Client key: choose a file""#,
            r#"checkbox "Read-only: never publish through this connection""#,
            r#"button "Disconnect""#,
            r#"button "Cancel""#,
            r#"button "Connect""#,
        ]
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_moves_the_selection_pauses_and_clears() {
    let (server, app) = connected_app().await;
    let events: Vec<_> = (0..10)
        .map(|i| envelope(&format!("k_{i}"), "org_k", json!({"n": i})))
        .collect();
    publish_to(&server, &events).await;
    app.wait_row("k_9").await.click().await.unwrap();
    app.wait_text_contains("event-detail", "k_9").await;

    app.keys("\u{E013}").await; // ArrowUp
    app.wait_text_contains("event-detail", "k_8").await;
    app.keys("\u{E015}").await; // ArrowDown
    app.wait_text_contains("event-detail", "k_9").await;

    app.keys("\u{E00C}").await; // Escape
    app.wait_for_absent("event-detail").await;

    app.keys(" ").await;
    app.wait_text_contains("pause-toggle", "Resume").await;
    // Paused with nothing new: no "0 new" pill, and the status line says "Paused".
    app.wait_text("follow-state", "Paused").await;
    assert!(app.find("new-events-pill").await.is_none());
    publish_to(&server, &[envelope("k_10", "org_k", json!({"n": 10}))]).await;
    app.wait_text_contains("new-events-pill", "1 new").await;
    app.wait_text_contains("follow-state", "Paused · 1 new since")
        .await;
    app.keys(" ").await;
    app.wait_text_contains("pause-toggle", "Pause").await;
    app.close().await;
}

/// The `data-event-id`s of the rows the table shows, top to bottom.
async fn shown_ids(app: &App) -> Vec<String> {
    let ids = app
        .script("return [...document.querySelectorAll('[data-testid=event-row]')].map(e => e.dataset.eventId)")
        .await;
    serde_json::from_value(ids).unwrap()
}

async fn wait_shown(app: &App, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = shown_ids(app).await;
        if shown == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rows {shown:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events `f_0..f_n`: every fourth in `org_b`, the rest in `org_a`, with `payload.n = i`.
fn mixed(range: std::ops::Range<usize>) -> Vec<(String, Vec<u8>)> {
    range
        .map(|i| {
            let org = if i % 4 == 0 { "org_b" } else { "org_a" };
            envelope(
                &format!("f_{i}"),
                org,
                json!({"n": i, "note": format!("note {i}")}),
            )
        })
        .collect()
}

fn ids(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("f_{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_query_narrows_the_rows_and_new_events_are_filtered_live() {
    let (server, app) = connected_app().await;
    publish_to(&server, &mixed(0..40)).await;
    app.wait_text("count-received", "40").await;

    app.fill("filter-input", "org:org_b payload.n>=8\u{E007}")
        .await;
    app.wait_text_contains("match-count", "8 matches").await;
    wait_shown(&app, &ids((8..40).step_by(4))).await;

    // Arriving events are filtered as they come.
    publish_to(&server, &mixed(40..42)).await;
    app.wait_text_contains("match-count", "9 matches").await;
    wait_shown(&app, &ids((8..41).step_by(4))).await;

    // The detail pane marks what the query looks for.
    app.fill("filter-input", "\"note 36\"\u{E007}").await;
    app.wait_text_contains("match-count", "1 match").await;
    app.wait_row("f_36").await.click().await.unwrap();
    app.wait_text_contains("event-detail", "note 36").await;
    let marks = app
        .script("return [...document.querySelectorAll('[data-testid=event-detail] mark')].map(m => m.textContent)")
        .await;
    assert_eq!(marks, json!(["note 36"]));

    // Esc empties the box and shows everything again.
    let input = app.find("filter-input").await.unwrap();
    input.send_keys("\u{E00C}").await.unwrap();
    app.wait_text_contains("match-count", "42 events").await;
    assert_eq!(app.text("filter-error").await, "");
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_query_is_explained_and_changes_nothing() {
    let (server, app) = connected_app().await;
    publish_to(&server, &mixed(0..8)).await;
    app.wait_text("count-received", "8").await;

    app.fill("filter-input", "orgg:org_a").await;
    let error = app.wait_text_contains("filter-error", "did you mean").await;
    assert!(error.contains("org"), "{error}");
    let input = app.find("filter-input").await.unwrap();
    input.send_keys("\u{E007}").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.text("match-count").await, "8 events");
    assert_eq!(shown_ids(&app).await.len(), 8);

    // The suggestion is said once, and a click on it fixes the field.
    assert_eq!(error.matches("did you mean").count(), 1, "{error}");
    app.click("filter-suggestion").await;
    app.wait_attr("filter-input", "value", "org:org_a").await;
    app.wait_for_absent("filter-error").await;
    app.keys_into("filter-input", "\u{E007}").await;
    app.wait_text_contains("match-count", "6 matches").await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facets_add_and_exclude_terms_and_views_are_saved() {
    let (server, app) = connected_app().await;
    publish_to(&server, &mixed(0..20)).await;
    app.wait_text("count-received", "20").await;

    let facet = "[data-testid=facet-value][data-field=org][data-value=org_b]";
    app.wait_for("the org_b facet", || async {
        app.script(&format!("return !!document.querySelector('{facet}')"))
            .await
            == json!(true)
    })
    .await;
    app.script(&format!("document.querySelector('{facet}').click()"))
        .await;
    app.wait_text_contains("match-count", "5 matches").await;
    let query = app
        .script("return document.querySelector('[data-testid=filter-input]').value")
        .await;
    assert_eq!(query, json!("org:org_b"));

    // Alt+click turns the term into an exclusion.
    app.script(&format!(
        "document.querySelector('{facet}').dispatchEvent(new MouseEvent('click', {{bubbles: true, altKey: true}}))"
    ))
    .await;
    app.wait_text_contains("match-count", "15 matches").await;
    let query = app
        .script("return document.querySelector('[data-testid=filter-input]').value")
        .await;
    assert_eq!(query, json!("-org:org_b"));

    // The NATS subjects the query implies are offered, never applied by themselves.
    app.fill("filter-input", "org:org_b\u{E007}").await;
    app.wait_text_contains("filter-subjects", "events.org_b.>")
        .await;
    assert!(app.text("connection-subjects").await.contains("events.>"));

    app.click("views-button").await;
    app.fill("view-name", "Only B").await;
    app.click("view-save").await;
    app.wait_for("views.json to hold the view", || async {
        let files = app.config_files_text();
        files.contains("Only B") && files.contains("org:org_b")
    })
    .await;
    app.close().await;
}

/// The real WebSocket gateway, in-process on an ephemeral port, against a testkit nats-server;
/// stopped (clients closed with 1001) when dropped.
struct Gateway {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

const GATEWAY_SECRET: &[u8] = b"e2e gateway secret";

impl Gateway {
    async fn start(nats: &NatsServer) -> Gateway {
        let config = eventscope_gateway::Config {
            nats: eventscope_core::wire::ConnectionProfile {
                servers: vec![nats.url()],
                subjects: Vec::new(),
                ..Default::default()
            },
            verifier: eventscope_gateway::auth::Verifier::hs256(GATEWAY_SECRET).unwrap(),
            heartbeat: Duration::from_secs(20),
            limits: eventscope_gateway::Limits::default(),
        };
        let gateway = eventscope_gateway::Gateway::connect(config)
            .await
            .expect("the gateway connects to nats");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if let Err(e) = gateway.serve(listener, shutdown).await {
                panic!("the gateway stopped: {e}");
            }
        });
        Gateway { url, stop }
    }

    /// A token for `orgs`, valid for an hour, signed like the platform's.
    fn token(orgs: &[&str]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        eventscope_gateway::auth::sign(
            &eventscope_gateway::auth::Claims {
                sub: "u_e2e".into(),
                orgs: orgs.iter().map(|s| s.to_string()).collect(),
                exp: now + 3600,
            },
            GATEWAY_SECRET,
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_gateway_an_org_token_shows_its_org_and_never_another() {
    let server = NatsServer::start();
    let gateway = Gateway::start(&server).await;
    let token = Gateway::token(&["org_1"]);
    // An org_1 token may only subscribe within org_1: a wildcard org would be refused.
    let app = App::launch_gateway(Path::new(APP), &gateway.url, &token, &["events.org_1.>"]).await;
    app.wait_connected().await;
    app.wait_text_contains("connection-orgs", "token: org_1")
        .await;
    assert_eq!(app.text("connection-server").await, gateway.url);

    // Interleaved, and the last one is org_1's: once it shows, every org_2 event published
    // before it would have shown too.
    let events: Vec<_> = (0..12)
        .map(|i| {
            let org = if i % 3 == 1 { "org_2" } else { "org_1" };
            envelope(&format!("gw_{i}"), org, json!({"n": i}))
        })
        .collect();
    publish_to(&server, &events).await;
    app.wait_row("gw_11").await;
    let mut shown = shown_ids(&app).await;
    shown.sort();
    let mut expected: Vec<String> = (0..12)
        .filter(|i| i % 3 != 1)
        .map(|i| format!("gw_{i}"))
        .collect();
    expected.sort();
    assert_eq!(shown, expected, "org_1's events and none of org_2's");

    // The token never reaches the page, and the dialog offers the gateway profile with its
    // token field masked and blank.
    let page = app
        .script("return document.documentElement.outerHTML + document.body.innerText")
        .await;
    assert!(
        !page.as_str().unwrap().contains(&token),
        "the token reached the page"
    );
    app.click("connect-button").await;
    let dialog = app
        .script(
            "const v = (id) => document.querySelector(`[data-testid=${id}]`); \
             return [v('conn-kind').value, v('conn-gateway-url').value, \
                     v('conn-gateway-token').value, v('conn-gateway-token').type, \
                     v('conn-servers') === null]",
        )
        .await;
    assert_eq!(
        dialog,
        json!(["gateway", gateway.url, "", "password", true]),
        "kind, url, token, token field type, NATS fields hidden"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_about_box_names_this_build_and_the_connected_server() {
    let (_server, app) = connected_app().await;
    app.wait_connected().await;
    let says = std::process::Command::new("nats-server")
        .arg("--version")
        .output()
        .or_else(|_| {
            std::process::Command::new("/usr/sbin/nats-server")
                .arg("--version")
                .output()
        })
        .unwrap();
    // "nats-server: v2.9.15"
    let says = String::from_utf8_lossy(&says.stdout);
    let version = says
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches('v');

    app.click("about-open").await;
    app.wait_text("about-version", env!("CARGO_PKG_VERSION"))
        .await;
    let server = app
        .wait_text_contains("about-server-version", "nats-server")
        .await;
    assert!(
        server.starts_with(&format!("nats-server {version} (")),
        "{server} / {says}"
    );
    app.click("about-close").await;
    app.wait_for("the About box to close", || async {
        !app.find("about-dialog")
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap_or(true)
    })
    .await;
    app.close().await;
}

/// A subscriber of its own on `subject`, to see what the app really published.
async fn watch(server: &NatsServer, subject: &str) -> async_nats::Subscriber {
    let client = async_nats::connect(server.url()).await.unwrap();
    let sub = client.subscribe(subject.to_string()).await.unwrap();
    client.flush().await.unwrap();
    sub
}

/// The messages `sub` receives until it has been quiet for `quiet`.
async fn drain(sub: &mut async_nats::Subscriber, quiet: Duration) -> Vec<async_nats::Message> {
    use futures::StreamExt;
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, sub.next()).await {
        got.push(m);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_sends_a_template_and_its_rows_come_back_marked_sent() {
    let (server, app) = connected_app().await;
    app.wait_connected().await;
    let mut sub = watch(&server, "events.org_qa.>").await;

    app.click("publish-open").await;
    app.select("publish-template", "task.created").await;
    app.fill("publish-org", "org_qa").await;
    app.fill("publish-resource-id", "task_e2e_1").await;
    let subject = app
        .wait_text_contains(
            "publish-subject",
            "events.org_qa.tasks.task.created.task_e2e_1",
        )
        .await;
    app.fill("publish-count", "3").await;
    app.click("publish-send").await;
    app.wait_text_contains("publish-result", "sent 3 of 3 in")
        .await;

    let got = drain(&mut sub, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 3);
    let mut ids = Vec::new();
    for m in &got {
        assert_eq!(m.subject.as_str(), subject);
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(body["resourceId"], "task_e2e_1");
        assert_eq!(body["organizationId"], "org_qa");
        assert!(m.headers.as_ref().unwrap().get("Eventscope-Sent").is_some());
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each send gets a fresh id");

    close_composer(&app).await;
    for id in &ids {
        app.wait_row(id).await;
    }
    app.wait_for("three rows marked sent", || async {
        app.script("return document.querySelectorAll(\"[data-testid='sent-badge']\").length")
            .await
            == json!(3)
    })
    .await;
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_resource_id_or_a_read_only_connection_sends_nothing() {
    let (server, app) = connected_app().await;
    app.wait_connected().await;
    let mut sub = watch(&server, "events.>").await;

    app.click("publish-open").await;
    app.select("publish-template", "task.created").await;
    app.fill("publish-resource-id", "task.1").await;
    app.wait_text_contains("publish-error", "contains '.'")
        .await;
    assert!(app.find("publish-subject").await.is_none());
    assert!(app.attr("publish-send", "disabled").await.is_some());
    app.fill("publish-resource-id", "task 1").await;
    app.wait_text_contains("publish-error", "contains ' '")
        .await;
    assert!(drain(&mut sub, Duration::from_millis(500)).await.is_empty());

    // Marked read-only in the connection dialog: the composer says so and cannot send.
    close_composer(&app).await;
    app.click("connect-button").await;
    // The dialog refills itself from the remembered connection once it has read it: tick the
    // box until it stays ticked.
    app.wait_for("the read-only box ticked", || async {
        let ticked = app
            .script("return document.querySelector(\"[data-testid='conn-read-only']\").checked")
            .await;
        if ticked != json!(true) {
            app.click("conn-read-only").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ticked == json!(true)
    })
    .await;
    app.click("connect-submit").await;
    app.wait_for("the connection dialog to close", || async {
        app.attr("connection-dialog", "open").await.is_none()
    })
    .await;
    app.wait_connected().await;
    app.click("publish-open").await;
    app.fill("publish-resource-id", "task_ok").await;
    app.wait_text_contains("publish-subject", ".task_ok").await;
    app.wait_text_contains("publish-read-only", "read-only")
        .await;
    assert!(app.attr("publish-send", "disabled").await.is_some());
    assert!(drain(&mut sub, Duration::from_millis(500)).await.is_empty());
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_published_again_from_the_detail_pane() {
    let (server, app) = connected_app().await;
    publish_to(
        &server,
        &[envelope("orig_1", "org_re", json!({"error": "boom"}))],
    )
    .await;
    app.wait_row("orig_1").await.click().await.unwrap();
    app.wait_text_contains("event-detail", "boom").await;
    let mut sub = watch(&server, "events.org_re.>").await;

    app.click("detail-republish").await;
    app.wait_text_contains(
        "publish-subject",
        "events.org_re.tasks.task.failed.task_orig_1",
    )
    .await;
    app.click("publish-send").await;
    app.wait_text_contains("publish-result", "sent 1 of 1")
        .await;
    let got = drain(&mut sub, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].payload).unwrap();
    assert_ne!(body["id"], "orig_1", "a fresh id");
    assert_eq!(body["payload"]["error"], "boom");
    let again = body["id"].as_str().unwrap().to_string();
    close_composer(&app).await;
    app.wait_row(&again).await;

    // Exactly as received: the same id again.
    app.wait_row("orig_1").await.click().await.unwrap();
    app.click("detail-republish-exact").await;
    app.wait_text_contains("publish-subject", "task_orig_1")
        .await;
    app.click("publish-send").await;
    app.wait_text_contains("publish-result", "sent 1 of 1")
        .await;
    let got = drain(&mut sub, Duration::from_secs(1)).await;
    let body: serde_json::Value = serde_json::from_slice(&got[0].payload).unwrap();
    assert_eq!(body["id"], "orig_1");
    close_composer(&app).await;

    // The whole view again, unchanged and in order, at a rate.
    app.wait_attr("match-count", "data-count", "3").await;
    let before: Vec<String> = got_ids(&app).await;
    app.click("replay-open").await;
    app.click("replay-at-rate").await;
    app.fill("replay-rate", "50").await;
    app.click("replay-send").await;
    app.wait_text_contains("replay-result", "sent 3 of 3").await;
    let replayed: Vec<String> = drain(&mut sub, Duration::from_secs(1))
        .await
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            body["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(replayed, before);
    app.close().await;
}

/// The ids of the rows shown, oldest first.
async fn got_ids(app: &App) -> Vec<String> {
    let ids = app
        .script("return [...document.querySelectorAll(\"[data-testid='event-row']\")].sort((a, b) => a.dataset.seq - b.dataset.seq).map((r) => r.dataset.eventId)")
        .await;
    serde_json::from_value(ids).unwrap()
}

/// Answers every `task.created` with a `task.completed` for the same task, as the platform's
/// task service would.
fn responder(server: &NatsServer) -> tokio::task::JoinHandle<()> {
    let url = server.url();
    tokio::spawn(async move {
        use futures::StreamExt;
        let client = async_nats::connect(url).await.unwrap();
        let mut created = client
            .subscribe("events.*.tasks.task.created.>")
            .await
            .unwrap();
        while let Some(m) = created.next().await {
            let mut event: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            event["eventName"] = "completed".into();
            event["id"] = format!("{}_done", event["id"].as_str().unwrap()).into();
            let subject = m.subject.replace(".task.created.", ".task.completed.");
            client
                .publish(subject, serde_json::to_vec(&event).unwrap().into())
                .await
                .unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_runs_step_by_step_and_shows_what_passed_and_what_failed() {
    let (server, app) = connected_app().await;
    let _responder = responder(&server);
    app.wait_connected().await;
    let dir = tempfile_dir();
    let path = dir.join("lifecycle.yaml");
    std::fs::write(
        &path,
        r#"name: task lifecycle
vars: { org: org_qa }
steps:
  - name: create
    publish:
      template: task.created
      set:
        organizationId: "{{ vars.org }}"
        resourceId: "task_{{ run.id }}"
  - name: completed
    expect:
      filter: 'org:{{ vars.org }} name:task.completed resourceId:task_{{ run.id }}'
      within: 5s
  - name: failed too
    expect:
      filter: 'name:task.failed resourceId:task_{{ run.id }}'
      within: 1s
"#,
    )
    .unwrap();

    app.click("scenario-open").await;
    app.fill("scenario-path", &path.display().to_string()).await;
    app.keys_into("scenario-path", "\u{e007}").await; // Enter
    app.wait_text("scenario-name", "task lifecycle").await;
    app.click("scenario-run").await;
    app.wait_text_contains("scenario-verdict", "1 of 3 steps failed")
        .await;
    let statuses = app
        .script("return [...document.querySelectorAll(\"[data-testid='scenario-step']\")].map((s) => `${s.dataset.name}:${s.dataset.status}`)")
        .await;
    assert_eq!(
        statuses,
        json!(["create:passed", "completed:passed", "failed too:failed"])
    );
    let message = app.text("scenario-step-message").await;
    assert!(message.contains("name:task.failed"), "{message}");

    // The completed step's event, shown in the table.
    app.script("document.querySelectorAll(\"[data-testid='scenario-step']\")[1].click()")
        .await;
    app.wait_attr("match-count", "data-count", "1").await;
    let shown = got_ids(&app).await;
    assert!(shown[0].ends_with("_done"), "{shown:?}");
    app.close().await;
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eventscope-e2e-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `count` events of `org` stamped now (the helper's are stamped days ago).
fn stamped_now(prefix: &str, org: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let (subject, body) = envelope(&format!("{prefix}_{i}"), org, json!({"i": i}));
            let mut body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            body["timestamp"] = eventscope_core::template::now().into();
            (subject, serde_json::to_vec(&body).unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_tree_counts_what_was_published_and_a_node_filters() {
    let (server, app) = connected_app().await;
    let mut events = stamped_now("t1", "org_t1", 5);
    events.extend(stamped_now("t2", "org_t2", 3));
    publish_to(&server, &events).await;
    app.wait_text("count-received", "8").await;
    app.wait_for("the tree's organizations", || async {
        app.script("return [...document.querySelectorAll(\"[data-testid='subject-node']\")].map((n) => `${n.dataset.subject}=${n.dataset.count}`).join(' ')")
            .await
            == json!("events.>=8 events.org_t1.>=5 events.org_t2.>=3")
    })
    .await;
    app.script("document.querySelector(\"[data-testid='subject-node'][data-subject='events.org_t1.>']\").click()")
        .await;
    app.wait_attr("match-count", "data-count", "5").await;
    assert_eq!(
        app.attr("filter-input", "value").await.unwrap(),
        "subject:events.org_t1.>"
    );
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dragging_across_the_rate_chart_narrows_the_query_in_time() {
    let (server, app) = connected_app().await;
    // Three stamped now, two stamped days ago: all arrive now, so the chart shows five.
    let mut events = stamped_now("fresh", "org_r", 3);
    events.push(envelope("old_1", "org_r", json!({})));
    events.push(envelope("old_2", "org_r", json!({})));
    publish_to(&server, &events).await;
    app.wait_text("count-received", "5").await;
    app.wait_attr("match-count", "data-count", "5").await;
    // Two redraws after the events are held: the chart's time axis then ends after their
    // stamps, however slowly a loaded machine draws.
    let redraws = || async {
        app.attr("rate-chart", "data-redraws")
            .await
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let drawn = redraws().await;
    app.wait_for("the chart to draw the events", || async {
        redraws().await >= drawn + 2
    })
    .await;

    // A drag from the left edge of the plot to its right edge: the last 15 minutes.
    app.script(
        r#"const over = document.querySelector("[data-testid='rate-chart-plot'] .u-over");
        const r = over.getBoundingClientRect();
        // uPlot ignores a move of 0 during a drag (a Chrome quirk), so each move says it moved.
        const at = (type, x, target) => target.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: x, clientY: r.top + r.height / 2, button: 0, buttons: 1, movementX: 5, movementY: 0 }));
        at("mouseenter", r.left + 1, over);
        at("mousemove", r.left + 1, over);
        at("mousedown", r.left + 1, over);
        at("mousemove", r.left + r.width / 2, over);
        at("mousemove", r.right - 1, over);
        at("mouseup", r.right - 1, document);"#,
    )
    .await;
    app.wait_attr("match-count", "data-count", "3").await;
    let query = app.attr("filter-input", "value").await.unwrap();
    assert!(
        query.starts_with("after:") && query.contains(" before:"),
        "{query}"
    );
    app.script("document.querySelector(\"[data-testid='rate-chart-plot']\").dispatchEvent(new MouseEvent('dblclick', { bubbles: true }))")
        .await;
    app.wait_attr("match-count", "data-count", "5").await;
    assert_eq!(app.attr("filter-input", "value").await.unwrap(), "");
    app.close().await;
}

/// Closes the composer and waits until it is gone: a click that lands while the modal is
/// still open finds everything behind it inert.
async fn close_composer(app: &App) {
    app.click("publish-close").await;
    app.wait_for("the composer to close", || async {
        app.attr("publish-dialog", "open").await.is_none()
    })
    .await;
}
