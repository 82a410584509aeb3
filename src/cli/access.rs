//! The operator's commands on who holds what: `grants add|remove|revoke|list`
//! and `roles assign|revoke|list`, through the same service and rules as the
//! API (the operator may grant anything). Each prints the records it made or
//! found as JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::access_args::{AssignRoleArgs, GrantArgs, ListArgs, RevokeByIdArgs};
use super::error::CliError;
use super::storage::open;
use crate::domain::{
    Authorization, Capability, CapabilityKey, Grants, Resource, RoleAssignment, Subject,
};
use crate::service::role_assignments::RoleRequest;

/// A grant as the command line prints it: the API's record, with the
/// account, and `capability` (the key, or `account_owner` for ownership) as
/// earlier versions printed it.
#[derive(Debug, Serialize)]
pub struct AuthorizationOutput {
    pub id: Option<Uuid>,
    pub account_id: Uuid,
    pub grant_kind: &'static str,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub capability_key: Option<String>,
    pub capability: String,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AuthorizationOutput {
    pub fn of_parts(
        id: Option<Uuid>,
        account_id: Uuid,
        subject: &Subject,
        grants: &Grants,
        resource: Option<Resource>,
    ) -> Self {
        let key = grants.capability_key().map(|k| k.as_str().to_owned());
        Self {
            id,
            account_id,
            grant_kind: grants.kind().as_str(),
            subject_type: subject.kind().as_str(),
            subject_id: subject.id(),
            capability: key
                .clone()
                .unwrap_or_else(|| grants.kind().as_str().to_owned()),
            capability_key: key,
            resource_type: resource.map(|r| r.kind.as_str()),
            resource_id: resource.map(|r| r.id),
            created_at: None,
            revoked_at: None,
        }
    }
}

impl From<Authorization> for AuthorizationOutput {
    fn from(grant: Authorization) -> Self {
        Self {
            created_at: Some(grant.created_at),
            revoked_at: grant.revoked_at,
            ..Self::of_parts(
                Some(grant.id),
                grant.account_id,
                &grant.subject,
                &grant.grants,
                grant.resource,
            )
        }
    }
}

fn grants_of(args: &GrantArgs) -> Result<Grants, CliError> {
    let named = &args.capability;
    Ok(if named.owner {
        Grants::AccountOwner
    } else if named.super_admin {
        Grants::SuperAdmin
    } else {
        let key = named
            .capability
            .as_deref()
            .expect("clap requires one of --capability, --owner and --super-admin");
        let key = CapabilityKey::parse(key)?;
        if key.known() == Some(Capability::AccountOwner) {
            Grants::AccountOwner
        } else {
            Grants::Capability(key)
        }
    })
}

fn resource_of(args: &GrantArgs) -> Result<Option<Resource>, CliError> {
    Ok(Resource::parse(
        args.account,
        args.resource_type,
        args.resource_id,
    )?)
}

/// What `hbx-sa grants add` prints: the grant, and whether this added it.
#[derive(Debug, Serialize)]
pub struct AddedGrantOutput {
    #[serde(flatten)]
    pub grant: AuthorizationOutput,
    pub added: bool,
}

pub async fn add_grant(args: GrantArgs) -> Result<AddedGrantOutput, CliError> {
    let grants = grants_of(&args)?;
    let resource = resource_of(&args)?;
    if let Grants::Capability(key) = &grants
        && key.known().is_none()
    {
        eprintln!(
            "hbx-sa: note: this service acts only on auth.manage and ownership; a grant of {} \
             gives standing in the account (403 rather than 404) and is reported to the \
             services that enforce it, nothing more here",
            key.as_str()
        );
    }
    let app = open(args.storage).await?;
    let subject = args.subject.subject();
    let (grant, added) = app
        .admin()
        .grant(args.account, subject, grants, resource)
        .await?;
    if !added {
        eprintln!("hbx-sa: note: the subject holds this grant already; nothing changed");
    }
    Ok(AddedGrantOutput {
        grant: grant.into(),
        added,
    })
}

/// What `hbx-sa grants remove` prints: what was named, and whether it was
/// held.
#[derive(Debug, Serialize)]
pub struct RemovedGrantOutput {
    #[serde(flatten)]
    pub grant: AuthorizationOutput,
    pub removed: bool,
}

pub async fn remove_grant(args: GrantArgs) -> Result<RemovedGrantOutput, CliError> {
    let grants = grants_of(&args)?;
    let app = open(args.storage).await?;
    let subject = args.subject.subject();
    let removed = app
        .admin()
        .revoke_matching(args.account, subject.clone(), grants.clone())
        .await?;
    if !removed {
        eprintln!("hbx-sa: note: there was no such grant; nothing changed");
    }
    Ok(RemovedGrantOutput {
        grant: AuthorizationOutput::of_parts(None, args.account, &subject, &grants, None),
        removed,
    })
}

pub async fn revoke_grant(args: RevokeByIdArgs) -> Result<AuthorizationOutput, CliError> {
    let app = open(args.storage).await?;
    let revoked = app
        .admin()
        .revoke_authorization(args.account, args.id)
        .await?;
    Ok(revoked.into())
}

pub async fn grants(args: ListArgs) -> Result<Vec<AuthorizationOutput>, CliError> {
    let app = open(args.storage).await?;
    let grants = app
        .admin()
        .grants(args.account, args.include_revoked)
        .await?;
    Ok(grants.into_iter().map(Into::into).collect())
}

/// A role assignment as the command line prints it: the API's record, with
/// the account.
#[derive(Debug, Serialize)]
pub struct RoleOutput {
    pub id: Uuid,
    pub account_id: Uuid,
    pub role_key: &'static str,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    pub expanded_capability_keys: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn role_output(assignment: RoleAssignment, expanded: &[CapabilityKey]) -> RoleOutput {
    RoleOutput {
        id: assignment.id,
        account_id: assignment.account_id,
        role_key: assignment.role.as_str(),
        subject_type: assignment.subject.kind().as_str(),
        subject_id: assignment.subject.id(),
        resource_type: assignment.resource.kind.as_str(),
        resource_id: assignment.resource.id,
        expanded_capability_keys: expanded.iter().map(|k| k.as_str().to_owned()).collect(),
        created_at: assignment.created_at,
        revoked_at: assignment.revoked_at,
    }
}

pub async fn assign_role(args: AssignRoleArgs) -> Result<RoleOutput, CliError> {
    let resource = Resource::parse(
        args.account,
        Some(args.resource_type),
        Some(args.resource_id),
    )?
    .expect("both parts are given");
    let request = RoleRequest {
        role: args.role,
        subject: args.subject.subject(),
        resource,
    };
    let app = open(args.storage).await?;
    let admin = app.admin();
    let assignment = admin.assign_role(args.account, request).await?;
    let expanded = admin.expand(assignment.role).to_vec();
    Ok(role_output(assignment, &expanded))
}

pub async fn revoke_role(args: RevokeByIdArgs) -> Result<RoleOutput, CliError> {
    let app = open(args.storage).await?;
    let admin = app.admin();
    let revoked = admin.revoke_role(args.account, args.id).await?;
    let expanded = admin.expand(revoked.role).to_vec();
    Ok(role_output(revoked, &expanded))
}

pub async fn roles(args: ListArgs) -> Result<Vec<RoleOutput>, CliError> {
    let app = open(args.storage).await?;
    let admin = app.admin();
    let assignments = admin
        .role_assignments(args.account, args.include_revoked)
        .await?;
    Ok(assignments
        .into_iter()
        .map(|assignment| {
            let expanded = admin.expand(assignment.role).to_vec();
            role_output(assignment, &expanded)
        })
        .collect())
}
