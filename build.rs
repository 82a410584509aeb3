//! Generates the Rust client (`src/client.rs` includes it) from the checked-in
//! OpenAPI document, so the client always matches the published contract.

use std::path::Path;

const DOCUMENT: &str = "openapi/hbx-service-accounts.json";

fn main() {
    println!("cargo:rerun-if-changed={DOCUMENT}");
    // sqlx::migrate! embeds these at compile time.
    println!("cargo:rerun-if-changed=migrations");

    let text =
        std::fs::read_to_string(DOCUMENT).unwrap_or_else(|e| panic!("cannot read {DOCUMENT}: {e}"));
    let document: openapiv3::OpenAPI = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{DOCUMENT} is not a valid OpenAPI document: {e}"));

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_derive("PartialEq");
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&document)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {DOCUMENT}: {e}"));
    let file = syn::parse2(tokens).expect("progenitor emits valid Rust");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("client.rs");
    std::fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
