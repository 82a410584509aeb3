//! The leaked-token operations: signed reports from secret-scanning partners
//! (signature checked over the raw body before anything is parsed), and the
//! public revocation endpoint (rate-limited per client address, the same
//! answer whatever it was sent).

use std::net::IpAddr;

use dropshot::{HttpError, HttpResponseAccepted, HttpResponseOk, RequestContext};
use slog::info;

use super::context::ApiContext;
use super::error::service_error;
use crate::api::errors::ErrorCode;
use crate::api::extract::JsonBody;
use crate::api::leaks::{
    PublicRevocationReceipt, PublicRevocationRequest, ReportedToken, TOKEN_TYPE, TokenLabel,
    TokenReportFeedback,
};
use crate::auth::leaks::{Sender, SignatureError};
use crate::config::TrustedProxy;
use crate::service::leaks::{Label, MAX_TOKENS_PER_REQUEST, Reporter, token_hash};

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
    let mut feedback = Vec::with_capacity(reported.len());
    let mut true_positives = 0;
    for item in reported {
        let by = Reporter::Partner {
            name: sender.as_str(),
            source: item.source,
            url: item.url,
        };
        let label = context
            .leaks
            .report(&item.token, &by, &rqctx.request_id)
            .await
            .map_err(service_error)?;
        true_positives += usize::from(label == Label::TruePositive);
        feedback.push(TokenReportFeedback {
            token_hash: token_hash(&item.token),
            token_type: TOKEN_TYPE.to_owned(),
            label: match label {
                Label::TruePositive => TokenLabel::TruePositive,
                Label::FalsePositive => TokenLabel::FalsePositive,
            },
        });
    }
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

/// Handles a public revocation request.
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
    if let Err(wait) = context.public_revocations.admit(client) {
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
    let by = Reporter::Holder { address: client };
    for credential in &request.credentials {
        context
            .leaks
            .report(credential, &by, &rqctx.request_id)
            .await
            .map_err(service_error)?;
    }
    Ok(HttpResponseAccepted(PublicRevocationReceipt::accepted()))
}

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then `X-Forwarded-For` is read from the right (the entries the trusted
/// proxies added) to the first address that is not a trusted proxy. The left
/// part of the header is the client's own say, and is never believed.
pub fn client_address(peer: IpAddr, headers: &http::HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(address) = hop.trim().parse::<IpAddr>() else {
            // Unreadable: stop at the last trusted hop rather than guess.
            break;
        };
        client = address.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn forwarded(values: &[&str]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let proxies = trusted(&["10.0.0.0/8", "192.168.1.5"]);
        // A peer that is not a proxy: its own address, whatever it claims.
        assert_eq!(
            client_address(ip("203.0.113.9"), &forwarded(&["1.2.3.4"]), &proxies),
            ip("203.0.113.9")
        );
        // Through the load balancer: the address it saw.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["198.51.100.7"]), &proxies),
            ip("198.51.100.7")
        );
        // A forged left part is skipped: the first untrusted from the right.
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["6.6.6.6, 198.51.100.7, 192.168.1.5"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(
                ip("10.1.2.3"),
                &forwarded(&["6.6.6.6", "198.51.100.7"]),
                &proxies
            ),
            ip("198.51.100.7")
        );
        // Nothing forwarded, or garbage: the proxy itself.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&[]), &proxies),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["not-an-ip"]), &proxies),
            ip("10.1.2.3")
        );
        // No trusted proxies at all: never read.
        assert_eq!(
            client_address(ip("10.1.2.3"), &forwarded(&["1.2.3.4"]), &[]),
            ip("10.1.2.3")
        );
        // IPv4 mapped into IPv6 is the IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:203.0.113.9"), &forwarded(&[]), &proxies),
            ip("203.0.113.9")
        );
    }
}
