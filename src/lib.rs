//! Hybridbox's service-accounts API: the Dropshot interface (`api`), its
//! implementation (`server`), what it does (`service`), who may do it (`auth`),
//! the token format (`token`), durable state (`store`), the command line
//! (`cli`) and the wiring they share (`app`), and a client generated from the
//! published document (`client`).
//!
//! With `default-features = false, features = ["client"]` the crate is the
//! client alone: [`client`] and its types, without the server's dependencies.

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod cli;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod domain;
#[cfg(feature = "server")]
pub mod fuzzing;
#[cfg(feature = "server")]
pub mod private_files;
#[cfg(feature = "server")]
pub mod redact;
#[cfg(feature = "server")]
pub mod report;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod token;
