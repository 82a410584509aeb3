//! The service-account operations: each handler authenticates, authorizes,
//! decodes its input, calls the service layer and shapes the response. Nothing
//! here decides what the API means.

use dropshot::{
    HttpError, HttpResponseCreated, HttpResponseHeaders, HttpResponseOk, RequestContext,
};
use slog::info;
use uuid::Uuid;

use super::ApiContext;
use super::error::service_error;
use crate::api::extract::{JsonBody, PathParams, QueryParams};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, ListServiceAccountsQuery,
    NoStoreHeaders, ServiceAccount, ServiceAccountFields, ServiceAccountPath,
    ServiceAccountWithToken,
};
use crate::domain::{self, Capability};
use crate::service::{
    AccountAccess, Caller, CreateServiceAccount, IssuedServiceAccount, ListServiceAccounts,
};

/// Every operation of this API needs `auth.manage` on the account in its path.
const NEEDED: Capability = Capability::AuthManage;

/// Authenticates the request and checks the caller's standing and capability on
/// `account_id`: 401, then 404 or 403.
async fn authorize(
    rqctx: &RequestContext<ApiContext>,
    account_id: Uuid,
) -> Result<AccountAccess, HttpError> {
    let context = rqctx.context();
    let principal = super::authenticate(rqctx).await?.principal;
    let caller = Caller {
        principal,
        request_id: Some(rqctx.request_id.clone()),
    };
    context
        .service_accounts
        .authorize(caller, account_id, NEEDED)
        .await
        .map_err(service_error)
}

pub(super) fn no_store() -> String {
    "no-store".to_owned()
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    body: JsonBody<CreateServiceAccountRequest>,
) -> Result<
    HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
    HttpError,
> {
    let account_id = path.into_inner().account_id;
    let access = authorize(rqctx, account_id).await?;
    let request = body.decode()?;
    let issued = rqctx
        .context()
        .service_accounts
        .create(
            &access,
            CreateServiceAccount {
                name: request.name,
                expires_at: request.expires_at,
            },
        )
        .await
        .map_err(service_error)?;
    let service_account_id = issued.service_account.id;
    info!(rqctx.log, "service account created";
        "account_id" => %account_id,
        "service_account_id" => %service_account_id,
        "principal" => access.principal().log_id());
    let headers = CreatedHeaders {
        location: format!(
            "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}"
        ),
        cache_control: no_store(),
    };
    Ok(HttpResponseHeaders::new(
        HttpResponseCreated(with_token(issued)),
        headers,
    ))
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    query: QueryParams<ListServiceAccountsQuery>,
) -> Result<HttpResponseOk<Vec<ServiceAccount>>, HttpError> {
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
    Ok(HttpResponseOk(
        page.into_iter().map(ServiceAccount::from).collect(),
    ))
}

pub async fn get(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let service_account = rqctx
        .context()
        .service_accounts
        .get(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseOk(service_account.into()))
}

pub async fn rotate(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, NoStoreHeaders>, HttpError>
{
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id).await?;
    let issued = rqctx
        .context()
        .service_accounts
        .rotate(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "service account token rotated";
        "account_id" => %path.account_id,
        "service_account_id" => %path.service_account_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(with_token(issued)),
        NoStoreHeaders {
            cache_control: no_store(),
        },
    ))
}

pub async fn revoke(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
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
    Ok(HttpResponseOk(revoked.into()))
}

fn with_token(issued: IssuedServiceAccount) -> ServiceAccountWithToken {
    ServiceAccountWithToken {
        fields: issued.service_account.into(),
        token: issued.token.into_exposed(),
    }
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
        }
    }
}
