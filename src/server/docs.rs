//! The API reference for people: `GET /docs`, an HTML page that Redoc (the
//! standalone bundle of the `redoc` npm package, pinned in
//! contract/package.json, MIT-licensed, vendored beside this file with its
//! licenses) renders from the served document (`/openapi.json`). Everything
//! the page needs is embedded in the binary and served from here, and its
//! Content-Security-Policy forbids loading anything from anywhere else, so
//! it works on a network with no way out. Not part of the published
//! document.
//!
//! The bundle is served as published but for one string: the one image it
//! would fetch from outside (Redocly's logo, beside "API docs by Redocly")
//! is replaced by an inline, empty image.

use std::sync::LazyLock;

use bytes::Bytes;
use dropshot::HttpError;

use super::error;

/// The page.
pub const PAGE: &str = include_str!("docs/index.html");
/// Redoc's standalone bundle, as published.
pub const REDOC: &[u8] = include_bytes!("docs/redoc.standalone.js");
/// What the bundle would fetch from outside, and what it fetches instead.
const REMOTE_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const INLINE_LOGO: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";

/// Redoc's bundle as served.
static SERVED_REDOC: LazyLock<Bytes> = LazyLock::new(|| {
    let published = std::str::from_utf8(REDOC).expect("Redoc's bundle is UTF-8");
    Bytes::from(published.replacen(REMOTE_LOGO, INLINE_LOGO, 1))
});

/// Redoc's license, and the licenses of what its bundle holds.
pub const REDOC_LICENSE: &str = include_str!("docs/redoc.LICENSE");
pub const REDOC_BUNDLED_LICENSES: &str = include_str!("docs/redoc.standalone.js.LICENSE.txt");

/// Nothing from outside: scripts, styles, fonts, images, connections and
/// workers from this origin only (Redoc styles inline and builds its search
/// worker from a blob; images may be data URLs).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One of the reference's files, with its type and the policy above.
pub fn asset(
    content_type: &str,
    body: impl Into<dropshot::Body>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(http::header::CONTENT_TYPE, content_type)
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header(http::header::CACHE_CONTROL, "no-cache")
        .body(body.into())
        .map_err(|e| error::internal(&e))
}

/// The file of the reference at `name` under `/docs/`, if there is one.
pub fn file(name: &str) -> Option<(&'static str, Bytes)> {
    let text = |content: &'static str| Bytes::from_static(content.as_bytes());
    match name {
        "redoc.standalone.js" => Some(("text/javascript; charset=utf-8", SERVED_REDOC.clone())),
        "redoc.LICENSE" => Some(("text/plain; charset=utf-8", text(REDOC_LICENSE))),
        "redoc.standalone.js.LICENSE.txt" => {
            Some(("text/plain; charset=utf-8", text(REDOC_BUNDLED_LICENSES)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published bundle names its remote logo exactly once, and what is
    /// served names no CDN at all (a new Redoc version that loads something
    /// else from outside fails here, and in the rendering test).
    #[test]
    fn the_served_bundle_loads_nothing_from_a_cdn() {
        let published = std::str::from_utf8(REDOC).unwrap();
        assert_eq!(published.matches(REMOTE_LOGO).count(), 1);
        let served = std::str::from_utf8(&SERVED_REDOC).unwrap();
        assert!(
            !served.contains("cdn."),
            "a CDN address is left in the bundle"
        );
        assert_eq!(
            served.len(),
            published.len() - REMOTE_LOGO.len() + INLINE_LOGO.len()
        );
    }
}
