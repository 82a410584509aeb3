//! The second review's findings (README, "Security"), one test per finding,
//! each named after it and each failing on the code the review read: the
//! public revocation amplifier, replays that outlived the caller's right,
//! grace tokens that could mint credentials, echoed values, invisible names,
//! credentials in fetched URLs, redirects, cache lifetimes, refused database
//! connections and the last owner. (Findings whose rule lives in one
//! function are tested beside it: `/metrics` in `operations::metrics`, the
//! forwarded-for forms and IPv6 networks in `src/server/client_address.rs`,
//! the text log in `src/cli/text_log.rs`, Default_Ignorable_Code_Point in
//! `src/domain/names.rs`, the cache's re-inserted entries in
//! `src/auth/cache.rs`.)

mod amplification;
mod echoes;
mod fetched_urls;
mod grace_tokens;
mod last_owner;
mod refused_connections;
mod replays;
