//! Tokens minted by federation exchanges, and the presented tokens' `jti`s:
//! a mint records the `jti` (refused if seen before, on any instance), the
//! token (its HMAC only) and its audit event in one transaction. A minted
//! token is found by its public id like a service account's own, revoked on
//! its own (a leak, a public revocation) or with its service account.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit_events;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::changes::CredentialChange;
use super::columns::{Timestamp, corrupt, read_key_version, stored_key_version};
use super::error::StoreError;
use super::federation_rules::{capabilities_text, read_capabilities};
use super::service_accounts::row::{ServiceAccountRow, StoredServiceAccount};
use super::service_accounts::sql;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, FederatedToken, Provenance, RevocationReason, TokenFacts};
use crate::token::keyring::TokenMac;

/// A presented token's `jti`, used once until the token expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedJti {
    pub issuer: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

/// Minting and revoking federated tokens.
#[async_trait]
pub trait FederatedTokenStore: Send + Sync + 'static {
    /// Records `jti`, stores `token` with `mac` and records `event`, all or
    /// nothing, provided the service account is live and not expired at
    /// `token.token.issued_at`. A `jti` seen before is
    /// [`StoreError::JtiReplayed`]; a service account that cannot mint is
    /// [`StoreError::ServiceAccountNotInAccount`].
    async fn mint_federated_token(
        &self,
        token: &FederatedToken,
        mac: &TokenMac,
        jti: &UsedJti,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Revokes the federated token of `public_id` at `at` for `reason` and
    /// records `event`, unless revoked already (`false`). `None`: no such
    /// token.
    async fn revoke_federated_token(
        &self,
        public_id: &str,
        at: DateTime<Utc>,
        reason: RevocationReason,
        event: &AuditEvent,
    ) -> Result<Option<(FederatedToken, bool)>, StoreError>;
}

const INSERT_JTI: &str = "INSERT INTO federation_jtis (issuer, jti, expires_at) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING jti";

/// `jti`s whose tokens have expired can be forgotten: such a token is refused
/// for its time anyway.
const FORGET_EXPIRED_JTIS: &str = "DELETE FROM federation_jtis WHERE expires_at < $1";

const MINTABLE: &str = "SELECT id FROM service_accounts WHERE id = $1 AND account_id = $2 \
    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)";

const INSERT_TOKEN: &str = "INSERT INTO federated_tokens (public_id, account_id, \
    service_account_id, federation_rule_id, identity_provider_id, token_prefix, token_last4, \
    token_mac, token_key_version, capabilities, provenance, issued_at, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

const REVOKE: &str = "UPDATE federated_tokens SET revoked_at = $2, revoked_reason = $3 \
    WHERE public_id = $1 AND revoked_at IS NULL RETURNING public_id";

const REVOKE_ALL_OF: &str = "UPDATE federated_tokens SET revoked_at = $2, revoked_reason = $3 \
    WHERE service_account_id = $1 AND revoked_at IS NULL RETURNING public_id";

/// The `federated_tokens` columns, as [`sql::SELECT_FEDERATED_BY_PUBLIC_ID`]
/// names them (`f_` before each).
struct FederatedTokenRow {
    public_id: String,
    account_id: Uuid,
    service_account_id: Uuid,
    federation_rule_id: Uuid,
    identity_provider_id: Uuid,
    token_prefix: String,
    token_last4: String,
    token_mac: Vec<u8>,
    token_key_version: i32,
    capabilities: String,
    provenance: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    revoked_at: Option<Timestamp>,
    revoked_reason: Option<String>,
}

impl FromColumns for FederatedTokenRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            public_id: columns.get("f_public_id")?,
            account_id: columns.get("f_account_id")?,
            service_account_id: columns.get("f_service_account_id")?,
            federation_rule_id: columns.get("f_federation_rule_id")?,
            identity_provider_id: columns.get("f_identity_provider_id")?,
            token_prefix: columns.get("f_token_prefix")?,
            token_last4: columns.get("f_token_last4")?,
            token_mac: columns.get("f_token_mac")?,
            token_key_version: columns.get("f_token_key_version")?,
            capabilities: columns.get("f_capabilities")?,
            provenance: columns.get("f_provenance")?,
            issued_at: columns.get("f_issued_at")?,
            expires_at: columns.get("f_expires_at")?,
            revoked_at: columns.get("f_revoked_at")?,
            revoked_reason: columns.get("f_revoked_reason")?,
        })
    }
}

/// A provenance as stored (the rule and provider ids have columns).
fn provenance_json(provenance: &Provenance) -> String {
    json!({
        "issuer": provenance.issuer,
        "subject": provenance.subject,
        "claims": provenance.claims,
    })
    .to_string()
}

impl FederatedTokenRow {
    fn into_token(self) -> Result<(FederatedToken, TokenMac), StoreError> {
        let public_id = self.public_id;
        let invalid = |what: &str| corrupt(format!("federated token {public_id}: invalid {what}"));
        let provenance: Value =
            serde_json::from_str(&self.provenance).map_err(|_| invalid("provenance"))?;
        let claims = provenance["claims"]
            .as_object()
            .map(|claims| {
                claims
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let revoked_reason = match self.revoked_reason {
            None => None,
            Some(reason) => {
                Some(RevocationReason::parse(&reason).ok_or_else(|| invalid("revoked_reason"))?)
            }
        };
        let mac = TokenMac {
            key_version: read_key_version(self.token_key_version, &public_id)?,
            digest: self.token_mac,
        };
        let token = FederatedToken {
            account_id: self.account_id,
            service_account_id: self.service_account_id,
            capabilities: read_capabilities(&self.capabilities)
                .ok_or_else(|| invalid("capabilities"))?,
            provenance: Provenance {
                federation_rule_id: self.federation_rule_id,
                identity_provider_id: self.identity_provider_id,
                issuer: provenance["issuer"].as_str().unwrap_or_default().to_owned(),
                subject: provenance["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                claims,
            },
            expires_at: self.expires_at.0,
            revoked_at: self.revoked_at.map(|t| t.0),
            revoked_reason,
            token: TokenFacts {
                prefix: self.token_prefix,
                last4: self.token_last4,
                issued_at: self.issued_at.0,
                public_id,
            },
        };
        Ok((token, mac))
    }
}

/// The federated token of `public_id` with its service account, read on
/// `connection`.
pub(super) async fn find<D: Backend>(
    connection: &mut D::Connection,
    public_id: &str,
) -> Result<Option<StoredServiceAccount>, StoreError> {
    let select = query::<D>(sql::SELECT_FEDERATED_BY_PUBLIC_ID).arg(public_id);
    let Some(row) = fetch_optional(connection, select).await? else {
        return Ok(None);
    };
    let mut stored = decode::<D, ServiceAccountRow>(&row)?.into_stored()?;
    stored.federated = Some(decode::<D, FederatedTokenRow>(&row)?.into_token()?);
    Ok(Some(stored))
}

/// Revokes, in the transaction on `connection`, every live federated token
/// of service account `id` (it was revoked): what caches must forget.
pub(super) async fn revoke_all_of<D: Backend>(
    connection: &mut D::Connection,
    id: Uuid,
    at: DateTime<Utc>,
    reason: RevocationReason,
) -> Result<Vec<CredentialChange>, StoreError> {
    let revoke = query::<D>(REVOKE_ALL_OF)
        .arg(id)
        .arg(Timestamp(at))
        .arg(reason.as_str());
    fetch_all(connection, revoke)
        .await?
        .iter()
        .map(|row| Ok(CredentialChange::Token(decode::<D, PublicIdOnly>(row)?.0)))
        .collect()
}

/// A `RETURNING public_id`.
struct PublicIdOnly(String);

impl FromColumns for PublicIdOnly {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self(columns.get("public_id")?))
    }
}

#[async_trait]
impl<D: Backend> FederatedTokenStore for SqlStore<D> {
    async fn mint_federated_token(
        &self,
        token: &FederatedToken,
        mac: &TokenMac,
        jti: &UsedJti,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let now = token.token.issued_at;
        self.write(async |tx| {
            let mintable = query::<D>(MINTABLE)
                .arg(token.service_account_id)
                .arg(token.account_id)
                .arg(Timestamp(now));
            if fetch_optional(tx, mintable).await?.is_none() {
                return Err(StoreError::ServiceAccountNotInAccount);
            }
            // One in a hundred mints clears the expired `jti`s, so that the
            // table stays as large as the tokens still alive.
            if rand_percent() == 0 {
                execute(tx, query::<D>(FORGET_EXPIRED_JTIS).arg(Timestamp(now))).await?;
            }
            let used = query::<D>(INSERT_JTI)
                .arg(jti.issuer.as_str())
                .arg(jti.jti.as_str())
                .arg(Timestamp(jti.expires_at));
            if fetch_optional(tx, used).await?.is_none() {
                return Err(StoreError::JtiReplayed);
            }
            let provenance = &token.provenance;
            let insert = query::<D>(INSERT_TOKEN)
                .arg(token.token.public_id.as_str())
                .arg(token.account_id)
                .arg(token.service_account_id)
                .arg(provenance.federation_rule_id)
                .arg(provenance.identity_provider_id)
                .arg(token.token.prefix.as_str())
                .arg(token.token.last4.as_str())
                .arg(mac.digest.as_slice())
                .arg(stored_key_version(mac.key_version)?)
                .arg(capabilities_text(&token.capabilities).as_str())
                .arg(provenance_json(provenance).as_str())
                .arg(Timestamp(now))
                .arg(Timestamp(token.expires_at));
            execute(tx, insert).await?;
            audit_events::insert::<D>(tx, event).await
        })
        .await
    }

    async fn revoke_federated_token(
        &self,
        public_id: &str,
        at: DateTime<Utc>,
        reason: RevocationReason,
        event: &AuditEvent,
    ) -> Result<Option<(FederatedToken, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(found) = find::<D>(tx, public_id).await? else {
                return Ok((None, vec![]));
            };
            let (token, _) = found
                .federated
                .ok_or_else(|| StoreError::Internal("a federated token lost its row".into()))?;
            let revoke = query::<D>(REVOKE)
                .arg(public_id)
                .arg(Timestamp(at))
                .arg(reason.as_str());
            if fetch_optional(tx, revoke).await?.is_none() {
                return Ok((Some((token, false)), vec![]));
            }
            audit_events::insert::<D>(tx, event).await?;
            let revoked = FederatedToken {
                revoked_at: Some(at),
                revoked_reason: Some(reason),
                ..token
            };
            let change = CredentialChange::Token(public_id.to_owned());
            Ok((Some((revoked, true)), vec![change]))
        })
        .await
    }
}

/// A number from 0 to 99, from the system's random source.
fn rand_percent() -> u8 {
    let mut byte = [0u8; 1];
    match getrandom::fill(&mut byte) {
        Ok(()) => byte[0] % 100,
        Err(_) => 1,
    }
}
