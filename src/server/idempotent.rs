//! Writes under an `Idempotency-Key` (`crate::service::idempotency` keeps the
//! records): create and rotate, and the grants and role assignments. The
//! first request runs and its response is recorded in the same transaction
//! as its change; a retry gets that response again.
//! A replay that hands a token out again is not a free pass: it runs the
//! authorization the original ran (a current token, the escalation check),
//! is refused once that token has been rotated away or its service account
//! revoked, and is audited.

use std::sync::Arc;

use dropshot::{ErrorStatusCode, HttpError, RequestContext};
use slog::warn;

use super::context::ApiContext;
use super::error::{self, service_error};
use crate::api::types::ServiceAccountWithToken;
use crate::domain::AuditAction;
use crate::service::authorizations::Seal;
use crate::service::idempotency::{
    Attempt, Begun, IdempotencyKey, IdempotencyScope, RecordedResponse,
};
use crate::service::{
    AccountAccess, IssuedServiceAccount, ReplayedToken, SealIssued, ServiceError,
};

/// What an idempotency key found before the operation ran.
enum Started {
    /// Run the operation (completing this attempt's record, if there is a key).
    Run(Option<Attempt>),
    /// Answered already: this response again.
    Replay(Box<ServiceAccountWithToken>),
}

/// An operation that issues a token, as the idempotency record knows it (with
/// the request's operation id).
pub(super) struct Idempotent<'r, R> {
    /// The `Idempotency-Key` header, if the request has one.
    pub key: Option<String>,
    /// The request's path, from its parsed parameters.
    pub path: String,
    /// What makes two requests the same: the decoded input.
    pub request: &'r R,
    /// The status of its success.
    pub status: u16,
    /// The operation, as the audit log names it (`create` or `rotate`).
    pub of: AuditAction,
}

/// Runs `issue` (which gets the sealer to complete the record in its
/// transaction), unless the request's key answers for it already: the
/// service account with its token, and whether that is a replay.
pub(super) async fn issue_idempotently<R, Issue, Issuing>(
    rqctx: &RequestContext<ApiContext>,
    access: &AccountAccess,
    idempotent: Idempotent<'_, R>,
    issue: Issue,
) -> Result<(ServiceAccountWithToken, bool), HttpError>
where
    R: serde::Serialize,
    Issue: FnOnce(Option<SealIssued>) -> Issuing,
    Issuing: Future<Output = Result<IssuedServiceAccount, ServiceError>>,
{
    let status = idempotent.status;
    match start_idempotent(rqctx, access, idempotent).await? {
        Started::Replay(replayed) => Ok((*replayed, true)),
        Started::Run(attempt) => {
            let seal = attempt
                .as_ref()
                .map(|attempt| sealer(rqctx, attempt, status));
            let result = issue(seal).await;
            let issued = finish_idempotent(rqctx, attempt.as_ref(), result).await?;
            Ok((with_token(issued), false))
        }
    }
}

/// What the request's idempotency key says before the operation runs.
enum Claim {
    Run(Option<Attempt>),
    /// A recorded success: its body.
    Replay(serde_json::Value),
}

/// Claims the request's idempotency key, if it has one, for `request` (the
/// decoded input): run, answer a recorded success, or refuse again as the
/// first attempt was refused.
async fn claim<R: serde::Serialize>(
    rqctx: &RequestContext<ApiContext>,
    access: &AccountAccess,
    key: Option<String>,
    path: String,
    request: &R,
) -> Result<Claim, HttpError> {
    let Some(key) = key else {
        return Ok(Claim::Run(None));
    };
    let key = IdempotencyKey::parse(&key).map_err(|e| service_error(e.into()))?;
    let scope = IdempotencyScope {
        caller: *access.principal(),
        operation: rqctx.endpoint.operation_id.clone(),
        path,
    };
    match rqctx
        .context()
        .idempotency
        .begin(&key, &scope, request)
        .await
        .map_err(service_error)?
    {
        Begun::Run(attempt) => Ok(Claim::Run(Some(attempt))),
        Begun::Replay(recorded) if (200..300).contains(&recorded.status) => {
            Ok(Claim::Replay(recorded.body))
        }
        Begun::Replay(recorded) => Err(replayed_refusal(&recorded)),
    }
}

/// Claims the request's idempotency key for a token-issuing operation: a
/// replayed token is handed out again only if the service confirms it may
/// be.
async fn start_idempotent<R: serde::Serialize>(
    rqctx: &RequestContext<ApiContext>,
    access: &AccountAccess,
    idempotent: Idempotent<'_, R>,
) -> Result<Started, HttpError> {
    let Idempotent {
        key,
        path,
        request,
        of,
        ..
    } = idempotent;
    match claim(rqctx, access, key, path, request).await? {
        Claim::Run(attempt) => Ok(Started::Run(attempt)),
        Claim::Replay(body) => {
            let replayed: ServiceAccountWithToken =
                serde_json::from_value(body).map_err(|e| error::internal(&e))?;
            rqctx
                .context()
                .service_accounts
                .confirm_replay(
                    access,
                    ReplayedToken {
                        service_account_id: replayed.fields.id,
                        token_public_id: replayed.fields.token_public_id.clone(),
                        of,
                    },
                )
                .await
                .map_err(service_error)?;
            Ok(Started::Replay(Box::new(replayed)))
        }
    }
}

/// A write that hands out no secret (a grant, a role assignment) under the
/// request's key: `write` gets a sealer that records `body_of` its result as
/// the `status` response in its transaction; a retry gets the recorded body
/// again (and whether it is a replay).
pub(super) async fn write_idempotently<R, D, T, Write, Writing>(
    rqctx: &RequestContext<ApiContext>,
    access: &AccountAccess,
    idempotent: Idempotent<'_, R>,
    body_of: impl Fn(&D) -> T + Send + Sync + 'static,
    write: Write,
) -> Result<(T, bool), HttpError>
where
    R: serde::Serialize,
    D: 'static,
    T: serde::Serialize + serde::de::DeserializeOwned,
    Write: FnOnce(Option<Seal<D>>) -> Writing,
    Writing: Future<Output = Result<D, ServiceError>>,
{
    let Idempotent {
        key,
        path,
        request,
        status,
        ..
    } = idempotent;
    match claim(rqctx, access, key, path, request).await? {
        Claim::Replay(body) => Ok((
            serde_json::from_value(body).map_err(|e| error::internal(&e))?,
            true,
        )),
        Claim::Run(attempt) => {
            let body_of = Arc::new(body_of);
            let seal = attempt.clone().map(|attempt| {
                let idempotency = rqctx.context().idempotency.clone();
                let body_of = body_of.clone();
                Box::new(move |written: &D| {
                    idempotency.completion(
                        &attempt,
                        &RecordedResponse {
                            status,
                            body: serde_json::to_value(body_of(written))
                                .expect("a response body serializes"),
                        },
                    )
                }) as Seal<D>
            });
            let result = write(seal).await;
            let written = finish_idempotent(rqctx, attempt.as_ref(), result).await?;
            Ok((body_of(&written), false))
        }
    }
}

/// A recorded refusal, again.
fn replayed_refusal(recorded: &RecordedResponse) -> HttpError {
    let text = |field: &str| recorded.body[field].as_str().unwrap_or_default().to_owned();
    let message = text("message");
    let mut error = HttpError {
        status_code: ErrorStatusCode::from_u16(recorded.status)
            .unwrap_or(ErrorStatusCode::INTERNAL_SERVER_ERROR),
        error_code: Some(text("error_code")),
        external_message: message.clone(),
        internal_message: format!("replayed: {message}"),
        headers: None,
    };
    error
        .headers_mut()
        .insert(REPLAYED_HEADER, http::HeaderValue::from_static("true"));
    error
}

pub(super) const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Seals an issued service account as `status`'s response, for `attempt`.
fn sealer(rqctx: &RequestContext<ApiContext>, attempt: &Attempt, status: u16) -> SealIssued {
    let idempotency = rqctx.context().idempotency.clone();
    let attempt = attempt.clone();
    Box::new(move |service_account, token| {
        let body = ServiceAccountWithToken {
            fields: service_account.clone().into(),
            token: token.expose().to_owned(),
        };
        idempotency.completion(
            &attempt,
            &RecordedResponse {
                status,
                body: serde_json::to_value(body).expect("a service account serializes"),
            },
        )
    })
}

/// After the operation ran: a refusal (4xx) is recorded as the key's answer;
/// anything worse (5xx) is forgotten, so that a retry runs anew. (Success was
/// recorded with the change.)
async fn finish_idempotent<T>(
    rqctx: &RequestContext<ApiContext>,
    attempt: Option<&Attempt>,
    result: Result<T, ServiceError>,
) -> Result<T, HttpError> {
    let error = match result {
        Ok(issued) => return Ok(issued),
        Err(error) => error,
    };
    // A lost lease means another attempt owns the record now.
    let lost_lease = matches!(error, ServiceError::IdempotencyKeyInUse);
    let response = service_error(error);
    let Some(attempt) = attempt.filter(|_| !lost_lease) else {
        return Err(response);
    };
    let idempotency = &rqctx.context().idempotency;
    let status = response.status_code.as_u16();
    let recorded = if (400..500).contains(&status) {
        let refusal = RecordedResponse {
            status,
            body: serde_json::json!({
                "error_code": response.error_code,
                "message": response.external_message,
            }),
        };
        idempotency.finish(attempt, &refusal).await
    } else {
        idempotency.abandon(attempt).await
    };
    if let Err(failure) = recorded {
        warn!(rqctx.log, "cannot update the idempotency record; a retry may run again";
            "error" => crate::report::chain(&failure));
    }
    Err(response)
}

/// The response body of an issued token.
fn with_token(issued: IssuedServiceAccount) -> ServiceAccountWithToken {
    ServiceAccountWithToken {
        fields: issued.service_account.into(),
        token: issued.token.into_exposed(),
    }
}
