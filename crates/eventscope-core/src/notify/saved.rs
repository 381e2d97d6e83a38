//! The app's rules file: where it is, the rules it holds now (the built-ins while it is
//! missing or invalid, with what is wrong), and saving it whole.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::rules::{rules_path, save_rules_atomically, RuleSet, RulesError, SaveError};
use crate::wire::RulesFile;

/// What the editor starts from when there is no rules file yet.
pub const STARTER: &str = "\
# Notification rules (docs/notifications.md). The four built-in rules apply unless a rule
# here with the same id overrides them (or sets `enabled: false`).
#
# rules:
#   - id: task-failed-again
#     name: Task failed again
#     event: task.failed
#     when: 'payload.attempt>=2'
#     priority: urgent
#     title: 'Failed again: {{ payload.title }}'
#     body: '{{ payload.error.message }}'
#     channels: [websocket, push, email]
#     recipients:
#       from: payload.owner.id
rules: []
";

/// The rules file and the rules in force.
pub struct SavedRules {
    path: PathBuf,
    now: Mutex<Now>,
}

struct Now {
    rules: Arc<RuleSet>,
    text: String,
    error: Option<RulesError>,
}

impl SavedRules {
    /// Reads `rules.yaml` in `config_dir`: its rules, or the built-ins and what is wrong.
    pub fn open(config_dir: &Path) -> SavedRules {
        let path = rules_path(config_dir);
        let now = match std::fs::read_to_string(&path) {
            Ok(text) => match RuleSet::parse(&text, true) {
                Ok(rules) => Now {
                    rules: Arc::new(rules),
                    text,
                    error: None,
                },
                Err(error) => Now {
                    rules: Arc::new(RuleSet::builtin()),
                    text,
                    error: Some(error),
                },
            },
            Err(_) => Now {
                rules: Arc::new(RuleSet::builtin()),
                text: STARTER.to_string(),
                error: None,
            },
        };
        SavedRules {
            path,
            now: Mutex::new(now),
        }
    }

    fn now(&self) -> std::sync::MutexGuard<'_, Now> {
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        self.now().rules.clone()
    }

    pub fn file(&self) -> RulesFile {
        let now = self.now();
        RulesFile {
            path: self.path.display().to_string(),
            text: now.text.clone(),
            error: now.error.clone(),
        }
    }

    /// Writes `text` whole (refused, nothing written, when invalid) and puts its rules in force.
    pub fn save(&self, text: &str) -> Result<Arc<RuleSet>, SaveError> {
        save_rules_atomically(&self.path, text)?;
        let rules = Arc::new(RuleSet::parse(text, true)?);
        *self.now() = Now {
            rules: rules.clone(),
            text: text.to_string(),
            error: None,
        };
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule ids in force and the file's error, if any.
    fn check(saved: &SavedRules) -> (Vec<String>, Option<String>) {
        let ids = saved.rules().rules().iter().map(|r| r.id.clone()).collect();
        (ids, saved.file().error.map(|e| e.to_string()))
    }

    const BUILTINS: [&str; 4] = [
        "new-message",
        "conversation-created",
        "task-completed",
        "task-failed",
    ];

    #[test]
    fn a_missing_or_invalid_file_leaves_the_built_ins_in_force_and_saving_applies_a_valid_one() {
        let dir = tempfile::tempdir().unwrap();
        let saved = SavedRules::open(dir.path());
        assert_eq!(check(&saved), (BUILTINS.map(String::from).to_vec(), None));
        assert_eq!(saved.file().text, STARTER);
        RuleSet::parse(STARTER, true).expect("the starter parses");

        let custom = "rules:\n  - id: mine\n    event: task.created\n    title: 'New {{ payload.title }}'\n    body: ''\n    channels: [websocket]\n    recipients: { from: payload.owner.id }\n";
        saved.save(custom).unwrap();
        let mut expected = BUILTINS.map(String::from).to_vec();
        expected.push("mine".into());
        assert_eq!(
            check(&SavedRules::open(dir.path())),
            (expected.clone(), None)
        );

        assert!(saved.save("rules: [{ id: 'bad id' }]").is_err());
        assert_eq!(check(&saved).0, expected, "a refused save changes nothing");
        std::fs::write(dir.path().join("rules.yaml"), "rules: nope").unwrap();
        let (ids, error) = check(&SavedRules::open(dir.path()));
        assert_eq!(ids, BUILTINS.map(String::from).to_vec());
        assert!(error.is_some());
    }
}
