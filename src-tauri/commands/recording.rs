//! Commands of the local recording: its state, and turning it on or off with its limits.

use eventscope_core::record::Retention;
use eventscope_core::wire::RecordingState;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

#[tauri::command]
pub fn recording_state(state: State<'_, AppState>) -> RecordingState {
    state.recording.state()
}

#[tauri::command]
pub fn set_recording(
    state: State<'_, AppState>,
    on: bool,
    retention: Retention,
) -> CommandResult<RecordingState> {
    state
        .recording
        .set(&state.live, on, retention)
        .map_err(|e| CommandError::invalid_input(e.to_string()))
}
