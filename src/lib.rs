//! Hybridbox's service-accounts API: the Dropshot interface (`api`), its
//! implementation (`server`), what it does (`service`), who may do it (`auth`),
//! the token format (`token`), durable state (`store`), and a client generated
//! from the published document (`client`).

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod domain;
pub mod fuzzing;
pub mod report;
pub mod server;
pub mod service;
pub mod store;
pub mod token;
