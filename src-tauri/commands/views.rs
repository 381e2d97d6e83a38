//! Commands of the saved-views menu and the query history.

use eventscope_core::wire::{SavedView, SavedViews};
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

#[tauri::command]
pub fn saved_views(state: State<'_, AppState>) -> SavedViews {
    state.saved.get()
}

#[tauri::command]
pub fn save_view(state: State<'_, AppState>, view: SavedView) -> CommandResult<SavedViews> {
    state.saved.save(view).map_err(CommandError::plain)
}

#[tauri::command]
pub fn delete_view(state: State<'_, AppState>, name: String) -> CommandResult<SavedViews> {
    state.saved.delete(&name).map_err(CommandError::plain)
}
