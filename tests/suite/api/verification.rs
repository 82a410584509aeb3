//! Verification for the rest of the platform: whoami for service accounts and
//! users, and token introspection (RFC 7662) by introspection clients, through
//! the generated client, on both stores.

use chrono::TimeDelta;
use hbx_service_accounts::auth::oauth::keys::JwksLocation;
use hbx_service_accounts::client::types::{
    AccountGrants, IntrospectedTokenType, IntrospectionRequest, IntrospectionResponse,
    PrincipalType, TokenGeneration,
};
use hbx_service_accounts::domain::{CapabilityKey, Subject};
use uuid::Uuid;

use crate::common::issuer::{TestIssuer, TestKey, bad_access_tokens, claims, server_trusting};
use crate::common::{
    Backend, TestServer, after_prefix, basic_authorization, expect_error, public_id_of, secret_of,
    secret_start, with_checksum,
};

async fn grant(server: &TestServer, account_id: Uuid, subject: Subject, key: &str) {
    server
        .app
        .admin()
        .add_grant(account_id, subject, CapabilityKey::parse(key).unwrap())
        .await
        .unwrap();
}

fn introspection(token: &str) -> IntrospectionRequest {
    IntrospectionRequest {
        token: token.to_owned(),
        token_type_hint: None,
    }
}

/// Introspects `token` over plain HTTP as client `(id, secret)`: status,
/// `Cache-Control` and the body's exact bytes.
async fn introspect_raw(
    server: &TestServer,
    client: &(String, String),
    form: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let response = server
        .raw()
        .post(format!("{}/v1/internal/auth/introspect", server.base_url))
        .header("authorization", basic_authorization(&client.0, &client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        cache_control,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn whoami_for_service_accounts_with_and_without_grants(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner().whoami().await.unwrap();
    assert_eq!(
        owner.headers()["cache-control"],
        "no-store",
        "an answer about a credential is never cached"
    );
    let owner = owner.into_inner();
    assert_eq!(owner.principal_type, PrincipalType::ServiceAccount);
    assert_eq!(owner.service_account_id, Some(server.owner_id));
    assert_eq!(owner.account_id, Some(server.account_id));
    assert_eq!(owner.name.as_deref(), Some("owner"));
    assert_eq!(
        owner.token_public_id.as_deref(),
        Some(public_id_of(&server.owner_token))
    );
    assert_eq!(owner.user_id, None);
    assert_eq!(owner.expires_at, None);
    assert_eq!(
        owner.grants,
        vec![AccountGrants {
            account_id: server.account_id,
            capabilities: vec![],
            owner: true,
            scoped: vec![],
        }]
    );

    // No grants: standing in its own account, holding nothing.
    let expires_at = server.now() + TimeDelta::days(30);
    let worker = server.create_expiring("worker", expires_at).await;
    let bare = server
        .client(&worker.token)
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bare.service_account_id, Some(worker.id));
    assert_eq!(bare.expires_at, Some(expires_at));
    assert_eq!(
        bare.grants,
        vec![AccountGrants {
            account_id: server.account_id,
            capabilities: vec![],
            owner: false,
            scoped: vec![],
        }]
    );

    // With grants, sorted, other services' keys included.
    let subject = Subject::ServiceAccount(worker.id);
    grant(&server, server.account_id, subject.clone(), "billing.read").await;
    grant(&server, server.account_id, subject, "auth.manage").await;
    let granted = server
        .client(&worker.token)
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        granted.grants[0].capabilities,
        vec!["auth.manage".to_owned(), "billing.read".to_owned()]
    );

    // It counts as a use of the token.
    server.flush_last_use().await;
    let used = server
        .owner()
        .get_service_account(&server.account_id, &worker.id)
        .await
        .unwrap();
    assert!(used.last_used_at.is_some(), "whoami records last_used_at");

    // Without a valid credential: 401, as everywhere.
    expect_error(
        server.client_with_authorization(None).whoami().await,
        401,
        "unauthenticated",
    );
    server.revoke(worker.id).await;
    expect_error(
        server.client(&worker.token).whoami().await,
        401,
        "invalid_token",
    );
}

/// Whoami's body as JSON, as any client sees it.
async fn whoami_json(server: &TestServer, token: &str) -> serde_json::Value {
    let response = server
        .raw()
        .get(format!("{}/v1/public/auth/whoami", server.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// Every member of whoami is present whatever the caller, null where it does
/// not apply (contract §8): clients may read them without checking.
fn assert_every_member_present(body: &serde_json::Value, null: &[&str]) {
    let members = [
        "principal_type",
        "user_id",
        "service_account_id",
        "account_id",
        "name",
        "token_public_id",
        "token_generation",
        "expires_at",
        "grants",
    ];
    let object = body.as_object().expect("an object");
    for member in members {
        assert!(object.contains_key(member), "{member} missing from {body}");
        assert_eq!(
            object[member].is_null(),
            null.contains(&member),
            "{member} in {body}"
        );
    }
}

async fn whoami_for_users(backend: Backend) {
    // A user of a real (test) issuer, with grants in two accounts.
    let key = TestKey::p256("p256-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::JwksUrl(issuer.jwks_url())).await;
    let other = server
        .app
        .admin()
        .create_account("other".into())
        .await
        .unwrap();
    let user = Uuid::new_v4();
    grant(
        &server,
        server.account_id,
        Subject::user(user),
        "auth.manage",
    )
    .await;
    grant(&server, other.id, Subject::user(user), "account_owner").await;
    grant(&server, other.id, Subject::user(user), "billing.read").await;
    let user_claims = claims(&server, &issuer, user);
    let me = server
        .client(&key.sign(&user_claims))
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.principal_type, PrincipalType::User);
    assert_eq!(me.user_id, Some(user));
    assert_eq!(
        (
            me.service_account_id,
            me.account_id,
            &me.name,
            &me.token_public_id
        ),
        (None, None, &None, &None)
    );
    assert_eq!(
        me.expires_at.map(|at| at.timestamp()),
        user_claims["exp"].as_i64()
    );
    let mut expected = vec![
        AccountGrants {
            account_id: server.account_id,
            capabilities: vec!["auth.manage".into()],
            owner: false,
            scoped: vec![],
        },
        AccountGrants {
            account_id: other.id,
            capabilities: vec!["billing.read".into()],
            owner: true,
            scoped: vec![],
        },
    ];
    expected.sort_by_key(|g| g.account_id);
    assert_eq!(me.grants, expected);

    // A user without grants has standing nowhere.
    let stranger = Uuid::new_v4();
    let nobody = server
        .client(&key.sign(&claims(&server, &issuer, stranger)))
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(nobody.user_id, Some(stranger));
    assert!(nobody.grants.is_empty());

    assert_every_member_present(
        &whoami_json(&server, &key.sign(&user_claims)).await,
        &[
            "service_account_id",
            "account_id",
            "name",
            "token_public_id",
            "token_generation",
        ],
    );
    assert_every_member_present(
        &whoami_json(&server, &server.owner_token).await,
        &["user_id", "expires_at"],
    );
}

async fn whoami_for_a_development_user(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| settings.oauth_dev = true).await;
    let user = Uuid::new_v4();
    grant(
        &server,
        server.account_id,
        Subject::user(user),
        "auth.manage",
    )
    .await;
    let key =
        hbx_service_accounts::auth::oauth::dev::DevKey::load_or_create(server.data_dir()).unwrap();
    let token = key
        .token(user, &[], server.now(), TimeDelta::hours(1))
        .unwrap();
    let me = server.client(&token).whoami().await.unwrap().into_inner();
    assert_eq!(me.principal_type, PrincipalType::User);
    assert_eq!(me.user_id, Some(user));
    assert_eq!(
        me.expires_at.map(|at| at.timestamp()),
        Some((server.now() + TimeDelta::hours(1)).timestamp())
    );
    assert_eq!(me.grants.len(), 1);
}

async fn introspection_of_live_tokens(backend: Backend) {
    let key = TestKey::ed25519("ed-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::Discover).await;
    let client = server.new_introspection_client("gateway").await;
    let introspector = server.introspector(&client.0, &client.1);

    // A service-account token.
    let worker = server.create("worker").await;
    grant(
        &server,
        server.account_id,
        Subject::ServiceAccount(worker.id),
        "auth.manage",
    )
    .await;
    let answer = introspector
        .introspect_token(&introspection(&worker.token))
        .await
        .unwrap();
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let answer = answer.into_inner();
    assert_eq!(
        answer,
        IntrospectionResponse {
            active: true,
            token_type: Some(IntrospectedTokenType::ServiceAccount),
            sub: Some(worker.id),
            exp: None,
            iat: Some(worker.created_at.timestamp()),
            hbx_principal_type: Some(PrincipalType::ServiceAccount),
            hbx_account_id: Some(server.account_id),
            hbx_service_account_id: Some(worker.id),
            hbx_user_id: None,
            hbx_token_generation: Some(TokenGeneration::Current),
            hbx_federation: None,
            hbx_grants: vec![AccountGrants {
                account_id: server.account_id,
                capabilities: vec!["auth.manage".into()],
                owner: false,
                scoped: vec![],
            }],
        }
    );
    // It counts as a use of the token.
    server.flush_last_use().await;
    let used = server
        .owner()
        .get_service_account(&server.account_id, &worker.id)
        .await
        .unwrap();
    assert!(
        used.last_used_at.is_some(),
        "introspection records last_used_at"
    );

    // After a rotation, iat is the rotation's time.
    server.clock.advance(TimeDelta::minutes(5));
    let rotated = server
        .owner()
        .rotate_service_account(&server.account_id, &worker.id, None, None)
        .await
        .unwrap()
        .into_inner();
    let answer = introspector
        .introspect_token(&introspection(&rotated.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.iat, Some(rotated.updated_at.timestamp()));

    // A user's access token, with exp and iat from its claims.
    let user = Uuid::new_v4();
    grant(
        &server,
        server.account_id,
        Subject::user(user),
        "auth.manage",
    )
    .await;
    let user_claims = claims(&server, &issuer, user);
    let answer = introspector
        .introspect_token(&IntrospectionRequest {
            token: key.sign(&user_claims),
            token_type_hint: Some("access_token".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer,
        IntrospectionResponse {
            active: true,
            token_type: Some(IntrospectedTokenType::AccessToken),
            sub: Some(user),
            exp: user_claims["exp"].as_i64(),
            iat: user_claims["iat"].as_i64(),
            hbx_principal_type: Some(PrincipalType::User),
            hbx_account_id: None,
            hbx_service_account_id: None,
            hbx_user_id: Some(user),
            hbx_token_generation: None,
            hbx_federation: None,
            hbx_grants: vec![AccountGrants {
                account_id: server.account_id,
                capabilities: vec!["auth.manage".into()],
                owner: false,
                scoped: vec![],
            }],
        }
    );
    // An unknown hint, or one naming the other kind, is ignored: the token
    // is still found active.
    for hint in ["refresh_token", "access_token", "something-else"] {
        let (status, _, body) = introspect_raw(
            &server,
            &client,
            &[("token", &rotated.token), ("token_type_hint", hint)],
        )
        .await;
        assert_eq!(status, 200, "{hint}");
        assert!(
            body.starts_with(br#"{"active":true"#),
            "{hint}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

async fn every_inactive_token_gets_the_same_answer(backend: Backend) {
    let key = TestKey::rsa("rsa-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::JwksUrl(issuer.jwks_url())).await;
    let client = server.new_introspection_client("gateway").await;
    let user = Uuid::new_v4();
    // The issuer's keys are fetched by a good token first.
    let good = introspect_raw(
        &server,
        &client,
        &[("token", &key.sign(&claims(&server, &issuer, user)))],
    )
    .await;
    assert!(good.2.starts_with(br#"{"active":true"#));
    server.clock.advance(TimeDelta::seconds(10));

    let revoked = server.create("revoked").await;
    server.revoke(revoked.id).await;
    let rotated_away = server.create("rotated").await;
    server
        .owner()
        .rotate_service_account(&server.account_id, &rotated_away.id, None, None)
        .await
        .unwrap();
    let expiring = server
        .create_expiring("expiring", server.now() + TimeDelta::seconds(1))
        .await;
    // Past the expiry, before the access tokens are made (their times are
    // relative to the server's clock).
    server.clock.advance(TimeDelta::seconds(1));
    let owner = &server.owner_token;
    let mut bad_checksum = owner.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'A' { 'B' } else { 'A' });
    // A wrong secret for a live service account that nothing else uses, so
    // that the check below would see it counted as a use.
    let victim = server.create("victim").await;
    let other_secret = secret_of(&revoked.token).to_owned();
    let wrong_secret = with_checksum(&format!(
        "{}{other_secret}",
        &victim.token[..secret_start()]
    ));
    let unknown = with_checksum(&format!("hbxsa_{}_{}", "Z".repeat(16), secret_of(owner)));
    let mut cases: Vec<(&str, String)> = vec![
        ("malformed", "hbxsa_not-a-token".into()),
        ("empty", String::new()),
        ("bad checksum", bad_checksum),
        ("unknown public id", unknown),
        ("wrong secret", wrong_secret),
        ("revoked", revoked.token.clone()),
        ("rotated away", rotated_away.token.clone()),
        ("expired", expiring.token.clone()),
        ("another prefix", format!("ghp_{}", after_prefix(owner))),
    ];
    cases.extend(bad_access_tokens(&server, &issuer, &key, user));

    for (case, token) in &cases {
        let (status, cache_control, body) =
            introspect_raw(&server, &client, &[("token", token)]).await;
        assert_eq!(status, 200, "{case}");
        assert_eq!(cache_control, "no-store", "{case}");
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"active":false}"#,
            "{case}: byte for byte the same answer"
        );
    }
    // And through the generated client.
    let answer = server
        .introspector(&client.0, &client.1)
        .introspect_token(&introspection(&revoked.token))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.active);
    assert_eq!((answer.sub, answer.token_type), (None, None));
    // Nothing was counted as a use of a token: not the wrong secret's
    // service account, nor any other (the owner's token made the changes
    // above, so it alone was used).
    server.flush_last_use().await;
    let stored = server.stored_service_accounts(server.account_id).await;
    assert!(stored.iter().any(|sa| sa.id == victim.id), "{stored:?}");
    assert!(
        stored
            .iter()
            .filter(|sa| sa.id != server.owner_id)
            .all(|sa| sa.last_used_at.is_none()),
        "{stored:?}"
    );
}

/// An unknown public id and a wrong secret cost the same MAC work (counted,
/// not timed), and so do an unknown client and a wrong client secret.
async fn inactive_answers_cost_the_same_work(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let client = server.new_introspection_client("gateway").await;
    let owner = &server.owner_token;
    let other = server.create("other").await;
    let wrong_secret = with_checksum(&format!(
        "{}{}",
        &owner[..secret_start()],
        secret_of(&other.token)
    ));
    let unknown = with_checksum(&format!("hbxsa_{}_{}", "Z".repeat(16), secret_of(owner)));
    let keyring = server.app.minter().keyring.clone();
    let mut costs = Vec::new();
    for token in [&wrong_secret, &unknown] {
        let before = keyring.computed();
        let answer = introspect_raw(&server, &client, &[("token", token)]).await;
        assert_eq!(answer.2, br#"{"active":false}"#);
        costs.push(keyring.computed() - before);
    }
    assert_eq!(costs[0], costs[1], "unknown and wrong secret: {costs:?}");
    assert_eq!(costs[0], 2, "one MAC for the client, one for the token");

    let mut costs = Vec::new();
    for (id, secret) in [
        (client.0.clone(), "wrong".to_owned()),
        (format!("hbxic_{}", "Z".repeat(16)), client.1.clone()),
    ] {
        let before = keyring.computed();
        let (status, _, _) = introspect_raw(&server, &(id, secret), &[("token", owner)]).await;
        assert_eq!(status, 401);
        costs.push(keyring.computed() - before);
    }
    assert_eq!(costs, vec![1, 1], "unknown client and wrong secret");
}

async fn introspection_needs_an_introspection_client(backend: Backend) {
    let key = TestKey::p256("p256-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::JwksUrl(issuer.jwks_url())).await;
    let user = Uuid::new_v4();
    grant(
        &server,
        server.account_id,
        Subject::user(user),
        "account_owner",
    )
    .await;
    let user_token = key.sign(&claims(&server, &issuer, user));
    assert!(server.authenticates(&user_token).await, "a good user token");
    let client = server.new_introspection_client("gateway").await;
    let revoked_client = server.new_introspection_client("retired").await;
    server
        .app
        .admin()
        .revoke_introspection_client(&revoked_client.0)
        .await
        .unwrap();
    let token = server.create("target").await.token;
    let owner = &server.owner_token;
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no credentials", None),
        (
            "wrong secret",
            Some(basic_authorization(&client.0, "wrong")),
        ),
        (
            "unknown client",
            Some(basic_authorization(
                &format!("hbxic_{}", "Q".repeat(16)),
                &client.1,
            )),
        ),
        (
            "revoked client",
            Some(basic_authorization(&revoked_client.0, &revoked_client.1)),
        ),
        (
            "a service-account token as bearer",
            Some(format!("Bearer {owner}")),
        ),
        (
            "a service-account token as Basic credentials",
            Some(basic_authorization(&server.owner_id.to_string(), owner)),
        ),
        (
            "a token as the Basic user name",
            Some(basic_authorization(owner, owner)),
        ),
        (
            "a user's access token as bearer",
            Some(format!("Bearer {user_token}")),
        ),
        (
            "a user's access token as Basic credentials",
            Some(basic_authorization(&user.to_string(), &user_token)),
        ),
        ("malformed Basic", Some("Basic !!!".into())),
    ];
    let mut bodies = Vec::new();
    for (case, authorization) in &refused {
        let error = expect_error(
            server
                .client_with_authorization(authorization.as_deref())
                .introspect_token(&introspection(&token))
                .await,
            401,
            "unauthenticated",
        );
        assert_eq!(
            error.headers()["www-authenticate"],
            "Basic realm=\"hybridbox\"",
            "{case}"
        );
        assert!(!error.message.contains(&token), "{case}");
        assert!(!error.message.contains("active"), "{case}: reveals nothing");
        bodies.push(error.message.clone());
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "one answer for every refusal: {bodies:?}");
    // The token was not counted as used by any of these.
    server.flush_last_use().await;
    assert!(
        server
            .stored_service_accounts(server.account_id)
            .await
            .iter()
            .all(|sa| sa.id == server.owner_id || sa.last_used_at.is_none())
    );
    // The good client still works.
    let answer = server
        .introspector(&client.0, &client.1)
        .introspect_token(&introspection(&token))
        .await
        .unwrap();
    assert!(answer.active);
}

async fn bad_introspection_requests_are_400(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let client = server.new_introspection_client("gateway").await;
    let token = server.owner_token.clone();
    let url = format!("{}/v1/internal/auth/introspect", server.base_url);
    let authorization = basic_authorization(&client.0, &client.1);
    let post = |content_type: Option<&'static str>, body: String| {
        let mut request = server
            .raw()
            .post(&url)
            .header("authorization", &authorization)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let form = Some("application/x-www-form-urlencoded");
    for (case, content_type, body, mentions) in [
        ("no token", form, "token_type_hint=x".to_owned(), "token"),
        ("empty body", form, String::new(), "token"),
        (
            "the token twice",
            form,
            format!("token={token}&token={token}"),
            "token",
        ),
        (
            "JSON",
            Some("application/json"),
            format!(r#"{{"token": "{token}"}}"#),
            "application/x-www-form-urlencoded",
        ),
        (
            "no content type",
            None,
            format!("token={token}"),
            "Content-Type",
        ),
    ] {
        let response = post(content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{case}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error_code"], "invalid_request", "{case}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{case}: {message}");
        assert!(!message.contains(&token), "{case}: {message}");
    }
    let oversized = post(form, format!("token={}", "a".repeat(17 * 1024)))
        .await
        .unwrap();
    assert_eq!(oversized.status().as_u16(), 413);
    // Members the operation does not know are ignored (RFC 6749 §3.2).
    let extra = post(form, format!("token={token}&client_id=x&resource=y"))
        .await
        .unwrap();
    assert_eq!(extra.status().as_u16(), 200);
}

/// When the issuer's keys cannot be fetched, an access token may be fine:
/// introspection says 503 `unavailable` (ask again later), never
/// `{"active": false}`; service-account tokens are answered as before.
async fn introspection_is_503_while_the_issuer_is_unreachable(backend: Backend) {
    // Nothing listens where the keys are said to be.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let issuer = format!("http://{closed}");
    let server = TestServer::start_with_on(backend, |settings| {
        settings
            .oauth
            .issuers
            .push(hbx_service_accounts::auth::oauth::IssuerSettings {
                issuer: issuer.clone(),
                audiences: vec![crate::common::issuer::AUDIENCE.into()],
                keys: JwksLocation::JwksUrl(format!("{issuer}/jwks")),
            });
    })
    .await;
    let client = server.new_introspection_client("gateway").await;
    let key = TestKey::ed25519("k");
    let now = server.now().timestamp();
    let token = key.sign(&serde_json::json!({
        "iss": issuer, "aud": crate::common::issuer::AUDIENCE,
        "sub": Uuid::new_v4().to_string(), "iat": now, "exp": now + 300,
    }));
    let response = server
        .raw()
        .post(format!("{}/v1/internal/auth/introspect", server.base_url))
        .header("authorization", basic_authorization(&client.0, &client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", token.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error_code"], "unavailable");
    assert!(error.get("active").is_none(), "{error}");
    // Through the generated client too.
    expect_error(
        server
            .introspector(&client.0, &client.1)
            .introspect_token(&introspection(&token))
            .await,
        503,
        "unavailable",
    );
    // Service-account tokens never depend on the issuer.
    let (status, _, body) =
        introspect_raw(&server, &client, &[("token", &server.owner_token)]).await;
    assert_eq!(status, 200);
    assert!(body.starts_with(br#"{"active":true"#));
}

/// Whoami and introspection of a token whose grants change follow the change
/// at once (both read the grants through the same cache, which the change
/// reaches before it is acknowledged).
async fn grants_changes_show_at_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let client = server.new_introspection_client("gateway").await;
    let worker = server.create("worker").await;
    let introspector = server.introspector(&client.0, &client.1);
    let worker_client = server.client(&worker.token);
    let introspected = async || {
        introspector
            .introspect_token(&introspection(&worker.token))
            .await
            .unwrap()
            .into_inner()
            .hbx_grants[0]
            .capabilities
            .clone()
    };
    let whoami = async || {
        worker_client.whoami().await.unwrap().into_inner().grants[0]
            .capabilities
            .clone()
    };
    // Both read (and cache) the grants before the change.
    assert!(introspected().await.is_empty());
    assert!(whoami().await.is_empty());
    server.grant_auth_manage(worker.id).await;
    let granted = vec!["auth.manage".to_owned()];
    assert_eq!(introspected().await, granted);
    assert_eq!(whoami().await, granted);
}

on_both_stores!(
    whoami_for_service_accounts_with_and_without_grants,
    whoami_for_users,
    introspection_of_live_tokens,
    every_inactive_token_gets_the_same_answer,
    inactive_answers_cost_the_same_work,
    introspection_needs_an_introspection_client,
    bad_introspection_requests_are_400,
    grants_changes_show_at_once,
    whoami_for_a_development_user,
    introspection_is_503_while_the_issuer_is_unreachable,
);
