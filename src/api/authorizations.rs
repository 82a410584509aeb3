//! Types of the operations on who holds what in an account: authorizations
//! and role assignments, in Hybridbox's shape (field names, enums and list
//! shapes are Hybridbox's; the revoke routes and paging are ours). Kinds and
//! types are enums in requests and query parameters and plain strings in
//! responses, as Hybridbox types them, so that generated clients match theirs.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::examples;

// The enums' variants carry no doc comments of their own: with them, the
// schema becomes a `oneOf` that client generators turn into one type per
// value.

/// What a grant gives: `capability` (one capability, named by
/// `capability_key`), `account_owner` (every capability in the account), or
/// `super_admin` (the platform operator's; never granted through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    Capability,
    AccountOwner,
    SuperAdmin,
}

/// Who a grant is for: a `user` (by the `sub` of their access tokens), a
/// `group` (as the access tokens' groups claim names it), or a
/// `service_account` of this account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    User,
    Group,
    ServiceAccount,
}

/// A kind of Hybridbox resource a grant or role may be scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Client,
    Account,
    Workspace,
    Domain,
    DnsRecord,
    Mailbox,
    Redirect,
    Forwarding,
    Credential,
    Tenant,
    Route,
    Proxy,
}

/// Hybridbox's roles. What each expands to is the server's role table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleKey {
    Viewer,
    Editor,
    DomainManager,
    Manager,
    DnsManager,
    IpManager,
    BillingViewer,
    BillingAdmin,
    CredentialManager,
}

/// Path parameters that name an authorization.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct AuthorizationPath {
    /// The account the authorization is in.
    #[schemars(example = "examples::account_id")]
    pub account_id: Uuid,
    /// The authorization.
    pub authorization_id: Uuid,
}

/// Path parameters that name a role assignment.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct RoleAssignmentPath {
    /// The account the role assignment is in.
    #[schemars(example = "examples::account_id")]
    pub account_id: Uuid,
    /// The role assignment.
    pub role_assignment_id: Uuid,
}

/// Query parameters of the authorization list.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAuthorizationsQuery {
    /// Only grants to subjects of this type.
    pub subject_type: Option<SubjectType>,
    /// Only grants to this subject (its id as the records show it).
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")
    )]
    pub subject_id: Option<String>,
    /// Only grants of this kind.
    pub grant_kind: Option<GrantKind>,
    /// Only grants of this capability.
    #[schemars(
        length(min = 3, max = 100),
        regex(pattern = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    )]
    pub capability_key: Option<String>,
    /// Include revoked authorizations. Default: false.
    #[serde(default)]
    pub include_revoked: bool,
    /// Most authorizations to return, from 1 to 1000. Default: 1000.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Return the authorizations that come after this one: the `id` of the
    /// last authorization of the previous page.
    pub after: Option<Uuid>,
}

/// Query parameters of the role assignment list.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRoleAssignmentsQuery {
    /// Include revoked role assignments. Default: false.
    #[serde(default)]
    pub include_revoked: bool,
    /// Most role assignments to return, from 1 to 1000. Default: 1000.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Return the role assignments that come after this one: the `id` of the
    /// last role assignment of the previous page.
    pub after: Option<Uuid>,
}

/// Request body for granting something to a subject.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = "create_authorization_example")]
pub struct CreateAuthorizationRequest {
    /// `capability` (with `capability_key`) or `account_owner` (without);
    /// `super_admin` is refused (403): only the operator grants it.
    pub grant_kind: GrantKind,
    /// Who receives it.
    pub subject_type: SubjectType,
    /// The user's id (their access tokens' `sub`), the group's name (as the
    /// groups claim spells it), or the service account's id: 1 to 255
    /// characters without control characters.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")
    )]
    pub subject_id: String,
    /// The capability, for a `capability` grant (dotted lowercase words, such
    /// as `auth.manage`); left out for the other kinds.
    #[serde(default)]
    #[schemars(
        length(min = 3, max = 100),
        regex(pattern = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    )]
    pub capability_key: Option<String>,
    /// Scopes the grant to one resource (with `resource_id`); left out, the
    /// grant is account-wide. An `account` resource must be this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ResourceType")]
    pub resource_type: Option<ResourceType>,
    /// The resource the grant is scoped to (with `resource_type`).
    #[serde(default)]
    pub resource_id: Option<Uuid>,
}

/// A grant of something to a subject in an account.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "authorization_example")]
pub struct Authorization {
    /// Identifier of the authorization.
    pub id: Uuid,
    /// `capability`, `account_owner` or `super_admin`.
    pub grant_kind: String,
    /// `user`, `group` or `service_account`.
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: String,
    /// The capability, for a `capability` grant; null otherwise.
    pub capability_key: Option<String>,
    /// The kind of resource the grant is scoped to; null when account-wide.
    pub resource_type: Option<String>,
    /// The resource the grant is scoped to; null when account-wide.
    pub resource_id: Option<Uuid>,
    /// When it was granted (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// When it was revoked (UTC); null while it is live.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Request body for giving a role to a subject on a resource.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = "create_role_assignment_example")]
pub struct CreateRoleAssignmentRequest {
    /// The role.
    pub role_key: RoleKey,
    /// Who receives it.
    pub subject_type: SubjectType,
    /// The subject's id, as for an authorization.
    #[schemars(
        length(min = 1, max = 255),
        regex(pattern = r"^[^\u0000-\u001f\u007f-\u009f]+$")
    )]
    pub subject_id: String,
    /// The kind of resource the role is on (`account`, with this account's id,
    /// for the whole account).
    pub resource_type: ResourceType,
    /// The resource the role is on.
    pub resource_id: Uuid,
}

/// A role given to a subject on a resource.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "role_assignment_example")]
pub struct RoleAssignment {
    /// Identifier of the role assignment.
    pub id: Uuid,
    /// The role.
    pub role_key: String,
    /// `user`, `group` or `service_account`.
    pub subject_type: String,
    /// The subject's id.
    pub subject_id: String,
    /// The kind of resource the role is on.
    pub resource_type: String,
    /// The resource the role is on.
    pub resource_id: Uuid,
    /// The capability keys the role gives, from the server's role table as it
    /// is now (a change to the table applies to existing assignments).
    pub expanded_capability_keys: Vec<String>,
    /// When it was given (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// When it was revoked (UTC); null while it is live.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The headers of a created authorization or role assignment.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct GrantedHeaders {
    /// Path of the new record (its revoke operation is below it).
    #[serde(rename = "Location")]
    pub location: String,
    /// `true` when this response is the replay of an earlier request with the
    /// same `Idempotency-Key`; absent otherwise.
    #[serde(rename = "Idempotent-Replayed")]
    pub idempotent_replayed: Option<String>,
}

fn create_authorization_example() -> CreateAuthorizationRequest {
    CreateAuthorizationRequest {
        grant_kind: GrantKind::Capability,
        subject_type: SubjectType::ServiceAccount,
        subject_id: examples::service_account_id().to_string(),
        capability_key: Some("auth.manage".to_owned()),
        resource_type: None,
        resource_id: None,
    }
}

fn authorization_example() -> Authorization {
    Authorization {
        id: examples::authorization_id(),
        grant_kind: "capability".to_owned(),
        subject_type: "service_account".to_owned(),
        subject_id: examples::service_account_id().to_string(),
        capability_key: Some("auth.manage".to_owned()),
        resource_type: None,
        resource_id: None,
        created_at: Some(examples::created_at()),
        revoked_at: None,
    }
}

fn create_role_assignment_example() -> CreateRoleAssignmentRequest {
    CreateRoleAssignmentRequest {
        role_key: RoleKey::DnsManager,
        subject_type: SubjectType::Group,
        subject_id: "/platform/dns".to_owned(),
        resource_type: ResourceType::Domain,
        resource_id: examples::resource_id(),
    }
}

fn role_assignment_example() -> RoleAssignment {
    RoleAssignment {
        id: examples::role_assignment_id(),
        role_key: "dns_manager".to_owned(),
        subject_type: "group".to_owned(),
        subject_id: "/platform/dns".to_owned(),
        resource_type: "domain".to_owned(),
        resource_id: examples::resource_id(),
        expanded_capability_keys: vec![
            "dns.manage".to_owned(),
            "dns.read".to_owned(),
            "dns.write".to_owned(),
        ],
        created_at: Some(examples::created_at()),
        revoked_at: None,
    }
}
