//! Leaked tokens (contract §10): reports from secret-scanning partners, and
//! tokens sent to the public revocation endpoint by whoever holds them. A
//! reported string is ours only if it has our form, a valid checksum, and
//! matches a stored MAC (compared in constant time); then the token that
//! leaked is put out of use: the current token by revoking the service
//! account, a previous token in its grace period by retiring it (the current
//! one did not leak), a federated token by revoking it alone. A report's work is bounded by what in it is distinct
//! and alive: copies are looked up once, a token that no longer works writes
//! nothing, and each service account is changed and audited at most once per
//! report, with who reported it and where it was found.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ServiceError;
use crate::auth::service_account::token_of;
use crate::clock::Clock;
use crate::domain::{
    Actor, AuditAction, AuditDetail, AuditEvent, Origin, RevocationReason, TokenGeneration,
};
use crate::store::{
    AuditEventStore, FederatedTokenStore, LeakResponse, Revocation, StoredServiceAccount,
    TokenLookup, TokenStore,
};
use crate::token::{self, TokenPrefix, keyring::TokenKeyring};

/// Most tokens one report or one public revocation may carry.
pub const MAX_TOKENS_PER_REQUEST: usize = 1000;

/// What the server does with a partner's report of a live token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LeakAction {
    /// Put the leaked token out of use (the default).
    #[default]
    Revoke,
    /// Only record the report in the audit log.
    Notify,
}

/// Who says a token leaked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reporter {
    /// A secret-scanning partner (`github`, `gitlab`).
    Partner { name: &'static str },
    /// Someone who sent it to the public revocation endpoint, from `address`.
    Holder { address: IpAddr },
}

/// One reported string, and where it was found (a partner says; a holder
/// does not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub token: String,
    pub source: Option<String>,
    pub url: Option<String>,
}

/// Whether a reported string was one of our tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    TruePositive,
    FalsePositive,
}

/// SHA-256 of a token, in hex: how a partner's feedback names it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub struct Leaks {
    lookup: Arc<dyn TokenLookup>,
    tokens: Arc<dyn TokenStore>,
    /// Federated tokens: a leaked one is revoked on its own.
    federated: Arc<dyn FederatedTokenStore>,
    audit: Arc<dyn AuditEventStore>,
    keyring: Arc<TokenKeyring>,
    prefix: TokenPrefix,
    clock: Arc<dyn Clock>,
    action: LeakAction,
}

/// A stored service account a token matched, and which of its tokens.
struct Match {
    stored: StoredServiceAccount,
    generation: TokenGeneration,
}

/// Who says a token leaked, the reason and audit action that go with them,
/// whether the server acts on it (holding a token is the authority to
/// revoke it), and where it was found.
struct Reporting {
    reporter: String,
    reason: RevocationReason,
    action: AuditAction,
    act: bool,
    source: Option<String>,
    url: Option<String>,
}

impl Reporting {
    /// The audit event of this report about token `public_id` of service
    /// account `of` (its account, itself), saying whether it was revoked.
    fn event(
        &self,
        at: DateTime<Utc>,
        of: (Uuid, Uuid),
        public_id: &str,
        origin: &Origin,
        revoked: bool,
    ) -> AuditEvent {
        AuditEvent::new(
            at,
            of.0,
            Some(of.1),
            self.action,
            Actor::Reporter,
            origin.clone(),
        )
        .about_token(public_id)
        .with_detail(AuditDetail::Leak {
            reporter: self.reporter.clone(),
            token_public_id: public_id.to_owned(),
            source: self.source.clone(),
            url: self.url.clone(),
            revoked,
        })
    }
}

/// What one report found of one service account: which of its tokens were
/// reported, and the first sighting of one (where it was found).
struct Found {
    stored: StoredServiceAccount,
    current: bool,
    previous: bool,
    first_sighting: usize,
}

impl Leaks {
    /// `lookup` finds the service account a reported token belongs to;
    /// `tokens` puts the token out of use.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lookup: Arc<dyn TokenLookup>,
        tokens: Arc<dyn TokenStore>,
        federated: Arc<dyn FederatedTokenStore>,
        audit: Arc<dyn AuditEventStore>,
        keyring: Arc<TokenKeyring>,
        prefix: TokenPrefix,
        clock: Arc<dyn Clock>,
        action: LeakAction,
    ) -> Self {
        Self {
            lookup,
            tokens,
            federated,
            audit,
            keyring,
            prefix,
            clock,
            action,
        }
    }

    /// The service account `candidate` is a token of, if any: our form and
    /// checksum (else no storage is read), a stored public id, and a MAC that
    /// matches; an unknown public id costs the MAC work of a wrong one.
    async fn owner_of(&self, candidate: &str) -> Result<Option<Match>, ServiceError> {
        let Ok(parsed) = token::parse(&self.prefix, candidate.trim()) else {
            return Ok(None);
        };
        let Some(stored) = self.lookup.find_by_public_id(parsed.public_id()).await? else {
            self.keyring.burn_equivalent_work(parsed.as_str());
            return Ok(None);
        };
        Ok(token_of(&self.keyring, &stored, &parsed)
            .ok()
            .map(|generation| Match { stored, generation }))
    }

    /// The distinct strings among `reported` that have our form and a valid
    /// checksum: the ones a report must look up (and what the public
    /// endpoint's limiter charges for). Everything else is labelled a false
    /// positive without any storage read.
    pub fn candidates<'a>(&self, reported: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        let mut seen = HashSet::new();
        reported
            .into_iter()
            .map(str::trim)
            .filter(|candidate| token::parse(&self.prefix, candidate).is_ok())
            .filter(|candidate| seen.insert(*candidate))
            .collect()
    }

    /// Handles one report of `sightings`: a label for each (in order), having
    /// done what the server's action and each token's state call for.
    ///
    /// The work is bounded by what is distinct and alive: each distinct
    /// string of our form is looked up once; a token that no longer works
    /// (revoked, expired, rotated away or past its grace) writes nothing;
    /// and each service account gets at most one change and one audit event
    /// per report, however many of its tokens and copies the report holds
    /// (the current token leaked: revoked; only the previous one: retired).
    pub async fn report(
        &self,
        sightings: &[Sighting],
        by: &Reporter,
        origin: &Origin,
    ) -> Result<Vec<Label>, ServiceError> {
        let mut labels = vec![Label::FalsePositive; sightings.len()];
        let mut places: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, sighting) in sightings.iter().enumerate() {
            places.entry(sighting.token.trim()).or_default().push(index);
        }
        let mut found: BTreeMap<Uuid, Found> = BTreeMap::new();
        for candidate in self.candidates(sightings.iter().map(|s| s.token.as_str())) {
            let Some(matched) = self.owner_of(candidate).await? else {
                continue;
            };
            let places = places.get(candidate).map(Vec::as_slice).unwrap_or_default();
            for &index in places {
                labels[index] = Label::TruePositive;
            }
            let first_sighting = places.first().copied().unwrap_or_default();
            if matched.generation == TokenGeneration::Federated {
                // A minted token leaked: it alone is put out of use.
                self.act_on_federated(&matched.stored, &sightings[first_sighting], by, origin)
                    .await?;
                continue;
            }
            let entry = found
                .entry(matched.stored.service_account.id)
                .or_insert_with(|| Found {
                    stored: matched.stored,
                    current: false,
                    previous: false,
                    first_sighting,
                });
            if matched.generation == TokenGeneration::Previous {
                entry.previous = true;
            } else {
                entry.current = true;
            }
            entry.first_sighting = entry.first_sighting.min(first_sighting);
        }
        for leaked in found.values() {
            self.act_on(leaked, &sightings[leaked.first_sighting], by, origin)
                .await?;
        }
        Ok(labels)
    }

    /// Puts what leaked of one service account out of use (or only records
    /// it, as the server's action says), with one audit event; nothing at
    /// all if none of the reported tokens still works.
    async fn act_on(
        &self,
        leaked: &Found,
        sighting: &Sighting,
        by: &Reporter,
        origin: &Origin,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let service_account = &leaked.stored.service_account;
        let current_works = leaked.current
            && service_account.revoked_at.is_none()
            && !service_account.is_expired_at(now);
        let previous_works = leaked.previous && service_account.live_previous_token(now).is_some();
        if !current_works && !previous_works {
            return Ok(());
        }
        let reporting = self.reporting(by, sighting);
        let response = match (reporting.act, current_works) {
            (false, _) => LeakResponse::Record,
            (true, true) => LeakResponse::Revoke(Revocation {
                at: now,
                by_user_id: None,
                reason: reporting.reason,
            }),
            (true, false) => LeakResponse::RetirePrevious(now),
        };
        let leaked_token = if current_works {
            Some(&service_account.token)
        } else {
            service_account.previous_token.as_ref().map(|p| &p.token)
        };
        let leaked_public_id = leaked_token
            .map(|t| t.public_id.clone())
            .unwrap_or_default();
        let event = reporting.event(
            now,
            (service_account.account_id, service_account.id),
            &leaked_public_id,
            origin,
            false,
        );
        self.tokens
            .record_leak(
                service_account.account_id,
                service_account.id,
                response,
                &event,
            )
            .await?;
        Ok(())
    }

    fn reporting(&self, by: &Reporter, sighting: &Sighting) -> Reporting {
        match by {
            Reporter::Partner { name } => Reporting {
                reporter: (*name).to_owned(),
                reason: RevocationReason::Leaked,
                action: AuditAction::LeakReport,
                act: self.action == LeakAction::Revoke,
                source: sighting.source.clone(),
                url: sighting.url.clone(),
            },
            Reporter::Holder { address } => Reporting {
                reporter: "public".to_owned(),
                reason: RevocationReason::Reported,
                action: AuditAction::PublicRevocation,
                act: true,
                source: Some(address.to_string()),
                url: None,
            },
        }
    }

    /// Puts a leaked federated token out of use (or only records it), with
    /// one audit event; nothing if it no longer works. Its service account
    /// and its own token are left alone: they did not leak.
    async fn act_on_federated(
        &self,
        stored: &StoredServiceAccount,
        sighting: &Sighting,
        by: &Reporter,
        origin: &Origin,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let Some((token, _)) = &stored.federated else {
            return Ok(());
        };
        let works = token.revoked_at.is_none()
            && now < token.expires_at
            && stored.service_account.revoked_at.is_none();
        if !works {
            return Ok(());
        }
        let reporting = self.reporting(by, sighting);
        let public_id = &token.token.public_id;
        let of = (token.account_id, token.service_account_id);
        let event = |revoked| reporting.event(now, of, public_id, origin, revoked);
        if reporting.act {
            self.federated
                .revoke_federated_token(public_id, now, reporting.reason, &event(true))
                .await?;
        } else {
            self.audit.record_audit_event(&event(false)).await?;
        }
        Ok(())
    }
}
