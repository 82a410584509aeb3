//! The endpoints for operators and their tools, outside the published API
//! (and so outside the API trait, registered beside it by [`register`]):
//! liveness, readiness, the checked-in document, and the API reference page
//! with its assets (Prometheus metrics are on their own address:
//! [`super::lifecycle`]). Each runs in the request frame like any operation.

use dropshot::{ApiDescription, HttpError, HttpResponseOk, RequestContext, endpoint};

use super::context::ApiContext;
use super::docs;
use super::error;
use super::frame::observe;
use crate::api::document::CHECKED_IN_DOCUMENT;
use crate::api::errors::ErrorCode;
use crate::api::extract::PathParams;
use crate::api::types::{DocsFilePath, HealthStatus};

/// Adds the operators' endpoints to `api`.
pub fn register(api: &mut ApiDescription<ApiContext>) {
    for registered in [
        api.register(healthz),
        api.register(readyz),
        api.register(openapi_json),
        api.register(docs_page),
        api.register(docs_file),
    ] {
        registered.expect("the operators' endpoints have distinct paths");
    }
}

/// Liveness: the process answers. For orchestrators.
#[endpoint { method = GET, path = "/healthz", unpublished = true }]
async fn healthz(
    rqctx: RequestContext<ApiContext>,
) -> Result<HttpResponseOk<HealthStatus>, HttpError> {
    observe(&rqctx, async { Ok(HttpResponseOk(HealthStatus::ok())) }).await
}

/// Readiness: the database answers and its schema is up to date (503
/// `unavailable` otherwise). For load balancers.
#[endpoint { method = GET, path = "/readyz", unpublished = true }]
async fn readyz(
    rqctx: RequestContext<ApiContext>,
) -> Result<HttpResponseOk<HealthStatus>, HttpError> {
    observe(&rqctx, check_ready(&rqctx)).await
}

async fn check_ready(
    rqctx: &RequestContext<ApiContext>,
) -> Result<HttpResponseOk<HealthStatus>, HttpError> {
    match rqctx.context().health.check_ready().await {
        Ok(()) => Ok(HttpResponseOk(HealthStatus::ok())),
        Err(failure) => {
            let mut response = ErrorCode::Unavailable
                .with_message("not ready: the database cannot be reached or is not migrated");
            response.internal_message = crate::report::chain(&failure);
            Err(response)
        }
    }
}

/// The text exposition, as Prometheus reads it.
pub fn metrics_response(text: String) -> Result<http::Response<dropshot::Body>, HttpError> {
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(text.into())
        .map_err(|e| error::internal(&e))
}

/// The published document, byte for byte as checked in (left out of the
/// document itself).
#[endpoint { method = GET, path = "/openapi.json", unpublished = true }]
async fn openapi_json(
    rqctx: RequestContext<ApiContext>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    observe(&rqctx, async {
        http::Response::builder()
            .status(http::StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(CHECKED_IN_DOCUMENT.into())
            .map_err(|e| error::internal(&e))
    })
    .await
}

/// The API reference as a web page, rendered from `/openapi.json`, with
/// every asset served from here.
#[endpoint { method = GET, path = "/docs", unpublished = true, operation_id = "docs" }]
async fn docs_page(
    rqctx: RequestContext<ApiContext>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    observe(&rqctx, async {
        docs::asset("text/html; charset=utf-8", docs::PAGE)
    })
    .await
}

/// The reference page's assets (the renderer and its licenses).
#[endpoint { method = GET, path = "/docs/{file}", unpublished = true }]
async fn docs_file(
    rqctx: RequestContext<ApiContext>,
    path: PathParams<DocsFilePath>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    let name = path.into_inner().file;
    observe(&rqctx, async move {
        match docs::file(&name) {
            Some((content_type, body)) => docs::asset(content_type, body),
            // The name is the client's say: not repeated.
            None => Err(ErrorCode::NotFound
                .with_message("the reference has no such file: its page is at /docs")),
        }
    })
    .await
}
