//! `hbx-sa serve`: runs the API server until SIGTERM or SIGINT, then stops
//! accepting, lets running requests finish within the shutdown timeout (then
//! cuts them), writes what is pending and exits 0. `--check-config` prints the
//! effective configuration instead.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use serde_json::Value;
use slog::{Drain, Logger, info, o, warn};

use super::args::{LogFormat, LogLevel, ServeArgs};
use super::config_file::redact_url;
use super::{CliError, Invocation};
use crate::app::App;
use crate::clock::SystemClock;
use crate::server::{Server, ServerOptions, TlsFiles};

pub async fn serve(args: ServeArgs, invocation: Invocation<'_>) -> Result<(), CliError> {
    if args.check_config {
        let shown = effective_configuration(invocation);
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).map_err(CliError::Output)?
        );
        return Ok(());
    }
    let options = ServerOptions {
        bind: args.bind,
        tls: match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            }),
            _ => None,
        },
        metrics_bind: args.metrics_bind,
    };
    if options.tls.is_none() && !args.bind.ip().is_loopback() && !args.allow_plain_http {
        return Err(CliError::PlainHttp(args.bind));
    }
    let (log, log_writer) = logger(args.log_format, args.log_level);
    let shutdown_timeout = args.shutdown_timeout.to_std();
    let plain_beyond_loopback = options.tls.is_none() && !args.bind.ip().is_loopback();
    let settings = args.settings();
    let app = App::open(&settings, Arc::new(SystemClock)).await?;
    for warning in app.warnings() {
        warn!(log, "{warning}");
    }
    if plain_beyond_loopback {
        warn!(
            log,
            "serving plain HTTP beyond loopback (--allow-plain-http): bearer tokens \
                    cross the network in clear text unless a TLS-terminating proxy is in front"
        );
    }
    let server = Server::start_with(&app, &options, log.clone())?;
    let storage = match settings.database_url {
        // The URL may carry a password: never log it.
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", settings.data_dir.display()),
    };
    info!(log, "serving the service-accounts API";
        "address" => %server.local_addr(),
        "tls" => options.tls.is_some(),
        "metrics" => server.metrics_addr().map(|a| a.to_string()).unwrap_or_else(|| "/metrics".into()),
        "storage" => storage);
    tokio::select! {
        result = server.wait_for_shutdown() => return Ok(result?),
        _ = shutdown_signal() => info!(log, "shutting down";
            "deadline_s" => shutdown_timeout.as_secs()),
    }
    let closed = server.close_within(shutdown_timeout).await;
    app.store().close().await;
    info!(log, "stopped");
    // Waits for the logger's background thread to write the last lines.
    drop(log_writer);
    Ok(closed?)
}

/// The server's logger: JSON lines on stderr (`json`, or `auto` when stderr is
/// not a terminal), or readable text; written by a background thread, which
/// the guard waits for when dropped.
fn logger(format: LogFormat, level: LogLevel) -> (Logger, slog_async::AsyncGuard) {
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let level = slog::Level::from(level);
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = if json {
        let json = slog_json::Json::new(std::io::stderr())
            .add_default_keys()
            .build()
            .ignore_res();
        Box::new(slog::LevelFilter::new(json, level).ignore_res())
    } else {
        let decorator = slog_term::TermDecorator::new().stderr().build();
        let text = slog_term::FullFormat::new(decorator).build().ignore_res();
        Box::new(slog::LevelFilter::new(text, level).ignore_res())
    };
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(8192)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .build_with_guard();
    (
        Logger::root(drain.ignore_res(), o!("name" => "hbx-sa")),
        guard,
    )
}

/// Every setting of `serve` with its value and where it came from, the
/// database URL's password hidden.
fn effective_configuration(invocation: Invocation<'_>) -> Value {
    let Some(("serve", matches)) = invocation.matches.subcommand() else {
        return Value::Null;
    };
    let mut settings = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for id in super::config_file::known_keys(&<super::Cli as clap::CommandFactory>::command()) {
        let id = id.as_str();
        let raw: Vec<String> = matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let raw: Vec<String> = if id == "database_url" {
            raw.iter().map(|url| redact_url(url)).collect()
        } else {
            raw
        };
        let value = match raw.len() {
            0 => Value::Null,
            1 if !is_list(id) => Value::String(raw[0].clone()),
            _ => Value::Array(raw.into_iter().map(Value::String).collect()),
        };
        let source = match matches.value_source(id) {
            Some(clap::parser::ValueSource::CommandLine) => "flag",
            Some(clap::parser::ValueSource::EnvVariable) => "environment",
            Some(clap::parser::ValueSource::DefaultValue)
                if invocation
                    .file
                    .is_some_and(|file| file.values.contains_key(id)) =>
            {
                "config_file"
            }
            Some(clap::parser::ValueSource::DefaultValue) => "default",
            _ => "unset",
        };
        settings.insert(id.to_owned(), value);
        sources.insert(id.to_owned(), Value::String(source.to_owned()));
    }
    serde_json::json!({
        "config_file": invocation.file.map(|file| file.path.display().to_string()),
        "settings": settings,
        "sources": sources,
    })
}

fn is_list(id: &str) -> bool {
    id == "oauth_audience"
}

impl From<LogLevel> for slog::Level {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => slog::Level::Trace,
            LogLevel::Debug => slog::Level::Debug,
            LogLevel::Info => slog::Level::Info,
            LogLevel::Warn => slog::Level::Warning,
            LogLevel::Error => slog::Level::Error,
        }
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
