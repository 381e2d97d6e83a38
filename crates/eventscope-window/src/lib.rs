//! The built desktop app in a window of its own: Xvfb, tauri-driver and a WebDriver session,
//! torn down on drop. The end-to-end tests, the window benchmarks (`eventscope-bench window`,
//! `first-page`) and the README screenshot drive it the same way.
//!
//! Everything is reached by `data-testid`, the hooks the UI keeps stable for outside tests.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventscope_testkit::NatsServer;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The app in its window, with the processes that hold it up.
pub struct App {
    client: Option<Client>,
    driver: Child,
    xvfb: Child,
    config: tempfile::TempDir,
}

fn tauri_driver() -> PathBuf {
    if let Ok(p) = std::env::var("TAURI_DRIVER") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = PathBuf::from(home).join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        "tauri-driver".into()
    }
}

/// Starts Xvfb on a display it picks itself (`-displayfd`), so tests never collide.
fn start_xvfb() -> (Child, String) {
    let (read, write) = std::io::pipe().expect("pipe");
    let mut child = Command::new("Xvfb")
        .args([
            "-screen",
            "0",
            "1440x900x24",
            "-nolisten",
            "tcp",
            "-displayfd",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn_with_fd3(write)
        .expect("cannot start Xvfb (apt-get install xvfb)");
    let mut display = String::new();
    use std::io::Read;
    let mut buf = [0u8; 16];
    let mut read = read;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !display.ends_with('\n') {
        assert!(Instant::now() < deadline, "Xvfb did not report its display");
        let n = read.read(&mut buf).expect("read Xvfb display");
        if n == 0 {
            let _ = child.kill();
            panic!("Xvfb exited before reporting its display");
        }
        display.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    (child, format!(":{}", display.trim()))
}

trait SpawnWithFd3 {
    fn spawn_with_fd3(&mut self, fd: std::io::PipeWriter) -> std::io::Result<Child>;
}

impl SpawnWithFd3 for Command {
    fn spawn_with_fd3(&mut self, fd: std::io::PipeWriter) -> std::io::Result<Child> {
        use std::os::fd::{AsRawFd, IntoRawFd};
        use std::os::unix::process::CommandExt;
        let raw = fd.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec.
        unsafe {
            self.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = self.spawn();
        let _ = fd.into_raw_fd();
        child
    }
}

/// A fresh nats-server and the app at `app`, connected to it.
pub async fn connected_app(app: &Path) -> (NatsServer, App) {
    let server = NatsServer::start();
    let app = App::launch(app, &server.url()).await;
    app.wait_connected().await;
    (server, app)
}

/// A `task.failed` event `id` of `org` with `payload`, and the subject it is published on.
pub fn task_failed(id: &str, org: &str, payload: serde_json::Value) -> (String, Vec<u8>) {
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
        serde_json::to_vec(&body).expect("JSON values serialize"),
    )
}

/// `n` simulated platform events from `sim`, on their subjects.
pub fn simulated(
    sim: &mut eventscope_core::simulate::Simulator,
    n: usize,
) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|_| {
            let env = sim.next();
            let subject = env.subject().expect("simulated events have valid subjects");
            (
                subject,
                serde_json::to_vec(&env).expect("envelopes serialize"),
            )
        })
        .collect()
}

/// The app binary beside the running executable (`eventscope-bench` and
/// `eventscope-screenshot` are built into the same target directory as `eventscope`), or the
/// one `EVENTSCOPE_APP` names.
pub fn sibling_app() -> PathBuf {
    if let Some(path) = std::env::var_os("EVENTSCOPE_APP") {
        return path.into();
    }
    std::env::current_exe()
        .expect("the running executable's path")
        .with_file_name("eventscope")
}

impl App {
    /// Launches the app at `app` through tauri-driver, connected to `nats_url` by environment.
    pub async fn launch(app: &Path, nats_url: &str) -> App {
        App::launch_with(app, &[], &[("EVENTSCOPE_NATS_URL", nats_url)]).await
    }

    /// Launches the app at `app` watching the WebSocket gateway at `url` with `token` (given
    /// the way a user must: by environment, never as an argument) and `topics`.
    pub async fn launch_gateway(app: &Path, url: &str, token: &str, topics: &[&str]) -> App {
        let mut args = vec!["--gateway-url".to_string(), url.to_string()];
        for topic in topics {
            args.extend(["--subject".to_string(), topic.to_string()]);
        }
        App::launch_with(app, &args, &[("EVENTSCOPE_GATEWAY_TOKEN", token)]).await
    }

    /// Launches the app at `app` with command-line `args` and `env` (which tauri-driver passes
    /// on to the app it starts).
    pub async fn launch_with(app: &Path, args: &[String], env: &[(&str, &str)]) -> App {
        assert!(
            app.exists(),
            "no app at {} (cargo build --features custom-protocol -p eventscope)",
            app.display()
        );
        let (xvfb, display) = start_xvfb();
        let config = tempfile::tempdir().unwrap();
        let port = eventscope_testkit::free_port();
        let native_port = eventscope_testkit::free_port();
        let driver = Command::new(tauri_driver())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
            .env("DISPLAY", &display)
            .envs(env.iter().copied())
            .env("XDG_CONFIG_HOME", config.path())
            // WebKit keeps local storage (the theme, the facet panel) under the data home:
            // each launch starts from a clean one, so no test sees another's choices.
            .env("XDG_DATA_HOME", config.path().join(".data"))
            .env("XDG_CACHE_HOME", config.path().join(".cache"))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            // tauri-driver must be stopped with SIGTERM and have null stdio, or it orphans
            // WebKitWebDriver, which then holds the test's pipes open.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start tauri-driver (cargo install tauri-driver --locked)");
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({
            "browserName": "wry",
            "tauri:options": { "application": app, "args": args },
        });
        let caps = caps.as_object().unwrap().clone();
        // tauri-driver listens before it can always start a session: on a loaded machine the
        // first request may be cut off (an incomplete message); a second one is answered.
        let mut attempts = 0;
        let client = loop {
            attempts += 1;
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if attempts < 3 => {
                    eprintln!("starting a WebDriver session failed ({e}); trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!("cannot start a WebDriver session with the app: {e}"),
            }
        };
        let app = App {
            client: Some(client),
            driver,
            xvfb,
            config,
        };
        app.wait_for("the UI to load", || async {
            app.find("connection-status").await.is_some()
        })
        .await;
        app
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("session open")
    }

    pub async fn wait_for<F, Fut>(&self, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + TIMEOUT;
        while !done().await {
            if Instant::now() > deadline {
                self.fail(what).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot for the post-mortem (when the window still answers) and fails the test.
    async fn fail(&self, what: &str) -> ! {
        let shot = tokio::time::timeout(Duration::from_secs(5), self.client().screenshot()).await;
        let path = std::env::temp_dir().join(format!("eventscope-e2e-{}.png", std::process::id()));
        let saved = match shot {
            Ok(Ok(png)) => std::fs::write(&path, png).is_ok(),
            _ => false,
        };
        panic!(
            "timed out waiting for {what} ({})",
            if saved {
                format!("screenshot: {}", path.display())
            } else {
                "no screenshot: the window did not answer".into()
            }
        );
    }

    pub async fn find(&self, testid: &str) -> Option<Element> {
        self.client()
            .find(Locator::Css(&format!("[data-testid='{testid}']")))
            .await
            .ok()
    }

    /// The element's text content ("" when absent), read in the page: one round trip.
    pub async fn text(&self, testid: &str) -> String {
        let js = "const e = document.querySelector(`[data-testid='${arguments[0]}']`); return e ? e.textContent : '';";
        match self.client().execute(js, vec![json!(testid)]).await {
            Ok(serde_json::Value::String(s)) => s.trim().to_string(),
            other => {
                eprintln!("reading {testid}: {other:?}");
                String::new()
            }
        }
    }

    /// Digits only, so `1 234` and `1,234` both read as 1234.
    fn digits(s: &str) -> String {
        s.chars().filter(char::is_ascii_digit).collect()
    }

    /// Polls `testid`'s text until `accept` takes it; returns the text.
    async fn wait_text_where(
        &self,
        testid: &str,
        what: &str,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.text(testid).await;
            if accept(&text) {
                return text;
            }
            if Instant::now() > deadline {
                self.fail(&format!("{testid} to {what} (last read {text:?})"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_text(&self, testid: &str, expected: &str) {
        self.wait_text_where(testid, &format!("read {expected}"), |t| {
            Self::digits(t) == expected || t == expected
        })
        .await;
    }

    pub async fn wait_text_contains(&self, testid: &str, needle: &str) -> String {
        self.wait_text_where(testid, &format!("contain {needle:?}"), |t| {
            t.contains(needle)
        })
        .await
    }

    pub async fn wait_connected(&self) {
        self.wait_for("connection-status to say connected", || async {
            let t = self.text("connection-status").await.to_lowercase();
            t.contains("connected") && !t.contains("disconnected")
        })
        .await;
    }

    pub async fn row(&self, id: &str) -> Option<Element> {
        self.client()
            .find(Locator::Css(&format!(
                "[data-testid='event-row'][data-event-id='{id}']"
            )))
            .await
            .ok()
    }

    pub async fn wait_row(&self, id: &str) -> Element {
        self.wait_for(&format!("row {id}"), || async {
            self.row(id).await.is_some()
        })
        .await;
        self.row(id).await.expect("just seen")
    }

    pub async fn rows(&self) -> Vec<Element> {
        self.client()
            .find_all(Locator::Css("[data-testid='event-row']"))
            .await
            .unwrap_or_default()
    }

    pub async fn click(&self, testid: &str) {
        self.find(testid)
            .await
            .unwrap_or_else(|| panic!("no {testid}"))
            .click()
            .await
            .unwrap();
    }

    /// Types `keys` (WebDriver key codes allowed) into the page.
    pub async fn keys(&self, keys: &str) {
        let body = self.client().find(Locator::Css("body")).await.unwrap();
        body.send_keys(keys).await.unwrap();
    }

    /// Types `keys` (WebDriver key codes allowed) into the element `testid`.
    pub async fn keys_into(&self, testid: &str, keys: &str) {
        self.wait_find(testid).await.send_keys(keys).await.unwrap();
    }

    pub async fn wait_for_absent(&self, testid: &str) {
        self.wait_for(&format!("{testid} to go away"), || async {
            self.find(testid).await.is_none()
        })
        .await;
    }

    /// Replaces the text of an input or textarea, as typing would.
    pub async fn fill(&self, testid: &str, text: &str) {
        let el = self.wait_find(testid).await;
        el.clear().await.unwrap();
        if !text.is_empty() {
            el.send_keys(text).await.unwrap();
        }
    }

    pub async fn select(&self, testid: &str, value: &str) {
        self.wait_find(testid)
            .await
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn wait_find(&self, testid: &str) -> Element {
        self.wait_for(&format!("{testid} to exist"), || async {
            self.find(testid).await.is_some()
        })
        .await;
        self.find(testid).await.expect("just seen")
    }

    /// The `XDG_CONFIG_HOME` the app runs with: Eventscope's own files are in its
    /// `dev.eventscope.app`, and a test may put other programs' configuration beside them (the
    /// `nats` CLI's contexts in `nats/`).
    pub fn config_home(&self) -> &Path {
        self.config.path()
    }

    /// An attribute (or, for `value`, the live property) of the element `testid`.
    pub async fn attr(&self, testid: &str, name: &str) -> Option<String> {
        let js = "const e = document.querySelector(`[data-testid='${arguments[0]}']`); if (!e) return null; const v = arguments[1] === 'value' ? e.value : e.getAttribute(arguments[1]); return v ?? null;";
        match self
            .client()
            .execute(js, vec![json!(testid), json!(name)])
            .await
        {
            Ok(serde_json::Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Waits until the attribute `name` of `testid` reads `expected`.
    pub async fn wait_attr(&self, testid: &str, name: &str, expected: &str) {
        self.wait_for(&format!("{testid}'s {name} to be {expected:?}"), || async {
            self.attr(testid, name).await.as_deref() == Some(expected)
        })
        .await;
    }

    /// What assistive technology is told about the focused element: WebKit's computed
    /// accessibility role and label (WebDriver's Get Computed Role and Label), as `role "label"`.
    pub async fn focused_accessibly(&self) -> String {
        let element = self
            .client()
            .active_element()
            .await
            .expect("an element has the focus");
        let id = element.element_id().to_string();
        let ask = |what: &'static str| Accessibility {
            element: id.clone(),
            what,
        };
        let role = self.client().issue_cmd(ask("computedrole")).await;
        let label = self.client().issue_cmd(ask("computedlabel")).await;
        let text = |v: Result<serde_json::Value, _>| match v {
            Ok(serde_json::Value::String(s)) => s,
            other => panic!("WebKit did not answer the accessibility query: {other:?}"),
        };
        format!("{} {:?}", text(role), text(label).trim())
    }

    /// Presses Tab `times` times from the element `testid` (focused first) and returns what each
    /// focused element is announced as.
    pub async fn tab_through(&self, testid: &str, times: usize) -> Vec<String> {
        let start = self.wait_find(testid).await;
        self.client()
            .execute(
                "arguments[0].focus()",
                vec![serde_json::to_value(&start).expect("an element serializes")],
            )
            .await
            .expect("focus the first element");
        let mut out = vec![self.focused_accessibly().await];
        for _ in 0..times {
            self.client()
                .active_element()
                .await
                .expect("an element has the focus")
                .send_keys("\u{E004}")
                .await
                .expect("press Tab");
            out.push(self.focused_accessibly().await);
        }
        out
    }

    /// Everything under the config directory (but WebKit's data and cache), as text.
    pub fn config_files_text(&self) -> String {
        fn walk(dir: &std::path::Path, out: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if path.is_dir() && !hidden {
                    walk(&path, out);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push_str(&format!("{}:\n{text}\n", path.display()));
                }
            }
        }
        let mut out = String::new();
        walk(self.config.path(), &mut out);
        out
    }

    pub async fn script(&self, js: &str) -> serde_json::Value {
        self.client().execute(js, vec![]).await.unwrap()
    }

    pub async fn client_execute_async(&self, js: &str) -> serde_json::Value {
        self.client().execute_async(js, vec![]).await.unwrap()
    }

    /// Runs an asynchronous script with arguments; it resolves by calling its last argument.
    pub async fn client_execute_async_args(
        &self,
        js: &str,
        args: Vec<serde_json::Value>,
    ) -> serde_json::Value {
        self.client().execute_async(js, args).await.unwrap()
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        self.client().screenshot().await.unwrap()
    }

    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // A test that failed never closed its session: close it now, or WebKitWebDriver and the
        // app it started outlive tauri-driver and the next launch waits on them.
        if let Some(client) = self.client.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                    tokio::task::block_in_place(|| {
                        handle.block_on(async {
                            let _ =
                                tokio::time::timeout(Duration::from_secs(5), client.close()).await;
                        })
                    });
                }
            }
        }
        // SIGTERM lets tauri-driver stop WebKitWebDriver and the app with it.
        unsafe { libc::kill(self.driver.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// WebDriver's Get Computed Role / Get Computed Label of an element, which fantoccini does not
/// wrap: `GET /session/{id}/element/{element}/computedrole` (or `computedlabel`).
#[derive(Debug)]
struct Accessibility {
    element: String,
    what: &'static str,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Accessibility {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/element/{}/{}",
            session_id.unwrap_or_default(),
            self.element,
            self.what
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::GET, None)
    }
}
