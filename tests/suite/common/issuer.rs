//! A stand-in OAuth authorization server on 127.0.0.1: keys generated in the
//! test (RSA, P-256, Ed25519), a JWKS endpoint and an OpenID configuration that
//! the test can change while the server under test runs, and a count of JWKS
//! fetches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use uuid::Uuid;

use super::json_server::JsonServer;
use super::{Backend, TestServer};
use hbx_service_accounts::auth::oauth::IssuerSettings;
use hbx_service_accounts::auth::oauth::keys::JwksLocation;

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
    /// What the OpenID configuration says, when not the truth.
    discovery: Option<Value>,
}

pub struct TestIssuer {
    pub address: SocketAddr,
    published: Arc<Mutex<Published>>,
    jwks_fetches: Arc<AtomicUsize>,
    _server: JsonServer,
}

impl TestIssuer {
    /// An issuer publishing `keys`.
    pub async fn start(keys: &[&TestKey]) -> Self {
        let published = Arc::new(Mutex::new(Published {
            keys: keys.iter().map(|key| key.jwk.clone()).collect(),
            discovery: None,
        }));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        // The issuer's own URL is only known once it listens.
        let issuer_url: Arc<Mutex<String>> = Arc::default();
        let server = {
            let (published, jwks_fetches, issuer_url) =
                (published.clone(), jwks_fetches.clone(), issuer_url.clone());
            JsonServer::start(Arc::new(move |path| match path {
                "/.well-known/openid-configuration" => {
                    let issuer = issuer_url.lock().unwrap().clone();
                    (
                        "200 OK",
                        published.lock().unwrap().discovery.clone().unwrap_or_else(
                            || json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") }),
                        ),
                    )
                }
                "/jwks" => {
                    jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    ("200 OK", json!({ "keys": published.lock().unwrap().keys }))
                }
                _ => ("404 Not Found", json!({})),
            }))
            .await
        };
        *issuer_url.lock().unwrap() = format!("http://{}", server.address);
        Self {
            address: server.address,
            published,
            jwks_fetches,
            _server: server,
        }
    }

    /// The issuer identifier (`iss`), which is also its base URL.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// Makes the OpenID configuration say `document` instead of the truth.
    pub fn set_discovery(&self, document: Value) {
        self.published.lock().unwrap().discovery = Some(document);
    }

    /// Starts publishing `key` as well.
    pub fn publish(&self, key: &TestKey) {
        self.published.lock().unwrap().keys.push(key.jwk.clone());
    }

    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

pub const AUDIENCE: &str = "hybridbox-api";

/// A server trusting `issuer`, its keys found by discovery.
pub async fn server_trusting(
    backend: Backend,
    issuer: &TestIssuer,
    keys: JwksLocation,
) -> TestServer {
    let issuer_settings = IssuerSettings {
        issuer: issuer.issuer(),
        audiences: vec!["other-api".into(), AUDIENCE.into()],
        keys,
    };
    TestServer::start_with_on(backend, move |settings| {
        settings.oauth.issuers.push(issuer_settings);
        settings.oauth.leeway = TimeDelta::seconds(30);
        settings.oauth.key_policy.refetch_interval = TimeDelta::seconds(10);
    })
    .await
}

/// Claims of a valid token for `user` at the server's current time.
pub fn claims(server: &TestServer, issuer: &TestIssuer, user: Uuid) -> Value {
    let now = server.now().timestamp();
    json!({
        "iss": issuer.issuer(),
        "aud": [AUDIENCE, "account"],
        "sub": user.to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "openid",
    })
}

/// Every way an access token can be bad, each with a label: wrong or missing
/// claims, bad signatures, forbidden algorithms, keys the issuer never
/// published, and tokens that are not access tokens. `key` is a published key
/// of `issuer`; the tokens would be good for `user` but for their one defect.
pub fn bad_access_tokens(
    server: &TestServer,
    issuer: &TestIssuer,
    key: &TestKey,
    user: Uuid,
) -> Vec<(&'static str, String)> {
    let unpublished = TestKey::rsa(&key.kid);
    let stranger = TestKey::ed25519("never-published");
    let good = claims(server, issuer, user);
    let now = server.now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        claims
    };

    let tampered = {
        let token = key.sign(&good);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let other = key.sign(&with(&|c| c["sub"] = json!(Uuid::new_v4().to_string())));
        parts[1] = other.split('.').nth(1).unwrap().to_owned();
        parts[2] = token.split('.').nth(2).unwrap().to_owned();
        parts.join(".")
    };
    let unsigned = {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&good)
        )
    };
    let with_critical_extension = {
        let header = json!({
            "alg": format!("{:?}", key.algorithm), "typ": "JWT", "kid": key.kid,
            "crit": ["http://example.com/extension"],
            "http://example.com/extension": true,
        });
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(good.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.algorithm).unwrap();
        format!("{message}.{signature}")
    };
    // What `hbx-sa dev-token` makes, shown to a server not in development
    // mode.
    let development =
        hbx_service_accounts::auth::oauth::dev::DevKey::load_or_create(server.data_dir())
            .unwrap()
            .token(user, &[], server.now(), TimeDelta::minutes(5))
            .unwrap();
    let hs256_with_public_key = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let secret = jsonwebtoken::EncodingKey::from_secret(&key.public_der);
        jsonwebtoken::encode(&header, &good, &secret).unwrap()
    };
    vec![
        (
            "wrong issuer",
            key.sign(&with(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        (
            "issuer with a trailing slash",
            key.sign(&with(&|c| {
                c["iss"] = json!(format!("{}/", issuer.issuer()));
            })),
        ),
        (
            "wrong audience",
            key.sign(&with(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "no audience",
            key.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
        ),
        (
            "expired beyond the leeway",
            key.sign(&with(&|c| c["exp"] = json!(now - 31))),
        ),
        (
            "no exp",
            key.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        (
            "not yet valid beyond the leeway",
            key.sign(&with(&|c| c["nbf"] = json!(now + 31))),
        ),
        ("bad signature", tampered),
        ("alg none", unsigned),
        ("HS256 keyed with the RSA public key", hs256_with_public_key),
        (
            "sub not a UUID",
            key.sign(&with(&|c| c["sub"] = json!("alice"))),
        ),
        (
            "no sub",
            key.sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            })),
        ),
        (
            "same kid, a key the JWKS never published",
            unpublished.sign(&good),
        ),
        (
            "unknown kid, no such key after refetch",
            stranger.sign(&good),
        ),
        ("not a JWT", "a.b.c".to_owned()),
        (
            "a Keycloak ID token",
            key.sign(&with(&|c| c["typ"] = json!("ID"))),
        ),
        ("a critical header extension", with_critical_extension),
        ("a development token, outside development mode", development),
        ("an ID token by header type", {
            let mut header = jsonwebtoken::Header::new(key.algorithm);
            header.kid = Some(key.kid.clone());
            header.typ = Some("id+jwt".into());
            jsonwebtoken::encode(&header, &good, &key.encoding).unwrap()
        }),
    ]
}
