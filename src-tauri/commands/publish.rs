//! Commands of the publish composer, replay and scenarios: templates, a received event as a
//! draft, the subject of an envelope, sending and running with progress over a Channel.

use std::path::Path;

use eventscope_core::compose;
use eventscope_core::scenario;
use eventscope_core::template;
use eventscope_core::wire::{
    Body, PublishOutcome, PublishProgress, PublishRequest, ScenarioOutcome, ScenarioOutline,
    StepUpdate, TemplateInfo,
};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

#[tauri::command]
pub fn publish_templates() -> Vec<TemplateInfo> {
    template::infos()
}

/// A received event as the composer's text: with a fresh id and timestamp unless `as_received`.
#[tauri::command]
pub fn event_envelope(
    state: State<'_, AppState>,
    seq: u64,
    as_received: Option<bool>,
) -> CommandResult<String> {
    let detail = state
        .live
        .detail(seq)
        .ok_or_else(|| CommandError::evicted(seq))?;
    let Body::Json { text } = detail.body else {
        return Err(CommandError::invalid_input(
            "this event is not JSON: there is no envelope to publish again",
        ));
    };
    Ok(compose::republished(
        text.as_bytes(),
        !as_received.unwrap_or(false),
    )?)
}

#[tauri::command]
pub fn publish_subject(envelope: String) -> CommandResult<String> {
    Ok(compose::draft(&envelope, true)?.subject)
}

#[tauri::command]
pub async fn publish(
    state: State<'_, AppState>,
    request: PublishRequest,
    on_progress: Channel<PublishProgress>,
) -> CommandResult<PublishOutcome> {
    let client = state.live.publisher()?;
    let cancel = state.fresh_cancel();
    Ok(compose::send(&client, &request, &cancel, |p| {
        // A closed window is no reason to stop a send half-way.
        let _ = on_progress.send(p);
    })
    .await?)
}

/// Stops the send, replay or scenario run in progress.
#[tauri::command]
pub fn cancel_publish(state: State<'_, AppState>) {
    state.cancel_current();
}

/// Publishes the newest events of the current view again, unchanged: at `rate_per_sec`, or
/// with null at the spacing they were received with.
#[tauri::command]
pub async fn replay_view(
    state: State<'_, AppState>,
    rate_per_sec: Option<f64>,
    on_progress: Channel<PublishProgress>,
) -> CommandResult<PublishOutcome> {
    let client = state.live.publisher()?;
    let events = state.live.view_captured(compose::MAX_REPLAY);
    let cancel = state.fresh_cancel();
    Ok(
        compose::replay(&client, &events, rate_per_sec, &cancel, |p| {
            let _ = on_progress.send(p);
        })
        .await?,
    )
}

fn read_scenario(path: &str, vars: &[(String, String)]) -> CommandResult<scenario::Scenario> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::invalid_input(format!("cannot read {path}: {e}")))?;
    let vars = scenario::vars_from_pairs(vars);
    scenario::parse(&text, &vars)
        .map_err(|e| CommandError::invalid_input(format!("{}:{e}", file_name(path))))
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads and checks a scenario file: its name and steps, or where it is wrong.
#[tauri::command]
pub fn scenario_check(path: String, vars: Vec<(String, String)>) -> CommandResult<ScenarioOutline> {
    let scenario = read_scenario(&path, &vars)?;
    Ok(scenario::outline(&scenario))
}

/// Runs a scenario on the connection's NATS server, each step's change sent over `on_update`.
#[tauri::command]
pub async fn scenario_run(
    state: State<'_, AppState>,
    path: String,
    vars: Vec<(String, String)>,
    on_update: Channel<StepUpdate>,
) -> CommandResult<ScenarioOutcome> {
    let scenario = read_scenario(&path, &vars)?;
    let profile = state.profile_for_scenario()?;
    let cancel = state.fresh_cancel();
    let report = scenario::run(&scenario, &profile, profile.read_only, &cancel, |u| {
        let _ = on_update.send(u.clone());
    })
    .await?;
    Ok(ScenarioOutcome {
        run_id: report.run_id.clone(),
        passed: report.passed(),
        elapsed_ms: report.elapsed.as_millis() as u64,
        steps: report.steps,
    })
}

/// Writes the newest events of the current view (at most 1,000) as a scenario file; how many.
#[tauri::command]
pub fn save_scenario(state: State<'_, AppState>, path: String, name: String) -> CommandResult<u32> {
    let events: Vec<serde_json::Value> = state
        .live
        .view_captured(1_000)
        .iter()
        .filter_map(|e| serde_json::from_slice(&e.body).ok())
        .collect();
    if events.is_empty() {
        return Err(CommandError::invalid_input(
            "the view holds no JSON event to save as a scenario",
        ));
    }
    std::fs::write(&path, scenario::from_events(&name, &events))
        .map_err(|e| CommandError::plain(format!("cannot write {path}: {e}")))?;
    Ok(events.len() as u32)
}
