//! Federation over the API, on both stores: an identity provider registered
//! (one per issuer), rules refused when they break a rail, escalate, or give
//! what the service account lacks; the dry run condition by condition; the
//! exchange by form and by JSON with RFC 8693 answers and RFC 6749 errors
//! that echo no claim; the minted token in whoami and introspection with
//! its provenance, unable to make rules; a service account whose own token
//! is turned off working through federation alone until a rotation; and the
//! audit log naming each step.

use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::authorizations::call;
use crate::common::issuer::{TestIssuer, TestKey};
use crate::common::{Backend, TestServer};

const OWNER_ID: &str = "1001";

fn providers_path(server: &TestServer) -> String {
    format!(
        "/v1/public/accounts/{}/auth/identity-providers",
        server.account_id
    )
}

fn rules_path(server: &TestServer, sa: Uuid) -> String {
    format!(
        "/v1/public/accounts/{}/auth/service-accounts/{sa}/federation-rules",
        server.account_id
    )
}

/// A GitHub Actions token's claims for acme/api on main.
fn claims(issuer: &TestIssuer, server: &TestServer, jti: &str, owner_id: &str) -> Value {
    let now = server.now().timestamp();
    json!({
        "jti": jti, "iss": issuer.issuer(),
        "aud": format!("https://api.hybridbox.io/accounts/{}", server.account_id),
        "sub": "repo:acme/api:ref:refs/heads/main", "ref": "refs/heads/main",
        "sha": "d6a5bf3b", "repository": "acme/api", "repository_id": "2002",
        "repository_owner": "acme", "repository_owner_id": owner_id, "run_id": "77",
        "workflow_ref": "acme/api/.github/workflows/deploy.yml@refs/heads/main",
        "job_workflow_ref": "acme/api/.github/workflows/deploy.yml@refs/heads/main",
        "event_name": "push", "ref_type": "branch", "environment": "production",
        "iat": now - 5, "nbf": now - 5, "exp": now + 295,
    })
}

struct Exchange {
    status: u16,
    cache_control: Option<String>,
    body: Value,
}

async fn exchange(server: &TestServer, sa: Uuid, token: &str, json_body: bool) -> Exchange {
    let fields = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("account_id", &server.account_id.to_string()),
        ("service_account_id", &sa.to_string()),
    ];
    let request = server
        .raw()
        .post(format!("{}/v1/public/auth/token", server.base_url));
    let request = if json_body {
        let body: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        request.json(&body)
    } else {
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
    };
    let response = request.send().await.unwrap();
    Exchange {
        status: response.status().as_u16(),
        cache_control: response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.json().await.unwrap(),
    }
}

async fn federation_from_registration_to_exchange(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.federation_allow_loopback_issuers = true;
    })
    .await;
    let key = TestKey::rsa("gh-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let deployer = server.create("deployer").await;
    server.grant_auth_manage(deployer.id).await;
    let owner = &server.owner_token;
    // Register the issuer, once.
    let register =
        json!({"name": "GitHub Actions", "issuer": issuer.issuer(), "kind": "github_actions"});
    let path = providers_path(&server);
    let made = call(&server, owner, Method::POST, &path, Some(register.clone())).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["keys"], json!({"source": "discovery"}));
    assert_eq!(made.body["max_subject_token_lifetime_seconds"], 3600);
    let provider_id = made.body["id"].as_str().unwrap().to_owned();
    let again = call(&server, owner, Method::POST, &path, Some(register)).await;
    assert_eq!(
        (again.status, again.body["error_code"].as_str()),
        (409, Some("identity_provider_exists"))
    );
    let insecure = json!({"name": "x", "issuer": "http://gitlab.example.com", "kind": "gitlab_ci"});
    let refused = call(&server, owner, Method::POST, &path, Some(insecure)).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(refused.body["message"].as_str().unwrap().contains("issuer"));
    // Rules: rails, what the service account holds, then a good one.
    let rules = rules_path(&server, deployer.id);
    let rule = |conditions: Value, capabilities: Value| json!({"identity_provider_id": provider_id, "conditions": conditions, "capabilities": capabilities});
    let owner_pin = json!({"claim": "repository_owner_id", "op": "eq", "value": OWNER_ID});
    let unpinned = rule(
        json!([{"claim": "repository", "op": "eq", "value": "acme/api"}]),
        json!(["auth.manage"]),
    );
    let answer = call(&server, owner, Method::POST, &rules, Some(unpinned)).await;
    assert_eq!(
        (answer.status, answer.body["error_code"].as_str()),
        (422, Some("federation_rule_unsafe"))
    );
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("owner_pin")
    );
    let everything = rule(
        json!([owner_pin, {"claim": "ref", "op": "glob", "value": "*"}]),
        json!(["auth.manage"]),
    );
    let answer = call(&server, owner, Method::POST, &rules, Some(everything)).await;
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("glob_everything"),
        "{:?}",
        answer.body
    );
    let not_held = rule(json!([owner_pin]), json!(["billing.read"]));
    let answer = call(&server, owner, Method::POST, &rules, Some(not_held)).await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    let good = rule(
        json!([owner_pin, {"claim": "ref", "op": "glob", "value": "refs/heads/*"}]),
        json!(["auth.manage"]),
    );
    let created = call(&server, owner, Method::POST, &rules, Some(good)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["token_ttl_seconds"], 900);
    let rule_id = created.body["id"].as_str().unwrap().to_owned();
    let listed = call(&server, owner, Method::GET, &rules, None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    // The dry run, condition by condition.
    let test = format!("{rules}/{rule_id}/test");
    let squatter = claims(&issuer, &server, "dry", "9999");
    let run = call(
        &server,
        owner,
        Method::POST,
        &test,
        Some(json!({"claims": squatter})),
    )
    .await;
    assert_eq!(run.status, 200, "{:?}", run.body);
    assert_eq!(run.body["matched"], false);
    let owner_result = &run.body["conditions"][1];
    assert_eq!(owner_result["claim"], "repository_owner_id");
    assert_eq!(
        (
            owner_result["presented"].as_str(),
            owner_result["pass"].as_bool()
        ),
        (Some("9999"), Some(false))
    );
    let token = key.sign(&claims(&issuer, &server, "dry-2", OWNER_ID));
    let run = call(
        &server,
        owner,
        Method::POST,
        &test,
        Some(json!({"subject_token": token})),
    )
    .await;
    assert_eq!(run.body["matched"], true, "{:?}", run.body);
    // The exchange, by form: RFC 8693's answer, not stored.
    let presented = key.sign(&claims(&issuer, &server, "run-1", OWNER_ID));
    let minted = exchange(&server, deployer.id, &presented, false).await;
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    assert_eq!(minted.cache_control.as_deref(), Some("no-store"));
    assert_eq!(
        minted.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        (
            minted.body["token_type"].as_str(),
            minted.body["scope"].as_str()
        ),
        (Some("Bearer"), Some("auth.manage"))
    );
    assert_eq!(minted.body["expires_in"], 900);
    let federated = minted.body["access_token"].as_str().unwrap().to_owned();
    let whoami = server
        .client(&federated)
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(whoami.service_account_id, Some(deployer.id));
    assert_eq!(whoami.token_generation, None);
    let provenance = whoami.federation.expect("whoami shows where it came from");
    assert_eq!(provenance.subject, "repo:acme/api:ref:refs/heads/main");
    assert_eq!(provenance.issuer, issuer.issuer());
    assert_eq!(provenance.federation_rule_id.to_string(), rule_id);
    assert_eq!(provenance.claims["repository"], "acme/api");
    assert_eq!(provenance.claims["run_id"], "77");
    let (client_id, secret) = server.new_introspection_client("gateway").await;
    let introspected = server
        .introspector(&client_id, &secret)
        .introspect_token(&hbx_service_accounts::client::types::IntrospectionRequest {
            token: federated.clone(),
            token_type_hint: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(introspected.active);
    let provenance = introspected
        .hbx_federation
        .expect("introspection shows it too");
    assert_eq!(provenance.claims["sha"], "d6a5bf3b");
    // Replayed: an RFC 6749 error that echoes nothing presented.
    let replay = exchange(&server, deployer.id, &presented, false).await;
    assert_eq!(replay.status, 400);
    assert_eq!(
        (
            replay.body["error"].as_str(),
            replay.body["hbx_reason"].as_str()
        ),
        (Some("invalid_grant"), Some("replayed"))
    );
    assert!(replay.body["request_id"].is_string());
    assert!(
        !replay.body.to_string().contains("acme"),
        "{:?}",
        replay.body
    );
    let squatted = exchange(
        &server,
        deployer.id,
        &key.sign(&claims(&issuer, &server, "run-2", "9999")),
        false,
    )
    .await;
    assert_eq!(squatted.body["hbx_reason"], "no_matching_rule");
    assert!(!squatted.body.to_string().contains("9999"));
    // By JSON too.
    let by_json = exchange(
        &server,
        deployer.id,
        &key.sign(&claims(&issuer, &server, "run-3", OWNER_ID)),
        true,
    )
    .await;
    assert_eq!(by_json.status, 200, "{:?}", by_json.body);
    // It acts with its rule's capabilities: it creates a service account,
    // and the audit log says where the token that did came from.
    let made_by_ci = call(
        &server,
        &federated,
        Method::POST,
        &format!(
            "/v1/public/accounts/{}/auth/service-accounts",
            server.account_id
        ),
        Some(json!({"name": "made-by-ci"})),
    )
    .await;
    assert_eq!(made_by_ci.status, 201, "{:?}", made_by_ci.body);
    let created_id = made_by_ci.body["id"].as_str().unwrap().to_owned();
    let about = call(
        &server,
        owner,
        Method::GET,
        &format!(
            "/v1/public/accounts/{}/auth/audit-events?service_account_id={created_id}",
            server.account_id
        ),
        None,
    )
    .await;
    let actor = &about.body[0]["actor"];
    assert_eq!(actor["type"], "service_account");
    assert_eq!(actor["federation"]["federation_rule_id"], rule_id.as_str());
    assert_eq!(actor["federation"]["claims"]["repository"], "acme/api");
    // A federated token makes no rules.
    let own = rule(json!([owner_pin]), json!(["auth.manage"]));
    let answer = call(&server, &federated, Method::POST, &rules, Some(own)).await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    // No long-lived secret: the own token off, federation still works.
    let off = format!(
        "/v1/public/accounts/{}/auth/service-accounts/{}/disable-static-token",
        server.account_id, deployer.id
    );
    let answer = call(&server, owner, Method::POST, &off, None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.body["static_token_disabled_at"].is_string());
    assert!(!server.authenticates(&deployer.token).await);
    assert!(server.authenticates(&federated).await);
    let later = exchange(
        &server,
        deployer.id,
        &key.sign(&claims(&issuer, &server, "run-4", OWNER_ID)),
        false,
    )
    .await;
    assert_eq!(later.status, 200);
    // A minted token sent to public revocation is revoked alone: its
    // service account and the other minted tokens go on working.
    let leaked = later.body["access_token"].as_str().unwrap().to_owned();
    let revoked = server
        .raw()
        .post(format!("{}/v1/public/credentials/revoke", server.base_url))
        .json(&json!({"credentials": [leaked]}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 202);
    assert!(!server.authenticates(&leaked).await);
    assert!(server.authenticates(&federated).await);
    let sa = call(
        &server,
        owner,
        Method::GET,
        &format!(
            "/v1/public/accounts/{}/auth/service-accounts/{}",
            server.account_id, deployer.id
        ),
        None,
    )
    .await;
    assert_eq!(sa.body["revoked_at"], Value::Null);
    // The audit log names each step, the refusal with what was presented.
    let log = call(
        &server,
        owner,
        Method::GET,
        &format!(
            "/v1/public/accounts/{}/auth/audit-events",
            server.account_id
        ),
        None,
    )
    .await;
    let events = log.body.as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "identity_provider_create",
        "federation_rule_create",
        "token_exchange",
        "token_exchange_denied",
        "disable_static_token",
        "public_revocation",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let denied = events
        .iter()
        .find(|e| e["action"] == "token_exchange_denied")
        .unwrap();
    assert_eq!(
        denied["details"]["failed_conditions"][0]["presented"],
        "9999"
    );
    // Another account's owner sees none of it, and deletes nothing.
    let other = server
        .app
        .admin()
        .bootstrap(server.app.minter(), "other".into(), "stranger".into())
        .await
        .unwrap();
    let stranger = other.owner.token.expose().to_owned();
    let provider = format!("{path}/{provider_id}");
    for (method, target) in [
        (Method::GET, provider.clone()),
        (Method::DELETE, provider.clone()),
        (Method::GET, rules.clone()),
        (Method::DELETE, format!("{rules}/{rule_id}")),
    ] {
        let answer = call(&server, &stranger, method, &target, None).await;
        assert_eq!(answer.status, 404, "{target}: {:?}", answer.body);
    }
    // A provider that rules name stays; without them it goes.
    let answer = call(&server, owner, Method::DELETE, &provider, None).await;
    assert_eq!(
        (answer.status, answer.body["error_code"].as_str()),
        (409, Some("identity_provider_in_use"))
    );
    let answer = call(
        &server,
        owner,
        Method::DELETE,
        &format!("{rules}/{rule_id}"),
        None,
    )
    .await;
    assert_eq!(answer.status, 204);
    let answer = call(&server, owner, Method::DELETE, &provider, None).await;
    assert_eq!(answer.status, 204);
}

async fn malformed_exchanges_get_oauth_errors(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let url = format!("{}/v1/public/auth/token", server.base_url);
    let post = |form: Vec<(&'static str, String)>| {
        let request = server
            .raw()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let good = || {
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_owned(),
            ),
            ("subject_token", "a.b.c".to_owned()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:jwt".to_owned(),
            ),
            ("account_id", server.account_id.to_string()),
            ("service_account_id", Uuid::new_v4().to_string()),
        ]
    };
    let with = |name: &'static str, value: &str| {
        let mut form = good();
        form.retain(|(k, _)| *k != name);
        form.push((name, value.to_owned()));
        form
    };
    let (status, body) = post(with("grant_type", "client_credentials")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (_, body) = post(with("subject_token_type", "urn:x")).await;
    assert_eq!(body["error"], "invalid_request");
    let (_, body) = post(with("account_id", "not-a-uuid")).await;
    assert_eq!(
        (body["error"].as_str(), body["hbx_reason"].as_str()),
        (Some("invalid_request"), Some("account_id"))
    );
    let (_, body) = post(with("scope", "NOT A KEY")).await;
    assert_eq!(body["error"], "invalid_scope");
    let (_, body) = post(with(
        "requested_token_type",
        "urn:ietf:params:oauth:token-type:refresh_token",
    ))
    .await;
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = post(good()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Unknown parameters are ignored (RFC 6749 §3.2); a missing one is not.
    let (_, body) = post(with("client_id", "ci")).await;
    assert_eq!(body["error"], "invalid_grant");
    let mut missing = good();
    missing.retain(|(k, _)| *k != "subject_token");
    let (status, body) = post(missing).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
}

on_both_stores!(
    federation_from_registration_to_exchange,
    malformed_exchanges_get_oauth_errors,
);
