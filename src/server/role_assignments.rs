//! The role assignment operations: list, assign (under an `Idempotency-Key`
//! when the request has one), get and revoke. Each handler authenticates,
//! authorizes (`auth.manage`), turns the API's words into the domain's, calls
//! the service and shapes the response, with what each role expands to now.

use dropshot::{
    HttpCodedResponse, HttpError, HttpResponseCreated, HttpResponseHeaders, HttpResponseOk,
    RequestContext,
};
use slog::info;

use super::authentication::authorize;
use super::authorizations::{NEEDED, resource_type, subject_type};
use super::context::ApiContext;
use super::error::service_error;
use super::frame;
use super::idempotent::{Idempotent, write_idempotently};
use crate::api::authorizations::{
    self as api, CreateRoleAssignmentRequest, GrantedHeaders, ListRoleAssignmentsQuery,
    RoleAssignmentPath,
};
use crate::api::extract::{HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::types::{AccountPath, IdempotencyHeaders, SunsetHeaders};
use crate::domain::RoleTable;
use crate::domain::{self, AuditAction};
use crate::service::authorizations::page_limit;
use crate::service::escalation::Granter;
use crate::service::role_assignments::RoleRequest;
use crate::store::RolePage;

fn role_key(role: api::RoleKey) -> domain::RoleKey {
    use api::RoleKey as A;
    use domain::RoleKey as D;
    match role {
        A::Viewer => D::Viewer,
        A::Editor => D::Editor,
        A::DomainManager => D::DomainManager,
        A::Manager => D::Manager,
        A::DnsManager => D::DnsManager,
        A::IpManager => D::IpManager,
        A::BillingViewer => D::BillingViewer,
        A::BillingAdmin => D::BillingAdmin,
        A::CredentialManager => D::CredentialManager,
    }
}

/// The record the API shows, with the role's expansion as the table says now.
fn record(roles: &RoleTable, assignment: &domain::RoleAssignment) -> api::RoleAssignment {
    api::RoleAssignment {
        id: assignment.id,
        role_key: assignment.role.as_str().to_owned(),
        subject_type: assignment.subject.kind().as_str().to_owned(),
        subject_id: assignment.subject.id(),
        resource_type: assignment.resource.kind.as_str().to_owned(),
        resource_id: assignment.resource.id,
        expanded_capability_keys: roles
            .expand(assignment.role)
            .iter()
            .map(|key| key.as_str().to_owned())
            .collect(),
        created_at: Some(assignment.created_at),
        revoked_at: assignment.revoked_at,
    }
}

/// The path of an account's role assignments.
fn collection(account_id: uuid::Uuid) -> String {
    format!("/v1/public/accounts/{account_id}/auth/role-assignments")
}

fn with_sunset<T: HttpCodedResponse>(body: T) -> HttpResponseHeaders<T, SunsetHeaders> {
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
    query: QueryParams<ListRoleAssignmentsQuery>,
) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<api::RoleAssignment>>, SunsetHeaders>, HttpError>
{
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let query = query.into_inner();
    let page = RolePage {
        include_revoked: query.include_revoked,
        limit: page_limit(query.limit).map_err(|e| service_error(e.into()))?,
        after: query.after,
    };
    let roles = &rqctx.context().role_assignments;
    let found = roles
        .list(access.account_id(), page)
        .await
        .map_err(service_error)?;
    Ok(with_sunset(HttpResponseOk(
        found.iter().map(|a| record(roles.table(), a)).collect(),
    )))
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    headers: HeaderParams<IdempotencyHeaders>,
    body: JsonBody<CreateRoleAssignmentRequest>,
) -> Result<HttpResponseHeaders<HttpResponseCreated<api::RoleAssignment>, GrantedHeaders>, HttpError>
{
    let account_id = path.into_inner().account_id;
    let access = authorize(rqctx, account_id, NEEDED).await?;
    let request = body.decode()?;
    let role = RoleRequest::parse(
        account_id,
        role_key(request.role_key),
        subject_type(request.subject_type),
        &request.subject_id,
        resource_type(request.resource_type),
        request.resource_id,
    )
    .map_err(|e| service_error(e.into()))?;
    let idempotent = Idempotent {
        key: headers.into_inner().idempotency_key,
        path: collection(account_id),
        request: &request,
        status: HttpResponseCreated::<api::RoleAssignment>::STATUS_CODE.as_u16(),
        of: AuditAction::RoleAssign,
    };
    let roles = &rqctx.context().role_assignments;
    let table = roles.table().clone();
    let (created, replayed) = write_idempotently(
        rqctx,
        &access,
        idempotent,
        move |assignment: &domain::RoleAssignment| record(&table, assignment),
        |seal| roles.assign(Granter::Api(&access), account_id, role, seal),
    )
    .await?;
    if !replayed {
        info!(rqctx.log, "role assigned";
            "account_id" => %account_id,
            "role_assignment_id" => %created.id,
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
    path: PathParams<RoleAssignmentPath>,
) -> Result<HttpResponseHeaders<HttpResponseOk<api::RoleAssignment>, SunsetHeaders>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let roles = &rqctx.context().role_assignments;
    let found = roles
        .get(access.account_id(), path.role_assignment_id)
        .await
        .map_err(service_error)?;
    Ok(with_sunset(HttpResponseOk(record(roles.table(), &found))))
}

pub async fn revoke(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<RoleAssignmentPath>,
) -> Result<HttpResponseOk<api::RoleAssignment>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let roles = &rqctx.context().role_assignments;
    let revoked = roles
        .revoke(
            Granter::Api(&access),
            access.account_id(),
            path.role_assignment_id,
        )
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "role assignment revoked";
        "account_id" => %access.account_id(),
        "role_assignment_id" => %revoked.id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseOk(record(roles.table(), &revoked)))
}
