//! The notification rules as a specification: a table of (rules, events, what each rule does
//! with the last event), the built-ins on simulated traffic, counting held to explaining, and
//! hostile templates and payloads.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::*;
use crate::simulate::{SimConfig, Simulator};
use crate::store::{EventStore, Incoming};

const NOW: i64 = 1_767_258_000_000;

fn subject_of(ev: &Value) -> String {
    let s = |k: &str| ev[k].as_str().unwrap_or("x").to_string();
    format!(
        "events.{}.{}.{}.{}.{}",
        s("organizationId"),
        s("source"),
        s("resource"),
        s("eventName"),
        s("resourceId")
    )
}

fn store_of(events: &[Value]) -> EventStore {
    let mut store = EventStore::default();
    for ev in events {
        let body = serde_json::to_vec(ev).unwrap();
        store.push(Incoming {
            subject: &subject_of(ev),
            headers: &[],
            body: &body,
            received_ms: NOW,
        });
    }
    store
}

/// One line per rule for the last event: what it sends, or its reason.
fn describe(outcomes: &[RuleOutcome]) -> String {
    outcomes
        .iter()
        .map(|o| {
            if !o.matched {
                let reason = o.reason.as_ref().expect("a reason when not matched");
                return format!("{}: {}: {}", o.rule, reason.kind(), o.detail);
            }
            let messages: Vec<String> = o
                .messages
                .iter()
                .map(|m| match &m.html {
                    Some(html) => format!(
                        "{}: {} / {} / {}",
                        m.channel.as_str(),
                        m.title,
                        m.body,
                        html
                    ),
                    None => format!("{}: {} / {}", m.channel.as_str(), m.title, m.body),
                })
                .collect();
            format!(
                "{}: to {} ({}) | {}",
                o.rule,
                o.recipients.join(","),
                o.source.as_ref().expect("a source when matched"),
                messages.join(" | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Explains the last of `events` (the others held before it) with the rules of `yaml` (no
/// built-ins unless the file names one) and compares with `expected`, line by line. Also holds
/// counting to explaining.
fn check(yaml: &str, events: &[Value], expected: &str) {
    let rules = RuleSet::parse(yaml, false).unwrap_or_else(|e| panic!("{e}"));
    let store = store_of(events);
    let ev = store.get(store.next_seq() - 1).unwrap();
    let outcomes = explain(&rules, &ev, &Held::store(&store), NOW);
    assert_eq!(describe(&outcomes), expected.trim_matches('\n'));
    agree(&rules, &store);
}

/// Counting (the live tally) says what explaining says, rule by rule, for every held event.
fn agree(rules: &RuleSet, store: &EventStore) {
    let mut index = HistoryIndex::new(rules);
    for seq in store.first_seq()..store.next_seq() {
        let ev = store.get(seq).unwrap();
        index.note(store, &ev);
        let outcomes = explain(rules, &ev, &Held::store(store), NOW);
        let ctx = eval::Ctx::new(&ev, NOW);
        for (ready, o) in rules.ready.iter().zip(&outcomes) {
            let counted = if ready.pattern.matches(ev.resource(), ev.event_name()) {
                eval::would_notify(rules, ready, &ctx, &Held::indexed(store, &index))
            } else {
                None
            };
            let explained = o.matched.then(|| o.recipients.clone());
            assert_eq!(counted, explained, "rule {} on event {}", o.rule, ev.seq());
        }
    }
}

fn task(name: &str, payload: Value) -> Value {
    json!({
        "id": format!("evt_{name}"), "organizationId": "org_1", "source": "tasks",
        "resource": "task", "resourceId": "task_7", "eventName": name,
        "timestamp": "2026-01-01T09:00:00Z", "payload": payload, "metadata": {"tags": ["vip"]},
    })
}

fn failed() -> Value {
    task(
        "failed",
        json!({"title": "Send invoice", "owner": {"id": "usr_42", "name": "Ada"},
               "error": {"message": "SMTP timeout"}, "attempt": 1}),
    )
}

#[test]
fn patterns_with_a_star_for_a_whole_part() {
    let yaml = r#"
rules:
  - {id: any-task, event: 'task.*', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: any-created, event: '*.created', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: all, event: '*.*', title: '{{ resource }}.{{ eventName }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: exact, event: task.failed, title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: other, event: task.completed, title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
"#;
    check(
        yaml,
        &[failed()],
        "
any-task: to usr_42 (event) | websocket: t / 
any-created: event: the rule is for *.created, the event is task.failed
all: to usr_42 (event) | websocket: task.failed / 
exact: to usr_42 (event) | websocket: t / 
other: event: the rule is for task.completed, the event is task.failed",
    );
}

#[test]
fn conditions_name_the_failed_term_and_the_value_found() {
    let yaml = r#"
rules:
  - {id: retried, event: task.failed, when: 'payload.attempt>=2', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: first, event: task.failed, when: 'payload.attempt:1 org:org_1', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: org, event: task.failed, when: 'payload.attempt:1 org:org_2', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: missing, event: task.failed, when: 'payload.retries>0', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: tagged, event: task.failed, when: 'metadata.tags:vip', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: not, event: task.failed, when: '-has:payload.error', title: 't', channels: [websocket], recipients: {from: payload.owner.id}}
"#;
    check(
        yaml,
        &[failed()],
        r#"
retried: condition: payload.attempt>=2 does not hold: the event has 1
first: to usr_42 (event) | websocket: t / 
org: condition: org:org_2 does not hold: the event has "org_1"
missing: condition: payload.retries>0 does not hold: the event has nothing there
tagged: to usr_42 (event) | websocket: t / 
not: condition: -has:payload.error does not hold: the event has {"message":"SMTP timeout"}"#,
    );
}

#[test]
fn templates_are_strict_and_say_where_and_which_name() {
    let yaml = r#"
rules:
  - {id: typo, event: task.failed, title: 'Task failed: {{ payload.titel }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: body, event: task.failed, title: 'ok', body: "line one\n  {{ payload.error.code }}", channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: envelope, event: task.failed, title: '{{ organizationId }} {{ subject }} {{ payload.owner.name }} {{ metadata.tags[0] }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: push-only, event: task.failed, title: 'ok', channels: [push], push: {body: '{{ nope }}'}, recipients: {from: payload.owner.id}}
"#;
    check(
        yaml,
        &[failed()],
        "
typo: template_error: title: template error at 1:17: undefined value: `payload.titel` is undefined
body: template_error: body: template error at 2:6: undefined value: `payload.error.code` is undefined
envelope: to usr_42 (event) | websocket: org_1 events.org_1.tasks.task.failed.task_7 Ada vip / 
push-only: template_error: push.body: template error at 1:4: undefined value: `nope` is undefined",
    );
    let rules = RuleSet::parse(yaml, false).unwrap();
    let store = store_of(&[failed()]);
    let ev = store.get(0).unwrap();
    let reason = explain(&rules, &ev, &Held::none(), NOW)[0].reason.clone();
    assert_eq!(
        reason,
        Some(Reason::TemplateError {
            field: "title".into(),
            line: 1,
            column: 17,
            name: Some("payload.titel".into()),
            message: "undefined value: `payload.titel` is undefined".into(),
        })
    );
}

#[test]
fn recipients_from_arrays_less_the_excepted() {
    let msg = |payload: Value| {
        json!({"id": "evt_m", "organizationId": "org_1", "source": "conversations",
               "resource": "conversation", "resourceId": "conv_1", "eventName": "message_posted",
               "timestamp": "2026-01-01T09:00:00Z", "payload": payload})
    };
    let yaml = r#"
rules:
  - {id: people, event: '*.*', title: 't', channels: [websocket], recipients: {from: payload.people.id, except: payload.sender.id}}
  - {id: list, event: '*.*', title: 't', channels: [websocket, push], recipients: {from: payload.participants, except: payload.sender.id}}
"#;
    check(
        yaml,
        &[msg(json!({
            "people": [{"id": "usr_1"}, {"id": "usr_2"}, {"id": "usr_1"}, {"id": 7}],
            "participants": ["usr_1", "usr_2", "usr_3"],
            "sender": {"id": "usr_2"},
        }))],
        "
people: to usr_1,7 (event) | websocket: t / 
list: to usr_1,usr_3 (event) | websocket: t /  | push: t / ",
    );
    check(
        yaml,
        &[msg(
            json!({"participants": ["usr_2"], "people": [], "sender": {"id": "usr_2"}}),
        )],
        "
people: no_recipients: payload.people.id is missing
list: no_recipients: every recipient at payload.participants is excepted (usr_2)",
    );
    check(
        yaml,
        &[msg(
            json!({"participants": [], "people": [{"name": "x"}, {"id": null}]}),
        )],
        "
people: no_recipients: payload.people.id holds no recipient ids
list: no_recipients: payload.participants holds no recipient ids",
    );
}

#[test]
fn channels_format_and_overrides_apply_per_channel() {
    let long_title =
        "Échec de la tâche «facturation» pour l’équipe comptabilité de Zoë 🧾 et suite";
    let long_body = "é".repeat(200);
    let ev = task(
        "failed",
        json!({"title": long_title, "text": long_body, "owner": {"id": "usr_42"}, "error": {"message": "line 1\n\nline <2>"}}),
    );
    let yaml = r#"
rules:
  - id: all
    event: task.failed
    title: '{{ payload.title }}'
    body: '{{ payload.text }}'
    channels: [websocket, push, email]
    recipients: {from: payload.owner.id}
  - id: own
    event: task.failed
    title: 'Failed'
    body: '{{ payload.error.message }}'
    channels: [push, email]
    push: {title: 'Push: {{ payload.owner.id }}'}
    email: {subject: "Subject\n{{ payload.owner.id }}"}
    recipients: {from: payload.owner.id}
"#;
    let expected = format!(
        "
all: to usr_42 (event) | websocket: {long_title} / {long_body} | push: Échec de la tâche «facturation» pour l’équipe comptabilité de Zo… / {}… | email: {long_title} / {long_body} / <p>{long_body}</p>
own: to usr_42 (event) | push: Push: usr_42 / line 1 line <2> | email: Subject usr_42 / line 1\n\nline <2> / <p>line 1</p><p>line &lt;2&gt;</p>",
        "é".repeat(177)
    )
    ;
    check(yaml, &[ev], &expected);
    assert_eq!(channel::truncate("ab🧾cd", 4), "ab🧾…");
    assert_eq!(channel::truncate("abcd", 4), "abcd");
    assert_eq!(channel::truncate(&"€".repeat(70), 65).chars().count(), 65);
}

#[test]
fn the_history_gives_the_participants_a_message_lacks() {
    let created = json!({"id": "evt_c", "organizationId": "org_1", "source": "conversations",
        "resource": "conversation", "resourceId": "conv_1", "eventName": "created",
        "timestamp": "2026-01-01T09:00:00Z",
        "payload": {"title": "Billing", "participants": ["usr_1", "usr_2", "agt_1"], "createdBy": {"id": "usr_1", "name": "Ada"}}});
    let posted = |conv: &str| {
        json!({"id": "evt_p", "organizationId": "org_1", "source": "conversations",
            "resource": "conversation", "resourceId": conv, "eventName": "message_posted",
            "timestamp": "2026-01-01T09:01:00Z",
            "payload": {"text": "hello", "sender": {"id": "usr_2", "name": "Bob"}}})
    };
    // A file rule with a built-in's id and nothing else is that built-in.
    let builtin = "rules: [{id: new-message}]";
    check(
        builtin,
        &[created.clone(), posted("conv_1")],
        "
new-message: to usr_1,agt_1 (history: conversation.created evt_c) | websocket: Bob / hello | push: Bob / hello",
    );
    check(
        builtin,
        &[created, posted("conv_2")],
        "
new-message: no_recipients: payload.participants is missing and no conversation.created of conv_2 is held",
    );
    let rules = RuleSet::parse(builtin, false).unwrap();
    let store = store_of(&[posted("conv_1")]);
    let o = &explain(&rules, &store.get(0).unwrap(), &Held::store(&store), NOW)[0];
    assert_eq!(o.source, Some(RecipientSource::Unknown));
}

#[test]
fn the_built_ins_on_simulated_traffic() {
    let rules = RuleSet::builtin();
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "new-message",
            "conversation-created",
            "task-completed",
            "task-failed"
        ]
    );
    let mut sim = Simulator::new(SimConfig::default());
    let events: Vec<Value> = (0..3000)
        .map(|_| serde_json::to_value(sim.next()).unwrap())
        .collect();
    let store = store_of(&events);
    agree(&rules, &store);
    // Every event of a built-in's type notifies, as the platform would: owners of ended tasks,
    // the participants of conversations but the sender or creator.
    let held = Held::store(&store);
    for seq in store.first_seq()..store.next_seq() {
        let ev = store.get(seq).unwrap();
        let name = format!("{}.{}", ev.resource(), ev.event_name());
        let body: Value = serde_json::from_slice(ev.body()).unwrap();
        for o in explain(&rules, &ev, &held, NOW) {
            let expected: Option<Vec<String>> = match (o.rule.as_str(), name.as_str()) {
                ("task-completed", "task.completed") | ("task-failed", "task.failed") => {
                    Some(vec![body["payload"]["owner"]["id"]
                        .as_str()
                        .unwrap()
                        .into()])
                }
                ("new-message", "conversation.message_posted") => Some(others(&body, "sender")),
                ("conversation-created", "conversation.created") => {
                    Some(others(&body, "createdBy"))
                }
                _ => None,
            };
            match expected {
                Some(ids) if ids.is_empty() => {
                    assert_eq!(o.reason.as_ref().map(Reason::kind), Some("no_recipients"))
                }
                Some(ids) => assert_eq!(o.recipients, ids, "{name} {}", o.rule),
                None => assert_eq!(o.reason.as_ref().map(Reason::kind), Some("event")),
            }
        }
    }
    // The report counts what explaining finds.
    let volume = volume_report(Arc::new(RuleSet::builtin()), &store, NOW, |_| {});
    let mut per_rule = vec![0u64; 4];
    for seq in store.first_seq()..store.next_seq() {
        let ev = store.get(seq).unwrap();
        for (i, o) in explain(&rules, &ev, &held, NOW).iter().enumerate() {
            per_rule[i] += (o.recipients.len() * o.messages.len()) as u64;
        }
    }
    let counted: Vec<u64> = volume.rules.iter().map(|r| r.notifications).collect();
    assert_eq!(counted, per_rule);
    assert!(volume.done && volume.examined == 3000);
    assert!(per_rule.iter().all(|n| *n > 0), "{per_rule:?}");
}

/// The participants of a simulated conversation event but the one at `payload.<who>.id`.
fn others(body: &Value, who: &str) -> Vec<String> {
    let not = body["payload"][who]["id"].as_str().unwrap();
    let mut ids: Vec<String> = Vec::new();
    for p in body["payload"]["participants"].as_array().unwrap() {
        let p = p.as_str().unwrap().to_string();
        if p != not && !ids.contains(&p) {
            ids.push(p);
        }
    }
    ids
}

#[test]
fn every_rule_matches_or_gives_exactly_one_reason() {
    let mut rng = StdRng::seed_from_u64(10);
    let patterns = [
        "task.failed",
        "task.*",
        "*.created",
        "*.*",
        "conversation.message_posted",
    ];
    let whens = [
        "",
        "payload.attempt>=2",
        "org:org_1",
        "-has:payload.error",
        "payload.priority:high OR payload.channel:web",
    ];
    let titles = [
        "t",
        "{{ payload.title }}",
        "{{ payload.nope }}",
        "{{ payload.sender.name | upper }}",
        "{% for x in payload.participants %}{{ x }}{% endfor %}",
    ];
    let froms = [
        "payload.owner.id",
        "payload.participants",
        "payload.sender.id",
        "payload.nothing",
    ];
    let excepts = [
        "",
        "payload.sender.id",
        "payload.owner.id",
        "payload.createdBy.id",
    ];
    let mut yaml = String::from("rules:\n");
    for i in 0..40 {
        let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.random_range(0..list.len())];
        let when = pick(&mut rng, &whens);
        let except = pick(&mut rng, &excepts);
        yaml.push_str(&format!(
            "  - {{id: r{i}, event: '{}', when: '{when}', title: '{}', body: '{}', channels: [websocket, push, email], enabled: {}, recipients: {{from: {}{}}}}}\n",
            pick(&mut rng, &patterns),
            pick(&mut rng, &titles),
            pick(&mut rng, &titles),
            rng.random_bool(0.9),
            pick(&mut rng, &froms),
            if except.is_empty() { String::new() } else { format!(", except: {except}") },
        ));
    }
    let rules = RuleSet::parse(&yaml, true).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let mut sim = Simulator::new(SimConfig {
        seed: 3,
        ..SimConfig::default()
    });
    let mut events: Vec<Value> = Vec::new();
    for _ in 0..1500 {
        let mut ev = serde_json::to_value(sim.next()).unwrap();
        // Mangle some: fields gone, wrong types.
        match rng.random_range(0..10) {
            0 => drop(
                ev["payload"]
                    .as_object_mut()
                    .map(|p| p.remove("participants")),
            ),
            1 => ev["payload"]["owner"] = json!("usr_x"),
            2 => ev["payload"] = json!([1, 2]),
            _ => {}
        }
        events.push(ev);
    }
    let store = store_of(&events);
    let held = Held::store(&store);
    for seq in store.first_seq()..store.next_seq() {
        let ev = store.get(seq).unwrap();
        for o in explain(&rules, &ev, &held, NOW) {
            assert_eq!(o.matched, o.reason.is_none(), "{o:?}");
            assert_eq!(o.matched, o.detail.is_empty(), "{o:?}");
            assert_eq!(o.matched, !o.recipients.is_empty(), "{o:?}");
        }
    }
    agree(&rules, &store);
}

#[test]
fn hostile_templates_and_payloads_are_bounded_and_escaped() {
    let script = "<script>alert('x')</script> & \"q\"";
    let huge = "x".repeat(1 << 20);
    let ev = task(
        "failed",
        json!({"title": script, "owner": {"id": "usr_42"}, "huge": huge}),
    );
    let yaml = r#"
rules:
  - {id: endless, event: task.failed, title: '{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: deep, event: task.failed, title: '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', channels: [websocket], recipients: {from: payload.owner.id}}
  - {id: script, event: task.failed, title: '{{ payload.title }}', body: '{{ payload.title }}', channels: [websocket, push, email], recipients: {from: payload.owner.id}}
"#;
    let rules = RuleSet::parse(yaml, false).unwrap();
    let store = store_of(&[ev]);
    let ev = store.get(0).unwrap();
    let outcomes = explain(&rules, &ev, &Held::none(), NOW);
    assert_eq!(
        outcomes[0].detail,
        "title: template error at 1:1: too much work (a loop that does not end?)"
    );
    assert!(
        outcomes[1].detail.starts_with("title: template error")
            && outcomes[1].detail.contains("recursion"),
        "{}",
        outcomes[1].detail
    );
    let messages = &outcomes[2].messages;
    assert_eq!(messages[0].title, script);
    assert_eq!(messages[1].body, script);
    assert_eq!(messages[2].body, script);
    assert_eq!(
        messages[2].html.as_deref(),
        Some("<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;</p>")
    );
    agree(&rules, &store);
    // A 1 MB value renders whole where asked; push keeps 178 characters of it.
    let yaml = "rules: [{id: big, event: task.failed, title: t, body: '{{ payload.huge }}', channels: [websocket, push], recipients: {from: payload.owner.id}}]";
    let rules = RuleSet::parse(yaml, false).unwrap();
    let outcomes = explain(&rules, &ev, &Held::none(), NOW);
    assert_eq!(outcomes[0].messages[0].body.len(), 1 << 20);
    assert_eq!(outcomes[0].messages[1].body.chars().count(), 178);
    agree(&rules, &store);
    // A body that is not JSON has no payload: the template says so.
    let mut junk = EventStore::default();
    junk.push(Incoming {
        subject: "events.org_1.tasks.task.failed.task_1",
        headers: &[],
        body: b"<b>not json</b>",
        received_ms: NOW,
    });
    let o = &explain(&rules, &junk.get(0).unwrap(), &Held::none(), NOW)[0];
    assert_eq!(
        o.detail,
        "body: template error at 1:4: undefined value: `payload` is undefined"
    );
}

#[test]
fn the_rules_file_is_validated_with_the_rule_and_the_position() {
    let err = |yaml: &str| RuleSet::parse(yaml, true).unwrap_err().to_string();
    assert_eq!(
        err("rules:\n  - id: a\n    event: task.failed\n    title: t\n    channels: [sms]\n    recipients: {from: payload.x}\n"),
        "5:16: rule a: unknown variant `sms`, expected one of websocket, push, email"
    );
    assert_eq!(
        err("rules:\n  - id: ok\n    event: task\n    title: t\n    channels: [push]\n    recipients: {from: payload.x}\n"),
        "2:5: rule ok: invalid event pattern \"task\": expected resource.eventName, `*` for a whole part (task.failed, task.*, *.created)"
    );
    assert_eq!(
        err("rules:\n  - id: w\n    event: task.failed\n    when: 'orgg:x'\n    title: t\n    channels: [push]\n    recipients: {from: payload.x}\n"),
        "2:5: rule w: when: invalid filter at 0: unknown field `orgg` (did you mean `org`)"
    );
    assert_eq!(
        err("rules:\n  - id: t\n    event: task.failed\n    title: '{{ payload.x '\n    channels: [push]\n    recipients: {from: payload.x}\n"),
        "2:5: rule t: title: template error at 1:12: syntax error: unexpected end of input, expected end of variable block"
    );
    assert_eq!(
        err("rules:\n  - {id: a, event: a.b, title: t, channels: [push], recipients: {from: payload.x}}\n  - {id: a, event: a.b, title: t, channels: [push], recipients: {from: payload.x}}\n"),
        "3:5: rule a: duplicate rule id \"a\""
    );
    assert_eq!(
        err("rules:\n  - {id: 'a b', event: a.b, title: t, channels: [push], recipients: {from: x}}\n"),
        "2:5: rule a b: invalid id \"a b\": ' ' is not a letter, a digit or '-'"
    );
    assert_eq!(
        err("rules:\n  - {id: a, event: a.b, title: t, channels: [push]}\n"),
        "2:5: rule a: missing field `recipients`"
    );
    assert_eq!(
        err("rules:\n  - {id: a, event: a.b, title: t, channels: [push], recipients: {from: owner}}\n"),
        "2:5: rule a: recipients.from: invalid path \"owner\": it must start with payload or metadata"
    );
    // JSON is YAML; a built-in is overridden in place, keeping what the override leaves out.
    let rules = RuleSet::parse(
        r#"{"rules": [{"id": "custom", "event": "flow.run", "title": "t", "channels": ["email"], "recipients": {"from": "payload.owner.id"}},
                      {"id": "task-failed", "priority": "urgent", "channels": ["email"]}]}"#,
        true,
    )
    .unwrap();
    let summary: Vec<String> = rules
        .rules()
        .iter()
        .map(|r| {
            format!(
                "{} {} builtin={} overrides={} {} {:?}",
                r.id,
                r.event,
                r.builtin,
                r.overrides_builtin,
                r.priority.as_str(),
                r.channels
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "new-message conversation.message_posted builtin=true overrides=false normal [Websocket, Push]",
            "conversation-created conversation.created builtin=true overrides=false normal [Websocket]",
            "task-completed task.completed builtin=true overrides=false normal [Websocket, Push]",
            "task-failed task.failed builtin=false overrides=true urgent [Email]",
            "custom flow.run builtin=false overrides=false normal [Email]",
        ]
    );
    assert_eq!(RuleSet::parse("rules: []", false).unwrap().rules().len(), 0);
}

#[test]
fn saving_refuses_an_invalid_file_and_replaces_a_valid_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = rules_path(dir.path());
    let good = "rules:\n  - {id: task-failed, enabled: false}\n";
    save_rules_atomically(&path, good).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
    let err = save_rules_atomically(&path, "rules:\n  - {id: x}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the rules are invalid: 2:5: rule x: missing field `event`"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["rules.yaml"]);
}

#[test]
fn a_recipient_query_says_what_they_got_and_what_missed_them() {
    let owner = |id: &str, attempt: u32, who: &str| {
        let mut ev = task(
            "failed",
            json!({"title": "T", "owner": {"id": who}, "error": {"message": "m"}, "attempt": attempt}),
        );
        ev["id"] = json!(id);
        ev
    };
    let yaml = "rules: [{id: retried, event: task.failed, when: 'payload.attempt>=2', title: 'Retry {{ payload.title }}', channels: [push], recipients: {from: payload.owner.id}}]";
    let rules = RuleSet::parse(yaml, true).unwrap();
    let store = store_of(&[
        owner("evt_1", 1, "usr_42"),
        owner("evt_2", 3, "usr_42"),
        owner("evt_3", 3, "usr_7"),
    ]);
    let activity = recipient_activity(&rules, &store, "usr_42", NOW - 3_600_000, NOW, 10);
    let delivered: Vec<String> = activity
        .delivered
        .iter()
        .map(|d| format!("{} {} {:?} {}", d.event_id, d.rule, d.channels, d.title))
        .collect();
    assert_eq!(
        delivered,
        [
            "evt_2 task-failed [Websocket, Push, Email] Task failed: T",
            "evt_2 retried [Push] Retry T",
            "evt_1 task-failed [Websocket, Push, Email] Task failed: T",
        ]
    );
    let missed: Vec<String> = activity
        .missed
        .iter()
        .map(|m| format!("{} {} {}", m.event_id, m.rule, m.detail))
        .collect();
    assert_eq!(
        missed,
        ["evt_1 retried payload.attempt>=2 does not hold: the event has 1"]
    );
}

#[test]
fn the_live_tally_counts_as_events_arrive() {
    let rules = Arc::new(RuleSet::builtin());
    let mut store = EventStore::default();
    let mut tally = Tally::new(rules.clone(), store.next_seq());
    let mut sim = Simulator::new(SimConfig::default());
    for round in 0..3 {
        for _ in 0..500 {
            let env = sim.next();
            let body = serde_json::to_vec(&env).unwrap();
            store.push(Incoming {
                subject: &env.subject().unwrap(),
                headers: &[],
                body: &body,
                received_ms: NOW + round,
            });
        }
        assert!(tally.advance(&store, usize::MAX, NOW));
    }
    let live = tally.volume();
    let held = volume_report(rules, &store, NOW, |_| {});
    assert_eq!(live.examined, 1500);
    assert_eq!(live.rules, held.rules);
    assert_eq!(live.top_recipients, held.top_recipients);
    assert!(live.notifications > 0);
}

#[test]
fn samples_are_the_newest_events_the_rules_concern_with_what_they_send() {
    let mut done = task(
        "completed",
        json!({"title": "Ship", "owner": {"id": "usr_1"}}),
    );
    done["id"] = json!("evt_done");
    let ownerless = task(
        "failed",
        json!({"title": "Lost", "error": {"message": "x"}}),
    );
    let other = json!({
        "id": "evt_app", "organizationId": "org_1", "source": "apps", "resource": "app",
        "resourceId": "app_1", "eventName": "installed", "timestamp": "2026-01-01T09:00:00Z",
        "payload": {}, "metadata": {},
    });
    let store = store_of(&[failed(), done, other, ownerless]);
    let got: Vec<String> = samples(&RuleSet::builtin(), &store, 10, NOW)
        .iter()
        .map(|s| format!("{} {} {:?} {}", s.event_id, s.name, s.titles, s.reason))
        .collect();
    assert_eq!(
        got,
        [
            "evt_failed task.failed [] task-failed: payload.owner.id is missing",
            "evt_done task.completed [\"task-completed: Task completed: Ship\"] ",
            "evt_failed task.failed [\"task-failed: Task failed: Send invoice\"] ",
        ]
    );
}
