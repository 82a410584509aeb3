//! One request line per request, with what an operator needs and no credential.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::after_prefix;
use crate::common::process::{ServeProcess, hbx_sa, json_stdout};

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
