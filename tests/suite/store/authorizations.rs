//! Authorizations and role assignments in the store: one live copy of each,
//! revoked (never deleted) and audited, listed with every filter in pages,
//! read back as a subject's holdings; the last owner kept; a service account
//! subject only in its own account and only while it is live.

use hbx_service_accounts::domain::{
    AuditAction, AuditDetail, CapabilityKey, GrantKind, ResourceType, RoleAssignment, RoleKey,
    SubjectType,
};

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

fn capability(key: &str) -> Grants {
    Grants::Capability(CapabilityKey::parse(key).unwrap())
}

/// Grants are per account and unique while live; revoking is once; a
/// subject's holdings are what is live, by account.
async fn grants_are_unique_while_live_and_revoked_once(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let other = account("other");
    store.create_account(&other).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let user = Subject::user(Uuid::new_v4());
    let workspace = Resource {
        kind: ResourceType::Workspace,
        id: Uuid::new_v4(),
    };

    let manage = authorization(
        acme.id,
        worker.clone(),
        capability("auth.manage"),
        None,
        now,
    );
    add_grant(&store, &manage).await.unwrap();
    let again = authorization(
        acme.id,
        worker.clone(),
        capability("auth.manage"),
        None,
        now,
    );
    assert!(matches!(
        add_grant(&store, &again).await,
        Err(StoreError::AuthorizationExists)
    ));
    // The same capability on a resource is another grant.
    let scoped = authorization(
        acme.id,
        worker.clone(),
        capability("auth.manage"),
        Some(workspace),
        now,
    );
    add_grant(&store, &scoped).await.unwrap();
    let owner = authorization(other.id, user.clone(), Grants::AccountOwner, None, now);
    add_grant(&store, &owner).await.unwrap();

    let held = store.holdings(&worker).await.unwrap();
    assert_eq!(held.len(), 1);
    let mut found = held[&acme.id].authorizations.clone();
    found.sort_by_key(|a| a.resource.is_some());
    assert_eq!(found, vec![manage.clone(), scoped.clone()]);
    assert_eq!(
        store.holdings(&user).await.unwrap()[&other.id].authorizations,
        vec![owner]
    );

    // A service account only in its own account; accounts must exist.
    let elsewhere = authorization(other.id, worker.clone(), capability("a.b"), None, now);
    assert!(matches!(
        add_grant(&store, &elsewhere).await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
    let nowhere = authorization(Uuid::new_v4(), user.clone(), capability("a.b"), None, now);
    assert!(matches!(
        add_grant(&store, &nowhere).await,
        Err(StoreError::AccountNotFound)
    ));

    let later = at("2030-01-02T00:00:00Z");
    let revoke_event = grant_event(&manage, AuditAction::GrantRemove);
    let (revoked, changed) = store
        .revoke_authorization(acme.id, manage.id, later, &revoke_event)
        .await
        .unwrap()
        .unwrap();
    assert!(changed);
    assert_eq!(revoked.revoked_at, Some(later));
    let (again, changed) = store
        .revoke_authorization(
            acme.id,
            manage.id,
            at("2030-01-03T00:00:00Z"),
            &revoke_event,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!changed, "revoked once");
    assert_eq!(again.revoked_at, Some(later), "the first revocation stands");
    assert!(
        store
            .revoke_authorization(other.id, scoped.id, later, &revoke_event)
            .await
            .unwrap()
            .is_none(),
        "another account's grant is not found"
    );
    // Revoked: no longer held, and may be granted anew.
    let held = store.holdings(&worker).await.unwrap();
    assert_eq!(held[&acme.id].authorizations, vec![scoped]);
    add_grant(&store, &again_with_new_id(&manage))
        .await
        .unwrap();

    let events: Vec<AuditAction> = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.detail, Some(AuditDetail::Grant { .. })))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        events,
        [
            AuditAction::GrantAdd,
            AuditAction::GrantAdd,
            AuditAction::GrantRemove,
            AuditAction::GrantAdd
        ],
        "one event per change; none for the refused or repeated ones"
    );
}

fn again_with_new_id(grant: &Authorization) -> Authorization {
    Authorization {
        id: Uuid::new_v4(),
        ..grant.clone()
    }
}

/// Every filter narrows the list, pages follow creation order without
/// gaps or repeats, and a cursor from elsewhere is refused.
async fn grants_are_listed_by_every_filter_in_pages(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let team = Subject::Group("platform team".into());
    let mut made = Vec::new();
    for (i, (subject, grants)) in [
        (worker.clone(), capability("auth.manage")),
        (team.clone(), capability("auth.manage")),
        (team.clone(), capability("billing.read")),
        (Subject::user(Uuid::new_v4()), Grants::AccountOwner),
        (team.clone(), Grants::AccountOwner),
    ]
    .into_iter()
    .enumerate()
    {
        let now = at("2030-01-01T00:00:00Z") + chrono::TimeDelta::seconds(i as i64);
        let grant = authorization(acme.id, subject, grants, None, now);
        add_grant(&store, &grant).await.unwrap();
        made.push(grant);
    }
    let revoke = grant_event(&made[2], AuditAction::GrantRemove);
    store
        .revoke_authorization(acme.id, made[2].id, at("2030-02-01T00:00:00Z"), &revoke)
        .await
        .unwrap();
    let list = async |filter: AuthorizationFilter| {
        let page = store
            .list_authorizations(
                acme.id,
                &AuthorizationFilter {
                    limit: 1000,
                    ..filter
                },
            )
            .await
            .unwrap();
        page.iter()
            .map(|a| made.iter().position(|m| m.id == a.id).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(list(AuthorizationFilter::default()).await, [0, 1, 3, 4]);
    assert_eq!(
        list(AuthorizationFilter {
            include_revoked: true,
            ..Default::default()
        })
        .await,
        [0, 1, 2, 3, 4]
    );
    let of_team = AuthorizationFilter {
        subject_type: Some(SubjectType::Group),
        subject_id: Some("platform team".into()),
        ..Default::default()
    };
    assert_eq!(list(of_team.clone()).await, [1, 4]);
    assert_eq!(
        list(AuthorizationFilter {
            grant_kind: Some(GrantKind::AccountOwner),
            ..Default::default()
        })
        .await,
        [3, 4]
    );
    assert_eq!(
        list(AuthorizationFilter {
            capability_key: Some("auth.manage".into()),
            ..Default::default()
        })
        .await,
        [0, 1]
    );
    assert_eq!(
        list(AuthorizationFilter {
            capability_key: Some("auth.manage".into()),
            subject_type: Some(SubjectType::ServiceAccount),
            ..Default::default()
        })
        .await,
        [0]
    );
    // Pages of two, every record once, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let filter = AuthorizationFilter {
            include_revoked: true,
            limit: 2,
            after,
            ..Default::default()
        };
        let page = store.list_authorizations(acme.id, &filter).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|a| a.id));
        after = page.last().map(|a| a.id);
        if page.len() < 2 {
            break;
        }
    }
    assert_eq!(seen, made.iter().map(|m| m.id).collect::<Vec<_>>());
    let stranger = AuthorizationFilter {
        limit: 10,
        after: Some(Uuid::new_v4()),
        ..Default::default()
    };
    assert!(matches!(
        store.list_authorizations(acme.id, &stranger).await,
        Err(StoreError::CursorNotFound)
    ));
}

/// The last owner that can act stays; a revoked service account's ownership
/// does not count, a group's does.
async fn the_last_owner_that_can_act_stays(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, _) = account_with_one(&store).await;
    let now = at("2030-01-01T00:00:00Z");
    let person = authorization(
        acme.id,
        Subject::user(Uuid::new_v4()),
        Grants::AccountOwner,
        None,
        now,
    );
    let group = authorization(
        acme.id,
        Subject::Group("admins".into()),
        Grants::AccountOwner,
        None,
        now,
    );
    add_grant(&store, &person).await.unwrap();
    add_grant(&store, &group).await.unwrap();
    let revoke = async |grant: &Authorization| {
        let event = grant_event(grant, AuditAction::GrantRemove);
        store
            .revoke_authorization(acme.id, grant.id, now, &event)
            .await
    };
    revoke(&person).await.unwrap();
    assert!(matches!(revoke(&group).await, Err(StoreError::LastOwner)));
    let listed = store
        .list_authorizations(
            acme.id,
            &AuthorizationFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![group],
        "the refused revocation changed nothing"
    );
}

/// Role assignments: one live copy, revoked once, part of the subject's
/// holdings, listed in pages.
async fn roles_are_assigned_listed_and_revoked(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let now = at("2030-01-01T00:00:00Z");
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let assignment = |role: RoleKey, kind: ResourceType, id: Uuid| RoleAssignment {
        id: Uuid::new_v4(),
        account_id: acme.id,
        role,
        subject: worker.clone(),
        resource: Resource { kind, id },
        created_at: now,
        revoked_at: None,
    };
    let event = |a: &RoleAssignment, action| AuditEvent {
        occurred_at: now,
        account_id: acme.id,
        service_account_id: Some(sa.service_account.id),
        action,
        actor: Actor::Operator,
        id: uuid::Uuid::new_v4(),
        origin: hbx_service_accounts::domain::Origin::default(),
        token_public_id: None,
        detail: Some(AuditDetail::Role {
            role_assignment_id: a.id,
            subject: a.subject.clone(),
            role: a.role,
            resource: a.resource,
        }),
    };
    let whole = assignment(RoleKey::CredentialManager, ResourceType::Account, acme.id);
    store
        .create_role_assignment(&whole, &event(&whole, AuditAction::RoleAssign), None)
        .await
        .unwrap();
    let twin = RoleAssignment {
        id: Uuid::new_v4(),
        ..whole.clone()
    };
    assert!(matches!(
        store
            .create_role_assignment(&twin, &event(&twin, AuditAction::RoleAssign), None)
            .await,
        Err(StoreError::RoleAssignmentExists)
    ));
    let domain = assignment(RoleKey::DnsManager, ResourceType::Domain, Uuid::new_v4());
    store
        .create_role_assignment(&domain, &event(&domain, AuditAction::RoleAssign), None)
        .await
        .unwrap();
    let held = store.holdings(&worker).await.unwrap();
    assert_eq!(held[&acme.id].roles.len(), 2);

    let (revoked, changed) = store
        .revoke_role_assignment(
            acme.id,
            whole.id,
            now,
            &event(&whole, AuditAction::RoleRevoke),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(changed && revoked.revoked_at == Some(now));
    let (_, changed) = store
        .revoke_role_assignment(
            acme.id,
            whole.id,
            now,
            &event(&whole, AuditAction::RoleRevoke),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!changed);
    assert_eq!(
        store.holdings(&worker).await.unwrap()[&acme.id].roles,
        vec![domain.clone()]
    );
    let page = |include_revoked, after| RolePage {
        include_revoked,
        limit: 1,
        after,
    };
    let first = store
        .list_role_assignments(acme.id, page(true, None))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let second = store
        .list_role_assignments(acme.id, page(true, Some(first[0].id)))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].id, second[0].id);
    assert_eq!(
        store
            .list_role_assignments(acme.id, page(false, None))
            .await
            .unwrap(),
        vec![domain]
    );
    let actions: Vec<AuditAction> = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.detail, Some(AuditDetail::Role { .. })))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            AuditAction::RoleAssign,
            AuditAction::RoleAssign,
            AuditAction::RoleRevoke
        ]
    );
}

/// A revoked service account is no longer a subject grants can name.
async fn a_revoked_service_account_gets_no_grant(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let now = at("2030-01-01T00:00:00Z");
    let revocation = hbx_service_accounts::store::Revocation {
        at: now,
        by_user_id: None,
        reason: hbx_service_accounts::domain::RevocationReason::Requested,
    };
    let revoke = event(&sa.service_account, AuditAction::Revoke, now);
    store
        .revoke(acme.id, sa.service_account.id, revocation, &revoke)
        .await
        .unwrap();
    let grant = authorization(
        acme.id,
        Subject::ServiceAccount(sa.service_account.id),
        capability("auth.manage"),
        None,
        now,
    );
    assert!(matches!(
        add_grant(&store, &grant).await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
}

on_both_stores!(
    grants_are_unique_while_live_and_revoked_once,
    grants_are_listed_by_every_filter_in_pages,
    the_last_owner_that_can_act_stays,
    roles_are_assigned_listed_and_revoked,
    a_revoked_service_account_gets_no_grant,
);
