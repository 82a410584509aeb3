//! The service-account operations: each handler authenticates, authorizes,
//! decodes its input, calls the service layer and shapes the response. Nothing
//! here decides what the API means. Create and rotate go through an
//! idempotency key when the request has one ([`super::idempotent`]).

use dropshot::{
    HttpCodedResponse, HttpError, HttpResponseCreated, HttpResponseHeaders, HttpResponseOk,
    RequestContext,
};
use slog::info;
use uuid::Uuid;

use super::context::ApiContext;
use super::error::service_error;
use super::idempotent::{Idempotent, issue_idempotently};
use super::{authentication, frame};
use crate::api::extract::{HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, IdempotencyHeaders,
    ListServiceAccountsQuery, RevokedReason, RotateServiceAccountQuery, RotatedHeaders,
    ServiceAccount, ServiceAccountFields, ServiceAccountPath, ServiceAccountWithToken,
    SunsetHeaders,
};
use crate::domain::{self, Capability};
use crate::service::{
    AccountAccess, CreateServiceAccount, ListServiceAccounts, RotateServiceAccount,
};

/// Every operation of this API needs `auth.manage` on the account in its path.
const NEEDED: Capability = Capability::AuthManage;

/// Authenticates the request and checks the caller's standing and `auth.manage`
/// on `account_id`: 401, then 404 or 403.
async fn authorize(
    rqctx: &RequestContext<ApiContext>,
    account_id: Uuid,
) -> Result<AccountAccess, HttpError> {
    authentication::authorize(rqctx, account_id, NEEDED).await
}

pub(super) fn no_store() -> String {
    "no-store".to_owned()
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    headers: HeaderParams<IdempotencyHeaders>,
    body: JsonBody<CreateServiceAccountRequest>,
) -> Result<
    HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
    HttpError,
> {
    let account_id = path.into_inner().account_id;
    let access = authorize(rqctx, account_id).await?;
    let request = body.decode()?;
    let collection = format!("/v1/public/accounts/{account_id}/auth/service-accounts");
    let idempotent = Idempotent {
        key: headers.into_inner().idempotency_key,
        path: collection.clone(),
        request: &request,
        status: HttpResponseCreated::<ServiceAccountWithToken>::STATUS_CODE.as_u16(),
        of: domain::AuditAction::Create,
    };
    let service_accounts = &rqctx.context().service_accounts;
    let create = CreateServiceAccount {
        name: request.name.clone(),
        expires_at: request.expires_at,
    };
    let (created, replayed) = issue_idempotently(rqctx, &access, idempotent, |seal| {
        service_accounts.create(&access, create, seal)
    })
    .await?;
    if !replayed {
        info!(rqctx.log, "service account created";
            "account_id" => %account_id,
            "service_account_id" => %created.fields.id,
            "principal" => access.principal().log_id());
    }
    let headers = CreatedHeaders {
        location: format!("{collection}/{}", created.fields.id),
        cache_control: no_store(),
        idempotent_replayed: replayed.then(|| "true".to_owned()),
        sunset: frame::sunset(),
    };
    Ok(HttpResponseHeaders::new(
        HttpResponseCreated(created),
        headers,
    ))
}

/// A response with the `Sunset` header when the caller used a previous token.
fn with_sunset<T: dropshot::HttpCodedResponse>(body: T) -> HttpResponseHeaders<T, SunsetHeaders> {
    HttpResponseHeaders::new(
        body,
        SunsetHeaders {
            sunset: frame::sunset(),
        },
    )
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    query: QueryParams<ListServiceAccountsQuery>,
) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<ServiceAccount>>, SunsetHeaders>, HttpError> {
    let access = authorize(rqctx, path.into_inner().account_id).await?;
    let query = query.into_inner();
    let page = rqctx
        .context()
        .service_accounts
        .list(
            &access,
            ListServiceAccounts {
                include_revoked: query.include_revoked,
                limit: query.limit,
                after: query.after,
            },
        )
        .await
        .map_err(service_error)?;
    Ok(with_sunset(HttpResponseOk(
        page.into_iter().map(ServiceAccount::from).collect(),
    )))
}

pub async fn get(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let service_account = rqctx
        .context()
        .service_accounts
        .get(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    Ok(with_sunset(HttpResponseOk(service_account.into())))
}

pub async fn rotate(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
    query: QueryParams<RotateServiceAccountQuery>,
    headers: HeaderParams<IdempotencyHeaders>,
) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, RotatedHeaders>, HttpError>
{
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let request = RotateServiceAccount {
        grace_period_seconds: query.into_inner().grace_period_seconds,
    };
    let idempotent = Idempotent {
        key: headers.into_inner().idempotency_key,
        path: format!(
            "/v1/public/accounts/{}/auth/service-accounts/{}/rotate",
            path.account_id, path.service_account_id
        ),
        // What makes two rotations the same: the grace period (absent is 0).
        request: &RotateServiceAccount {
            grace_period_seconds: Some(request.grace_period_seconds.unwrap_or(0)),
        },
        status: HttpResponseOk::<ServiceAccountWithToken>::STATUS_CODE.as_u16(),
        of: domain::AuditAction::Rotate,
    };
    let service_accounts = &rqctx.context().service_accounts;
    let (rotated, replayed) = issue_idempotently(rqctx, &access, idempotent, |seal| {
        service_accounts.rotate(&access, path.service_account_id, request, seal)
    })
    .await?;
    if !replayed {
        info!(rqctx.log, "service account token rotated";
            "account_id" => %path.account_id,
            "service_account_id" => %path.service_account_id,
            "grace_period_seconds" => request.grace_period_seconds.unwrap_or(0),
            "principal" => access.principal().log_id());
    }
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(rotated),
        RotatedHeaders {
            cache_control: no_store(),
            idempotent_replayed: replayed.then(|| "true".to_owned()),
            sunset: frame::sunset(),
        },
    ))
}

pub async fn retire_previous_token(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let service_account = rqctx
        .context()
        .service_accounts
        .retire_previous_token(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "previous token retired (if there was one in its grace period)";
        "account_id" => %path.account_id,
        "service_account_id" => %path.service_account_id,
        "principal" => access.principal().log_id());
    Ok(with_sunset(HttpResponseOk(service_account.into())))
}

pub async fn revoke(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let revoked = rqctx
        .context()
        .service_accounts
        .revoke(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "service account revoked";
        "account_id" => %path.account_id,
        "service_account_id" => %path.service_account_id,
        "principal" => access.principal().log_id());
    Ok(with_sunset(HttpResponseOk(revoked.into())))
}

impl From<domain::ServiceAccount> for ServiceAccount {
    fn from(sa: domain::ServiceAccount) -> Self {
        Self { fields: sa.into() }
    }
}

impl From<domain::ServiceAccount> for ServiceAccountFields {
    fn from(sa: domain::ServiceAccount) -> Self {
        Self {
            account_id: sa.account_id,
            created_at: sa.created_at,
            id: sa.id,
            name: sa.name,
            token_last4: sa.token.last4,
            token_prefix: sa.token.prefix,
            token_public_id: sa.token.public_id,
            updated_at: sa.updated_at,
            created_by_user_id: sa.created_by_user_id,
            expires_at: sa.expires_at,
            last_used_at: sa.last_used_at,
            revoked_at: sa.revoked_at,
            revoked_by_user_id: sa.revoked_by_user_id,
            revoked_reason: sa.revoked_reason.map(|reason| match reason {
                domain::RevocationReason::Requested => RevokedReason::Requested,
                domain::RevocationReason::Leaked => RevokedReason::Leaked,
                domain::RevocationReason::Reported => RevokedReason::Reported,
            }),
            static_token_disabled_at: sa.static_token_disabled_at,
            previous_token_public_id: sa
                .previous_token
                .as_ref()
                .map(|p| p.token.public_id.clone()),
            previous_token_last4: sa.previous_token.as_ref().map(|p| p.token.last4.clone()),
            previous_token_expires_at: sa.previous_token.as_ref().map(|p| p.expires_at),
            previous_token_last_used_at: sa.previous_token.and_then(|p| p.last_used_at),
        }
    }
}

pub async fn disable_static_token(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let service_accounts = &rqctx.context().service_accounts;
    let changed = service_accounts
        .disable_static_token(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "static token turned off";
        "account_id" => %access.account_id(),
        "service_account_id" => %changed.id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseOk(ServiceAccount {
        fields: changed.into(),
    }))
}
