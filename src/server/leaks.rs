//! The leaked-token operations: signed reports from secret-scanning partners
//! (signature checked over the raw body before anything is parsed), and the
//! public revocation endpoint (rate-limited per client, by the tokens it
//! sends; the same answer whatever it was sent).

use dropshot::{HttpError, HttpResponseAccepted, HttpResponseOk, RequestContext};
use slog::info;

use super::authentication::origin;
use super::client_address::{client_address, limiter_key};
use super::context::ApiContext;
use super::error::service_error;
use crate::api::errors::ErrorCode;
use crate::api::extract::JsonBody;
use crate::api::leaks::{
    PublicRevocationReceipt, PublicRevocationRequest, ReportedToken, TOKEN_TYPE, TokenLabel,
    TokenReportFeedback,
};
use crate::auth::leaks::{Sender, SignatureError};
use crate::service::leaks::{Label, MAX_TOKENS_PER_REQUEST, Reporter, Sighting, token_hash};

/// Handles a partner's report: signature first, over the bytes as they came.
pub async fn report(
    rqctx: &RequestContext<ApiContext>,
    sender: Sender,
    key_identifier: Option<String>,
    signature: Option<String>,
    body: JsonBody<Vec<ReportedToken>>,
) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError> {
    let context = rqctx.context();
    let keys = match sender {
        Sender::GitHub => &context.github_keys,
        Sender::GitLab => &context.gitlab_keys,
    };
    keys.verify(key_identifier.as_deref(), signature.as_deref(), body.raw())
        .await
        .map_err(signature_error)?;
    let reported = body.decode()?;
    if reported.len() > MAX_TOKENS_PER_REQUEST {
        return Err(ErrorCode::InvalidRequest.with_message(format!(
            "a report may carry at most {MAX_TOKENS_PER_REQUEST} tokens; this one has {}: \
             send them in several reports",
            reported.len()
        )));
    }
    let by = Reporter::Partner {
        name: sender.as_str(),
    };
    let sightings: Vec<Sighting> = reported
        .into_iter()
        .map(|item| Sighting {
            token: item.token,
            source: item.source,
            url: item.url,
        })
        .collect();
    let labels = context
        .leaks
        .report(&sightings, &by, &origin(rqctx))
        .await
        .map_err(service_error)?;
    let true_positives = labels.iter().filter(|l| **l == Label::TruePositive).count();
    let feedback: Vec<TokenReportFeedback> = sightings
        .iter()
        .zip(labels)
        .map(|(sighting, label)| TokenReportFeedback {
            token_hash: token_hash(&sighting.token),
            token_type: TOKEN_TYPE.to_owned(),
            label: match label {
                Label::TruePositive => TokenLabel::TruePositive,
                Label::FalsePositive => TokenLabel::FalsePositive,
            },
        })
        .collect();
    info!(rqctx.log, "leak report";
        "sender" => sender.as_str(),
        "reported" => feedback.len(),
        "true_positives" => true_positives);
    Ok(HttpResponseOk(feedback))
}

/// A refused signature: 401, saying why (the reasons are no secret: the
/// sender signs with published keys); 503 when the keys cannot be had, so
/// that the sender retries.
fn signature_error(error: SignatureError) -> HttpError {
    match error {
        SignatureError::Unavailable(_) => {
            let mut response = ErrorCode::Unavailable.with_message(
                "the sender's public keys cannot be fetched now, so the report cannot be \
                 checked: retry later",
            );
            response.internal_message = crate::report::chain(&error);
            response
        }
        refused => ErrorCode::InvalidSignature.with_message(format!(
            "the report is not accepted: {refused}; it must be signed (ECDSA P-256/SHA-256 \
             over the raw body, base64 DER) with one of the sender's published keys"
        )),
    }
}

/// Handles a public revocation request. The client is let in on one unit of
/// its limit, then charged one more for each further distinct token of our
/// form the request carries (the work it asks for), before any is looked up.
pub async fn revoke(
    rqctx: &RequestContext<ApiContext>,
    body: JsonBody<PublicRevocationRequest>,
) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError> {
    let context = rqctx.context();
    let client = client_address(
        rqctx.request.remote_addr().ip(),
        rqctx.request.headers(),
        &context.trusted_proxies,
    );
    let limited_as = limiter_key(client, context.public_revoke_ipv6_prefix);
    if let Err(wait) = context.public_revocations.admit(limited_as) {
        let mut error = ErrorCode::RateLimited.with_message(format!(
            "too many revocation requests from this address: retry in {} seconds",
            wait.as_secs().max(1)
        ));
        let seconds = http::HeaderValue::from(wait.as_secs().max(1));
        error
            .headers_mut()
            .insert(http::header::RETRY_AFTER, seconds);
        return Err(error);
    }
    let request = body.decode()?;
    if request.credentials.len() > MAX_TOKENS_PER_REQUEST {
        return Err(ErrorCode::InvalidRequest.with_message(format!(
            "`credentials` may hold at most {MAX_TOKENS_PER_REQUEST} tokens; send the rest \
             in another request"
        )));
    }
    let candidates = context
        .leaks
        .candidates(request.credentials.iter().map(String::as_str))
        .len();
    let further = u32::try_from(candidates.saturating_sub(1)).unwrap_or(u32::MAX);
    context.public_revocations.charge(limited_as, further);
    let sightings: Vec<Sighting> = request
        .credentials
        .into_iter()
        .map(|token| Sighting {
            token,
            source: None,
            url: None,
        })
        .collect();
    context
        .leaks
        .report(
            &sightings,
            &Reporter::Holder { address: client },
            &origin(rqctx),
        )
        .await
        .map_err(service_error)?;
    Ok(HttpResponseAccepted(PublicRevocationReceipt::accepted()))
}
