//! The HTTP API, driven through the generated client and raw HTTP against
//! real servers: each operation's round trip and validation, rotation grace,
//! idempotent retries, verification (whoami, introspection), leaked tokens,
//! races, lifecycle webhooks, the review's hardening, and property tests of the parsers that read
//! untrusted input.

mod audit_events;
mod authorizations;
mod concurrency;
mod create_round_trip;
mod create_validation;
mod federation;
mod hardening;
mod idempotency;
mod leaks;
mod lifecycle_round_trip;
mod properties;
mod role_assignments;
mod rotation_grace;
mod verification;
mod webhook_validation;
pub mod webhooks;
