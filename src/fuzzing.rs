//! The entry points of the fuzz targets (`fuzz/`, run by `scripts/fuzz`), one
//! per parser of untrusted input. The test suite replays every input saved
//! under `fuzz/regressions/<target>/` through the same functions, so a crash
//! once found stays fixed. Each must return for any input, never panic.

use crate::api::extract::{BodyFormat, Form, Json};
use crate::api::platform::IntrospectionRequest;
use crate::api::types::CreateServiceAccountRequest;
use crate::auth::basic::basic_credentials;
use crate::auth::oauth::read_unverified;
use crate::domain::ServiceAccountName;
use crate::token::{self, TokenPrefix, client};

/// The token parser and the client-id check.
pub fn token_parser(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = token::parse(&TokenPrefix::default(), text) {
            assert_eq!(parsed.as_str(), text);
            assert!(text.contains(parsed.public_id()));
        }
        let _ = client::is_well_formed_client_id(text);
    }
}

/// A create request body, decoded and its name validated.
pub fn create_body(data: &[u8]) {
    if let Ok(request) = Json::decode::<CreateServiceAccountRequest>(data) {
        let _ = ServiceAccountName::parse(request.name);
    }
}

/// An introspection form body, and the same bytes as an `Authorization`
/// header value.
pub fn introspection_form(data: &[u8]) {
    let _ = Form::decode::<IntrospectionRequest>(data);
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        let _ = basic_credentials(&headers);
    }
}

/// The unverified header and claims of a JWT.
pub fn jwt_header(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_unverified(text);
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every entry point by its target's name (`fuzz/fuzz_targets/<name>.rs`).
pub const TARGETS: [(&str, Target); 4] = [
    ("token_parser", token_parser),
    ("create_body", create_body),
    ("introspection_form", introspection_form),
    ("jwt_header", jwt_header),
];
