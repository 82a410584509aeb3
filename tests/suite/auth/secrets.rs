//! A plaintext token appears in the create response and nowhere else: not in
//! any file of the data directory (database, WAL, shared memory, key file, log),
//! not in error responses, whether the server is running or stopped.

use crate::common::{Backend, TestServer, contains_bytes, files_under, secret_of};
use hbx_service_accounts::client::types::CreateServiceAccountRequest;
use hbx_service_accounts::token::{self, TokenPrefix};

/// The whole token and its secret part: neither may appear anywhere.
fn needles(token: &str) -> [Vec<u8>; 2] {
    [
        token.as_bytes().to_vec(),
        secret_of(token).as_bytes().to_vec(),
    ]
}

fn assert_no_file_contains(server: &TestServer, tokens: &[String], when: &str) {
    let files = files_under(server.data_dir());
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".sqlite3")), "{names:?}");
    assert!(
        names.iter().any(|n| n == crate::common::LOG_FILE),
        "{names:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for token in tokens {
            for needle in needles(token) {
                assert!(
                    !contains_bytes(&bytes, &needle),
                    "{when}: {} contains a plaintext token or secret",
                    file.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn no_file_in_the_data_directory_ever_holds_a_token() {
    let mut server = TestServer::start().await;
    let mut tokens = vec![server.owner_token.clone()];
    for i in 0..20 {
        let created = server
            .owner()
            .create_service_account(
                &server.account_id,
                None,
                &CreateServiceAccountRequest {
                    name: format!("sa {i}").parse().unwrap(),
                    expires_at: None,
                },
            )
            .await
            .unwrap()
            .into_inner();
        tokens.push(created.token.clone());
        // Use the new token: authenticated, then refused (403: no grants),
        // so the authenticated path (and its log lines) ran with it.
        crate::common::expect_error(
            server
                .client(&created.token)
                .create_service_account(
                    &server.account_id,
                    None,
                    &CreateServiceAccountRequest {
                        name: "x".parse().unwrap(),
                        expires_at: None,
                    },
                )
                .await,
            403,
            "forbidden",
        );
    }
    // Failed attempts with well-formed tokens must not be logged either.
    let mut last_request = String::new();
    for _ in 0..5 {
        let stranger = token::generate(&TokenPrefix::default())
            .plaintext
            .into_exposed();
        let response = server
            .client(&stranger)
            .create_service_account(
                &server.account_id,
                None,
                &CreateServiceAccountRequest {
                    name: "x".parse().unwrap(),
                    expires_at: None,
                },
            )
            .await;
        let error = format!("{response:?}");
        assert!(
            !error.contains(&stranger),
            "an error response echoed the token"
        );
        last_request = crate::common::expect_error(response, 401, "invalid_token")
            .request_id
            .clone();
        tokens.push(stranger);
    }

    // The log is written by a background thread: wait until it holds the
    // last request's line, so that every line before it is on disk too.
    let log = server.log_once_it_holds(&last_request).await;
    assert!(log.contains(&last_request), "the last request was logged");
    // While the server runs, the newest writes sit in the WAL.
    assert_no_file_contains(&server, &tokens, "while running");
    let log = std::fs::read_to_string(server.log_path()).unwrap();
    assert!(
        log.contains("service account created"),
        "the log is being written"
    );

    server.stop().await;
    // Closing the store checkpoints the WAL into the main database file.
    server.app.store().close().await;
    assert_no_file_contains(&server, &tokens, "after stopping");
}

/// After creates and rotations with idempotency keys, and their replays
/// (whose recorded answers hold the tokens), no file of the data directory
/// and no row of the database holds a token, a secret or an idempotency key
/// in plaintext: the store keeps a MAC of each key and the answers sealed.
async fn replays_leave_no_token_or_key_in_plaintext(backend: Backend) {
    use hbx_service_accounts::client::types::{
        CreateServiceAccountIdempotencyKey, RotateServiceAccountIdempotencyKey,
    };
    let mut server = TestServer::start_on(backend).await;
    let mut tokens = vec![server.owner_token.clone()];
    let mut keys = Vec::new();
    for i in 0..5 {
        let key = format!("retry-key-{i}-{}", uuid::Uuid::new_v4());
        let create_key = CreateServiceAccountIdempotencyKey::try_from(key.as_str()).unwrap();
        let request = CreateServiceAccountRequest {
            name: format!("retried {i}").parse().unwrap(),
            expires_at: None,
        };
        let mut created = None;
        for _ in 0..2 {
            let answer = server
                .owner()
                .create_service_account(&server.account_id, Some(&create_key), &request)
                .await
                .unwrap()
                .into_inner();
            created = Some(answer);
        }
        let created = created.unwrap();
        tokens.push(created.token.clone());
        let rotate_key = format!("rotate-key-{i}-{}", uuid::Uuid::new_v4());
        let typed = RotateServiceAccountIdempotencyKey::try_from(rotate_key.as_str()).unwrap();
        for _ in 0..2 {
            let rotated = server
                .owner()
                .rotate_service_account(&server.account_id, &created.id, Some(600), Some(&typed))
                .await
                .unwrap()
                .into_inner();
            tokens.push(rotated.token);
        }
        keys.push(key);
        keys.push(rotate_key);
    }
    let mut needles: Vec<Vec<u8>> = tokens.iter().flat_map(|t| needles(t)).collect();
    needles.extend(keys.iter().map(|k| k.as_bytes().to_vec()));
    let hex_needles: Vec<String> = needles.iter().map(hex::encode).collect();

    match server.database_url() {
        Some(url) => {
            let dump = crate::common::postgres::every_row(url).await;
            assert!(
                dump.contains(r#""operation":"rotate_service_account""#),
                "the idempotency records are in the dump"
            );
            for (needle, hex) in needles.iter().zip(&hex_needles) {
                assert!(
                    !contains_bytes(dump.as_bytes(), needle),
                    "a PostgreSQL row holds a token, secret or key in plaintext"
                );
                assert!(
                    !dump.contains(hex.as_str()),
                    "a PostgreSQL bytea holds a token, secret or key"
                );
            }
            // And the data directory (key file, log) too.
            for file in files_under(server.data_dir()) {
                let bytes = std::fs::read(&file).unwrap();
                for needle in &needles {
                    assert!(!contains_bytes(&bytes, needle), "{}", file.display());
                }
            }
        }
        None => {
            for when in ["while running", "after stopping"] {
                if when == "after stopping" {
                    server.stop().await;
                    server.app.store().close().await;
                }
                for file in files_under(server.data_dir()) {
                    let bytes = std::fs::read(&file).unwrap();
                    for needle in &needles {
                        assert!(
                            !contains_bytes(&bytes, needle),
                            "{when}: {} holds a token, secret or key in plaintext",
                            file.display()
                        );
                    }
                }
            }
        }
    }
}

on_both_stores!(replays_leave_no_token_or_key_in_plaintext);
