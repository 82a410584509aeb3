//! The entry points of the fuzz targets (`fuzz/`, run by `scripts/fuzz`), one
//! per parser of untrusted input. The test suite replays every input saved
//! under `fuzz/regressions/<target>/` through the same functions, so a crash
//! once found stays fixed. Each must return for any input, never panic.

use crate::api::extract::{BodyFormat, Form, Json};
use crate::api::types::CreateServiceAccountRequest;
use crate::api::verification::IntrospectionRequest;
use crate::auth::basic::basic_credentials;
use crate::auth::oauth::{check_claims_json, read_unverified};
use crate::domain::ServiceAccountName;
use crate::service::policy::{TokenPolicy, latest_expiry, parse_expiry};
use crate::token::{self, TokenPrefix, client};
use chrono::{DateTime, TimeDelta};

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

/// A create request body, decoded, and its name and expiry validated as the
/// service validates them (with and without a maximum lifetime).
pub fn create_body(data: &[u8]) {
    if let Ok(request) = Json::decode::<CreateServiceAccountRequest>(data) {
        let _ = ServiceAccountName::parse(request.name);
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant");
        let bounded = TokenPolicy {
            max_lifetime: Some(TimeDelta::days(90)),
            ..TokenPolicy::default()
        };
        let policies = [TokenPolicy::default(), bounded];
        for policy in &policies {
            if let Ok(Some(expires_at)) = parse_expiry(request.expires_at, now, policy) {
                assert!(expires_at > now && expires_at <= latest_expiry());
            }
        }
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

/// The unverified header and issuer of a JWT, then its claims as they are
/// checked once a signature has verified (trusting the issuer it names).
pub fn jwt_header(data: &[u8]) {
    use base64::Engine as _;
    if let Ok(text) = std::str::from_utf8(data) {
        let issuer = match read_unverified(text) {
            Ok((_, issuer)) => issuer.unwrap_or_default(),
            Err(_) => "https://issuer.example".to_owned(),
        };
        let payload = text.split('.').nth(1).unwrap_or(text);
        if let Ok(claims) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) {
            let _ = check_claims_json(&issuer, &["api".to_owned()], &claims);
        }
    }
    // The same bytes as a payload that is already decoded.
    let _ = check_claims_json("https://issuer.example", &["api".to_owned()], data);
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
