//! Roles and groups over the API: a role's expansion, a group's grants and
//! roles applying to every user whose token lists the group, whoami and
//! introspection reporting every source (effective and scoped), bad role
//! input refused, and a change through one instance applying on another
//! within the revocation bound.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use hbx_service_accounts::auth::oauth::dev::DevKey;
use hbx_service_accounts::config::DEFAULT_CREDENTIAL_CACHE_TTL;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::authorizations::{assert_forbidden, call, grants_path};
use crate::common::process::Deployment;
use crate::common::{Backend, TestServer, basic_authorization};

fn roles_path(account_id: Uuid) -> String {
    format!("/v1/public/accounts/{account_id}/auth/role-assignments")
}

fn role(key: &str, subject_type: &str, subject_id: &str, resource: (&str, Uuid)) -> Value {
    json!({
        "role_key": key,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "resource_type": resource.0,
        "resource_id": resource.1,
    })
}

/// A development token for `user` listing `groups`.
fn user_token(server: &TestServer, user: Uuid, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    DevKey::load_or_create(server.data_dir())
        .unwrap()
        .token(user, &groups, server.now(), TimeDelta::hours(1))
        .unwrap()
}

async fn whoami(server: &TestServer, token: &str) -> Value {
    let answer = call(server, token, Method::GET, "/v1/public/auth/whoami", None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

/// The fourth acceptance point, and groups: every source shows in
/// whoami and introspection, and a group's role applies to a user whose
/// token lists the group, and to no one else.
async fn roles_and_groups_apply_and_show_in_whoami_and_introspection(backend: Backend) {
    let server = TestServer::start_with_on(backend, |s| s.oauth_dev = true).await;
    let owner = server.owner_token.clone();
    let account = server.account_id;
    let user = Uuid::new_v4();
    let member = user_token(&server, user, &["/platform", "Ops Team"]);
    let outsider = user_token(&server, Uuid::new_v4(), &["/elsewhere"]);
    let create_path = format!("/v1/public/accounts/{account}/auth/service-accounts");
    let create = async |token: &str, name: &str| {
        call(
            &server,
            token,
            Method::POST,
            &create_path,
            Some(json!({"name": name})),
        )
        .await
    };
    assert_eq!(create(&member, "no-standing").await.status, 404);

    // A role on the whole account, to the group.
    let assigned = call(
        &server,
        &owner,
        Method::POST,
        &roles_path(account),
        Some(role(
            "credential_manager",
            "group",
            "/platform",
            ("account", account),
        )),
    )
    .await;
    assert_eq!(assigned.status, 201, "{:?}", assigned.body);
    assert_eq!(assigned.body["role_key"], "credential_manager");
    assert_eq!(
        assigned.body["expanded_capability_keys"],
        json!(["auth.manage", "credential.manage", "credential.read"])
    );
    assert_eq!(
        create(&member, "by-a-group-role").await.status,
        201,
        "at once"
    );
    assert_eq!(create(&outsider, "not-a-member").await.status, 404);

    // A grant to the other group, and a scoped role to the user alone.
    let domain = Uuid::new_v4();
    let granted = call(&server, &owner, Method::POST, &grants_path(&server), Some(json!({"grant_kind": "capability", "subject_type": "group", "subject_id": "Ops Team", "capability_key": "billing.read"}))).await;
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    let scoped = call(
        &server,
        &owner,
        Method::POST,
        &roles_path(account),
        Some(role(
            "dns_manager",
            "user",
            &user.to_string(),
            ("domain", domain),
        )),
    )
    .await;
    assert_eq!(scoped.status, 201, "{:?}", scoped.body);

    let me = whoami(&server, &member).await;
    assert_eq!(me["groups"], json!(["/platform", "Ops Team"]));
    let mine = &me["grants"][0];
    assert_eq!(mine["account_id"], account.to_string());
    assert_eq!(mine["owner"], false);
    assert_eq!(
        mine["capabilities"],
        json!([
            "auth.manage",
            "billing.read",
            "credential.manage",
            "credential.read"
        ]),
        "own roles, the group's role and the other group's grant"
    );
    let scoped_keys: Vec<&str> = mine["scoped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["resource_type"], "domain");
            assert_eq!(s["resource_id"], domain.to_string());
            s["capability_key"].as_str().unwrap()
        })
        .collect();
    assert_eq!(scoped_keys, ["dns.manage", "dns.read", "dns.write"]);

    // Introspection says the same to a platform component.
    let (client_id, secret) = server.new_introspection_client("gateway").await;
    let introspected: Value = server
        .raw()
        .post(format!("{}/v1/internal/auth/introspect", server.base_url))
        .header("authorization", basic_authorization(&client_id, &secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={member}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["hbx_grants"], me["grants"]);

    // The group's role revoked: standing remains (the scoped role), the
    // capability does not.
    let id = assigned.body["id"].as_str().unwrap();
    let revoked = call(
        &server,
        &owner,
        Method::POST,
        &format!("{}/{id}/revoke", roles_path(account)),
        None,
    )
    .await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_forbidden(&create(&member, "after").await, &["auth.manage"]);
    let listed = call(
        &server,
        &owner,
        Method::GET,
        &format!("{}?include_revoked=true", roles_path(account)),
        None,
    )
    .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    let live = call(&server, &owner, Method::GET, &roles_path(account), None).await;
    assert_eq!(live.body.as_array().unwrap().len(), 1);
}

/// A service account's whoami counts its own grants and roles, and lists a
/// resource-scoped grant apart.
async fn a_service_accounts_whoami_counts_grants_and_roles(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let worker = server.create("worker").await;
    let owner = &server.owner_token;
    let account = server.account_id;
    let workspace = Uuid::new_v4();
    for body in [
        json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": worker.id, "capability_key": "billing.read"}),
        json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": worker.id, "capability_key": "workspace.write", "resource_type": "workspace", "resource_id": workspace}),
    ] {
        assert_eq!(
            call(
                &server,
                owner,
                Method::POST,
                &grants_path(&server),
                Some(body)
            )
            .await
            .status,
            201
        );
    }
    let made = call(
        &server,
        owner,
        Method::POST,
        &roles_path(account),
        Some(role(
            "billing_admin",
            "service_account",
            &worker.id.to_string(),
            ("account", account),
        )),
    )
    .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let me = whoami(&server, &worker.token).await;
    assert_eq!(me["groups"], json!([]));
    let grants = &me["grants"][0];
    assert_eq!(
        grants["capabilities"],
        json!(["billing.manage", "billing.read"])
    );
    assert_eq!(
        grants["scoped"],
        json!([{"capability_key": "workspace.write", "resource_type": "workspace", "resource_id": workspace}])
    );
}

/// Bad role input: the field named, nothing written; a duplicate is 409.
async fn bad_role_assignments_are_refused(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = &server.owner_token;
    let account = server.account_id;
    let path = roles_path(account);
    for (body, field) in [
        (
            role("emperor", "user", "a", ("account", account)),
            "role_key",
        ),
        (
            role("viewer", "robot", "a", ("account", account)),
            "subject_type",
        ),
        (
            role("viewer", "user", "", ("account", account)),
            "subject_id",
        ),
        (
            role("viewer", "user", "a", ("galaxy", account)),
            "resource_type",
        ),
        (
            role("viewer", "user", "a", ("account", Uuid::new_v4())),
            "resource_id",
        ),
        (
            json!({"role_key": "viewer", "subject_type": "user", "subject_id": "a"}),
            "resource_type",
        ),
        (
            json!({"role_key": "viewer", "subject_type": "user", "subject_id": "a", "resource_type": "account"}),
            "resource_id",
        ),
    ] {
        let answer = call(&server, owner, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{body}: {:?}", answer.body);
        assert!(
            answer.body["message"].as_str().unwrap().contains(field),
            "{body}: {:?}",
            answer.body
        );
    }
    let live = call(&server, owner, Method::GET, &path, None).await;
    assert_eq!(live.body, json!([]), "nothing was written");
    let good = role("viewer", "group", "readers", ("workspace", Uuid::new_v4()));
    assert_eq!(
        call(&server, owner, Method::POST, &path, Some(good.clone()))
            .await
            .status,
        201
    );
    let twin = call(&server, owner, Method::POST, &path, Some(good)).await;
    assert_eq!(twin.status, 409);
    assert_eq!(twin.body["error_code"], "role_assignment_exists");
    let unknown = format!("{path}/{}/revoke", Uuid::new_v4());
    assert_eq!(
        call(&server, owner, Method::POST, &unknown, None)
            .await
            .status,
        404
    );
}

/// The second acceptance point, across instances: a grant revoked
/// through one instance stops working on another within the bound.
async fn a_grant_revoked_on_one_instance_stops_on_another_within_the_bound(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let made = deployment.bootstrap("acme");
    let first = deployment.serve(&[]);
    let second = deployment.serve(&[]);
    let http = reqwest::Client::new();
    let send = async |url: &str, token: &str, method: Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{url}{path}"))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let account = made.account_id;
    let sas = format!("/v1/public/accounts/{account}/auth/service-accounts");
    let (status, worker) = send(
        &first.url(),
        &made.owner_token,
        Method::POST,
        &sas,
        Some(json!({"name": "worker"})),
    )
    .await;
    assert_eq!(status, 201);
    let worker_token = worker["token"].as_str().unwrap().to_owned();
    let grants = format!("/v1/public/accounts/{account}/auth/authorizations");
    let body = json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": worker["id"], "capability_key": "auth.manage"});
    let (status, grant) = send(
        &first.url(),
        &made.owner_token,
        Method::POST,
        &grants,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{grant}");
    // Warm the second instance's cache: the worker may list.
    let lists_on_second = async || {
        send(&second.url(), &worker_token, Method::GET, &sas, None)
            .await
            .0
    };
    let started = Instant::now();
    while lists_on_second().await != 200 {
        assert!(
            started.elapsed() < DEFAULT_CREDENTIAL_CACHE_TTL * 2,
            "the grant reached the other instance"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revoke = format!("{grants}/{}/revoke", grant["id"].as_str().unwrap());
    let (status, _) = send(&first.url(), &made.owner_token, Method::POST, &revoke, None).await;
    assert_eq!(status, 200);
    let revoked_at = Instant::now();
    loop {
        let sent = revoked_at.elapsed();
        if lists_on_second().await == 403 {
            println!(
                "revocation effective on the other instance after {} ms",
                sent.as_millis()
            );
            break;
        }
        assert!(
            sent < DEFAULT_CREDENTIAL_CACHE_TTL + Duration::from_millis(20),
            "a request sent {} ms after the revocation still had the grant",
            sent.as_millis()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both_stores!(
    roles_and_groups_apply_and_show_in_whoami_and_introspection,
    a_service_accounts_whoami_counts_grants_and_roles,
    bad_role_assignments_are_refused,
    a_grant_revoked_on_one_instance_stops_on_another_within_the_bound,
);
