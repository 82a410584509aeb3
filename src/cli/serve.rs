//! `hbx-sa serve`: runs the API server until SIGTERM or SIGINT, then stops
//! accepting, lets running requests finish within the shutdown timeout (then
//! cuts them), writes what is pending and exits 0. `--check-config` prints the
//! effective configuration instead.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use serde::Serialize;
use slog::{Drain, Logger, info, o, warn};

use super::args::{LogFormat, LogLevel, ServeArgs};
use super::config_file::Invocation;
use super::error::CliError;
use super::output::print_object;
use crate::app::App;
use crate::clock::SystemClock;
use crate::redact;
use crate::server::lifecycle::{Server, ServerOptions, TlsFiles};
use crate::store::transaction_pooler::RouteNotice;

pub async fn serve(args: ServeArgs, invocation: Invocation<'_>) -> Result<(), CliError> {
    if args.check_config {
        // Contradicting settings are refused here too: the check says so.
        args.settings()?;
        print_object(&effective_configuration(invocation))?;
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
    let settings = args.settings()?;
    let app = App::open(&settings, Arc::new(SystemClock), &log).await?;
    for warning in app.warnings() {
        warn!(log, "{warning}");
    }
    match app.route().and_then(|route| route.notice()) {
        Some(RouteNotice::Warning(warning)) => warn!(log, "{warning}"),
        Some(RouteNotice::Info(notice)) => info!(log, "{notice}"),
        None => {}
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
        "metrics" => %server.metrics_addr(),
        "storage" => storage);
    tokio::select! {
        result = server.wait_for_shutdown() => return Ok(result?),
        _ = shutdown_signal() => info!(log, "shutting down";
            "deadline_s" => shutdown_timeout.as_secs()),
    }
    let closed = server.close_within(shutdown_timeout).await;
    // Requests cut at the deadline may still hold connections, which a close
    // would wait for: bounded like any database operation.
    if tokio::time::timeout(settings.database_timeout, app.store().close())
        .await
        .is_err()
    {
        warn!(
            log,
            "database connections still in use at exit were dropped"
        );
    }
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
        Box::new(json)
    } else {
        let decorator = slog_term::TermDecorator::new().stderr().build();
        let text = slog_term::FullFormat::new(decorator).build().ignore_res();
        Box::new(super::text_log::EscapeControls(text))
    };
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(8192)
        .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
        .build_with_guard();
    // Filtered before the channel: a record below the level is never sent to
    // the writing thread (measured: that thread cost 7 to 9% of the CPU of a
    // loaded server at `--log-level warn`, all for records it then dropped).
    (
        Logger::root(
            slog::LevelFilter::new(drain.ignore_res(), level).ignore_res(),
            o!("name" => "hbx-sa"),
        ),
        guard,
    )
}

/// What `serve --check-config` prints: every setting of `serve` with its
/// value and where it came from, the database URL's secrets hidden.
#[derive(Debug, Default, Serialize)]
struct EffectiveConfiguration {
    /// The configuration file read, if any.
    config_file: Option<String>,
    settings: BTreeMap<String, SettingValue>,
    sources: BTreeMap<String, SettingSource>,
}

/// A setting's value as the flag would take it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum SettingValue {
    Unset,
    One(String),
    List(Vec<String>),
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum SettingSource {
    Flag,
    Environment,
    ConfigFile,
    Default,
    Unset,
}

fn effective_configuration(invocation: Invocation<'_>) -> EffectiveConfiguration {
    let Some(("serve", matches)) = invocation.matches.subcommand() else {
        return EffectiveConfiguration::default();
    };
    let mut shown = EffectiveConfiguration {
        config_file: invocation.file.map(|file| file.path.display().to_string()),
        ..EffectiveConfiguration::default()
    };
    for id in invocation.known_keys {
        let id = id.as_str();
        let raw: Vec<String> = matches
            .try_get_raw(id)
            .ok()
            .flatten()
            .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let raw: Vec<String> = match id {
            "database_url" | "database_direct_url" => {
                raw.iter().map(|url| redact::database_url(url)).collect()
            }
            _ if id.ends_with("_url") => raw.iter().map(|url| redact::fetched_url(url)).collect(),
            _ => raw,
        };
        let value = match raw.len() {
            0 => SettingValue::Unset,
            1 if !is_list(id) => SettingValue::One(raw[0].clone()),
            _ => SettingValue::List(raw),
        };
        let source = match matches.value_source(id) {
            Some(clap::parser::ValueSource::CommandLine) => SettingSource::Flag,
            Some(clap::parser::ValueSource::EnvVariable) => SettingSource::Environment,
            Some(clap::parser::ValueSource::DefaultValue)
                if invocation
                    .file
                    .is_some_and(|file| file.values.contains_key(id)) =>
            {
                SettingSource::ConfigFile
            }
            Some(clap::parser::ValueSource::DefaultValue) => SettingSource::Default,
            _ => SettingSource::Unset,
        };
        shown.settings.insert(id.to_owned(), value);
        shown.sources.insert(id.to_owned(), source);
    }
    shown
}

fn is_list(id: &str) -> bool {
    [
        "oauth_audience",
        "trusted_proxies",
        "webhook_allow_networks",
    ]
    .contains(&id)
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
