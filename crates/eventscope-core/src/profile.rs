//! The remembered connection and launch overrides. Secrets (passwords, tokens, NKey seeds) go to
//! the system keyring when there is one, otherwise they are kept in memory for the session; they
//! are never written to the config file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::wire::{ConnectionProfile, NatsAuth, SavedConnection, SecretStorage};

const KEYRING_SERVICE: &str = "eventscope";
const KEYRING_USER: &str = "last-connection";

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the connection profile: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The secret of a profile, if it has one: the gateway token, or the NATS auth method's.
fn secret_of(profile: &ConnectionProfile) -> Option<&str> {
    if let Some(gateway) = &profile.gateway {
        return Some(&gateway.token);
    }
    match &profile.auth {
        NatsAuth::UserPassword { password, .. } => Some(password),
        NatsAuth::Token { token } => Some(token),
        NatsAuth::NKey { seed } => Some(seed),
        NatsAuth::None | NatsAuth::CredsFile { .. } => None,
    }
}

fn secret_mut(profile: &mut ConnectionProfile) -> Option<&mut String> {
    if let Some(gateway) = &mut profile.gateway {
        return Some(&mut gateway.token);
    }
    match &mut profile.auth {
        NatsAuth::UserPassword { password, .. } => Some(password),
        NatsAuth::Token { token } => Some(token),
        NatsAuth::NKey { seed } => Some(seed),
        NatsAuth::None | NatsAuth::CredsFile { .. } => None,
    }
}

/// The profile with its secret replaced by an empty string: what may be shown or written.
pub fn redacted(profile: &ConnectionProfile) -> ConnectionProfile {
    let mut out = profile.clone();
    if let Some(secret) = secret_mut(&mut out) {
        secret.clear();
    }
    out
}

/// Where the remembered connection lives: a JSON file without secrets, plus the secret store.
pub struct ProfileStore {
    path: PathBuf,
    storage: SecretStorage,
    /// The secret when no keyring is available (and a cache of the keyring's).
    session_secret: Mutex<Option<String>>,
}

impl ProfileStore {
    /// Opens the store in `config_dir`, probing once whether a keyring answers.
    pub fn open(config_dir: &Path) -> ProfileStore {
        let storage = if keyring_available() {
            SecretStorage::Keyring
        } else {
            SecretStorage::Session
        };
        ProfileStore::with_storage(config_dir, storage)
    }

    /// A store that never touches the keyring (tests, or when the keyring must be avoided).
    pub fn with_storage(config_dir: &Path, storage: SecretStorage) -> ProfileStore {
        ProfileStore {
            path: config_dir.join("connection.json"),
            storage,
            session_secret: Mutex::new(None),
        }
    }

    pub fn storage(&self) -> SecretStorage {
        self.storage
    }

    /// The remembered profile with its secret filled in, or the default one.
    pub fn load(&self) -> ConnectionProfile {
        let mut profile: ConnectionProfile = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        if let Some(secret) = self.stored_secret() {
            if let Some(slot) = secret_mut(&mut profile) {
                *slot = secret;
            }
        }
        profile
    }

    /// Remembers `profile`: the file gets it redacted, the secret goes to the secret store.
    pub fn save(&self, profile: &ConnectionProfile) -> Result<(), ProfileError> {
        let json = serde_json::to_vec_pretty(&redacted(profile))?;
        let write_err = |source| ProfileError::Write {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        std::fs::write(&self.path, json).map_err(write_err)?;
        let secret = secret_of(profile)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if self.storage == SecretStorage::Keyring {
            let entry = keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER);
            let result = match (&entry, &secret) {
                (Ok(e), Some(s)) => e.set_password(s),
                (Ok(e), None) => e.delete_credential().or_else(|e| match e {
                    keyring::Error::NoEntry => Ok(()),
                    e => Err(e),
                }),
                (Err(_), _) => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!("keyring refused the secret, keeping it for this session: {e}");
            }
        }
        *self
            .session_secret
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = secret;
        Ok(())
    }

    /// Fills an empty secret field from the held secret (the dialog sends blanks for "keep").
    pub fn fill_secret(&self, profile: &mut ConnectionProfile) {
        if let Some(slot) = secret_mut(profile) {
            if slot.is_empty() {
                if let Some(secret) = self.stored_secret() {
                    *slot = secret;
                }
            }
        }
    }

    fn stored_secret(&self) -> Option<String> {
        if let Some(s) = self
            .session_secret
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Some(s);
        }
        if self.storage == SecretStorage::Keyring {
            return keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER)
                .ok()?
                .get_password()
                .ok();
        }
        None
    }

    /// What the connect dialog shows for `profile`.
    pub fn saved(&self, profile: &ConnectionProfile, overridden: bool) -> SavedConnection {
        SavedConnection {
            profile: redacted(profile),
            has_secret: secret_of(profile).is_some_and(|s| !s.is_empty()),
            secret_storage: self.storage,
            overridden,
        }
    }
}

/// True when a Secret Service answers (a missing entry is an answer).
fn keyring_available() -> bool {
    match keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER).and_then(|e| e.get_password()) {
        Ok(_) | Err(keyring::Error::NoEntry) => true,
        Err(e) => {
            tracing::info!("no system keyring ({e}); secrets are kept for this session only");
            false
        }
    }
}

/// Launch options that override the remembered connection: `--nats-url URL`, `--subject PATTERN`
/// (repeatable), and the environment variables `EVENTSCOPE_NATS_URL`, `EVENTSCOPE_SUBJECTS`
/// (comma-separated). Arguments win over the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    pub nats_url: Option<String>,
    pub subjects: Vec<String>,
}

impl LaunchOptions {
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> LaunchOptions {
        let mut out = LaunchOptions::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| args.next());
            match flag.as_str() {
                "--nats-url" => out.nats_url = value(),
                "--subject" => out.subjects.extend(value()),
                _ => {}
            }
        }
        if out.nats_url.is_none() {
            out.nats_url = env("EVENTSCOPE_NATS_URL").filter(|s| !s.trim().is_empty());
        }
        if out.subjects.is_empty() {
            if let Some(list) = env("EVENTSCOPE_SUBJECTS") {
                out.subjects = list
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.nats_url.is_none() && self.subjects.is_empty()
    }

    /// `profile` with the overrides applied.
    pub fn apply(&self, mut profile: ConnectionProfile) -> ConnectionProfile {
        if let Some(url) = &self.nats_url {
            profile.servers = url
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if !self.subjects.is_empty() {
            profile.subjects = self.subjects.clone();
        }
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str], env: &[(&str, &str)], expected: LaunchOptions) {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = LaunchOptions::parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(got, expected);
    }

    #[test]
    fn launch_options() {
        check(&[], &[], LaunchOptions::default());
        check(
            &[
                "--nats-url",
                "nats://h:1",
                "--subject",
                "events.a.>",
                "--subject=events.b.>",
            ],
            &[
                ("EVENTSCOPE_NATS_URL", "nats://env:2"),
                ("EVENTSCOPE_SUBJECTS", "x.>"),
            ],
            LaunchOptions {
                nats_url: Some("nats://h:1".into()),
                subjects: vec!["events.a.>".into(), "events.b.>".into()],
            },
        );
        check(
            &["--unrelated"],
            &[
                ("EVENTSCOPE_NATS_URL", "nats://env:2"),
                ("EVENTSCOPE_SUBJECTS", "events.a.>, events.b.>,"),
            ],
            LaunchOptions {
                nats_url: Some("nats://env:2".into()),
                subjects: vec!["events.a.>".into(), "events.b.>".into()],
            },
        );
    }

    #[test]
    fn secrets_never_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::with_storage(dir.path(), SecretStorage::Session);
        let profile = ConnectionProfile {
            auth: NatsAuth::UserPassword {
                user: "ada".into(),
                password: "hunter2".into(),
            },
            ..ConnectionProfile::default()
        };
        store.save(&profile).unwrap();
        let file = std::fs::read_to_string(dir.path().join("connection.json")).unwrap();
        assert!(!file.contains("hunter2"), "{file}");
        assert!(file.contains("ada"));
        assert_eq!(store.load(), profile);
        let saved = store.saved(&store.load(), false);
        assert_eq!(
            saved.profile.auth,
            NatsAuth::UserPassword {
                user: "ada".into(),
                password: "".into()
            }
        );
        assert!(saved.has_secret);
        let mut blank = saved.profile.clone();
        store.fill_secret(&mut blank);
        assert_eq!(blank, profile);
        // A gateway profile's token is its secret.
        let gateway = ConnectionProfile {
            gateway: Some(crate::wire::GatewayTarget {
                url: "ws://gw:8787/ws".into(),
                token: "eyJ.secret.jwt".into(),
            }),
            ..ConnectionProfile::default()
        };
        store.save(&gateway).unwrap();
        let file = std::fs::read_to_string(dir.path().join("connection.json")).unwrap();
        assert!(
            !file.contains("eyJ.secret.jwt") && file.contains("ws://gw:8787/ws"),
            "{file}"
        );
        assert_eq!(store.load(), gateway);
        assert_eq!(
            redacted(&gateway).gateway.unwrap().token,
            "",
            "the token is masked"
        );
        assert!(!format!("{:?}", redacted(&gateway)).contains("secret.jwt"));
        store.save(&profile).unwrap();
        // A new session without a keyring starts without the secret.
        let later = ProfileStore::with_storage(dir.path(), SecretStorage::Session);
        assert_eq!(
            later.load().auth,
            NatsAuth::UserPassword {
                user: "ada".into(),
                password: "".into()
            }
        );
    }
}
