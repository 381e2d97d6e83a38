//! Saved views and the history of applied queries, kept in `views.json` in the config directory.
//!
//! Both are small and written whole on every change (atomically: a temporary file renamed over
//! the old one), so a crash never leaves half a file. A file that cannot be read is set aside
//! as `views.json.bad` rather than overwritten, so nothing the user saved is lost silently.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::filter::Filter;
use crate::wire::{SavedView, SavedViews};

/// Queries remembered in the history, newest first.
pub const HISTORY_LEN: usize = 30;
/// Longest name a saved view may have.
const MAX_NAME: usize = 80;

#[derive(Debug, Error)]
pub enum SavedError {
    #[error("a view needs a name")]
    EmptyName,
    #[error("view names are at most {MAX_NAME} characters")]
    LongName,
    #[error("{0}")]
    InvalidQuery(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The saved views and query history of one config directory.
#[derive(Debug)]
pub struct SavedViewsFile {
    path: PathBuf,
    data: Mutex<SavedViews>,
}

impl SavedViewsFile {
    /// Reads `views.json` in `config_dir`; a missing file is an empty list.
    pub fn open(config_dir: &Path) -> SavedViewsFile {
        let path = config_dir.join("views.json");
        let data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{} is not readable ({e}); setting it aside", path.display());
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                SavedViews::default()
            }),
            Err(_) => SavedViews::default(),
        };
        SavedViewsFile {
            path,
            data: Mutex::new(data),
        }
    }

    pub fn get(&self) -> SavedViews {
        self.lock().clone()
    }

    /// Saves `view` under its name (replacing a view of the same name); its query must parse
    /// and is stored in canonical form.
    pub fn save(&self, mut view: SavedView) -> Result<SavedViews, SavedError> {
        view.name = view.name.trim().to_string();
        if view.name.is_empty() {
            return Err(SavedError::EmptyName);
        }
        if view.name.chars().count() > MAX_NAME {
            return Err(SavedError::LongName);
        }
        let filter =
            Filter::parse(&view.query).map_err(|e| SavedError::InvalidQuery(e.to_string()))?;
        view.query = filter.to_string();
        let mut data = self.lock();
        match data.views.iter_mut().find(|v| v.name == view.name) {
            Some(existing) => *existing = view,
            None => data.views.push(view),
        }
        data.views.sort_by_key(|v| v.name.to_lowercase());
        self.write(&data)?;
        Ok(data.clone())
    }

    pub fn delete(&self, name: &str) -> Result<SavedViews, SavedError> {
        let mut data = self.lock();
        data.views.retain(|v| v.name != name);
        self.write(&data)?;
        Ok(data.clone())
    }

    /// Puts `query` first in the history (once); the empty query is not remembered.
    pub fn remember(&self, query: &str) -> Result<(), SavedError> {
        if query.trim().is_empty() {
            return Ok(());
        }
        let mut data = self.lock();
        if data.history.first().map(String::as_str) == Some(query) {
            return Ok(());
        }
        data.history.retain(|q| q != query);
        data.history.insert(0, query.to_string());
        data.history.truncate(HISTORY_LEN);
        self.write(&data)
    }

    fn write(&self, data: &SavedViews) -> Result<(), SavedError> {
        let failed = |source| SavedError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(data).expect("saved views serialize");
        std::fs::write(&tmp, json).map_err(failed)?;
        std::fs::rename(&tmp, &self.path).map_err(failed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SavedViews> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, query: &str) -> SavedView {
        SavedView {
            name: name.into(),
            query: query.into(),
            columns: vec!["time".into(), "org".into()],
        }
    }

    fn check(file: &SavedViewsFile, expected: &str) {
        let data = file.get();
        let views: Vec<String> = data
            .views
            .iter()
            .map(|v| format!("{}={}", v.name, v.query))
            .collect();
        let got = format!("{} | {}", views.join(", "), data.history.join(", "));
        assert_eq!(got, expected);
    }

    #[test]
    fn views_and_history_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = SavedViewsFile::open(dir.path());
        check(&file, " | ");
        file.save(view(" failures ", "name:task.failed   org:org_1"))
            .unwrap();
        file.save(view("Acme", "org:acme")).unwrap();
        file.save(view("failures", "event:failed")).unwrap();
        file.remember("org:a").unwrap();
        file.remember("org:b").unwrap();
        file.remember("org:a").unwrap();
        file.remember("").unwrap();
        check(&file, "Acme=org:acme, failures=event:failed | org:a, org:b");

        let again = SavedViewsFile::open(dir.path());
        check(
            &again,
            "Acme=org:acme, failures=event:failed | org:a, org:b",
        );
        assert_eq!(again.get().views[0].columns, ["time", "org"]);
        again.delete("Acme").unwrap();
        check(&again, "failures=event:failed | org:a, org:b");
    }

    #[test]
    fn bad_names_and_queries_are_refused_and_a_bad_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = SavedViewsFile::open(dir.path());
        let err = |v| file.save(v).unwrap_err().to_string();
        assert_eq!(err(view("  ", "org:a")), "a view needs a name");
        assert_eq!(
            err(view("x", "org:(")),
            "invalid filter at 4: expected a value after `org:`"
        );
        for _ in 0..40 {
            file.remember(&format!("org:o{}", rand::random::<u32>()))
                .unwrap();
        }
        assert_eq!(file.get().history.len(), HISTORY_LEN);

        std::fs::write(dir.path().join("views.json"), "{not json").unwrap();
        let reopened = SavedViewsFile::open(dir.path());
        check(&reopened, " | ");
        assert!(dir.path().join("views.json.bad").exists());
    }
}
