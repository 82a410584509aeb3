//! The server's life: a clean stop on SIGTERM that finishes running requests, and TLS (no plain HTTP beyond loopback unless asked for).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::process::{BIN, ServeProcess, hbx_sa, json_stdout};

/// SIGTERM: running requests finish, a client holding an undelivered
/// oversized body does not hold the stop up, pending last-use writes reach the
/// disk, and the process exits 0 within the deadline.
#[tokio::test]
async fn sigterm_finishes_running_requests_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir_arg = data_dir.display().to_string();
    let made = json_stdout(&hbx_sa(
        dir.path(),
        &[
            "bootstrap",
            "--account-name",
            "acme",
            "--data-dir",
            &data_dir_arg,
        ],
    ));
    let token = made["token"].as_str().unwrap().to_owned();
    let account = made["account_id"].as_str().unwrap().to_owned();
    let owner = made["service_account_id"].as_str().unwrap().to_owned();
    let mut server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir_arg,
            "--shutdown-timeout",
            "30s",
        ],
    );
    let address = server.address.clone();
    // A client that declares a body over the limit and never sends it: it is
    // answered 413 without waiting for the body (the defect was to drain it
    // with no deadline, which held the request, and so the shutdown, for
    // ever).
    let mut holder = TcpStream::connect(&address).unwrap();
    write!(
        holder,
        "POST /v1/public/accounts/{account}/auth/service-accounts HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n"
    )
    .unwrap();
    holder
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut refused = [0u8; 12];
    holder
        .read_exact(&mut refused)
        .expect("the oversized request is answered while its body never comes");
    assert_eq!(&refused, b"HTTP/1.1 413");
    // A request in flight: its body arrives in two halves, around the signal.
    let body = r#"{"name": "created while stopping"}"#;
    let mut slow = TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "POST /v1/public/accounts/{account}/auth/service-accounts HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    // A use of the token, whose last_used_at is written in the background.
    let used = reqwest::Client::new()
        .get(format!(
            "http://{address}/v1/public/accounts/{account}/auth/service-accounts/{owner}"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status().as_u16(), 200);
    // The create is in flight before the signal (the server has read its
    // headers and the first half of its body: the kernel holds no byte of
    // it), and the rest of its body arrives once the server says it is
    // stopping.
    crate::common::process::wait_until_read(
        address.parse().unwrap(),
        slow.local_addr().unwrap(),
        Duration::from_secs(10),
    );
    let stopping = Instant::now();
    server.signal("TERM");
    server.wait_for_log(&["shutting down"], Duration::from_secs(10));
    slow.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the in-flight create finished: {answer}"
    );
    let status = server.wait(Duration::from_secs(15));
    let took = stopping.elapsed();
    println!("stopped {} ms after SIGTERM", took.as_millis());
    assert!(status.success(), "exit status {status:?}: {}", server.log());
    // Nothing holds the stop until the 30 s deadline cuts it: it ends once
    // the in-flight create has. (That the pending last use is written by
    // the stop itself is pinned by last_used::*::stopping_writes_pending_uses.)
    assert!(
        took < Duration::from_secs(10),
        "well within the 30 s deadline: {took:?}"
    );
    drop(holder);
    // On disk: the last use, and the create, audited.
    let created: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("a body")).unwrap();
    let created_id = created["id"]
        .as_str()
        .expect("the new service account's id");
    let listed = Command::new(BIN)
        .args(["audit", "--account", &account, "--data-dir", &data_dir_arg])
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&listed.stdout);
    assert!(
        audit.lines().any(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["action"] == "create" && event["target"]["id"] == created_id
        }),
        "the create made while stopping is audited: {audit}"
    );
    let restarted = ServeProcess::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", &data_dir_arg],
    );
    let owner_now = restarted
        .client(&token)
        .get_service_account(&account.parse().unwrap(), &owner.parse().unwrap())
        .await
        .unwrap();
    assert!(
        owner_now.last_used_at.is_some(),
        "the pending last use was flushed"
    );
    let all = restarted
        .client(&token)
        .list_service_accounts(&account.parse().unwrap(), None, None, None)
        .await
        .unwrap();
    assert!(all.iter().any(|sa| sa.name == "created while stopping"));
}

/// A certificate authority and a certificate for 127.0.0.1 signed by it, as
/// PEM files in `dir`: (CA certificate PEM, certificate path, key path).
fn test_certificates(dir: &std::path::Path) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hbx-sa test authority");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.use_authority_key_identifier_extension = true;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (
        ca_cert.pem(),
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

#[tokio::test]
async fn tls_is_served_and_plain_http_beyond_loopback_is_refused() {
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
    let (ca, cert, key) = test_certificates(dir.path());
    let server = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
        ],
    );
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            )]
            .into_iter()
            .collect(),
        )
        .build()
        .unwrap();
    let client = hbx_service_accounts::client::Client::new_with_client(
        &format!("https://{}", server.address),
        http,
    );
    let me = match client.whoami().await {
        Ok(me) => me.into_inner(),
        Err(error) => panic!(
            "whoami over TLS: {}\n{}",
            hbx_service_accounts::report::chain(&error),
            server.log()
        ),
    };
    assert_eq!(me.account_id.unwrap().to_string(), made["account_id"]);
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP"
    );

    // Beyond loopback without TLS: refused, saying what to do.
    let output = hbx_sa(
        dir.path(),
        &["serve", "--bind", "0.0.0.0:0", "--data-dir", &data_dir],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-cert-file"), "{stderr}");
    assert!(stderr.contains("--allow-plain-http"), "{stderr}");
    // ...unless asked for, with a warning.
    let allowed = ServeProcess::start(
        dir.path(),
        &[
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
            &data_dir,
            "--allow-plain-http",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !allowed.log().contains("clear text") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(allowed.log().contains("clear text"), "{}", allowed.log());
}
