//! Request and response bodies, headers and parameters of the API, exactly as
//! Hybridbox publishes them: field names, types, required and nullable. Their
//! doc comments become the document's descriptions.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::examples;

/// Path parameters that name an account.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct AccountPath {
    /// The account that owns the service accounts.
    #[schemars(example = "examples::account_id")]
    pub account_id: Uuid,
}

/// Path parameters that name a service account.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ServiceAccountPath {
    /// The account that owns the service account.
    #[schemars(example = "examples::account_id")]
    pub account_id: Uuid,
    /// The service account.
    #[schemars(example = "examples::service_account_id")]
    pub service_account_id: Uuid,
}

/// Query parameters of the list operation.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListServiceAccountsQuery {
    /// Include revoked service accounts. Default: false.
    #[serde(default)]
    pub include_revoked: bool,
    /// Most service accounts to return, from 1 to 1000. Default: 1000.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Return the service accounts that come after this one: the `id` of the last
    /// service account of the previous page.
    pub after: Option<Uuid>,
}

/// A file of the API reference page, by name.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DocsFilePath {
    /// The file's name.
    pub file: String,
}

/// Query parameters of the rotate operation.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateServiceAccountQuery {
    /// How long the replaced token keeps working, in seconds, so that its
    /// users can move to the new one without an outage. Default 0: it stops
    /// at once. At most the server's maximum (`--max-rotation-grace`, 7 days
    /// = 604800 by default); more is 400. A previous token left by an earlier
    /// rotation stops at once either way.
    pub grace_period_seconds: Option<u64>,
}

/// The idempotency header of create and rotate.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct IdempotencyHeaders {
    /// Makes the request safe to retry: a repeat with the same key and the
    /// same request (by the same caller, to the same operation and path)
    /// within 24 hours gets the first response again, with
    /// `Idempotent-Replayed: true`, and changes nothing; its token included.
    /// The same key with a different request is 422
    /// `idempotency_key_reused`; a repeat while the first still runs is 409
    /// `idempotency_key_in_use`. 16 to 255 printable ASCII characters, not
    /// starting or ending with a space: send a new random UUID for each new
    /// request. Refusals before the operation runs (authentication,
    /// authorization, a malformed body) and 5xx answers are not recorded.
    #[serde(rename = "Idempotency-Key")]
    #[schemars(length(min = 16, max = 255), regex(pattern = r"^[!-~]([ -~]*[!-~])?$"))]
    pub idempotency_key: Option<String>,
}

/// Request body for creating a service account.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = "create_request_example")]
pub struct CreateServiceAccountRequest {
    /// Human-readable name of the service account: 1 to 120 characters, not only
    /// white space, without control characters or invisible ones (Unicode
    /// format characters such as the zero-width space, and Hangul fillers).
    /// Unique among the account's non-revoked service accounts.
    #[schemars(length(min = 1, max = 120))]
    pub name: String,
    /// Optional UTC timestamp at which the token expires. Any RFC 3339 offset is
    /// accepted and normalized to UTC; it must be in the future and no later
    /// than 9999-12-31T23:59:59Z, and not a leap second. Omitted or null: the
    /// token does not expire.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A service account: a non-human identity in one account that holds one bearer
/// token at a time, and for a while after a rotation with a grace period, the
/// previous one too.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "service_account_example")]
pub struct ServiceAccount {
    #[serde(flatten)]
    pub fields: ServiceAccountFields,
}

/// The fields of a service account, shared by [`ServiceAccount`] and
/// [`ServiceAccountWithToken`] (each with an example of its own).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct ServiceAccountFields {
    /// The account that owns the service account.
    pub account_id: Uuid,
    /// When the service account was created (UTC).
    pub created_at: DateTime<Utc>,
    /// Identifier of the service account; stable across token rotation.
    pub id: Uuid,
    /// Human-readable name of the service account.
    pub name: String,
    /// The last 4 characters of the current token, to recognize it without
    /// revealing it.
    pub token_last4: String,
    /// The fixed type prefix of the token (for example `hbxsa`).
    pub token_prefix: String,
    /// The non-secret identifier embedded in the current token.
    pub token_public_id: String,
    /// When the service account last changed: creation, rotation, retirement of
    /// the previous token, or revocation (UTC).
    pub updated_at: DateTime<Utc>,
    /// The user who created the service account; null when a service account did.
    pub created_by_user_id: Option<Uuid>,
    /// When the token expires (UTC); null when it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last successful authentication with the current token (UTC); null
    /// before the first use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the service account was revoked (UTC); null while it is active.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The user who revoked the service account; null when a service account
    /// did, or while it is active.
    pub revoked_by_user_id: Option<Uuid>,
    /// Why the service account was revoked: `requested` (the revoke
    /// operation), `leaked` (a secret-scanning partner reported its token
    /// found in public) or `reported` (someone holding its token sent it to
    /// the public revocation endpoint). Null while it is active.
    // `default`: optional like its neighbours (a custom schema would
    // otherwise be required).
    #[serde(default)]
    #[schemars(schema_with = "nullable_revoked_reason")]
    pub revoked_reason: Option<RevokedReason>,
    /// When the service account's own token was turned off
    /// (`disable-static-token`), leaving only tokens minted by federation;
    /// null while it works. A rotation turns a new one on.
    pub static_token_disabled_at: Option<DateTime<Utc>>,
    /// The public id of the previous token, which a rotation with a grace
    /// period left working until `previous_token_expires_at`; null when there
    /// is no previous token still working.
    pub previous_token_public_id: Option<String>,
    /// The last 4 characters of the previous token; null when there is no
    /// previous token still working.
    pub previous_token_last4: Option<String>,
    /// When the previous token stops working (UTC): the rotation's time plus
    /// its grace period, or `expires_at` if that comes first. Null when there
    /// is no previous token still working.
    pub previous_token_expires_at: Option<DateTime<Utc>>,
    /// The last successful authentication with the previous token (UTC):
    /// its `last_used_at` when the rotation replaced it, then every use since
    /// (written like `last_used_at`, at most once a minute). When it stops
    /// moving, nothing uses the old token any more. Null if it was never
    /// used, or when there is no previous token still working.
    pub previous_token_last_used_at: Option<DateTime<Utc>>,
}

/// Why a service account was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevokedReason {
    Requested,
    Leaked,
    Reported,
}

fn nullable_revoked_reason(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    nullable_string_enum(&["requested", "leaked", "reported"])
}

/// A nullable string enumeration, spelled out: OpenAPI 3.0 wants a `type`
/// beside `nullable` (a nullable reference has none), and `null` among the
/// enumerated values; client generators then make one optional enum of it.
pub(crate) fn nullable_string_enum(values: &[&str]) -> schemars::schema::Schema {
    let mut schema = schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        enum_values: Some(
            values
                .iter()
                .map(|value| serde_json::Value::from(*value))
                .chain([serde_json::Value::Null])
                .collect(),
        ),
        ..Default::default()
    };
    schema
        .extensions
        .insert("nullable".to_owned(), serde_json::Value::Bool(true));
    schema.into()
}

/// A service account together with its plaintext bearer token, returned only
/// when the token is issued (create and rotate).
#[derive(Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "service_account_with_token_example")]
pub struct ServiceAccountWithToken {
    #[serde(flatten)]
    pub fields: ServiceAccountFields,
    /// Plaintext bearer token. Store it now; it will never be returned again.
    pub token: String,
}

/// Never prints the token (it would otherwise reach any log line or failed
/// assertion that formats the response).
impl std::fmt::Debug for ServiceAccountWithToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountWithToken")
            .field("fields", &self.fields)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The `Sunset` header of a response to a request made with a previous
/// token (RFC 8594).
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct SunsetHeaders {
    /// Only on a response to a request authenticated with a previous token
    /// (in a rotation's grace period): when that token stops working, as an
    /// HTTP-date. Move to the current token before then.
    #[serde(rename = "Sunset")]
    pub sunset: Option<String>,
}

/// Headers of a rotate response, which carries a new token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RotatedHeaders {
    /// Always `no-store`: the response carries a secret that no cache may keep.
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
    /// `true` when this response is the replay of an earlier request with the
    /// same `Idempotency-Key`; absent otherwise.
    #[serde(rename = "Idempotent-Replayed")]
    pub idempotent_replayed: Option<String>,
    /// Only on a response to a request authenticated with a previous token
    /// (in a rotation's grace period): when that token stops working, as an
    /// HTTP-date (RFC 8594).
    #[serde(rename = "Sunset")]
    pub sunset: Option<String>,
}

/// The answer of the health endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct HealthStatus {
    /// Always `ok` (a failure is an error response).
    pub status: String,
}

impl HealthStatus {
    pub fn ok() -> Self {
        Self {
            status: "ok".to_owned(),
        }
    }
}

/// Headers of an answer about a credential (introspection).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CredentialAnswerHeaders {
    /// Always `no-store`: the answer is about a credential that may be revoked
    /// at any moment, so no shared cache may keep it.
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
}

/// Headers of the whoami answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WhoamiHeaders {
    /// Always `no-store`: the answer is about a credential that may be revoked
    /// at any moment, so no shared cache may keep it.
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
    /// Only when the caller used a previous token (in a rotation's grace
    /// period): when that token stops working, as an HTTP-date (RFC 8594).
    #[serde(rename = "Sunset")]
    pub sunset: Option<String>,
}

/// Headers of a response that creates a service account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedHeaders {
    /// Path of the new service account.
    #[serde(rename = "Location")]
    pub location: String,
    /// Always `no-store`: the response carries a secret that no cache may keep.
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
    /// `true` when this response is the replay of an earlier request with the
    /// same `Idempotency-Key`; absent otherwise.
    #[serde(rename = "Idempotent-Replayed")]
    pub idempotent_replayed: Option<String>,
    /// Only on a response to a request authenticated with a previous token
    /// (in a rotation's grace period): when that token stops working, as an
    /// HTTP-date (RFC 8594).
    #[serde(rename = "Sunset")]
    pub sunset: Option<String>,
}

// The examples the document shows (their facts: `examples`).

fn create_request_example() -> CreateServiceAccountRequest {
    CreateServiceAccountRequest {
        name: "ci-deploy".to_owned(),
        expires_at: Some(examples::at("2027-06-01T00:00:00Z")),
    }
}

fn service_account_example() -> ServiceAccount {
    ServiceAccount {
        fields: fields_example(),
    }
}

fn fields_example() -> ServiceAccountFields {
    ServiceAccountFields {
        account_id: examples::ACCOUNT_ID,
        created_at: examples::at("2026-11-28T09:30:00Z"),
        id: examples::SERVICE_ACCOUNT_ID,
        name: "ci-deploy".to_owned(),
        token_last4: examples::last4(),
        token_prefix: "hbxsa".to_owned(),
        token_public_id: examples::public_id(),
        updated_at: examples::at("2026-11-28T09:30:00Z"),
        created_by_user_id: Some(examples::USER_ID),
        expires_at: Some(examples::at("2027-06-01T00:00:00Z")),
        last_used_at: Some(examples::at("2026-11-28T10:02:17.250000Z")),
        revoked_at: None,
        revoked_by_user_id: None,
        revoked_reason: None,
        static_token_disabled_at: None,
        previous_token_public_id: None,
        previous_token_last4: None,
        previous_token_expires_at: None,
        previous_token_last_used_at: None,
    }
}

fn service_account_with_token_example() -> ServiceAccountWithToken {
    ServiceAccountWithToken {
        fields: ServiceAccountFields {
            last_used_at: None,
            ..fields_example()
        },
        token: examples::TOKEN.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_token() {
        let example = super::service_account_with_token_example();
        let rendered = format!("{example:?}");
        assert!(!rendered.contains(&example.token), "{rendered}");
        assert!(rendered.contains("<redacted>"));
    }
}
