//! A plaintext token appears in the create response and nowhere else: not in
//! any file of the data directory (database, WAL, shared memory, key file, log),
//! not in error responses, whether the server is running or stopped.

use crate::common::{TestServer, contains_bytes, files_under, secret_of};
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
                &CreateServiceAccountRequest {
                    name: format!("sa {i}").parse().unwrap(),
                    expires_at: None,
                },
            )
            .await
            .unwrap()
            .into_inner();
        tokens.push(created.token.clone());
        // Use the new token, successfully authenticating (403: no grants).
        let _ = server
            .client(&created.token)
            .create_service_account(
                &server.account_id,
                &CreateServiceAccountRequest {
                    name: "x".parse().unwrap(),
                    expires_at: None,
                },
            )
            .await;
    }
    // Failed attempts with well-formed tokens must not be logged either.
    for _ in 0..5 {
        let stranger = token::generate(&TokenPrefix::default())
            .plaintext
            .into_exposed();
        let response = server
            .client(&stranger)
            .create_service_account(
                &server.account_id,
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
        tokens.push(stranger);
    }

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
