//! The checked-in document, checked with the tools its readers use: two linters,
//! clients generated in TypeScript and Python driving a live server, and a
//! breaking-change diff against the last released document.
//!
//! The tools are pinned in contract/ and installed by `contract/setup`, which
//! the README's test command runs first. Without them these tests fail and say
//! so; they never skip.

use std::path::{Path, PathBuf};

use crate::common::TestServer;
use tokio::process::Command;

const DOCUMENT: &str = "openapi/hbx-service-accounts.json";
const RELEASED: &str = "openapi/released/hbx-service-accounts.json";

fn contract_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contract")
}

/// A pinned tool, or a failure that says how to install it.
fn tool(relative: &str) -> PathBuf {
    let path = contract_dir().join(relative);
    assert!(
        path.exists(),
        "{} is not installed: run `contract/setup` (the README's test command does)",
        path.display()
    );
    path
}

fn npm_tool(name: &str) -> PathBuf {
    tool(&format!("node_modules/.bin/{name}"))
}

fn python_tool(name: &str) -> PathBuf {
    tool(&format!(".venv/bin/{name}"))
}

struct Run {
    success: bool,
    code: Option<i32>,
    output: String,
}

async fn run(command: &mut Command) -> Run {
    let output = command
        .env("REDOCLY_TELEMETRY", "off")
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("the tool starts");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

#[tokio::test]
async fn redocly_lint_passes() {
    let output = Command::new(npm_tool("redocly"))
        .args([
            "lint",
            "--config",
            "contract/redocly.yaml",
            "--format=json",
            DOCUMENT,
        ])
        .env("REDOCLY_TELEMETRY", "off")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .await
        .expect("redocly starts");
    // stdout is the report; stderr carries banners (Node.js version notices).
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "redocly lint gave no report:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let totals = &report["totals"];
    assert!(
        output.status.success() && totals["errors"] == 0 && totals["warnings"] == 0,
        "redocly lint (recommended) found problems:\n{:#}",
        report["problems"]
    );
}

#[tokio::test]
async fn spectral_lint_passes() {
    let result = run(Command::new(npm_tool("spectral")).args([
        "lint",
        "--ruleset",
        "contract/.spectral.yaml",
        "--fail-severity=warn",
        DOCUMENT,
    ]))
    .await;
    assert!(result.success, "spectral lint failed:\n{}", result.output);
}

fn major_version(document: &Path) -> u64 {
    let text = std::fs::read_to_string(document).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let version = document["info"]["version"].as_str().expect("info.version");
    semver::Version::parse(version)
        .expect("info.version is semver")
        .major
}

/// Passes unless `current` breaks clients of `released` without a new major
/// version; the error names the breaking changes.
async fn breaking_change_gate(released: &Path, current: &Path) -> Result<(), String> {
    let diff = run(Command::new(npm_tool("redocly"))
        .arg("diff")
        .arg(released)
        .arg(current))
    .await;
    match diff.code {
        Some(0) => Ok(()),
        Some(1) if major_version(current) > major_version(released) => Ok(()),
        Some(1) => Err(format!(
            "{} breaks clients of the released {} without raising info.version's major \
             number (released {}, current {}):\n{}",
            current.display(),
            released.display(),
            major_version(released),
            major_version(current),
            diff.output
        )),
        _ => Err(format!(
            "redocly diff could not compare the documents:\n{}",
            diff.output
        )),
    }
}

#[tokio::test]
async fn no_breaking_change_since_the_released_document() {
    breaking_change_gate(Path::new(RELEASED), Path::new(DOCUMENT))
        .await
        .unwrap_or_else(|message| panic!("{message}"));
}

/// The gate itself: removing a response field or tightening a length is
/// caught and named; adding an optional field is not; a new major number lets
/// a breaking change through.
#[tokio::test]
async fn the_breaking_change_gate_catches_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let write = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut document = base.clone();
        change(&mut document);
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
        path
    };
    let released = write("released.json", &|_| {});
    let removed = write("removed.json", &|d| {
        let s = schemas(d);
        s["ServiceAccount"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("token_last4");
        s["ServiceAccount"]["required"]
            .as_array_mut()
            .unwrap()
            .retain(|name| name != "token_last4");
    });
    let tightened = write("tightened.json", &|d| {
        let s = schemas(d);
        s["CreateServiceAccountRequest"]["properties"]["name"]["maxLength"] = 100.into();
    });
    let added = write("added.json", &|d| {
        let s = schemas(d);
        s["ServiceAccount"]["properties"]["description"] =
            serde_json::json!({"type": "string", "nullable": true, "description": "Free text."});
    });
    let removed_in_2 = write("removed-2.0.0.json", &|d| {
        let s = schemas(d);
        s["ServiceAccount"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("token_last4");
        d["info"]["version"] = "2.0.0".into();
    });

    let error = breaking_change_gate(&released, &removed).await.unwrap_err();
    assert!(error.contains("token_last4"), "{error}");
    let error = breaking_change_gate(&released, &tightened)
        .await
        .unwrap_err();
    assert!(error.contains("maxLength"), "{error}");
    breaking_change_gate(&released, &added)
        .await
        .expect("an optional field is not breaking");
    breaking_change_gate(&released, &removed_in_2)
        .await
        .expect("a new major may break");
}

fn schemas(document: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut document["components"]["schemas"]
}

/// A server for a client scenario, and the environment the scenario reads.
/// A server for a client scenario, with an introspection client and a
/// secret-scanning partner whose key signs the scenario's leak report.
struct ScenarioServer {
    _server: TestServer,
    _sender: crate::common::sender::TestSender,
}

async fn scenario_server() -> (ScenarioServer, Vec<(&'static str, String)>) {
    let sender = crate::common::sender::TestSender::start().await;
    let keys_url = sender.keys_url();
    let server = TestServer::start_with(|settings| {
        settings.secret_scanning.github_keys_url = Some(keys_url);
        // The scenarios' webhook receivers are on loopback, over http.
        settings.webhooks.allow_loopback_http = true;
        settings.webhooks.delivery.poll_interval = std::time::Duration::from_millis(20);
    })
    .await;
    let (client_id, client_secret) = server.new_introspection_client("scenario").await;
    // A GitHub Actions token for the scenarios to exchange, signed by a key
    // they register inline (the issuer is never fetched from).
    let key = crate::common::issuer::TestKey::p256("scenario");
    let now = server.now().timestamp();
    let issuer = "https://token.actions.githubusercontent.com";
    let subject_token = key.sign(&serde_json::json!({
        "iss": issuer, "sub": "repo:acme/api:ref:refs/heads/main",
        "aud": format!("https://api.hybridbox.io/accounts/{}", server.account_id),
        "jti": uuid::Uuid::new_v4().to_string(), "repository_owner_id": "1001",
        "repository": "acme/api", "repository_id": "2002", "ref": "refs/heads/main",
        "iat": now, "nbf": now, "exp": now + 300,
    }));
    let env = vec![
        ("HBX_SA_FED_ISSUER", issuer.to_owned()),
        (
            "HBX_SA_FED_JWKS",
            serde_json::json!({ "keys": [key.jwk] }).to_string(),
        ),
        ("HBX_SA_FED_TOKEN", subject_token),
        ("HBX_SA_URL", server.base_url.clone()),
        ("HBX_SA_TOKEN", server.owner_token.clone()),
        ("HBX_SA_ACCOUNT_ID", server.account_id.to_string()),
        ("HBX_SA_CLIENT_ID", client_id),
        ("HBX_SA_CLIENT_SECRET", client_secret),
        ("HBX_SA_SIGNING_KEY", sender.private_key_pem()),
        ("HBX_SA_SIGNING_KEY_ID", "key-1".to_owned()),
    ];
    (
        ScenarioServer {
            _server: server,
            _sender: sender,
        },
        env,
    )
}

#[tokio::test]
async fn a_typescript_client_runs_the_scenario() {
    let typescript = contract_dir().join("typescript");
    let generated = typescript.join("generated/schema.d.ts");
    let result = run(Command::new(npm_tool("openapi-typescript"))
        .arg(DOCUMENT)
        .arg("--output")
        .arg(&generated))
    .await;
    assert!(
        result.success,
        "openapi-typescript failed:\n{}",
        result.output
    );
    let result = run(Command::new(npm_tool("tsc"))
        .arg("--project")
        .arg(typescript.join("tsconfig.json")))
    .await;
    assert!(result.success, "tsc --strict failed:\n{}", result.output);

    let (_server, env) = scenario_server().await;
    let result = run(Command::new("node")
        .arg(typescript.join("build/scenario.js"))
        .envs(env))
    .await;
    assert!(
        result.success,
        "the TypeScript scenario failed:\n{}",
        result.output
    );
    assert!(
        result.output.contains("typescript scenario passed"),
        "{}",
        result.output
    );
}

#[tokio::test]
async fn a_python_client_runs_the_scenario() {
    let out = tempfile::tempdir().unwrap();
    let package = out.path().join("client");
    let venv_bin = contract_dir().join(".venv/bin");
    let path = format!(
        "{}:{}",
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let result = run(Command::new(python_tool("openapi-python-client"))
        .args(["generate", "--path", DOCUMENT, "--output-path"])
        .arg(&package)
        .env("PATH", &path))
    .await;
    assert!(
        result.success,
        "openapi-python-client failed:\n{}",
        result.output
    );

    let (_server, env) = scenario_server().await;
    let result = run(Command::new(python_tool("python"))
        .arg(contract_dir().join("python/scenario.py"))
        .env("PYTHONPATH", &package)
        .envs(env))
    .await;
    assert!(
        result.success,
        "the Python scenario failed:\n{}",
        result.output
    );
    assert!(
        result.output.contains("python scenario passed"),
        "{}",
        result.output
    );
}

/// A server for Schemathesis: an account whose owner is a user with a
/// development-mode token (which the API cannot revoke), an introspection
/// client, and a second account with an owner of its own (the other tenant).
struct FuzzTarget {
    server: TestServer,
    env: Vec<(&'static str, String)>,
    peers: tempfile::NamedTempFile,
    /// The secret-scanning partner whose key the hooks sign reports with.
    _sender: crate::common::sender::TestSender,
    /// The receiver of the fixture webhook subscription.
    _receiver: crate::common::receiver::Receiver,
}

async fn fuzz_target() -> FuzzTarget {
    use hbx_service_accounts::auth::oauth::dev::DevKey;
    use hbx_service_accounts::domain::{Capability, Subject};
    let sender = crate::common::sender::TestSender::start().await;
    let keys_url = sender.keys_url();
    let server = TestServer::start_with(|settings| {
        settings.oauth_dev = true;
        settings.secret_scanning.github_keys_url = Some(keys_url.clone());
        settings.secret_scanning.gitlab_keys_url = Some(keys_url);
        // A fuzzer sends thousands of requests from one address: the
        // public revocation limit would leave its logic untested.
        settings.secret_scanning.public_revoke_rate = "1000000/1m".parse().unwrap();
        // The fixture subscription's receiver is on loopback.
        settings.webhooks.allow_loopback_http = true;
        settings.webhooks.delivery.poll_interval = std::time::Duration::from_millis(20);
    })
    .await;
    let dev_key = DevKey::load_or_create(server.data_dir()).unwrap();
    let token_for = |user| {
        dev_key
            .token(user, &[], server.now(), chrono::TimeDelta::hours(1))
            .unwrap()
    };
    let (user, stranger) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let admin = server.app.admin();
    admin
        .add_grant(
            server.account_id,
            Subject::user(user),
            Capability::AccountOwner.into(),
        )
        .await
        .unwrap();
    let other = admin.create_account("another tenant".into()).await.unwrap();
    admin
        .add_grant(
            other.id,
            Subject::user(stranger),
            Capability::AccountOwner.into(),
        )
        .await
        .unwrap();
    // A grant and a role assignment that the operations on one can name (a
    // group's, so that the owner may revoke them, again and again).
    let fixture_grant = admin
        .add_grant(
            server.account_id,
            Subject::Group("schemathesis".into()),
            hbx_service_accounts::domain::CapabilityKey::parse("billing.read").unwrap(),
        )
        .await
        .unwrap();
    let fixture_role = admin
        .assign_role(
            server.account_id,
            hbx_service_accounts::service::role_assignments::RoleRequest {
                role: hbx_service_accounts::domain::RoleKey::Viewer,
                subject: Subject::Group("schemathesis".into()),
                resource: hbx_service_accounts::domain::Resource {
                    kind: hbx_service_accounts::domain::ResourceType::Workspace,
                    id: uuid::Uuid::new_v4(),
                },
            },
        )
        .await
        .unwrap();
    // The service account the operations on one name (rotated, revoked and
    // read by the fuzzer; never a grant's subject).
    let target = server.create("schemathesis-target").await;
    // Federation rules are the owner's (it holds what they give, and the
    // fuzzer never revokes it): the rule operations name it (per-operation
    // parameters in the Schemathesis configurations).
    let (provider_id, rule_id, fed_key, fed_jwks) =
        federation_fixture(&server, server.owner_id).await;
    // A webhook subscription, with one delivery in its log, that the webhook
    // operations name.
    let receiver = crate::common::receiver::Receiver::start().await;
    let (webhook_id, delivery_id) = webhook_fixture(&server, &receiver).await;
    let (client_id, client_secret) = server.new_introspection_client("schemathesis").await;
    let peers = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    let fixed = |name: &str, token: &str| {
        serde_json::json!({
            "name": name,
            "fixedHeaders": [{"name": "Authorization", "value": format!("Bearer {token}")}],
        })
    };
    std::fs::write(
        peers.path(),
        serde_json::json!({"auth": [fixed("tenant_a", &token_for(user)), fixed("tenant_b", &token_for(stranger))]})
            .to_string(),
    )
    .unwrap();
    let env = vec![
        ("HBX_SA_ST_TOKEN", token_for(user)),
        ("HBX_SA_ST_CLIENT_ID", client_id),
        ("HBX_SA_ST_CLIENT_SECRET", client_secret),
        ("HBX_SA_ST_ACCOUNT_ID", server.account_id.to_string()),
        ("HBX_SA_ST_AUTHORIZATION_ID", fixture_grant.id.to_string()),
        ("HBX_SA_ST_ROLE_ASSIGNMENT_ID", fixture_role.id.to_string()),
        // A live service account that grants may name (the hooks put it in
        // bodies meant to be valid): the bootstrapped owner.
        ("HBX_SA_ST_SERVICE_ACCOUNT_ID", server.owner_id.to_string()),
        ("HBX_SA_ST_TARGET_SERVICE_ACCOUNT_ID", target.id.to_string()),
        ("HBX_SA_ST_IDENTITY_PROVIDER_ID", provider_id.to_string()),
        ("HBX_SA_ST_FEDERATION_RULE_ID", rule_id.to_string()),
        ("HBX_SA_ST_WEBHOOK_ID", webhook_id.to_string()),
        ("HBX_SA_ST_DELIVERY_ID", delivery_id.to_string()),
        // The hooks sign subject tokens as the fixture issuer would, at the
        // server's (manual) time.
        ("HBX_SA_ST_FED_KEY", fed_key),
        ("HBX_SA_ST_FED_JWKS", fed_jwks),
        ("HBX_SA_ST_NOW", server.now().timestamp().to_string()),
        ("HBX_SA_ST_PEERS", peers.path().display().to_string()),
        // The hooks sign leak reports as the partner would.
        ("HBX_SA_ST_SIGNING_KEY", sender.private_key_pem()),
        ("HBX_SA_ST_SIGNING_KEY_ID", "key-1".to_owned()),
        ("SCHEMATHESIS_HOOKS", "hooks".to_owned()),
        (
            "PYTHONPATH",
            contract_dir().join("schemathesis").display().to_string(),
        ),
    ];
    FuzzTarget {
        server,
        env,
        peers,
        _sender: sender,
        _receiver: receiver,
    }
}

/// What one Schemathesis run left behind.
struct SchemathesisRun {
    result: Run,
    /// The run summary: failures, warnings, per-operation counts.
    summary: serde_json::Value,
    /// Every request sent, with its generation mode and response (the VCR
    /// cassette, converted from YAML by Schemathesis's own Python).
    interactions: Vec<serde_json::Value>,
}

/// Runs Schemathesis with `config` against `target`. The reports go to a
/// temporary directory, or to `$HBX_SA_ST_REPORTS/<config>/` when that is set
/// (to read them after a failure).
/// An identity provider (keys inline: nothing is fetched) and a rule of
/// `service_account` naming it, that the federation operations can name: the
/// rule keeps the provider from being deleted.
/// A subscription to `receiver`, pinged once: its id and its delivery's.
async fn webhook_fixture(
    server: &TestServer,
    receiver: &crate::common::receiver::Receiver,
) -> (uuid::Uuid, uuid::Uuid) {
    let (id, _) =
        crate::api::webhooks::subscribe(server, &receiver.url("/st"), &["webhook.*"], None).await;
    let path = format!("{}/{id}", crate::api::webhooks::webhooks_path(server));
    let pinged = server
        .raw()
        .post(format!("{}{path}/ping", server.base_url))
        .bearer_auth(&server.owner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(pinged.status().as_u16(), 202);
    let log = crate::api::webhooks::delivery_log(server, &path, 1).await;
    (id, log[0]["id"].as_str().unwrap().parse().unwrap())
}

async fn federation_fixture(
    server: &TestServer,
    service_account: uuid::Uuid,
) -> (uuid::Uuid, uuid::Uuid, String, String) {
    use base64::Engine as _;
    use hbx_service_accounts::domain::{
        Actor, AuditAction, AuditEvent, CapabilityKey, Condition, FederationRule, IdentityProvider,
        Issuer, OperatorName, ProviderKeys, ProviderKind,
    };
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    // The key the hooks sign subject tokens with (ES256), published inline.
    let signing = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let point = signing.verifying_key().to_encoded_point(false);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "fixture",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
    }]})
    .to_string();
    let pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let provider = IdentityProvider {
        id: uuid::Uuid::new_v4(),
        account_id: server.account_id,
        name: OperatorName::parse("GitHub Actions".into()).unwrap(),
        issuer: Issuer::parse("https://token.actions.githubusercontent.com", false).unwrap(),
        kind: ProviderKind::GithubActions,
        keys: ProviderKeys::Inline(jwks.clone()),
        max_subject_token_lifetime_seconds: 3600,
        created_at: server.now(),
    };
    let event = |action| {
        AuditEvent::new(
            server.now(),
            server.account_id,
            None,
            action,
            Actor::Operator,
            Default::default(),
        )
    };
    let store = server.app.store();
    let registered = event(AuditAction::IdentityProviderCreate);
    store
        .create_identity_provider(&provider, &registered)
        .await
        .unwrap();
    let rule = FederationRule {
        id: uuid::Uuid::new_v4(),
        account_id: server.account_id,
        service_account_id: service_account,
        identity_provider_id: provider.id,
        audience: format!("https://api.hybridbox.io/accounts/{}", server.account_id),
        conditions: vec![
            Condition::parse("repository_owner_id", "eq", Some("1001".into()), None).unwrap(),
        ],
        capabilities: vec![CapabilityKey::parse("auth.manage").unwrap()],
        token_ttl_seconds: 900,
        description: None,
        created_at: server.now(),
    };
    let created = event(AuditAction::FederationRuleCreate);
    store.create_federation_rule(&rule, &created).await.unwrap();
    (provider.id, rule.id, pem, jwks)
}

async fn schemathesis(target: &FuzzTarget, config: &str, examples: u32) -> SchemathesisRun {
    let scratch = tempfile::tempdir().unwrap();
    let reports = match std::env::var_os("HBX_SA_ST_REPORTS") {
        Some(dir) => PathBuf::from(dir).join(config),
        None => scratch.path().to_path_buf(),
    };
    std::fs::create_dir_all(&reports).unwrap();
    let (summary, cassette, cassette_json) = (
        reports.join("run.json"),
        reports.join("run.vcr.yaml"),
        reports.join("run.vcr.json"),
    );
    let result = run(Command::new(python_tool("st"))
        .arg("--config-file")
        .arg(contract_dir().join("schemathesis").join(config))
        .args(["run", DOCUMENT, "--url", &target.server.base_url])
        .args(["--checks", "all", "--max-examples", &examples.to_string()])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .arg("--report-json-path")
        .arg(&summary)
        .arg("--report-vcr-path")
        .arg(&cassette)
        .envs(target.env.iter().map(|(k, v)| (*k, v.as_str()))))
    .await;
    let converted = run(Command::new(python_tool("python"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), open(sys.argv[2], 'w'))",
        ])
        .arg(&cassette)
        .arg(&cassette_json))
    .await;
    assert!(
        converted.success || !result.success,
        "reading the cassette: {}",
        converted.output
    );
    let read = |path: &Path| -> serde_json::Value {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    let interactions = read(&cassette_json)["http_interactions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    SchemathesisRun {
        result,
        summary: read(&summary),
        interactions,
    }
}

/// Of the requests whose generation mode is `counted` ("positive": meant to
/// be valid; "negative": meant to be refused; "" for the replays as another
/// tenant), how many reached an operation's logic: answered 2xx, or 409 for a
/// change the logic refused.
fn reached_logic(
    interactions: &[serde_json::Value],
    counted: impl Fn(&str) -> bool,
) -> (usize, usize) {
    let positive: Vec<u64> = interactions
        .iter()
        .filter(|interaction| counted(interaction["generation"]["mode"].as_str().unwrap_or("")))
        .map(|interaction| {
            interaction["response"]["status"]["code"]
                .as_str()
                .and_then(|code| code.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    let reached = positive
        .iter()
        .filter(|status| (200..300).contains(*status) || **status == 409)
        .count();
    (reached, positive.len())
}

/// Fails unless the run passed with no warning that would mean it never got
/// past authentication or the account's path.
fn assert_clean(run: &SchemathesisRun, config: &str) {
    assert!(
        run.result.success,
        "schemathesis failed (exit {:?}):\n{}",
        run.result.code, run.result.output
    );
    assert!(
        run.summary["test_cases"]["generated"].as_u64() > Some(0),
        "a JSON report with cases: {}",
        run.summary
    );
    for warning in ["missing_auth", "missing_test_data"] {
        let found = &run.summary["warnings"][warning];
        assert!(
            found.is_null() || found.as_array().is_some_and(Vec::is_empty),
            "schemathesis warned {warning}: {found}\n{}",
            run.result.output
        );
    }
    let all = reached_logic(&run.interactions, |_| true);
    let (reached, valid) = reached_logic(&run.interactions, |mode| mode == "positive");
    let summary = format!(
        "schemathesis ({config}): {} of {} responses reached an operation's logic (2xx or \
         409). Of the {valid} requests it generated as valid, {reached} did; the others \
         broke a rule the schema cannot express (declared in {config}). The rest of all \
         requests were its deliberate negative cases (missing or bad credentials and \
         signatures, undeclared methods, malformed input), refused as they should be.",
        all.0, all.1
    );
    println!("{summary}");
    // For the README's test command to print after the suite (cargo hides a
    // passing test's output).
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("schemathesis-{config}.txt")),
        format!("{summary}\n"),
    );
    assert!(
        valid > 0 && reached * 10 >= valid * 7,
        "most valid requests should reach the logic: {reached} of {valid}; the valid ones \
         by operation and status:\n{}",
        statuses_of_valid_requests(&run.interactions)
    );
}

/// How the requests generated as valid were answered, by method, path and
/// status: what to look at when too few reached the logic.
fn statuses_of_valid_requests(interactions: &[serde_json::Value]) -> String {
    let mut counts = std::collections::BTreeMap::<(String, String, String), usize>::new();
    for interaction in interactions {
        if interaction["generation"]["mode"].as_str() != Some("positive") {
            continue;
        }
        let request = &interaction["request"];
        let text = |value: &serde_json::Value| value.as_str().unwrap_or("?").to_owned();
        let path = text(&request["uri"]);
        let path = path.split('?').next().unwrap_or("").to_owned();
        let status = text(&interaction["response"]["status"]["code"]);
        *counts
            .entry((text(&request["method"]), path, status))
            .or_default() += 1;
    }
    counts
        .iter()
        .map(|((method, path, status), n)| format!("  {n:5} {method} {path} -> {status}\n"))
        .collect()
}

/// Schemathesis (a fuzzer nobody here wrote) against a live server: every
/// published operation, every check, every phase. Zero failures, no
/// authentication or test-data warnings, and most valid requests reach the
/// logic.
#[tokio::test]
async fn schemathesis_finds_nothing() {
    let target = fuzz_target().await;
    let run = schemathesis(&target, "main.toml", 100).await;
    assert_clean(&run, "main.toml");
    drop(target.peers);
}

/// The same, with a second identity from another account replaying every read:
/// the other tenant must never see the first one's service accounts.
#[tokio::test]
async fn schemathesis_finds_no_cross_tenant_access() {
    let target = fuzz_target().await;
    let run = schemathesis(&target, "peers.toml", 15).await;
    assert_clean(&run, "peers.toml");
    // The replays as the other tenant (and anonymously) are the cassette's
    // entries that Schemathesis did not generate.
    let replays: Vec<u64> = run
        .interactions
        .iter()
        .filter(|interaction| interaction["generation"].is_null())
        .filter_map(|interaction| {
            interaction["response"]["status"]["code"]
                .as_str()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        !replays.is_empty(),
        "the reads were replayed as another tenant"
    );
    assert!(
        replays.iter().all(|status| !(200..300).contains(status)),
        "another tenant or nobody read the account: {replays:?}"
    );
}
