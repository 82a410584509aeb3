//! A stand-in secret-scanning partner (GitHub, GitLab): P-256 signing keys
//! generated in the test, published on 127.0.0.1 in the partners' format,
//! with a count of how often they are fetched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use super::json_server::JsonServer;

/// A secret-scanning partner: signing keys, published at `keys_url`, with a
/// count of how often they are fetched.
pub struct TestSender {
    keys: Arc<Mutex<Vec<(String, SigningKey)>>>,
    fetches: Arc<AtomicUsize>,
    /// Bytes of filler published beside the keys (see [`TestSender::pad`]).
    padding: Arc<AtomicUsize>,
    server: JsonServer,
}

impl TestSender {
    pub async fn start() -> Self {
        let keys = Arc::new(Mutex::new(vec![(
            "key-1".to_owned(),
            SigningKey::random(&mut rand::rngs::OsRng),
        )]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let padding = Arc::new(AtomicUsize::new(0));
        let server = {
            let (keys, fetches, padding) = (keys.clone(), fetches.clone(), padding.clone());
            JsonServer::start(Arc::new(move |path| {
                if path != "/public_keys" {
                    return ("404 Not Found", json!({}));
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                let published: Vec<Value> = keys
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(id, key)| {
                        json!({
                            "key_identifier": id,
                            "key": key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap(),
                            "is_current": true,
                        })
                    })
                    .collect();
                let filler = "x".repeat(padding.load(Ordering::SeqCst));
                (
                    "200 OK",
                    json!({ "public_keys": published, "padding": filler }),
                )
            }))
            .await
        };
        Self {
            keys,
            fetches,
            padding,
            server,
        }
    }

    /// Publishes the keys with `bytes` of filler beside them, so that the
    /// document is about that much larger.
    pub fn pad(&self, bytes: usize) {
        self.padding.store(bytes, Ordering::SeqCst);
    }

    pub fn keys_url(&self) -> String {
        self.server.url("/public_keys")
    }

    /// Publishes another key (the partner rotates its keys).
    pub fn publish(&self, id: &str) {
        self.keys
            .lock()
            .unwrap()
            .push((id.to_owned(), SigningKey::random(&mut rand::rngs::OsRng)));
    }

    /// `body` signed with key `id`: base64 DER ECDSA P-256/SHA-256.
    pub fn sign_with(&self, id: &str, body: &[u8]) -> String {
        let keys = self.keys.lock().unwrap();
        let (_, key) = keys.iter().find(|(key_id, _)| key_id == id).unwrap();
        let signature: Signature = key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    pub fn sign(&self, body: &[u8]) -> String {
        self.sign_with("key-1", body)
    }

    /// Sends `body` to `base_url`'s GitHub report endpoint, signed with
    /// "key-1": the status, and the body as text.
    pub async fn send_report(&self, base_url: &str, body: Vec<u8>) -> (u16, String) {
        let response = reqwest::Client::new()
            .post(format!("{base_url}/v1/public/secret-scanning/github"))
            .header("content-type", "application/json")
            .header("Github-Public-Key-Identifier", "key-1")
            .header("Github-Public-Key-Signature", self.sign(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// The first key, as PKCS#8 PEM: for a signer outside this process.
    pub fn private_key_pem(&self) -> String {
        let keys = self.keys.lock().unwrap();
        keys[0].1.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
