//! The `hbx-sa` binary as an operator uses it: `serve` with no configuration,
//! `bootstrap`, `accounts create` and `grants add` (also while a server runs on
//! the same data directory), JSON on stdout, errors that say what to do, and a
//! 201 that survives the process being killed right after.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use crate::common::process::{BIN, ServeProcess, hbx_sa, json_stdout};
use crate::common::{create_request, public_id_of};
use hbx_service_accounts::app::App;
use hbx_service_accounts::client::types::IntrospectionRequest;
use hbx_service_accounts::clock::SystemClock;
use hbx_service_accounts::config::Settings;
use hbx_service_accounts::store::PageRequest;
use serde_json::Value;
use uuid::Uuid;

/// `hbx-sa bootstrap` into `data_dir`: its output and the new account's id.
fn bootstrap(dir: &Path, data_dir: &str) -> (Value, Uuid) {
    let made = json_stdout(&hbx_sa(
        dir,
        &[
            "bootstrap",
            "--account-name",
            "acme",
            "--data-dir",
            data_dir,
        ],
    ));
    let account_id = made["account_id"].as_str().unwrap().parse().unwrap();
    (made, account_id)
}

#[tokio::test]
async fn serve_with_no_configuration_creates_its_data_directory() {
    // Exactly the README's run command: no flags, no environment.
    if std::net::TcpListener::bind("127.0.0.1:8080").is_err() {
        panic!(
            "127.0.0.1:8080 is in use; this test runs `hbx-sa serve` with no flags, which \
             binds there. Stop whatever listens on it and run the tests again."
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServeProcess::start(dir.path(), &[]);
    assert_eq!(server.address, "127.0.0.1:8080");

    let data_dir = dir.path().join("hbx-sa-data");
    assert!(data_dir.join("hbx-sa.sqlite3").exists());
    let key_mode = std::fs::metadata(data_dir.join("token-keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "the token key file is private");
    let dir_mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700, "the data directory is private");

    // Bootstrap against the running server's data directory, then use the token.
    let made = json_stdout(&hbx_sa(
        dir.path(),
        &["bootstrap", "--account-name", "acme"],
    ));
    let account_id: Uuid = made["account_id"].as_str().unwrap().parse().unwrap();
    let token = made["token"].as_str().unwrap();
    let created = server
        .client(token)
        .create_service_account(&account_id, None, &create_request("from the README"))
        .await
        .expect("the bootstrap token creates a service account");
    assert_eq!(created.status().as_u16(), 201);

    // SIGTERM shuts it down cleanly.
    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
}

#[tokio::test]
async fn a_201_survives_the_process_being_killed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().unwrap();
    let (made, account_id) = bootstrap(dir.path(), data_dir_arg);
    let mut server = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", data_dir_arg],
    );
    let created = server
        .client(made["token"].as_str().unwrap())
        .create_service_account(&account_id, None, &create_request("durable"))
        .await
        .unwrap()
        .into_inner();
    // No shutdown, no checkpoint: SIGKILL straight after the 201.
    server.signal("KILL");
    assert!(!server.wait(Duration::from_secs(10)).success());

    let app = App::open(
        &Settings::in_dir(&data_dir),
        Arc::new(SystemClock),
        &crate::common::quiet_log(),
    )
    .await
    .unwrap();
    let stored = app
        .store()
        .list_service_accounts(
            account_id,
            PageRequest {
                include_revoked: true,
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .any(|sa| sa.id == created.id && sa.name == "durable")
    );
}

#[test]
fn operator_commands_print_json_and_honour_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("elsewhere");
    let with_env = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("HBX_SA_DATA_DIR", &data_dir)
            .output()
            .unwrap()
    };

    let account = json_stdout(&with_env(&["accounts", "create", "--name", "acme"]));
    assert_eq!(account["name"], "acme");
    let account_id = account["id"].as_str().unwrap();
    assert!(account["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        data_dir.join("hbx-sa.sqlite3").exists(),
        "HBX_SA_DATA_DIR was used"
    );

    let user = Uuid::new_v4().to_string();
    let grant = json_stdout(&with_env(&[
        "grants",
        "add",
        "--account",
        account_id,
        "--user",
        &user,
        "--capability",
        "auth.manage",
    ]));
    assert_eq!(grant["capability"], "auth.manage");
    assert_eq!(grant["subject_type"], "user");
    assert_eq!(grant["subject_id"], user.as_str());
    let owner = json_stdout(&with_env(&[
        "grants",
        "add",
        "--account",
        account_id,
        "--user",
        &user,
        "--owner",
    ]));
    assert_eq!(owner["capability"], "account_owner");

    let made = json_stdout(&with_env(&["bootstrap", "--account-name", "second"]));
    for field in [
        "account_id",
        "service_account_id",
        "token",
        "token_prefix",
        "token_public_id",
        "token_last4",
    ] {
        assert!(made[field].is_string(), "bootstrap prints {field}");
    }
    let token = made["token"].as_str().unwrap();
    assert_eq!(made["token_public_id"], public_id_of(token));
}

#[test]
fn operator_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data_dir_arg]);
        hbx_sa(dir.path(), &all)
    };
    let fails_with = |output: Output, expected: &str| {
        assert!(!output.status.success());
        assert!(output.stdout.is_empty(), "nothing on stdout when failing");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected),
            "{stderr:?} should contain {expected:?}"
        );
    };

    let unknown = Uuid::new_v4().to_string();
    let user = Uuid::new_v4().to_string();
    fails_with(
        run(&[
            "grants",
            "add",
            "--account",
            &unknown,
            "--user",
            &user,
            "--owner",
        ]),
        "does not exist (create one with `hbx-sa accounts create`)",
    );
    let account = json_stdout(&run(&["accounts", "create", "--name", "acme"]));
    let account_id = account["id"].as_str().unwrap();
    fails_with(
        run(&[
            "grants",
            "add",
            "--account",
            account_id,
            "--user",
            &user,
            "--capability",
            "Auth Manage",
        ]),
        "is not a capability key",
    );
    // Another service's capability (or a typo of ours) is kept, with a note.
    let noted = run(&[
        "grants",
        "add",
        "--account",
        account_id,
        "--user",
        &user,
        "--capability",
        "auth.mange",
    ]);
    assert!(noted.status.success());
    let note = String::from_utf8_lossy(&noted.stderr);
    assert!(note.contains("acts only on auth.manage"), "{note}");
    let stranger_sa = Uuid::new_v4().to_string();
    fails_with(
        run(&[
            "grants",
            "add",
            "--account",
            account_id,
            "--service-account",
            &stranger_sa,
            "--owner",
        ]),
        "can only hold grants in its own account",
    );
    fails_with(
        run(&["accounts", "create", "--name", ""]),
        "must not be empty",
    );
    fails_with(
        run(&["grants", "add", "--account", account_id, "--owner"]),
        "--user",
    );
    fails_with(
        run(&[
            "bootstrap",
            "--account-name",
            "x",
            "--token-prefix",
            "Bad_Prefix",
        ]),
        "lowercase ASCII letters",
    );
    fails_with(
        hbx_sa(
            dir.path(),
            &[
                "serve",
                "--data-dir",
                data_dir_arg,
                "--token-key-file",
                "/nonexistent/keys",
            ],
        ),
        "cannot read the token key file /nonexistent/keys",
    );
}

#[tokio::test]
async fn audit_prints_create_rotate_and_revoke_with_their_actors() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().unwrap();
    let (made, account_id) = bootstrap(dir.path(), data_dir_arg);
    let owner_id = made["service_account_id"].as_str().unwrap();
    let server = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", data_dir_arg],
    );
    let owner = server.client(made["token"].as_str().unwrap());
    let created = owner
        .create_service_account(&account_id, None, &create_request("audited"))
        .await
        .unwrap();
    let create_request_id = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let created = created.into_inner();
    owner
        .rotate_service_account(&account_id, &created.id, None, None)
        .await
        .unwrap();
    owner
        .revoke_service_account(&account_id, &created.id)
        .await
        .unwrap();
    // A second revocation changes nothing and records nothing.
    owner
        .revoke_service_account(&account_id, &created.id)
        .await
        .unwrap();

    let output = hbx_sa(
        dir.path(),
        &[
            "audit",
            "--account",
            &account_id.to_string(),
            "--data-dir",
            data_dir_arg,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["target"]["type"], "service_account");
            (
                e["action"].as_str().unwrap(),
                e["target"]["id"].as_str().unwrap(),
                e["actor"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    let id = created.id.to_string();
    assert_eq!(
        summary,
        vec![
            ("revoke", id.as_str(), "service_account"),
            ("rotate", id.as_str(), "service_account"),
            ("create", id.as_str(), "service_account"),
            ("create", owner_id, "operator"),
        ],
        "newest first, as the API lists them"
    );
    let bootstrap = &events[3];
    assert_eq!(bootstrap["actor"]["id"], Value::Null);
    assert_eq!(bootstrap["request_id"], Value::Null);
    assert_eq!(bootstrap["source_ip"], Value::Null);
    for event in &events[..3] {
        assert_eq!(event["actor"]["id"], owner_id);
        assert_eq!(event["source_ip"], "127.0.0.1");
        assert!(event["occurred_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(events[2]["request_id"], create_request_id.as_str());
    // The same events, in the same shape, as the API lists them.
    let over_the_api: Vec<Value> = reqwest::Client::new()
        .get(format!(
            "{}/v1/public/accounts/{account_id}/auth/audit-events",
            server.url()
        ))
        .bearer_auth(made["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        events, over_the_api,
        "the command line prints what the API lists"
    );
    // The API's filters, as flags.
    let account_id_text = account_id.to_string();
    let audit = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--account",
            &account_id_text,
            "--data-dir",
            data_dir_arg,
        ];
        args.extend_from_slice(extra);
        hbx_sa(dir.path(), &args)
    };
    let lines = |output: Output| -> Vec<Value> {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let rotations = lines(audit(&["--action", "rotate"]));
    assert_eq!(rotations, vec![events[1].clone()]);
    assert_eq!(lines(audit(&["--limit", "1"])), vec![events[0].clone()]);
    let before = events[1]["id"].as_str().unwrap();
    assert_eq!(lines(audit(&["--before", before])), events[2..].to_vec());
    let by_operator = lines(audit(&["--actor-type", "operator"]));
    assert_eq!(by_operator, vec![events[3].clone()]);
    let refused = audit(&["--token-public-id", "short"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("token_public_id"));
    let refused = audit(&["--action", "explode"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("grant_add"));

    let unknown = Uuid::new_v4().to_string();
    let output = hbx_sa(
        dir.path(),
        &["audit", "--account", &unknown, "--data-dir", data_dir_arg],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
}

#[tokio::test]
async fn development_mode_lets_a_newcomer_try_the_user_path() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().unwrap();
    let (_, account_id) = bootstrap(dir.path(), data_dir_arg);
    let user = Uuid::new_v4().to_string();
    let issued = json_stdout(&hbx_sa(
        dir.path(),
        &["dev-token", "--user", &user, "--data-dir", data_dir_arg],
    ));
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["user_id"], user.as_str());
    let token = issued["access_token"].as_str().unwrap();
    let key_mode = std::fs::metadata(data_dir.join("oauth-dev-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    json_stdout(&hbx_sa(
        dir.path(),
        &[
            "grants",
            "add",
            "--account",
            &account_id.to_string(),
            "--user",
            &user,
            "--owner",
            "--data-dir",
            data_dir_arg,
        ],
    ));

    // Without --oauth-dev the token is refused; with it, it works and warns.
    let plain = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", data_dir_arg],
    );
    let refused = plain
        .client(token)
        .list_service_accounts(&account_id, None, None, None)
        .await;
    assert_eq!(refused.unwrap_err().status().map(|s| s.as_u16()), Some(401));
    let dev = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--oauth-dev",
            "--data-dir",
            data_dir_arg,
        ],
    );
    assert!(
        dev.log().contains("Never use --oauth-dev in production"),
        "{}",
        dev.log()
    );
    let created = dev
        .client(token)
        .create_service_account(&account_id, None, &create_request("made by a user"))
        .await
        .expect("the development token is trusted")
        .into_inner();
    assert_eq!(
        created.created_by_user_id.map(|u| u.to_string()),
        Some(user)
    );
}

/// Introspection clients are made, listed and revoked at the command line,
/// beside a running server, which honours each at once.
#[tokio::test]
async fn introspection_clients_are_managed_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.to_str().unwrap();
    let (made, _) = bootstrap(dir.path(), data_dir_arg);
    let token = made["token"].as_str().unwrap();
    let server = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", data_dir_arg],
    );
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data_dir_arg]);
        hbx_sa(dir.path(), &all)
    };
    let created = json_stdout(&run(&[
        "introspection-clients",
        "create",
        "--name",
        "api-gateway",
    ]));
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(client_id.starts_with("hbxic_"));
    assert_eq!(created["name"], "api-gateway");
    assert!(created["revoked_at"].is_null());

    let request = IntrospectionRequest {
        token: token.to_owned(),
        token_type_hint: None,
    };
    let answer = server
        .introspector(client_id, secret)
        .introspect_token(&request)
        .await
        .unwrap()
        .into_inner();
    assert!(answer.active);

    let listed = run(&["introspection-clients", "list"]);
    assert!(listed.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["client_id"], client_id);
    assert!(
        lines[0].get("client_secret").is_none(),
        "the secret is never shown again"
    );
    // Every file of the data directory, the write-ahead log included (the
    // server holds the database open in WAL mode, so recent writes may be
    // there only): the client id is stored as it is (which shows the search
    // reads where the data lives), the secret only as a MAC.
    let files: Vec<Vec<u8>> = crate::common::files_under(&data_dir)
        .iter()
        .map(|file| std::fs::read(file).unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|bytes| crate::common::contains_bytes(bytes, client_id.as_bytes())),
        "the client id is in the data directory"
    );
    assert!(
        !files
            .iter()
            .any(|bytes| crate::common::contains_bytes(bytes, secret.as_bytes())),
        "the secret is stored only as a MAC"
    );

    let revoked = json_stdout(&run(&[
        "introspection-clients",
        "revoke",
        "--client-id",
        client_id,
    ]));
    assert!(revoked["revoked_at"].is_string());
    let again = json_stdout(&run(&[
        "introspection-clients",
        "revoke",
        "--client-id",
        client_id,
    ]));
    assert_eq!(
        again["revoked_at"], revoked["revoked_at"],
        "revoking again changes nothing"
    );
    // The server, another process, learns of it within the bound (contract
    // §6: 1 s from the revocation; counted by when each request was sent,
    // plus a margin of 20 ms for the test's own reading of the clock, so a
    // slow answer cannot fail this).
    let bound = hbx_service_accounts::config::DEFAULT_CREDENTIAL_CACHE_TTL
        + std::time::Duration::from_millis(20);
    let introspector = server.introspector(client_id, secret);
    let started = std::time::Instant::now();
    loop {
        let sent = started.elapsed();
        let status = match introspector.introspect_token(&request).await {
            Ok(_) => 200,
            Err(error) => error.status().map_or(0, |s| s.as_u16()),
        };
        if status == 401 {
            break;
        }
        assert!(
            sent < bound,
            "a revoked client still introspected ({status}) {sent:?} after"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let unknown = run(&[
        "introspection-clients",
        "revoke",
        "--client-id",
        "hbxic_nope",
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("introspection-clients list"));
    let nameless = run(&["introspection-clients", "create", "--name", ""]);
    assert!(!nameless.status.success());
}
