//! Crash safety: concurrent creates, rotations and revocations against a
//! server process, SIGKILL in the middle of the load, a restart on the same
//! data. Every request that got a 2xx is there; every token a 2xx issued works
//! unless a later 2xx replaced or revoked it; nothing is half-written.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbx_service_accounts::client::Client;
use uuid::Uuid;

use crate::common::postgres::TestDatabase;
use crate::common::process::{ServeProcess, hbx_sa, json_stdout};
use crate::common::{Backend, create_request};

/// What the clients were told about one service account.
#[derive(Debug, Default)]
struct Known {
    /// Tokens a 2xx handed out, oldest first.
    tokens: Vec<String>,
    /// A 2xx said it is revoked.
    revoked: bool,
    /// A request about it got no answer (the server died mid-request): it
    /// may or may not have happened.
    uncertain: bool,
}

#[derive(Default)]
struct Model {
    accounts: HashMap<Uuid, Known>,
    acknowledged: usize,
    unanswered: usize,
}

/// How `hbx-sa` reaches the storage of one backend.
struct Storage {
    flags: Vec<String>,
    _database: Option<TestDatabase>,
}

async fn storage(backend: Backend, dir: &Path) -> Storage {
    let data_dir = dir.join("data").display().to_string();
    match backend {
        Backend::Sqlite => Storage {
            flags: vec!["--data-dir".into(), data_dir],
            _database: None,
        },
        Backend::PgBouncer => unreachable!("crash safety runs on SQLite and PostgreSQL"),
        Backend::Postgres => {
            let database = TestDatabase::create().await;
            let key_file = dir.join("keys").display().to_string();
            json_stdout(&hbx_sa(dir, &["keys", "create", "--file", &key_file]));
            Storage {
                flags: vec![
                    "--data-dir".into(),
                    data_dir,
                    "--database-url".into(),
                    database.url.clone(),
                    "--token-key-file".into(),
                    key_file,
                ],
                _database: Some(database),
            }
        }
    }
}

/// One worker: creates, rotates and revokes its own service accounts until
/// the server stops answering.
async fn work(client: Client, account_id: Uuid, worker: usize, model: Arc<Mutex<Model>>) {
    let mut mine: Vec<Uuid> = Vec::new();
    for step in 0.. {
        let choice = step % 4;
        if choice == 0 || mine.is_empty() {
            let name = format!("w{worker}-{step}");
            match client
                .create_service_account(&account_id, None, &create_request(&name))
                .await
            {
                Ok(created) => {
                    let created = created.into_inner();
                    let mut model = model.lock().unwrap();
                    model.acknowledged += 1;
                    model
                        .accounts
                        .entry(created.id)
                        .or_default()
                        .tokens
                        .push(created.token);
                    mine.push(created.id);
                }
                Err(_) => {
                    // A create with no answer is unknowable by id; count it.
                    model.lock().unwrap().unanswered += 1;
                    return;
                }
            }
        } else {
            let target = mine[step % mine.len()];
            let revoke = choice == 3;
            let result = if revoke {
                client
                    .revoke_service_account(&account_id, &target)
                    .await
                    .map(|_| None)
            } else {
                client
                    .rotate_service_account(&account_id, &target, None, None)
                    .await
                    .map(|rotated| Some(rotated.into_inner().token))
            };
            let mut model = model.lock().unwrap();
            match result {
                Ok(token) => {
                    model.acknowledged += 1;
                    let known = model.accounts.entry(target).or_default();
                    match token {
                        Some(token) => known.tokens.push(token),
                        None => known.revoked = true,
                    }
                    if revoke {
                        mine.retain(|id| *id != target);
                    }
                }
                // A refusal (4xx) changed nothing.
                Err(error) if error.status().is_some_and(|s| s.is_client_error()) => {}
                // No answer, or a 503 that may have come after the commit:
                // it may or may not have happened.
                Err(_) => {
                    model.unanswered += 1;
                    model.accounts.entry(target).or_default().uncertain = true;
                    mine.retain(|id| *id != target);
                    if mine.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}

async fn killed_mid_load_loses_nothing_acknowledged(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(backend, dir.path()).await;
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| a.to_string())
            .chain(storage.flags.iter().cloned())
            .collect()
    };
    let bootstrap = with(&["bootstrap", "--account-name", "acme"]);
    let bootstrap: Vec<&str> = bootstrap.iter().map(String::as_str).collect();
    let made = json_stdout(&hbx_sa(dir.path(), &bootstrap));
    let account_id: Uuid = made["account_id"].as_str().unwrap().parse().unwrap();
    let owner_token = made["token"].as_str().unwrap().to_owned();
    let owner_id: Uuid = made["service_account_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let serve = with(&["--bind", "127.0.0.1:0"]);
    let serve: Vec<&str> = serve.iter().map(String::as_str).collect();

    let server = ServeProcess::start(dir.path(), &serve);
    let model: Arc<Mutex<Model>> = Arc::default();
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            tokio::spawn(work(
                server.client(&owner_token),
                account_id,
                worker,
                model.clone(),
            ))
        })
        .collect();
    // Let the load build up to 150 acknowledged changes, then kill the
    // server with no warning. (The deadline only keeps a stuck run from
    // hanging the suite; no timing is asserted.)
    let deadline = Instant::now() + Duration::from_secs(300);
    while model.lock().unwrap().acknowledged < 150 {
        assert!(
            Instant::now() < deadline,
            "the load never reached 150 changes: {:?}",
            model.lock().unwrap().acknowledged
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal("KILL");
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
    drop(server);
    let model = std::mem::take(&mut *model.lock().unwrap());
    println!(
        "killed after {} acknowledged changes ({} requests unanswered), {} service accounts",
        model.acknowledged,
        model.unanswered,
        model.accounts.len()
    );
    assert!(model.acknowledged >= 150, "the load ran before the kill");

    // Restart on the same data.
    let server = ServeProcess::start(dir.path(), &serve);
    let owner = server.client(&owner_token);
    // Every row reads back whole (a half-written one would fail to decode).
    let stored = owner
        .list_service_accounts(&account_id, None, Some(true), None)
        .await
        .expect("every row reads back")
        .into_inner();
    let stored: HashMap<Uuid, _> = stored.into_iter().map(|sa| (sa.id, sa)).collect();
    let works = async |token: &str| match server
        .client(token)
        .get_service_account(&account_id, &owner_id)
        .await
    {
        Ok(_) => true,
        Err(error) => match error.status().map(|s| s.as_u16()) {
            Some(403) => true,
            Some(401) => false,
            other => panic!("unexpected answer {other:?}"),
        },
    };
    let mut checked_tokens = 0;
    for (id, known) in &model.accounts {
        let sa = stored
            .get(id)
            .unwrap_or_else(|| panic!("{id} was acknowledged and is gone"));
        if known.revoked {
            assert!(
                sa.revoked_at.is_some(),
                "{id}: acknowledged revocation lost"
            );
        }
        let (current, older) = known.tokens.split_last().expect("created with a token");
        for old in older {
            assert!(!works(old).await, "{id}: a replaced token still works");
            checked_tokens += 1;
        }
        if known.uncertain {
            // The last request may have happened or not; only what no later
            // request could undo is certain.
            continue;
        }
        assert_eq!(
            works(current).await,
            !known.revoked,
            "{id}: the last acknowledged token (revoked: {})",
            known.revoked
        );
        assert_eq!(sa.token_last4, current[current.len() - 4..]);
        checked_tokens += 1;
    }
    println!(
        "checked {checked_tokens} tokens of {} service accounts",
        model.accounts.len()
    );
    // The owner was not touched, and still works.
    assert!(works(&owner_token).await);
}

on_both_stores!(killed_mid_load_loses_nothing_acknowledged);
