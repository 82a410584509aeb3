//! Grants listed and removed at the command line while a server runs beside it.

use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::common::process::{hbx_sa_beside, json_stdout};
use crate::common::{Backend, TestServer};

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
    let run = async |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(storage.iter().map(String::as_str));
        hbx_sa_beside(server.data_dir(), &all).await
    };
    let account = server.account_id.to_string();
    let listed = run(&["grants", "list", "--account", &account]).await;
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
    let removed = json_stdout(
        &run(&[
            "grants",
            "remove",
            "--account",
            &account,
            "--service-account",
            &worker_id,
            "--capability",
            "auth.manage",
        ])
        .await,
    );
    assert_eq!(removed["removed"], true);
    // Within the bound, the running server refuses (403: standing, no
    // capability): no request sent after the bound (contract §6, from when
    // the removal was acknowledged, plus 20 ms for the test's own clock) may
    // still be allowed. When a request was sent is what counts, not when its
    // answer came, so a slow machine cannot fail this, nor hide a stale
    // answer.
    let started = Instant::now();
    let bound =
        hbx_service_accounts::config::DEFAULT_CREDENTIAL_CACHE_TTL + Duration::from_millis(20);
    loop {
        let sent = started.elapsed();
        match worker_client
            .get_service_account(&server.account_id, &server.owner_id)
            .await
        {
            Err(error) if error.status().map(|s| s.as_u16()) == Some(403) => break,
            _ => assert!(
                sent < bound,
                "the removed capability still worked for a request sent {sent:?} after"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "removal effective after {} ms",
        started.elapsed().as_millis()
    );
    let again = json_stdout(
        &run(&[
            "grants",
            "remove",
            "--account",
            &account,
            "--service-account",
            &worker_id,
            "--capability",
            "auth.manage",
        ])
        .await,
    );
    assert_eq!(again["removed"], false, "nothing left to remove");
    // Audited, once.
    let audit = run(&["audit", "--account", &account]).await;
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
    assert_eq!(removals[0]["actor"]["type"], "operator");
    assert_eq!(removals[0]["details"]["capability"], "auth.manage");
    assert_eq!(removals[0]["target"]["type"], "authorization");
    assert!(events.iter().any(|e| e["action"] == "grant_add"));
    // accounts list shows the account.
    let accounts = run(&["accounts", "list"]).await;
    assert!(String::from_utf8_lossy(&accounts.stdout).contains(&account));
    // An unknown account is refused with a message that says what to do.
    let unknown = run(&["grants", "list", "--account", &Uuid::new_v4().to_string()]).await;
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("accounts create"));
}

on_both_stores!(grants_are_listed_and_removed_beside_a_running_server,);
