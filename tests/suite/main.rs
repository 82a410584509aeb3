//! The integration suite, as one test binary (one link of the library instead
//! of one per file), in folders that mirror `src/`: `api/`, `auth/`,
//! `store/`, `operations/` and `contract/`; `second_review/` for the second
//! review's findings, one test each; and `layout` for the crate's own shape.
//! Every module talks to real parts: servers on 127.0.0.1, SQLite files in
//! temporary directories, and fresh PostgreSQL databases.
//! `on_both_stores!` runs a test once on each database.

#[macro_use]
mod common;

mod api;
mod auth;
mod contract;
mod layout;
mod operations;
mod second_review;
mod store;
