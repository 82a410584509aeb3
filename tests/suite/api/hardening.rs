//! The holes an adversarial review found, each pinned by a test: expiry dates
//! that clients cannot read back, invisible names, a data directory others can
//! read, OpenID discovery that trusts whatever it is told, JWTs with critical
//! extensions, and a rotation that checked the target's grants outside its
//! transaction.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use hbx_service_accounts::auth::oauth::IssuerSettings;
use hbx_service_accounts::auth::oauth::keys::JwksLocation;
use serde_json::json;
use uuid::Uuid;

use crate::common::issuer::{AUDIENCE, TestIssuer, TestKey, claims, server_trusting};
use crate::common::process::{hbx_sa, json_stdout};
use crate::common::{Backend, TestServer, expect_error};

async fn post_create(server: &TestServer, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = server
        .raw()
        .post(server.create_url(server.account_id))
        .bearer_auth(&server.owner_token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn expiry_must_be_readable_by_every_client(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    for (case, expires_at) in [
        ("a five-digit year", "+10000-01-01T00:00:00Z"),
        ("past year 9999", "+10000-12-31T23:59:59+05:00"),
        ("a leap second", "2030-06-30T23:59:60Z"),
    ] {
        let (status, error) =
            post_create(&server, &json!({"name": case, "expires_at": expires_at})).await;
        assert_eq!(status, 400, "{case}: {error}");
        assert_eq!(error["error_code"], "invalid_request");
        assert!(
            error["message"].as_str().unwrap().contains("expires_at"),
            "{case}: {error}"
        );
    }
    assert_eq!(
        server.service_account_count().await,
        1,
        "nothing was created"
    );
    // The very last second that four-digit years can say is fine.
    let (status, created) = post_create(
        &server,
        &json!({"name": "until the end", "expires_at": "9999-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["expires_at"], "9999-12-31T23:59:59Z");
    // And the listing stays readable (it carries that value back).
    server
        .owner()
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .unwrap();
}

async fn invisible_names_are_refused(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    for name in [
        "\u{200B}",
        "bootstrap-owner\u{200B}",
        "owner\u{200B}",
        "\u{061C}owner",
        "\u{FEFF}owner",
        "ow\u{2060}ner",
        "owner\u{E0041}\u{E007F}",
        "\u{3164}",
        "\u{115F}owner",
        "owner\u{1160}",
        "ow\u{FFA0}ner",
        "ow\u{00AD}ner",
        "ow\u{200D}ner",
    ] {
        let (status, error) = post_create(&server, &json!({ "name": name })).await;
        assert_eq!(status, 400, "{name:?}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("`name`"), "{name:?}: {message}");
        assert!(message.contains("U+"), "says which character: {message}");
    }
    assert_eq!(
        server.service_account_count().await,
        1,
        "nothing was created"
    );
    // Visible non-ASCII names are fine.
    let (status, _) = post_create(&server, &json!({"name": "déploiement 🦀 デプロイ"})).await;
    assert_eq!(status, 201);
}

on_both_stores!(
    expiry_must_be_readable_by_every_client,
    invisible_names_are_refused,
    rotation_checks_grants_inside_its_transaction,
);

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Whatever command runs first creates the data directory readable by its
/// owner only, and its files too: every command that writes state (the
/// development key, a bootstrap, an account, an introspection client, and the
/// server itself).
#[test]
fn every_command_creates_a_private_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let user = Uuid::new_v4().to_string();
    let firsts: [(&str, Vec<&str>); 4] = [
        ("dev-token", vec!["dev-token", "--user", &user]),
        ("bootstrap", vec!["bootstrap", "--account-name", "acme"]),
        (
            "accounts create",
            vec!["accounts", "create", "--name", "acme"],
        ),
        (
            "introspection-clients create",
            vec!["introspection-clients", "create", "--name", "gateway"],
        ),
    ];
    let private = |data_dir: &std::path::Path, command: &str| {
        assert_eq!(mode(data_dir), 0o700, "{command}: the directory");
        let mut files = 0;
        for entry in std::fs::read_dir(data_dir).unwrap() {
            let path = entry.unwrap().path();
            files += 1;
            assert_eq!(
                mode(&path) & 0o077,
                0,
                "{command}: {} is readable by others",
                path.display()
            );
        }
        assert!(files > 0, "{command} wrote nothing");
    };
    for (command, args) in firsts {
        let data_dir = dir.path().join(command.replace(' ', "-"));
        let data_dir_arg = data_dir.to_str().unwrap();
        let mut all = args.clone();
        all.extend(["--data-dir", data_dir_arg]);
        json_stdout(&hbx_sa(dir.path(), &all));
        private(&data_dir, command);
    }
    assert_eq!(
        mode(&dir.path().join("dev-token/oauth-dev-key")),
        0o600,
        "the development key"
    );
    // The server, first: its files exist once it listens.
    let data_dir = dir.path().join("serve");
    let server = crate::common::process::ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    );
    private(&data_dir, "serve");
    drop(server);
}

/// OpenID Connect Discovery §4.3: the configuration's `issuer` must be the
/// configured issuer; and keys are fetched over https (plain http only on
/// loopback).
#[tokio::test]
async fn discovery_must_name_the_issuer_and_use_https() {
    let key = TestKey::ed25519("ed-1");
    let issuer = TestIssuer::start(&[&key]).await;
    issuer.set_discovery(json!({
        "issuer": "https://someone-else.example",
        "jwks_uri": issuer.jwks_url(),
    }));
    let server = server_trusting(Backend::Sqlite, &issuer, JwksLocation::Discover).await;
    let user = Uuid::new_v4();
    let token = key.sign(&claims(&server, &issuer, user));
    expect_error(server.client(&token).whoami().await, 503, "unavailable");
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "no keys taken from a mismatched issuer"
    );

    // A configuration that sends the keys over plain http elsewhere.
    let issuer = TestIssuer::start(&[&key]).await;
    issuer.set_discovery(json!({
        "issuer": issuer.issuer(),
        "jwks_uri": "http://keys.example/jwks",
    }));
    let server = server_trusting(Backend::Sqlite, &issuer, JwksLocation::Discover).await;
    let token = key.sign(&claims(&server, &issuer, user));
    expect_error(server.client(&token).whoami().await, 503, "unavailable");
    // Refused for being plain http, not for being unreachable (the host does
    // not resolve either, so the status alone would not tell).
    let log = server
        .log_once_it_holds("the discovered jwks_uri must be an https URL")
        .await;
    assert!(
        log.contains("the discovered jwks_uri must be an https URL"),
        "{log}"
    );
    assert!(
        !log.contains("GET http://keys.example"),
        "never fetched: {log}"
    );

    // Configured issuers and JWKS URLs must be https beyond loopback.
    for (issuer, keys) in [
        (
            "http://sso.example/realms/hybridbox",
            JwksLocation::Discover,
        ),
        (
            "http://sso.example/realms/hybridbox",
            JwksLocation::JwksUrl("https://keys.example/jwks".into()),
        ),
        // Schemes are case-insensitive.
        (
            "HTTP://sso.example/realms/hybridbox",
            JwksLocation::JwksUrl("https://keys.example/jwks".into()),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = hbx_service_accounts::config::Settings::in_dir(dir.path());
        settings.oauth.issuers.push(IssuerSettings {
            issuer: issuer.into(),
            audiences: vec![AUDIENCE.into()],
            keys,
        });
        let opened = hbx_service_accounts::app::App::open(
            &settings,
            std::sync::Arc::new(hbx_service_accounts::clock::SystemClock),
            &crate::common::quiet_log(),
        )
        .await;
        let error = opened.err().expect("refused").to_string();
        assert!(error.contains("https"), "{error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let output = hbx_sa(
        dir.path(),
        &[
            "serve",
            "--oauth-issuer",
            "https://sso.example/realms/hybridbox",
            "--oauth-audience",
            "api",
            "--oauth-jwks-url",
            "http://sso.example/jwks",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must be an https URL"));
}

/// A JWT whose header names critical extensions is refused (RFC 7515
/// §4.1.11): this service understands none.
#[tokio::test]
async fn a_jwt_with_critical_extensions_is_refused() {
    use base64::Engine as _;
    let key = TestKey::rsa("rsa-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(
        Backend::Sqlite,
        &issuer,
        JwksLocation::JwksUrl(issuer.jwks_url()),
    )
    .await;
    let user = Uuid::new_v4();
    let body = claims(&server, &issuer, user);
    let b64 = |value: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let signed = |header: serde_json::Value| {
        let message = format!("{}.{}", b64(&header), b64(&body));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.algorithm).unwrap();
        format!("{message}.{signature}")
    };
    let plain = signed(json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}));
    server
        .client(&plain)
        .whoami()
        .await
        .expect("the same token without crit");
    let critical = signed(json!({
        "alg": "RS256", "typ": "JWT", "kid": key.kid,
        "crit": ["http://example.com/extension"],
        "http://example.com/extension": true,
    }));
    expect_error(
        server.client(&critical).whoami().await,
        401,
        "invalid_token",
    );
}

/// Another writer that will grant ownership of a service account while a
/// rotation of it waits: on SQLite it holds the write lock; on PostgreSQL
/// (READ COMMITTED, row locks) it holds the service account's row.
enum Granter {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Granter {
    async fn hold(server: &TestServer, target: Uuid) -> Self {
        use sqlx::Connection;
        match server.database_url() {
            Some(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql("BEGIN")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                sqlx::query("SELECT 1 FROM service_accounts WHERE id = $1 FOR UPDATE")
                    .bind(target)
                    .execute(&mut connection)
                    .await
                    .unwrap();
                Granter::Postgres(connection)
            }
            None => {
                let url = format!("sqlite://{}", server.database_path().display());
                let mut connection = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut connection)
                    .await
                    .unwrap();
                Granter::Sqlite(connection)
            }
        }
    }

    /// Makes `target` an owner of `account_id`, and commits.
    async fn grant_ownership(self, account_id: Uuid, target: Uuid) {
        let insert = |created_at: &str| {
            format!(
                "INSERT INTO authorizations \
                 (id, account_id, grant_kind, subject_type, subject_id, created_at) \
                 VALUES ($3, $1, 'account_owner', 'service_account', $2, {created_at})"
            )
        };
        match self {
            Granter::Postgres(mut connection) => {
                sqlx::query(sqlx::AssertSqlSafe(insert("now()")))
                    .bind(account_id)
                    .bind(target.to_string())
                    .bind(Uuid::new_v4())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                sqlx::raw_sql("COMMIT")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            Granter::Sqlite(mut connection) => {
                sqlx::query(sqlx::AssertSqlSafe(insert("0")))
                    .bind(account_id)
                    .bind(target.to_string())
                    .bind(Uuid::new_v4())
                    .execute(&mut connection)
                    .await
                    .unwrap();
                sqlx::raw_sql("COMMIT")
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
        }
    }
}

/// Waits (at most 4 s, within the store's 5 s timeout) until a write of the
/// server waits for a lock: on PostgreSQL a backend of the server's waits on
/// a lock; on SQLite the server's one writer connection is taken (waiting for
/// the write lock, which the test holds).
async fn rotation_waits_for_the_lock(server: &TestServer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        let waiting = match server.database_url() {
            Some(url) => {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = 'hbx-sa' AND wait_event_type = 'Lock'",
                )
                .fetch_one(&mut connection)
                .await
                .unwrap();
                waiting > 0
            }
            None => {
                let metrics = server.scrape_metrics().await;
                metrics.contains(r#"hbx_sa_store_connections{pool="writer",state="in_use"} 1"#)
            }
        };
        if waiting {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rotation never reached the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The rotation checks the target's grants inside its transaction, with the
/// target's row locked: a grant of ownership to the target that commits while
/// the rotation waits is seen, and the rotation refused. (Before, the check
/// ran first, outside; then, on PostgreSQL, it read the grants without
/// locking the row, and the caller still received an owner's token.)
async fn rotation_checks_grants_inside_its_transaction(backend: Backend) {
    // No background writes (last uses) to take the writer meanwhile: the
    // only write waiting for the lock below is the rotation.
    let server = TestServer::start_with_on(backend, |settings| {
        settings.last_use_flush_delay = Duration::from_secs(3600);
    })
    .await;
    let caller = server.create("caller").await;
    let target = server.create("target").await;
    for id in [caller.id, target.id] {
        server.grant_auth_manage(id).await;
    }
    let granter = Granter::hold(&server, target.id).await;
    // The rotation is allowed by the grants it can see now, and waits.
    let rotation = {
        let client = server.client(&caller.token);
        let account_id = server.account_id;
        let target_id = target.id;
        tokio::spawn(async move {
            client
                .rotate_service_account(&account_id, &target_id, None, None)
                .await
        })
    };
    // The grant commits only once the rotation waits for the lock it holds.
    rotation_waits_for_the_lock(&server).await;
    granter.grant_ownership(server.account_id, target.id).await;
    let error = expect_error(rotation.await.unwrap(), 403, "forbidden");
    assert!(error.message.contains("account_owner"), "{}", error.message);
    // The target's token is untouched.
    assert!(server.authenticates(&target.token).await);
}
