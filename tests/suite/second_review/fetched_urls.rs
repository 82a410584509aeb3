//! Informational: credentials inside configured URLs (JWKS, partner key
//! lists) were printed by `--check-config` and logged on a failed fetch,
//! which an anonymous POST can trigger; and the key fetchers followed
//! redirects to any host or scheme. Now those URLs are shown with their user
//! part and query values redacted, and no redirect is followed.

use std::sync::Arc;

use serde_json::json;

use crate::common::TestServer;
use crate::common::json_server::JsonServer;
use crate::common::process::{hbx_sa, json_stdout};
use crate::common::sender::TestSender;

const SECRETS: [&str; 4] = ["s3cr3t", "k3y", "pw0rd", "t0k3n"];

#[test]
fn check_config_hides_credentials_in_key_urls() {
    let dir = tempfile::tempdir().unwrap();
    let output = hbx_sa(
        dir.path(),
        &[
            "serve",
            "--check-config",
            "--oauth-issuer",
            "https://sso.example/realms/hybridbox",
            "--oauth-audience",
            "api",
            "--oauth-jwks-url",
            "https://bot:s3cr3t@sso.example/jwks?api_key=k3y",
            "--secret-scanning-github-keys-url",
            "https://scanner:pw0rd@keys.example/list?token=t0k3n",
        ],
    );
    let shown = json_stdout(&output);
    let text = shown.to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert_eq!(
        shown["settings"]["oauth_jwks_url"],
        "https://REDACTED:REDACTED@sso.example/jwks?api_key=REDACTED"
    );
    assert_eq!(
        shown["settings"]["secret_scanning_github_keys_url"],
        "https://REDACTED:REDACTED@keys.example/list?token=REDACTED"
    );
}

/// An anonymous report makes the server fetch a partner's keys; the fetch
/// fails, and neither the answer nor the log shows the URL's secrets.
#[tokio::test]
async fn a_failed_key_fetch_logs_no_credentials() {
    let keys = JsonServer::start(Arc::new(|_| ("500 Internal Server Error", json!({})))).await;
    let url = format!("http://scanner:s3cr3t@{}/keys?token=t0k3n", keys.address);
    let server = TestServer::start_with(move |settings| {
        settings.secret_scanning.github_keys_url = Some(url);
    })
    .await;
    // Signed well (by a partner stand-in whose keys are not at that URL), so
    // that checking it needs the keys.
    let signer = TestSender::start().await;
    let (status, body) = signer.send_report(&server.base_url, b"[]".to_vec()).await;
    assert_eq!(status, 503);
    let log = server.log_once_it_holds("/keys?token=REDACTED").await;
    assert!(
        log.contains("REDACTED"),
        "the failed fetch is logged: {log}"
    );
    for secret in SECRETS {
        assert!(
            !body.contains(secret) && !log.contains(secret),
            "{secret} shown"
        );
    }
}

/// A key list that redirects elsewhere (here to a real list of the
/// partner's keys, on another port) is not followed: the keys cannot be
/// had, so the report cannot be checked (503), and the other place is
/// never asked.
#[tokio::test]
async fn key_fetches_follow_no_redirect() {
    let sender = TestSender::start().await;
    let elsewhere = sender.keys_url();
    let redirecting =
        JsonServer::start(Arc::new(move |_| ("302 Found", json!(elsewhere.clone())))).await;
    let url = redirecting.url("/keys");
    let server = TestServer::start_with(move |settings| {
        settings.secret_scanning.github_keys_url = Some(url);
    })
    .await;
    let (status, _) = sender.send_report(&server.base_url, b"[]".to_vec()).await;
    assert_eq!(status, 503);
    assert_eq!(sender.fetches(), 0, "the redirect was followed");
}
