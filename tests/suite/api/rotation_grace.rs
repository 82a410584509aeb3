//! Rotation without downtime (contract §9) end to end through the generated
//! client, on both stores: during a grace period both tokens work and answers
//! to the previous one carry `Sunset`; the previous token ends at
//! `previous_token_expires_at` (to the instant, on the injected clock), at
//! retirement, at the next rotation, at revocation and at expiry; whoami and
//! introspection say which token was used; its uses are recorded; and a grace
//! period over the server's maximum is refused without changing anything.

use chrono::{DateTime, TimeDelta, Utc};
use hbx_service_accounts::client::types::{
    IntrospectionRequest, ServiceAccount, ServiceAccountWithToken, TokenGeneration,
    WhoamiTokenGeneration,
};
use hbx_service_accounts::domain::AuditAction;

use crate::common::{Backend, TestServer, expect_error, last4_of, public_id_of};

/// An hour, in seconds.
const HOUR: u64 = 3600;

/// `at` as an HTTP-date (RFC 9110 §5.6.7), as `Sunset` carries it.
fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn rotate_with_grace(
    server: &TestServer,
    sa: &ServiceAccountWithToken,
    grace: Option<u64>,
) -> ServiceAccountWithToken {
    server
        .owner()
        .rotate_service_account(&server.account_id, &sa.id, grace, None)
        .await
        .expect("rotate")
        .into_inner()
}

async fn get(server: &TestServer, sa: &ServiceAccountWithToken) -> ServiceAccount {
    server
        .owner()
        .get_service_account(&server.account_id, &sa.id)
        .await
        .unwrap()
        .into_inner()
}

/// A service account holding `auth.manage`, so that its token gets 200s.
async fn worker(server: &TestServer, name: &str) -> ServiceAccountWithToken {
    let sa = server.create(name).await;
    server.grant_auth_manage(sa.id).await;
    sa
}

/// Status and `Sunset` header of getting `sa` with `token`.
async fn get_with(
    server: &TestServer,
    token: &str,
    sa: &ServiceAccountWithToken,
) -> (u16, Option<String>) {
    let response = server
        .raw()
        .get(format!(
            "{}/{}",
            server.create_url(server.account_id),
            sa.id
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let sunset = response
        .headers()
        .get("sunset")
        .map(|value| value.to_str().unwrap().to_owned());
    (response.status().as_u16(), sunset)
}

fn assert_no_previous_token(sa: &ServiceAccount) {
    assert_eq!(
        (
            &sa.previous_token_public_id,
            &sa.previous_token_last4,
            sa.previous_token_expires_at,
            sa.previous_token_last_used_at
        ),
        (&None, &None, None, None),
        "no previous token is shown: {sa:?}"
    );
}

async fn during_the_grace_both_tokens_work(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let old = worker(&server, "deployer").await;
    // Used before the rotation: the previous token keeps that last use.
    assert_eq!(get_with(&server, &old.token, &old).await.0, 200);
    server.flush_last_use().await;
    let used_before = server.now();

    server.clock.advance(TimeDelta::minutes(5));
    let rotated_at = server.now();
    let new = rotate_with_grace(&server, &old, Some(HOUR)).await;
    let grace_ends = rotated_at + TimeDelta::hours(1);
    assert_ne!(new.token, old.token);
    assert_eq!(new.last_used_at, None, "the new token is unused");
    assert_eq!(
        new.previous_token_public_id.as_deref(),
        Some(public_id_of(&old.token))
    );
    assert_eq!(
        new.previous_token_last4.as_deref(),
        Some(last4_of(&old.token))
    );
    assert_eq!(new.previous_token_expires_at, Some(grace_ends));
    assert_eq!(new.previous_token_last_used_at, Some(used_before));

    // Both work; only the old one's answers carry Sunset, errors included.
    assert_eq!(
        get_with(&server, &old.token, &old).await,
        (200, Some(http_date(grace_ends)))
    );
    assert_eq!(get_with(&server, &new.token, &old).await, (200, None));
    let missing = server
        .raw()
        .get(format!(
            "{}/{}",
            server.create_url(server.account_id),
            uuid::Uuid::new_v4()
        ))
        .bearer_auth(&old.token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["sunset"].to_str().unwrap(),
        http_date(grace_ends)
    );
    // Through the generated client, the header is documented and readable.
    let listed = server
        .client(&old.token)
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .unwrap();
    assert_eq!(
        listed.headers()["sunset"].to_str().unwrap(),
        http_date(grace_ends)
    );

    // Whoami and introspection tell which token was used.
    let me_old = server.client(&old.token).whoami().await.unwrap();
    assert_eq!(
        me_old.headers()["sunset"].to_str().unwrap(),
        http_date(grace_ends)
    );
    let me_old = me_old.into_inner();
    assert_eq!(
        me_old.token_generation,
        Some(WhoamiTokenGeneration::Previous)
    );
    assert_eq!(
        me_old.token_public_id.as_deref(),
        Some(public_id_of(&old.token))
    );
    assert_eq!(me_old.expires_at, Some(grace_ends));
    let me_new = server
        .client(&new.token)
        .whoami()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        me_new.token_generation,
        Some(WhoamiTokenGeneration::Current)
    );
    assert_eq!(me_new.expires_at, None);
    let (client_id, secret) = server.new_introspection_client("gateway").await;
    let introspect = async |token: &str| {
        server
            .introspector(&client_id, &secret)
            .introspect_token(&IntrospectionRequest {
                token: token.to_owned(),
                token_type_hint: None,
            })
            .await
            .unwrap()
            .into_inner()
    };
    let previous = introspect(&old.token).await;
    assert!(previous.active);
    assert_eq!(previous.exp, Some(grace_ends.timestamp()));
    assert_eq!(
        previous.hbx_token_generation,
        Some(TokenGeneration::Previous)
    );
    let current = introspect(&new.token).await;
    assert_eq!(current.hbx_token_generation, Some(TokenGeneration::Current));

    // A later use of the previous token is recorded as its own last use.
    server.clock.advance(TimeDelta::minutes(2));
    let used_during = server.now();
    assert_eq!(get_with(&server, &old.token, &old).await.0, 200);
    server.flush_last_use().await;
    let seen = get(&server, &old).await;
    assert_eq!(seen.previous_token_last_used_at, Some(used_during));
    assert_eq!(
        seen.last_used_at,
        Some(rotated_at),
        "the new token's uses (whoami above) are its own"
    );

    // To the instant: the old token works until the grace ends, not at it.
    server.clock.set(grace_ends - TimeDelta::microseconds(1));
    assert_eq!(get_with(&server, &old.token, &old).await.0, 200);
    server.clock.set(grace_ends);
    assert_eq!(get_with(&server, &old.token, &old).await.0, 401);
    assert!(!introspect(&old.token).await.active);
    assert_eq!(get_with(&server, &new.token, &old).await, (200, None));
    assert_no_previous_token(&get(&server, &old).await);
}

async fn retirement_ends_the_grace_at_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let old = worker(&server, "deployer").await;
    let new = rotate_with_grace(&server, &old, Some(HOUR)).await;
    assert_eq!(get_with(&server, &old.token, &old).await.0, 200, "warm");
    server.clock.advance(TimeDelta::seconds(30));
    let retired = server
        .owner()
        .retire_previous_token(&server.account_id, &old.id)
        .await
        .unwrap()
        .into_inner();
    assert_no_previous_token(&retired);
    assert_eq!(retired.updated_at, server.now());
    assert_eq!(retired.token_public_id, new.token_public_id);
    // The next request, even on a warm cache.
    assert_eq!(get_with(&server, &old.token, &old).await.0, 401);
    assert_eq!(get_with(&server, &new.token, &old).await.0, 200);
    // Again: nothing to retire, the same answer, nothing recorded.
    server.clock.advance(TimeDelta::seconds(30));
    let again = server
        .owner()
        .retire_previous_token(&server.account_id, &old.id)
        .await
        .unwrap()
        .into_inner();
    // Unchanged, but for the new token's use just now (written in the
    // background, so it may or may not have landed).
    assert_eq!(
        ServiceAccount {
            last_used_at: retired.last_used_at,
            ..again
        },
        retired
    );
    let events = server
        .app
        .store()
        .audit_events(server.account_id)
        .await
        .unwrap();
    let retirements: Vec<_> = events
        .iter()
        .filter(|event| event.action == AuditAction::RetirePreviousToken)
        .collect();
    assert_eq!(retirements.len(), 1, "{events:?}");
    assert_eq!(retirements[0].service_account_id, Some(old.id));
    let detail = format!("{:?}", retirements[0].detail);
    assert!(detail.contains(public_id_of(&old.token)), "{detail}");
    let rotation = events
        .iter()
        .find(|event| event.action == AuditAction::Rotate)
        .expect("the rotation is audited");
    assert!(
        format!("{:?}", rotation.detail).contains(public_id_of(&old.token)),
        "the rotation records its grace: {:?}",
        rotation.detail
    );

    // Retiring where there is no grace, or no such service account.
    let plain = worker(&server, "never rotated").await;
    let untouched = server
        .owner()
        .retire_previous_token(&server.account_id, &plain.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(untouched.updated_at, plain.updated_at, "nothing changed");
    expect_error(
        server
            .owner()
            .retire_previous_token(&server.account_id, &uuid::Uuid::new_v4())
            .await,
        404,
        "not_found",
    );
    // It needs auth.manage, like every operation here.
    let bare = server.create("no grants").await;
    expect_error(
        server
            .client(&bare.token)
            .retire_previous_token(&server.account_id, &old.id)
            .await,
        403,
        "forbidden",
    );
}

async fn a_second_rotation_ends_the_first_grace(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let first = worker(&server, "deployer").await;
    let second = rotate_with_grace(&server, &first, Some(HOUR)).await;
    let third = rotate_with_grace(&server, &first, Some(HOUR)).await;
    assert_eq!(get_with(&server, &first.token, &first).await.0, 401);
    assert_eq!(get_with(&server, &second.token, &first).await.0, 200);
    assert_eq!(get_with(&server, &third.token, &first).await.0, 200);
    assert_eq!(
        third.previous_token_public_id.as_deref(),
        Some(public_id_of(&second.token))
    );
    // Without a grace period, every earlier token stops at once.
    let fourth = rotate_with_grace(&server, &first, None).await;
    assert_eq!(
        (
            fourth.previous_token_public_id,
            fourth.previous_token_expires_at
        ),
        (None, None)
    );
    for dead in [&first, &second, &third] {
        assert_eq!(get_with(&server, &dead.token, &first).await.0, 401);
    }
    assert_eq!(get_with(&server, &fourth.token, &first).await.0, 200);
    // So does an explicit 0.
    let fifth = rotate_with_grace(&server, &first, Some(0)).await;
    assert_eq!(fifth.previous_token_public_id, None);
    assert_eq!(get_with(&server, &fourth.token, &first).await.0, 401);
}

async fn revocation_and_expiry_end_both_tokens(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let old = worker(&server, "revoked in its grace").await;
    let new = rotate_with_grace(&server, &old, Some(HOUR)).await;
    let revoked = server
        .owner()
        .revoke_service_account(&server.account_id, &old.id)
        .await
        .unwrap()
        .into_inner();
    assert_no_previous_token(&revoked);
    for token in [&old.token, &new.token] {
        assert_eq!(get_with(&server, token, &old).await.0, 401);
    }

    // A grace longer than the token's own life ends with it.
    let expires_at = server.now() + TimeDelta::minutes(10);
    let expiring = server.create_expiring("expiring", expires_at).await;
    server.grant_auth_manage(expiring.id).await;
    let renewed = rotate_with_grace(&server, &expiring, Some(HOUR)).await;
    assert_eq!(renewed.previous_token_expires_at, Some(expires_at));
    server.clock.set(expires_at - TimeDelta::microseconds(1));
    for token in [&expiring.token, &renewed.token] {
        assert_eq!(get_with(&server, token, &expiring).await.0, 200);
    }
    server.clock.set(expires_at);
    for token in [&expiring.token, &renewed.token] {
        assert_eq!(get_with(&server, token, &expiring).await.0, 401);
    }
}

async fn a_grace_over_the_maximum_is_refused(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.token_policy.max_rotation_grace = TimeDelta::hours(1);
    })
    .await;
    let sa = worker(&server, "bounded").await;
    let before = get(&server, &sa).await;
    for grace in [HOUR + 1, 604_801, u64::from(u32::MAX), u64::MAX] {
        let error = expect_error(
            server
                .owner()
                .rotate_service_account(&server.account_id, &sa.id, Some(grace), None)
                .await,
            400,
            "invalid_request",
        );
        assert!(
            error.message.contains("grace_period_seconds")
                && error.message.contains("--max-rotation-grace"),
            "{grace}: {}",
            error.message
        );
    }
    // Not numbers at all: 400 naming the parameter, as any query.
    for raw in ["-1", "1.5", "an-hour", "99999999999999999999999"] {
        let response = server
            .raw()
            .post(format!(
                "{}/{}/rotate?grace_period_seconds={raw}",
                server.create_url(server.account_id),
                sa.id
            ))
            .bearer_auth(&server.owner_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{raw}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error_code"], "invalid_request");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("grace_period_seconds"),
            "{raw}: {error}"
        );
    }
    // Nothing changed: the same token, no rotation recorded.
    assert_eq!(get(&server, &sa).await, before);
    assert_eq!(get_with(&server, &sa.token, &sa).await.0, 200);
    assert_eq!(server.audit_count(AuditAction::Rotate).await, 0);
    // The maximum itself is allowed.
    let rotated = rotate_with_grace(&server, &sa, Some(HOUR)).await;
    assert_eq!(
        rotated.previous_token_expires_at,
        Some(server.now() + TimeDelta::hours(1))
    );
}

on_every_store!(
    during_the_grace_both_tokens_work,
    retirement_ends_the_grace_at_once,
    a_second_rotation_ends_the_first_grace,
    revocation_and_expiry_end_both_tokens,
    a_grace_over_the_maximum_is_refused,
);
