//! The rules file (`rules.yaml`, JSON accepted): its format, validation with the rule id and the
//! position of every error, the four built-in rules, overriding a built-in by id, and saving a
//! file atomically.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use thiserror::Error;
#[cfg(test)]
use ts_rs::TS;

use crate::filter::Filter;

/// The rules file in the app's config directory.
pub const RULES_FILE: &str = "rules.yaml";
/// More rules than this in one file are refused: every event is matched against each.
pub const MAX_RULES: usize = 500;
/// Longest rule id.
const MAX_ID: usize = 64;

/// Why a rules file was refused: the rule (when known) and the position (1-based; 0 unknown).
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
#[error("{}", self.describe())]
pub struct RulesError {
    pub rule: Option<String>,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl RulesError {
    fn describe(&self) -> String {
        let mut out = String::new();
        if self.line > 0 {
            out.push_str(&format!("{}:{}: ", self.line, self.column));
        }
        if let Some(rule) = &self.rule {
            out.push_str(&format!("rule {rule}: "));
        }
        out.push_str(&self.message);
        out
    }
}

/// How urgent a notification is; the platform shows and delivers by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// Where a notification is delivered: in the app over the WebSocket, to a phone, by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Websocket,
    Push,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Websocket, Channel::Push, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Websocket => "websocket",
            Channel::Push => "push",
            Channel::Email => "email",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Who a rule notifies: the ids at `from`, less those at `except`; `history` names the held
/// event to read `from` in when the event itself lacks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Recipients {
    pub from: String,
    pub except: Option<String>,
    pub history: Option<String>,
}

/// The push channel's own title and body templates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushTemplates {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// The email channel's own subject and body templates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailTemplates {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// One effective rule, as the editor and `notify rules` list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub name: String,
    /// `resource.eventName`, `*` for a whole part.
    pub event: String,
    pub when: Option<String>,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    pub channels: Vec<Channel>,
    pub recipients: Recipients,
    pub push: Option<PushTemplates>,
    pub email: Option<EmailTemplates>,
    pub enabled: bool,
    /// One of the four built-in rules, as shipped.
    pub builtin: bool,
    /// A rule of the file that replaces the built-in rule of the same id.
    pub overrides_builtin: bool,
}

/// An event pattern: `resource.eventName`, each part a name or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub resource: Option<String>,
    pub event: Option<String>,
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        let bad = || {
            format!(
                "invalid event pattern {text:?}: expected resource.eventName, `*` for a whole part (task.failed, task.*, *.created)"
            )
        };
        let (resource, event) = text.split_once('.').ok_or_else(bad)?;
        let part = |p: &str| -> Result<Option<String>, String> {
            if p == "*" {
                return Ok(None);
            }
            if p.is_empty()
                || p.chars()
                    .any(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
            {
                return Err(bad());
            }
            Ok(Some(p.to_string()))
        };
        Ok(Pattern {
            resource: part(resource)?,
            event: part(event)?,
        })
    }

    pub(crate) fn matches(&self, resource: &str, event: &str) -> bool {
        self.resource.as_deref().is_none_or(|r| r == resource)
            && self.event.as_deref().is_none_or(|e| e == event)
    }
}

/// A path into the event (`payload.owner.id`, `metadata.tags`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    pub text: String,
    pub root: &'static str,
    pub keys: Vec<String>,
}

impl FieldPath {
    pub(crate) fn parse(text: &str) -> Result<FieldPath, String> {
        let mut parts = text.split('.');
        let root = match parts.next() {
            Some("payload") => "payload",
            Some("metadata") => "metadata",
            _ => {
                return Err(format!(
                    "invalid path {text:?}: it must start with payload or metadata"
                ))
            }
        };
        let keys: Vec<String> = parts.map(str::to_string).collect();
        if keys.iter().any(String::is_empty) {
            return Err(format!("invalid path {text:?}: empty key"));
        }
        Ok(FieldPath {
            text: text.to_string(),
            root,
            keys,
        })
    }
}

/// Which template of a rule: the names an error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Title,
    Body,
    PushTitle,
    PushBody,
    EmailSubject,
    EmailBody,
}

impl Slot {
    pub(crate) const ALL: [Slot; 6] = [
        Slot::Title,
        Slot::Body,
        Slot::PushTitle,
        Slot::PushBody,
        Slot::EmailSubject,
        Slot::EmailBody,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Slot::Title => "title",
            Slot::Body => "body",
            Slot::PushTitle => "push.title",
            Slot::PushBody => "push.body",
            Slot::EmailSubject => "email.subject",
            Slot::EmailBody => "email.body",
        }
    }
}

/// One template, compiled once in the rule set's environment.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub slot: Slot,
    /// The name it has in the environment.
    pub key: String,
    pub source: String,
    /// When the template is text and `{{ dotted.names }}` only, the names: rendering it can only
    /// fail on a missing name, so counting needs no render (see `eval::would_render`).
    pub simple: Option<Vec<Vec<String>>>,
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub(crate) struct Ready {
    pub rule: Rule,
    pub pattern: Pattern,
    pub when: Option<Filter>,
    pub from: FieldPath,
    pub except: Option<FieldPath>,
    pub history: Option<(String, String)>,
    pub templates: Vec<Compiled>,
}

impl Ready {
    pub(crate) fn template(&self, slot: Slot) -> Option<&Compiled> {
        self.templates.iter().find(|t| t.slot == slot)
    }
}

/// The effective rules (built-ins first, then the file's), their templates compiled once.
pub struct RuleSet {
    pub(crate) ready: Vec<Ready>,
    rules: Vec<Rule>,
    pub(crate) env: Environment<'static>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules)
            .finish()
    }
}

impl RuleSet {
    /// The four built-in rules.
    pub fn builtin() -> RuleSet {
        RuleSet::parse("rules: []", true).expect("the built-in rules are valid")
    }

    /// Parses a rules file. With `include_builtin`, the built-ins come first and a file rule
    /// with a built-in's id replaces it in place; fields it leaves out are the built-in's.
    pub fn parse(text: &str, include_builtin: bool) -> Result<RuleSet, RulesError> {
        let file = parse_file(text)?;
        let builtins = builtin_rules();
        let mut rules: Vec<Rule> = if include_builtin {
            builtins.clone()
        } else {
            Vec::new()
        };
        let mut seen = HashSet::new();
        let mut spans = Vec::new();
        for spanned in file.rules {
            let loc = spanned.referenced;
            let raw = spanned.value;
            let at = |message: String, rule: Option<&str>| RulesError {
                rule: rule.map(str::to_string),
                line: loc.line() as usize,
                column: loc.column() as usize,
                message,
            };
            let id = raw
                .id
                .clone()
                .ok_or_else(|| at("missing field `id`".into(), None))?;
            check_id(&id).map_err(|m| at(m, Some(&id)))?;
            if !seen.insert(id.clone()) {
                return Err(at(format!("duplicate rule id {id:?}"), Some(&id)));
            }
            let base = builtins.iter().find(|b| b.id == id);
            let rule = raw.into_rule(base).map_err(|m| at(m, Some(&id)))?;
            match rules.iter_mut().find(|r| r.id == id) {
                Some(slot) => *slot = rule,
                None => rules.push(rule),
            }
            spans.push((id, loc));
        }
        if rules.len() > MAX_RULES {
            return Err(RulesError {
                rule: None,
                line: 0,
                column: 0,
                message: format!("{} rules: at most {MAX_RULES} are allowed", rules.len()),
            });
        }
        let mut env = crate::template::environment();
        // An error's debug info copies the template's context: a template that fails on many
        // events (a typo in a busy rule) would cost that on each.
        env.set_debug(false);
        let mut ready = Vec::with_capacity(rules.len());
        for rule in &rules {
            let at = |message: String| {
                let loc = spans.iter().find(|(id, _)| *id == rule.id).map(|(_, l)| *l);
                RulesError {
                    rule: Some(rule.id.clone()),
                    line: loc.map_or(0, |l| l.line() as usize),
                    column: loc.map_or(0, |l| l.column() as usize),
                    message,
                }
            };
            ready.push(prepare(rule, &mut env).map_err(at)?);
        }
        Ok(RuleSet { ready, rules, env })
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// `rules.yaml` in the app's config directory.
pub fn rules_path(config_dir: &Path) -> PathBuf {
    config_dir.join(RULES_FILE)
}

/// Why a rules file could not be saved.
#[derive(Debug, Error)]
pub enum SaveError {
    #[error("the rules are invalid: {0}")]
    Invalid(#[from] RulesError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Validates `text` and writes it to `path` through a temporary file and a rename, so a reader
/// sees the old file or the new one, and an invalid text is never written.
pub fn save_rules_atomically(path: &Path, text: &str) -> Result<(), SaveError> {
    RuleSet::parse(text, true)?;
    let io = |source| SaveError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension(format!("yaml.tmp{}", std::process::id()));
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    channels: Option<Vec<Channel>>,
    #[serde(default)]
    recipients: Option<RawRecipients>,
    #[serde(default)]
    push: Option<PushTemplates>,
    #[serde(default)]
    email: Option<EmailTemplates>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipients {
    from: String,
    #[serde(default)]
    except: Option<String>,
    #[serde(default)]
    history: Option<String>,
}

/// Only the ids, to say which rule a YAML error is in.
#[derive(Deserialize)]
struct IdsOnly {
    #[serde(default)]
    rules: Vec<Spanned<IdOnly>>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

impl RawRule {
    fn into_rule(self, base: Option<&Rule>) -> Result<Rule, String> {
        let id = self.id.unwrap_or_default();
        let need = |field: &str| format!("missing field `{field}`");
        let event = self
            .event
            .or_else(|| base.map(|b| b.event.clone()))
            .ok_or_else(|| need("event"))?;
        let title = self
            .title
            .or_else(|| base.map(|b| b.title.clone()))
            .ok_or_else(|| need("title"))?;
        let channels = self
            .channels
            .or_else(|| base.map(|b| b.channels.clone()))
            .ok_or_else(|| need("channels"))?;
        let recipients = match self.recipients {
            Some(r) => Recipients {
                from: r.from,
                except: r.except,
                history: r.history,
            },
            None => base
                .map(|b| b.recipients.clone())
                .ok_or_else(|| need("recipients"))?,
        };
        Ok(Rule {
            name: self
                .name
                .or_else(|| base.map(|b| b.name.clone()))
                .unwrap_or_else(|| id.clone()),
            when: self.when.or_else(|| base.and_then(|b| b.when.clone())),
            priority: self
                .priority
                .or(base.map(|b| b.priority))
                .unwrap_or_default(),
            body: self
                .body
                .or_else(|| base.map(|b| b.body.clone()))
                .unwrap_or_default(),
            push: self.push.or_else(|| base.and_then(|b| b.push.clone())),
            email: self.email.or_else(|| base.and_then(|b| b.email.clone())),
            enabled: self.enabled.unwrap_or(true),
            builtin: false,
            overrides_builtin: base.is_some(),
            id,
            event,
            title,
            channels,
            recipients,
        })
    }
}

fn parse_file(text: &str) -> Result<RawFile, RulesError> {
    serde_saphyr::from_str::<RawFile>(text).map_err(|e| {
        let loc = e.location();
        let text_err = e.without_snippet().to_string();
        let mut message = text_err
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .trim()
            .to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let line = loc.map_or(0, |l| l.line() as usize);
        RulesError {
            rule: rule_at_line(text, line),
            line,
            column: loc.map_or(0, |l| l.column() as usize),
            message,
        }
    })
}

/// The id of the last rule that starts at or before `line`, when the file's rules can be read
/// that far.
fn rule_at_line(text: &str, line: usize) -> Option<String> {
    if line == 0 {
        return None;
    }
    let ids: IdsOnly = serde_saphyr::from_str(text).ok()?;
    ids.rules
        .iter()
        .rfind(|r| r.referenced.line() as usize <= line)
        .and_then(|r| match &r.value.id {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            _ => None,
        })
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(format!("the id must have 1 to {MAX_ID} characters"));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "invalid id {id:?}: {bad:?} is not a letter, a digit or '-'"
        ));
    }
    Ok(())
}

fn prepare(rule: &Rule, env: &mut Environment<'static>) -> Result<Ready, String> {
    let pattern = Pattern::parse(&rule.event)?;
    let when = match rule.when.as_deref().filter(|w| !w.trim().is_empty()) {
        Some(w) => Some(Filter::parse(w).map_err(|e| format!("when: {e}"))?),
        None => None,
    };
    if rule.channels.is_empty() {
        return Err("channels: at least one of websocket, push, email".into());
    }
    let mut seen = HashSet::new();
    if let Some(dup) = rule.channels.iter().find(|c| !seen.insert(**c)) {
        return Err(format!("channels: {} is listed twice", dup.as_str()));
    }
    let from =
        FieldPath::parse(&rule.recipients.from).map_err(|m| format!("recipients.from: {m}"))?;
    let except = rule
        .recipients
        .except
        .as_deref()
        .map(FieldPath::parse)
        .transpose()
        .map_err(|m| format!("recipients.except: {m}"))?;
    let history = match rule.recipients.history.as_deref() {
        Some(h) => {
            let p = Pattern::parse(h).map_err(|m| format!("recipients.history: {m}"))?;
            match (p.resource, p.event) {
                (Some(r), Some(e)) => Some((r, e)),
                _ => return Err("recipients.history: name one event type, without `*`".into()),
            }
        }
        None => None,
    };
    let sources = [
        (Slot::Title, Some(&rule.title)),
        (Slot::Body, Some(&rule.body)),
        (
            Slot::PushTitle,
            rule.push.as_ref().and_then(|p| p.title.as_ref()),
        ),
        (
            Slot::PushBody,
            rule.push.as_ref().and_then(|p| p.body.as_ref()),
        ),
        (
            Slot::EmailSubject,
            rule.email.as_ref().and_then(|e| e.subject.as_ref()),
        ),
        (
            Slot::EmailBody,
            rule.email.as_ref().and_then(|e| e.body.as_ref()),
        ),
    ];
    let mut templates = Vec::new();
    for (slot, source) in sources {
        let Some(source) = source else { continue };
        let key = format!("{}/{}", rule.id, slot.name());
        if let Err(e) = env.add_template_owned(key.clone(), source.clone()) {
            let err = crate::template::convert(source, &e, false);
            return Err(format!("{}: {err}", slot.name()));
        }
        templates.push(Compiled {
            slot,
            key,
            source: source.clone(),
            simple: simple_names(source),
        });
    }
    Ok(Ready {
        rule: rule.clone(),
        pattern,
        when,
        from,
        except,
        history,
        templates,
    })
}

/// The dotted names of a template made only of text and `{{ a.b.c }}` expressions; `None` for
/// anything else (tags, comments, filters, calls, subscripts).
fn simple_names(source: &str) -> Option<Vec<Vec<String>>> {
    if source.contains("{%") || source.contains("{#") {
        return None;
    }
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let expr = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let parts: Vec<String> = expr.split('.').map(str::to_string).collect();
        let ident = |p: &String| {
            let mut chars = p.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !parts.iter().all(ident)
            || matches!(
                parts[0].as_str(),
                "true" | "false" | "none" | "True" | "False" | "None"
            )
        {
            return None;
        }
        names.push(parts);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") && names.is_empty() && source.contains("{{") {
        return None;
    }
    Some(names)
}

/// The platform's four built-in rules.
pub fn builtin_rules() -> Vec<Rule> {
    let rule = |id: &str, name: &str, event: &str, priority, title: &str, body: &str| Rule {
        id: id.into(),
        name: name.into(),
        event: event.into(),
        when: None,
        priority,
        title: title.into(),
        body: body.into(),
        channels: vec![Channel::Websocket],
        recipients: Recipients {
            from: "payload.owner.id".into(),
            except: None,
            history: None,
        },
        push: None,
        email: None,
        enabled: true,
        builtin: true,
        overrides_builtin: false,
    };
    vec![
        Rule {
            channels: vec![Channel::Websocket, Channel::Push],
            recipients: Recipients {
                from: "payload.participants".into(),
                except: Some("payload.sender.id".into()),
                history: Some("conversation.created".into()),
            },
            ..rule(
                "new-message",
                "New message",
                "conversation.message_posted",
                Priority::Normal,
                "{{ payload.sender.name }}",
                "{{ payload.text }}",
            )
        },
        Rule {
            recipients: Recipients {
                from: "payload.participants".into(),
                except: Some("payload.createdBy.id".into()),
                history: None,
            },
            ..rule(
                "conversation-created",
                "Conversation created",
                "conversation.created",
                Priority::Normal,
                "New conversation: {{ payload.title }}",
                "{{ payload.createdBy.name }} added you to the conversation",
            )
        },
        Rule {
            channels: vec![Channel::Websocket, Channel::Push],
            ..rule(
                "task-completed",
                "Task completed",
                "task.completed",
                Priority::Normal,
                "Task completed: {{ payload.title }}",
                "{{ payload.title }} is done",
            )
        },
        Rule {
            channels: vec![Channel::Websocket, Channel::Push, Channel::Email],
            ..rule(
                "task-failed",
                "Task failed",
                "task.failed",
                Priority::High,
                "Task failed: {{ payload.title }}",
                "{{ payload.error.message }}",
            )
        },
    ]
}
