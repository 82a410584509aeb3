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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn lifetimes_are_described_in_their_largest_whole_unit() {
        for (seconds, words) in [
            (86_400 * 90, "90 days"),
            (86_400, "1 day"),
            (3_600 * 5, "5 hours"),
            (60, "1 minute"),
            (90, "90 seconds"),
            (1, "1 second"),
        ] {
            assert_eq!(describe(TimeDelta::seconds(seconds)), words);
        }
        assert_eq!(
            rfc3339(at("2030-01-02T03:04:05.5Z")),
            "2030-01-02T03:04:05.500Z"
        );
    }

    /// Each bound at its edge: the instant itself, and one microsecond to
    /// either side.
    #[test]
    fn expiries_are_checked_at_their_edges() {
        let now = at("2030-01-01T00:00:00Z");
        let micro = TimeDelta::microseconds(1);
        let open = TokenPolicy::default();
        assert_eq!(parse_expiry(None, now, &open), Ok(None));
        assert_eq!(
            parse_expiry(Some(now + micro), now, &open),
            Ok(Some(now + micro))
        );
        let past = parse_expiry(Some(now), now, &open).unwrap_err();
        assert!(
            past.message.contains("2030-01-01T00:00:00Z"),
            "{}",
            past.message
        );
        let latest = latest_expiry();
        assert_eq!(parse_expiry(Some(latest), now, &open), Ok(Some(latest)));
        assert!(parse_expiry(Some(latest + TimeDelta::seconds(1)), now, &open).is_err());
        // A leap second (chrono's nanoseconds past 10^9) is refused.
        let leap = at("2030-06-30T23:59:59Z")
            .with_nanosecond(1_500_000_000)
            .unwrap();
        assert!(parse_expiry(Some(leap), now, &open).is_err());
        // With a maximum lifetime: required, and at most that far.
        let bounded = TokenPolicy {
            max_lifetime: Some(TimeDelta::days(90)),
            ..TokenPolicy::default()
        };
        let required = parse_expiry(None, now, &bounded).unwrap_err();
        assert!(required.message.contains("90 days"), "{}", required.message);
        let edge = now + TimeDelta::days(90);
        assert_eq!(parse_expiry(Some(edge), now, &bounded), Ok(Some(edge)));
        let beyond = parse_expiry(Some(edge + micro), now, &bounded).unwrap_err();
        assert!(
            beyond.message.contains("2030-04-01T00:00:00Z"),
            "{}",
            beyond.message
        );
    }

    #[test]
    fn grace_periods_are_whole_seconds_up_to_the_maximum() {
        let policy = TokenPolicy::default();
        assert_eq!(parse_grace(None, &policy), Ok(None));
        assert_eq!(parse_grace(Some(0), &policy), Ok(None));
        assert_eq!(
            parse_grace(Some(60), &policy),
            Ok(Some(TimeDelta::seconds(60)))
        );
        let max = u64::try_from(DEFAULT_MAX_ROTATION_GRACE.num_seconds()).unwrap();
        assert_eq!(
            parse_grace(Some(max), &policy),
            Ok(Some(DEFAULT_MAX_ROTATION_GRACE))
        );
        let over = parse_grace(Some(max + 1), &policy).unwrap_err();
        assert_eq!(over.field, "grace_period_seconds");
        assert!(over.message.contains("7 days"), "{}", over.message);
        assert!(parse_grace(Some(u64::MAX), &policy).is_err());
    }
}
