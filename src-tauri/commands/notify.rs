//! Commands of notification rules: the rules file, previews of held events under the saved
//! rules or the editor's draft, the volume report in steps, one recipient's activity.

use std::sync::Arc;

use eventscope_core::notify::{self, Held, RecipientActivity, RuleOutcome, RuleSet, RulesError};
use eventscope_core::notify::{NotifySample, SaveError, Tally, Volume, REPORT_STEP};
use eventscope_core::wire::RulesFile;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::AppState;

/// The most delivered and missed notifications one recipient query lists (totals are exact).
const RECIPIENT_LIST: usize = 200;
/// The most samples the rule editor shows.
const MAX_SAMPLES: usize = 100;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The draft's rules when given (they must parse), else the saved ones.
fn rules_for(state: &AppState, draft: Option<String>) -> CommandResult<Arc<RuleSet>> {
    match draft {
        Some(text) => RuleSet::parse(&text, true)
            .map(Arc::new)
            .map_err(|e| CommandError::invalid_input(e.to_string())),
        None => Ok(state.notify.rules()),
    }
}

#[tauri::command]
pub fn notify_rules(state: State<'_, AppState>) -> RulesFile {
    state.notify.file()
}

#[tauri::command]
pub fn notify_check(text: String) -> Option<RulesError> {
    RuleSet::parse(&text, true).err()
}

#[tauri::command]
pub fn notify_preview(
    state: State<'_, AppState>,
    seq: u64,
    draft: Option<String>,
) -> CommandResult<Vec<RuleOutcome>> {
    let rules = rules_for(&state, draft)?;
    let store = state.live.store();
    let ev = store.get(seq).ok_or(CommandError::evicted(seq))?;
    Ok(notify::explain(&rules, &ev, &Held::store(&store), now_ms()))
}

#[tauri::command]
pub fn notify_samples(
    state: State<'_, AppState>,
    draft: Option<String>,
    limit: usize,
) -> CommandResult<Vec<NotifySample>> {
    let rules = rules_for(&state, draft)?;
    let store = state.live.store();
    Ok(notify::samples(
        &rules,
        &store,
        limit.min(MAX_SAMPLES),
        now_ms(),
    ))
}

/// Writes the rules file (an invalid text is refused with its error, nothing written) and
/// applies it to the previews and the live count.
#[tauri::command]
pub fn notify_save(state: State<'_, AppState>, text: String) -> CommandResult<Option<RulesError>> {
    match state.notify.save(&text) {
        Ok(rules) => {
            state.live.set_notify_rules(Some(rules));
            Ok(None)
        }
        Err(SaveError::Invalid(e)) => Ok(Some(e)),
        Err(e) => Err(CommandError::plain(e)),
    }
}

/// The volume report over what is held, a step at a time: the store is locked for one step
/// only, so ingest never waits on the report, and each step's figures go out as they are.
#[tauri::command]
pub async fn notify_volume(
    state: State<'_, AppState>,
    on_step: Channel<Volume>,
) -> CommandResult<Volume> {
    let rules = state.notify.rules();
    let live = state.live.clone();
    tokio::task::spawn_blocking(move || {
        let mut tally = Tally::held(rules, &live.store());
        loop {
            let done = tally.advance(&live.store(), REPORT_STEP, now_ms());
            let volume = tally.volume();
            let _ = on_step.send(volume.clone());
            if done {
                return volume;
            }
        }
    })
    .await
    .map_err(|e| CommandError::plain(format!("the report stopped: {e}")))
}

#[tauri::command]
pub fn notify_recipient(
    state: State<'_, AppState>,
    recipient: String,
    since_ms: i64,
) -> RecipientActivity {
    let rules = state.notify.rules();
    let store = state.live.store();
    notify::recipient_activity(
        &rules,
        &store,
        recipient.trim(),
        since_ms,
        now_ms(),
        RECIPIENT_LIST,
    )
}
