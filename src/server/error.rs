//! The one place where failures become HTTP responses: authentication and
//! service errors are mapped to a status, a stable `error_code` and a message
//! that says what to do, never one that carries a secret or an internal detail.

use dropshot::HttpError;
use http::HeaderValue;

use crate::api::errors::ErrorCode;
use crate::auth::AuthError;
use crate::domain::Capability;
use crate::report;
use crate::service::ServiceError;

/// The protection space named in `WWW-Authenticate` challenges.
pub const REALM: &str = "hybridbox";

/// The challenge of a request without a credential (RFC 6750 §3.1: no error
/// code), and of one with an invalid credential.
const BEARER_CHALLENGE: &str = "Bearer realm=\"hybridbox\"";
const INVALID_TOKEN_CHALLENGE: &str = "Bearer realm=\"hybridbox\", error=\"invalid_token\"";
/// The challenge of introspection, which takes HTTP Basic.
const BASIC_CHALLENGE: &str = "Basic realm=\"hybridbox\"";

pub fn auth_error(error: AuthError) -> HttpError {
    match error {
        AuthError::Missing => with_challenge(
            ErrorCode::Unauthenticated.with_message(
                "this operation needs a credential: send `Authorization: Bearer <token>`",
            ),
            BEARER_CHALLENGE,
        ),
        // One answer for every reason, so that probing learns nothing; the
        // reason goes to the log only. (The hot path of every refusal: built
        // from constants, with no formatting.)
        AuthError::Refused(reason) => with_challenge(
            ErrorCode::InvalidToken.with_messages(
                "the bearer token is not valid: it may be mistyped, expired or revoked",
                ["invalid token: ", reason.as_str()].concat(),
            ),
            INVALID_TOKEN_CHALLENGE,
        ),
        AuthError::Unavailable(detail) => unavailable(&detail),
        AuthError::IssuerUnavailable(detail) => {
            let mut error = ErrorCode::Unavailable.with_message(
                "the identity provider's signing keys cannot be fetched, so this access \
                 token cannot be checked now; retry later",
            );
            error.internal_message = report::chain(&detail);
            error
        }
        AuthError::Internal(detail) => internal(&detail),
    }
}

/// Introspection clients that are missing or wrong get one answer, with a
/// Basic challenge; the reason goes to the log only.
pub fn client_auth_error(error: AuthError) -> HttpError {
    match error {
        AuthError::Missing | AuthError::Refused(_) => {
            let mut response = with_challenge(
                ErrorCode::Unauthenticated.with_message(
                    "this operation is for introspection clients: send `Authorization: Basic \
                     base64(client_id:client_secret)` with credentials from `hbx-sa \
                     introspection-clients create`",
                ),
                BASIC_CHALLENGE,
            );
            response.internal_message = match &error {
                AuthError::Refused(reason) => {
                    ["invalid client credentials (", reason.as_str(), ")"].concat()
                }
                _ => "no client credentials".to_owned(),
            };
            response
        }
        AuthError::Unavailable(cause) => unavailable(&cause),
        AuthError::IssuerUnavailable(cause) => internal(&cause),
        AuthError::Internal(cause) => internal(&cause),
    }
}

pub fn service_error(error: ServiceError) -> HttpError {
    match error {
        ServiceError::Invalid(invalid) => ErrorCode::InvalidRequest
            .with_message(format!("`{}` {}", invalid.field, invalid.message)),
        ServiceError::NotFound => {
            ErrorCode::NotFound.with_message("not found, or not visible to this caller")
        }
        ServiceError::Forbidden { needed } => forbidden(
            format!(
                "the caller lacks the `{needed}` capability on this account; an administrator of \
                 the account can grant it"
            ),
            &[needed.as_str()],
        ),
        ServiceError::WouldEscalate { missing } => forbidden(
            format!(
                "rotating this service account would give you a token holding capabilities you \
                 do not hold ({}); ask an owner of the account to rotate it",
                missing.join(", ")
            ),
            &missing.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        ServiceError::NotPermitted { required, reason } => forbidden(
            reason,
            &required.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        ServiceError::PreviousToken { operation } => forbidden(
            format!(
                "this request was made with a previous token, still working in its rotation's \
                 grace period, which cannot {operation}: a leaked previous token must not \
                 outlive the grace period or replace the current token. Use the current token"
            ),
            &[Capability::AuthManage.as_str()],
        ),
        ServiceError::FederatedToken { operation } => forbidden(
            format!(
                "this request was made with a federated token (minted by a token exchange), \
                 which cannot {operation}: use the service account's own token, or a user's"
            ),
            &[Capability::AuthManage.as_str()],
        ),
        ServiceError::IdentityProviderExists => ErrorCode::IdentityProviderExists.with_message(
            "the account already has an identity provider with this issuer: nothing was \
             changed; use the existing one (GET .../auth/identity-providers)",
        ),
        ServiceError::IdentityProviderInUse => ErrorCode::IdentityProviderInUse
            .with_message("federation rules still name this identity provider: delete them first"),
        ServiceError::RailBroken(broken) => ErrorCode::FederationRuleUnsafe
            .with_message(format!("rail `{}`: {}", broken.rail, broken.message)),
        ServiceError::AuthorizationExists => ErrorCode::AuthorizationExists.with_message(
            "the subject already holds this grant (a live authorization of the same kind, \
             capability and resource): nothing was changed",
        ),
        ServiceError::RoleAssignmentExists => ErrorCode::RoleAssignmentExists.with_message(
            "the subject already has this role on this resource: nothing was changed",
        ),
        ServiceError::LastOwner => ErrorCode::LastOwner.with_message(
            "this is the last owner grant of the account that can act; without one, nobody \
             could grant anything there again: grant account_owner to someone else first",
        ),
        ServiceError::ReplaySuperseded => ErrorCode::TokenSuperseded.with_message(
            "this Idempotency-Key answered with a token that has since been rotated away; its \
             response is not handed out again: send a new request with a new key",
        ),
        ServiceError::NameConflict { name } => ErrorCode::NameConflict.with_message(format!(
            "a service account named {name:?} already exists in this account: choose another \
             name, or revoke the existing one first"
        )),
        ServiceError::Revoked => ErrorCode::ServiceAccountRevoked.with_message(
            "the service account is revoked and its token cannot be rotated: create a new one",
        ),
        ServiceError::Expired { expired_at } => {
            ErrorCode::ServiceAccountExpired.with_message(format!(
                "the service account's token expired at {} and cannot be rotated: create a new \
                 service account",
                expired_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ))
        }
        ServiceError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused.with_message(
            "this Idempotency-Key was already used with a different request (another body, \
             query or path): send a new key for a new request",
        ),
        ServiceError::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse.with_message(
            "a request with this Idempotency-Key is still running: retry in a moment to get \
             its response",
        ),
        ServiceError::Unavailable(detail) => unavailable(&detail),
        ServiceError::Internal(detail) => internal(&*detail),
    }
}

/// The header that lists, on every 403, the capabilities the caller lacks.
pub const REQUIRED_CAPABILITIES_HEADER: &str = "hbx-required-capabilities";

/// 403 `forbidden` saying why, with the capabilities it takes in
/// `Hbx-Required-Capabilities`.
fn forbidden(message: String, required: &[&str]) -> HttpError {
    let mut error = ErrorCode::Forbidden.with_message(message);
    // Capability keys are plain ASCII; anything else would not be one.
    if let Ok(value) = HeaderValue::from_str(&required.join(", ")) {
        error
            .headers_mut()
            .insert(REQUIRED_CAPABILITIES_HEADER, value);
    }
    error
}

/// 503 `unavailable`; the cause goes to the log only.
fn unavailable(cause: &(dyn std::error::Error + 'static)) -> HttpError {
    let mut error =
        ErrorCode::Unavailable.with_message("the service's database is unavailable; retry later");
    error.internal_message = report::chain(cause);
    error
}

/// 500 `internal`: the body says nothing more; the cause goes to the log only.
pub fn internal(cause: &(dyn std::error::Error + 'static)) -> HttpError {
    let mut error = ErrorCode::Internal.with_message("internal error");
    error.internal_message = report::chain(cause);
    error
}

fn with_challenge(mut error: HttpError, challenge: &'static str) -> HttpError {
    error.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_challenge_names_the_realm() {
        for challenge in [BEARER_CHALLENGE, INVALID_TOKEN_CHALLENGE, BASIC_CHALLENGE] {
            assert!(
                challenge.contains(&format!("realm=\"{REALM}\"")),
                "{challenge}"
            );
        }
    }
}
