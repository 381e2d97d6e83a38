//! Commands of the live table and the detail pane.

use std::sync::atomic::Ordering;

use eventscope_core::wire::{Batch, EventDetail, RowSummary};
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

#[tauri::command]
pub fn rows(state: State<'_, AppState>, start_seq: u64, count: u32) -> Vec<RowSummary> {
    state.live.rows(start_seq, count.min(MAX_ROWS) as usize)
}

#[tauri::command]
pub fn event_detail(state: State<'_, AppState>, seq: u64) -> CommandResult<EventDetail> {
    state
        .live
        .detail(seq)
        .ok_or_else(|| CommandError::new("evicted", format!("event #{seq} is no longer held")))
}

#[tauri::command]
pub fn clear_events(state: State<'_, AppState>) {
    state.live.clear();
}
