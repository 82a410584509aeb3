//! The audit log as an account's administrators read it, over the API and
//! at the command line alike: a page of events, newest first, with its
//! filters checked once ([`AuditQuery::parse`]) and a cursor that names no
//! event of the account answered as the client's mistake.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::{ServiceError, page_error};
use crate::domain::{ActorType, AuditAction, AuditEvent, ValidationError};
use crate::store::{AuditEventStore, AuditFilter};
use crate::token::PUBLIC_ID_LEN;

/// Events in a page when the client names no `limit`.
pub const DEFAULT_PAGE: u32 = 100;
/// The most events in a page.
pub const MAX_PAGE: u32 = 1000;

/// A page request as a client gives it, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery<'a> {
    pub action: Option<AuditAction>,
    pub actor_type: Option<ActorType>,
    pub actor_id: Option<Uuid>,
    pub service_account_id: Option<Uuid>,
    pub token_public_id: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub before: Option<Uuid>,
}

impl AuditQuery<'_> {
    /// The filter this asks for: a limit from 1 to [`MAX_PAGE`], a token
    /// public id of the form tokens have, a time range that is not empty.
    pub fn parse(&self) -> Result<AuditFilter, ValidationError> {
        let limit = match self.limit {
            None => DEFAULT_PAGE,
            Some(limit @ 1..=MAX_PAGE) => limit,
            Some(other) => {
                return Err(ValidationError::new(
                    "limit",
                    format!("must be between 1 and {MAX_PAGE} (got {other})"),
                ));
            }
        };
        if let Some(id) = self.token_public_id
            && !(id.len() == PUBLIC_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ValidationError::new(
                "token_public_id",
                format!(
                    "must be a token's public id: the {PUBLIC_ID_LEN} letters and digits after \
                     `hbxsa_` (got {} characters)",
                    id.chars().count()
                ),
            ));
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            return Err(ValidationError::new(
                "until",
                "must be later than `since` (events at or after `since` and before `until` \
                 are listed)",
            ));
        }
        Ok(AuditFilter {
            action: self.action,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            service_account_id: self.service_account_id,
            token_public_id: self.token_public_id.map(str::to_owned),
            since: self.since,
            until: self.until,
            before: self.before,
            limit,
        })
    }
}

/// Reads an account's audit log.
#[derive(Clone)]
pub struct AuditLog {
    events: Arc<dyn AuditEventStore>,
}

impl AuditLog {
    pub fn new(events: Arc<dyn AuditEventStore>) -> Self {
        Self { events }
    }

    /// A page of `account_id`'s events, newest first. The caller has been
    /// authorized on the account (or is the operator).
    pub async fn page(
        &self,
        account_id: Uuid,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, ServiceError> {
        self.events
            .audit_page(account_id, filter)
            .await
            .map_err(page_error("before", "event"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_field(query: AuditQuery<'_>) -> &'static str {
        query.parse().expect_err("refused").field
    }

    /// Limits, token ids and time ranges are checked, each failure naming
    /// its field; what passes is carried into the filter unchanged.
    #[test]
    fn queries_are_checked_field_by_field() {
        let default = AuditQuery::default().parse().unwrap();
        assert_eq!(default.limit, DEFAULT_PAGE);
        for limit in [1, MAX_PAGE] {
            let query = AuditQuery {
                limit: Some(limit),
                ..Default::default()
            };
            assert_eq!(query.parse().unwrap().limit, limit);
        }
        for limit in [0, MAX_PAGE + 1] {
            let query = AuditQuery {
                limit: Some(limit),
                ..Default::default()
            };
            assert_eq!(refused_field(query), "limit");
        }
        let good = "AbCdEf0123456789";
        let query = AuditQuery {
            token_public_id: Some(good),
            ..Default::default()
        };
        assert_eq!(
            query.parse().unwrap().token_public_id.as_deref(),
            Some(good)
        );
        for bad in [
            "AbCdEf012345678",
            "AbCdEf01234567890",
            "AbCdEf012345678_",
            "ÀbCdEf01234567",
        ] {
            let query = AuditQuery {
                token_public_id: Some(bad),
                ..Default::default()
            };
            assert_eq!(refused_field(query), "token_public_id", "{bad}");
        }
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let later = at + chrono::TimeDelta::microseconds(1);
        let ok = AuditQuery {
            since: Some(at),
            until: Some(later),
            ..Default::default()
        };
        let parsed = ok.parse().unwrap();
        assert_eq!((parsed.since, parsed.until), (Some(at), Some(later)));
        for (since, until) in [(at, at), (later, at)] {
            let query = AuditQuery {
                since: Some(since),
                until: Some(until),
                ..Default::default()
            };
            assert_eq!(refused_field(query), "until");
        }
    }
}
