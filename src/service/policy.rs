//! The operator's rules for tokens (maximum lifetime, longest rotation
//! grace) and the checks of requested times against them.

use chrono::{DateTime, SecondsFormat, TimeDelta, Timelike, Utc};

use crate::clock::truncate_to_micros;
use crate::domain::ValidationError;

/// The longest rotation grace period when not told otherwise: 7 days.
pub const DEFAULT_MAX_ROTATION_GRACE: TimeDelta = TimeDelta::days(7);

/// Server-wide rules for tokens, set by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// If set, every new service account must have an `expires_at`, at most
    /// this far in the future.
    pub max_lifetime: Option<TimeDelta>,
    /// The longest grace period a rotation may give the replaced token.
    pub max_rotation_grace: TimeDelta,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            max_lifetime: None,
            max_rotation_grace: DEFAULT_MAX_ROTATION_GRACE,
        }
    }
}

/// A requested `expires_at`, checked at `now` against `policy`: in the
/// future, no leap second, readable by every RFC 3339 parser, within the
/// maximum lifetime (and present if there is one); truncated to microseconds.
pub fn parse_expiry(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &TokenPolicy,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    if let Some(requested) = requested {
        // chrono keeps a leap second as a nanosecond count past 10^9.
        if requested.nanosecond() >= 1_000_000_000 {
            return Err(ValidationError::new(
                "expires_at",
                "must not be a leap second (:60): use the next second",
            ));
        }
        if requested > latest_expiry() {
            return Err(ValidationError::new(
                "expires_at",
                "must be no later than 9999-12-31T23:59:59Z (a four-digit year, which \
                 every RFC 3339 parser can read back)",
            ));
        }
    }
    let requested = requested.map(truncate_to_micros);
    let Some(expires_at) = requested else {
        return match policy.max_lifetime {
            None => Ok(None),
            Some(max) => Err(ValidationError::new(
                "expires_at",
                format!(
                    "is required by this server: tokens may live at most {}",
                    describe(max)
                ),
            )),
        };
    };
    if expires_at <= now {
        return Err(ValidationError::new(
            "expires_at",
            format!(
                "must be in the future (got {}, the server's time is {})",
                rfc3339(expires_at),
                rfc3339(now)
            ),
        ));
    }
    if let Some(max) = policy.max_lifetime
        && let Some(latest) = now.checked_add_signed(max)
        && expires_at > latest
    {
        return Err(ValidationError::new(
            "expires_at",
            format!(
                "must be at most {} from now, that is no later than {}",
                describe(max),
                rfc3339(latest)
            ),
        ));
    }
    Ok(Some(expires_at))
}

/// The latest `expires_at` accepted: RFC 3339 has four-digit years, and
/// clients' parsers (Python's, JavaScript's) refuse anything later.
pub fn latest_expiry() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z")
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A lifetime in the largest whole unit that expresses it.
pub fn describe(lifetime: TimeDelta) -> String {
    let seconds = lifetime.num_seconds();
    let (value, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}

/// A grace period asked for, in whole seconds, within `policy`'s maximum;
/// none for 0 (the old token stops at once).
pub fn parse_grace(
    seconds: Option<u64>,
    policy: &TokenPolicy,
) -> Result<Option<TimeDelta>, ValidationError> {
    let max = policy.max_rotation_grace;
    match seconds {
        None | Some(0) => Ok(None),
        // `try_seconds`: a count past what a duration can hold is refused
        // like any other count over the maximum, not a panic.
        Some(seconds) => i64::try_from(seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .filter(|grace| *grace <= max)
            .map(Some)
            .ok_or_else(|| {
                ValidationError::new(
                    "grace_period_seconds",
                    format!(
                        "must be at most {} ({} seconds, this server's \
                         --max-rotation-grace); got {seconds}",
                        describe(max),
                        max.num_seconds()
                    ),
                )
            }),
    }
}
