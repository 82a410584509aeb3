//! Types of the operations other Hybridbox services use to verify credentials:
//! whoami (the caller about itself) and token introspection (RFC 7662, a
//! platform component about any token).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::examples;
use super::federation::FederationProvenance;

/// What kind of principal a credential speaks for: `service_account` (by one
/// of its tokens) or `user` (a person, by an OAuth access token).
// The variants carry no doc comments of their own: with them, the schema
// becomes a `oneOf` that client generators turn into one type per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalType {
    ServiceAccount,
    User,
}

/// Which of a service account's tokens was used: `current`, or `previous`
/// (the token a rotation with a grace period replaced, working until the
/// grace period ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenGeneration {
    Current,
    Previous,
}

/// What a principal may do in one account, every source counted: its own
/// grants, its roles' expansions and (for a user) its groups' grants and
/// roles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct AccountGrants {
    /// The account.
    pub account_id: Uuid,
    /// Capability keys held in the account, sorted: this service's
    /// (`auth.manage`) and other Hybridbox services' (`billing.read`, ...).
    /// Ownership is not listed here but in `owner`.
    pub capabilities: Vec<String>,
    /// Whether the principal owns the account, which implies every capability.
    pub owner: bool,
    /// Capabilities held on one resource only (not account-wide), sorted: for
    /// the service that owns the resource to enforce.
    pub scoped: Vec<ScopedCapability>,
}

/// A capability held on one resource of an account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ScopedCapability {
    /// The capability key.
    pub capability_key: String,
    /// The kind of resource (`workspace`, `domain`, ...).
    pub resource_type: String,
    /// The resource.
    pub resource_id: Uuid,
}

/// The caller, as its credential identifies it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "whoami_example")]
pub struct Whoami {
    /// `service_account` or `user`.
    pub principal_type: PrincipalType,
    /// The user, for a user; null for a service account.
    pub user_id: Option<Uuid>,
    /// The service account, for a service account; null for a user.
    pub service_account_id: Option<Uuid>,
    /// The service account's own account; null for a user.
    pub account_id: Option<Uuid>,
    /// The service account's name; null for a user.
    pub name: Option<String>,
    /// The public id of the service-account token that was used; null for a
    /// user.
    pub token_public_id: Option<String>,
    /// Which of the service account's own tokens was used: `current`, or
    /// `previous` (still working in a rotation's grace period, until
    /// `expires_at`); null for a user, and for a federated token (see
    /// `federation`).
    #[schemars(schema_with = "nullable_token_generation")]
    pub token_generation: Option<TokenGeneration>,
    /// When the credential stops working: the service-account token's
    /// `expires_at` (for a previous token, the end of its grace period), or
    /// the access token's `exp`. Null for a token that does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// One entry per account in which the caller has standing: a service
    /// account's own account (always), a user's accounts with at least one
    /// grant or role (its own or a group's).
    pub grants: Vec<AccountGrants>,
    /// The groups the user's access token lists (its groups claim); empty
    /// for a service account.
    pub groups: Vec<String>,
    /// Where a federated token came from (the rule, the identity provider,
    /// who presented what); absent for any other credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "FederationProvenance")]
    pub federation: Option<FederationProvenance>,
}

/// An introspection request (RFC 7662 §2.1), form-encoded.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "introspection_request_example")]
pub struct IntrospectionRequest {
    /// The token to introspect: a service-account token or an OAuth access
    /// token.
    pub token: String,
    /// A hint about the token's type (`access_token`, `service_account`);
    /// optional, and ignored: the token's form tells.
    pub token_type_hint: Option<String>,
}

/// The kind of token an active introspection answer describes:
/// `service_account` (a service-account token issued by this service) or
/// `access_token` (an OAuth access token from the trusted authorization
/// server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectedTokenType {
    ServiceAccount,
    AccessToken,
}

/// An introspection answer (RFC 7662 §2.2). An inactive token is exactly
/// `{"active": false}`, whatever the reason; an active one carries the other
/// members (those that do not apply to it are left out, never null).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "introspection_response_example")]
pub struct IntrospectionResponse {
    /// Whether the token is valid now: well formed, known, not expired, not
    /// revoked.
    pub active: bool,
    /// `service_account` or `access_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "IntrospectedTokenType")]
    pub token_type: Option<IntrospectedTokenType>,
    /// The principal: the service account's id, or the user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Uuid")]
    pub sub: Option<Uuid>,
    /// When the token stops working, in seconds since the Unix epoch (for a
    /// previous service-account token, the end of its grace period); left out
    /// for a service-account token that does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub exp: Option<i64>,
    /// When the token was issued, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "i64")]
    pub iat: Option<i64>,
    /// `service_account` or `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PrincipalType")]
    pub hbx_principal_type: Option<PrincipalType>,
    /// The service account's own account (service accounts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Uuid")]
    pub hbx_account_id: Option<Uuid>,
    /// The service account (service accounts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Uuid")]
    pub hbx_service_account_id: Option<Uuid>,
    /// The user (users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Uuid")]
    pub hbx_user_id: Option<Uuid>,
    /// Which of the service account's tokens this is: `current`, or
    /// `previous` (working until `exp`, the end of a rotation's grace
    /// period). Service accounts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "TokenGeneration")]
    pub hbx_token_generation: Option<TokenGeneration>,
    /// The principal's grants, as whoami lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<AccountGrants>")]
    pub hbx_grants: Option<Vec<AccountGrants>>,
    /// Where a federated token came from (federated tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "FederationProvenance")]
    pub hbx_federation: Option<FederationProvenance>,
}

/// A nullable `TokenGeneration` (see [`super::types::nullable_string_enum`]).
fn nullable_token_generation(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    super::types::nullable_string_enum(&["current", "previous"])
}

// The examples the document shows (their facts: `examples`).

fn grants_example() -> Vec<AccountGrants> {
    vec![AccountGrants {
        account_id: examples::ACCOUNT_ID,
        capabilities: vec!["auth.manage".to_owned(), "billing.read".to_owned()],
        owner: false,
        scoped: vec![ScopedCapability {
            capability_key: "dns.write".to_owned(),
            resource_type: "domain".to_owned(),
            resource_id: examples::resource_id(),
        }],
    }]
}

fn whoami_example() -> Whoami {
    Whoami {
        principal_type: PrincipalType::ServiceAccount,
        user_id: None,
        service_account_id: Some(examples::SERVICE_ACCOUNT_ID),
        account_id: Some(examples::ACCOUNT_ID),
        name: Some("ci-deploy".to_owned()),
        token_public_id: Some(examples::public_id()),
        token_generation: Some(TokenGeneration::Current),
        expires_at: Some(examples::at("2027-06-01T00:00:00Z")),
        grants: grants_example(),
        groups: vec![],
        federation: None,
    }
}

fn introspection_request_example() -> IntrospectionRequest {
    IntrospectionRequest {
        token: examples::TOKEN.to_owned(),
        token_type_hint: None,
    }
}

fn introspection_response_example() -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        token_type: Some(IntrospectedTokenType::ServiceAccount),
        sub: Some(examples::SERVICE_ACCOUNT_ID),
        exp: Some(examples::at("2027-06-01T00:00:00Z").timestamp()),
        iat: Some(examples::at("2026-11-28T09:30:00Z").timestamp()),
        hbx_principal_type: Some(PrincipalType::ServiceAccount),
        hbx_account_id: Some(examples::ACCOUNT_ID),
        hbx_service_account_id: Some(examples::SERVICE_ACCOUNT_ID),
        hbx_user_id: None,
        hbx_token_generation: Some(TokenGeneration::Current),
        hbx_grants: Some(grants_example()),
        hbx_federation: None,
    }
}
