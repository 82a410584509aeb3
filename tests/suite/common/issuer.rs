//! A stand-in OAuth authorization server on 127.0.0.1: keys generated in the
//! test (RSA, P-256, Ed25519), a JWKS endpoint and an OpenID configuration that
//! the test can change while the server under test runs, and a count of JWKS
//! fetches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The public key as DER, for the HS256-with-the-public-key attack.
    pub public_der: Vec<u8>,
}

impl TestKey {
    pub fn rsa(kid: &str) -> Self {
        use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key");
        let public = private.to_public_key();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()),
            }),
            public_der: public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        }
    }

    pub fn p256(kid: &str) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes()),
            jwk: json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": kid,
                "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
            }),
            public_der: point.as_bytes().to_vec(),
        }
    }

    pub fn ed25519(kid: &str) -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        Self {
            kid: kid.to_owned(),
            algorithm: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes()),
            jwk: json!({
                "kty": "OKP", "use": "sig", "alg": "EdDSA", "crv": "Ed25519", "kid": kid,
                "x": b64(&public),
            }),
            public_der: public.to_vec(),
        }
    }

    /// Signs `claims` with this key, naming it in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

#[derive(Default)]
struct Published {
    keys: Vec<Value>,
}

pub struct TestIssuer {
    pub address: SocketAddr,
    published: Arc<Mutex<Published>>,
    jwks_fetches: Arc<AtomicUsize>,
    server: tokio::task::AbortHandle,
}

impl TestIssuer {
    /// An issuer publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let published = Arc::new(Mutex::new(Published {
            keys: keys.iter().map(|key| key.jwk.clone()).collect(),
        }));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let server =
            {
                let (published, jwks_fetches) = (published.clone(), jwks_fetches.clone());
                let issuer = format!("http://{address}");
                tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else { return };
                    let (published, jwks_fetches, issuer) =
                        (published.clone(), jwks_fetches.clone(), issuer.clone());
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buffer = [0u8; 4096];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buffer[..n]),
                            }
                        }
                        let request = String::from_utf8_lossy(&request);
                        let path = request.split_whitespace().nth(1).unwrap_or("/");
                        let (status, body) = match path {
                            "/.well-known/openid-configuration" => (
                                "200 OK",
                                json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") }),
                            ),
                            "/jwks" => {
                                jwks_fetches.fetch_add(1, Ordering::SeqCst);
                                ("200 OK", json!({ "keys": published.lock().unwrap().keys }))
                            }
                            _ => ("404 Not Found", json!({})),
                        };
                        let body = body.to_string();
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            })
            .abort_handle()
            };
        Self {
            address,
            published,
            jwks_fetches,
            server,
        }
    }

    /// The issuer identifier (`iss`), which is also its base URL.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// Starts publishing `key` as well.
    pub fn publish(&self, key: &TestKey) {
        self.published.lock().unwrap().keys.push(key.jwk.clone());
    }

    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}
