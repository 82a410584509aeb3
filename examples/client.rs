//! The Rust client on its own: a program that depends on this crate with
//! `default-features = false, features = ["client"]` (no server, no
//! database driver) and calls a live server. Reads HBX_SA_URL, HBX_SA_TOKEN
//! and HBX_SA_ACCOUNT_ID; says who the token is, lists the account's service
//! accounts, and creates one if HBX_SA_CREATE names it.
//!
//! cargo run --no-default-features --features client --example client

use hbx_service_accounts::client::Client;
use hbx_service_accounts::client::types::CreateServiceAccountRequest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let url = var("HBX_SA_URL")?;
    let token = var("HBX_SA_TOKEN")?;
    let account_id: uuid::Uuid = var("HBX_SA_ACCOUNT_ID")?.parse()?;

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let client = Client::new_with_client(&url, http);

    let me = client.whoami().await?.into_inner();
    println!(
        "whoami: {:?} {}",
        me.principal_type,
        me.service_account_id
            .map(|id| id.to_string())
            .unwrap_or_default()
    );
    if let Ok(name) = std::env::var("HBX_SA_CREATE") {
        let created = client
            .create_service_account(
                &account_id,
                None,
                &CreateServiceAccountRequest {
                    name: name.parse()?,
                    expires_at: None,
                },
            )
            .await?
            .into_inner();
        // The token is a secret: show only its public parts.
        println!(
            "created: {} {} ({}_{}_…{})",
            created.id,
            created.name,
            created.token_prefix,
            created.token_public_id,
            created.token_last4
        );
    }
    let listed = client
        .list_service_accounts(&account_id, None, None, None)
        .await?
        .into_inner();
    println!("listed: {} service accounts", listed.len());
    for service_account in listed {
        println!("  {} {}", service_account.id, service_account.name.as_str());
    }
    Ok(())
}
