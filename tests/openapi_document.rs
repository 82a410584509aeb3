//! The checked-in document is exactly what the API trait generates. If this
//! fails after an API change, regenerate it:
//! `EXPECTORATE=overwrite cargo test --test openapi_document`.

use hbx_service_accounts::api::openapi_document;

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
