//! The Rust client on its own: `default-features = false, features =
//! ["client"]` has none of the server's dependencies, and its example
//! (`examples/client.rs`, built that way by `scripts/test-all` into
//! `target/client-only`) talks to a live server.

use std::path::PathBuf;
use std::process::Command;

use crate::common::TestServer;

/// The client-only example, built now (as `scripts/test-all` builds it,
/// in a target directory of its own), so that a binary left from older
/// sources can never be the one tested; or the one `HBX_SA_CLIENT_EXAMPLE`
/// names.
fn example_binary() -> PathBuf {
    if let Some(given) = std::env::var_os("HBX_SA_CLIENT_EXAMPLE") {
        return PathBuf::from(given);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--locked",
            "--offline",
            "--no-default-features",
            "--features",
            "client",
            "--example",
            "client",
            "--target-dir",
            "target/client-only",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the client-only example builds: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    root.join("target/client-only/debug/examples/client")
}

#[test]
fn the_client_alone_has_none_of_the_servers_dependencies() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "--no-default-features",
            "--features",
            "client",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for server_only in [
        "sqlx",
        "dropshot",
        "jsonwebtoken",
        "libsqlite3-sys",
        "moka",
        "clap",
    ] {
        assert!(
            !crates.contains(server_only),
            "{server_only} is in:\n{tree}"
        );
    }
    assert!(crates.contains("progenitor-client") && crates.contains("reqwest"));
    println!("the client alone: {} crates", crates.len());
}

#[tokio::test]
async fn the_client_alone_talks_to_a_live_server() {
    let binary = example_binary();
    assert!(
        binary.exists(),
        "{} is missing: scripts/test-all builds it (cargo build --locked \
         --no-default-features --features client --example client --target-dir \
         target/client-only)",
        binary.display()
    );
    let server = TestServer::start().await;
    let output = tokio::process::Command::new(&binary)
        .env_clear()
        .env("HBX_SA_URL", &server.base_url)
        .env("HBX_SA_TOKEN", &server.owner_token)
        .env("HBX_SA_ACCOUNT_ID", server.account_id.to_string())
        .env("HBX_SA_CREATE", "made by the client alone")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("whoami: ServiceAccount {}", server.owner_id)),
        "{stdout}"
    );
    assert!(stdout.contains("listed: 2 service accounts"), "{stdout}");
    assert!(stdout.contains("made by the client alone"), "{stdout}");
    assert!(!stdout.contains(&server.owner_token));
    assert_eq!(server.service_account_count().await, 2);
}
