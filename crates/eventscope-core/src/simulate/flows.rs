//! Flow events: automation flows created and edited, and their runs step by step (a run may be
//! reported while running, then once more when it ends).

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::state::{Flow, Gen, OpenRun, Org, Slot};
use super::words::{FLOW_NAMES, STEPS, TRIGGERS};
use super::Kind;
use crate::event::Envelope;

pub(super) fn created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("flow", Slot::Flow);
    let name = gen.pick(FLOW_NAMES);
    let trigger = gen.pick(TRIGGERS);
    let count = gen.rng.random_range(2..=4);
    let steps: Vec<&'static str> = STEPS
        .choose_multiple(&mut gen.rng, count)
        .copied()
        .collect();
    let author = org.user(gen);
    let payload = json!({
        "flowId": id,
        "name": name,
        "trigger": trigger,
        "steps": steps,
        "version": 1,
        "enabled": true,
        "createdBy": org.people[author].actor(),
    });
    let env = org.envelope(
        gen,
        Kind::FlowCreated,
        &id,
        payload,
        vec![("trigger".into(), trigger.into())],
    );
    org.flows.push(Flow {
        id,
        name,
        trigger,
        steps,
        version: 1,
        enabled: true,
        run: None,
    });
    env
}

pub(super) fn updated(gen: &mut Gen, org: &mut Org) -> Envelope {
    let f = gen.recent(org.flows.len());
    let author = org.user(gen);
    let changed = gen.pick(&["steps", "steps", "trigger", "enabled", "name"]);
    let flow = &mut org.flows[f];
    match changed {
        "steps" => {
            let step = *STEPS.choose(&mut gen.rng).expect("steps");
            if flow.steps.len() < 4 && !flow.steps.contains(&step) {
                flow.steps.push(step);
            } else if flow.steps.len() > 1 {
                flow.steps.pop();
            }
        }
        "trigger" => flow.trigger = *TRIGGERS.choose(&mut gen.rng).expect("triggers"),
        "enabled" => flow.enabled = !flow.enabled,
        _ => flow.name = *FLOW_NAMES.choose(&mut gen.rng).expect("names"),
    }
    flow.version += 1;
    let payload = json!({
        "flowId": flow.id,
        "name": flow.name,
        "version": flow.version,
        "changed": [changed],
        "trigger": flow.trigger,
        "steps": flow.steps,
        "enabled": flow.enabled,
        "updatedBy": org.people[author].actor(),
    });
    let org = &*org;
    org.envelope(gen, Kind::FlowUpdated, &org.flows[f].id, payload, vec![])
}

pub(super) fn run(gen: &mut Gen, org: &mut Org) -> Envelope {
    let f = gen.recent(org.flows.len());
    let now = gen.now_ms;
    let flow = &mut org.flows[f];
    let (run_id, started_ms, finished, done_before) = match flow.run.take() {
        Some(run) => (run.id, run.started_ms, true, run.steps_done),
        None => {
            let id = gen.mint("run", Slot::Run);
            let started = now - gen.rng.random_range(20..4_000);
            (id, started, gen.chance(0.8), 0)
        }
    };
    // An update may have shortened the flow while a run was open.
    let total = flow.steps.len();
    let done_before = done_before.min(total - 1);
    let failed = finished && gen.chance(0.12);
    // Steps finished so far; a failed run stops at the failing step.
    let reached = if finished && !failed {
        total
    } else {
        gen.rng.random_range(done_before..total)
    };
    let status = match (finished, failed) {
        (false, _) => "running",
        (true, true) => "failed",
        (true, false) => "succeeded",
    };
    let steps: Vec<Value> = flow
        .steps
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let state = match i.cmp(&reached) {
                std::cmp::Ordering::Less => "succeeded",
                std::cmp::Ordering::Equal if failed => "failed",
                std::cmp::Ordering::Equal if !finished => "running",
                _ => "pending",
            };
            json!({"name": name, "status": state})
        })
        .collect();
    if !finished {
        flow.run = Some(OpenRun {
            id: run_id.clone(),
            started_ms,
            steps_done: reached,
        });
    }
    let payload = json!({
        "flowId": flow.id,
        "runId": run_id,
        "status": status,
        "durationMs": (now - started_ms).max(1),
        "trigger": flow.trigger,
        "steps": steps,
    });
    let org = &*org;
    org.envelope(
        gen,
        Kind::FlowRun,
        &org.flows[f].id,
        payload,
        vec![("status".into(), status.into())],
    )
}
