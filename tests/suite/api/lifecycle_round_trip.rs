//! List, get, rotate and revoke end to end through the generated client:
//! success and every error status of each, expiry at its boundary, and the
//! maximum token lifetime.

use crate::common::{Backend, TestServer, create_request, expect_error, last4_of};
use chrono::TimeDelta;
use hbx_service_accounts::client::types::CreateServiceAccountRequest;
use hbx_service_accounts::service::TokenPolicy;
use hbx_service_accounts::token::{self, TokenPrefix};
use std::num::NonZeroU32;
use uuid::Uuid;

async fn rotation_issues_a_new_token_and_kills_the_old_one(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let expires_at = server.now() + TimeDelta::days(10);
    let created = server.create_expiring("rotating", expires_at).await;
    // It is used once, so that rotation has a last_used_at to reset.
    assert!(server.authenticates(&created.token).await);
    server.flush_last_use().await;

    server.clock.advance(TimeDelta::minutes(5));
    let response = server
        .owner()
        .rotate_service_account(&server.account_id, &created.id, None, None)
        .await
        .expect("rotate");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated = response.into_inner();

    assert_eq!(rotated.id, created.id);
    assert_eq!(rotated.name, created.name);
    assert_eq!(rotated.created_at, created.created_at);
    assert_eq!(rotated.created_by_user_id, created.created_by_user_id);
    assert_eq!(rotated.expires_at, Some(expires_at));
    assert_eq!(rotated.updated_at, server.now());
    assert_eq!(rotated.last_used_at, None, "last_used_at starts over");
    assert_ne!(rotated.token, created.token);
    assert_ne!(rotated.token_public_id, created.token_public_id);
    let parsed = token::parse(&TokenPrefix::default(), &rotated.token).unwrap();
    assert_eq!(rotated.token_public_id, parsed.public_id());
    assert_eq!(rotated.token_last4, last4_of(&rotated.token));

    assert!(
        !server.authenticates(&created.token).await,
        "the old token is dead at once"
    );
    assert!(server.authenticates(&rotated.token).await);

    // get shows the same, without the token.
    let got = server
        .owner()
        .get_service_account(&server.account_id, &created.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.token_public_id, rotated.token_public_id);
    assert_eq!(got.updated_at, rotated.updated_at);
}

async fn revocation_kills_the_token_hides_it_and_happens_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // Created a second apart, so creation order is list order.
    server.clock.advance(TimeDelta::seconds(1));
    let kept = server.create("kept").await;
    server.clock.advance(TimeDelta::seconds(1));
    let doomed = server.create("doomed").await;
    assert!(server.authenticates(&doomed.token).await);
    // That use is recorded before the revocation, so the snapshots below agree.
    server.flush_last_use().await;

    server.clock.advance(TimeDelta::seconds(30));
    let revoked = server
        .owner()
        .revoke_service_account(&server.account_id, &doomed.id)
        .await
        .expect("revoke")
        .into_inner();
    assert_eq!(revoked.revoked_at, Some(server.now()));
    assert_eq!(
        revoked.revoked_by_user_id, None,
        "a service account revoked it"
    );
    assert_eq!(revoked.updated_at, server.now());
    assert!(
        !server.authenticates(&doomed.token).await,
        "revoked at once"
    );

    // Hidden from the default list, shown with include_revoked.
    let owner = server.owner();
    let listed = owner
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<Uuid> = listed.iter().map(|sa| sa.id).collect();
    assert_eq!(ids, vec![server.owner_id, kept.id]);
    let all = owner
        .list_service_accounts(&server.account_id, None, Some(true), None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], revoked);

    // A second revocation returns the first, unchanged.
    server.clock.advance(TimeDelta::hours(1));
    let again = owner
        .revoke_service_account(&server.account_id, &doomed.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, revoked);

    // Its name is free again.
    server.create("doomed").await;
}

async fn revoked_and_expired_service_accounts_cannot_be_rotated(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let revoked = server.create("revoked").await;
    server.revoke(revoked.id).await;
    expect_error(
        server
            .owner()
            .rotate_service_account(&server.account_id, &revoked.id, None, None)
            .await,
        409,
        "service_account_revoked",
    );

    let expires_at = server.now() + TimeDelta::hours(1);
    let expiring = server.create_expiring("expiring", expires_at).await;
    // One microsecond before expiry: still a working token.
    server.clock.set(expires_at - TimeDelta::microseconds(1));
    assert!(server.authenticates(&expiring.token).await);
    // At expires_at: the token is dead, and the service account cannot be rotated.
    server.clock.set(expires_at);
    assert!(!server.authenticates(&expiring.token).await);
    let error = expect_error(
        server
            .owner()
            .rotate_service_account(&server.account_id, &expiring.id, None, None)
            .await,
        409,
        "service_account_expired",
    );
    assert!(error.message.contains("create a new"));
    // Expired ones are still listed.
    let listed = server
        .owner()
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .unwrap()
        .into_inner();
    assert!(listed.iter().any(|sa| sa.id == expiring.id));
}

async fn another_accounts_service_account_is_404_whatever_the_caller_holds(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let other = server
        .app
        .admin()
        .bootstrap(server.app.minter(), "other".into(), "other owner".into())
        .await
        .unwrap();
    let theirs = other.owner.service_account.id;
    let owner = server.owner();
    // Through our own account's path (where we are owners) and through theirs.
    for account in [server.account_id, other.account.id] {
        expect_error(
            owner.get_service_account(&account, &theirs).await,
            404,
            "not_found",
        );
        expect_error(
            owner
                .rotate_service_account(&account, &theirs, None, None)
                .await,
            404,
            "not_found",
        );
        expect_error(
            owner.revoke_service_account(&account, &theirs).await,
            404,
            "not_found",
        );
    }
    expect_error(
        owner
            .list_service_accounts(&other.account.id, None, None, None)
            .await,
        404,
        "not_found",
    );
    // And a service account that does not exist at all looks the same.
    let nobody = Uuid::new_v4();
    expect_error(
        owner.get_service_account(&server.account_id, &nobody).await,
        404,
        "not_found",
    );
    expect_error(
        owner
            .rotate_service_account(&server.account_id, &nobody, None, None)
            .await,
        404,
        "not_found",
    );
    expect_error(
        owner
            .revoke_service_account(&server.account_id, &nobody)
            .await,
        404,
        "not_found",
    );
    // Their token still works in their account: nothing happened to it.
    server
        .client(other.owner.token.expose())
        .get_service_account(&other.account.id, &theirs)
        .await
        .expect("their token still works");
}

async fn every_operation_answers_401_403_and_404(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let target = server.create("target").await;
    let no_grants = server.create("no grants").await;
    let account = server.account_id;
    let id = target.id;
    let elsewhere = Uuid::new_v4();

    for (token, status, code, account) in [
        (None, 401, "unauthenticated", account),
        (Some("hbxsa_nope".to_owned()), 401, "invalid_token", account),
        (Some(no_grants.token.clone()), 403, "forbidden", account),
        (
            Some(server.owner_token.clone()),
            404,
            "not_found",
            elsewhere,
        ),
    ] {
        let client = match &token {
            None => server.client_with_authorization(None),
            Some(token) => server.client(token),
        };
        expect_error(
            client
                .list_service_accounts(&account, None, None, None)
                .await,
            status,
            code,
        );
        expect_error(
            client.get_service_account(&account, &id).await,
            status,
            code,
        );
        expect_error(
            client
                .rotate_service_account(&account, &id, None, None)
                .await,
            status,
            code,
        );
        expect_error(
            client.revoke_service_account(&account, &id).await,
            status,
            code,
        );
    }
    // None of that changed the target.
    assert!(server.authenticates(&target.token).await);
}

async fn list_rejects_bad_paging_parameters(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner();
    let account = &server.account_id;
    let limit = |n| Some(NonZeroU32::new(n).unwrap());
    let error = expect_error(
        owner
            .list_service_accounts(account, None, None, limit(1001))
            .await,
        400,
        "invalid_request",
    );
    assert!(error.message.contains("`limit`"), "{}", error.message);
    let unknown = Uuid::new_v4();
    let error = expect_error(
        owner
            .list_service_accounts(account, Some(&unknown), None, None)
            .await,
        400,
        "invalid_request",
    );
    assert!(error.message.contains("`after`"), "{}", error.message);
    assert_eq!(
        owner
            .list_service_accounts(account, None, None, limit(1000))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        owner
            .list_service_accounts(account, None, None, limit(1))
            .await
            .unwrap()
            .len(),
        1
    );

    // What the generated client cannot send.
    for (query, mentions) in [
        ("limit=0", "`limit`"),
        ("limit=-1", "`limit`"),
        ("limit=abc", "`limit`"),
        ("limit=99999999999", "`limit`"),
        ("include_revoked=yes", "`include_revoked`"),
        ("after=not-a-uuid", "`after`"),
        ("include_revoke=true", "include_revoke"),
    ] {
        let response = server
            .raw()
            .get(format!("{}?{query}", server.create_url(account)))
            .bearer_auth(&server.owner_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], "invalid_request");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{query}: {message}");
    }
}

async fn five_thousand_service_accounts_page_exactly_once_in_order(backend: Backend) {
    // Seeded through the service layer into a data directory in memory (on
    // /dev/shm where it exists), so that 5,000 durable commits take seconds.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let server = TestServer::start_in(backend, dir, |_| {}).await;
    let service = server.app.service_accounts();
    let caller = hbx_service_accounts::service::Caller {
        principal: hbx_service_accounts::auth::Principal::ServiceAccount {
            service_account_id: server.owner_id,
            account_id: server.account_id,
        },
        groups: vec![],
        previous_token: false,
        origin: Default::default(),
        federated: None,
    };
    let access = hbx_service_accounts::service::Authorizer::new(
        server.app.store().clone(),
        std::sync::Arc::new(hbx_service_accounts::domain::RoleTable::default_table()),
    )
    .authorize(
        caller,
        server.account_id,
        hbx_service_accounts::domain::Capability::AuthManage,
    )
    .await
    .unwrap();
    let mut expected = vec![server.owner_id];
    for i in 0..4999 {
        // Every third one shares its created_at with the next, so ties occur.
        if i % 3 != 0 {
            server.clock.advance(TimeDelta::milliseconds(1));
        }
        let made = service
            .create(
                &access,
                hbx_service_accounts::service::CreateServiceAccount {
                    name: format!("sa-{i:04}"),
                    expires_at: None,
                },
                None,
            )
            .await
            .unwrap();
        expected.push(made.service_account.id);
    }

    let owner = server.owner();
    let mut seen: Vec<(chrono::DateTime<chrono::Utc>, Uuid)> = Vec::new();
    let mut after: Option<Uuid> = None;
    let mut pages = 0;
    loop {
        let page = owner
            .list_service_accounts(
                &server.account_id,
                after.as_ref(),
                None,
                NonZeroU32::new(100),
            )
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.iter().map(|sa| (sa.created_at, sa.id)));
        if page.len() < 100 {
            break;
        }
        after = page.last().map(|sa| sa.id);
    }
    assert_eq!(seen.len(), 5000);
    assert_eq!(pages, 51, "50 full pages and an empty one");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in (created_at, id) order, each exactly once");
    let mut ids: Vec<Uuid> = seen.iter().map(|(_, id)| *id).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
}

async fn a_maximum_token_lifetime_makes_expiry_required_and_bounded(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.token_policy = TokenPolicy {
            max_lifetime: Some(TimeDelta::days(30)),
            ..TokenPolicy::default()
        };
    })
    .await;
    let owner = server.owner();
    let with_expiry = |name: &str, expires_at| CreateServiceAccountRequest {
        name: name.parse().unwrap(),
        expires_at,
    };
    let error = expect_error(
        owner
            .create_service_account(&server.account_id, None, &create_request("forever"))
            .await,
        400,
        "invalid_request",
    );
    assert!(
        error.message.contains("`expires_at` is required"),
        "{}",
        error.message
    );
    assert!(error.message.contains("30 days"), "{}", error.message);
    let too_late = server.now() + TimeDelta::days(30) + TimeDelta::microseconds(1);
    let error = expect_error(
        owner
            .create_service_account(
                &server.account_id,
                None,
                &with_expiry("too long", Some(too_late)),
            )
            .await,
        400,
        "invalid_request",
    );
    assert!(
        error.message.contains("at most 30 days"),
        "{}",
        error.message
    );
    let longest = server.now() + TimeDelta::days(30);
    let created = owner
        .create_service_account(
            &server.account_id,
            None,
            &with_expiry("longest", Some(longest)),
        )
        .await
        .expect("exactly the maximum is allowed")
        .into_inner();
    assert_eq!(created.expires_at, Some(longest));
    // Rotation keeps expires_at, so it cannot extend a token's life.
    let rotated = owner
        .rotate_service_account(&server.account_id, &created.id, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rotated.expires_at, Some(longest));
}

async fn rotation_never_hands_over_more_than_the_caller_holds(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let manager = server.create("manager").await;
    let peer = server.create("peer").await;
    server.grant_auth_manage(manager.id).await;
    server.grant_auth_manage(peer.id).await;
    let as_manager = server.client(&manager.token);

    // The owner's token would make the manager an owner: refused, and nothing changes.
    let error = expect_error(
        as_manager
            .rotate_service_account(&server.account_id, &server.owner_id, None, None)
            .await,
        403,
        "forbidden",
    );
    assert!(error.message.contains("account_owner"), "{}", error.message);
    assert!(server.authenticates(&server.owner_token).await);

    // A peer with the same capabilities, and itself: fine.
    let peer_rotated = as_manager
        .rotate_service_account(&server.account_id, &peer.id, None, None)
        .await
        .expect("a peer holds nothing the manager lacks")
        .into_inner();
    assert!(server.authenticates(&peer_rotated.token).await);
    let own = as_manager
        .rotate_service_account(&server.account_id, &manager.id, None, None)
        .await
        .expect("a service account may always rotate itself")
        .into_inner();
    // The owner may rotate anyone.
    let manager_now = server
        .owner()
        .rotate_service_account(&server.account_id, &manager.id, None, None)
        .await
        .expect("an owner holds everything")
        .into_inner();
    assert!(!server.authenticates(&own.token).await);
    // Revoking is not an escalation (it takes access away, it gives none): a
    // manager may revoke another service account, even one that holds more
    // than it does (here, an owner of the account).
    let senior = server.create("senior").await;
    server
        .app
        .admin()
        .add_grant(
            server.account_id,
            hbx_service_accounts::domain::Subject::ServiceAccount(senior.id),
            hbx_service_accounts::domain::Capability::AccountOwner.into(),
        )
        .await
        .expect("make it an owner");
    assert!(server.authenticates(&senior.token).await);
    let revoked = server
        .client(&manager_now.token)
        .revoke_service_account(&server.account_id, &senior.id)
        .await
        .expect("a manager revokes an owner service account")
        .into_inner();
    assert!(revoked.revoked_at.is_some());
    assert!(!server.authenticates(&senior.token).await);
}

on_every_store!(
    rotation_never_hands_over_more_than_the_caller_holds,
    rotation_issues_a_new_token_and_kills_the_old_one,
    revocation_kills_the_token_hides_it_and_happens_once,
    revoked_and_expired_service_accounts_cannot_be_rotated,
    another_accounts_service_account_is_404_whatever_the_caller_holds,
    every_operation_answers_401_403_and_404,
    list_rejects_bad_paging_parameters,
    five_thousand_service_accounts_page_exactly_once_in_order,
    a_maximum_token_lifetime_makes_expiry_required_and_bounded,
);
