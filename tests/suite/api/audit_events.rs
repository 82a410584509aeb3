//! The audit log over the API: the create, grant, rotation and revocation a
//! test makes are listed newest first, each with its actor (and the token it
//! used), target, request id, source address and user agent; every filter
//! narrows to what it names; pages follow one another to the end; bad
//! queries are refused naming the field; no token's secret appears; only
//! holders of `auth.manage` may read it.

use chrono::{DateTime, TimeDelta, Utc};
use hbx_service_accounts::token::{self, TokenPrefix};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::authorizations::{assert_forbidden, call, grants_path};
use crate::common::{Backend, TestServer};

fn events_path(server: &TestServer, query: &str) -> String {
    format!(
        "/v1/public/accounts/{}/auth/audit-events{query}",
        server.account_id
    )
}

fn public_id(token: &str) -> String {
    token::parse(&TokenPrefix::default(), token)
        .expect("one of our tokens")
        .public_id()
        .to_owned()
}

/// The owner's view of the log under `query`: the events, or the failure.
async fn list(server: &TestServer, query: &str) -> Vec<Value> {
    let answer = call(
        server,
        &server.owner_token,
        Method::GET,
        &events_path(server, query),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
    answer.body.as_array().expect("a bare array").clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn at(event: &Value) -> String {
    let at: DateTime<Utc> = event["occurred_at"].as_str().unwrap().parse().unwrap();
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B")
}

/// The fifth acceptance point, over the API.
async fn the_log_lists_what_was_done_filtered_and_paged(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let ci = server.create("ci").await;
    server.clock.advance(TimeDelta::seconds(10));
    let grant = server
        .raw()
        .post(format!("{}{}", server.base_url, grants_path(&server)))
        .bearer_auth(&server.owner_token)
        .header("user-agent", "audit-test/1.0 \tbell")
        .json(&json!({
            "grant_kind": "capability",
            "subject_type": "service_account",
            "subject_id": ci.id,
            "capability_key": "auth.manage",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 201);
    let grant_request_id = grant.headers()["x-request-id"].to_str().unwrap().to_owned();
    let grant: Value = grant.json().await.unwrap();
    server.clock.advance(TimeDelta::seconds(10));
    let rotated = server
        .owner()
        .rotate_service_account(&server.account_id, &ci.id, None, None)
        .await
        .unwrap()
        .into_inner();
    server.clock.advance(TimeDelta::seconds(10));
    let revoked = server
        .raw()
        .post(format!(
            "{}/{}/revoke",
            server.create_url(server.account_id),
            ci.id
        ))
        .bearer_auth(&server.owner_token)
        .header("user-agent", "u".repeat(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    let events = list(&server, "").await;
    assert_eq!(
        actions(&events),
        ["revoke", "rotate", "grant_add", "create", "create"],
        "newest first: {events:#?}"
    );
    let [revoke, rotate, granted, create, bootstrap] = &events[..] else {
        unreachable!()
    };
    let owner_token_id = public_id(&server.owner_token);
    let ci_id = ci.id.to_string();
    for event in [revoke, rotate, granted, create] {
        assert_eq!(event["actor"]["type"], "service_account");
        assert_eq!(event["actor"]["id"], server.owner_id.to_string());
        assert_eq!(event["actor"]["token_public_id"], owner_token_id.as_str());
        assert_eq!(event["source_ip"], "127.0.0.1");
        assert!(!event["request_id"].as_str().unwrap().is_empty());
        assert!(event["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    }
    for event in [revoke, rotate, create] {
        assert_eq!(
            event["target"],
            json!({"type": "service_account", "id": ci_id})
        );
    }
    assert_eq!(
        granted["target"],
        json!({"type": "authorization", "id": grant["id"]})
    );
    assert_eq!(granted["request_id"], grant_request_id.as_str());
    assert_eq!(
        granted["user_agent"], "audit-test/1.0 bell",
        "kept, without its control character"
    );
    assert_eq!(
        revoke["user_agent"].as_str().unwrap(),
        "u".repeat(512),
        "cut to 512 characters"
    );
    assert_eq!(
        rotate["user_agent"],
        Value::Null,
        "the generated client sends none"
    );
    assert_eq!(granted["details"]["kind"], "grant");
    assert_eq!(granted["details"]["capability"], "auth.manage");
    assert_eq!(granted["details"]["subject_id"], ci_id.as_str());
    assert_eq!(
        rotate["details"],
        json!({}),
        "no grace period, nothing more"
    );
    assert_eq!(
        bootstrap["actor"],
        json!({"type": "operator", "id": null, "token_public_id": null})
    );
    assert_eq!(bootstrap["source_ip"], Value::Null);
    assert_eq!(bootstrap["request_id"], Value::Null);
    // No secret in the log: only public ids.
    let text = serde_json::to_string(&events).unwrap();
    for secret in [&server.owner_token, &ci.token, &rotated.token] {
        assert!(!text.contains(secret.as_str()), "a token in the audit log");
    }

    // Filters.
    assert_eq!(actions(&list(&server, "?action=rotate").await), ["rotate"]);
    assert_eq!(
        actions(&list(&server, "?actor_type=operator").await),
        ["create"]
    );
    let by_owner = list(&server, &format!("?actor_id={}", server.owner_id)).await;
    assert_eq!(
        actions(&by_owner),
        ["revoke", "rotate", "grant_add", "create"]
    );
    let about_ci = list(&server, &format!("?service_account_id={ci_id}")).await;
    assert_eq!(
        actions(&about_ci),
        ["revoke", "rotate", "grant_add", "create"]
    );
    let about_owner = list(&server, &format!("?service_account_id={}", server.owner_id)).await;
    assert_eq!(actions(&about_owner), ["create"]);
    // A token: the events its holder made, and those about it.
    let rotated_token = list(
        &server,
        &format!("?token_public_id={}", public_id(&rotated.token)),
    )
    .await;
    assert_eq!(
        actions(&rotated_token),
        ["rotate"],
        "the rotation issued it"
    );
    let first_ci_token = list(
        &server,
        &format!("?token_public_id={}", public_id(&ci.token)),
    )
    .await;
    assert_eq!(actions(&first_ci_token), ["create"]);
    let owner_token = list(&server, &format!("?token_public_id={owner_token_id}")).await;
    assert_eq!(
        actions(&owner_token),
        ["revoke", "rotate", "grant_add", "create", "create"],
        "used for four changes, issued by the bootstrap"
    );
    // Time: since inclusive, until exclusive.
    let since_grant = list(&server, &format!("?since={}", at(granted))).await;
    assert_eq!(actions(&since_grant), ["revoke", "rotate", "grant_add"]);
    let window = list(
        &server,
        &format!("?since={}&until={}", at(granted), at(revoke)),
    )
    .await;
    assert_eq!(actions(&window), ["rotate", "grant_add"]);
    let combined = list(&server, "?action=create&actor_type=service_account").await;
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0]["target"]["id"], ci_id.as_str());

    // Pages, to the end.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = list(&server, &query).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        query = format!("?limit=2&before={}", last["id"].as_str().unwrap());
        seen.extend(page.iter().map(|e| e["id"].clone()));
    }
    let all: Vec<Value> = events.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, all, "pages hold every event once, in order");
    let after_rotate = list(
        &server,
        &format!("?before={}&action=create", rotate["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(after_rotate.len(), 2, "a cursor combines with filters");
}

/// Malformed, hostile and boundary queries: 400 naming the field; a cursor
/// from another account is not this account's; no credential is 401; a
/// caller without `auth.manage` is 403 naming it.
async fn bad_queries_and_callers_are_refused(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let other = server
        .app
        .admin()
        .bootstrap(server.app.minter(), "other".into(), "stranger".into())
        .await
        .unwrap();
    let foreign_event = server
        .app
        .store()
        .audit_events(other.account.id)
        .await
        .unwrap()[0]
        .id;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=-1", "limit"),
        ("?action=explode", "action"),
        ("?actor_type=robot", "actor_type"),
        ("?actor_id=not-a-uuid", "actor_id"),
        ("?service_account_id=%00", "service_account_id"),
        ("?token_public_id=short", "token_public_id"),
        ("?token_public_id=AbCdEf0123456789x", "token_public_id"),
        ("?token_public_id=AbCdEf012345678%0A", "token_public_id"),
        ("?since=yesterday", "since"),
        (&format!("?since={now}&until={now}"), "until"),
        ("?before=00000000-0000-0000-0000-000000000000", "before"),
        (&format!("?before={foreign_event}"), "before"),
        ("?colour=blue", "colour"),
    ] {
        let answer = call(
            &server,
            &server.owner_token,
            Method::GET,
            &events_path(&server, query),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}: {:?}", answer.body);
        assert!(answer.body["error_code"].is_string(), "{query}");
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.contains(field), "{query}: {message}");
    }
    let boundary = list(&server, "?limit=1000&token_public_id=AbCdEf0123456789").await;
    assert_eq!(
        boundary,
        Vec::<Value>::new(),
        "a well-formed id of no token"
    );

    let unauthenticated = server
        .raw()
        .get(format!("{}{}", server.base_url, events_path(&server, "")))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let bystander = server.create("bystander").await;
    let refused = call(
        &server,
        &bystander.token,
        Method::GET,
        &events_path(&server, ""),
        None,
    )
    .await;
    assert_forbidden(&refused, &["auth.manage"]);
    // Another account's log is not this owner's to read.
    let foreign = call(
        &server,
        &server.owner_token,
        Method::GET,
        &format!("/v1/public/accounts/{}/auth/audit-events", other.account.id),
        None,
    )
    .await;
    assert!(matches!(foreign.status, 403 | 404), "{:?}", foreign.body);
}

on_both_stores!(
    the_log_lists_what_was_done_filtered_and_paged,
    bad_queries_and_callers_are_refused,
);
