//! The stable `error_code` values of the API and the status each comes with.
//! Clients match on these strings; they never change meaning.

use dropshot::{ErrorStatusCode, HttpError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: malformed JSON, wrong types, unknown fields, failed validation.
    InvalidRequest,
    /// 401: no credential was sent.
    Unauthenticated,
    /// 401: the credential is malformed, unknown, wrong, expired or revoked.
    InvalidToken,
    /// 403: authenticated, but without the capability the operation needs.
    Forbidden,
    /// 404: no such account or service account, or no standing in it.
    NotFound,
    /// 409: a non-revoked service account of the account has this name.
    NameConflict,
    /// 409: the service account is revoked.
    ServiceAccountRevoked,
    /// 409: the service account's token has expired.
    ServiceAccountExpired,
    /// 409: a request with the same idempotency key is still running.
    IdempotencyKeyInUse,
    /// 409: an idempotent replay's token has since been rotated away.
    TokenSuperseded,
    /// 409: the subject already holds this grant (live).
    AuthorizationExists,
    /// 409: the subject already has this role on this resource (live).
    RoleAssignmentExists,
    /// 409: the grant is the last owner of the account that can act.
    LastOwner,
    /// 409: the account already has an identity provider with this issuer.
    IdentityProviderExists,
    /// 409: federation rules still name the identity provider.
    IdentityProviderInUse,
    /// 422: a federation rule breaks one of the rails (the message names it).
    FederationRuleUnsafe,
    /// 422: the idempotency key was used with a different request.
    IdempotencyKeyReused,
    /// 401: a leak report's signature is missing or does not verify.
    InvalidSignature,
    /// 429: too many requests (or tokens) from this client; retry later.
    RateLimited,
    /// 408: the request body did not arrive in time.
    RequestTimeout,
    /// 413: the request body is larger than the operation accepts.
    PayloadTooLarge,
    /// 503: the database cannot be reached; retry later.
    Unavailable,
    /// 500: a bug; the message reveals nothing internal.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidToken,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::NameConflict,
        ErrorCode::ServiceAccountRevoked,
        ErrorCode::ServiceAccountExpired,
        ErrorCode::IdempotencyKeyInUse,
        ErrorCode::TokenSuperseded,
        ErrorCode::AuthorizationExists,
        ErrorCode::RoleAssignmentExists,
        ErrorCode::LastOwner,
        ErrorCode::IdentityProviderExists,
        ErrorCode::IdentityProviderInUse,
        ErrorCode::FederationRuleUnsafe,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::InvalidSignature,
        ErrorCode::RateLimited,
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NameConflict => "name_conflict",
            ErrorCode::ServiceAccountRevoked => "service_account_revoked",
            ErrorCode::ServiceAccountExpired => "service_account_expired",
            ErrorCode::IdempotencyKeyInUse => "idempotency_key_in_use",
            ErrorCode::TokenSuperseded => "token_superseded",
            ErrorCode::AuthorizationExists => "authorization_exists",
            ErrorCode::RoleAssignmentExists => "role_assignment_exists",
            ErrorCode::LastOwner => "last_owner",
            ErrorCode::IdentityProviderExists => "identity_provider_exists",
            ErrorCode::IdentityProviderInUse => "identity_provider_in_use",
            ErrorCode::FederationRuleUnsafe => "federation_rule_unsafe",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// When this code is returned, for the document.
    pub fn meaning(&self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => {
                "malformed JSON, wrong types, unknown fields or query parameters, or a value \
                 that fails validation; the message names the field"
            }
            ErrorCode::Unauthenticated => "no bearer credential was sent",
            ErrorCode::InvalidToken => {
                "the credential is malformed, unknown, wrong, expired or revoked"
            }
            ErrorCode::Forbidden => {
                "the caller has standing in the account but lacks a capability the operation \
                 needs, would receive a token or give a grant holding capabilities it lacks, \
                 would change its own grants, or used a previous token (in its rotation's \
                 grace period) or a federated token, which cannot issue or change \
                 credentials; the message says which and the `Hbx-Required-Capabilities` header lists what is missing"
            }
            ErrorCode::NotFound => {
                "the account or service account does not exist, or the caller has no standing \
                 in the account"
            }
            ErrorCode::NameConflict => {
                "a non-revoked service account of the account already has this name"
            }
            ErrorCode::ServiceAccountRevoked => "the service account is revoked",
            ErrorCode::ServiceAccountExpired => "the service account's token has expired",
            ErrorCode::IdempotencyKeyInUse => {
                "a request with the same `Idempotency-Key` is still running: retry after it \
                 finishes to get its response"
            }
            ErrorCode::TokenSuperseded => {
                "the `Idempotency-Key` answered with a token that has since been rotated away: \
                 the recorded response is not handed out again; send a new request"
            }
            ErrorCode::AuthorizationExists => {
                "the subject already holds this grant (a live authorization of the same kind, \
                 capability and resource): revoke it first, or leave it"
            }
            ErrorCode::RoleAssignmentExists => {
                "the subject already has this role on this resource (a live assignment)"
            }
            ErrorCode::LastOwner => {
                "the grant is the last owner of the account that can act: grant ownership to \
                 someone else first"
            }
            ErrorCode::IdentityProviderExists => {
                "the account already has an identity provider with this issuer: use it, or \
                 delete it first"
            }
            ErrorCode::IdentityProviderInUse => {
                "federation rules still name the identity provider: delete them first"
            }
            ErrorCode::FederationRuleUnsafe => {
                "the federation rule breaks a rail that keeps strangers out (an owner pin, \
                 `glob` only on branch-like claims and never matching everything): the \
                 message names the rail and what to change"
            }
            ErrorCode::IdempotencyKeyReused => {
                "the `Idempotency-Key` was already used with a different request: use a new \
                 key for a new request"
            }
            ErrorCode::InvalidSignature => {
                "a leak report's signature is missing, malformed, by a key the sender does not \
                 publish, or does not verify"
            }
            ErrorCode::RateLimited => {
                "too many requests from this client (public revocation counts each distinct \
                 token sent): retry after `Retry-After` seconds"
            }
            ErrorCode::RequestTimeout => "the request body did not arrive within 10 seconds",
            ErrorCode::PayloadTooLarge => "the request body is larger than the operation accepts",
            ErrorCode::Unavailable => "the database cannot be reached; retry later",
            ErrorCode::Internal => "a bug; the message reveals nothing internal",
        }
    }

    pub fn status(&self) -> ErrorStatusCode {
        match self {
            ErrorCode::InvalidRequest => ErrorStatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated | ErrorCode::InvalidToken | ErrorCode::InvalidSignature => {
                ErrorStatusCode::UNAUTHORIZED
            }
            ErrorCode::RateLimited => ErrorStatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Forbidden => ErrorStatusCode::FORBIDDEN,
            ErrorCode::NotFound => ErrorStatusCode::NOT_FOUND,
            ErrorCode::NameConflict
            | ErrorCode::ServiceAccountRevoked
            | ErrorCode::ServiceAccountExpired
            | ErrorCode::IdempotencyKeyInUse
            | ErrorCode::TokenSuperseded
            | ErrorCode::AuthorizationExists
            | ErrorCode::RoleAssignmentExists
            | ErrorCode::LastOwner
            | ErrorCode::IdentityProviderExists
            | ErrorCode::IdentityProviderInUse => ErrorStatusCode::CONFLICT,
            ErrorCode::IdempotencyKeyReused | ErrorCode::FederationRuleUnsafe => {
                ErrorStatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::RequestTimeout => ErrorStatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => ErrorStatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => ErrorStatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => ErrorStatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An error response with this code. `message` is shown to the client and
    /// logged; it must say what to fix and must never carry a secret.
    pub fn with_message(self, message: impl Into<String>) -> HttpError {
        let message = message.into();
        self.with_messages(message.clone(), message)
    }

    /// An error response with this code, `external` shown to the client and
    /// `internal` (which may say more, never a secret) logged.
    pub fn with_messages(
        self,
        external: impl Into<String>,
        internal: impl Into<String>,
    ) -> HttpError {
        HttpError {
            status_code: self.status(),
            error_code: Some(self.as_str().to_owned()),
            external_message: external.into(),
            internal_message: internal.into(),
            headers: None,
        }
    }
}
