//! Webhook retries against the `hbx-sa serve` process (its real clock), the
//! schedule sped up by `--webhook-retry-speedup`: failures retried on the
//! schedule, a 429's `Retry-After` honoured, a 410 disabling the
//! subscription, three (sped-up) days of failures disabling it too, and the
//! account's other subscriptions told (`webhook.disabled`) each time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::Backend;
use crate::common::process::{Deployment, ServeProcess};
use crate::common::receiver::{Receiver, Reply};

async fn post(server: &ServeProcess, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &ServeProcess, token: &str, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

/// Subscribes `receiver` to `event_types`: the subscription's id.
async fn subscribe(
    server: &ServeProcess,
    token: &str,
    hooks: &str,
    receiver: &Receiver,
    event_types: &[&str],
) -> String {
    let body = json!({"url": receiver.url("/r"), "event_types": event_types});
    let (status, made) = post(server, token, hooks, Some(body)).await;
    assert_eq!(status, 201, "{made}");
    receiver.trust(made["secret"].as_str().unwrap());
    made["id"].as_str().unwrap().to_owned()
}

fn serve(deployment: &Deployment, speedup: &str) -> ServeProcess {
    let server = deployment.serve(&[
        "--webhook-allow-loopback-http",
        "--webhook-retry-speedup",
        speedup,
        "--webhook-poll-interval-ms",
        "10",
    ]);
    server.wait_for_log(
        &["serving the service-accounts API"],
        Duration::from_secs(30),
    );
    server
}

#[tokio::test]
async fn retries_follow_the_schedule_honour_retry_after_and_stop_at_410() {
    let deployment = Deployment::new(Backend::Sqlite).await;
    let made = deployment.bootstrap("acme");
    let server = serve(&deployment, "1000");
    let log = server.log();
    assert!(
        log.contains("--webhook-retry-speedup"),
        "the test setting is warned of"
    );
    assert!(log.contains("--webhook-allow-loopback-http"));
    let script = Arc::new(|n: usize, _: &_| match n {
        0 | 1 => Reply::status(500),
        2 => Reply::status(429).with_header("Retry-After", "4"),
        3 => Reply::status(200),
        _ => Reply::status(410),
    });
    let flaky = Receiver::scripted(script, Duration::ZERO).await;
    let other = Receiver::start().await;
    let hooks = format!("/v1/public/accounts/{}/webhooks", made.account_id);
    let token = &made.owner_token;
    let flaky_id = subscribe(
        &server,
        token,
        &hooks,
        &flaky,
        &["webhook.*", "service_account.*"],
    )
    .await;
    subscribe(&server, token, &hooks, &other, &["webhook.disabled"]).await;
    let (status, _) = post(&server, token, &format!("{hooks}/{flaky_id}/ping"), None).await;
    assert_eq!(status, 202);
    let attempts = flaky
        .wait_for(Duration::from_secs(30), "four attempts", |d| d.len() >= 4)
        .await;
    assert!(attempts.iter().all(|d| d.verified));
    assert!(
        attempts
            .windows(2)
            .all(|w| w[0].message_id == w[1].message_id)
    );
    let gap = |i: usize| attempts[i].received_at - attempts[i - 1].received_at;
    // 5 s and 5 min, a thousand times faster (±20 %); then the 429's 4 s,
    // longer than the schedule's 30 min / 1000 (at most 2.16 s).
    assert!(gap(1) < Duration::from_secs(1), "{:?}", gap(1));
    assert!(
        gap(2) >= Duration::from_millis(200) && gap(2) < Duration::from_secs(2),
        "{:?}",
        gap(2)
    );
    assert!(
        gap(3) >= Duration::from_millis(3900),
        "Retry-After: {:?}",
        gap(3)
    );
    // The next event meets a 410: the subscription is disabled, and the
    // other one is told.
    let (status, _) = post(
        &server,
        token,
        &format!(
            "/v1/public/accounts/{}/auth/service-accounts",
            made.account_id
        ),
        Some(json!({"name": "after"})),
    )
    .await;
    assert_eq!(status, 201);
    let told = other.wait_for_type("webhook.disabled").await;
    assert!(told.verified);
    assert_eq!(told.body["data"]["webhook_id"], flaky_id.as_str());
    assert_eq!(told.body["data"]["disabled_reason"], "gone");
    let read = get(&server, token, &format!("{hooks}/{flaky_id}")).await;
    assert_eq!(
        (read["enabled"].clone(), read["disabled_reason"].clone()),
        (json!(false), json!("gone"))
    );
    let deliveries = get(&server, token, &format!("{hooks}/{flaky_id}/deliveries")).await;
    let statuses: Vec<Value> = deliveries
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["response_status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!(410), json!(200), json!(429), json!(500), json!(500)]
    );
    assert_eq!(flaky.deliveries().len(), 5, "nothing after the 410");
}

#[tokio::test]
async fn three_days_of_failures_disable_the_subscription_and_tell_the_others() {
    let deployment = Deployment::new(Backend::Sqlite).await;
    let made = deployment.bootstrap("acme");
    // Three days in about 2.6 seconds.
    let server = serve(&deployment, "100000");
    let failing = Receiver::scripted(Arc::new(|_, _| Reply::status(503)), Duration::ZERO).await;
    let other = Receiver::start().await;
    let hooks = format!("/v1/public/accounts/{}/webhooks", made.account_id);
    let token = &made.owner_token;
    let failing_id = subscribe(&server, token, &hooks, &failing, &["webhook.*"]).await;
    subscribe(&server, token, &hooks, &other, &["webhook.*"]).await;
    post(&server, token, &format!("{hooks}/{failing_id}/ping"), None).await;
    let told = other.wait_for_type("webhook.disabled").await;
    assert_eq!(told.body["data"]["disabled_reason"], "failing");
    let attempts = failing.deliveries();
    assert!(
        attempts.len() >= 5,
        "retried on the schedule: {}",
        attempts.len()
    );
    let span = attempts.last().unwrap().received_at - attempts[0].received_at;
    assert!(
        span < Duration::from_secs(4),
        "within the sped-up 3 days: {span:?}"
    );
    let read = get(&server, token, &format!("{hooks}/{failing_id}")).await;
    assert_eq!(read["disabled_reason"], "failing");
}
