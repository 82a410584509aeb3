//! Authorizations over the API: granted, listed (every filter, pages), got
//! and revoked, each change applying at once; every escalation path refused
//! with a 403 that names what is missing (also in
//! `Hbx-Required-Capabilities`); bad input refused with the field named and
//! nothing written; the last owner kept.

use hbx_service_accounts::domain::Grants;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Backend, TestServer};

/// One answer: status, the `Hbx-Required-Capabilities` header, the body.
pub(super) struct Answer {
    pub status: u16,
    pub required: Option<String>,
    pub location: Option<String>,
    pub body: Value,
}

/// Calls the API as `token` with a JSON `body`.
pub(super) async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = server
        .raw()
        .request(method, format!("{}{path}", server.base_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        required: header("hbx-required-capabilities"),
        location: header("location"),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

pub(super) fn grants_path(server: &TestServer) -> String {
    format!(
        "/v1/public/accounts/{}/auth/authorizations",
        server.account_id
    )
}

fn capability_grant(subject_type: &str, subject_id: &str, key: &str) -> Value {
    json!({
        "grant_kind": "capability",
        "subject_type": subject_type,
        "subject_id": subject_id,
        "capability_key": key,
    })
}

/// Asserts a 403 naming each of `missing`, in the message and the header.
#[track_caller]
pub(super) fn assert_forbidden(answer: &Answer, missing: &[&str]) {
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    assert_eq!(answer.body["error_code"], "forbidden");
    let header = answer
        .required
        .as_deref()
        .expect("Hbx-Required-Capabilities");
    for key in missing {
        assert!(header.contains(key), "{header} names {key}");
    }
}

/// Grants in the account, live and revoked, as the store holds them.
async fn stored_grants(server: &TestServer) -> usize {
    server
        .app
        .admin()
        .grants(server.account_id, true)
        .await
        .unwrap()
        .len()
}

/// The third acceptance point: a service account granted
/// `auth.manage` through the API can create service accounts at once; after
/// the grant is revoked through the API, 403 naming `auth.manage`.
async fn a_grant_through_the_api_applies_at_once_and_so_does_its_revocation(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let ci = server.create("ci").await;
    let create = |name: &str| {
        let path = format!(
            "/v1/public/accounts/{}/auth/service-accounts",
            server.account_id
        );
        let body = json!({ "name": name });
        let token = ci.token.clone();
        let server = &server;
        async move { call(server, &token, Method::POST, &path, Some(body)).await }
    };
    assert_forbidden(&create("before").await, &["auth.manage"]);

    let granted = call(
        &server,
        &server.owner_token,
        Method::POST,
        &grants_path(&server),
        Some(capability_grant(
            "service_account",
            &ci.id.to_string(),
            "auth.manage",
        )),
    )
    .await;
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    let record = granted.body;
    let id = record["id"].as_str().unwrap().to_owned();
    assert_eq!(
        granted.location.as_deref(),
        Some(format!("{}/{id}", grants_path(&server)).as_str())
    );
    assert_eq!(record["grant_kind"], "capability");
    assert_eq!(record["subject_type"], "service_account");
    assert_eq!(record["subject_id"], ci.id.to_string());
    assert_eq!(record["capability_key"], "auth.manage");
    assert_eq!(record["resource_type"], Value::Null);
    assert_eq!(record["resource_id"], Value::Null);
    assert_eq!(record["revoked_at"], Value::Null);
    assert!(record["created_at"].is_string());

    assert_eq!(create("after-grant").await.status, 201, "at once");

    let got = call(
        &server,
        &server.owner_token,
        Method::GET,
        &format!("{}/{id}", grants_path(&server)),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, record);

    let revoke = format!("{}/{id}/revoke", grants_path(&server));
    let revoked = call(&server, &server.owner_token, Method::POST, &revoke, None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    assert_forbidden(&create("after-revoke").await, &["auth.manage"]);
    // Revoking again changes nothing and answers the first revocation.
    let again = call(&server, &server.owner_token, Method::POST, &revoke, None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, revoked.body);
    assert_eq!(
        server
            .audit_count(hbx_service_accounts::domain::AuditAction::GrantRemove)
            .await,
        1
    );
}

/// Every way to give more than one holds is refused, naming what is missing.
async fn escalation_is_refused(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let manager = server.create("manager").await;
    let target = server.create("target").await;
    server.grant_auth_manage(manager.id).await;
    let as_manager = async |body: Value| {
        call(
            &server,
            &manager.token,
            Method::POST,
            &grants_path(&server),
            Some(body),
        )
        .await
    };
    let target_id = target.id.to_string();
    let before = stored_grants(&server).await;

    // A capability the manager does not hold.
    let refused = as_manager(capability_grant(
        "service_account",
        &target_id,
        "billing.read",
    ))
    .await;
    assert_forbidden(&refused, &["billing.read"]);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("billing.read")
    );
    // Ownership, which only an owner grants.
    let owner = json!({"grant_kind": "account_owner", "subject_type": "service_account", "subject_id": target_id});
    assert_forbidden(&as_manager(owner.clone()).await, &["account_owner"]);
    // super_admin: never through the API, not even by an owner.
    let superuser =
        json!({"grant_kind": "super_admin", "subject_type": "user", "subject_id": "someone"});
    assert_forbidden(&as_manager(superuser.clone()).await, &["super_admin"]);
    let by_owner = call(
        &server,
        &server.owner_token,
        Method::POST,
        &grants_path(&server),
        Some(superuser),
    )
    .await;
    assert_forbidden(&by_owner, &["super_admin"]);
    // Its own grants.
    let own = capability_grant("service_account", &manager.id.to_string(), "auth.manage");
    assert_forbidden(&as_manager(own).await, &["auth.manage"]);
    // A role giving what it does not hold (credential_manager gives
    // credential.read and credential.manage besides auth.manage).
    let role = json!({
        "role_key": "credential_manager",
        "subject_type": "service_account",
        "subject_id": target_id,
        "resource_type": "account",
        "resource_id": server.account_id,
    });
    let roles = format!(
        "/v1/public/accounts/{}/auth/role-assignments",
        server.account_id
    );
    let refused = call(
        &server,
        &manager.token,
        Method::POST,
        &roles,
        Some(role.clone()),
    )
    .await;
    assert_forbidden(&refused, &["credential.read", "credential.manage"]);
    assert_eq!(stored_grants(&server).await, before, "nothing was written");

    // What it holds, it may grant; the owner may grant ownership.
    let allowed = as_manager(capability_grant(
        "service_account",
        &target_id,
        "auth.manage",
    ))
    .await;
    assert_eq!(allowed.status, 201, "{:?}", allowed.body);
    let owned = call(
        &server,
        &server.owner_token,
        Method::POST,
        &grants_path(&server),
        Some(owner),
    )
    .await;
    assert_eq!(owned.status, 201, "{:?}", owned.body);
    // Revoking ownership also needs an owner.
    let owned_id = owned.body["id"].as_str().unwrap();
    let revoke = format!("{}/{owned_id}/revoke", grants_path(&server));
    assert_forbidden(
        &call(&server, &manager.token, Method::POST, &revoke, None).await,
        &["account_owner"],
    );
    let assigned = call(
        &server,
        &server.owner_token,
        Method::POST,
        &roles,
        Some(role),
    )
    .await;
    assert_eq!(assigned.status, 201, "{:?}", assigned.body);
    assert_eq!(
        assigned.body["expanded_capability_keys"],
        json!(["auth.manage", "credential.manage", "credential.read"])
    );
}

/// Malformed, hostile and boundary input: 400 naming the field (404 for
/// what is not this account's), and nothing written.
async fn bad_grants_are_refused_and_change_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let worker = server.create("worker").await;
    let revoked = server.create("revoked").await;
    server.revoke(revoked.id).await;
    // Another account, with a live service account of its own.
    let other = server
        .app
        .admin()
        .bootstrap(server.app.minter(), "other".into(), "stranger".into())
        .await
        .unwrap();
    let other_account = other.account;
    let stranger = other.owner.service_account.id;
    let before = stored_grants(&server).await;
    let long = "x".repeat(256);
    let max = "y".repeat(255);
    let worker_id = worker.id.to_string();
    for (body, status, field) in [
        (
            json!({"grant_kind": "emperor", "subject_type": "user", "subject_id": "a"}),
            400,
            "grant_kind",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "robot", "subject_id": "a", "capability_key": "a.b"}),
            400,
            "subject_type",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a"}),
            400,
            "capability_key",
        ),
        (
            json!({"grant_kind": "account_owner", "subject_type": "user", "subject_id": "a", "capability_key": "auth.manage"}),
            400,
            "capability_key",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "Auth.Manage"}),
            400,
            "capability_key",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "a.b", "resource_type": "domain"}),
            400,
            "resource_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "a.b", "resource_id": Uuid::new_v4()}),
            400,
            "resource_type",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "a.b", "resource_type": "account", "resource_id": other_account.id}),
            400,
            "resource_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "a.b", "resource_type": "galaxy", "resource_id": Uuid::new_v4()}),
            400,
            "resource_type",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "", "capability_key": "a.b"}),
            400,
            "subject_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": long, "capability_key": "a.b"}),
            400,
            "subject_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "group", "subject_id": "a\u{0}b", "capability_key": "a.b"}),
            400,
            "subject_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "\u{1b}[31mred", "capability_key": "a.b"}),
            400,
            "subject_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": "not-a-uuid", "capability_key": "a.b"}),
            400,
            "subject_id",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "user", "subject_id": "a", "capability_key": "a.b", "surprise": 1}),
            400,
            "surprise",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": stranger, "capability_key": "a.b"}),
            404,
            "",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": revoked.id, "capability_key": "a.b"}),
            404,
            "",
        ),
        (
            json!({"grant_kind": "capability", "subject_type": "service_account", "subject_id": Uuid::new_v4(), "capability_key": "a.b"}),
            404,
            "",
        ),
    ] {
        let answer = call(
            &server,
            &server.owner_token,
            Method::POST,
            &grants_path(&server),
            Some(body.clone()),
        )
        .await;
        assert_eq!(answer.status, status, "{body}: {:?}", answer.body);
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
        assert!(
            !message.contains("\u{1b}") && !message.contains('\u{0}'),
            "no echo: {message}"
        );
    }
    assert_eq!(stored_grants(&server).await, before, "nothing was written");

    // The boundary: 255 characters is a subject id.
    let at_max = capability_grant("user", &max, "billing.read");
    let made = call(
        &server,
        &server.owner_token,
        Method::POST,
        &grants_path(&server),
        Some(at_max.clone()),
    )
    .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    // A duplicate live grant: 409, nothing more written.
    let twin = call(
        &server,
        &server.owner_token,
        Method::POST,
        &grants_path(&server),
        Some(at_max),
    )
    .await;
    assert_eq!(twin.status, 409);
    assert_eq!(twin.body["error_code"], "authorization_exists");
    assert_eq!(stored_grants(&server).await, before + 1);
    // Another account's authorization is not found from this one.
    let theirs = server
        .app
        .admin()
        .grant(
            other_account.id,
            hbx_service_accounts::domain::Subject::Group("g".into()),
            Grants::AccountOwner,
            None,
        )
        .await
        .unwrap()
        .0;
    let revoke = format!("{}/{}/revoke", grants_path(&server), theirs.id);
    assert_eq!(
        call(&server, &server.owner_token, Method::POST, &revoke, None)
            .await
            .status,
        404
    );
    let get = format!("{}/{}", grants_path(&server), theirs.id);
    assert_eq!(
        call(&server, &server.owner_token, Method::GET, &get, None)
            .await
            .status,
        404
    );
    // Paging bounds and cursors.
    for query in [
        "?limit=0",
        "?limit=1001",
        "?after=not-a-uuid",
        "?grant_kind=emperor",
        "?subject_type=robot",
    ] {
        let answer = call(
            &server,
            &server.owner_token,
            Method::GET,
            &format!("{}{query}", grants_path(&server)),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}: {:?}", answer.body);
    }
    let unknown = format!("{}?after={}", grants_path(&server), Uuid::new_v4());
    let answer = call(&server, &server.owner_token, Method::GET, &unknown, None).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body["message"].as_str().unwrap().contains("after"));
    let _ = worker_id;
}

/// Filters and pages through the API.
async fn grants_are_listed_with_filters_and_pages(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let worker = server.create("worker").await;
    let owner = &server.owner_token;
    for body in [
        capability_grant("service_account", &worker.id.to_string(), "auth.manage"),
        capability_grant("group", "ops", "billing.read"),
        capability_grant("group", "ops", "dns.read"),
        capability_grant("user", "alice", "billing.read"),
    ] {
        let made = call(
            &server,
            owner,
            Method::POST,
            &grants_path(&server),
            Some(body),
        )
        .await;
        assert_eq!(made.status, 201, "{:?}", made.body);
    }
    let list = async |query: &str| -> Vec<Value> {
        let answer = call(
            &server,
            owner,
            Method::GET,
            &format!("{}{query}", grants_path(&server)),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
        answer.body.as_array().expect("a bare array").clone()
    };
    // The bootstrapped owner's grant, and the four.
    assert_eq!(list("").await.len(), 5);
    assert_eq!(list("?subject_type=group").await.len(), 2);
    assert_eq!(
        list("?subject_type=group&subject_id=ops&capability_key=dns.read")
            .await
            .len(),
        1
    );
    assert_eq!(list("?grant_kind=account_owner").await.len(), 1);
    assert_eq!(list("?capability_key=billing.read").await.len(), 2);
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = list(&query).await;
        seen.extend(page.iter().map(|g| g["id"].as_str().unwrap().to_owned()));
        if page.len() < 2 {
            break;
        }
        query = format!("?limit=2&after={}", page[1]["id"].as_str().unwrap());
    }
    let all: Vec<String> = list("")
        .await
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, all, "pages in order, each once");
}

/// The last owner grant that can act stays, over the API too: a
/// `super_admin` (the operator's) is refused revoking it with 409.
async fn the_last_owner_is_kept_over_the_api(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let operator_made = server.create("platform").await;
    server
        .app
        .admin()
        .grant(
            server.account_id,
            hbx_service_accounts::domain::Subject::ServiceAccount(operator_made.id),
            Grants::SuperAdmin,
            None,
        )
        .await
        .unwrap();
    let owners = call(
        &server,
        &operator_made.token,
        Method::GET,
        &format!("{}?grant_kind=account_owner", grants_path(&server)),
        None,
    )
    .await;
    let owner_grant = owners.body[0]["id"].as_str().unwrap().to_owned();
    let revoke = format!("{}/{owner_grant}/revoke", grants_path(&server));
    let refused = call(&server, &operator_made.token, Method::POST, &revoke, None).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["error_code"], "last_owner");
    let still = call(
        &server,
        &operator_made.token,
        Method::GET,
        &format!("{}/{owner_grant}", grants_path(&server)),
        None,
    )
    .await;
    assert_eq!(still.body["revoked_at"], Value::Null);
}

on_both_stores!(
    a_grant_through_the_api_applies_at_once_and_so_does_its_revocation,
    escalation_is_refused,
    bad_grants_are_refused_and_change_nothing,
    grants_are_listed_with_filters_and_pages,
    the_last_owner_is_kept_over_the_api,
);
