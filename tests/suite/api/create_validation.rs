//! Malformed, oversized, hostile and boundary input to the create endpoint, sent
//! as raw HTTP because the generated client refuses to build most of it. Every
//! bad request gets 400 `invalid_request` (or 413 `payload_too_large`) with a
//! message naming what to fix, and creates nothing.

use crate::common::{Backend, TestServer};
use hbx_service_accounts::api::REQUEST_BODY_MAX_BYTES;
use serde_json::{Value, json};

struct Outcome {
    status: u16,
    body: Value,
}

async fn post(
    server: &TestServer,
    body: impl Into<reqwest::Body>,
    content_type: Option<&str>,
) -> Outcome {
    let mut request = server
        .raw()
        .post(server.create_url(server.account_id))
        .bearer_auth(&server.owner_token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Outcome { status, body }
}

async fn post_json(server: &TestServer, body: &str) -> Outcome {
    post(server, body.to_owned(), Some("application/json")).await
}

fn assert_invalid(outcome: &Outcome, mentions: &str, case: &str) {
    assert_eq!(outcome.status, 400, "{case}: {}", outcome.body);
    assert_eq!(outcome.body["error_code"], "invalid_request", "{case}");
    let message = outcome.body["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "{case}: {message:?} should mention {mentions:?}"
    );
}

async fn every_bad_body_is_400_naming_the_field_and_creates_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let long_name = "x".repeat(121);
    let cases: Vec<(&str, String, &str)> = vec![
        ("missing name", r#"{}"#.into(), "name"),
        ("empty name", r#"{"name": ""}"#.into(), "name"),
        ("whitespace-only name", r#"{"name": " \t "}"#.into(), "name"),
        (
            "121 characters",
            json!({ "name": long_name }).to_string(),
            "name",
        ),
        (
            "121 multi-byte characters",
            json!({ "name": "é".repeat(121) }).to_string(),
            "name",
        ),
        ("NUL", r#"{"name": "a\u0000b"}"#.into(), "name"),
        ("newline", r#"{"name": "a\nb"}"#.into(), "name"),
        ("escape", r#"{"name": "\u001b[31mred"}"#.into(), "name"),
        (
            "right-to-left override",
            r#"{"name": "abc\u202Etxt.exe"}"#.into(),
            "name",
        ),
        ("number for name", r#"{"name": 5}"#.into(), "name"),
        ("null name", r#"{"name": null}"#.into(), "name"),
        ("array for name", r#"{"name": ["a"]}"#.into(), "name"),
        (
            "typo of expires_at",
            r#"{"name": "a", "expiresAt": "2999-01-01T00:00:00Z"}"#.into(),
            "expiresAt",
        ),
        (
            "unknown field",
            r#"{"name": "a", "admin": true}"#.into(),
            "admin",
        ),
        (
            "expires_at not a date",
            r#"{"name": "a", "expires_at": "tomorrow"}"#.into(),
            "expires_at",
        ),
        (
            "expires_at a number",
            r#"{"name": "a", "expires_at": 4102444800}"#.into(),
            "expires_at",
        ),
        (
            "expires_at without offset",
            r#"{"name": "a", "expires_at": "2999-01-01T00:00:00"}"#.into(),
            "expires_at",
        ),
        (
            "expires_at in the past",
            r#"{"name": "a", "expires_at": "2001-01-01T00:00:00Z"}"#.into(),
            "expires_at",
        ),
        (
            "expires_at impossible date",
            r#"{"name": "a", "expires_at": "2999-02-30T00:00:00Z"}"#.into(),
            "expires_at",
        ),
        (
            "duplicate key",
            r#"{"name": "a", "name": "b"}"#.into(),
            "name",
        ),
        (
            "malformed JSON",
            r#"{"name": "a""#.into(),
            "invalid request body",
        ),
        (
            "trailing garbage",
            r#"{"name": "a"} {"#.into(),
            "invalid request body",
        ),
        ("empty body", "".into(), "invalid request body"),
        ("JSON null", "null".into(), "invalid request body"),
        (
            "JSON array",
            r#"[{"name": "a"}]"#.into(),
            "invalid request body",
        ),
        ("JSON string", r#""a""#.into(), "invalid request body"),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(3000), "]".repeat(3000)),
            "invalid request body",
        ),
        (
            "nested in name",
            format!(r#"{{"name": {}1{}}}"#, "[".repeat(3000), "]".repeat(3000)),
            "name",
        ),
    ];
    for (case, body, mentions) in &cases {
        assert_invalid(&post_json(&server, body).await, mentions, case);
    }

    // Bytes that are not UTF-8.
    let outcome = post(
        &server,
        b"{\"name\": \"\xff\xfe\"}".to_vec(),
        Some("application/json"),
    )
    .await;
    assert_invalid(&outcome, "invalid request body", "invalid UTF-8");

    // Not JSON at all, as curl -d sends by default.
    let outcome = post(&server, "name=a", Some("application/x-www-form-urlencoded")).await;
    assert_invalid(&outcome, "Content-Type: application/json", "form body");

    assert_eq!(
        server.service_account_count().await,
        1,
        "nothing was created"
    );
}

async fn boundary_values_that_are_valid_are_accepted(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    for name in [
        "x".repeat(120),
        "🦀".repeat(120),
        "é".repeat(120),
        "a".into(),
        "名前".into(),
    ] {
        let outcome = post_json(&server, &json!({ "name": name }).to_string()).await;
        assert_eq!(outcome.status, 201, "{name:?}: {}", outcome.body);
        assert_eq!(
            outcome.body["name"],
            name.as_str(),
            "stored exactly as sent"
        );
    }
    // JSON escapes count as the characters they stand for.
    let escaped = format!(r#"{{"name": "{}"}}"#, "\\u00e8".repeat(120));
    assert_eq!(post_json(&server, &escaped).await.status, 201);
    // No Content-Type is taken as JSON; a charset parameter is fine.
    assert_eq!(
        post(&server, r#"{"name": "untyped"}"#, None).await.status,
        201
    );
    let charset = post(
        &server,
        r#"{"name": "charset"}"#,
        Some("Application/JSON; charset=utf-8"),
    )
    .await;
    assert_eq!(charset.status, 201);
}

async fn expires_at_offsets_are_normalized_to_utc(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let outcome = post_json(
        &server,
        r#"{"name": "offset", "expires_at": "2999-07-01T12:30:00.5+02:00"}"#,
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.body);
    assert_eq!(outcome.body["expires_at"], "2999-07-01T10:30:00.500Z");

    // Sub-microsecond digits are truncated, as the stores keep microseconds.
    let outcome = post_json(
        &server,
        r#"{"name": "nanos", "expires_at": "2999-07-01T10:30:00.123456789-05:30"}"#,
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.body);
    assert_eq!(outcome.body["expires_at"], "2999-07-01T16:00:00.123456Z");
}

async fn oversized_bodies_are_413(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // Exactly at the limit (padded with white space) is accepted...
    let valid = r#"{"name": "at the limit"}"#;
    let at_limit = format!(
        "{valid}{}",
        " ".repeat(REQUEST_BODY_MAX_BYTES - valid.len())
    );
    assert_eq!(at_limit.len(), REQUEST_BODY_MAX_BYTES);
    assert_eq!(post_json(&server, &at_limit).await.status, 201);
    // ...one byte more is not, and neither is a megabyte.
    for size in [REQUEST_BODY_MAX_BYTES + 1, 1 << 20] {
        let body = format!("{valid}{}", " ".repeat(size - valid.len()));
        let outcome = post_json(&server, &body).await;
        assert_eq!(outcome.status, 413, "{size} bytes");
        assert_eq!(outcome.body["error_code"], "payload_too_large");
        assert!(
            outcome.body["message"]
                .as_str()
                .unwrap()
                .contains(&REQUEST_BODY_MAX_BYTES.to_string())
        );
    }
    // A chunked body (no Content-Length) is measured as it arrives.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 1024])).collect();
    let outcome = post(
        &server,
        reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
        Some("application/json"),
    )
    .await;
    assert_eq!(outcome.status, 413);
    assert_eq!(server.service_account_count().await, 2);
}

async fn a_malformed_account_id_is_400(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let response = server
        .raw()
        .post(server.create_url("not-a-uuid"))
        .bearer_auth(&server.owner_token)
        .json(&json!({ "name": "a" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("account_id"),
        "{body}"
    );
}

async fn bodies_are_not_looked_at_before_authentication_and_authorization(backend: Backend) {
    // A stranger learns nothing from validation messages.
    let server = TestServer::start_on(backend).await;
    let response = server
        .raw()
        .post(server.create_url(server.account_id))
        .body("{ not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let other = uuid::Uuid::new_v4();
    let response = server
        .raw()
        .post(server.create_url(other))
        .bearer_auth(&server.owner_token)
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

async fn a_body_that_never_arrives_is_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start_on(backend).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let path = format!(
        "/v1/public/accounts/{}/auth/service-accounts",
        server.account_id
    );
    // Promise 100 bytes, send 10, then nothing.
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\": \"",
        server.owner_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains("\r\n\r\n{") {
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(60), stream.read(&mut buffer))
                .await
                .expect("the server answers within a minute")
                .unwrap();
        if read == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..read]);
    }
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("request_timeout"), "{response}");
    assert!(started.elapsed() >= hbx_service_accounts::api::extract::BODY_READ_TIMEOUT / 2);
    assert_eq!(server.service_account_count().await, 1);
}

on_both_stores!(
    a_body_that_never_arrives_is_408,
    every_bad_body_is_400_naming_the_field_and_creates_nothing,
    boundary_values_that_are_valid_are_accepted,
    expires_at_offsets_are_normalized_to_utc,
    oversized_bodies_are_413,
    a_malformed_account_id_is_400,
    bodies_are_not_looked_at_before_authentication_and_authorization,
);
