//! The implementation of the API trait: each handler authenticates, authorizes,
//! decodes its input, calls the service layer and shapes the response. Nothing
//! here decides what the API means.

use dropshot::{HttpError, HttpResponseCreated, HttpResponseHeaders, RequestContext};
use slog::info;

use super::ApiContext;
use super::error::{auth_error, service_error};
use crate::api::ServiceAccountsApi;
use crate::api::extract::{JsonBody, PathParams};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, ServiceAccount,
    ServiceAccountWithToken,
};
use crate::domain::{self, Capability};
use crate::service::{CreateServiceAccount, IssuedServiceAccount};

/// The type the API trait is implemented on; never constructed.
pub enum ServiceAccountsImpl {}

impl ServiceAccountsApi for ServiceAccountsImpl {
    type Context = ApiContext;

    async fn create_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    > {
        let context = rqctx.context();
        let principal = context
            .authenticator
            .authenticate(rqctx.request.headers())
            .await
            .map_err(auth_error)?;
        let account_id = path.into_inner().account_id;
        let access = context
            .service_accounts
            .authorize(&principal, account_id, Capability::AuthManage)
            .await
            .map_err(service_error)?;
        let request = body.decode()?;
        let issued = context
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
            "principal" => principal.log_id());
        let headers = CreatedHeaders {
            location: format!(
                "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}"
            ),
            cache_control: "no-store".to_owned(),
        };
        Ok(HttpResponseHeaders::new(
            HttpResponseCreated(with_token(issued)),
            headers,
        ))
    }
}

fn with_token(issued: IssuedServiceAccount) -> ServiceAccountWithToken {
    ServiceAccountWithToken {
        service_account: ServiceAccount::from(issued.service_account),
        token: issued.token.into_exposed(),
    }
}

impl From<domain::ServiceAccount> for ServiceAccount {
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
