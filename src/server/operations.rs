//! The endpoints for operators and their tools, outside the published API:
//! liveness, readiness, the checked-in document, and the API reference page
//! with its assets (Prometheus metrics are on their own address:
//! [`super::lifecycle`]).

use dropshot::{HttpError, HttpResponseOk, RequestContext};

use super::context::ApiContext;
use super::docs;
use super::error;
use crate::api::document::CHECKED_IN_DOCUMENT;
use crate::api::errors::ErrorCode;
use crate::api::extract::PathParams;
use crate::api::types::{DocsFilePath, HealthStatus};

/// Liveness: the process answers.
pub async fn healthz() -> Result<HttpResponseOk<HealthStatus>, HttpError> {
    Ok(HttpResponseOk(HealthStatus::ok()))
}

/// Readiness: the database answers and its schema is up to date.
pub async fn readyz(
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

/// The checked-in document, byte for byte.
pub async fn openapi_json() -> Result<http::Response<dropshot::Body>, HttpError> {
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(CHECKED_IN_DOCUMENT.into())
        .map_err(|e| error::internal(&e))
}

/// The reference page.
pub async fn docs_page() -> Result<http::Response<dropshot::Body>, HttpError> {
    docs::asset("text/html; charset=utf-8", docs::PAGE)
}

/// One of the reference page's assets.
pub async fn docs_file(
    path: PathParams<DocsFilePath>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    let name = path.into_inner().file;
    match docs::file(&name) {
        Some((content_type, body)) => docs::asset(content_type, body),
        // The name is the client's say: not repeated.
        None => Err(ErrorCode::NotFound
            .with_message("the reference has no such file: its page is at /docs")),
    }
}
