//! A token's expiry while its connection is open, and `reauth` (issue 15): the gateway ends the
//! connection at `exp` unless a fresh token for the same user came first, and Eventscope's
//! gateway source either re-authenticates with a token it is given or says why it stopped.

mod common;

use std::time::Duration;

use common::*;
use eventscope_core::live::Live;
use eventscope_core::source::FirstConnect;
use eventscope_core::store::StoreLimits;
use eventscope_core::wire::{ConnectionProfile, ConnectionState, GatewayTarget};
use eventscope_gateway::auth::{sign, Claims};
use eventscope_testkit::{wait_until, NatsServer};
use serde_json::json;

/// A token for `sub` in `orgs` that expires at `exp`.
fn token(sub: &str, orgs: &[&str], exp: i64) -> String {
    sign(
        &Claims {
            sub: sub.into(),
            orgs: orgs.iter().map(|s| s.to_string()).collect(),
            exp,
        },
        SECRET.as_bytes(),
    )
}

#[tokio::test]
async fn at_exp_the_client_hears_token_expired_and_is_closed_with_4001() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let exp = now() + 2;
    let mut client = connect(&gateway, &token("u_1", &["org_1"], exp)).await;
    client.subscribe("s1", "events.org_1.>").await;
    let (code, frames) = client.until_closed().await;
    assert_eq!(code, Some(4001));
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "error", "{last}");
    assert_eq!(last["code"], "token_expired", "{last}");
    assert!(now() >= exp, "closed before the token expired");
    gateway.wait_metric("connections", 0).await;
    gateway.wait_metric("subscriptions", 0).await;
}

#[tokio::test]
async fn reauth_with_a_fresh_token_for_the_same_user_keeps_the_connection_with_its_orgs() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let exp = now() + 3;
    let mut client = connect(&gateway, &token("u_1", &["org_1", "org_2"], exp)).await;
    client.subscribe("a", "events.org_1.>").await;
    client.subscribe("b", "events.org_2.>").await;

    // Refused: another user's token, an expired one. The connection goes on as it was.
    let reauth = |t: String| json!({"type": "reauth", "token": t}).to_string();
    client
        .send(&reauth(token("u_2", &["org_1"], now() + 3600)))
        .await;
    let refused = client.frame().await;
    assert_eq!(refused["code"], "unauthorized", "{refused}");
    client
        .send(&reauth(token("u_1", &["org_1"], now() - 1)))
        .await;
    let refused = client.frame().await;
    assert_eq!(refused["code"], "unauthorized", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("expired_token"),
        "{refused}"
    );

    // Accepted: only org_1 from now on, so `b` ends first.
    let fresh_exp = now() + 3600;
    client
        .send(&reauth(token("u_1", &["org_1"], fresh_exp)))
        .await;
    assert_eq!(
        client.frame().await,
        json!({"type": "unsubscribed", "id": "b"})
    );
    assert_eq!(
        client.frame().await,
        json!({"type": "reauthenticated", "sub": "u_1", "orgs": ["org_1"], "exp": fresh_exp})
    );
    gateway.wait_metric("subscriptions", 1).await;

    // Past the first token's expiry the connection is still open, with the new orgs.
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(4)).await;
    assert!(now() > exp);
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    publish(&publisher, &[envelope("org_2", 1), envelope("org_1", 2)]).await;
    let event = client.frame().await;
    assert_eq!(event["subscription"], "a", "{event}");
    assert_eq!(event["event"]["id"], "e_2", "{event}");
    client
        .check(
            r#"{"type":"subscribe","id":"c","topic":"events.org_2.>"}"#,
            json!({"type": "error", "id": "c", "code": "forbidden",
                   "message": "the token does not allow organization \"org_2\" (it allows org_1)"}),
        )
        .await;
}

fn profile(gateway: &Gateway, token: &str) -> ConnectionProfile {
    ConnectionProfile {
        subjects: vec!["events.org_1.>".into()],
        gateway: Some(GatewayTarget {
            url: gateway.url(),
            token: token.to_string(),
        }),
        ..ConnectionProfile::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_source_reauthenticates_with_a_fresh_token_or_says_the_token_expired() {
    let nats = NatsServer::start();
    let gateway = Gateway::start(&nats, &[]);
    let exp = now() + 3;

    // No fresh token: the source stops at the expiry and says why.
    let stopping = Live::new(StoreLimits::default());
    stopping
        .connect(
            &profile(&gateway, &token("u_1", &["org_1"], exp)),
            FirstConnect::FailFast,
        )
        .await
        .unwrap();

    // A fresh token before the expiry: the same connection goes on.
    let going_on = Live::new(StoreLimits::default());
    going_on
        .connect(
            &profile(&gateway, &token("u_1", &["org_1"], exp)),
            FirstConnect::FailFast,
        )
        .await
        .unwrap();
    gateway.wait_metric("subscriptions", 2).await;
    assert!(going_on.set_gateway_token(&token("u_1", &["org_1"], now() + 3600)));

    wait_until("the first source stopped", WAIT, || {
        stopping.status().state == ConnectionState::Disconnected
    })
    .await;
    let reason = stopping.status().reason.unwrap_or_default();
    assert!(reason.contains("token expired"), "{reason}");

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(now() > exp);
    let status = going_on.status();
    assert_eq!(status.state, ConnectionState::Connected, "{status:?}");
    assert_eq!(status.reconnects, 0, "{status:?}");
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    publish(&publisher, &[envelope("org_1", 7)]).await;
    wait_until("the event after the old token's expiry", WAIT, || {
        going_on.store().next_seq() == 1
    })
    .await;
    assert_eq!(stopping.store().next_seq(), 0);
}
