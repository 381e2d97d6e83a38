//! Commands of the support timeline: one organization over a range, from every origin.

use eventscope_core::timeline::{self, HistoryFrom, Owned, Timeline, TimelineGap};
use eventscope_core::topic;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// The recording's and history's messages and gaps for `org` over the range, as asked.
pub(crate) async fn others(
    state: &AppState,
    org: &str,
    from_ms: i64,
    to_ms: i64,
    recording: bool,
    history: bool,
) -> CommandResult<(Vec<Owned>, Vec<TimelineGap>)> {
    let mut messages = Vec::new();
    let mut gaps = Vec::new();
    if recording {
        if let Some((found, found_gaps)) = state
            .recording
            .read_org(org, from_ms, to_ms)
            .map_err(|e| CommandError::plain(e.to_string()))?
        {
            messages.extend(found);
            gaps.extend(found_gaps);
        }
    }
    if history {
        let gateway = state.current_profile().gateway;
        let from = match (&gateway, state.live.nats_client()) {
            (Some(g), _) => HistoryFrom::Gateway {
                url: &g.url,
                token: &g.token,
            },
            (None, Some(client)) => HistoryFrom::Nats(client),
            (None, None) => {
                return Err(CommandError::invalid_input(
                    "JetStream history needs a connection to NATS or to a gateway",
                ))
            }
        };
        let found = timeline::read_history(from, org, from_ms, to_ms)
            .await
            .map_err(|e| CommandError::plain(format!("cannot read history: {e}")))?;
        messages.extend(found);
    }
    Ok((messages, gaps))
}

/// The organization as one subject token (no dots, spaces or wildcards), trimmed.
pub(crate) fn check_org(org: &str) -> CommandResult<String> {
    let org = org.trim();
    topic::check_token("organization", org)
        .map_err(|e| CommandError::invalid_input(e.to_string()))?;
    Ok(org.to_string())
}

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
    let org = check_org(&org)?;
    let (messages, gaps) = others(&state, &org, from_ms, to_ms, recording, history).await?;
    Ok(state.live.timeline(&org, from_ms, to_ms, &messages, gaps))
}
