//! WebSocket admission: a cap per public address (429) and per node (503),
//! both answered before the upgrade in the error envelope with
//! `Retry-After`. Addresses come from `X-Forwarded-For` behind a trusted
//! proxy, as in a deployment behind nginx, so one test host can be many.

use std::time::Duration;

use crate::helpers::*;
use crate::ws_conformance::{RawWs, Refused};

const SECOND: Duration = Duration::from_secs(1);

async fn from(app: &TestApp, address: &str) -> Result<RawWs, Refused> {
    RawWs::connect(app.port, &[("X-Forwarded-For", address)]).await
}

fn assert_refused(refused: &Refused, status: u16, code: &str) {
    assert_eq!(refused.status, status, "{refused:?}");
    assert_eq!(refused.body["error"]["code"], code, "{refused:?}");
    assert!(refused.body["error"]["message"].is_string());
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
}

#[actix_web::test]
async fn the_21st_connection_from_one_address_is_429_while_another_address_connects() {
    let app = spawn_on(behind_a_trusted_proxy()).await;
    let mut held = Vec::new();
    for i in 0..20 {
        held.push(
            from(&app, "203.0.113.7")
                .await
                .unwrap_or_else(|r| panic!("connection {i}: {r:?}")),
        );
    }
    let refused = from(&app, "203.0.113.7").await.err().expect("the 21st is refused");
    assert_refused(&refused, 429, "too_many_connections");
    // The neighbour is not punished for it.
    let mut other = from(&app, "203.0.113.8").await.expect("another address connects");
    other.close(1000).await;

    // One closes: its place is free again once its session has ended.
    let mut first = held.remove(0);
    first.close(1000).await;
    first.tcp_closed_within(5 * SECOND).await;
    let again = eventually(|| async { from(&app, "203.0.113.7").await.ok() }).await;
    assert!(again.is_some(), "a place freed by a closed connection is given again");
}

#[actix_web::test]
async fn a_dropped_tcp_connection_frees_its_place_too() {
    let mut args = behind_a_trusted_proxy();
    args.ws_max_per_address = Some(1);
    let app = spawn_on(args).await;
    let only = from(&app, "198.51.100.1").await.expect("first");
    assert_eq!(from(&app, "198.51.100.1").await.err().expect("full").status, 429);
    drop(only); // no close frame: the client just vanishes
    let again = eventually(|| async { from(&app, "198.51.100.1").await.ok() }).await;
    assert!(again.is_some());
}

#[actix_web::test]
async fn token_holders_pass_the_address_cap_but_not_the_node_cap() {
    let mut args = behind_a_trusted_proxy();
    args.ws_max_per_address = Some(2);
    args.ws_max_connections = Some(4);
    let app = spawn_on(args).await;
    let bearer = format!("Bearer {}", app.operator);
    let _a = from(&app, "192.0.2.1").await.expect("1st");
    let _b = from(&app, "192.0.2.1").await.expect("2nd");
    assert_refused(
        &from(&app, "192.0.2.1").await.err().expect("3rd public"),
        429,
        "too_many_connections",
    );
    // An operations room behind one NAT address.
    let _c = RawWs::connect(
        app.port,
        &[("X-Forwarded-For", "192.0.2.1"), ("Authorization", &bearer)],
    )
    .await
    .expect("a token holder from the same address");
    let _d = from(&app, "192.0.2.2").await.expect("4th on the node");
    // The node is full: everyone gets 503, token or not.
    assert_refused(
        &from(&app, "192.0.2.3").await.err().expect("node full"),
        503,
        "server_full",
    );
    let refused = RawWs::connect(
        app.port,
        &[("X-Forwarded-For", "192.0.2.4"), ("Authorization", &bearer)],
    )
    .await
    .err()
    .expect("node full for token holders too");
    assert_refused(&refused, 503, "server_full");
}

#[actix_web::test]
async fn a_client_cannot_dodge_the_cap_by_forging_x_forwarded_for_without_a_trusted_proxy() {
    let mut args = test_args();
    args.ws_max_per_address = Some(2);
    let app = spawn_on(args).await;
    let _a = from(&app, "203.0.113.1").await.expect("1st");
    let _b = from(&app, "203.0.113.2").await.expect("2nd");
    // Without a trusted proxy the header is ignored: all three are 127.0.0.1.
    assert_eq!(from(&app, "203.0.113.3").await.err().expect("3rd").status, 429);
}
