//! The federation exchange's operation (`POST /v1/public/auth/token`): no
//! bearer credential; the body is an RFC 8693 request, form-encoded or JSON.
//! Requests are limited per client address and per service account before
//! any work; errors are RFC 6749 bodies (made from the [`HttpError`] this
//! handler answers with, `error_code` = `"<error> <reason>"`), never
//! echoing a claim; a minted token is answered with `Cache-Control:
//! no-store` and logged by its public id only.

use dropshot::{ErrorStatusCode, HttpError, HttpResponseHeaders, HttpResponseOk, RequestContext};
use slog::info;
use uuid::Uuid;

use super::authentication::origin;
use super::client_address::{client_address, limiter_key};
use super::context::ApiContext;
use super::frame;
use super::service_accounts::no_store;
use crate::api::extract::FormBody;
use crate::api::federation::{REASON_SEPARATOR, TokenExchangeRequest, TokenExchangeResponse};
use crate::api::types::CredentialAnswerHeaders;
use crate::domain::CapabilityKey;
use crate::service::token_exchange::{ExchangeError, ExchangeRequest};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const SUBJECT_TOKEN_TYPES: [&str; 2] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An OAuth error: `error` and a coarse `reason` (the `hbx_reason`), with a
/// description for people.
fn oauth(status: u16, error: &str, reason: &str, description: impl Into<String>) -> HttpError {
    let status = ErrorStatusCode::from_u16(status).unwrap_or(ErrorStatusCode::BAD_REQUEST);
    let description = description.into();
    HttpError {
        status_code: status,
        error_code: Some(format!("{error}{REASON_SEPARATOR}{reason}")),
        external_message: description.clone(),
        internal_message: description,
        headers: None,
    }
}

fn invalid_request(reason: &str, description: impl Into<String>) -> HttpError {
    oauth(400, "invalid_request", reason, description)
}

/// The request's form checked: what the exchange needs.
fn parse(request: TokenExchangeRequest) -> Result<ExchangeRequest, HttpError> {
    if request.grant_type != GRANT_TYPE {
        return Err(oauth(
            400,
            "unsupported_grant_type",
            "grant_type",
            format!("grant_type must be {GRANT_TYPE}"),
        ));
    }
    if !SUBJECT_TOKEN_TYPES.contains(&request.subject_token_type.as_str()) {
        return Err(invalid_request(
            "subject_token_type",
            "subject_token_type must be urn:ietf:params:oauth:token-type:jwt or \
             urn:ietf:params:oauth:token-type:id_token",
        ));
    }
    if request
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(invalid_request(
            "requested_token_type",
            format!("requested_token_type must be absent or {ACCESS_TOKEN_TYPE}"),
        ));
    }
    let id = |value: &str, name: &str| {
        Uuid::parse_str(value).map_err(|_| invalid_request(name, format!("{name} must be a UUID")))
    };
    let scope = match request.scope.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(scope) => Some(
            scope
                .split_whitespace()
                .map(CapabilityKey::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| {
                    oauth(
                        400,
                        "invalid_scope",
                        "scope",
                        "scope must list capability keys (such as auth.manage), space-separated",
                    )
                })?,
        ),
    };
    if request.subject_token.is_empty() {
        return Err(invalid_request(
            "subject_token",
            "subject_token is required",
        ));
    }
    Ok(ExchangeRequest {
        account_id: id(&request.account_id, "account_id")?,
        service_account_id: id(&request.service_account_id, "service_account_id")?,
        subject_token: request.subject_token,
        scope,
    })
}

pub async fn exchange(
    rqctx: &RequestContext<ApiContext>,
    body: FormBody<TokenExchangeRequest>,
) -> Result<
    HttpResponseHeaders<HttpResponseOk<TokenExchangeResponse>, CredentialAnswerHeaders>,
    HttpError,
> {
    let context = rqctx.context();
    let client = client_address(
        rqctx.request.remote_addr().ip(),
        rqctx.request.headers(),
        &context.trusted_proxies,
    );
    let limited = |wait: std::time::Duration, what: &str| {
        oauth(
            429,
            "rate_limited",
            "rate_limited",
            format!(
                "too many exchanges {what}: retry in {} seconds",
                wait.as_secs().max(1)
            ),
        )
    };
    let key = limiter_key(client, context.public_revoke_ipv6_prefix);
    if let Err(wait) = context.exchanges_by_address.admit(key) {
        return Err(limited(wait, "from this address"));
    }
    let request = parse(body.decode_form_or_json()?)?;
    if let Err(wait) = context
        .exchanges_by_service_account
        .admit(request.service_account_id)
    {
        return Err(limited(wait, "for this service account"));
    }
    let exchanged = context
        .token_exchange
        .exchange(&request, &origin(rqctx))
        .await
        .map_err(|error| match error {
            ExchangeError::InvalidGrant { reason } => oauth(
                400,
                "invalid_grant",
                reason,
                "the subject token is not accepted for this service account; an administrator \
                 of the account can read why in its audit log",
            ),
            ExchangeError::InvalidScope => oauth(
                400,
                "invalid_scope",
                "scope",
                "scope asks for a capability the matching federation rule does not give",
            ),
            ExchangeError::Unavailable(cause) => {
                let mut error = oauth(
                    503,
                    "temporarily_unavailable",
                    "unavailable",
                    "the exchange cannot be made now (the issuer's keys or the database cannot \
                     be reached): retry later",
                );
                error.internal_message = format!("{}: {cause}", error.internal_message);
                error
            }
            ExchangeError::Internal(cause) => super::error::internal(&cause),
        })?;
    let minted = &exchanged.minted;
    frame::note_principal(format!("service_account:{}", minted.service_account_id));
    info!(rqctx.log, "token exchanged";
        "account_id" => %minted.account_id,
        "service_account_id" => %minted.service_account_id,
        "federation_rule_id" => %minted.provenance.federation_rule_id,
        "token_public_id" => &minted.token.public_id);
    let scope: Vec<&str> = minted
        .capabilities
        .iter()
        .map(CapabilityKey::as_str)
        .collect();
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(TokenExchangeResponse {
            access_token: exchanged.token.into_exposed(),
            issued_token_type: ACCESS_TOKEN_TYPE.to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: exchanged.expires_in,
            scope: scope.join(" "),
        }),
        CredentialAnswerHeaders {
            cache_control: no_store(),
        },
    ))
}
