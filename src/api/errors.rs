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
    /// 413: the request body is larger than the operation accepts.
    PayloadTooLarge,
    /// 503: the database cannot be reached; retry later.
    Unavailable,
    /// 500: a bug; the message reveals nothing internal.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidToken,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::NameConflict,
        ErrorCode::ServiceAccountRevoked,
        ErrorCode::ServiceAccountExpired,
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
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(&self) -> ErrorStatusCode {
        match self {
            ErrorCode::InvalidRequest => ErrorStatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated | ErrorCode::InvalidToken => ErrorStatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => ErrorStatusCode::FORBIDDEN,
            ErrorCode::NotFound => ErrorStatusCode::NOT_FOUND,
            ErrorCode::NameConflict
            | ErrorCode::ServiceAccountRevoked
            | ErrorCode::ServiceAccountExpired => ErrorStatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => ErrorStatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => ErrorStatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => ErrorStatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An error response with this code. `message` is shown to the client and
    /// logged; it must say what to fix and must never carry a secret.
    pub fn with_message(self, message: impl Into<String>) -> HttpError {
        let message = message.into();
        HttpError {
            status_code: self.status(),
            error_code: Some(self.as_str().to_owned()),
            external_message: message.clone(),
            internal_message: message,
            headers: None,
        }
    }
}
