//! The app's own recording: where it lives, whether it is on and what it keeps (remembered in
//! the config directory), and reading one organization back for the timeline.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{Query, Reader, RecordError, Recorder, RecorderOptions, Retention};
use crate::live::Live;
use crate::timeline::{self, Origin, Owned, TimelineGap};
use crate::wire::RecordingState;

/// What is remembered between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Settings {
    on: bool,
    #[serde(default)]
    retention: Retention,
}

/// The recording file in the data directory and its settings in the config directory.
pub struct LocalRecording {
    db: PathBuf,
    settings_path: PathBuf,
    settings: Mutex<Settings>,
    recorder: Mutex<Option<Recorder>>,
}

/// Messages read back from the recording, and its gaps over the same range.
pub type Recorded = (Vec<Owned>, Vec<TimelineGap>);

/// The recording's file name in the app's data directory.
pub const RECORDING_FILE: &str = "recording.sqlite";
const SETTINGS_FILE: &str = "recording.json";

impl LocalRecording {
    pub fn new(config_dir: &Path, data_dir: &Path) -> LocalRecording {
        let settings_path = config_dir.join(SETTINGS_FILE);
        let settings = std::fs::read(&settings_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        LocalRecording {
            db: data_dir.join(RECORDING_FILE),
            settings_path,
            settings: Mutex::new(settings),
            recorder: Mutex::new(None),
        }
    }

    /// Starts recording into `live` when the last run left it on.
    pub fn resume(&self, live: &Live) -> Result<(), RecordError> {
        let settings = *self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if settings.on {
            self.set(live, true, settings.retention)?;
        }
        Ok(())
    }

    /// Turns recording on (with these limits) or off, and remembers the choice.
    pub fn set(
        &self,
        live: &Live,
        on: bool,
        retention: Retention,
    ) -> Result<RecordingState, RecordError> {
        let mut recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        match (on, recorder.as_ref()) {
            (true, Some(r)) => r.set_retention(retention)?,
            (true, None) => {
                if let Some(dir) = self.db.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| RecordError::Open {
                        path: dir.display().to_string(),
                        reason: e.to_string(),
                    })?;
                }
                let r = Recorder::open(
                    &self.db,
                    RecorderOptions {
                        retention,
                        ..RecorderOptions::default()
                    },
                )?;
                live.set_recording(Some(r.clone()));
                *recorder = Some(r);
            }
            (false, _) => {
                live.set_recording(None);
                if let Some(r) = recorder.take() {
                    r.close();
                }
            }
        }
        drop(recorder);
        let settings = Settings { on, retention };
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
        // Not remembering the choice only costs the next run a click: the recording goes on.
        if let Ok(json) = serde_json::to_vec_pretty(&settings) {
            if let Some(dir) = self.settings_path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&self.settings_path, json);
        }
        Ok(self.state())
    }

    pub fn state(&self) -> RecordingState {
        let settings = *self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let recorder = self.recorder.lock().unwrap_or_else(|e| e.into_inner());
        RecordingState {
            on: recorder.is_some(),
            path: self.db.display().to_string(),
            retention: settings.retention,
            stats: recorder.as_ref().map(Recorder::stats),
        }
    }

    /// `org`'s recorded messages and the recording's gaps between `from_ms` and `to_ms`, at
    /// most [`timeline::MAX_EVENTS`]; `None` when nothing was ever recorded.
    pub fn read_org(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Option<Recorded>, RecordError> {
        if !self.db.exists() {
            return Ok(None);
        }
        let reader = Reader::open(&self.db)?;
        let query = Query::range(Some(org), from_ms, to_ms, timeline::MAX_EVENTS);
        let messages = reader
            .query(&query)?
            .into_iter()
            .map(|m| Owned {
                origin: Origin::Recording,
                received_ms: m.received_ms,
                subject: m.subject,
                body: m.body,
            })
            .collect();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let gaps = reader
            .gaps(from_ms, to_ms)?
            .into_iter()
            .map(|g| TimelineGap {
                from_ms: g.start_ms,
                to_ms: g.end_ms.unwrap_or(now_ms),
                reason: g.reason,
            })
            .collect();
        Ok(Some((messages, gaps)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;

    /// Whether the recording is on, as the state says and as the next run would find it.
    fn check(dirs: &tempfile::TempDir, local: &LocalRecording) -> (bool, bool) {
        let again = LocalRecording::new(&dirs.path().join("config"), &dirs.path().join("data"));
        let remembered = again.settings.lock().unwrap().on;
        (local.state().on, remembered)
    }

    #[test]
    fn turning_it_on_opens_the_file_and_is_remembered_and_off_is_too() {
        let dirs = tempfile::tempdir().unwrap();
        let live = Live::new(StoreLimits::default());
        let local = LocalRecording::new(&dirs.path().join("config"), &dirs.path().join("data"));
        assert_eq!(check(&dirs, &local), (false, false));
        assert_eq!(local.read_org("org_1", 0, i64::MAX).unwrap(), None);

        let state = local.set(&live, true, Retention::DEFAULT).unwrap();
        assert!(state.stats.is_some() && state.path.ends_with(RECORDING_FILE));
        assert_eq!(check(&dirs, &local), (true, true));
        let (messages, _) = local.read_org("org_1", 0, i64::MAX).unwrap().unwrap();
        assert!(messages.is_empty());

        local.set(&live, false, Retention::DEFAULT).unwrap();
        assert_eq!(check(&dirs, &local), (false, false));
    }
}
