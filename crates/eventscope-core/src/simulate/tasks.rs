//! Task events: tasks assigned to a user, each of which ends at most once, completed or failed.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;

use super::state::{rfc3339, Gen, Org, Slot, Task};
use super::words::{COMPANIES, TASK_ERRORS, TASK_TITLES};
use super::Kind;
use crate::event::Envelope;

pub(super) fn created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("task", Slot::Task);
    let owner = org.user(gen);
    let template = gen.pick(TASK_TITLES);
    let title = fill(gen, org, template);
    let priority = gen.pick(&["low", "normal", "normal", "normal", "high", "urgent"]);
    let due_at =
        rfc3339(gen.now_ms + gen.rng.random_range(1..=14) * 86_400_000 - gen.now_ms % 3_600_000);
    let payload = json!({
        "taskId": id,
        "title": title,
        "owner": org.people[owner].owner(),
        "priority": priority,
        "dueAt": due_at,
        "status": "open",
    });
    let env = org.envelope(
        gen,
        Kind::TaskCreated,
        &id,
        payload,
        vec![("owner".into(), org.people[owner].id.clone())],
    );
    org.tasks.push(Task {
        id,
        title,
        owner,
        priority,
        due_at,
    });
    env
}

pub(super) fn ended(gen: &mut Gen, org: &mut Org, failed: bool) -> Envelope {
    let t = gen.rng.random_range(0..org.tasks.len());
    let task = org.tasks.remove(t).expect("an open task");
    let owner = &org.people[task.owner];
    let mut payload = json!({
        "taskId": task.id,
        "title": task.title,
        "owner": owner.owner(),
        "priority": task.priority,
        "dueAt": task.due_at,
        "status": if failed { "failed" } else { "completed" },
    });
    if failed {
        let (code, message) = gen.pick(TASK_ERRORS);
        payload["error"] = json!({"code": code, "message": message});
        payload["attempt"] = json!(gen.rng.random_range(1..=3));
    }
    let kind = if failed {
        Kind::TaskFailed
    } else {
        Kind::TaskCompleted
    };
    org.envelope(
        gen,
        kind,
        &task.id,
        payload,
        vec![("owner".into(), owner.id.clone())],
    )
}

/// Fills a template's `{name}`, `{company}` and `{n}` with this organization's details.
fn fill(gen: &mut Gen, org: &Org, template: &str) -> String {
    let person = &org.people[gen.rng.random_range(0..org.users)];
    let first = person.name.split(' ').next().unwrap_or("Alex");
    let company = if gen.chance(0.5) {
        org.company.as_str()
    } else {
        COMPANIES.choose(&mut gen.rng).expect("companies").0
    };
    template
        .replace("{name}", first)
        .replace("{company}", company)
        .replace("{n}", &gen.rng.random_range(1000..99_999).to_string())
}
