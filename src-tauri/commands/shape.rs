//! Commands of the stream's shape: the rate chart's series, the subject tree, producer lag and
//! silences and spikes, all for the current view.

use eventscope_core::shape::TreeQuery;
use eventscope_core::wire::{Anomaly, GroupBy, LagReport, RateSeries, SubjectLevel, TreeSort};
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// The most children one tree page holds: a level of thousands of resource ids is paged.
const MAX_TREE_PAGE: usize = 500;

/// The chart's series over `from_ms..to_ms` (default: the last 15 minutes), at most
/// `max_points` points (default 300).
#[tauri::command]
pub fn rate_series(
    state: State<'_, AppState>,
    by: GroupBy,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    max_points: Option<u32>,
) -> RateSeries {
    let range = from_ms.zip(to_ms);
    state
        .live
        .rate_series(by, range, max_points.map(|p| p as usize))
}

#[tauri::command]
pub fn subject_tree(
    state: State<'_, AppState>,
    prefix: String,
    sort: TreeSort,
    offset: u32,
    limit: u32,
    search: String,
) -> CommandResult<SubjectLevel> {
    let query = TreeQuery {
        prefix,
        sort,
        offset: offset as usize,
        limit: (limit as usize).min(MAX_TREE_PAGE),
        search,
    };
    state
        .live
        .subject_tree(&query)
        .map_err(|e| CommandError::invalid_input(e.to_string()))
}

#[tauri::command]
pub fn producer_lag(state: State<'_, AppState>, threshold_ms: Option<i64>) -> LagReport {
    state.live.lag(threshold_ms)
}

#[tauri::command]
pub fn anomalies(state: State<'_, AppState>, by: GroupBy) -> Vec<Anomaly> {
    state.live.anomalies(by, None)
}
