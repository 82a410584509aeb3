//! The bearer check of an API request: the credential verified by the
//! authenticator, the outcome counted, and who made the request noted in the
//! frame (for its request line, and the `Sunset` of a previous token).

use dropshot::{HttpError, RequestContext};

use super::context::ApiContext;
use super::{error, frame};
use crate::auth::Verified;

/// Verifies the request's bearer credential, noting the principal for the
/// request line and counting the outcome; a failure is the 401 (or 503) to
/// answer.
pub async fn authenticate(rqctx: &RequestContext<ApiContext>) -> Result<Verified, HttpError> {
    let context = rqctx.context();
    let authentication = context
        .authenticator
        .authenticate(rqctx.request.headers())
        .await;
    frame::count_authentication(
        &context.frame.metrics,
        authentication.kind,
        authentication.result.as_ref().err(),
    );
    match authentication.result {
        Ok(verified) => {
            frame::note_principal(verified.principal.log_id());
            frame::note_sunset(verified.credential.sunset());
            Ok(verified)
        }
        Err(error) => Err(error::auth_error(error)),
    }
}
