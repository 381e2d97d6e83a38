//! The catalogue of the platform's event types: for each, its name, source, a one-line
//! description and a realistic example made by the simulator's own generators, so that a composer
//! can offer one template per type.

use std::time::Duration;

use super::{Kind, SimConfig, Simulator};
use crate::event::Envelope;

/// One platform event type.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    /// `{resource}.{eventName}`, e.g. `task.created`.
    pub name: &'static str,
    /// The platform service that publishes it, e.g. `tasks`.
    pub source: &'static str,
    pub description: &'static str,
    /// A realistic event of this type; the same in every run.
    pub example: Envelope,
}

/// The names of the 14 event types, in the order the platform documents them.
pub fn names() -> [&'static str; 14] {
    Kind::ALL.map(Kind::name)
}

/// Every event type in the order of [`names`], with its example.
///
/// The examples are one organization's story in that order: the events that follow a `created`
/// example concern the resource it created (the message is posted in the conversation just
/// opened, the updated record is the one just created, ...). The failed task is another task
/// than the completed one, since a task ends once.
pub fn all() -> Vec<EventType> {
    let mut sim = Simulator::new(SimConfig {
        orgs: 1,
        ..SimConfig::default()
    });
    // Minutes apart, as one organization's day would space them, rather than a busy platform's
    // milliseconds.
    sim.set_mean_gap(Duration::from_secs(60));
    Kind::ALL
        .into_iter()
        .map(|kind| {
            if kind == Kind::TaskFailed {
                sim.next_of(Kind::TaskCreated);
            }
            EventType {
                name: kind.name(),
                source: kind.source(),
                description: description(kind),
                example: sim.next_of(kind),
            }
        })
        .collect()
}

/// The event type called `name` (`{resource}.{eventName}`), if the platform has one.
pub fn get(name: &str) -> Option<EventType> {
    all().into_iter().find(|t| t.name == name)
}

fn description(kind: Kind) -> &'static str {
    match kind {
        Kind::ConversationCreated => "A conversation was opened with its first participants",
        Kind::MessagePosted => "A user or an agent posted a message in a conversation",
        Kind::MessageStream => "One token of an agent's reply, streamed as it is written",
        Kind::FlowCreated => "An automation flow was created with its trigger and steps",
        Kind::FlowUpdated => "A flow's definition changed and its version went up",
        Kind::FlowRun => "A flow ran (or is running), with the status of each step",
        Kind::TaskCreated => "A task was assigned to its owner with a priority and a due date",
        Kind::TaskCompleted => "A task was completed",
        Kind::TaskFailed => "A task failed, with the error and the attempt number",
        Kind::AppInstalled => "An integration app was installed in the organization",
        Kind::AppEventReceived => "An external event arrived through an installed app",
        Kind::RecordCreated => "A record was added to a collection",
        Kind::RecordUpdated => "A field of a record changed, with its previous value",
        Kind::RecordDeleted => "A record was deleted from its collection",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::simulate::tests::{shapes, SHAPES};

    /// One line per event type of the catalogue, in its order, as `line` writes it.
    fn check(line: impl Fn(&EventType, &[EventType]) -> String, expected: &str) {
        let all = all();
        let got: Vec<String> = all.iter().map(|t| line(t, &all)).collect();
        assert_eq!(got.join("\n"), expected);
    }

    #[test]
    fn lists_the_14_platform_types_once_each_in_platform_order() {
        check(
            |t, _| format!("{} {}", t.source, t.name),
            "\
conversations conversation.created
conversations conversation.message_posted
conversations conversation.message_stream
flows flow.created
flows flow.updated
flows flow.run
tasks task.created
tasks task.completed
tasks task.failed
apps app.installed
apps app.event_received
collections record.created
collections record.updated
collections record.deleted",
        );
        let names = names();
        assert_eq!(all().iter().map(|t| t.name).collect::<Vec<_>>(), names);
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), 14);
    }

    #[test]
    fn each_example_is_a_valid_event_of_its_type_on_its_subject() {
        // Each example's subject: its source, resource and event, then its filter keys.
        check(
            |t, _| {
                let e = &t.example;
                assert_eq!(
                    (e.name(), e.source.as_str()),
                    (t.name.to_string(), t.source)
                );
                let body = serde_json::to_vec(e).unwrap();
                assert!(crate::event::decode(&body).problems.is_empty(), "{e:?}");
                let subject = e.subject().unwrap_or_else(|err| panic!("{err}: {e:?}"));
                let parts = crate::topic::parse(&subject).unwrap();
                let keys: Vec<&str> = parts.filters.iter().map(|(k, _)| *k).collect();
                format!(
                    "{}.{}.{} [{}]",
                    parts.source,
                    parts.resource,
                    parts.event,
                    keys.join(" ")
                )
            },
            "\
conversations.conversation.created [channel]
conversations.conversation.message_posted [participant]
conversations.conversation.message_stream []
flows.flow.created [trigger]
flows.flow.updated []
flows.flow.run [status]
tasks.task.created [owner]
tasks.task.completed [owner]
tasks.task.failed [owner]
apps.app.installed [app]
apps.app.event_received [channel]
collections.record.created [collection]
collections.record.updated [collection]
collections.record.deleted [collection]",
        );
        let examples: Vec<Envelope> = all().into_iter().map(|t| t.example).collect();
        assert_eq!(shapes(&examples), SHAPES);
    }

    #[test]
    fn examples_after_a_created_one_concern_what_it_created() {
        // Each type, then the creating example whose resource its example concerns.
        check(
            |t, all| {
                let creator = all.iter().find(|c| {
                    c.name != t.name
                        && (c.name.ends_with(".created") || c.name.ends_with(".installed"))
                        && c.example.resource_id == t.example.resource_id
                });
                format!("{}: {}", t.name, creator.map_or("-", |c| c.name))
            },
            "\
conversation.created: -
conversation.message_posted: conversation.created
conversation.message_stream: conversation.created
flow.created: -
flow.updated: flow.created
flow.run: flow.created
task.created: -
task.completed: task.created
task.failed: -
app.installed: -
app.event_received: app.installed
record.created: -
record.updated: record.created
record.deleted: record.created",
        );
        let all = all();
        let orgs: HashSet<&str> = all
            .iter()
            .map(|t| t.example.organization_id.as_str())
            .collect();
        assert_eq!(orgs.len(), 1, "one organization's story: {orgs:?}");
        assert!(all
            .windows(2)
            .all(|w| w[0].example.timestamp <= w[1].example.timestamp));
    }

    #[test]
    fn is_the_same_on_every_call() {
        assert_eq!(all(), all());
        assert_eq!(get("task.created"), Some(all().remove(6)));
        assert_eq!(get("task.started"), None);
        assert_eq!(get("created"), None);
    }
}
