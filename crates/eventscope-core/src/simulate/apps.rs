//! App events: integrations installed, and the external events that arrive through them, each
//! shaped like its system's own.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::state::{base36, rfc3339, App, Gen, Org, Slot, MASK40};
use super::words::{APPS, TICKET_SUBJECTS, USER_LINES};
use super::Kind;
use crate::event::Envelope;

pub(super) fn installed(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("app", Slot::App);
    let kind = APPS.choose(&mut gen.rng).expect("apps");
    let by = org.user(gen);
    let version = format!(
        "{}.{}.{}",
        gen.rng.random_range(1..4),
        gen.rng.random_range(0..12),
        gen.rng.random_range(0..20)
    );
    let payload = json!({
        "appId": id,
        "app": kind.key,
        "name": kind.name,
        "version": version,
        "channel": kind.channel,
        "installedBy": org.people[by].actor(),
    });
    let env = org.envelope(
        gen,
        Kind::AppInstalled,
        &id,
        payload,
        vec![("app".into(), kind.key.into())],
    );
    org.apps.push(App { id, kind });
    env
}

pub(super) fn event_received(gen: &mut Gen, org: &mut Org) -> Envelope {
    let a = gen.rng.random_range(0..org.apps.len());
    let kind = org.apps[a].kind;
    let external_type = gen.pick(kind.types);
    let external_id = gen.mint(kind.key, Slot::External);
    let body = external_body(gen, org, kind.key);
    let payload = json!({
        "appId": org.apps[a].id,
        "app": kind.key,
        "channel": kind.channel,
        "externalType": external_type,
        "externalId": external_id,
        "body": body,
    });
    org.envelope(
        gen,
        Kind::AppEventReceived,
        &org.apps[a].id,
        payload,
        vec![("channel".into(), kind.channel.into())],
    )
}

/// The body an external system would send, shaped like that system's own events.
fn external_body(gen: &mut Gen, org: &Org, app: &str) -> Value {
    let rng = &mut gen.rng;
    let person = &org.people[rng.random_range(0..org.users)];
    match app {
        "stripe" => json!({
            "object": "invoice",
            "id": format!("in_{}", base36(rng.random::<u64>() & MASK40, 10)),
            "customer": format!("cus_{}", base36(rng.random::<u64>() & MASK40, 8)),
            "amount": rng.random_range(5..2_000) * 100,
            "currency": *["usd", "eur", "gbp"].choose(rng).expect("currencies"),
        }),
        "github" => json!({
            "repository": format!("{}/{}", org.domain.split('.').next().unwrap_or("acme"), *["api", "web", "infra", "mobile"].choose(rng).expect("repos")),
            "ref": "refs/heads/main",
            "sender": person.email.split('@').next().unwrap_or("octocat"),
            "commits": rng.random_range(1..8),
        }),
        "shopify" => json!({
            "orderNumber": rng.random_range(1001..99_999),
            "totalPrice": format!("{}.{:02}", rng.random_range(9..900), rng.random_range(0..100)),
            "currency": *["CAD", "USD", "EUR"].choose(rng).expect("currencies"),
            "lineItems": rng.random_range(1..6),
        }),
        "slack" => json!({
            "channel": *["#support", "#sales", "#général", "#incidents"].choose(rng).expect("channels"),
            "user": person.name,
            "text": *USER_LINES.choose(rng).expect("lines"),
        }),
        "hubspot" => json!({
            "objectId": rng.random_range(10_000_000..99_999_999),
            "propertyName": "dealstage",
            "propertyValue": *["appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"].choose(rng).expect("stages"),
        }),
        "zendesk" => json!({
            "ticketId": rng.random_range(1_000..200_000),
            "subject": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "requester": person.email,
        }),
        "twilio" => json!({
            "from": format!("+4915{:09}", rng.random_range(0..1_000_000_000u64)),
            "to": "+14155550100",
            "body": *USER_LINES.choose(rng).expect("lines"),
        }),
        "calendly" => json!({
            "event": *["Intro call", "Product demo", "Onboarding session"].choose(rng).expect("events"),
            "invitee": person.name,
            "startTime": rfc3339(gen.now_ms + 86_400_000 - gen.now_ms % 1_800_000),
        }),
        "jira" => json!({
            "issueKey": format!("OPS-{}", rng.random_range(100..9_999)),
            "summary": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "status": *["To Do", "In Progress", "Done"].choose(rng).expect("statuses"),
        }),
        _ => json!({
            "conversationId": rng.random_range(100_000..999_999).to_string(),
            "author": person.email,
            "body": *USER_LINES.choose(rng).expect("lines"),
        }),
    }
}
