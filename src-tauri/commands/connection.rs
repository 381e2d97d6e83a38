//! Commands of the connection dialog.

use eventscope_core::profile;
use eventscope_core::source::FirstConnect;
use eventscope_core::wire::{
    About, ConnectionProfile, FileCheck, NatsContextInfo, SavedConnection,
};
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

#[tauri::command]
pub fn saved_connection(state: State<'_, AppState>) -> SavedConnection {
    let current = state
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    state.profiles.saved(&current, state.overridden)
}

#[tauri::command]
pub async fn connect(
    state: State<'_, AppState>,
    mut profile: ConnectionProfile,
) -> CommandResult<SavedConnection> {
    state.profiles.fill_secret(&mut profile)?;
    let current = state
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // A fresher token for the gateway in use re-authenticates the open connection: the stream
    // goes on instead of reconnecting.
    let reauthenticated = profile::only_token_changed(&current, &profile)
        .is_some_and(|token| state.live.set_gateway_token(token));
    if !reauthenticated {
        state.live.connect(&profile, FirstConnect::FailFast).await?;
    }
    state.profiles.save(&profile)?;
    *state.current.lock().unwrap_or_else(|e| e.into_inner()) = profile.clone();
    Ok(state.profiles.saved(&profile, false))
}

/// Narrows what is captured to `subjects` (the subjects a query implies), or with `None` goes
/// back to the connection's own subjects. Events outside the narrowed subjects are no longer
/// received, so the UI asks first; the remembered connection is not changed.
#[tauri::command]
pub async fn capture_subjects(
    state: State<'_, AppState>,
    subjects: Option<Vec<String>>,
) -> CommandResult<()> {
    let mut profile = state
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(subjects) = subjects {
        if subjects.is_empty() {
            return Err(CommandError::invalid_input("no subject to capture"));
        }
        profile.subjects = subjects;
    }
    Ok(state.live.connect(&profile, FirstConnect::FailFast).await?)
}

#[tauri::command]
pub fn disconnect(state: State<'_, AppState>) {
    state.live.disconnect();
}

/// Whether a file the dialog names (CA, certificate, key, `.creds`) exists and can be read.
#[tauri::command]
pub fn check_file(path: String) -> FileCheck {
    profile::check_file(&path)
}

/// The `nats` CLI's contexts the dialog can fill the form from (secrets left out).
#[tauri::command]
pub fn nats_contexts(state: State<'_, AppState>) -> Vec<NatsContextInfo> {
    state.profiles.nats_contexts()
}

/// The About box: this build's version and the connected server's.
#[tauri::command]
pub fn about(state: State<'_, AppState>) -> About {
    About {
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        server: state.live.server_about(),
    }
}
