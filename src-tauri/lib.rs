//! The desktop shell: builds the Tauri app, holds the state, registers the commands.
//!
//! Everything that is not UI lives in `eventscope-core`; this crate only adapts it to Tauri.

mod commands;
mod error;
mod stream;

use std::sync::{Arc, Mutex};

use eventscope_core::live::Live;
use eventscope_core::nats_context;
use eventscope_core::notify::SavedRules;
use eventscope_core::profile::{LaunchOptions, ProfileStore};
use eventscope_core::record::LocalRecording;
use eventscope_core::saved::SavedViewsFile;
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::ConnectionProfile;
use tauri::Manager;
use tokio_util::sync::CancellationToken;

/// What the commands share.
pub struct AppState {
    live: Arc<Live>,
    view: Arc<stream::ViewState>,
    profiles: ProfileStore,
    saved: SavedViewsFile,
    /// The profile in use now (with its secret).
    current: Mutex<ConnectionProfile>,
    /// True when launch options override the remembered connection.
    overridden: bool,
    /// Stops the send, replay or scenario run in progress (one at a time: a new one replaces
    /// the token).
    publish_cancel: Mutex<CancellationToken>,
    /// The notification rules file and the rules in force.
    notify: SavedRules,
    /// The local recording, on or off.
    recording: LocalRecording,
}

impl AppState {
    /// A token for a new send, the one `cancel_current` stops from now on.
    fn fresh_cancel(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self
            .publish_cancel
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = token.clone();
        token
    }

    fn cancel_current(&self) {
        self.publish_cancel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancel();
    }

    /// The connection profile in use now.
    fn current_profile(&self) -> ConnectionProfile {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The NATS connection in use, to run a scenario on (it carries `read_only`, so a scenario
    /// that only listens and expects still runs on a read-only connection): refused on a gateway.
    fn profile_for_scenario(&self) -> Result<ConnectionProfile, error::CommandError> {
        self.live.nats_connected()?;
        Ok(self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone())
    }
}

/// The app's version, from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What `eventscope --version` or `--help` prints, when asked; `None` starts the app.
pub fn answer(args: impl IntoIterator<Item = String>) -> Option<String> {
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|a| a == "--version" || a == "-V") {
        return Some(format!("eventscope {VERSION}"));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Some(format!(
            "eventscope {VERSION}: watch, inject and explain the events of a NATS-based platform

Usage: eventscope [--nats-url URL | --gateway-url URL] [--subject PATTERN]...

Options:
  --nats-url URL        NATS server URL (comma-separated for several)  [EVENTSCOPE_NATS_URL]
  --gateway-url URL     watch through the WebSocket gateway (ws:// or wss://)  [EVENTSCOPE_GATEWAY_URL]
  --subject PATTERN     subject pattern to subscribe to; repeatable  [EVENTSCOPE_SUBJECTS]
  -V, --version         print the version
  -h, --help            print this help

The gateway's token comes only from EVENTSCOPE_GATEWAY_TOKEN. Without options, the remembered
connection is used. EVENTSCOPE_LOG sets the log filter (info by default)."
        ));
    }
    None
}

pub fn run() {
    // WebKitGTK's accelerated compositing falls back to software GL without a GPU (VMs, Xvfb,
    // remote desktops) and then costs a core just to repaint a table; plain rendering is
    // several times cheaper for this UI. A value set by the user wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // Set before any thread starts: nothing else reads the environment concurrently yet.
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVENTSCOPE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let launch = LaunchOptions::parse(std::env::args().skip(1), |k| std::env::var(k).ok());

    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            let config_dir = app.path().app_config_dir()?;
            let profiles = ProfileStore::open(&config_dir)
                .with_nats_contexts(nats_context::default_dir(|k| std::env::var(k).ok()));
            let saved = SavedViewsFile::open(&config_dir);
            let profile = launch.apply(profiles.load());
            let live = Live::new(StoreLimits::default());
            let notify = SavedRules::open(&config_dir);
            let recording = LocalRecording::new(&config_dir, &app.path().app_data_dir()?);
            if let Err(e) = recording.resume(&live) {
                tracing::warn!("cannot resume the recording: {e}");
            }
            live.set_notify_rules(Some(notify.rules()));
            // What this window publishes comes back marked "sent" in its table.
            eventscope_core::sent::mark_outgoing();
            let state = AppState {
                live: live.clone(),
                view: Arc::default(),
                profiles,
                saved,
                current: Mutex::new(profile.clone()),
                overridden: !launch.is_empty(),
                publish_cancel: Mutex::default(),
                notify,
                recording,
            };
            app.manage(state);
            // Connect in the background: the window shows "connecting" and then the stream;
            // an unreachable server is retried and reported, never a startup failure.
            tauri::async_runtime::spawn(async move {
                if let Err(e) = live.connect(&profile, FirstConnect::Retry).await {
                    tracing::warn!("cannot start the source: {e}");
                    live.fail(e.to_string());
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::events::subscribe_stream,
            commands::events::set_follow,
            commands::events::rows,
            commands::events::event_detail,
            commands::events::clear_events,
            commands::events::check_filter,
            commands::events::set_filter,
            commands::views::saved_views,
            commands::views::save_view,
            commands::views::delete_view,
            commands::connection::capture_subjects,
            commands::connection::saved_connection,
            commands::connection::connect,
            commands::connection::disconnect,
            commands::connection::check_file,
            commands::connection::nats_contexts,
            commands::connection::about,
            commands::publish::publish_templates,
            commands::publish::event_envelope,
            commands::publish::publish_subject,
            commands::publish::publish,
            commands::publish::cancel_publish,
            commands::publish::replay_view,
            commands::publish::scenario_check,
            commands::publish::scenario_run,
            commands::publish::save_scenario,
            commands::shape::rate_series,
            commands::shape::subject_tree,
            commands::shape::producer_lag,
            commands::shape::anomalies,
            commands::timeline::timeline,
            commands::files::import_file,
            commands::notify::notify_rules,
            commands::notify::notify_check,
            commands::notify::notify_preview,
            commands::notify::notify_samples,
            commands::notify::notify_save,
            commands::notify::notify_volume,
            commands::notify::notify_recipient,
            commands::files::export_events,
            commands::recording::recording_state,
            commands::recording::set_recording,
        ])
        .run(tauri::generate_context!())
        .expect("error while running eventscope");
}
