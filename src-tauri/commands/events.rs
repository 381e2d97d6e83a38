//! Commands of the live table and the detail pane.

use std::sync::atomic::Ordering;

use eventscope_core::filter;
use eventscope_core::wire::{Batch, EventDetail, FilterApplied, QueryCheck, RowSummary};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::stream::{self, MAX_TAIL};
use crate::AppState;

/// The most rows one `rows` call returns: a screenful or two, never the stream.
const MAX_ROWS: u32 = 2_000;

#[tauri::command]
pub fn subscribe_stream(state: State<'_, AppState>, on_batch: Channel<Batch>) {
    tauri::async_runtime::spawn(stream::run(
        state.live.clone(),
        state.view.clone(),
        on_batch,
    ));
}

#[tauri::command]
pub fn set_follow(state: State<'_, AppState>, follow: bool, tail_size: u32) {
    state.view.follow.store(follow, Ordering::Relaxed);
    state
        .view
        .tail_size
        .store((tail_size as usize).min(MAX_TAIL), Ordering::Relaxed);
}

/// Rows of the view at positions `start_pos..start_pos + count` (evicted ones absent).
#[tauri::command]
pub fn rows(state: State<'_, AppState>, start_pos: u64, count: u32) -> Vec<RowSummary> {
    state.live.rows(start_pos, count.min(MAX_ROWS) as usize)
}

/// What a query means, while it is typed: its problem, or the subjects it narrows to.
#[tauri::command]
pub fn check_filter(query: String) -> QueryCheck {
    filter::check(&query)
}

/// Applies a query to the held events and the stream (off the IPC thread: a million events
/// take a few hundred milliseconds).
#[tauri::command]
pub async fn set_filter(state: State<'_, AppState>, query: String) -> CommandResult<FilterApplied> {
    let live = state.live.clone();
    let applied = tauri::async_runtime::spawn_blocking(move || live.set_filter(&query))
        .await
        .map_err(CommandError::plain)??;
    if let Err(e) = state.saved.remember(&applied.view.query) {
        tracing::warn!("cannot remember the query: {e}");
    }
    Ok(applied)
}

#[tauri::command]
pub fn event_detail(state: State<'_, AppState>, seq: u64) -> CommandResult<EventDetail> {
    state
        .live
        .detail(seq)
        .ok_or_else(|| CommandError::evicted(seq))
}

#[tauri::command]
pub fn clear_events(state: State<'_, AppState>) {
    state.live.clear();
}
