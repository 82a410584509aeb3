//! Health and readiness on the API's address; Prometheus metrics on an
//! address of their own (loopback by default), never on the API's.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::common::process::ServeProcess;
use crate::common::{Backend, TestServer};

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the first sample of `metric` whose labels contain every one
/// of `labels`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| line.starts_with(metric) && !line.starts_with('#'))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn health_readiness_and_metrics(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let http = server.raw();
    assert_eq!(
        get(&http, format!("{}/healthz", server.base_url)).await,
        (200, r#"{"status":"ok"}"#.to_owned())
    );
    assert_eq!(
        get(&http, format!("{}/readyz", server.base_url)).await.0,
        200
    );
    let owner = server.owner();
    for _ in 0..3 {
        owner
            .get_service_account(&server.account_id, &server.owner_id)
            .await
            .unwrap();
    }
    let _ = server
        .client("hbxsa_not-a-token")
        .get_service_account(&server.account_id, &server.owner_id)
        .await;
    // Answered before any operation ran: an unknown path, and a path
    // parameter that is not a UUID.
    assert_eq!(
        get(&http, format!("{}/no/such/path", server.base_url))
            .await
            .0,
        404
    );
    assert_eq!(
        get(
            &http,
            format!(
                "{}/v1/public/accounts/not-a-uuid/auth/service-accounts",
                server.base_url
            )
        )
        .await
        .0,
        400
    );
    let (status, metrics) = get(&http, server.metrics_url.clone()).await;
    assert_eq!(status, 200);
    for status in ["404", "400"] {
        assert_eq!(
            sample(
                &metrics,
                "hbx_sa_http_requests_total",
                &["operation=\"none\"", &format!("status=\"{status}\"")],
            ),
            Some(1.0),
            "{metrics}"
        );
    }
    let requests = |status: &str| {
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &[
                "operation=\"get_service_account\"",
                &format!("status=\"{status}\""),
            ],
        )
    };
    assert_eq!(requests("200"), Some(3.0), "{metrics}");
    assert_eq!(requests("401"), Some(1.0), "{metrics}");
    assert!(
        sample(
            &metrics,
            "hbx_sa_http_request_duration_seconds_count",
            &["operation=\"get_service_account\""]
        ) == Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_authentications_total",
            &["kind=\"service_account\"", "outcome=\"ok\""]
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_authentications_total",
            &[
                "kind=\"service_account\"",
                "outcome=\"invalid\"",
                "reason=\"malformed\""
            ]
        ),
        Some(1.0),
        "{metrics}"
    );
    // The active count is taken in the background (the first scrape asked
    // for it): it shows up on a later scrape.
    let metrics = scrape_until(&server, |m| {
        sample(m, "hbx_sa_active_service_accounts", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&metrics, "hbx_sa_store_up", &[]), Some(1.0));
    assert!(metrics.contains("hbx_sa_store_connections{"), "{metrics}");
    // The counters move with the requests; the active count only once a
    // minute has passed since it was last taken (by the injected clock).
    server.create("another").await;
    let (_, metrics) = get(&http, server.metrics_url.clone()).await;
    assert_eq!(
        sample(&metrics, "hbx_sa_active_service_accounts", &[]),
        Some(1.0),
        "not counted again within the minute"
    );
    server.clock.advance(chrono::TimeDelta::seconds(60));
    let metrics = scrape_until(&server, |m| {
        sample(m, "hbx_sa_active_service_accounts", &[]) == Some(2.0)
    })
    .await;
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &["operation=\"create_service_account\"", "status=\"201\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    // None of these is in the published document.
    let document = hbx_service_accounts::api::document::openapi_document();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(!document.contains(path), "{path} is not published");
    }
}

/// Scrapes until `holds` (a figure the scrapes themselves set going in the
/// background arrives), within 10 s.
async fn scrape_until(server: &TestServer, holds: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, metrics) = get(&server.raw(), server.metrics_url.clone()).await;
        assert_eq!(status, 200);
        if holds(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "not within 10 s: {metrics}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The second review: `/metrics` was served on the API's address, where its
/// per-reason authentication counters tell a stranger why a token was
/// refused (everyone else gets one `invalid_token`). Now it is not there at
/// all; and however often it is scraped, the active service accounts are
/// counted at most once a minute.
#[tokio::test]
async fn metrics_are_not_on_the_api_address_and_the_count_is_not_per_scrape() {
    let server = TestServer::start().await;
    let http = server.raw();
    let (status, body) = get(&http, format!("{}/metrics", server.base_url)).await;
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("hbx_sa_authentications_total"), "{body}");
    assert!(
        server.metrics_url.starts_with("http://127.0.0.1:"),
        "{}",
        server.metrics_url
    );
    let first = scrape_until(&server, |m| {
        sample(m, "hbx_sa_active_service_accounts", &[]) == Some(1.0)
    })
    .await;
    assert!(first.contains("hbx_sa_store_up"), "{first}");
    // Many scrapes in the minute: the count is not taken again (a new service
    // account does not show), however many scrapers there are.
    server.create("not counted yet").await;
    for _ in 0..20 {
        let (_, metrics) = get(&http, server.metrics_url.clone()).await;
        assert_eq!(
            sample(&metrics, "hbx_sa_active_service_accounts", &[]),
            Some(1.0)
        );
    }
    server.clock.advance(chrono::TimeDelta::seconds(59));
    let (_, metrics) = get(&http, server.metrics_url.clone()).await;
    assert_eq!(
        sample(&metrics, "hbx_sa_active_service_accounts", &[]),
        Some(1.0)
    );
    server.clock.advance(chrono::TimeDelta::seconds(1));
    scrape_until(&server, |m| {
        sample(m, "hbx_sa_active_service_accounts", &[]) == Some(2.0)
    })
    .await;
}

/// The command line serves the metrics on an address of their own
/// (`--metrics-bind`; loopback port 9464 unless told otherwise), never on
/// the API's.
#[tokio::test]
async fn metrics_have_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data").display().to_string();
    // Port 0: the system picks a free one, and the server says which.
    let server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--metrics-bind",
            "127.0.0.1:0",
        ],
    );
    let started = server.wait_for_log(
        &["serving the service-accounts API"],
        Duration::from_secs(10),
    );
    let started: serde_json::Value = serde_json::from_str(&started).unwrap();
    let metrics_bind = started["metrics"].as_str().unwrap().to_owned();
    assert_ne!(metrics_bind, server.address, "an address of their own");
    assert!(metrics_bind.starts_with("127.0.0.1:"), "{metrics_bind}");
    let http = reqwest::Client::new();
    let (status, _) = get(&http, format!("{}/metrics", server.url())).await;
    assert_eq!(status, 404, "not on the API's address");
    let (status, text) = get(&http, format!("http://{metrics_bind}/metrics")).await;
    assert_eq!(status, 200);
    assert!(text.contains("hbx_sa_store_up"), "{text}");
    // The 404 above was answered before any operation ran (there is none
    // for /metrics on the API); the scrape on the metrics address by its own.
    let (_, text) = get(&http, format!("http://{metrics_bind}/metrics")).await;
    let count = |labels: &[&str]| sample(&text, "hbx_sa_http_requests_total", labels);
    assert_eq!(
        count(&["operation=\"none\"", "status=\"404\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(&["operation=\"separate_metrics\"", "status=\"200\""]),
        Some(1.0),
        "{text}"
    );
    // And the default, documented for operators, is loopback.
    let shown = crate::common::process::hbx_sa(dir.path(), &["serve", "--check-config"]);
    let shown = crate::common::process::json_stdout(&shown);
    assert_eq!(
        shown["settings"]["metrics_bind"], "127.0.0.1:9464",
        "{shown}"
    );
}

/// The sum of every `hbx_sa_http_requests_total` sample whose labels contain
/// `label`.
fn total(metrics: &str, label: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("hbx_sa_http_requests_total{") && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every request is counted once, under the operation Dropshot ran for it
/// (`none` only for a request answered before any ran): the operational
/// endpoints included, and no operation's request counted again as `none`.
#[tokio::test]
async fn every_request_is_counted_once_under_its_operation() {
    let server = TestServer::start().await;
    let http = server.raw();
    let base = &server.base_url;
    for _ in 0..2 {
        assert_eq!(get(&http, format!("{base}/healthz")).await.0, 200);
    }
    assert_eq!(get(&http, format!("{base}/readyz")).await.0, 200);
    assert_eq!(get(&http, format!("{base}/openapi.json")).await.0, 200);
    assert_eq!(get(&http, format!("{base}/docs")).await.0, 200);
    let owner = server.owner();
    for _ in 0..3 {
        owner
            .get_service_account(&server.account_id, &server.owner_id)
            .await
            .unwrap();
    }
    assert_eq!(get(&http, format!("{base}/no/such/path")).await.0, 404);
    // Only now the first scrape: it sees every request above, and not itself.
    let (status, metrics) = get(&http, server.metrics_url.clone()).await;
    assert_eq!(status, 200);
    let count = |labels: &[&str]| sample(&metrics, "hbx_sa_http_requests_total", labels);
    for (operation, status, expected) in [
        ("healthz", "200", 2.0),
        ("readyz", "200", 1.0),
        ("openapi_json", "200", 1.0),
        ("docs", "200", 1.0),
        ("get_service_account", "200", 3.0),
        ("none", "404", 1.0),
    ] {
        let operation_label = format!("operation=\"{operation}\"");
        let status_label = format!("status=\"{status}\"");
        assert_eq!(
            count(&[&operation_label, &status_label]),
            Some(expected),
            "{operation} {status}: {metrics}"
        );
    }
    assert_eq!(
        total(&metrics, "operation=\"none\""),
        1.0,
        "only the unrouted path is `none`: {metrics}"
    );
    let every_request = total(&metrics, "operation=");
    assert_eq!(every_request, 9.0, "each request once: {metrics}");
    // The scrape itself is counted too, once.
    let (_, metrics) = get(&http, server.metrics_url.clone()).await;
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &["operation=\"separate_metrics\"", "status=\"200\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(total(&metrics, "operation=\"none\""), 1.0, "{metrics}");
}

/// A read whose client goes away before it is answered is still counted,
/// under its operation and 499 (and not under `none`): a slow dependency
/// (here an issuer whose keys never arrive) shows in the metrics. The
/// request is in its handler for certain: the issuer has taken the
/// server's connection for its keys when the client hangs up.
#[tokio::test]
async fn a_request_given_up_on_is_counted_as_499() {
    use hbx_service_accounts::auth::oauth::IssuerSettings;
    use hbx_service_accounts::auth::oauth::keys::JwksLocation;
    use std::io::Write as _;
    // An issuer that takes connections and never answers.
    let issuer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer_url = format!("http://{}", issuer.local_addr().unwrap());
    let settings = IssuerSettings {
        issuer: issuer_url.clone(),
        audiences: vec!["api".into()],
        keys: JwksLocation::JwksUrl(format!("{issuer_url}/jwks")),
    };
    let server = TestServer::start_with(move |s| s.oauth.issuers.push(settings)).await;
    let key = crate::common::issuer::TestKey::rsa("never-fetched");
    let token = key.sign(&serde_json::json!({
        "iss": issuer_url, "aud": "api", "sub": Uuid::new_v4().to_string(),
        "exp": server.now().timestamp() + 600,
    }));
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let hung_up = tokio::task::spawn_blocking(move || {
        let mut client = std::net::TcpStream::connect(address).unwrap();
        write!(
            client,
            "GET /v1/public/auth/whoami HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        client.flush().unwrap();
        // The server is fetching the issuer's keys: the request is in its
        // handler, waiting. Now the client gives up.
        let (fetch, _) = issuer.accept().unwrap();
        client.shutdown(std::net::Shutdown::Both).unwrap();
        fetch
    });
    let _fetch = hung_up.await.unwrap();
    let http = server.raw();
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (_, metrics) = get(&http, server.metrics_url.clone()).await;
        let counted = sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &["operation=\"whoami\"", "status=\"499\""],
        );
        if counted.is_some() || Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        sample(
            &metrics,
            "hbx_sa_http_requests_total",
            &["operation=\"whoami\"", "status=\"499\""]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(total(&metrics, "operation=\"none\""), 0.0, "{metrics}");
}

on_both_stores!(health_readiness_and_metrics,);
