//! Low: tokens reached logs and error bodies through echoed values: a
//! string instead of a list (`{"credentials": "hbxsa_…"}`) was repeated in
//! the 400 and its log line, and a token used as a path segment was logged
//! in the request line. Now decode errors name the field and the expected
//! type, never the value; path errors do not repeat the value; and anything
//! shaped like a token in a logged path is redacted.

use serde_json::{Value, json};

use crate::common::{TestServer, secret_of};

/// Sends `body` to `path` (with the owner's token) and returns the status
/// and the error body.
async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .raw()
        .request(method, format!("{}{path}", server.base_url))
        .bearer_auth(&server.owner_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn values_sent_in_the_wrong_place_are_never_echoed() {
    let server = TestServer::start().await;
    let leaked = server.create("leaked into a request").await;
    let secret = secret_of(&leaked.token).to_owned();
    let create = format!(
        "/v1/public/accounts/{}/auth/service-accounts",
        server.account_id
    );
    let cases = [
        // A string where a list is expected.
        (
            reqwest::Method::POST,
            "/v1/public/credentials/revoke".to_owned(),
            Some(json!({ "credentials": leaked.token })),
            "credentials",
        ),
        // A string where a string is fine, but in the wrong type elsewhere.
        (
            reqwest::Method::POST,
            create.clone(),
            Some(json!({ "name": "x", "expires_at": leaked.token })),
            "expires_at",
        ),
        // A token as the name of an unknown field.
        (
            reqwest::Method::POST,
            create.clone(),
            Some(json!({ "name": "x", leaked.token.clone(): true })),
            "unknown field",
        ),
        // A token as a path segment.
        (
            reqwest::Method::GET,
            format!("/v1/public/accounts/{}/auth/service-accounts", leaked.token),
            None,
            "account_id",
        ),
        (
            reqwest::Method::GET,
            format!(
                "/v1/public/accounts/{}/auth/service-accounts/{}",
                server.account_id, leaked.token
            ),
            None,
            "service_account_id",
        ),
        // A token as a query value.
        (
            reqwest::Method::GET,
            format!("{create}?limit={}", leaked.token),
            None,
            "limit",
        ),
    ];
    let mut request_ids = Vec::new();
    for (method, path, body, names) in cases {
        let (status, error) = send(&server, method, &path, body).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert_eq!(error["error_code"], "invalid_request");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(names),
            "{path}: the message names the field: {message}"
        );
        assert!(!message.contains(&secret), "{path}: echoed: {message}");
        request_ids.push(error["request_id"].as_str().unwrap().to_owned());
    }
    // A short, readable unknown field name is still named (the message says
    // what to fix), and the expected fields with it.
    let (_, error) = send(
        &server,
        reqwest::Method::POST,
        &create,
        Some(json!({ "name": "x", "admin": true })),
    )
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`admin`") && message.contains("expires_at"),
        "{message}"
    );
    // The log: every one of those requests is in it, and the token nowhere.
    let log = server.log_once_it_holds(request_ids.last().unwrap()).await;
    for id in &request_ids {
        assert!(log.contains(id.as_str()), "request {id} is logged");
    }
    assert!(!log.contains(&secret), "the token reached the log");
    assert!(
        log.contains("<redacted token>"),
        "the path's token is marked as redacted"
    );
}
