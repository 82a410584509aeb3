//! Reading documents that other parties publish and this server trusts for
//! keys: an issuer's OpenID configuration and JWKS, a secret-scanning
//! partner's public keys. Each is read whole, but never more than
//! [`MAX_DOCUMENT_BYTES`], so a misbehaving publisher cannot make the server
//! buffer without end.

/// Largest published document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Why a published document could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Sending, a non-2xx status, or reading the body failed.
    #[error("GET {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: the document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: String },
}

/// Sends `request` (a GET of `url`) and returns its body, refusing a non-2xx
/// answer and any body over [`MAX_DOCUMENT_BYTES`].
pub async fn read_document(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<Vec<u8>, FetchError> {
    let fail = |source| FetchError::Http {
        url: url.to_owned(),
        source,
    };
    let mut response = request
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fail)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge {
                url: url.to_owned(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
