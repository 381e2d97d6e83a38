//! Record events of the collections service: records created, edited one field at a time, and
//! deleted, after which they are never touched again.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::state::{Gen, Org, Record, Slot};
use super::words::{COLLECTIONS, COMPANIES, FIRST_NAMES, LAST_NAMES, PRODUCTS, TICKET_SUBJECTS};
use super::Kind;
use crate::event::Envelope;

pub(super) fn created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("rec", Slot::Record);
    let collection = gen.pick(COLLECTIONS);
    let fields = record_fields(gen, org, collection);
    let by = org.user(gen);
    let payload = json!({
        "collection": collection,
        "recordId": id,
        "fields": fields,
        "createdBy": org.people[by].actor(),
    });
    let env = org.envelope(
        gen,
        Kind::RecordCreated,
        &id,
        payload,
        vec![("collection".into(), collection.into())],
    );
    org.records.push(Record {
        id,
        collection,
        fields,
    });
    env
}

pub(super) fn updated(gen: &mut Gen, org: &mut Org) -> Envelope {
    let r = gen.recent(org.records.len());
    let collection = org.records[r].collection;
    let fresh = record_fields(gen, org, collection);
    let field = gen.pick(mutable_fields(collection));
    let by = org.user(gen);
    let record = &mut org.records[r];
    let previous = record
        .fields
        .insert(field.to_string(), fresh[field].clone())
        .unwrap_or(Value::Null);
    let payload = json!({
        "collection": collection,
        "recordId": record.id,
        "changed": [field],
        "previous": {field: previous},
        "fields": record.fields,
        "updatedBy": org.people[by].actor(),
    });
    let org = &*org;
    org.envelope(
        gen,
        Kind::RecordUpdated,
        &org.records[r].id,
        payload,
        vec![("collection".into(), collection.into())],
    )
}

pub(super) fn deleted(gen: &mut Gen, org: &mut Org) -> Envelope {
    let r = gen.rng.random_range(0..org.records.len());
    let record = org.records.remove(r).expect("a live record");
    let by = org.user(gen);
    let payload = json!({
        "collection": record.collection,
        "recordId": record.id,
        "deletedBy": org.people[by].actor(),
    });
    org.envelope(
        gen,
        Kind::RecordDeleted,
        &record.id,
        payload,
        vec![("collection".into(), record.collection.into())],
    )
}

fn record_fields(gen: &mut Gen, org: &Org, collection: &str) -> Map<String, Value> {
    let rng = &mut gen.rng;
    let person = &org.people[rng.random_range(0..org.users)];
    let company = COMPANIES.choose(rng).expect("companies").0;
    let value = match collection {
        "contacts" => {
            let (first, first_ascii) = *FIRST_NAMES.choose(rng).expect("names");
            let (last, last_ascii) = *LAST_NAMES.choose(rng).expect("names");
            json!({
                "name": format!("{first} {last}"),
                "email": format!("{first_ascii}.{last_ascii}@example.com"),
                "company": company,
                "stage": *["lead", "qualified", "customer", "churned"].choose(rng).expect("stages"),
            })
        }
        "deals" => json!({
            "title": format!("{company} – {} plan", *["Team", "Business", "Enterprise"].choose(rng).expect("plans")),
            "amount": rng.random_range(12..900) * 100,
            "currency": *["EUR", "USD", "GBP"].choose(rng).expect("currencies"),
            "stage": *["prospecting", "proposal", "negotiation", "closedwon", "closedlost"].choose(rng).expect("stages"),
            "ownerId": person.id,
        }),
        "tickets" => json!({
            "subject": *TICKET_SUBJECTS.choose(rng).expect("subjects"),
            "status": *["open", "pending", "solved"].choose(rng).expect("statuses"),
            "priority": *["low", "normal", "high", "urgent"].choose(rng).expect("priorities"),
            "requester": person.email,
        }),
        "orders" => json!({
            "number": format!("SO-{}", rng.random_range(10_000..99_999)),
            "total": format!("{}.{:02}", rng.random_range(5..2_000), rng.random_range(0..100)),
            "currency": *["EUR", "USD", "GBP"].choose(rng).expect("currencies"),
            "status": *["pending", "paid", "shipped", "refunded"].choose(rng).expect("statuses"),
            "items": rng.random_range(1..7),
        }),
        _ => json!({
            "sku": format!("SKU-{}-{}", rng.random_range(1000..9999), *["BLK", "WHT", "RED", "XL"].choose(rng).expect("variants")),
            "name": *PRODUCTS.choose(rng).expect("products"),
            "price": format!("{}.{:02}", rng.random_range(3..1_500), *[0, 49, 90, 99].choose(rng).expect("cents")),
            "stock": rng.random_range(0..500),
        }),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn mutable_fields(collection: &str) -> &'static [&'static str] {
    match collection {
        "contacts" => &["stage", "stage", "company"],
        "deals" => &["stage", "amount"],
        "tickets" => &["status", "status", "priority"],
        "orders" => &["status"],
        _ => &["stock", "stock", "price"],
    }
}
