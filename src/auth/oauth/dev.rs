//! Development mode, NOT FOR PRODUCTION: a local Ed25519 key in the data
//! directory stands in for an identity provider, so the user path can be tried
//! without one. `hbx-sa dev-token --user UUID` signs short-lived access tokens
//! with it; `hbx-sa serve --oauth-dev` trusts it as the issuer [`ISSUER`].

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use uuid::Uuid;

use super::IssuerSettings;
use super::keys::JwksLocation;
use crate::private_files;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "oauth-dev-key";
/// `iss` of development tokens.
pub const ISSUER: &str = "urn:hbx-sa:dev";
/// `aud` of development tokens.
pub const AUDIENCE: &str = "hbx-service-accounts-dev";
const KEY_ID: &str = "hbx-sa-dev";
/// Development tokens live at most this long.
pub const MAX_TTL: TimeDelta = TimeDelta::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    #[error("cannot read or create the development key {path}: {detail}")]
    Io { path: String, detail: String },
    #[error("a development token lives between 1 second and {} hours", MAX_TTL.num_hours())]
    Lifetime,
    #[error("cannot sign a development token")]
    Sign(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub struct DevKey {
    signing: SigningKey,
}

impl DevKey {
    /// Reads the development key from `data_dir`, creating it (mode 0600) the
    /// first time.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, DevKeyError> {
        let path = data_dir.join(KEY_FILE);
        let error = |detail: String| DevKeyError::Io {
            path: path.display().to_string(),
            detail,
        };
        if !path.exists() {
            private_files::create_dir(data_dir).map_err(|e| error(e.to_string()))?;
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| error(e.to_string()))?;
            private_files::write_new_file(&path, format!("{}\n", hex::encode(seed)).as_bytes())
                .map_err(|e| error(e.to_string()))?;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| error(e.to_string()))?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed)
            .map_err(|_| error("it must hold 64 hex digits".into()))?;
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The issuer a server in development mode trusts.
    pub fn issuer(&self) -> IssuerSettings {
        IssuerSettings {
            issuer: ISSUER.to_owned(),
            audiences: vec![AUDIENCE.to_owned()],
            keys: JwksLocation::Fixed(JwkSet {
                keys: vec![self.public_jwk()],
            }),
        }
    }

    fn public_jwk(&self) -> Jwk {
        use base64::Engine as _;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.signing.verifying_key().to_bytes());
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(KEY_ID.to_owned()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x,
            }),
        }
    }

    /// An access token for `user_id`, valid from `now` for `ttl` (at most
    /// [`MAX_TTL`]), listing `groups` in its `groups` claim (left out when
    /// there are none).
    pub fn token(
        &self,
        user_id: Uuid,
        groups: &[String],
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<String, DevKeyError> {
        if ttl <= TimeDelta::zero() || ttl > MAX_TTL {
            return Err(DevKeyError::Lifetime);
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            aud: &'a str,
            sub: String,
            iat: i64,
            nbf: i64,
            exp: i64,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            groups: &'a [String],
        }
        let claims = Claims {
            iss: ISSUER,
            aud: AUDIENCE,
            sub: user_id.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
            groups,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(KEY_ID.to_owned());
        header.typ = Some("at+jwt".to_owned());
        let der = self
            .signing
            .to_pkcs8_der()
            .map_err(|e| DevKeyError::Sign(Box::new(e)))?;
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes()))
            .map_err(|e| DevKeyError::Sign(Box::new(e)))
    }
}
