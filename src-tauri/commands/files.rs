//! Commands of files of events: open one as a read-only source, export the view or a timeline.

use std::path::PathBuf;

use eventscope_core::ndjson::DEFAULT_MAX_LINE_BYTES;
use eventscope_core::wire::ImportOutcome;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// Opens an NDJSON file of events in place of the connection (read on a blocking thread: a
/// file of a million events takes seconds).
#[tauri::command]
pub async fn import_file(state: State<'_, AppState>, path: String) -> CommandResult<ImportOutcome> {
    let live = state.live.clone();
    let file = PathBuf::from(&path);
    tokio::task::spawn_blocking(move || live.open_file(&file, DEFAULT_MAX_LINE_BYTES))
        .await
        .map_err(|e| CommandError::plain(format!("reading {path} stopped: {e}")))?
        .map_err(|e| CommandError::invalid_input(format!("cannot read {path}: {e}")))
}
