//! What operators rely on: configuration, health and metrics, request lines,
//! the server's start and stop (TLS, SIGTERM), and the command line
//! (operator commands, grants, `scan`).

mod cli;
mod configuration;
mod grants;
mod lifecycle;
mod metrics;
mod request_lines;
mod scan;
mod webhook_retries;
