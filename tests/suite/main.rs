//! The integration suite, as one test binary (one link of the library instead
//! of one per file). Every module talks to real parts: servers on 127.0.0.1,
//! SQLite files in temporary directories, and fresh PostgreSQL databases.
//! `on_both_stores!` runs a test once on each database.

#[macro_use]
mod common;

mod authentication;
mod cache;
mod cli;
mod client_alone;
mod concurrency;
mod contract_tools;
mod crash_safety;
mod create_round_trip;
mod create_validation;
mod hardening;
mod idempotency;
mod last_used;
mod leaks;
mod lifecycle_round_trip;
mod oauth;
mod openapi_document;
mod operations;
mod properties;
mod reference_page;
mod rotation_grace;
mod scale_out;
mod scan;
mod secrets;
mod seed_contract;
mod store;
mod verification;
