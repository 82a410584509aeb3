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
