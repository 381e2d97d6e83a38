//! The remembered connection and launch overrides. Secrets (passwords, tokens, NKey seeds) go to
//! the system keyring when there is one, otherwise they are kept in memory for the session; they
//! are never written to the config file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::nats_context::{self, ContextError};
use crate::wire::{
    ConnectionProfile, FileCheck, FileState, GatewayTarget, NatsAuth, NatsContextInfo,
    SavedConnection, SecretStorage,
};

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot encode the connection profile: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(transparent)]
    Context(#[from] ContextError),
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
    match &mut profile.gateway {
        Some(gateway) => Some(&mut gateway.token),
        None => nats_secret_mut(&mut profile.auth),
    }
}

/// `auth` with its secret blank, as the dialog may show it.
pub fn without_secret(mut auth: NatsAuth) -> NatsAuth {
    if let Some(secret) = nats_secret_mut(&mut auth) {
        secret.clear();
    }
    auth
}

fn nats_secret_mut(auth: &mut NatsAuth) -> Option<&mut String> {
    match auth {
        NatsAuth::UserPassword { password, .. } => Some(password),
        NatsAuth::Token { token } => Some(token),
        NatsAuth::NKey { seed } => Some(seed),
        NatsAuth::None | NatsAuth::CredsFile { .. } => None,
    }
}

/// Where a profile's secret goes: the gateway's URL, or the NATS servers with the kind of
/// secret (and the user a password belongs to). A secret is only ever sent to the target it was
/// given for: editing the server, the gateway URL, the kind or the user asks for it again.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SecretTarget {
    Gateway(String),
    Nats {
        servers: Vec<String>,
        kind: &'static str,
        user: Option<String>,
    },
}

/// The target of the profile's secret; `None` when the profile has no secret.
fn secret_target(profile: &ConnectionProfile) -> Option<SecretTarget> {
    if let Some(gateway) = &profile.gateway {
        return Some(SecretTarget::Gateway(gateway.url.trim().to_string()));
    }
    let (kind, user) = match &profile.auth {
        NatsAuth::UserPassword { user, .. } => ("userPassword", Some(user.trim().to_string())),
        NatsAuth::Token { .. } => ("token", None),
        NatsAuth::NKey { .. } => ("nKey", None),
        NatsAuth::None | NatsAuth::CredsFile { .. } => return None,
    };
    let servers = profile
        .servers
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some(SecretTarget::Nats {
        servers,
        kind,
        user,
    })
}

/// The nats context a NATS profile was taken from.
fn from_context(profile: &ConnectionProfile) -> Option<&str> {
    profile
        .nats_context
        .as_deref()
        .filter(|_| profile.gateway.is_none())
}

/// The profile with its secret replaced by an empty string: what may be shown or written.
///
/// A gateway profile's NATS fields are unused but may still hold a NATS secret (a NATS profile
/// turned into a gateway one at launch): it is blanked too.
pub fn redacted(profile: &ConnectionProfile) -> ConnectionProfile {
    let mut out = profile.clone();
    if let Some(gateway) = &mut out.gateway {
        gateway.token.clear();
    }
    if let Some(secret) = nats_secret_mut(&mut out.auth) {
        secret.clear();
    }
    out
}

/// The new gateway token when `new` is `old` with only a different (non-empty) gateway token:
/// the open connection can then re-authenticate (`reauth`) instead of reconnecting, and the
/// stream does not stop.
pub fn only_token_changed<'a>(
    old: &ConnectionProfile,
    new: &'a ConnectionProfile,
) -> Option<&'a str> {
    let (Some(was), Some(now)) = (&old.gateway, &new.gateway) else {
        return None;
    };
    let same_place =
        was.url == now.url && old.subjects == new.subjects && old.read_only == new.read_only;
    (same_place && !now.token.is_empty() && now.token != was.token).then_some(now.token.as_str())
}

/// Where the remembered connection lives: a JSON file without secrets, plus the secret store.
pub struct ProfileStore {
    path: PathBuf,
    storage: SecretStorage,
    /// The secret when no keyring is available (and a cache of the keyring's).
    session_secret: Mutex<Option<String>>,
    /// The `nats` CLI's configuration directory, whose contexts a profile may come from.
    nats_dir: Option<PathBuf>,
}

impl ProfileStore {
    /// Opens the store in `config_dir`, probing once whether a keyring answers.
    pub fn open(config_dir: &Path) -> ProfileStore {
        let storage = if secret_service::available() {
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
            nats_dir: None,
        }
    }

    /// Reads the `nats` CLI's contexts from `dir` (see [`nats_context::default_dir`]).
    pub fn with_nats_contexts(mut self, dir: Option<PathBuf>) -> ProfileStore {
        self.nats_dir = dir;
        self
    }

    /// The `nats` CLI's contexts, secrets left out.
    pub fn nats_contexts(&self) -> Vec<NatsContextInfo> {
        self.nats_dir
            .as_deref()
            .map(nats_context::list)
            .unwrap_or_default()
    }

    pub fn storage(&self) -> SecretStorage {
        self.storage
    }

    /// The remembered profile with its secret filled in, or the default one.
    pub fn load(&self) -> ConnectionProfile {
        let mut profile = self.remembered();
        if let Err(e) = self.fill_secret(&mut profile) {
            tracing::warn!("the remembered connection's secret is not available: {e}");
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
        // A secret that came from a nats context stays there: it is read again at every connect.
        let secret = secret_of(profile)
            .filter(|s| !s.is_empty() && from_context(profile).is_none())
            .map(str::to_string);
        if self.storage == SecretStorage::Keyring {
            if let Err(e) = secret_service::set(secret.as_deref()) {
                tracing::warn!("keyring refused the secret, keeping it for this session: {e}");
            }
        }
        *self
            .session_secret
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = secret;
        Ok(())
    }

    /// Fills an empty secret field from the held secret (the dialog sends blanks for "keep"),
    /// when the profile's secret goes where the held one was saved for (see [`SecretTarget`]).
    ///
    /// A profile taken from a nats context gets the context's secret instead, read now, when it
    /// still connects where the context does.
    pub fn fill_secret(&self, profile: &mut ConnectionProfile) -> Result<(), ProfileError> {
        let target = secret_target(profile);
        if target.is_none() || secret_of(profile).is_some_and(|s| !s.is_empty()) {
            return Ok(());
        }
        let secret = match from_context(profile) {
            Some(name) => {
                let Some(dir) = &self.nats_dir else {
                    return Ok(());
                };
                let resolved = nats_context::resolve(dir, name)?;
                let mut from = ConnectionProfile {
                    servers: resolved.servers,
                    auth: resolved.auth,
                    ..ConnectionProfile::default()
                };
                if secret_target(&from) != target {
                    return Ok(());
                }
                secret_mut(&mut from).map(std::mem::take)
            }
            None if target == secret_target(&self.remembered()) => self.stored_secret(),
            None => None,
        };
        if let (Some(slot), Some(secret)) = (secret_mut(profile), secret) {
            *slot = secret;
        }
        Ok(())
    }

    /// The remembered profile as the file has it (secret blank), or the default one.
    pub fn remembered(&self) -> ConnectionProfile {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
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
            return secret_service::get();
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

/// Whether the file at `path` can be read, before a connection tries it.
pub fn check_file(path: &str) -> FileCheck {
    let check = |state, message: String| FileCheck { state, message };
    let path = path.trim();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            check(FileState::Missing, "no such file".into())
        }
        Err(e) => check(FileState::Unreadable, format!("cannot be read: {e}")),
        Ok(meta) if meta.is_dir() => check(FileState::NotAFile, "a directory, not a file".into()),
        Ok(meta) if !meta.is_file() => check(FileState::NotAFile, "not a regular file".into()),
        Ok(meta) => match std::fs::File::open(path) {
            Ok(_) => check(
                FileState::Readable,
                format!("readable, {} bytes", meta.len()),
            ),
            Err(e) => check(FileState::Unreadable, format!("cannot be read: {e}")),
        },
    }
}

/// The system keyring (Secret Service), in builds that enable the `keyring` feature (the
/// desktop app); elsewhere there is none and secrets stay in memory.
#[cfg(feature = "keyring")]
mod secret_service {
    const SERVICE: &str = "eventscope";
    const USER: &str = "last-connection";

    /// True when a Secret Service answers (a missing entry is an answer).
    pub fn available() -> bool {
        match keyring::Entry::new(SERVICE, USER).and_then(|e| e.get_password()) {
            Ok(_) | Err(keyring::Error::NoEntry) => true,
            Err(e) => {
                tracing::info!("no system keyring ({e}); secrets are kept for this session only");
                false
            }
        }
    }

    pub fn get() -> Option<String> {
        keyring::Entry::new(SERVICE, USER).ok()?.get_password().ok()
    }

    /// Stores `secret`, or forgets the stored one.
    pub fn set(secret: Option<&str>) -> Result<(), keyring::Error> {
        let entry = keyring::Entry::new(SERVICE, USER)?;
        match secret {
            Some(s) => entry.set_password(s),
            None => match entry.delete_credential() {
                Err(keyring::Error::NoEntry) => Ok(()),
                result => result,
            },
        }
    }
}

#[cfg(not(feature = "keyring"))]
mod secret_service {
    pub fn available() -> bool {
        false
    }

    pub fn get() -> Option<String> {
        None
    }

    pub fn set(_secret: Option<&str>) -> Result<(), std::convert::Infallible> {
        Ok(())
    }
}

/// Launch options that override the remembered connection: `--nats-url URL`, `--gateway-url URL`,
/// `--subject PATTERN` (repeatable), and the environment variables `EVENTSCOPE_NATS_URL`,
/// `EVENTSCOPE_GATEWAY_URL`, `EVENTSCOPE_GATEWAY_TOKEN`, `EVENTSCOPE_SUBJECTS` (comma-separated).
/// Arguments win over the environment; a URL argument of either kind makes both URL variables
/// moot, so `--nats-url` is never overruled by a gateway URL left in the environment.
///
/// The gateway token comes only from `EVENTSCOPE_GATEWAY_TOKEN`: an argument would show in
/// `ps` and shell history.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LaunchOptions {
    pub nats_url: Option<String>,
    /// Makes the launched profile a gateway profile (it wins over `nats_url` when both are given).
    pub gateway_url: Option<String>,
    pub gateway_token: Option<String>,
    pub subjects: Vec<String>,
}

// By hand so that the token never reaches a log line through `{:?}`.
impl std::fmt::Debug for LaunchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchOptions")
            .field("nats_url", &self.nats_url)
            .field("gateway_url", &self.gateway_url)
            .field(
                "gateway_token",
                &self.gateway_token.as_ref().map(|_| "<redacted>"),
            )
            .field("subjects", &self.subjects)
            .finish()
    }
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
                "--gateway-url" => out.gateway_url = value(),
                "--subject" => out.subjects.extend(value()),
                _ => {}
            }
        }
        let env = |name: &str| env(name).filter(|s| !s.trim().is_empty());
        if out.nats_url.is_none() && out.gateway_url.is_none() {
            out.nats_url = env("EVENTSCOPE_NATS_URL");
            out.gateway_url = env("EVENTSCOPE_GATEWAY_URL");
        }
        out.gateway_token = env("EVENTSCOPE_GATEWAY_TOKEN");
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
        self.nats_url.is_none()
            && self.gateway_url.is_none()
            && self.gateway_token.is_none()
            && self.subjects.is_empty()
    }

    /// `profile` with the overrides applied. A gateway URL makes it a gateway profile (keeping the
    /// remembered token when the URL is the remembered one, unless the environment gives one); a
    /// NATS URL alone makes it a NATS profile; a token alone replaces the token of a remembered
    /// gateway profile.
    ///
    /// A remembered secret only stays when the overrides leave its target alone: launching with
    /// another server or gateway URL never sends it there (see [`SecretTarget`]).
    pub fn apply(&self, mut profile: ConnectionProfile) -> ConnectionProfile {
        let target = secret_target(&profile);
        if let Some(url) = &self.nats_url {
            profile.servers = url
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if self.gateway_url.is_none() {
                profile.gateway = None;
            }
        }
        if let Some(url) = &self.gateway_url {
            let token = profile.gateway.take().map(|g| g.token).unwrap_or_default();
            profile.gateway = Some(GatewayTarget {
                url: url.trim().to_string(),
                token,
            });
        }
        if secret_target(&profile) != target {
            if let Some(secret) = secret_mut(&mut profile) {
                secret.clear();
            }
        }
        if let (Some(gateway), Some(token)) = (&mut profile.gateway, &self.gateway_token) {
            gateway.token = token.clone();
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

    #[test]
    fn a_fresher_token_for_the_same_gateway_reauthenticates_anything_else_reconnects() {
        let gw = |url: &str, token: &str, topics: &[&str]| ConnectionProfile {
            subjects: topics.iter().map(|t| t.to_string()).collect(),
            gateway: Some(GatewayTarget {
                url: url.into(),
                token: token.into(),
            }),
            ..ConnectionProfile::default()
        };
        let old = gw("ws://gw/ws", "old", &["events.org_1.>"]);
        let check = |new: &ConnectionProfile, expected: Option<&str>| {
            assert_eq!(only_token_changed(&old, new), expected, "{new:?}");
        };
        check(&gw("ws://gw/ws", "new", &["events.org_1.>"]), Some("new"));
        check(&gw("ws://gw/ws", "old", &["events.org_1.>"]), None);
        check(&gw("ws://gw/ws", "", &["events.org_1.>"]), None);
        check(&gw("ws://other/ws", "new", &["events.org_1.>"]), None);
        check(&gw("ws://gw/ws", "new", &["events.org_2.>"]), None);
        check(&ConnectionProfile::default(), None);
    }

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
                ..LaunchOptions::default()
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
                ..LaunchOptions::default()
            },
        );
    }

    #[test]
    fn gateway_launch_options() {
        // The URL from an argument or the environment, the token only from the environment.
        check(
            &[
                "--gateway-url",
                "ws://gw:8787/ws",
                "--subject",
                "events.org_1.>",
            ],
            &[("EVENTSCOPE_GATEWAY_TOKEN", "eyJ.jwt")],
            LaunchOptions {
                gateway_url: Some("ws://gw:8787/ws".into()),
                gateway_token: Some("eyJ.jwt".into()),
                subjects: vec!["events.org_1.>".into()],
                ..LaunchOptions::default()
            },
        );
        check(
            &[],
            &[
                ("EVENTSCOPE_GATEWAY_URL", "ws://env:8787/ws"),
                ("EVENTSCOPE_GATEWAY_TOKEN", "eyJ.jwt"),
                ("EVENTSCOPE_SUBJECTS", "events.org_1.>,events.org_2.>"),
            ],
            LaunchOptions {
                gateway_url: Some("ws://env:8787/ws".into()),
                gateway_token: Some("eyJ.jwt".into()),
                subjects: vec!["events.org_1.>".into(), "events.org_2.>".into()],
                ..LaunchOptions::default()
            },
        );
        // There is no token argument: it would show in `ps` and in shell history.
        check(
            &["--gateway-token", "eyJ.leaked", "--gateway-url=ws://gw/ws"],
            &[],
            LaunchOptions {
                gateway_url: Some("ws://gw/ws".into()),
                ..LaunchOptions::default()
            },
        );
        // A URL argument of either kind wins over both URL variables.
        check(
            &["--nats-url", "nats://h:1"],
            &[
                ("EVENTSCOPE_GATEWAY_URL", "ws://env:8787/ws"),
                ("EVENTSCOPE_NATS_URL", "nats://env:2"),
            ],
            LaunchOptions {
                nats_url: Some("nats://h:1".into()),
                ..LaunchOptions::default()
            },
        );
        check(
            &["--gateway-url", "ws://gw/ws"],
            &[("EVENTSCOPE_NATS_URL", "nats://env:2")],
            LaunchOptions {
                gateway_url: Some("ws://gw/ws".into()),
                ..LaunchOptions::default()
            },
        );
        // Blank variables count as unset.
        check(
            &[],
            &[
                ("EVENTSCOPE_GATEWAY_URL", " "),
                ("EVENTSCOPE_GATEWAY_TOKEN", ""),
            ],
            LaunchOptions::default(),
        );
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let launch = LaunchOptions::parse(
            ["--gateway-url".to_string(), "ws://gw/ws".to_string()],
            |k| (k == "EVENTSCOPE_GATEWAY_TOKEN").then(|| "eyJ.secret.jwt".to_string()),
        );
        let shown = format!("{launch:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    fn gateway(url: &str, token: &str) -> Option<GatewayTarget> {
        Some(GatewayTarget {
            url: url.into(),
            token: token.into(),
        })
    }

    #[test]
    fn launch_options_choose_the_source() {
        let nats = ConnectionProfile {
            auth: NatsAuth::Token {
                token: "nats-secret".into(),
            },
            ..ConnectionProfile::default()
        };
        let remembered_gateway = ConnectionProfile {
            gateway: gateway("ws://old/ws", "remembered.jwt"),
            subjects: vec!["events.org_9.>".into()],
            ..ConnectionProfile::default()
        };
        let launch = |url: Option<&str>, token: Option<&str>, subjects: &[&str]| LaunchOptions {
            gateway_url: url.map(String::from),
            gateway_token: token.map(String::from),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ..LaunchOptions::default()
        };

        // A gateway URL turns a NATS profile into a gateway one; the NATS secret is not reused.
        let got =
            launch(Some("ws://gw/ws"), Some("eyJ.jwt"), &["events.org_1.>"]).apply(nats.clone());
        assert_eq!(got.gateway, gateway("ws://gw/ws", "eyJ.jwt"));
        assert_eq!(got.subjects, vec!["events.org_1.>".to_string()]);
        let got = launch(Some("ws://gw/ws"), None, &[]).apply(nats.clone());
        assert_eq!(got.gateway, gateway("ws://gw/ws", ""));

        // On a remembered gateway profile another URL keeps the topics but never sends the
        // remembered token to the new host; the same URL keeps it...
        let got = launch(Some("ws://gw/ws"), None, &[]).apply(remembered_gateway.clone());
        assert_eq!(got.gateway, gateway("ws://gw/ws", ""));
        assert_eq!(got.subjects, vec!["events.org_9.>".to_string()]);
        let got = launch(Some(" ws://old/ws "), None, &[]).apply(remembered_gateway.clone());
        assert_eq!(got.gateway, gateway("ws://old/ws", "remembered.jwt"));
        // ...and a token alone replaces the remembered one.
        let got = launch(None, Some("eyJ.new"), &[]).apply(remembered_gateway.clone());
        assert_eq!(got.gateway, gateway("ws://old/ws", "eyJ.new"));
        // A token alone leaves a NATS profile a NATS profile.
        assert_eq!(launch(None, Some("eyJ.new"), &[]).apply(nats.clone()), nats);

        // A NATS secret is not sent to a server given at launch; the same server keeps it.
        let elsewhere = LaunchOptions {
            nats_url: Some("nats://elsewhere:4222".into()),
            ..LaunchOptions::default()
        };
        assert_eq!(
            elsewhere.apply(nats.clone()).auth,
            NatsAuth::Token { token: "".into() }
        );
        let same = LaunchOptions {
            nats_url: Some(crate::DEFAULT_NATS_URL.into()),
            ..LaunchOptions::default()
        };
        assert_eq!(same.apply(nats.clone()), nats);

        // A NATS URL alone makes a remembered gateway profile a NATS one again.
        let got = LaunchOptions {
            nats_url: Some("nats://h:1".into()),
            ..LaunchOptions::default()
        }
        .apply(remembered_gateway.clone());
        assert_eq!(got.gateway, None);
        assert_eq!(got.servers, vec!["nats://h:1".to_string()]);
        // Both URLs: the gateway wins.
        let got = LaunchOptions {
            nats_url: Some("nats://h:1".into()),
            gateway_url: Some("ws://gw/ws".into()),
            ..LaunchOptions::default()
        }
        .apply(nats.clone());
        assert_eq!(got.gateway, gateway("ws://gw/ws", ""));
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
        store.fill_secret(&mut blank).unwrap();
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

    /// Saves `saved`, then fills a blank copy of `asked`: the secret the store sends there.
    fn check_fill(saved: &ConnectionProfile, asked: &ConnectionProfile, expected: &str) {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::with_storage(dir.path(), SecretStorage::Session);
        store.save(saved).unwrap();
        let mut blank = redacted(asked);
        store.fill_secret(&mut blank).unwrap();
        let mut got = blank.clone();
        assert_eq!(
            secret_mut(&mut got).map(|s| s.as_str()).unwrap_or(""),
            expected,
            "{asked:?}"
        );
    }

    #[test]
    fn a_stored_secret_goes_only_where_it_was_saved_for() {
        let nats = |servers: &[&str], auth: NatsAuth| ConnectionProfile {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            auth,
            ..ConnectionProfile::default()
        };
        let password = |user: &str| NatsAuth::UserPassword {
            user: user.into(),
            password: "hunter2".into(),
        };
        let saved = nats(&["nats://a:4222"], password("ada"));
        check_fill(&saved, &saved, "hunter2");
        check_fill(
            &saved,
            &nats(&[" nats://a:4222 "], password("ada")),
            "hunter2",
        );
        // Another server, another user, another kind of secret: asked again.
        check_fill(&saved, &nats(&["nats://evil:4222"], password("ada")), "");
        check_fill(
            &saved,
            &nats(&["nats://a:4222", "nats://b:4222"], password("ada")),
            "",
        );
        check_fill(&saved, &nats(&["nats://a:4222"], password("bob")), "");
        let token = NatsAuth::Token {
            token: "hunter2".into(),
        };
        check_fill(&saved, &nats(&["nats://a:4222"], token.clone()), "");
        // A gateway token goes to its gateway only, and never to NATS.
        let gateway = |url: &str| ConnectionProfile {
            gateway: Some(GatewayTarget {
                url: url.into(),
                token: "eyJ.jwt".into(),
            }),
            ..ConnectionProfile::default()
        };
        check_fill(&gateway("ws://gw/ws"), &gateway("ws://gw/ws"), "eyJ.jwt");
        check_fill(&gateway("ws://gw/ws"), &gateway("ws://other/ws"), "");
        check_fill(
            &gateway("ws://gw/ws"),
            &nats(&[crate::DEFAULT_NATS_URL], token),
            "",
        );
    }

    #[test]
    fn redacting_blanks_every_secret_a_profile_holds() {
        let both = ConnectionProfile {
            auth: NatsAuth::NKey {
                seed: "SUAseed".into(),
            },
            gateway: Some(GatewayTarget {
                url: "ws://gw/ws".into(),
                token: "eyJ.jwt".into(),
            }),
            ..ConnectionProfile::default()
        };
        let shown = format!("{:?}", redacted(&both));
        assert!(
            !shown.contains("SUAseed") && !shown.contains("eyJ.jwt"),
            "{shown}"
        );
    }

    #[test]
    fn a_context_secret_is_read_from_the_context_and_never_stored() {
        let config = tempfile::tempdir().unwrap();
        let nats = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(nats.path().join("context")).unwrap();
        std::fs::write(
            nats.path().join("context/prod.json"),
            r#"{"url":"nats://a:4222","user":"ada","password":"hunter2"}"#,
        )
        .unwrap();
        let store = ProfileStore::with_storage(config.path(), SecretStorage::Session)
            .with_nats_contexts(Some(nats.path().to_path_buf()));
        let from_context = |servers: &str| ConnectionProfile {
            servers: vec![servers.into()],
            auth: NatsAuth::UserPassword {
                user: "ada".into(),
                password: "".into(),
            },
            nats_context: Some("prod".into()),
            ..ConnectionProfile::default()
        };
        let password = |p: &ConnectionProfile| match &p.auth {
            NatsAuth::UserPassword { password, .. } => password.clone(),
            other => panic!("{other:?}"),
        };
        let mut profile = from_context("nats://a:4222");
        store.fill_secret(&mut profile).unwrap();
        assert_eq!(password(&profile), "hunter2");
        // Saved, the secret stays in the context: nothing in the file, nothing in the store.
        store.save(&profile).unwrap();
        let file = std::fs::read_to_string(config.path().join("connection.json")).unwrap();
        assert!(
            !file.contains("hunter2") && file.contains("\"natsContext\": \"prod\""),
            "{file}"
        );
        assert_eq!(store.stored_secret(), None);
        assert_eq!(
            password(&store.load()),
            "hunter2",
            "read from the context again"
        );
        // Pointed at another server, the context's secret is not sent there.
        let mut elsewhere = from_context("nats://evil:4222");
        store.fill_secret(&mut elsewhere).unwrap();
        assert_eq!(password(&elsewhere), "");
        // A context that went away is a clear error.
        let mut gone = ConnectionProfile {
            nats_context: Some("gone".into()),
            ..from_context("nats://a:4222")
        };
        assert_eq!(
            store.fill_secret(&mut gone).unwrap_err().to_string(),
            "no nats context named \"gone\""
        );
        assert_eq!(store.nats_contexts().len(), 1);
    }

    #[test]
    fn files_are_checked_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "-----BEGIN CERTIFICATE-----").unwrap();
        let check = |path: &std::path::Path| {
            let c = check_file(&path.display().to_string());
            format!("{:?}: {}", c.state, c.message)
        };
        assert_eq!(check(&file), "Readable: readable, 27 bytes");
        assert_eq!(check(&dir.path().join("nope.pem")), "Missing: no such file");
        assert_eq!(check(dir.path()), "NotAFile: a directory, not a file");
    }
}
