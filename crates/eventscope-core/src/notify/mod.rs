//! Notification rules previewed on real events: which rules an event triggers, who they notify
//! through which channel saying what, and for every rule that does not, exactly one reason
//! (`docs/notifications.md`).
//!
//! `rules.rs` owns the file format, validation and the built-ins; `eval.rs` one event against
//! the rules (explanations, and the counting the live stream and reports use); `channel.rs`
//! each channel's formatting; `report.rs` volume over held events and the live stream, and one
//! recipient's activity.

pub mod channel;
pub mod eval;
pub mod report;
pub mod rules;
pub mod saved;

#[cfg(test)]
mod tests;

pub use channel::Message;
pub use eval::{
    explain, flatten, notifications, Held, HistoryIndex, NoRecipients, Notification, Reason,
    RecipientSource, RuleOutcome,
};
pub use report::{
    recipient_activity, samples, volume_report, NotifySample, RecipientActivity, Tally, Volume,
    REPORT_STEP,
};
pub use rules::{
    builtin_rules, rules_path, save_rules_atomically, Channel, Priority, Rule, RuleSet, RulesError,
    SaveError,
};
pub use saved::SavedRules;
