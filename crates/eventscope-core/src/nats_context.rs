//! The `nats` CLI's contexts (NATS ADR-21: `~/.config/nats/context/NAME.json`, the selected one
//! named in `~/.config/nats/context.txt`): listed for the connection dialog, and read again when
//! connecting, so that a context's secret is never copied into Eventscope's own files.
//!
//! A context says where to connect (`url`, comma-separated) and how: `user` and `password`, a
//! `creds` file, an `nkey` seed file, or a `token`, in the order the `nats` CLI tries them, plus
//! `ca`, `cert` and `key` for TLS. Paths may start with `~/`. Contexts that resolve through
//! `nsc://` or 1Password (`op://`), or that carry a bare user JWT, are listed with the reason
//! they cannot be used here.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::wire::{NatsAuth, NatsContextInfo, TlsSettings};

#[derive(Debug, Error)]
pub enum ContextError {
    #[error("no nats context named {0:?}")]
    Unknown(String),
    #[error("cannot read nats context {name:?}: {reason}")]
    Unreadable { name: String, reason: String },
    #[error("nats context {name:?} cannot be used: {reason}")]
    Unsupported { name: String, reason: String },
}

/// Where the `nats` CLI keeps its configuration: `$XDG_CONFIG_HOME/nats`, else `~/.config/nats`.
pub fn default_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let config = match nonempty("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(nonempty("HOME")?).join(".config"),
    };
    Some(config.join("nats"))
}

/// A context's file as ADR-21 writes it; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContextFile {
    description: String,
    url: String,
    token: String,
    user: String,
    password: String,
    creds: String,
    nkey: String,
    cert: String,
    key: String,
    ca: String,
    nsc: String,
    user_jwt: String,
}

/// What a context connects to and how, its secret included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub servers: Vec<String>,
    pub auth: NatsAuth,
    pub tls: TlsSettings,
}

/// Every context in `dir` (the `nats` configuration directory), by name; unreadable ones are
/// listed with their problem.
pub fn list(dir: &Path) -> Vec<NatsContextInfo> {
    let selected = std::fs::read_to_string(dir.join("context.txt"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("context"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .filter(|name| valid_name(name))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let selected = name == selected;
            match read_file(dir, &name) {
                Ok(file) => info(name, selected, &file),
                Err(e) => NatsContextInfo {
                    name,
                    description: String::new(),
                    selected,
                    servers: Vec::new(),
                    auth: NatsAuth::None,
                    tls: TlsSettings::default(),
                    has_secret: false,
                    problem: Some(e.to_string()),
                },
            }
        })
        .collect()
}

/// The context `name` of `dir`, its secret read (an NKey seed from its file).
pub fn resolve(dir: &Path, name: &str) -> Result<Resolved, ContextError> {
    let file = read_file(dir, name)?;
    let unsupported = |reason: String| ContextError::Unsupported {
        name: name.to_string(),
        reason,
    };
    if let Some(reason) = unsupported_reason(&file) {
        return Err(unsupported(reason));
    }
    let mut auth = auth(&file);
    if let NatsAuth::NKey { seed } = &mut auth {
        let path = expand_home(&file.nkey);
        *seed = std::fs::read_to_string(&path)
            .map_err(|e| unsupported(format!("cannot read its NKey seed file {path}: {e}")))?
            .trim()
            .to_string();
    }
    Ok(Resolved {
        servers: servers(&file),
        auth,
        tls: tls(&file),
    })
}

/// Context names are file names: no path separators, no leading dot.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}

fn read_file(dir: &Path, name: &str) -> Result<ContextFile, ContextError> {
    if !valid_name(name) {
        return Err(ContextError::Unknown(name.to_string()));
    }
    let path = dir.join("context").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ContextError::Unknown(name.to_string()),
        _ => ContextError::Unreadable {
            name: name.to_string(),
            reason: e.to_string(),
        },
    })?;
    serde_json::from_str(&text).map_err(|e| ContextError::Unreadable {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

fn info(name: String, selected: bool, file: &ContextFile) -> NatsContextInfo {
    let auth = auth(file);
    let has_secret = match &auth {
        NatsAuth::UserPassword { .. } => !file.password.is_empty(),
        NatsAuth::Token { .. } | NatsAuth::NKey { .. } => true,
        NatsAuth::None | NatsAuth::CredsFile { .. } => false,
    };
    NatsContextInfo {
        name,
        description: file.description.clone(),
        selected,
        servers: servers(file),
        auth: crate::profile::without_secret(auth),
        tls: tls(file),
        has_secret,
        problem: unsupported_reason(file),
    }
}

/// The authentication the `nats` CLI would use: a user (with its password), else a `.creds`
/// file, else an NKey seed file, else a token. An NKey's seed is left empty (its file is read by
/// [`resolve`]).
fn auth(file: &ContextFile) -> NatsAuth {
    if !file.user.is_empty() {
        NatsAuth::UserPassword {
            user: file.user.clone(),
            password: file.password.clone(),
        }
    } else if !file.creds.is_empty() {
        NatsAuth::CredsFile {
            path: expand_home(&file.creds),
        }
    } else if !file.nkey.is_empty() {
        NatsAuth::NKey {
            seed: String::new(),
        }
    } else if !file.token.is_empty() {
        NatsAuth::Token {
            token: file.token.clone(),
        }
    } else {
        NatsAuth::None
    }
}

fn unsupported_reason(file: &ContextFile) -> Option<String> {
    if !file.nsc.is_empty() {
        Some("it resolves through nsc (`nsc://`); export a .creds file and use that".into())
    } else if file.creds.starts_with("op://") {
        Some("its credentials live in 1Password (`op://`)".into())
    } else if file.user.is_empty() && file.creds.is_empty() && !file.user_jwt.is_empty() {
        Some("it holds a bare user JWT; use a .creds file".into())
    } else {
        None
    }
}

fn servers(file: &ContextFile) -> Vec<String> {
    let servers: Vec<String> = file
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if servers.is_empty() {
        // The CLI's default for a context without a URL.
        vec!["nats://localhost:4222".into()]
    } else {
        servers
    }
}

fn tls(file: &ContextFile) -> TlsSettings {
    let path = |p: &str| (!p.is_empty()).then(|| expand_home(p));
    TlsSettings {
        required: false,
        ca_file: path(&file.ca),
        cert_file: path(&file.cert),
        key_file: path(&file.key),
    }
}

/// `~/x` as `$HOME/x`, as the `nats` CLI reads its paths.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `nats` configuration directory with these contexts (name, JSON) and selection.
    fn dir(contexts: &[(&str, &str)], selected: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("context")).unwrap();
        for (name, json) in contexts {
            std::fs::write(
                dir.path().join("context").join(format!("{name}.json")),
                json,
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("context.txt"), selected).unwrap();
        dir
    }

    /// Each listed context as `name* servers auth secret? problem`, `*` marking the selected.
    fn check(contexts: &[(&str, &str)], selected: &str, expected: &[&str]) {
        let dir = dir(contexts, selected);
        let got: Vec<String> = list(dir.path())
            .iter()
            .map(|c| {
                format!(
                    "{}{} {} {:?} secret={}{}",
                    c.name,
                    if c.selected { "*" } else { "" },
                    c.servers.join(","),
                    c.auth,
                    c.has_secret,
                    c.problem
                        .as_deref()
                        .map(|p| format!(" ! {p}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn contexts_are_listed_by_name_with_their_secrets_left_out() {
        check(
            &[
                (
                    "prod-east",
                    r#"{"description":"Production","url":"nats://a:4222, nats://b:4222","user":"ada","password":"hunter2"}"#,
                ),
                ("local", r#"{"url":"nats://127.0.0.1:4222"}"#),
                ("tok", r#"{"token":"s3cret"}"#),
                ("creds", r#"{"url":"tls://ngs:4222","creds":"/keys/u.creds","ca":"/ca.pem"}"#),
                ("nkey", r#"{"nkey":"/keys/u.nk","token":"ignored"}"#),
                ("nsc", r#"{"nsc":"nsc://op/acc/user"}"#),
                ("broken", "{not json"),
            ],
            "prod-east\n",
            &[
                "broken  None secret=false ! cannot read nats context \"broken\": key must be a string at line 1 column 2",
                "creds tls://ngs:4222 CredsFile { path: \"/keys/u.creds\" } secret=false",
                "local nats://127.0.0.1:4222 None secret=false",
                "nkey nats://localhost:4222 NKey { seed: \"\" } secret=true",
                "nsc nats://localhost:4222 None secret=false ! it resolves through nsc (`nsc://`); export a .creds file and use that",
                "prod-east* nats://a:4222,nats://b:4222 UserPassword { user: \"ada\", password: \"\" } secret=true",
                "tok nats://localhost:4222 Token { token: \"\" } secret=true",
            ],
        );
        // No directory at all: nothing to offer.
        assert!(list(Path::new("/nonexistent/nats")).is_empty());
    }

    #[test]
    fn resolving_reads_the_secret_and_the_seed_file() {
        let keys = tempfile::tempdir().unwrap();
        let seed = keys.path().join("u.nk");
        std::fs::write(&seed, "SUAexample\n").unwrap();
        let dir = dir(
            &[
                (
                    "pw",
                    r#"{"url":"nats://a:4222","user":"ada","password":"hunter2","ca":"/ca.pem"}"#,
                ),
                ("nk", &format!(r#"{{"nkey":"{}"}}"#, seed.display())),
                ("lost", r#"{"nkey":"/nonexistent/u.nk"}"#),
                ("nsc", r#"{"nsc":"nsc://op"}"#),
            ],
            "",
        );
        let pw = resolve(dir.path(), "pw").unwrap();
        assert_eq!(
            (pw.servers, pw.auth, pw.tls.ca_file),
            (
                vec!["nats://a:4222".to_string()],
                NatsAuth::UserPassword {
                    user: "ada".into(),
                    password: "hunter2".into()
                },
                Some("/ca.pem".to_string())
            )
        );
        assert_eq!(
            resolve(dir.path(), "nk").unwrap().auth,
            NatsAuth::NKey {
                seed: "SUAexample".into()
            }
        );
        let err = |name: &str| resolve(dir.path(), name).unwrap_err().to_string();
        assert_eq!(
            err("lost"),
            "nats context \"lost\" cannot be used: cannot read its NKey seed file /nonexistent/u.nk: No such file or directory (os error 2)"
        );
        assert_eq!(
            err("nsc"),
            "nats context \"nsc\" cannot be used: it resolves through nsc (`nsc://`); export a .creds file and use that"
        );
        assert_eq!(err("nope"), "no nats context named \"nope\"");
        assert_eq!(err("../pw"), "no nats context named \"../pw\"");
    }

    #[test]
    fn the_directory_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            default_dir(env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/nats"))
        );
        assert_eq!(
            default_dir(env(&[("XDG_CONFIG_HOME", " "), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/nats"))
        );
        assert_eq!(default_dir(env(&[])), None);
    }
}
