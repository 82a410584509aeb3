//! The bearer check of an API request: the credential verified by the
//! authenticator, the outcome counted, and who made the request noted in the
//! frame (for its request line, and the `Sunset` of a previous token); and
//! the authorization of an operation on an account that follows it.

use dropshot::{HttpError, RequestContext};

use uuid::Uuid;

use super::client_address::client_address;
use super::context::ApiContext;
use super::{error, frame};
use crate::auth::Verified;
use crate::domain::{Capability, Origin};
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

/// Where the request comes from, as the audit log records it: its id, the
/// client's address (through trusted proxies) and its user agent.
pub fn origin(rqctx: &RequestContext<ApiContext>) -> Origin {
    let headers = rqctx.request.headers();
    Origin {
        request_id: Some(rqctx.request_id.clone()),
        source_ip: Some(client_address(
            rqctx.request.remote_addr().ip(),
            headers,
            &rqctx.context().trusted_proxies,
        )),
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|value| Origin::user_agent_of(&String::from_utf8_lossy(value.as_bytes()))),
        actor_token_public_id: None,
        actor_federation: None,
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
    let caller = Caller::from_verified(verified, origin(rqctx));
    rqctx
        .context()
        .authorizer
        .authorize(caller, account_id, needed)
        .await
        .map_err(error::service_error)
}
