//! The identity provider operations: list, register, get and delete. Each
//! handler authenticates, authorizes (`auth.manage`), turns the API's words
//! into the domain's, calls the service and shapes the response.

use dropshot::{
    HttpError, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk, RequestContext,
};
use slog::info;

use super::authentication::authorize;
use super::authorizations::NEEDED;
use super::context::ApiContext;
use super::error::service_error;
use crate::api::extract::{JsonBody, PathParams};
use crate::api::federation::{self as api, CreateIdentityProviderRequest, IdentityProviderPath};
use crate::api::types::AccountPath;
use crate::domain::{self, ProviderKeys};
use crate::service::identity_providers::ProviderRequest;

pub(super) fn kind(kind: api::ProviderKind) -> domain::ProviderKind {
    match kind {
        api::ProviderKind::GithubActions => domain::ProviderKind::GithubActions,
        api::ProviderKind::GitlabCi => domain::ProviderKind::GitlabCi,
        api::ProviderKind::Kubernetes => domain::ProviderKind::Kubernetes,
        api::ProviderKind::Generic => domain::ProviderKind::Generic,
    }
}

fn api_kind(kind: domain::ProviderKind) -> api::ProviderKind {
    match kind {
        domain::ProviderKind::GithubActions => api::ProviderKind::GithubActions,
        domain::ProviderKind::GitlabCi => api::ProviderKind::GitlabCi,
        domain::ProviderKind::Kubernetes => api::ProviderKind::Kubernetes,
        domain::ProviderKind::Generic => api::ProviderKind::Generic,
    }
}

/// The API's shape of a provider.
fn record(provider: domain::IdentityProvider) -> api::IdentityProvider {
    api::IdentityProvider {
        id: provider.id,
        account_id: provider.account_id,
        name: provider.name.as_str().to_owned(),
        issuer: provider.issuer.as_str().to_owned(),
        kind: api_kind(provider.kind),
        keys: match provider.keys {
            ProviderKeys::Discovery => api::ProviderKeys::Discovery,
            ProviderKeys::JwksUrl(url) => api::ProviderKeys::JwksUrl { url },
            ProviderKeys::Inline(text) => api::ProviderKeys::Inline {
                jwks: serde_json::from_str(&text).unwrap_or_default(),
            },
        },
        max_subject_token_lifetime_seconds: provider.max_subject_token_lifetime_seconds,
        created_at: provider.created_at,
    }
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
) -> Result<HttpResponseOk<Vec<api::IdentityProvider>>, HttpError> {
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let providers = rqctx.context().identity_providers.list(&access).await;
    let providers = providers.map_err(service_error)?;
    Ok(HttpResponseOk(providers.into_iter().map(record).collect()))
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    body: JsonBody<CreateIdentityProviderRequest>,
) -> Result<HttpResponseCreated<api::IdentityProvider>, HttpError> {
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let request = body.decode()?;
    let context = rqctx.context();
    let keys = match request.keys {
        None | Some(api::ProviderKeys::Discovery) => None,
        Some(api::ProviderKeys::JwksUrl { url }) => Some(ProviderKeys::JwksUrl(url)),
        Some(api::ProviderKeys::Inline { jwks }) => Some(ProviderKeys::Inline(jwks.to_string())),
    };
    let parsed = ProviderRequest::parse(
        request.name,
        &request.issuer,
        kind(request.kind),
        keys,
        request.max_subject_token_lifetime_seconds,
        context.federation_allow_loopback_issuers,
    )
    .map_err(|e| service_error(e.into()))?;
    let provider = context
        .identity_providers
        .create(&access, parsed)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "identity provider registered";
        "account_id" => %access.account_id(),
        "identity_provider_id" => %provider.id,
        "issuer" => provider.issuer.as_str(),
        "principal" => access.principal().log_id());
    Ok(HttpResponseCreated(record(provider)))
}

pub async fn get(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<IdentityProviderPath>,
) -> Result<HttpResponseOk<api::IdentityProvider>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let providers = &rqctx.context().identity_providers;
    let found = providers.get(&access, path.identity_provider_id).await;
    Ok(HttpResponseOk(record(found.map_err(service_error)?)))
}

pub async fn delete(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<IdentityProviderPath>,
) -> Result<HttpResponseDeleted, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let providers = &rqctx.context().identity_providers;
    let deleted = providers.delete(&access, path.identity_provider_id).await;
    deleted.map_err(service_error)?;
    info!(rqctx.log, "identity provider deleted";
        "account_id" => %access.account_id(),
        "identity_provider_id" => %path.identity_provider_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseDeleted())
}
