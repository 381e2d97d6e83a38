//! Commands of the connection dialog.

use eventscope_core::source::Initial;
use eventscope_core::wire::{ConnectionProfile, SavedConnection};
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
    state.profiles.fill_secret(&mut profile);
    state
        .live
        .connect(&profile, Initial::FailFast)
        .await
        .map_err(|e| {
            let code = if e.is_invalid_input() {
                "invalid_input"
            } else {
                "connect_failed"
            };
            CommandError::new(code, e.to_string())
        })?;
    state.profiles.save(&profile).map_err(CommandError::plain)?;
    *state.current.lock().unwrap_or_else(|e| e.into_inner()) = profile.clone();
    Ok(state.profiles.saved(&profile, false))
}

#[tauri::command]
pub fn disconnect(state: State<'_, AppState>) {
    state.live.disconnect();
}
