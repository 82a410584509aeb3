//! The flags of the commands that change and read who holds what: `grants`,
//! `roles` and `audit`. They go through the same service and rules as the
//! API, except that the operator may grant anything (`super_admin` included).

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::args::StorageArgs;
use chrono::{DateTime, Utc};

use crate::domain::{ActorType, AuditAction, ResourceType, RoleKey, Subject, SubjectType};

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// Grant a capability (or ownership) in an account to a user, a group or
    /// a service account; prints the authorization
    Add(GrantArgs),
    /// Revoke the account-wide grant of a capability (or ownership) to a
    /// subject; a running server refuses it within the revocation bound
    Remove(GrantArgs),
    /// Revoke one authorization by its id
    Revoke(RevokeByIdArgs),
    /// List the live grants in an account (all with --include-revoked), one
    /// JSON object per line
    List(ListArgs),
}

#[derive(Subcommand)]
pub enum RolesCommand {
    /// Give a role on a resource to a user, a group or a service account;
    /// prints the assignment with what the role expands to
    Assign(AssignRoleArgs),
    /// Revoke one role assignment by its id
    Revoke(RevokeByIdArgs),
    /// List the live role assignments in an account (all with
    /// --include-revoked), one JSON object per line
    List(ListArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// The account whose grants or roles to list
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    /// Revoked ones too
    #[arg(long)]
    pub include_revoked: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct RevokeByIdArgs {
    /// The account it is in
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    /// Its id
    #[arg(long)]
    pub id: Uuid,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct GrantArgs {
    /// The account the grant is in
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[command(flatten)]
    pub capability: CapabilityArgs,
    /// Scope the grant to one resource of this type (with --resource-id)
    #[arg(long, value_parser = parse_resource_type, requires = "resource_id")]
    pub resource_type: Option<ResourceType>,
    /// The resource the grant is scoped to (with --resource-type)
    #[arg(long, requires = "resource_type")]
    pub resource_id: Option<Uuid>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct AssignRoleArgs {
    /// The account the role is given in
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    /// The role (viewer, editor, domain_manager, manager, dns_manager,
    /// ip_manager, billing_viewer, billing_admin, credential_manager)
    #[arg(long, value_parser = parse_role)]
    pub role: RoleKey,
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// The type of resource the role is on (`account` for the whole account)
    #[arg(long, value_parser = parse_resource_type)]
    pub resource_type: ResourceType,
    /// The resource the role is on (the account's id for the whole account)
    #[arg(long)]
    pub resource_id: Uuid,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct AuditArgs {
    /// The account whose log to print
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    /// Only events of this action (create, rotate, revoke, grant_add, ...)
    #[arg(long, value_parser = parse_action)]
    pub action: Option<AuditAction>,
    /// Only events by actors of this type (user, service_account, operator,
    /// reporter)
    #[arg(long, value_parser = parse_actor_type)]
    pub actor_type: Option<ActorType>,
    /// Only events by this user or service account
    #[arg(long)]
    pub actor_id: Option<Uuid>,
    /// Only events about this service account
    #[arg(long)]
    pub service_account: Option<Uuid>,
    /// Only events whose actor used this token, or that are about it (its
    /// public id)
    #[arg(long)]
    pub token_public_id: Option<String>,
    /// Only events at or after this time (RFC 3339)
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339)
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// Print at most this many events (1 to 1000); every matching event
    /// when not given
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only events older than this one (by id), as the API pages
    #[arg(long)]
    pub before: Option<Uuid>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct SubjectArgs {
    /// A user, by the `sub` of their OAuth access tokens
    #[arg(long, env = "HBX_SA_USER", value_parser = subject_parser(SubjectType::User))]
    pub user: Option<Subject>,
    /// A group, as the access tokens' groups claim names it
    #[arg(long, value_parser = subject_parser(SubjectType::Group))]
    pub group: Option<Subject>,
    /// A service account (a live one of the account)
    #[arg(long, env = "HBX_SA_SERVICE_ACCOUNT", value_parser = subject_parser(SubjectType::ServiceAccount))]
    pub service_account: Option<Subject>,
}

impl SubjectArgs {
    pub fn subject(self) -> Subject {
        self.user
            .or(self.group)
            .or(self.service_account)
            .expect("clap requires exactly one subject")
    }
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct CapabilityArgs {
    /// Capability key (auth.manage; other services' keys are kept too)
    #[arg(long, env = "HBX_SA_CAPABILITY")]
    pub capability: Option<String>,
    /// Ownership, which implies every capability
    #[arg(long, env = "HBX_SA_OWNER")]
    pub owner: bool,
    /// The platform operator's super_admin (never granted through the API)
    #[arg(long)]
    pub super_admin: bool,
}

fn subject_parser(kind: SubjectType) -> impl Fn(&str) -> Result<Subject, String> + Clone {
    move |text| Subject::parse(kind, text).map_err(|e| format!("the {kind} id {}", e.message))
}

fn parse_resource_type(text: &str) -> Result<ResourceType, String> {
    ResourceType::parse(text).map_err(|e| e.message)
}

fn parse_action(text: &str) -> Result<AuditAction, String> {
    AuditAction::parse(text).ok_or_else(|| {
        let allowed: Vec<&str> = AuditAction::ALL.iter().map(AuditAction::as_str).collect();
        format!("is not an audit action: use one of {}", allowed.join(", "))
    })
}

fn parse_actor_type(text: &str) -> Result<ActorType, String> {
    ActorType::parse(text).map_err(|e| e.message)
}

fn parse_role(text: &str) -> Result<RoleKey, String> {
    RoleKey::parse(text).map_err(|e| e.message)
}
