//! Service accounts and their tokens (current and previous), what a token's
//! revocation was for, and the introspection clients that may ask about
//! tokens.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::accounts::CapabilityKey;
use super::federation_rules::Provenance;

/// The non-secret facts about a service account's current token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub prefix: String,
    pub public_id: String,
    pub last4: String,
    /// When the token was issued (created or rotated): introspection's `iat`.
    pub issued_at: DateTime<Utc>,
}

/// Which of a service account's tokens: the current one, or the previous one
/// that a rotation with a grace period left working for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenGeneration {
    Current,
    Previous,
    /// A short-lived token minted by a federation exchange.
    Federated,
}

impl TokenGeneration {
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenGeneration::Current => "current",
            TokenGeneration::Previous => "previous",
            TokenGeneration::Federated => "federated",
        }
    }
}

/// The token a rotation with a grace period replaced, still working until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousToken {
    pub token: TokenFacts,
    /// When it stops working: the rotation's time plus the grace period, or
    /// the service account's own `expires_at` if that comes first.
    pub expires_at: DateTime<Utc>,
    /// Its last successful use, recorded like the current token's.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A short-lived token a federation exchange minted for a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedToken {
    pub token: TokenFacts,
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    /// The most it may exercise (the rule's capabilities, narrowed by the
    /// exchange's `scope`).
    pub capabilities: Vec<CapabilityKey>,
    pub provenance: Provenance,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<RevocationReason>,
}

/// Why a service account was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Through the revoke operation, by a caller with `auth.manage`.
    Requested,
    /// Reported leaked by a secret-scanning partner (GitHub, GitLab).
    Leaked,
    /// Sent to the public revocation endpoint by someone holding the token.
    Reported,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 3] = [
        RevocationReason::Requested,
        RevocationReason::Leaked,
        RevocationReason::Reported,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RevocationReason::Requested => "requested",
            RevocationReason::Leaked => "leaked",
            RevocationReason::Reported => "reported",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}

/// A service account as the service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by_user_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by_user_id: Option<Uuid>,
    /// Why it was revoked; none while it is not.
    pub revoked_reason: Option<RevocationReason>,
    pub token: TokenFacts,
    /// The previous token as stored; it works only while
    /// [`ServiceAccount::live_previous_token`] says so.
    pub previous_token: Option<PreviousToken>,
    /// When its own token (current and previous) was turned off, leaving
    /// only federated tokens; a rotation turns a new one on.
    pub static_token_disabled_at: Option<DateTime<Utc>>,
}

impl ServiceAccount {
    /// Whether its tokens are past `expires_at` at `now` (a token is dead at
    /// the instant it expires).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|expires_at| now >= expires_at)
    }

    /// The previous token, if it still works at `now`: its grace period has
    /// not ended, and the service account is neither revoked nor expired.
    pub fn live_previous_token(&self, now: DateTime<Utc>) -> Option<&PreviousToken> {
        if self.revoked_at.is_some() || self.is_expired_at(now) {
            return None;
        }
        self.previous_token
            .as_ref()
            .filter(|previous| now < previous.expires_at)
    }

    /// The service account as it stands at `now`: a previous token that no
    /// longer works is left out (what the API shows).
    pub fn seen_at(mut self, now: DateTime<Utc>) -> Self {
        if self.live_previous_token(now).is_none() {
            self.previous_token = None;
        }
        self
    }
}

/// A platform component allowed to introspect tokens (HTTP Basic with its
/// `client_id` and a secret that is shown once and stored only as a MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntrospectionClient {
    pub client_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn facts(public_id: &str, at: DateTime<Utc>) -> TokenFacts {
        TokenFacts {
            prefix: "hbxsa".into(),
            public_id: public_id.into(),
            last4: "abcd".into(),
            issued_at: at,
        }
    }

    fn rotated(now: DateTime<Utc>, grace: TimeDelta) -> ServiceAccount {
        ServiceAccount {
            id: Uuid::new_v4(),
            account_id: Uuid::new_v4(),
            name: "rotated".into(),
            created_at: now,
            updated_at: now,
            created_by_user_id: None,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            revoked_by_user_id: None,
            revoked_reason: None,
            token: facts("current0current0", now),
            previous_token: Some(PreviousToken {
                token: facts("previous0previou", now),
                expires_at: now + grace,
                last_used_at: None,
            }),
            static_token_disabled_at: None,
        }
    }

    /// A token is dead at the instant it expires, and a previous token at
    /// the instant its grace ends; both with the service account.
    #[test]
    fn tokens_die_at_their_instant() {
        let now = Utc::now();
        let mut sa = rotated(now, TimeDelta::seconds(60));
        assert!(!sa.is_expired_at(now), "no expiry: never");
        assert!(sa.live_previous_token(now).is_some());
        assert!(
            sa.live_previous_token(now + TimeDelta::seconds(59))
                .is_some()
        );
        assert!(
            sa.live_previous_token(now + TimeDelta::seconds(60))
                .is_none()
        );
        assert_eq!(
            sa.clone()
                .seen_at(now + TimeDelta::seconds(60))
                .previous_token,
            None
        );
        sa.expires_at = Some(now + TimeDelta::seconds(30));
        assert!(!sa.is_expired_at(now + TimeDelta::seconds(29)));
        assert!(sa.is_expired_at(now + TimeDelta::seconds(30)));
        assert!(
            sa.live_previous_token(now + TimeDelta::seconds(29))
                .is_some()
        );
        assert!(
            sa.live_previous_token(now + TimeDelta::seconds(30))
                .is_none(),
            "expired"
        );
        sa.expires_at = None;
        sa.revoked_at = Some(now);
        assert!(sa.live_previous_token(now).is_none(), "revoked");
    }

    #[test]
    fn stored_words_read_back_as_written() {
        assert_eq!(TokenGeneration::Current.as_str(), "current");
        assert_eq!(TokenGeneration::Previous.as_str(), "previous");
        for reason in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(RevocationReason::Leaked.as_str(), "leaked");
        assert_eq!(RevocationReason::parse("Leaked"), None);
    }
}
