//! Authorization against an account: who the caller is ([`Caller`]), what
//! it may do there all sources counted ([`Authorizer::effective`]), and the
//! proof ([`AccountAccess`]) that it may exercise a capability there, which
//! only [`Authorizer::authorize`] makes and every operation needs.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::ServiceError;
use crate::auth::{FederatedFacts, Principal, Verified};
use crate::domain::{
    Actor, AuditAction, AuditEvent, Capability, Effective, HoldingsByAccount, Origin, RoleTable,
    Subject,
};
use crate::store::GrantLookup;

/// An authenticated principal making one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The groups a user's access token lists (none for a service account).
    pub groups: Vec<String>,
    /// Whether the credential was a service account's previous token, still
    /// working in its rotation's grace period (such a caller may use the API
    /// but not issue or change credentials).
    pub previous_token: bool,
    /// Where the request came from, and the token it used, as the audit
    /// log records them.
    pub origin: Origin,
    /// The federated token the request was made with, if it was: it limits
    /// what the service account may do to its capabilities.
    pub federated: Option<Arc<FederatedFacts>>,
}

impl Caller {
    /// The caller a verified credential makes, for a request from
    /// `origin` (whose token, if a service account's, this notes).
    pub fn from_verified(verified: Verified, origin: Origin) -> Self {
        let previous_token = verified.credential.is_previous_token();
        let actor_token_public_id = verified.credential.token_public_id().map(str::to_owned);
        let federated = verified.credential.federated().cloned();
        let actor_federation = federated.as_ref().map(|f| f.token.provenance.clone());
        Self {
            federated,
            origin: Origin {
                actor_token_public_id,
                actor_federation,
                ..origin
            },
            previous_token,
            groups: verified.credential.into_groups(),
            principal: verified.principal,
        }
    }

    /// The subjects whose grants and roles are the caller's: itself, and
    /// each of its groups.
    pub fn subjects(&self) -> impl Iterator<Item = Subject> + '_ {
        std::iter::once(self.principal.subject()).chain(
            self.groups
                .iter()
                .map(|group| Subject::Group(group.clone())),
        )
    }

    /// Whether `subject` is the caller or one of its groups: a change to its
    /// grants would be a change to the caller's own.
    pub fn is_or_includes(&self, subject: &Subject) -> bool {
        match subject {
            Subject::Group(group) => self.groups.contains(group),
            other => *other == self.principal.subject(),
        }
    }

    /// What the caller may exercise of `effective`: all of it, or for a
    /// federated token only its capabilities.
    pub fn limit(&self, effective: Effective) -> Effective {
        match &self.federated {
            Some(facts) => effective.within(&facts.token.capabilities),
            None => effective,
        }
    }

    pub fn actor(&self) -> Actor {
        match self.principal {
            Principal::User { user_id } => Actor::User(user_id),
            Principal::ServiceAccount {
                service_account_id, ..
            } => Actor::ServiceAccount(service_account_id),
        }
    }
}

/// Proof that a caller may exercise a capability on an account: only
/// [`Authorizer::authorize`] makes one, and every operation needs one.
#[derive(Debug, Clone)]
pub struct AccountAccess {
    pub(super) caller: Caller,
    account_id: Uuid,
    /// What each of the caller's subjects holds, by account.
    holdings: Vec<Arc<HoldingsByAccount>>,
    /// [`Self::effective`], resource-scoped capabilities included, made
    /// when first asked for (by the rules against escalation, on writes).
    effective: OnceLock<Effective>,
    /// The role table its roles were expanded with.
    pub(super) roles: Arc<RoleTable>,
}

impl AccountAccess {
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }

    /// An access as the authorizer would make it, for the unit tests of the
    /// rules that take one.
    #[cfg(test)]
    pub(super) fn for_tests(
        caller: Caller,
        account_id: Uuid,
        effective: Effective,
        roles: Arc<RoleTable>,
    ) -> Self {
        Self {
            caller,
            account_id,
            holdings: vec![],
            effective: OnceLock::from(effective),
            roles,
        }
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// What the caller may do in the account, resource-scoped capabilities
    /// included.
    pub fn effective(&self) -> &Effective {
        self.effective.get_or_init(|| {
            self.caller.limit(Effective::of(
                self.account_id,
                self.holdings
                    .iter()
                    .filter_map(|by_account| by_account.get(&self.account_id)),
                &self.roles,
            ))
        })
    }

    /// Refuses `operation` to a caller using a previous token: that token is
    /// meant to keep old deployments working through a rotation, and if it
    /// could rotate (or create, retire, revoke others) a leaked copy would
    /// replace the current token and outlive its grace period.
    pub(super) fn require_current_token(
        &self,
        operation: &'static str,
    ) -> Result<(), ServiceError> {
        if self.caller.previous_token {
            return Err(ServiceError::PreviousToken { operation });
        }
        Ok(())
    }

    /// Refuses `operation` to a caller using a federated token: it may
    /// never rotate or retire a token, turn one off, or make federation
    /// rules (a leaked CI token must not turn into a lasting credential).
    pub(super) fn require_own_credential(
        &self,
        operation: &'static str,
    ) -> Result<(), ServiceError> {
        if self.caller.federated.is_some() {
            return Err(ServiceError::FederatedToken { operation });
        }
        Ok(())
    }

    /// Whether the caller is service account `id` itself.
    pub(super) fn is_service_account(&self, id: Uuid) -> bool {
        matches!(self.caller.principal,
            Principal::ServiceAccount { service_account_id, .. } if service_account_id == id)
    }

    /// An event of the caller's about the account itself (no service
    /// account).
    pub(super) fn audit_account(&self, action: AuditAction, at: DateTime<Utc>) -> AuditEvent {
        AuditEvent::new(
            at,
            self.account_id,
            None,
            action,
            self.caller.actor(),
            self.caller.origin.clone(),
        )
    }

    pub(super) fn audit(
        &self,
        service_account_id: Uuid,
        action: AuditAction,
        at: DateTime<Utc>,
    ) -> AuditEvent {
        AuditEvent::new(
            at,
            self.account_id,
            Some(service_account_id),
            action,
            self.caller.actor(),
            self.caller.origin.clone(),
        )
    }
}

/// Decides what callers may do in an account, from their grants and roles
/// and their groups' (read through the credential cache), with roles expanded
/// through the role table.
pub struct Authorizer {
    grants: Arc<dyn GrantLookup>,
    roles: Arc<RoleTable>,
}

impl Authorizer {
    /// `grants` answers the authorization questions (it may be a cache in
    /// front of the store).
    pub fn new(grants: Arc<dyn GrantLookup>, roles: Arc<RoleTable>) -> Self {
        Self { grants, roles }
    }

    pub fn role_table(&self) -> &Arc<RoleTable> {
        &self.roles
    }

    /// What each of the caller's subjects holds, in every account.
    pub async fn holdings(
        &self,
        caller: &Caller,
    ) -> Result<Vec<Arc<HoldingsByAccount>>, ServiceError> {
        let mut all = Vec::with_capacity(1 + caller.groups.len());
        for subject in caller.subjects() {
            all.push(self.grants.holdings(&subject).await?);
        }
        Ok(all)
    }

    /// Checks that the caller may exercise `needed` on `account_id`.
    ///
    /// No standing in the account (including an account that does not exist)
    /// is [`ServiceError::NotFound`]; standing without the capability is
    /// [`ServiceError::Forbidden`]. A service account has standing in its own
    /// account only; a user wherever it holds a grant or a role, directly or
    /// through a group. Only account-wide grants count.
    pub async fn authorize(
        &self,
        caller: Caller,
        account_id: Uuid,
        needed: Capability,
    ) -> Result<AccountAccess, ServiceError> {
        if let Principal::ServiceAccount {
            account_id: home, ..
        } = caller.principal
            && home != account_id
        {
            return Err(ServiceError::NotFound);
        }
        let holdings = self.holdings(&caller).await?;
        let effective = caller.limit(Effective::account_wide(
            account_id,
            holdings
                .iter()
                .filter_map(|by_account| by_account.get(&account_id)),
            &self.roles,
        ));
        if !effective.standing && matches!(caller.principal, Principal::User { .. }) {
            return Err(ServiceError::NotFound);
        }
        if !effective.satisfies(needed) {
            return Err(ServiceError::Forbidden { needed });
        }
        Ok(AccountAccess {
            caller,
            account_id,
            holdings,
            effective: OnceLock::new(),
            roles: self.roles.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use chrono::Utc;

    use super::*;
    use crate::domain::{
        Authorization, CapabilityKey, Grants, Holdings, Resource, ResourceType, RoleAssignment,
        RoleKey,
    };
    use crate::store::StoreError;

    /// What each subject holds, by account: the answers a store would give.
    #[derive(Default)]
    struct Held(HashMap<Subject, HoldingsByAccount>);

    #[async_trait]
    impl GrantLookup for Held {
        async fn holdings(&self, subject: &Subject) -> Result<Arc<HoldingsByAccount>, StoreError> {
            Ok(Arc::new(self.0.get(subject).cloned().unwrap_or_default()))
        }
    }

    fn grant(account_id: Uuid, subject: &Subject, grants: Grants) -> Holdings {
        Holdings {
            authorizations: vec![Authorization {
                id: Uuid::new_v4(),
                account_id,
                subject: subject.clone(),
                grants,
                resource: None,
                created_at: Utc::now(),
                revoked_at: None,
            }],
            roles: vec![],
        }
    }

    fn user(id: Uuid, groups: &[&str]) -> Caller {
        Caller {
            principal: Principal::User { user_id: id },
            groups: groups.iter().map(|g| g.to_string()).collect(),
            previous_token: false,
            origin: Default::default(),
            federated: None,
        }
    }

    fn authorizer(held: Held) -> Authorizer {
        Authorizer::new(Arc::new(held), Arc::new(RoleTable::default_table()))
    }

    #[tokio::test]
    async fn standing_and_capabilities_come_from_every_source() {
        let account = Uuid::new_v4();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let ops = Subject::Group("ops".into());
        let mut held = Held::default();
        // Alice's own grant is another service's key; her group has a role
        // giving auth.manage on the whole account.
        let billing = Grants::Capability(CapabilityKey::parse("billing.read").unwrap());
        held.0.insert(
            Subject::user(alice),
            HoldingsByAccount::from([(account, grant(account, &Subject::user(alice), billing))]),
        );
        let role = RoleAssignment {
            id: Uuid::new_v4(),
            account_id: account,
            role: RoleKey::CredentialManager,
            subject: ops.clone(),
            resource: Resource {
                kind: ResourceType::Account,
                id: account,
            },
            created_at: Utc::now(),
            revoked_at: None,
        };
        held.0.insert(
            ops.clone(),
            HoldingsByAccount::from([(
                account,
                Holdings {
                    authorizations: vec![],
                    roles: vec![role],
                },
            )]),
        );
        let authorizer = authorizer(held);
        let needed = Capability::AuthManage;
        let access = authorizer
            .authorize(user(alice, &["ops"]), account, needed)
            .await
            .expect("through the group's role");
        assert!(access.effective().satisfies(needed));
        assert_eq!(access.account_id(), account);
        // Without the group: standing (her own grant), not the capability.
        let refused = authorizer
            .authorize(user(alice, &[]), account, needed)
            .await;
        assert!(
            matches!(refused, Err(ServiceError::Forbidden { .. })),
            "{refused:?}"
        );
        // Bob holds nothing there: no standing, 404 (his group alone is not
        // enough: it holds nothing).
        let refused = authorizer
            .authorize(user(bob, &["finance"]), account, needed)
            .await;
        assert!(
            matches!(refused, Err(ServiceError::NotFound)),
            "{refused:?}"
        );
        // Another account: nothing held there.
        let elsewhere = authorizer
            .authorize(user(alice, &["ops"]), Uuid::new_v4(), needed)
            .await;
        assert!(matches!(elsewhere, Err(ServiceError::NotFound)));
    }

    #[tokio::test]
    async fn a_service_account_has_standing_at_home_only() {
        let (home, away, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let subject = Subject::ServiceAccount(id);
        let mut held = Held::default();
        // Even a grant recorded elsewhere (which the store refuses) gives no
        // standing away from home.
        held.0.insert(
            subject.clone(),
            HoldingsByAccount::from([(away, grant(away, &subject, Grants::AccountOwner))]),
        );
        let authorizer = authorizer(held);
        let caller = || Caller {
            principal: Principal::ServiceAccount {
                service_account_id: id,
                account_id: home,
            },
            groups: vec![],
            previous_token: false,
            origin: crate::domain::Origin {
                request_id: Some("r-1".into()),
                ..Default::default()
            },
            federated: None,
        };
        let at_home = authorizer
            .authorize(caller(), home, Capability::AuthManage)
            .await;
        assert!(
            matches!(at_home, Err(ServiceError::Forbidden { .. })),
            "standing, no grant"
        );
        let away_from_home = authorizer
            .authorize(caller(), away, Capability::AuthManage)
            .await;
        assert!(matches!(away_from_home, Err(ServiceError::NotFound)));
    }

    #[test]
    fn a_caller_is_itself_and_its_groups() {
        let me = Uuid::new_v4();
        let caller = user(me, &["ops", "/platform"]);
        let subjects: Vec<Subject> = caller.subjects().collect();
        assert_eq!(
            subjects,
            [
                Subject::user(me),
                Subject::Group("ops".into()),
                Subject::Group("/platform".into())
            ]
        );
        assert!(caller.is_or_includes(&Subject::user(me)));
        assert!(caller.is_or_includes(&Subject::Group("/platform".into())));
        assert!(!caller.is_or_includes(&Subject::Group("finance".into())));
        assert!(!caller.is_or_includes(&Subject::user(Uuid::new_v4())));
        assert!(!caller.is_or_includes(&Subject::ServiceAccount(me)));
        assert_eq!(caller.actor(), Actor::User(me));
    }

    #[test]
    fn an_access_knows_whether_its_caller_is_a_service_account() {
        let (account, me) = (Uuid::new_v4(), Uuid::new_v4());
        let caller = Caller {
            principal: Principal::ServiceAccount {
                service_account_id: me,
                account_id: account,
            },
            groups: vec![],
            previous_token: false,
            origin: Default::default(),
            federated: None,
        };
        let access = AccountAccess::for_tests(
            caller,
            account,
            Effective::default(),
            Arc::new(RoleTable::default_table()),
        );
        assert!(access.is_service_account(me));
        assert!(!access.is_service_account(Uuid::new_v4()));
        let person = AccountAccess::for_tests(
            user(me, &[]),
            account,
            Effective::default(),
            Arc::new(RoleTable::default_table()),
        );
        assert!(
            !person.is_service_account(me),
            "a user with the same id is not it"
        );
    }
}
