//! Commands of the publish composer: templates, a received event as a draft, the subject of an
//! envelope, and sending with progress over a Channel.

use std::sync::atomic::Ordering;

use eventscope_core::compose;
use eventscope_core::wire::{Body, PublishOutcome, PublishProgress, PublishRequest, TemplateInfo};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

#[tauri::command]
pub fn publish_templates() -> Vec<TemplateInfo> {
    compose::templates()
}

#[tauri::command]
pub fn render_template(name: String) -> CommandResult<String> {
    compose::template(&name)
        .ok_or_else(|| CommandError::invalid_input(format!("no template named {name:?}")))
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
    Ok(compose::draft(&envelope)?.subject)
}

#[tauri::command]
pub async fn publish(
    state: State<'_, AppState>,
    request: PublishRequest,
    on_progress: Channel<PublishProgress>,
) -> CommandResult<PublishOutcome> {
    let client = state.live.publisher()?;
    state.publish_cancel.store(false, Ordering::Relaxed);
    Ok(
        compose::send(&client, &request, &state.publish_cancel, |p| {
            // A closed window is no reason to stop a send half-way.
            let _ = on_progress.send(p);
        })
        .await?,
    )
}

#[tauri::command]
pub fn cancel_publish(state: State<'_, AppState>) {
    state.publish_cancel.store(true, Ordering::Relaxed);
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
    state.publish_cancel.store(false, Ordering::Relaxed);
    Ok(
        compose::replay(&client, &events, rate_per_sec, &state.publish_cancel, |p| {
            let _ = on_progress.send(p);
        })
        .await?,
    )
}
