//! The federation exchange, driven through the library against a running
//! server on both stores, with a local issuer publishing its keys by
//! discovery on 127.0.0.1 and minting tokens shaped exactly like GitHub
//! Actions' (every claim, a reusable workflow): each check of the exchange,
//! and the minted token used over HTTP (limited to its rule's capabilities,
//! refused after its lifetime, when revoked with its service account, and
//! never allowed to rotate); GitLab CI's tokens (a fork's merge request
//! refused), a Kubernetes token that lives too long, and an issuer whose keys
//! are down (503, then the last good keys). The HTTP operation is tested in
//! `api::federation`.

use chrono::TimeDelta;
use hbx_service_accounts::domain::{
    AuditAction, AuditDetail, CapabilityKey, Condition, FederationRule, IdentityProvider, Issuer,
    OperatorName, ProviderKeys, ProviderKind,
};
use hbx_service_accounts::service::token_exchange::{
    ExchangeError, ExchangeRequest, TokenExchange,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::issuer::{TestIssuer, TestKey};
use crate::common::{Backend, TestServer};

const OWNER_ID: &str = "1001";
const REPOSITORY_ID: &str = "2002";

/// Claims exactly as GitHub Actions issues them, for a push to main of
/// acme/api running a reusable workflow of acme/workflows.
fn github_claims(issuer: &str, audience: &str, now: i64, jti: &str) -> Value {
    json!({
        "jti": jti,
        "sub": "repo:acme/api:ref:refs/heads/main",
        "aud": audience,
        "ref": "refs/heads/main",
        "sha": "d6a5bf3b1c0e2f6e1b0a7c3e4f5a6b7c8d9e0f1a",
        "repository": "acme/api",
        "repository_owner": "acme",
        "repository_owner_id": OWNER_ID,
        "repository_visibility": "private",
        "repository_id": REPOSITORY_ID,
        "run_id": "7345551234",
        "run_number": "42",
        "run_attempt": "1",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "deploy",
        "workflow_ref": "acme/api/.github/workflows/deploy.yml@refs/heads/main",
        "workflow_sha": "d6a5bf3b1c0e2f6e1b0a7c3e4f5a6b7c8d9e0f1a",
        "job_workflow_ref": "acme/workflows/.github/workflows/release.yml@refs/tags/v3",
        "job_workflow_sha": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
        "head_ref": "",
        "base_ref": "",
        "event_name": "push",
        "ref_type": "branch",
        "ref_protected": "true",
        "environment": "production",
        "iss": issuer,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 295,
    })
}

struct Federation {
    /// One exchange, as the server has: its keys and its audit throttle.
    exchange: TokenExchange,
    server: TestServer,
    issuer: TestIssuer,
    key: TestKey,
    audience: String,
    deployer: Uuid,
}

async fn federation(backend: Backend) -> Federation {
    let server = TestServer::start_on(backend).await;
    let key = TestKey::rsa("gh-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let deployer = server.create("deployer").await.id;
    server.grant_auth_manage(deployer).await;
    let audience = format!("https://api.hybridbox.io/accounts/{}", server.account_id);
    let conditions = vec![
        eq("repository_owner_id", OWNER_ID),
        eq("repository_id", REPOSITORY_ID),
        Condition::parse("ref", "glob", Some("refs/heads/*".into()), None).unwrap(),
        eq(
            "job_workflow_ref",
            "acme/workflows/.github/workflows/release.yml@refs/tags/v3",
        ),
    ];
    let keys = ProviderKeys::Discovery;
    provider_and_rule(
        &server,
        &issuer.issuer(),
        ProviderKind::GithubActions,
        keys,
        deployer,
        conditions,
    )
    .await;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    Federation {
        exchange: server.app.token_exchange(&log),
        server,
        issuer,
        key,
        audience,
        deployer,
    }
}

impl Federation {
    fn claims(&self, jti: &str) -> Value {
        github_claims(
            &self.issuer.issuer(),
            &self.audience,
            self.server.now().timestamp(),
            jti,
        )
    }

    fn request(&self, token: String) -> ExchangeRequest {
        ExchangeRequest {
            account_id: self.server.account_id,
            service_account_id: self.deployer,
            subject_token: token,
            scope: None,
        }
    }

    async fn exchange(&self, claims: &Value) -> Result<String, ExchangeError> {
        self.exchange
            .exchange(&self.request(self.key.sign(claims)), &Default::default())
            .await
            .map(|exchanged| exchanged.token.into_exposed())
    }

    async fn refused(&self, claims: &Value) -> &'static str {
        match self.exchange(claims).await {
            Err(ExchangeError::InvalidGrant { reason }) => reason,
            other => panic!("expected invalid_grant, got {:?}", other.map(|_| "a token")),
        }
    }
}

async fn a_github_actions_token_becomes_a_short_lived_service_account_token(backend: Backend) {
    let f = federation(backend).await;
    let token = f.exchange(&f.claims("run-1")).await.expect("exchanged");
    assert!(token.starts_with("hbxsa_"));
    let whoami = f.server.client(&token).whoami().await.unwrap().into_inner();
    assert_eq!(whoami.service_account_id, Some(f.deployer));
    assert_eq!(
        whoami.grants[0].capabilities,
        vec!["auth.manage".to_owned()]
    );
    assert!(!whoami.grants[0].owner);
    // It acts with its rule's capabilities: it may read its account...
    assert!(f.server.authenticates(&token).await);
    // ...but never rotate a token.
    let rotate = f
        .server
        .client(&token)
        .rotate_service_account(&f.server.account_id, &f.deployer, None, None)
        .await;
    let Err(progenitor_client::Error::ErrorResponse(refusal)) = rotate else {
        panic!("a federated token rotated: {rotate:?}");
    };
    assert_eq!(refusal.status().as_u16(), 403);
    // The exchange is audited with the rule and who presented the token.
    let events = f
        .server
        .app
        .store()
        .audit_events(f.server.account_id)
        .await
        .unwrap();
    let exchange = events
        .iter()
        .find(|e| e.action == AuditAction::TokenExchange)
        .expect("the exchange is audited");
    let Some(AuditDetail::Exchange {
        subject,
        federation_rule_id,
        ..
    }) = &exchange.detail
    else {
        panic!("no exchange detail: {exchange:?}");
    };
    assert_eq!(subject, "repo:acme/api:ref:refs/heads/main");
    assert!(federation_rule_id.is_some());
    // After its lifetime (15 minutes), it is refused.
    f.server.clock.advance(TimeDelta::minutes(15));
    assert!(!f.server.authenticates(&token).await);
}

async fn each_check_of_the_exchange_refuses_what_it_should(backend: Backend) {
    let f = federation(backend).await;
    // Replay: the same jti once only.
    f.exchange(&f.claims("run-2")).await.expect("first use");
    assert_eq!(f.refused(&f.claims("run-2")).await, "replayed");
    // A renamed repository with the same ids is the same repository.
    let mut renamed = f.claims("run-3");
    renamed["repository"] = json!("acme/api-renamed");
    renamed["sub"] = json!("repo:acme/api-renamed:ref:refs/heads/main");
    f.exchange(&renamed).await.expect("renamed, same ids");
    // The same name under another owner is someone else.
    let mut squatter = f.claims("run-4");
    squatter["repository_owner_id"] = json!("9999");
    assert_eq!(f.refused(&squatter).await, "no_matching_rule");
    // A fork's pull request runs on another ref and owner.
    let mut fork = f.claims("run-5");
    fork["ref"] = json!("refs/pull/7/merge");
    fork["event_name"] = json!("pull_request");
    assert_eq!(f.refused(&fork).await, "no_matching_rule");
    // The called workflow is its own condition.
    let mut other_workflow = f.claims("run-6");
    other_workflow["job_workflow_ref"] = json!("evil/workflows/.github/workflows/x.yml@main");
    assert_eq!(f.refused(&other_workflow).await, "no_matching_rule");
    // Times, lifetime, audience, jti.
    let now = f.server.now().timestamp();
    let mut expired = f.claims("run-7");
    expired["exp"] = json!(now - 61);
    assert_eq!(f.refused(&expired).await, "expired");
    let mut early = f.claims("run-8");
    early["nbf"] = json!(now + 120);
    assert_eq!(f.refused(&early).await, "not_yet_valid");
    let mut long = f.claims("run-9");
    long["exp"] = json!(now + 86_400 * 365);
    assert_eq!(f.refused(&long).await, "lifetime");
    let mut audience = f.claims("run-10");
    audience["aud"] = json!(["https://api.hybridbox.io/accounts/someone-else"]);
    assert_eq!(f.refused(&audience).await, "no_matching_rule");
    let mut two = f.claims("run-11");
    two["aud"] = json!([f.audience, "sts.amazonaws.com"]);
    assert_eq!(f.refused(&two).await, "no_matching_rule");
    let mut no_jti = f.claims("unused");
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_eq!(f.refused(&no_jti).await, "jti");
    // Another issuer, another key, and the public key as an HMAC secret.
    let mut elsewhere = f.claims("run-12");
    elsewhere["iss"] = json!("https://token.actions.githubusercontent.com");
    assert_eq!(f.refused(&elsewhere).await, "issuer_not_registered");
    let stranger = TestKey::rsa("gh-1");
    let forged = f
        .exchange
        .exchange(
            &f.request(stranger.sign(&f.claims("run-13"))),
            &Default::default(),
        )
        .await;
    assert!(matches!(
        forged,
        Err(ExchangeError::InvalidGrant {
            reason: "signature"
        })
    ));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("gh-1".into());
    let hmac = jsonwebtoken::encode(
        &header,
        &f.claims("run-14"),
        &jsonwebtoken::EncodingKey::from_secret(&f.key.public_der),
    )
    .unwrap();
    let confused = f
        .exchange
        .exchange(&f.request(hmac), &Default::default())
        .await;
    assert!(matches!(
        confused,
        Err(ExchangeError::InvalidGrant {
            reason: "algorithm"
        })
    ));
    // Scope: at most the rule's capabilities.
    let mut asking = f.request(f.key.sign(&f.claims("run-15")));
    asking.scope = Some(vec![CapabilityKey::parse("billing.read").unwrap()]);
    let scoped = f.exchange.exchange(&asking, &Default::default()).await;
    assert!(matches!(scoped, Err(ExchangeError::InvalidScope)));
    // The denial is audited once, with the condition that failed and what
    // was presented; no token appears in the log.
    let events = f
        .server
        .app
        .store()
        .audit_events(f.server.account_id)
        .await
        .unwrap();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::TokenExchangeDenied)
        .collect();
    assert_eq!(denied.len(), 1, "one a minute per reason: {denied:?}");
    let Some(AuditDetail::Exchange { failed, reason, .. }) = &denied[0].detail else {
        panic!("no detail");
    };
    assert_eq!(reason.as_deref(), Some("no_matching_rule"));
    assert_eq!(failed[0].claim, "repository_owner_id");
    assert_eq!(failed[0].presented.as_deref(), Some("9999"));
}

async fn a_minted_token_dies_with_its_service_account(backend: Backend) {
    let f = federation(backend).await;
    let token = f.exchange(&f.claims("run-20")).await.expect("exchanged");
    assert!(f.server.authenticates(&token).await);
    f.server.revoke(f.deployer).await;
    assert!(!f.server.authenticates(&token).await);
    assert_eq!(f.refused(&f.claims("run-21")).await, "service_account");
}

/// Registers an issuer of `kind` with `keys` and a rule for `sa` with
/// `conditions` and `auth.manage`, straight in the store.
async fn provider_and_rule(
    server: &TestServer,
    issuer: &str,
    kind: ProviderKind,
    keys: ProviderKeys,
    sa: Uuid,
    conditions: Vec<Condition>,
) {
    let store = server.app.store();
    let event = |action| {
        hbx_service_accounts::domain::AuditEvent::new(
            server.now(),
            server.account_id,
            None,
            action,
            hbx_service_accounts::domain::Actor::Operator,
            Default::default(),
        )
    };
    let provider = IdentityProvider {
        id: Uuid::new_v4(),
        account_id: server.account_id,
        name: OperatorName::parse(format!("{kind}")).unwrap(),
        issuer: Issuer::parse(issuer, true).unwrap(),
        kind,
        keys,
        max_subject_token_lifetime_seconds: 3600,
        created_at: server.now(),
    };
    store
        .create_identity_provider(&provider, &event(AuditAction::IdentityProviderCreate))
        .await
        .unwrap();
    let rule = FederationRule {
        id: Uuid::new_v4(),
        account_id: server.account_id,
        service_account_id: sa,
        identity_provider_id: provider.id,
        audience: format!("https://api.hybridbox.io/accounts/{}", server.account_id),
        conditions,
        capabilities: vec![CapabilityKey::parse("auth.manage").unwrap()],
        token_ttl_seconds: 900,
        description: None,
        created_at: server.now(),
    };
    store
        .create_federation_rule(&rule, &event(AuditAction::FederationRuleCreate))
        .await
        .unwrap();
}

fn eq(claim: &str, value: &str) -> Condition {
    Condition::parse(claim, "eq", Some(value.into()), None).unwrap()
}

/// Claims exactly as GitLab CI issues them (`id_tokens`), for a pipeline of
/// acme/api on main.
fn gitlab_claims(issuer: &str, audience: &str, now: i64, jti: &str) -> Value {
    json!({
        "namespace_id": "72", "namespace_path": "acme", "project_id": "20",
        "project_path": "acme/api", "user_id": "5", "user_login": "ci-bot",
        "user_email": "ci-bot@acme.example", "user_access_level": "developer",
        "pipeline_id": "574", "pipeline_source": "push", "job_id": "302",
        "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main",
        "ref_protected": "true", "environment": "production",
        "environment_protected": "true", "deployment_tier": "production",
        "runner_id": 1, "runner_environment": "gitlab-hosted", "sha": "714a629c",
        "project_visibility": "private", "ci_config_ref_uri":
            "gitlab.example.com/acme/api//.gitlab-ci.yml@refs/heads/main",
        "ci_config_sha": "714a629c", "jti": jti, "iss": issuer, "iat": now, "nbf": now - 5,
        "exp": now + 300, "sub": "project_path:acme/api:ref_type:branch:ref:main",
        "aud": audience,
    })
}

async fn gitlab_pipelines_of_the_pinned_project_only(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let key = TestKey::ed25519("gl-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let deployer = server.create("gitlab-deployer").await.id;
    server.grant_auth_manage(deployer).await;
    let conditions = vec![
        eq("namespace_id", "72"),
        eq("project_id", "20"),
        Condition::parse("ref_path", "glob", Some("refs/heads/*".into()), None).unwrap(),
        eq("pipeline_source", "push"),
    ];
    let keys = ProviderKeys::JwksUrl(issuer.jwks_url());
    provider_and_rule(
        &server,
        &issuer.issuer(),
        ProviderKind::GitlabCi,
        keys,
        deployer,
        conditions,
    )
    .await;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let exchange = server.app.token_exchange(&log);
    let audience = format!("https://api.hybridbox.io/accounts/{}", server.account_id);
    let now = server.now().timestamp();
    let request = |claims: &Value| ExchangeRequest {
        account_id: server.account_id,
        service_account_id: deployer,
        subject_token: key.sign(claims),
        scope: None,
    };
    let good = gitlab_claims(&issuer.issuer(), &audience, now, "gl-1");
    let minted = exchange
        .exchange(&request(&good), &Default::default())
        .await;
    let minted = minted.unwrap_or_else(|e| panic!("the project's pipeline: {e:?}"));
    assert_eq!(minted.minted.provenance.claims["pipeline_id"], "574");
    assert_eq!(minted.minted.provenance.claims["project_path"], "acme/api");
    // A fork's merge request pipeline runs in the fork's project and
    // namespace, from a merge request: refused.
    let mut fork = gitlab_claims(&issuer.issuer(), &audience, now, "gl-2");
    fork["namespace_id"] = json!("99");
    fork["namespace_path"] = json!("mallory");
    fork["project_id"] = json!("31");
    fork["project_path"] = json!("mallory/api");
    fork["pipeline_source"] = json!("merge_request_event");
    fork["ref_path"] = json!("refs/merge-requests/7/head");
    let refused = exchange
        .exchange(&request(&fork), &Default::default())
        .await;
    assert!(matches!(
        refused,
        Err(ExchangeError::InvalidGrant {
            reason: "no_matching_rule"
        })
    ));
    // Ids as JSON numbers (other issuers' habit) match the same conditions.
    let mut numbers = gitlab_claims(&issuer.issuer(), &audience, now, "gl-3");
    numbers["namespace_id"] = json!(72);
    numbers["project_id"] = json!(20);
    assert!(
        exchange
            .exchange(&request(&numbers), &Default::default())
            .await
            .is_ok()
    );
}

async fn a_kubernetes_token_must_be_short_lived(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let key = TestKey::p256("k8s-1");
    // A cluster the server cannot reach: its keys given inline.
    let issuer = "https://kubernetes.default.svc.cluster.local";
    let keys = ProviderKeys::Inline(json!({ "keys": [key.jwk] }).to_string());
    let worker = server.create("in-cluster").await.id;
    server.grant_auth_manage(worker).await;
    let sub = "system:serviceaccount:deploy:releaser";
    provider_and_rule(
        &server,
        issuer,
        ProviderKind::Kubernetes,
        keys,
        worker,
        vec![eq("sub", sub)],
    )
    .await;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let exchange = server.app.token_exchange(&log);
    let now = server.now().timestamp();
    let claims = |jti: &str, lifetime: i64| {
        json!({
            "iss": issuer, "sub": sub, "jti": jti,
            "aud": [format!("https://api.hybridbox.io/accounts/{}", server.account_id)],
            "kubernetes.io": {"namespace": "deploy", "serviceaccount": {"name": "releaser"}},
            "iat": now - 10, "nbf": now - 10, "exp": now - 10 + lifetime,
        })
    };
    let request = |claims: &Value| ExchangeRequest {
        account_id: server.account_id,
        service_account_id: worker,
        subject_token: key.sign(claims),
        scope: None,
    };
    // A projected token of ten minutes: taken.
    let projected = exchange
        .exchange(&request(&claims("k-1", 600)), &Default::default())
        .await;
    assert!(projected.is_ok(), "{:?}", projected.err());
    // A legacy token that lives a year: refused, whatever else is right.
    let legacy = exchange
        .exchange(&request(&claims("k-2", 365 * 86_400)), &Default::default())
        .await;
    assert!(matches!(
        legacy,
        Err(ExchangeError::InvalidGrant { reason: "lifetime" })
    ));
}

async fn an_issuer_whose_keys_are_down_is_503_then_last_good_keys(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let key = TestKey::rsa("up-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let deployer = server.create("keys").await.id;
    server.grant_auth_manage(deployer).await;
    // The keys from a URL that is refused at first: 503, never a refusal.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/jwks", closed.local_addr().unwrap());
    drop(closed);
    let other_issuer = format!("{}/elsewhere", issuer.issuer());
    let pin = vec![eq("repository_owner_id", OWNER_ID)];
    provider_and_rule(
        &server,
        &other_issuer,
        ProviderKind::GithubActions,
        ProviderKeys::JwksUrl(dead),
        deployer,
        pin.clone(),
    )
    .await;
    let log = slog::Logger::root(slog::Discard, slog::o!());
    let exchange = server.app.token_exchange(&log);
    let audience = format!("https://api.hybridbox.io/accounts/{}", server.account_id);
    let now = server.now().timestamp();
    let request = |issuer: &str, jti: &str, signer: &TestKey| ExchangeRequest {
        account_id: server.account_id,
        service_account_id: deployer,
        subject_token: signer.sign(&github_claims(issuer, &audience, now, jti)),
        scope: None,
    };
    let down = exchange
        .exchange(&request(&other_issuer, "d-1", &key), &Default::default())
        .await;
    assert!(
        matches!(down, Err(ExchangeError::Unavailable(_))),
        "{:?}",
        down.err().map(|e| e.to_string())
    );
    // Keys fetched once, then the issuer goes away: the last good keys
    // still verify tokens signed with them.
    provider_and_rule(
        &server,
        &issuer.issuer(),
        ProviderKind::GithubActions,
        ProviderKeys::JwksUrl(issuer.jwks_url()),
        deployer,
        pin,
    )
    .await;
    let up = exchange
        .exchange(&request(&issuer.issuer(), "u-1", &key), &Default::default())
        .await;
    assert!(up.is_ok(), "{:?}", up.err());
    let issuer_url = issuer.issuer();
    drop(issuer);
    let cached = exchange
        .exchange(&request(&issuer_url, "u-2", &key), &Default::default())
        .await;
    assert!(cached.is_ok(), "the last good keys: {:?}", cached.err());
    // A key it never had cannot be fetched now: 503 again, not a refusal.
    let rotated = TestKey::rsa("up-2");
    server.clock.advance(chrono::TimeDelta::seconds(11));
    let unknown = exchange
        .exchange(&request(&issuer_url, "u-3", &rotated), &Default::default())
        .await;
    assert!(
        matches!(unknown, Err(ExchangeError::Unavailable(_))),
        "{:?}",
        unknown.err().map(|e| e.to_string())
    );
}

on_both_stores!(
    a_github_actions_token_becomes_a_short_lived_service_account_token,
    each_check_of_the_exchange_refuses_what_it_should,
    a_minted_token_dies_with_its_service_account,
    gitlab_pipelines_of_the_pinned_project_only,
    a_kubernetes_token_must_be_short_lived,
    an_issuer_whose_keys_are_down_is_503_then_last_good_keys,
);
