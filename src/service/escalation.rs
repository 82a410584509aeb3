//! No escalation: the one place that decides whether a change to who holds
//! what may be made, for the API and the command line alike. Through the API
//! every write needs `auth.manage` (checked by the authorizer before this);
//! granting a capability, directly or through a role's expansion, needs the
//! caller to hold it there; ownership is granted and revoked by owners only;
//! `super_admin` only at the command line; and nobody changes their own
//! grants (their own, or a group's they belong to). The operator at the
//! command line may grant anything. (The last owner is kept by the store,
//! inside the revoking transaction.)

use super::access::AccountAccess;
use super::error::ServiceError;
use crate::domain::{
    Authorization, CapabilityKey, Grants, Resource, RoleAssignment, RoleKey, RoleTable, Subject,
};

/// Who is changing grants.
#[derive(Debug, Clone, Copy)]
pub enum Granter<'a> {
    /// An API caller, held to every rule.
    Api(&'a AccountAccess),
    /// The operator at the command line, who can already read the database.
    Operator,
}

const AUTH_MANAGE: &str = "auth.manage";
const ACCOUNT_OWNER: &str = "account_owner";

fn refuse(required: Vec<String>, reason: String) -> ServiceError {
    ServiceError::NotPermitted { required, reason }
}

/// A caller changing a grant or role of its own (or of one of its groups).
fn not_own(access: &AccountAccess, subject: &Subject) -> Result<(), ServiceError> {
    if access.caller().is_or_includes(subject) {
        return Err(refuse(
            vec![AUTH_MANAGE.to_owned()],
            format!(
                "nobody changes their own grants, and {subject} is you (or a group you belong \
                 to): ask another administrator of the account"
            ),
        ));
    }
    Ok(())
}

fn owner_only(access: &AccountAccess, what: &str) -> Result<(), ServiceError> {
    if !access.effective().owner {
        return Err(refuse(
            vec![ACCOUNT_OWNER.to_owned()],
            format!("only an owner of the account may {what}"),
        ));
    }
    Ok(())
}

fn no_super_admin(what: &str) -> ServiceError {
    refuse(
        vec!["super_admin".to_owned()],
        format!(
            "super_admin is the platform operator's: it cannot be {what} through the API (use \
             `hbx-sa grants` on the server)"
        ),
    )
}

/// Refuses keys the caller does not hold on `resource`, naming them.
fn holds_all<'k>(
    access: &AccountAccess,
    keys: impl IntoIterator<Item = &'k CapabilityKey>,
    resource: Option<Resource>,
    what: &str,
) -> Result<(), ServiceError> {
    let resource = resource.filter(|r| !r.is_account(access.account_id()));
    let missing: Vec<String> = keys
        .into_iter()
        .filter(|key| !access.effective().holds(key, resource))
        .map(|key| key.as_str().to_owned())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let scope = match resource {
        Some(r) => format!(" on {} {}", r.kind, r.id),
        None => " on this account".to_owned(),
    };
    Err(refuse(
        missing.clone(),
        format!(
            "{what} would give capabilities you do not hold{scope}: {}; only what you hold can \
             be granted",
            missing.join(", ")
        ),
    ))
}

/// May `granter` grant `grants` to `subject` (on `resource`)?
pub fn may_grant(
    granter: Granter<'_>,
    subject: &Subject,
    grants: &Grants,
    resource: Option<Resource>,
) -> Result<(), ServiceError> {
    let Granter::Api(access) = granter else {
        return Ok(());
    };
    access.require_current_token("change grants")?;
    match grants {
        Grants::SuperAdmin => return Err(no_super_admin("granted")),
        Grants::AccountOwner => owner_only(access, "grant ownership")?,
        Grants::Capability(key) => holds_all(access, [key], resource, "this grant")?,
    }
    not_own(access, subject)
}

/// May `granter` revoke `authorization`?
pub fn may_revoke_grant(
    granter: Granter<'_>,
    authorization: &Authorization,
) -> Result<(), ServiceError> {
    let Granter::Api(access) = granter else {
        return Ok(());
    };
    access.require_current_token("change grants")?;
    match authorization.grants {
        Grants::SuperAdmin => return Err(no_super_admin("revoked")),
        Grants::AccountOwner => owner_only(access, "revoke ownership")?,
        Grants::Capability(_) => {}
    }
    not_own(access, &authorization.subject)
}

/// May `granter` give `role` (expanded through `table`) to `subject` on
/// `resource`?
pub fn may_assign(
    granter: Granter<'_>,
    subject: &Subject,
    role: RoleKey,
    resource: Resource,
    table: &RoleTable,
) -> Result<(), ServiceError> {
    let Granter::Api(access) = granter else {
        return Ok(());
    };
    access.require_current_token("change roles")?;
    holds_all(
        access,
        table.expand(role),
        Some(resource),
        &format!("the role {role}"),
    )?;
    not_own(access, subject)
}

/// May `granter` revoke `assignment`?
pub fn may_revoke_role(
    granter: Granter<'_>,
    assignment: &RoleAssignment,
) -> Result<(), ServiceError> {
    let Granter::Api(access) = granter else {
        return Ok(());
    };
    access.require_current_token("change roles")?;
    not_own(access, &assignment.subject)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::auth::Principal;
    use crate::domain::{Effective, ResourceType, RoleTable, ScopedCapability};
    use crate::service::access::Caller;

    fn key(k: &str) -> CapabilityKey {
        CapabilityKey::parse(k).unwrap()
    }

    struct Fixture {
        account: Uuid,
        me: Uuid,
        table: RoleTable,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                account: Uuid::new_v4(),
                me: Uuid::new_v4(),
                table: RoleTable::default_table(),
            }
        }

        /// A service account of the account holding `keys` account-wide,
        /// `scoped` on resources, ownership if `owner`, in `groups` (as a
        /// user would be), with a previous token if `previous`.
        fn access(
            &self,
            keys: &[&str],
            scoped: &[(&str, Resource)],
            owner: bool,
            groups: &[&str],
            previous: bool,
        ) -> AccountAccess {
            let effective = Effective {
                standing: true,
                owner,
                capabilities: keys.iter().map(|k| key(k)).collect(),
                scoped: scoped
                    .iter()
                    .map(|(k, resource)| ScopedCapability {
                        capability_key: key(k),
                        resource: *resource,
                    })
                    .collect(),
            };
            let caller = Caller {
                principal: Principal::ServiceAccount {
                    service_account_id: self.me,
                    account_id: self.account,
                },
                groups: groups.iter().map(|g| g.to_string()).collect(),
                previous_token: previous,
                origin: Default::default(),
                federated: None,
            };
            AccountAccess::for_tests(
                caller,
                self.account,
                effective,
                Arc::new(RoleTable::default_table()),
            )
        }

        fn manager(&self) -> AccountAccess {
            self.access(&["auth.manage"], &[], false, &["ops"], false)
        }

        fn owner(&self) -> AccountAccess {
            self.access(&[], &[], true, &[], false)
        }
    }

    fn workspace() -> Resource {
        Resource {
            kind: ResourceType::Workspace,
            id: Uuid::new_v4(),
        }
    }

    fn other() -> Subject {
        Subject::ServiceAccount(Uuid::new_v4())
    }

    /// The capability keys a refusal says are required.
    #[track_caller]
    fn required(result: Result<(), ServiceError>) -> Vec<String> {
        match result {
            Err(ServiceError::NotPermitted { required, reason }) => {
                assert!(!reason.is_empty());
                required
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn what_is_granted_must_be_held_where_it_is_granted() {
        let f = Fixture::new();
        let manager = f.manager();
        let api = Granter::Api(&manager);
        let manage = Grants::Capability(key("auth.manage"));
        let billing = Grants::Capability(key("billing.read"));
        assert!(may_grant(api, &other(), &manage, None).is_ok());
        assert_eq!(
            required(may_grant(api, &other(), &billing, None)),
            ["billing.read"]
        );
        // Held account-wide: grantable on any resource of the account too.
        assert!(may_grant(api, &other(), &manage, Some(workspace())).is_ok());
        // An `account` resource that is this account is account-wide.
        let whole = Resource {
            kind: ResourceType::Account,
            id: f.account,
        };
        assert_eq!(
            required(may_grant(api, &other(), &billing, Some(whole))),
            ["billing.read"]
        );
        // Held on one resource: grantable there, nowhere else.
        let here = workspace();
        let scoped = f.access(&["auth.manage"], &[("dns.write", here)], false, &[], false);
        let api = Granter::Api(&scoped);
        let dns = Grants::Capability(key("dns.write"));
        assert!(may_grant(api, &other(), &dns, Some(here)).is_ok());
        assert_eq!(
            required(may_grant(api, &other(), &dns, Some(workspace()))),
            ["dns.write"]
        );
        assert_eq!(
            required(may_grant(api, &other(), &dns, None)),
            ["dns.write"]
        );
        // The operator may grant anything.
        assert!(may_grant(Granter::Operator, &other(), &billing, None).is_ok());
        assert!(may_grant(Granter::Operator, &other(), &Grants::SuperAdmin, None).is_ok());
    }

    #[test]
    fn ownership_is_for_owners_and_super_admin_for_the_operator() {
        let f = Fixture::new();
        let (manager, owner) = (f.manager(), f.owner());
        let owned = Authorization {
            id: Uuid::new_v4(),
            account_id: f.account,
            subject: other(),
            grants: Grants::AccountOwner,
            resource: None,
            created_at: Utc::now(),
            revoked_at: None,
        };
        let superuser = Authorization {
            grants: Grants::SuperAdmin,
            ..owned.clone()
        };
        let api = Granter::Api(&manager);
        assert_eq!(
            required(may_grant(api, &other(), &Grants::AccountOwner, None)),
            ["account_owner"]
        );
        assert_eq!(required(may_revoke_grant(api, &owned)), ["account_owner"]);
        let as_owner = Granter::Api(&owner);
        assert!(may_grant(as_owner, &other(), &Grants::AccountOwner, None).is_ok());
        assert!(may_revoke_grant(as_owner, &owned).is_ok());
        assert!(
            may_grant(
                as_owner,
                &other(),
                &Grants::Capability(key("any.thing")),
                None
            )
            .is_ok()
        );
        for granter in [api, as_owner] {
            assert_eq!(
                required(may_grant(granter, &other(), &Grants::SuperAdmin, None)),
                ["super_admin"]
            );
            assert_eq!(
                required(may_revoke_grant(granter, &superuser)),
                ["super_admin"]
            );
        }
        assert!(may_revoke_grant(Granter::Operator, &superuser).is_ok());
        // A capability grant is revoked with auth.manage alone.
        let billing = Authorization {
            grants: Grants::Capability(key("billing.read")),
            ..owned
        };
        assert!(may_revoke_grant(api, &billing).is_ok());
    }

    #[test]
    fn nobody_changes_their_own_grants_or_their_groups() {
        let f = Fixture::new();
        let manager = f.manager();
        let api = Granter::Api(&manager);
        let manage = Grants::Capability(key("auth.manage"));
        let me = Subject::ServiceAccount(f.me);
        let my_group = Subject::Group("ops".into());
        let another_group = Subject::Group("finance".into());
        for mine in [&me, &my_group] {
            assert_eq!(
                required(may_grant(api, mine, &manage, None)),
                ["auth.manage"]
            );
            let grant = Authorization {
                id: Uuid::new_v4(),
                account_id: f.account,
                subject: mine.clone(),
                grants: manage.clone(),
                resource: None,
                created_at: Utc::now(),
                revoked_at: None,
            };
            assert_eq!(required(may_revoke_grant(api, &grant)), ["auth.manage"]);
            let role = RoleAssignment {
                id: Uuid::new_v4(),
                account_id: f.account,
                role: RoleKey::Viewer,
                subject: mine.clone(),
                resource: workspace(),
                created_at: Utc::now(),
                revoked_at: None,
            };
            assert_eq!(required(may_revoke_role(api, &role)), ["auth.manage"]);
        }
        assert!(may_grant(api, &another_group, &manage, None).is_ok());
        // The operator is nobody's subject.
        assert!(may_grant(Granter::Operator, &me, &manage, None).is_ok());
    }

    #[test]
    fn a_role_needs_everything_it_gives() {
        let f = Fixture::new();
        let manager = f.manager();
        let api = Granter::Api(&manager);
        let whole = Resource {
            kind: ResourceType::Account,
            id: f.account,
        };
        let mut missing = required(may_assign(
            api,
            &other(),
            RoleKey::CredentialManager,
            whole,
            &f.table,
        ));
        missing.sort();
        assert_eq!(missing, ["credential.manage", "credential.read"]);
        let holder = f.access(
            &["auth.manage", "credential.read", "credential.manage"],
            &[],
            false,
            &[],
            false,
        );
        let api = Granter::Api(&holder);
        assert!(may_assign(api, &other(), RoleKey::CredentialManager, whole, &f.table).is_ok());
        assert!(
            may_assign(
                api,
                &other(),
                RoleKey::CredentialManager,
                workspace(),
                &f.table
            )
            .is_ok()
        );
        assert!(
            may_assign(
                api,
                &Subject::ServiceAccount(f.me),
                RoleKey::CredentialManager,
                whole,
                &f.table
            )
            .is_err(),
            "not to itself"
        );
        let owner = f.owner();
        assert!(
            may_assign(
                Granter::Api(&owner),
                &other(),
                RoleKey::Manager,
                whole,
                &f.table
            )
            .is_ok()
        );
        assert!(
            may_assign(
                Granter::Operator,
                &other(),
                RoleKey::Manager,
                whole,
                &f.table
            )
            .is_ok()
        );
    }

    #[test]
    fn a_previous_token_changes_nothing() {
        let f = Fixture::new();
        let previous = f.access(&[], &[], true, &[], true);
        let api = Granter::Api(&previous);
        let whole = Resource {
            kind: ResourceType::Account,
            id: f.account,
        };
        for result in [
            may_grant(api, &other(), &Grants::Capability(key("a.b")), None),
            may_assign(api, &other(), RoleKey::Viewer, whole, &f.table),
        ] {
            assert!(
                matches!(result, Err(ServiceError::PreviousToken { .. })),
                "{result:?}"
            );
        }
        let grant = Authorization {
            id: Uuid::new_v4(),
            account_id: f.account,
            subject: other(),
            grants: Grants::Capability(key("a.b")),
            resource: None,
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(matches!(
            may_revoke_grant(api, &grant),
            Err(ServiceError::PreviousToken { .. })
        ));
        let role = RoleAssignment {
            id: Uuid::new_v4(),
            account_id: f.account,
            role: RoleKey::Viewer,
            subject: other(),
            resource: whole,
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(matches!(
            may_revoke_role(api, &role),
            Err(ServiceError::PreviousToken { .. })
        ));
    }
}
