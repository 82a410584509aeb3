//! The API reference at `/docs`: served by the server alone (the page, the
//! renderer and its licenses, under a policy that forbids loading anything
//! from elsewhere), and rendered in headless Chromium (Debian's, driven by
//! playwright-core; `contract/docs/render.mjs`): the title, every
//! operation's summary and every error code of the document appear, and no
//! request leaves the server.

use std::path::Path;

use crate::common::TestServer;

const DOCUMENT: &str = "openapi/hbx-service-accounts.json";

#[tokio::test]
async fn a_fresh_server_serves_its_reference_page() {
    let server = TestServer::start().await;
    let page = server
        .raw()
        .get(format!("{}/docs", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"spec-url="/openapi.json""#), "{html}");
    assert!(
        html.contains(r#"src="/docs/redoc.standalone.js""#),
        "{html}"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "only this server"
    );
    for (file, kind) in [
        ("redoc.standalone.js", "text/javascript"),
        ("redoc.LICENSE", "text/plain"),
        ("redoc.standalone.js.LICENSE.txt", "text/plain"),
    ] {
        let response = server
            .raw()
            .get(format!("{}/docs/{file}", server.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{file}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{file}"
        );
    }
    let unknown = server
        .raw()
        .get(format!("{}/docs/secrets.txt", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    // Not part of the published document.
    let document = std::fs::read_to_string(DOCUMENT).unwrap();
    assert!(!document.contains("\"/docs"));
}

/// The vendored renderer is, byte for byte, the bundle of the `redoc`
/// version pinned in contract/package.json (as `contract/setup` installs it).
#[test]
fn the_vendored_renderer_is_the_pinned_release() {
    let pinned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("contract/package.json").unwrap()).unwrap();
    let version = pinned["dependencies"]["redoc"]
        .as_str()
        .expect("redoc is pinned");
    let installed = Path::new("contract/node_modules/redoc");
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(installed.join("package.json"))
            .expect("contract/setup has installed the pinned tools"),
    )
    .unwrap();
    assert_eq!(package["version"], version);
    for (vendored, published) in [
        ("redoc.standalone.js", "bundles/redoc.standalone.js"),
        ("redoc.LICENSE", "LICENSE"),
        (
            "redoc.standalone.js.LICENSE.txt",
            "bundles/redoc.standalone.js.LICENSE.txt",
        ),
    ] {
        assert!(
            std::fs::read(Path::new("src/server/docs").join(vendored)).unwrap()
                == std::fs::read(installed.join(published)).unwrap(),
            "src/server/docs/{vendored} differs from redoc {version}'s {published}"
        );
    }
}

/// Renders `/docs` of `server`; whether the check passed, and its report.
async fn render(server: &TestServer, also_expect: Option<&str>) -> (bool, serde_json::Value) {
    let mut command = tokio::process::Command::new("node");
    command
        .arg("contract/docs/render.mjs")
        .arg(format!("{}/docs", server.base_url))
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(text) = also_expect {
        command.env("HBX_SA_DOCS_ALSO_EXPECT", text);
    }
    let output = command.output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|_| panic!("a report from render.mjs:\n{stdout}\n{stderr}"));
    (output.status.success(), report)
}

#[tokio::test]
async fn the_reference_renders_every_operation_in_chromium_with_nothing_from_outside() {
    let server = TestServer::start().await;
    let (passed, report) = render(&server, None).await;
    assert!(passed, "{report}");
    assert_eq!(report["missing"], serde_json::json!([]), "{report}");
    assert_eq!(report["outside"], serde_json::json!([]), "{report}");
    // Every request the page made was answered, and the page logged no error
    // (a blocked asset, a script that failed).
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["console_errors"], serde_json::json!([]), "{report}");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(report["operations"], operations, "every operation checked");
    assert_eq!(
        report["error_codes"],
        hbx_service_accounts::api::errors::ErrorCode::ALL.len()
    );
    println!("the reference rendered: {report}");
}

/// The check can fail: a summary the page does not show is reported missing.
#[tokio::test]
async fn a_summary_missing_from_the_page_fails_the_check() {
    let server = TestServer::start().await;
    let absent = "Summon a service account from thin air";
    let (passed, report) = render(&server, Some(absent)).await;
    assert!(!passed, "{report}");
    assert_eq!(report["missing"], serde_json::json!([absent]));
}
