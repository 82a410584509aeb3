//! What operators rely on: configuration from a file, the environment and
//! flags in that order; health, readiness and metrics; request lines without
//! credentials; a clean stop on SIGTERM; TLS, and no plain HTTP beyond
//! loopback unless asked for; grants listed and removed at the command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::common::process::{BIN, ServeProcess, hbx_sa, json_stdout};
use crate::common::{Backend, TestServer, after_prefix};

/// `hbx-sa ARGS` with only the variables in `env`.
fn hbx_sa_env(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run hbx-sa")
}

#[test]
fn configuration_precedence_is_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hbx-sa.toml");
    std::fs::write(
        &config,
        r#"
bind = "127.0.0.1:7001"
data_dir = "from-file"
last_used_interval = "5m"
oauth_leeway = "10s"
database_timeout_ms = 1234
database_url = "postgres://app:s3cret-password@db.example:5432/hbx"
token_key_file = "/etc/hbx-sa/keys"
oauth_issuer = "https://sso.example.com/realms/hybridbox"
oauth_audience = ["one", "two"]
"#,
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let output = hbx_sa_env(
        dir.path(),
        &[
            "serve",
            "--check-config",
            "--config",
            &config_arg,
            "--bind",
            "127.0.0.1:7003",
        ],
        &[
            ("HBX_SA_BIND", "127.0.0.1:7002"),
            ("HBX_SA_DATA_DIR", "from-environment"),
            ("HBX_SA_OAUTH_LEEWAY", "20s"),
        ],
    );
    let shown = json_stdout(&output);
    let settings = &shown["settings"];
    let sources = &shown["sources"];
    // flag > environment > file > default.
    assert_eq!(settings["bind"], "127.0.0.1:7003");
    assert_eq!(sources["bind"], "flag");
    assert_eq!(settings["data_dir"], "from-environment");
    assert_eq!(sources["data_dir"], "environment");
    assert_eq!(settings["oauth_leeway"], "20s");
    assert_eq!(settings["last_used_interval"], "5m");
    assert_eq!(sources["last_used_interval"], "config_file");
    assert_eq!(settings["database_timeout_ms"], "1234");
    assert_eq!(
        settings["oauth_audience"],
        serde_json::json!(["one", "two"])
    );
    assert_eq!(settings["credential_cache_ttl"], "1s");
    assert_eq!(sources["credential_cache_ttl"], "default");
    assert_eq!(shown["config_file"], config_arg.as_str());
    // The password never shows.
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("s3cret-password"), "{text}");
    assert_eq!(
        settings["database_url"],
        "postgres://app:REDACTED@db.example:5432/hbx"
    );

    // The variable names the file too, and the file serves storage commands.
    let output = hbx_sa_env(
        dir.path(),
        &["serve", "--check-config"],
        &[("HBX_SA_CONFIG", &config_arg)],
    );
    assert_eq!(json_stdout(&output)["settings"]["bind"], "127.0.0.1:7001");
    std::fs::write(
        &config,
        "data_dir = \"accounts-here\"\nbind = \"127.0.0.1:7001\"\n",
    )
    .unwrap();
    let made = json_stdout(&hbx_sa_env(
        dir.path(),
        &["accounts", "create", "--name", "acme"],
        &[("HBX_SA_CONFIG", &config_arg)],
    ));
    assert!(made["id"].is_string());
    assert!(
        dir.path().join("accounts-here/hbx-sa.sqlite3").exists(),
        "a storage command read data_dir from the file (and ignored bind)"
    );

    // An unknown key is an error that names it; so is a file that is not TOML.
    std::fs::write(
        &config,
        "bind = \"127.0.0.1:7001\"\ndata_directory = \"x\"\n",
    )
    .unwrap();
    let output = hbx_sa(
        dir.path(),
        &["serve", "--check-config", "--config", &config_arg],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown key `data_directory`"), "{stderr}");
    assert!(
        stderr.contains("data_dir"),
        "lists the known keys: {stderr}"
    );
    std::fs::write(&config, "bind = ").unwrap();
    let output = hbx_sa(
        dir.path(),
        &["serve", "--check-config", "--config", &config_arg],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid TOML"));
    let output = hbx_sa(dir.path(), &["serve", "--config", "/nonexistent.toml"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the configuration file"));
}

/// Settings that need each other are checked whatever their sources: a
/// file that names a TLS certificate without its key is refused (it would
/// otherwise be served without TLS), and so are two JWKS sources.
#[test]
fn related_settings_are_checked_across_sources() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hbx-sa.toml");
    let config_arg = config.display().to_string();
    let check = |file: &str, env: &[(&str, &str)]| {
        std::fs::write(&config, file).unwrap();
        hbx_sa_env(
            dir.path(),
            &["serve", "--check-config", "--config", &config_arg],
            env,
        )
    };
    let refused = |output: std::process::Output, words: &[&str]| {
        assert!(!output.status.success(), "accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for word in words {
            assert!(stderr.contains(word), "{word:?} not in: {stderr}");
        }
    };
    refused(
        check("tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n", &[]),
        &["tls_cert_file", "tls_key_file"],
    );
    refused(
        check("oauth_audience = [\"api\"]\n", &[]),
        &["oauth_audience", "oauth_issuer"],
    );
    refused(
        check(
            "oauth_issuer = \"https://sso.example.com\"\n\
             oauth_audience = [\"api\"]\n\
             oauth_jwks_url = \"https://sso.example.com/jwks\"\n\
             oauth_jwks_file = \"/etc/jwks.json\"\n",
            &[],
        ),
        &["oauth_jwks_url", "oauth_jwks_file", "choose one"],
    );
    // One half from the file, the other from the environment: complete.
    let output = check(
        "tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n",
        &[("HBX_SA_TLS_KEY_FILE", "/etc/hbx-sa/key.pem")],
    );
    let shown = json_stdout(&output);
    assert_eq!(shown["sources"]["tls_cert_file"], "config_file");
    assert_eq!(shown["sources"]["tls_key_file"], "environment");
    // And the server itself refuses to start on the incomplete file.
    std::fs::write(&config, "tls_cert_file = \"/etc/hbx-sa/cert.pem\"\n").unwrap();
    refused(
        hbx_sa(dir.path(), &["serve", "--config", &config_arg]),
        &["tls_key_file"],
    );
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the first sample of `metric` whose labels contain every one
/// of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(metric) && !line.starts_with('#'))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn health_readiness_and_metrics(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let http = server.raw();
    assert_eq!(
        get(&http, format!("{}/healthz", server.base_url)).await,
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    assert_eq!(
        get(&http, format!("{}/readyz", server.base_url)).await.0,
        200
    );
    let owner = server.owner();
    for _ in 0..3 {
        owner
            .get_service_account(&server.account_id, &server.owner_id)
            .await
            .unwrap();
    }
    let _ = server
        .client("hbxsa_not-a-token")
        .get_service_account(&server.account_id, &server.owner_id)
        .await;
    // Answered before any operation ran: an unknown path, and a path
    // parameter that is not a UUID.
    assert_eq!(
        get(&http, format!("{}/no/such/path", server.base_url))
            .await
            .0,
        404
    );
    assert_eq!(
        get(
            &http,
            format!(
                "{}/v1/public/accounts/not-a-uuid/auth/service-accounts",
                server.base_url
            )
        )
        .await
        .0,
        400
    );
    let (status, metrics) = get(&http, format!("{}/metrics", server.base_url)).await;
    assert_eq!(status, 200);
    for status in ["404", "400"] {
        assert_eq!(
            sample(
                &metrics,
                "hbx_sa_http_requests_total",
                &["operation=\"none\"", &format!("status=\"{status}\"")],
            ),
            Some(1.0),
            "{metrics}"
        );
    }
    let requests = |status: &str| {
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &[
                "operation=\"get_service_account\"",
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(requests("200"), Some(3.0), "{metrics}");
    assert_eq!(requests("401"), Some(1.0), "{metrics}");
    assert!(
        sample(
            &metrics,
            "hbx_sa_http_request_duration_seconds_count",
            &["operation=\"get_service_account\""]
        ) == Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_authentications_total",
            &["kind=\"service_account\"", "outcome=\"ok\""]
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_authentications_total",
            &[
                "kind=\"service_account\"",
                "outcome=\"invalid\"",
                "reason=\"malformed\""
            ]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "hbx_sa_active_service_accounts", &[]),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "hbx_sa_store_up", &[]), Some(1.0));
    assert!(metrics.contains("hbx_sa_store_connections{"), "{metrics}");
    // The counters move with the requests.
    server.create("another").await;
    let (_, metrics) = get(&http, format!("{}/metrics", server.base_url)).await;
    assert_eq!(
        sample(&metrics, "hbx_sa_active_service_accounts", &[]),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &["operation=\"create_service_account\"", "status=\"201\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    // None of these is in the published document.
    let document = hbx_service_accounts::api::openapi_document();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(!document.contains(path), "{path} is not published");
    }
}

/// `grants list` and `grants remove` at the command line, beside a running
/// server that refuses a removed capability within the bound.
async fn grants_are_listed_and_removed_beside_a_running_server(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(backend, dir, |_| {}).await;
    let worker = server.create("worker").await;
    server.grant_auth_manage(worker.id).await;
    let worker_client = server.client(&worker.token);
    worker_client
        .get_service_account(&server.account_id, &server.owner_id)
        .await
        .expect("granted");
    let mut storage = vec![
        "--data-dir".to_owned(),
        server.data_dir().display().to_string(),
    ];
    if let Some(url) = server.database_url() {
        storage.extend([
            "--database-url".into(),
            url.to_owned(),
            "--token-key-file".into(),
            server
                .data_dir()
                .join("shared-token-keys")
                .display()
                .to_string(),
        ]);
    }
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(storage.iter().map(String::as_str));
        hbx_sa(server.data_dir(), &all)
    };
    let account = server.account_id.to_string();
    let listed = run(&["grants", "list", "--account", &account]);
    assert!(listed.status.success());
    let lines: Vec<Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the owner's and the worker's: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|g| g["subject_id"] == worker.id.to_string() && g["capability"] == "auth.manage")
    );

    let worker_id = worker.id.to_string();
    let removed = json_stdout(&run(&[
        "grants",
        "remove",
        "--account",
        &account,
        "--service-account",
        &worker_id,
        "--capability",
        "auth.manage",
    ]));
    assert_eq!(removed["removed"], true);
    // Within the bound, the running server refuses (403: standing, no capability).
    let started = Instant::now();
    loop {
        match worker_client
            .get_service_account(&server.account_id, &server.owner_id)
            .await
        {
            Err(error) if error.status().map(|s| s.as_u16()) == Some(403) => break,
            _ => assert!(
                // The bound of contract §6, and half a second for this
                // loop's own requests on a shared machine.
                started.elapsed()
                    < hbx_service_accounts::config::DEFAULT_CREDENTIAL_CACHE_TTL
                        + Duration::from_millis(500),
                "the removed capability still works after {:?}",
                started.elapsed()
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "removal effective after {} ms",
        started.elapsed().as_millis()
    );
    let again = json_stdout(&run(&[
        "grants",
        "remove",
        "--account",
        &account,
        "--service-account",
        &worker_id,
        "--capability",
        "auth.manage",
    ]));
    assert_eq!(again["removed"], false, "nothing left to remove");
    // Audited, once.
    let audit = run(&["audit", "--account", &account]);
    let events: Vec<Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let removals: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "grant_remove")
        .collect();
    assert_eq!(removals.len(), 1, "{events:?}");
    assert_eq!(removals[0]["actor_type"], "operator");
    assert_eq!(removals[0]["grant"]["capability"], "auth.manage");
    assert!(events.iter().any(|e| e["action"] == "grant_add"));
    // accounts list shows the account.
    let accounts = run(&["accounts", "list"]);
    assert!(String::from_utf8_lossy(&accounts.stdout).contains(&account));
    // An unknown account is refused with a message that says what to do.
    let unknown = run(&["grants", "list", "--account", &Uuid::new_v4().to_string()]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("accounts create"));
}

on_both_stores!(
    health_readiness_and_metrics,
    grants_are_listed_and_removed_beside_a_running_server,
);

/// The request line has the request id, operation, status, latency and
/// principal; a token in the query string or the header never reaches it.
#[tokio::test]
async fn request_lines_carry_no_credential() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let made = json_stdout(&hbx_sa(
        dir.path(),
        &[
            "bootstrap",
            "--account-name",
            "acme",
            "--data-dir",
            &data_dir,
        ],
    ));
    let token = made["token"].as_str().unwrap();
    let account = made["account_id"].as_str().unwrap();
    let owner = made["service_account_id"].as_str().unwrap();
    let server = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", &data_dir],
    );
    let http = reqwest::Client::new();
    let url = format!(
        "{}/v1/public/accounts/{account}/auth/service-accounts/{owner}",
        server.url()
    );
    let response = http
        .get(format!("{url}?token={token}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    // Get takes no query parameters: this one is ignored (but logged).
    assert_eq!(response.status().as_u16(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let ok = http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let _ = http
        .get(format!("{}/no/such/path?token={token}", server.url()))
        .send()
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = server.log();
        if log.matches("request completed").count() >= 3 || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!log.contains(token), "the token reached the log:\n{log}");
    assert!(
        !log.contains(after_prefix(token)),
        "part of the token reached the log"
    );
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        !lines.is_empty(),
        "JSON lines when stderr is not a terminal:\n{log}"
    );
    let line = lines
        .iter()
        .find(|line| line["req_id"] == request_id.as_str() && line["msg"] == "request completed")
        .unwrap_or_else(|| panic!("a request line for {request_id}:\n{log}"));
    assert_eq!(line["operation"], "get_service_account");
    assert_eq!(line["response_code"], 200);
    assert_eq!(line["principal"], format!("service_account:{owner}"));
    assert!(line["latency_us"].is_u64());
    assert!(
        line["uri"].as_str().unwrap().ends_with("?<redacted>"),
        "{line}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["req_id"] == request_id.as_str() && l["msg"] == "request completed")
            .count(),
        1,
        "one line per request"
    );
    // A path with no route keeps Dropshot's own line, redacted too.
    assert!(lines.iter().any(|l| l["uri"] == "/no/such/path?<redacted>"));
}

/// SIGTERM: running requests finish, a client holding an undelivered
/// oversized body does not hold the stop up, pending last-use writes reach the
/// disk, and the process exits 0 within the deadline.
#[tokio::test]
async fn sigterm_finishes_running_requests_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.display().to_string();
    let made = json_stdout(&hbx_sa(
        dir.path(),
        &[
            "bootstrap",
            "--account-name",
            "acme",
            "--data-dir",
            &data_dir_arg,
        ],
    ));
    let token = made["token"].as_str().unwrap().to_owned();
    let account = made["account_id"].as_str().unwrap().to_owned();
    let owner = made["service_account_id"].as_str().unwrap().to_owned();
    let mut server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg,
            "--shutdown-timeout",
            "30s",
        ],
    );
    let address = server.address.clone();
    // A client that declares a body over the limit and never sends it: it is
    // answered 413 without waiting for the body (the defect was to drain it
    // with no deadline, which held the request, and so the shutdown, for
    // ever).
    let mut holder = TcpStream::connect(&address).unwrap();
    write!(
        holder,
        "POST /v1/public/accounts/{account}/auth/service-accounts HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n"
    )
    .unwrap();
    holder
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut refused = [0u8; 12];
    holder
        .read_exact(&mut refused)
        .expect("the oversized request is answered while its body never comes");
    assert_eq!(&refused, b"HTTP/1.1 413");
    // A request in flight: its body arrives in two halves, around the signal.
    let body = r#"{"name": "created while stopping"}"#;
    let mut slow = TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "POST /v1/public/accounts/{account}/auth/service-accounts HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    // A use of the token, whose last_used_at is written in the background.
    let used = reqwest::Client::new()
        .get(format!(
            "http://{address}/v1/public/accounts/{account}/auth/service-accounts/{owner}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status().as_u16(), 200);
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight create finished: {answer}"
    );
    let status = server.wait(Duration::from_secs(15));
    let took = stopping.elapsed();
    println!("stopped {} ms after SIGTERM", took.as_millis());
    assert!(status.success(), "exit status {status:?}: {}", server.log());
    // Nothing holds the stop until the 30 s deadline cuts it: it ends once
    // the in-flight create has. (That the pending last use is written by
    // the stop itself is pinned by last_used::*::stopping_writes_pending_uses.)
    assert!(
        took < Duration::from_secs(10),
        "well within the 30 s deadline: {took:?}"
    );
    drop(holder);
    // On disk: the last use, and the create.
    let listed = Command::new(BIN)
        .args(["audit", "--account", &account, "--data-dir", &data_dir_arg])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("create"));
    let restarted = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", &data_dir_arg],
    );
    let owner_now = restarted
        .client(&token)
        .get_service_account(&account.parse().unwrap(), &owner.parse().unwrap())
        .await
        .unwrap();
    assert!(
        owner_now.last_used_at.is_some(),
        "the pending last use was flushed"
    );
    let all = restarted
        .client(&token)
        .list_service_accounts(&account.parse().unwrap(), None, None, None)
        .await
        .unwrap();
    assert!(all.iter().any(|sa| sa.name == "created while stopping"));
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it, as
/// PEM files in `dir`: (CA certificate PEM, certificate path, key path).
fn test_certificates(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hbx-sa test authority");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (
        ca_cert.pem(),
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

#[tokio::test]
async fn tls_is_served_and_plain_http_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let made = json_stdout(&hbx_sa(
        dir.path(),
        &[
            "bootstrap",
            "--account-name",
            "acme",
            "--data-dir",
            &data_dir,
        ],
    ));
    let token = made["token"].as_str().unwrap();
    let (ca, cert, key) = test_certificates(dir.path());
    let server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
        ],
    );
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let client = hbx_service_accounts::client::Client::new_with_client(
        &format!("https://{}", server.address),
        http,
    );
    let me = match client.whoami().await {
        Ok(me) => me.into_inner(),
        Err(error) => panic!(
            "whoami over TLS: {}\n{}",
            hbx_service_accounts::report::chain(&error),
            server.log()
        ),
    };
    assert_eq!(me.account_id.unwrap().to_string(), made["account_id"]);
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP"
    );

    // Beyond loopback without TLS: refused, saying what to do.
    let output = hbx_sa(
        dir.path(),
        &["serve", "--bind", "0.0.0.0:0", "--data-dir", &data_dir],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert-file"), "{stderr}");
    assert!(stderr.contains("--allow-plain-http"), "{stderr}");
    // ...unless asked for, with a warning.
    let allowed = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
            &data_dir,
            "--allow-plain-http",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !allowed.log().contains("clear text") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(allowed.log().contains("clear text"), "{}", allowed.log());
}

/// `--metrics-bind` serves the metrics on an address of their own.
#[tokio::test]
async fn metrics_can_have_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let metrics_bind = format!("127.0.0.1:{port}");
    let server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--metrics-bind",
            &metrics_bind,
        ],
    );
    let http = reqwest::Client::new();
    let (status, _) = get(&http, format!("{}/metrics", server.url())).await;
    assert_eq!(status, 404, "not on the API's address");
    let (status, text) = get(&http, format!("http://{metrics_bind}/metrics")).await;
    assert_eq!(status, 200);
    assert!(text.contains("hbx_sa_store_up"), "{text}");
}

/// The README's configuration reference names every setting the file may
/// hold, with its variable and flag.
#[test]
fn the_readme_documents_every_setting() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string("README.md").unwrap();
    let keys = hbx_service_accounts::cli::config_file::known_keys(
        &hbx_service_accounts::cli::Cli::command(),
    );
    assert!(keys.len() > 20, "{keys:?}");
    for key in keys {
        let variable = format!("HBX_SA_{}", key.to_uppercase());
        let flag = format!("--{}", key.replace('_', "-"));
        let row = format!("| `{key}` | `{variable}` | `{flag}` |");
        assert!(
            readme.contains(&row),
            "README's configuration table lacks {row}"
        );
    }
}
