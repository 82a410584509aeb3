//! Who is calling: service-account tokens and OAuth access tokens, the cache
//! of verified credentials, `last_used_at`, and secrets that never leave the
//! responses that issue them.

mod authentication;
mod cache;
mod federation;
mod last_use;
mod oauth;
mod secrets;
