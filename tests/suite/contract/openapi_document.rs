//! The checked-in document is exactly what the API trait generates. If this
//! fails after an API change, regenerate it:
//! `EXPECTORATE=overwrite cargo test --test suite openapi_document`.

use hbx_service_accounts::api::document::openapi_document;

const DOCUMENT: &str = "openapi/hbx-service-accounts.json";

#[test]
fn checked_in_document_matches_the_api_trait() {
    expectorate::assert_contents(DOCUMENT, &openapi_document());
}

#[test]
fn document_is_deterministic() {
    assert_eq!(openapi_document(), openapi_document());
}

#[test]
fn openapi_command_prints_the_checked_in_document() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hbx-sa"))
        .arg("openapi")
        .output()
        .expect("run hbx-sa openapi");
    assert!(output.status.success());
    let checked_in = std::fs::read(DOCUMENT).expect("read the checked-in document");
    assert!(
        output.stdout == checked_in,
        "`hbx-sa openapi` differs from {DOCUMENT}"
    );
}

#[tokio::test]
async fn the_server_serves_the_checked_in_document_byte_for_byte() {
    let server = crate::common::TestServer::start().await;
    let response = server
        .raw()
        .get(format!("{}/openapi.json", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.bytes().await.unwrap();
    let checked_in = std::fs::read(DOCUMENT).unwrap();
    assert!(
        served == checked_in,
        "GET /openapi.json differs from {DOCUMENT}"
    );
    // It describes the API but is not part of it.
    assert!(
        !String::from_utf8(checked_in)
            .unwrap()
            .contains("/openapi.json")
    );
}

/// What a reviewer expects of every operation, parameter and property: words.
#[test]
fn every_operation_parameter_and_property_is_described() {
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let mut missing = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for field in ["summary", "description", "operationId"] {
                if operation[field].as_str().is_none_or(str::is_empty) {
                    missing.push(format!("{method} {path}: {field}"));
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["description"].as_str().is_none_or(str::is_empty) {
                    missing.push(format!("{method} {path}: parameter {}", parameter["name"]));
                }
            }
        }
    }
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        if schema["description"].as_str().is_none_or(str::is_empty) {
            missing.push(format!("schema {name}"));
        }
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            if definition["description"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("schema {name}: property {property}"));
            }
        }
    }
    for field in ["title", "version", "description"] {
        assert!(document["info"][field].is_string(), "info.{field}");
    }
    assert!(document["info"]["contact"].is_object() && document["info"]["license"].is_object());
    assert!(!document["servers"].as_array().unwrap().is_empty());
    assert!(
        document["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["description"].is_string())
    );
    assert!(missing.is_empty(), "undescribed: {missing:#?}");
    // Every stable error code is documented.
    let error = document["components"]["schemas"]["Error"]["description"]
        .as_str()
        .unwrap();
    for code in hbx_service_accounts::api::errors::ErrorCode::ALL {
        assert!(
            error.contains(&format!("`{}`", code.as_str())),
            "{}",
            code.as_str()
        );
    }
}
