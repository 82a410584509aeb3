//! The authorization operations: list, grant (under an `Idempotency-Key`
//! when the request has one), get and revoke. Each handler authenticates,
//! authorizes (`auth.manage`), turns the API's words into the domain's, calls
//! the service and shapes the response; the rules are the service's.

use dropshot::{
    HttpCodedResponse, HttpError, HttpResponseCreated, HttpResponseHeaders, HttpResponseOk,
    RequestContext,
};
use slog::info;

use super::authentication::authorize;
use super::context::ApiContext;
use super::error::service_error;
use super::frame;
use super::idempotent::{Idempotent, write_idempotently};
use crate::api::authorizations::{
    self as api, AuthorizationPath, CreateAuthorizationRequest, GrantedHeaders,
    ListAuthorizationsQuery,
};
use crate::api::extract::{HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::types::{AccountPath, IdempotencyHeaders, SunsetHeaders};
use crate::domain::{self, AuditAction, Capability};
use crate::service::authorizations::{GrantRequest, filter_parts, page_limit};
use crate::service::escalation::Granter;
use crate::store::AuthorizationFilter;

/// Every operation on grants needs `auth.manage` on the account.
pub(super) const NEEDED: Capability = Capability::AuthManage;

pub(super) fn grant_kind(kind: api::GrantKind) -> domain::GrantKind {
    match kind {
        api::GrantKind::Capability => domain::GrantKind::Capability,
        api::GrantKind::AccountOwner => domain::GrantKind::AccountOwner,
        api::GrantKind::SuperAdmin => domain::GrantKind::SuperAdmin,
    }
}

pub(super) fn subject_type(kind: api::SubjectType) -> domain::SubjectType {
    match kind {
        api::SubjectType::User => domain::SubjectType::User,
        api::SubjectType::Group => domain::SubjectType::Group,
        api::SubjectType::ServiceAccount => domain::SubjectType::ServiceAccount,
    }
}

pub(super) fn resource_type(kind: api::ResourceType) -> domain::ResourceType {
    use api::ResourceType as A;
    use domain::ResourceType as D;
    match kind {
        A::Client => D::Client,
        A::Account => D::Account,
        A::Workspace => D::Workspace,
        A::Domain => D::Domain,
        A::DnsRecord => D::DnsRecord,
        A::Mailbox => D::Mailbox,
        A::Redirect => D::Redirect,
        A::Forwarding => D::Forwarding,
        A::Credential => D::Credential,
        A::Tenant => D::Tenant,
        A::Route => D::Route,
        A::Proxy => D::Proxy,
    }
}

impl From<&domain::Authorization> for api::Authorization {
    fn from(grant: &domain::Authorization) -> Self {
        Self {
            id: grant.id,
            grant_kind: grant.grants.kind().as_str().to_owned(),
            subject_type: grant.subject.kind().as_str().to_owned(),
            subject_id: grant.subject.id(),
            capability_key: grant.grants.capability_key().map(|k| k.as_str().to_owned()),
            resource_type: grant.resource.map(|r| r.kind.as_str().to_owned()),
            resource_id: grant.resource.map(|r| r.id),
            created_at: Some(grant.created_at),
            revoked_at: grant.revoked_at,
        }
    }
}

/// The path of an account's authorizations.
fn collection(account_id: uuid::Uuid) -> String {
    format!("/v1/public/accounts/{account_id}/auth/authorizations")
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    query: QueryParams<ListAuthorizationsQuery>,
) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<api::Authorization>>, SunsetHeaders>, HttpError>
{
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let query = query.into_inner();
    let kind = query.subject_type.map(subject_type);
    let (subject_id, capability_key) = filter_parts(
        kind,
        query.subject_id.as_deref(),
        query.capability_key.as_deref(),
    )
    .map_err(|e| service_error(e.into()))?;
    let filter = AuthorizationFilter {
        subject_type: kind,
        subject_id,
        grant_kind: query.grant_kind.map(grant_kind),
        capability_key,
        include_revoked: query.include_revoked,
        limit: page_limit(query.limit).map_err(|e| service_error(e.into()))?,
        after: query.after,
    };
    let page = rqctx
        .context()
        .authorizations
        .list(access.account_id(), &filter)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(page.iter().map(api::Authorization::from).collect()),
        SunsetHeaders {
            sunset: frame::sunset(),
        },
    ))
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    headers: HeaderParams<IdempotencyHeaders>,
    body: JsonBody<CreateAuthorizationRequest>,
) -> Result<HttpResponseHeaders<HttpResponseCreated<api::Authorization>, GrantedHeaders>, HttpError>
{
    let account_id = path.into_inner().account_id;
    let access = authorize(rqctx, account_id, NEEDED).await?;
    let request = body.decode()?;
    let grant = GrantRequest::parse(
        account_id,
        grant_kind(request.grant_kind),
        subject_type(request.subject_type),
        &request.subject_id,
        request.capability_key.as_deref(),
        request.resource_type.map(resource_type),
        request.resource_id,
    )
    .map_err(|e| service_error(e.into()))?;
    let idempotent = Idempotent {
        key: headers.into_inner().idempotency_key,
        path: collection(account_id),
        request: &request,
        status: HttpResponseCreated::<api::Authorization>::STATUS_CODE.as_u16(),
        of: AuditAction::GrantAdd,
    };
    let authorizations = &rqctx.context().authorizations;
    let (created, replayed) = write_idempotently(
        rqctx,
        &access,
        idempotent,
        |grant: &domain::Authorization| api::Authorization::from(grant),
        |seal| authorizations.grant(Granter::Api(&access), account_id, grant, seal),
    )
    .await?;
    if !replayed {
        info!(rqctx.log, "authorization granted";
            "account_id" => %account_id,
            "authorization_id" => %created.id,
            "principal" => access.principal().log_id());
    }
    let headers = GrantedHeaders {
        location: format!("{}/{}", collection(account_id), created.id),
        idempotent_replayed: replayed.then(|| "true".to_owned()),
    };
    Ok(HttpResponseHeaders::new(
        HttpResponseCreated(created),
        headers,
    ))
}

pub async fn get(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AuthorizationPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<api::Authorization>, SunsetHeaders>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let found = rqctx
        .context()
        .authorizations
        .get(access.account_id(), path.authorization_id)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(api::Authorization::from(&found)),
        SunsetHeaders {
            sunset: frame::sunset(),
        },
    ))
}

pub async fn revoke(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AuthorizationPath>,
) -> Result<HttpResponseOk<api::Authorization>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let revoked = rqctx
        .context()
        .authorizations
        .revoke(
            Granter::Api(&access),
            access.account_id(),
            path.authorization_id,
        )
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "authorization revoked";
        "account_id" => %access.account_id(),
        "authorization_id" => %revoked.id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseOk(api::Authorization::from(&revoked)))
}
