//! The bearer check of an API request: the credential verified by the
//! authenticator, the outcome counted, and who made the request noted in the
//! frame (for its request line, and the `Sunset` of a previous token); and
//! the authorization of an operation on an account that follows it.

use dropshot::{HttpError, RequestContext};

use uuid::Uuid;

use super::context::ApiContext;
use super::{error, frame};
use crate::auth::Verified;
use crate::domain::Capability;
use crate::service::{AccountAccess, Caller};

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

/// Authenticates the request and checks the caller's standing and `needed`
/// on `account_id`: 401, then 404 or 403.
pub async fn authorize(
    rqctx: &RequestContext<ApiContext>,
    account_id: Uuid,
    needed: Capability,
) -> Result<AccountAccess, HttpError> {
    let verified = authenticate(rqctx).await?;
    let caller = Caller::from_verified(verified, Some(rqctx.request_id.clone()));
    rqctx
        .context()
        .authorizer
        .authorize(caller, account_id, needed)
        .await
        .map_err(error::service_error)
}
