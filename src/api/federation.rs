//! Types of workload identity federation: the identity providers an account
//! trusts, the federation rules of its service accounts and their dry run,
//! and the token exchange (RFC 8693) with its OAuth error body (RFC 6749
//! §5.2), so that OAuth client libraries work with it as they are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dropshot::{ErrorStatusCode, HttpError, HttpResponseError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::examples;

// The enums' variants carry no doc comments of their own: with them, the
// schema becomes a `oneOf` that client generators turn into one type per
// value.

/// The platform an issuer is: `github_actions`, `gitlab_ci`, `kubernetes` or
/// `generic`. It decides which claim a rule must pin (the rails) and which
/// claims a minted token's provenance shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    GithubActions,
    GitlabCi,
    Kubernetes,
    Generic,
}

/// Where the issuer's signing keys are found: `{"source": "discovery"}`
/// (its OpenID configuration's `jwks_uri`), `{"source": "jwks_url", "url"}`,
/// or `{"source": "inline", "jwks"}` for an issuer this server cannot reach.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProviderKeys {
    #[default]
    Discovery,
    JwksUrl {
        /// An https URL serving the issuer's JWKS.
        url: String,
    },
    Inline {
        /// The issuer's public keys, as a JWKS document (`{"keys": [...]}`).
        jwks: serde_json::Value,
    },
}

/// An identity provider to register.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = "create_provider_example")]
pub struct CreateIdentityProviderRequest {
    /// A name for people, 1 to 120 characters.
    pub name: String,
    /// The issuer's identifier, compared exactly with a token's `iss`: an
    /// https URL such as `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The platform.
    pub kind: ProviderKind,
    /// Where its keys are found; default `{"source": "discovery"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "ProviderKeys")]
    pub keys: Option<ProviderKeys>,
    /// The longest a presented token may live (`exp − iat`), in seconds: 1
    /// to 86400, default 3600. A year-long Kubernetes token is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_subject_token_lifetime_seconds: Option<u32>,
}

/// An identity provider of an account.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct IdentityProvider {
    /// The provider's id.
    pub id: Uuid,
    /// The account that trusts it.
    pub account_id: Uuid,
    /// Its name.
    pub name: String,
    /// The issuer, as tokens state it.
    pub issuer: String,
    /// The platform.
    pub kind: ProviderKind,
    /// Where its keys are found.
    pub keys: ProviderKeys,
    /// The longest a presented token may live, in seconds.
    pub max_subject_token_lifetime_seconds: u32,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// Path parameters that name an identity provider.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct IdentityProviderPath {
    /// The account.
    pub account_id: Uuid,
    /// The identity provider.
    pub identity_provider_id: Uuid,
}

/// How a condition tests its claim: `eq` (exactly `value`), `in` (exactly
/// one of `values`) or `glob` (`value` with `*` matching within one `/`- or
/// `:`-separated segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    Eq,
    In,
    Glob,
}

/// A condition on one claim of the presented token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    /// The claim's name (`repository_owner_id`, `ref`, `sub` ...).
    pub claim: String,
    /// How it is tested.
    pub op: ConditionOp,
    /// For `eq` and `glob`: the expected value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// For `in`: the accepted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// A federation rule to create.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = "create_rule_example")]
pub struct CreateFederationRuleRequest {
    /// The identity provider whose tokens the rule takes.
    pub identity_provider_id: Uuid,
    /// The `aud` the token must carry (alone); default
    /// `https://api.hybridbox.io/accounts/{account_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Every one must hold, each on its own claim. Rails (422
    /// `federation_rule_unsafe` naming the rail): `github_actions` needs
    /// `repository_owner_id` `eq` (and `repository_id` `eq` when
    /// `repository` is named), `gitlab_ci` `namespace_id` or `project_id`
    /// `eq`, `kubernetes` and `generic` `sub` `eq`; `glob` only on `ref`,
    /// `ref_type`, `environment`, `workflow_ref`, `job_workflow_ref`,
    /// `ref_path` and the last segment of `sub`, never only `*`.
    pub conditions: Vec<ClaimCondition>,
    /// The most a minted token may do: capability keys the service account
    /// holds (and the caller too).
    pub capabilities: Vec<String>,
    /// A minted token's lifetime in seconds: 60 to 3600, default 900.
    #[serde(default)]
    pub token_ttl_seconds: Option<u32>,
    /// What the rule is for, for people (at most 500 characters).
    #[serde(default)]
    pub description: Option<String>,
}

/// A federation rule of a service account.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct FederationRule {
    /// The rule's id.
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// The service account its tokens speak for.
    pub service_account_id: Uuid,
    /// The identity provider whose tokens it takes.
    pub identity_provider_id: Uuid,
    /// The `aud` a token must carry.
    pub audience: String,
    /// The conditions, all of which must hold.
    pub conditions: Vec<ClaimCondition>,
    /// The most a minted token may do.
    pub capabilities: Vec<String>,
    /// A minted token's lifetime in seconds.
    pub token_ttl_seconds: u32,
    /// What the rule is for; null if not said.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Path parameters that name a federation rule.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct FederationRulePath {
    /// The account.
    pub account_id: Uuid,
    /// The service account.
    pub service_account_id: Uuid,
    /// The federation rule.
    pub federation_rule_id: Uuid,
}

/// A dry run's input: the claims of a token, or a token (whose claims are
/// read without checking its signature or times: nothing is minted).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederationRuleTestRequest {
    /// Claims as a token would carry them.
    #[serde(default)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    /// A token whose claims to test.
    #[serde(default)]
    pub subject_token: Option<String>,
}

/// One condition's outcome in a dry run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct ConditionResult {
    /// The claim.
    pub claim: String,
    /// The test (`eq`, `in`, `glob`; `aud` is tested with `eq`).
    pub op: String,
    /// What was expected: a string, or a list for `in`.
    pub expected: serde_json::Value,
    /// The claim as presented, as text; null if absent (or not a string,
    /// number or boolean).
    pub presented: Option<String>,
    /// Whether it held.
    pub pass: bool,
}

/// A dry run's answer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct FederationRuleTestResult {
    /// Whether every condition (the audience included) held.
    pub matched: bool,
    /// The audience first, then each condition in the rule's order.
    pub conditions: Vec<ConditionResult>,
}

/// Where a federated token came from (whoami `federation`, introspection
/// `hbx_federation`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct FederationProvenance {
    /// The rule that matched.
    pub federation_rule_id: Uuid,
    /// The identity provider that issued the presented token.
    pub identity_provider_id: Uuid,
    /// Its issuer.
    pub issuer: String,
    /// The presented token's `sub`.
    pub subject: String,
    /// The provider kind's useful claims: repository, repository_id, run_id,
    /// ref, sha, workflow_ref (GitHub); project_path, pipeline_id (GitLab)...
    pub claims: BTreeMap<String, String>,
}

/// A token exchange request (RFC 8693 §2.1), form-encoded or JSON. Other
/// parameters are ignored (RFC 6749 §3.2).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct TokenExchangeRequest {
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_type: String,
    /// The workload's OIDC token (a JWT).
    pub subject_token: String,
    /// `urn:ietf:params:oauth:token-type:jwt` or `...:id_token`.
    pub subject_token_type: String,
    /// The account of the service account.
    pub account_id: String,
    /// The service account the token is for.
    pub service_account_id: String,
    /// Capability keys, space-separated: at most the rule's (default: all
    /// of them).
    #[serde(default)]
    pub scope: Option<String>,
    /// Absent, or `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(default)]
    pub requested_token_type: Option<String>,
}

/// A minted token (RFC 8693 §2.2.1).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct TokenExchangeResponse {
    /// The service-account token (`hbxsa_...`): shown here only.
    pub access_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u32,
    /// The capability keys it carries, space-separated.
    pub scope: String,
}

/// An OAuth error (RFC 6749 §5.2): `invalid_request`, `invalid_grant`,
/// `invalid_scope`, `unsupported_grant_type`, `rate_limited` (429) or
/// `temporarily_unavailable` (503). The description never echoes a claim.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct OAuthError {
    /// The OAuth error code.
    pub error: String,
    /// What went wrong, for people.
    pub error_description: String,
    /// Why, in one coarse word (`signature`, `expired`, `replayed`,
    /// `no_matching_rule` ...): the account's audit log says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hbx_reason: Option<String>,
    /// The request, in the server's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The status (not sent).
    #[serde(skip)]
    #[schemars(skip)]
    pub status: u16,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
    }
}

/// The separator between the OAuth error and the reason in the `error_code`
/// of the [`HttpError`] the exchange's handler answers with.
pub const REASON_SEPARATOR: char = ' ';

impl From<HttpError> for OAuthError {
    /// An error of the exchange's handler (`error_code` = `"<error>
    /// <reason>"`), or of Dropshot and the extractors before it (a malformed
    /// or oversized body: `invalid_request`).
    fn from(error: HttpError) -> Self {
        let code = error.error_code.clone().unwrap_or_default();
        let (oauth, reason) = match code.split_once(REASON_SEPARATOR) {
            Some((oauth, reason)) => (oauth.to_owned(), Some(reason.to_owned())),
            None if error.status_code.as_u16() == 503 => {
                ("temporarily_unavailable".to_owned(), Some(code))
            }
            None if error.status_code.as_u16() >= 500 => ("server_error".to_owned(), None),
            None => (
                "invalid_request".to_owned(),
                Some(code).filter(|c| !c.is_empty()),
            ),
        };
        Self {
            error: oauth,
            error_description: error.external_message,
            hbx_reason: reason,
            request_id: None,
            status: error.status_code.as_u16(),
        }
    }
}

impl HttpResponseError for OAuthError {
    fn status_code(&self) -> ErrorStatusCode {
        ErrorStatusCode::from_u16(self.status).unwrap_or(ErrorStatusCode::BAD_REQUEST)
    }
}

fn create_provider_example() -> CreateIdentityProviderRequest {
    CreateIdentityProviderRequest {
        name: "GitHub Actions".to_owned(),
        issuer: "https://token.actions.githubusercontent.com".to_owned(),
        kind: ProviderKind::GithubActions,
        keys: Some(ProviderKeys::Discovery),
        max_subject_token_lifetime_seconds: None,
    }
}

fn create_rule_example() -> CreateFederationRuleRequest {
    let eq = |claim: &str, value: &str| ClaimCondition {
        claim: claim.to_owned(),
        op: ConditionOp::Eq,
        value: Some(value.to_owned()),
        values: None,
    };
    CreateFederationRuleRequest {
        identity_provider_id: examples::SERVICE_ACCOUNT_ID,
        audience: None,
        conditions: vec![
            eq("repository_owner_id", "1342004"),
            eq("repository_id", "82017523"),
            eq("repository", "acme/api"),
            ClaimCondition {
                claim: "ref".to_owned(),
                op: ConditionOp::Glob,
                value: Some("refs/heads/release-*".to_owned()),
                values: None,
            },
        ],
        capabilities: vec!["auth.manage".to_owned()],
        token_ttl_seconds: Some(900),
        description: Some("Deploys from acme/api's release branches".to_owned()),
    }
}
