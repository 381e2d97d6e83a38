//! `notify`: the notification rules' cost. (a) Live ingest alone beside live ingest that also
//! counts the would-be notifications of the 4 built-in rules and 20 custom ones, each in its own
//! process against one nats-server, in one run: CPU per event and drops. (b) The volume report
//! over a million held events: total time and time to the first figures, beside a plain scan of
//! the same store.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use eventscope_core::notify::{self, RuleSet};
use eventscope_core::store::{EventStore, Incoming, StoreLimits};

use crate::{run_round, runtime, simulated, Mode};

/// 20 custom rules a team might add beside the built-ins: every event type, conditions on the
/// payload and the envelope, array recipients, exceptions, per-channel templates, and one
/// template with a filter (which counting renders).
pub const CUSTOM_RULES: &str = r#"
rules:
  - {id: urgent-task, event: task.created, when: 'payload.priority:urgent', priority: urgent, title: 'Urgent: {{ payload.title }}', body: 'Due {{ payload.dueAt }}', channels: [websocket, push, email], recipients: {from: payload.owner.id}}
  - {id: task-assigned, event: task.created, title: 'New task: {{ payload.title }}', body: 'Due {{ payload.dueAt }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: task-retry, event: task.failed, when: 'payload.attempt>=2', priority: high, title: 'Retried {{ payload.attempt }} times: {{ payload.title }}', body: '{{ payload.error.message }}', channels: [push], recipients: {from: payload.owner.id}}
  - {id: task-any, event: 'task.*', when: 'payload.priority:high', title: '{{ eventName }}: {{ payload.title }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: flow-failed, event: flow.run, when: 'payload.status:failed', priority: high, title: 'Flow run failed', body: 'Run {{ payload.runId }} of {{ payload.flowId }}', channels: [websocket, email], recipients: {from: metadata.filters.owner}}
  - {id: flow-slow, event: flow.run, when: 'payload.durationMs>5000', title: 'Slow run {{ payload.runId | upper }}', body: '{{ payload.durationMs }} ms', channels: [websocket], recipients: {from: payload.steps.name}}
  - {id: flow-created, event: flow.created, title: 'Flow {{ payload.name }} created', channels: [websocket], recipients: {from: payload.createdBy.id}}
  - {id: flow-changed, event: flow.updated, title: '{{ payload.name }} is now version {{ payload.version }}', channels: [websocket], recipients: {from: payload.updatedBy.id}}
  - {id: app-installed, event: app.installed, title: '{{ payload.name }} installed', body: 'By {{ payload.installedBy.name }}', channels: [websocket, email], recipients: {from: payload.installedBy.id}}
  - {id: webhook-invoice, event: app.event_received, when: 'payload.app:stripe', title: 'Invoice {{ payload.body.id }}', body: '{{ payload.body.amount }} {{ payload.body.currency }}', channels: [websocket], recipients: {from: payload.body.customer}}
  - {id: webhook-deal, event: app.event_received, when: 'payload.body.propertyValue:closedwon', priority: high, title: 'Deal won', channels: [push], recipients: {from: payload.body.objectId}}
  - {id: ticket, event: app.event_received, when: 'payload.app:zendesk', title: 'Ticket {{ payload.body.ticketId }}', channels: [websocket], recipients: {from: payload.body.requester}}
  - {id: record-created, event: record.created, when: 'payload.collection:deals', title: 'New deal {{ payload.fields.title }}', body: '{{ payload.fields.amount }} {{ payload.fields.currency }}', channels: [websocket, push], recipients: {from: payload.fields.ownerId, except: payload.createdBy.id}}
  - {id: record-changed, event: record.updated, title: '{{ payload.collection }} {{ payload.recordId }} changed', channels: [websocket], recipients: {from: payload.fields.ownerId, except: payload.updatedBy.id}}
  - {id: record-deleted, event: record.deleted, priority: low, title: '{{ payload.recordId }} deleted', channels: [email], email: {subject: 'Deleted from {{ payload.collection }}', body: '{{ payload.recordId }} was deleted'}, recipients: {from: payload.deletedBy.id}}
  - {id: agent-replied, event: conversation.message_posted, when: 'payload.sender.type:agent', title: '{{ payload.sender.name }} replied', body: '{{ payload.text }}', channels: [push], push: {title: 'Reply from {{ payload.sender.name }}'}, recipients: {from: payload.participants, except: payload.sender.id, history: conversation.created}}
  - {id: mention, event: conversation.message_posted, when: '"@"', title: 'You were mentioned', body: '{{ payload.text }}', channels: [websocket, push], recipients: {from: payload.participants, except: payload.sender.id}}
  - {id: stream-done, event: conversation.message_stream, when: 'payload.done:true', title: 'Reply ready', channels: [websocket], recipients: {from: payload.sender.id}}
  - {id: conversation-email, event: conversation.created, when: 'payload.channel:email', title: 'New email conversation: {{ payload.title }}', channels: [email], recipients: {from: payload.participants, except: payload.createdBy.id}}
  - {id: vip, event: '*.*', when: 'org:org_1 metadata.tags:vip', priority: urgent, title: 'VIP {{ resource }} {{ eventName }}', channels: [websocket], recipients: {from: payload.owner.id}}
"#;

/// The built-ins and the 20 custom rules.
pub fn rules() -> Result<RuleSet> {
    let rules = RuleSet::parse(CUSTOM_RULES, true).context("the benchmark's rules")?;
    anyhow::ensure!(rules.rules().len() == 24, "24 rules expected");
    Ok(rules)
}

pub fn run(events: usize, rounds: usize, held: usize) -> Result<()> {
    let rules = Arc::new(rules()?);
    if rounds > 0 {
        live(events, rounds)?;
    }
    if held > 0 {
        report(rules, held)?;
    }
    Ok(())
}

/// (a) `ingest` and `notify` subscribers, alternating which goes first.
fn live(events: usize, rounds: usize) -> Result<()> {
    let this = std::env::current_exe()?;
    let server = eventscope_testkit::NatsServer::start();
    let url = server.url();
    eprintln!("generating {events} events ...");
    let messages: Vec<(String, Bytes)> = simulated(events)
        .map(|(subject, body)| (subject, Bytes::from(body)))
        .collect();
    println!("(a) live ingest of {events} simulated events, published as fast as the server takes them, 24 rules");
    println!(
        "{:>5}  {:<8} {:>9} {:>8} {:>9} {:>10} {:>8}",
        "round", "mode", "received", "dropped", "cpu s", "cpu µs/ev", "wall s"
    );
    let rt = runtime()?;
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let mut order = [Mode::Ingest, Mode::Notify];
        if round % 2 == 0 {
            order.reverse();
        }
        let mut cpu = [0.0; 2];
        for mode in order {
            let r = rt.block_on(run_round(&this, &url, mode, &messages))?;
            let per_event = r.cpu_secs * 1e6 / events as f64;
            cpu[(mode == Mode::Notify) as usize] = per_event;
            println!(
                "{round:>5}  {:<8} {:>9} {:>8} {:>9.2} {:>10.3} {:>8.2}",
                if mode == Mode::Notify {
                    "notify"
                } else {
                    "ingest"
                },
                r.received,
                r.dropped,
                r.cpu_secs,
                per_event,
                r.wall_secs
            );
        }
        ratios.push(cpu[1] / cpu[0]);
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "CPU per event, notify / ingest: median {:.3} (each round: {ratios:.3?})",
        sorted[sorted.len() / 2]
    );
    Ok(())
}

/// (b) The volume report over `held` events, beside a plain scan touching every index record.
fn report(rules: Arc<RuleSet>, held: usize) -> Result<()> {
    eprintln!("filling a store with {held} simulated events ...");
    let mut store = EventStore::new(StoreLimits {
        capacity: held.max(1),
        ..StoreLimits::default()
    });
    let t0 = chrono::Utc::now().timestamp_millis() - held as i64 / 10;
    for (i, (subject, body)) in simulated(held).enumerate() {
        store.push(Incoming {
            subject: &subject,
            headers: &[],
            body: &body,
            received_ms: t0 + i as i64 / 10,
        });
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let scan = Instant::now();
    let n = (store.first_seq()..store.next_seq())
        .filter_map(|s| store.get(s))
        .filter(|e| std::hint::black_box(e.name_syms()).0 .0 != u32::MAX)
        .count();
    let scan_ms = scan.elapsed().as_secs_f64() * 1e3;
    println!("(b) volume report over {n} held events, 24 rules, on every core");
    for run in 1..=3 {
        let started = Instant::now();
        let mut first: Option<(f64, u64, u64)> = None;
        let volume = notify::volume_report(rules.clone(), &store, now_ms, |v| {
            first.get_or_insert_with(|| {
                (
                    started.elapsed().as_secs_f64() * 1e3,
                    v.examined,
                    v.notifications,
                )
            });
        });
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        let (first_ms, first_events, first_notifications) = first.unwrap_or_default();
        println!(
            "run {run}: total {total_ms:.0} ms ({:.2}x a plain scan of {scan_ms:.0} ms), first figures after {first_ms:.0} ms ({first_events} events, {first_notifications} notifications); {} notifications to {} recipients, {} flagged as spammed",
            total_ms / scan_ms,
            volume.notifications,
            volume.recipients,
            volume.top_recipients.iter().filter(|r| r.spam).count()
        );
    }
    Ok(())
}
