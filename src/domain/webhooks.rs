//! Lifecycle webhooks: what an account subscribes to (event types by name
//! or `prefix.*`), where deliveries go (an https URL), when expiry warnings
//! fire (durations before a token's `expires_at`), the signing secret
//! (`whsec_` + base64 of 32 random bytes) and the Standard Webhooks 1.0
//! signature made with it, and the retry schedule of a delivery.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::names::ValidationError;

words!(
    /// Every kind of event a subscription can receive.
    WebhookEventType, "event_types" {
        ServiceAccountCreated = "service_account.created",
        TokenRotated = "token.rotated",
        TokenRevoked = "token.revoked",
        TokenLeaked = "token.leaked",
        TokenExpiring = "token.expiring",
        TokenExpired = "token.expired",
        TokenPreviousExpired = "token.previous_expired",
        AuthorizationCreated = "authorization.created",
        AuthorizationRevoked = "authorization.revoked",
        FederationRuleCreated = "federation_rule.created",
        FederationRuleDeleted = "federation_rule.deleted",
        FederationExchangeDenied = "federation.exchange_denied",
        WebhookDisabled = "webhook.disabled",
        WebhookPing = "webhook.ping",
    }
);

impl WebhookEventType {
    /// The part before the dot: what `prefix.*` names.
    pub fn prefix(&self) -> &'static str {
        let name = self.as_str();
        &name[..name.find('.').unwrap_or(name.len())]
    }
}

/// The most event type filters, expiry warnings and URL characters taken.
pub const MAX_EVENT_TYPE_FILTERS: usize = 32;
pub const MAX_EXPIRY_WARNINGS: usize = 10;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The longest expiry warning: a year before `expires_at`.
pub const MAX_EXPIRY_WARNING_SECONDS: u32 = 365 * 86_400;
/// The warnings a subscription gets when it names none: 30, 7 and 1 days.
pub const DEFAULT_EXPIRY_WARNINGS: [u32; 3] = [30 * 86_400, 7 * 86_400, 86_400];

/// One entry of a subscription's `event_types`: a name, or every event
/// whose name starts with `prefix.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTypeFilter {
    Exactly(WebhookEventType),
    Prefix(&'static str),
}

impl EventTypeFilter {
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if let Some(prefix) = text.strip_suffix(".*") {
            return WebhookEventType::ALL
                .iter()
                .map(WebhookEventType::prefix)
                .find(|known| *known == prefix)
                .map(EventTypeFilter::Prefix)
                .ok_or_else(|| {
                    let mut known: Vec<&str> =
                        WebhookEventType::ALL.iter().map(|t| t.prefix()).collect();
                    known.dedup();
                    ValidationError::new(
                        "event_types",
                        format!(
                            "names an unknown prefix `{}`: use one of {}, followed by `.*`",
                            text.chars().take(64).collect::<String>(),
                            known.join(", ")
                        ),
                    )
                });
        }
        WebhookEventType::parse(text).map(EventTypeFilter::Exactly)
    }

    pub fn matches(&self, event: WebhookEventType) -> bool {
        match self {
            EventTypeFilter::Exactly(name) => *name == event,
            EventTypeFilter::Prefix(prefix) => event.prefix() == *prefix,
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            EventTypeFilter::Exactly(name) => name.as_str().to_owned(),
            EventTypeFilter::Prefix(prefix) => format!("{prefix}.*"),
        }
    }

    /// A subscription's filters: 1 to 32, none twice.
    pub fn parse_list(texts: &[String]) -> Result<Vec<Self>, ValidationError> {
        if texts.is_empty() || texts.len() > MAX_EVENT_TYPE_FILTERS {
            return Err(ValidationError::new(
                "event_types",
                "must list 1 to 32 event types (names, or `prefix.*` such as `token.*`)",
            ));
        }
        let mut filters = Vec::with_capacity(texts.len());
        for text in texts {
            let filter = Self::parse(text)?;
            if filters.contains(&filter) {
                return Err(ValidationError::new(
                    "event_types",
                    format!("lists `{}` twice", filter.to_text()),
                ));
            }
            filters.push(filter);
        }
        Ok(filters)
    }
}

/// A duration before a token's `expires_at` at which a `token.expiring`
/// warning fires, written `<n>d`, `<n>h`, `<n>m` or `<n>s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpiryWarning(u32);

impl ExpiryWarning {
    pub fn from_seconds(seconds: u32) -> Option<Self> {
        (1..=MAX_EXPIRY_WARNING_SECONDS)
            .contains(&seconds)
            .then_some(Self(seconds))
    }

    pub fn seconds(&self) -> u32 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "expiry_warnings",
                format!(
                    "`{}` is not a duration of 1s to 365d: write a whole number and a unit, \
                     such as 30d, 12h, 15m or 90s",
                    text.chars().take(32).collect::<String>()
                ),
            )
        };
        let unit = text.chars().last().ok_or_else(invalid)?;
        let factor = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let number = &text[..text.len() - 1];
        if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let count: u32 = number.parse().map_err(|_| invalid())?;
        count
            .checked_mul(factor)
            .and_then(Self::from_seconds)
            .ok_or_else(invalid)
    }

    /// The largest whole unit: `30d`, `36h`, `90s`.
    pub fn to_text(&self) -> String {
        let seconds = self.0;
        for (factor, unit) in [(86_400, 'd'), (3_600, 'h'), (60, 'm')] {
            if seconds.is_multiple_of(factor) {
                return format!("{}{unit}", seconds / factor);
            }
        }
        format!("{seconds}s")
    }

    /// A subscription's warnings, longest first; none given means the
    /// defaults (30d, 7d, 1d); an empty list means no warnings.
    pub fn parse_list(texts: Option<&[String]>) -> Result<Vec<Self>, ValidationError> {
        let Some(texts) = texts else {
            return Ok(DEFAULT_EXPIRY_WARNINGS.map(Self).to_vec());
        };
        if texts.len() > MAX_EXPIRY_WARNINGS {
            return Err(ValidationError::new(
                "expiry_warnings",
                "must list at most 10 durations",
            ));
        }
        let mut warnings = texts
            .iter()
            .map(|text| Self::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        warnings.sort_by(|a, b| b.cmp(a));
        if warnings.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(ValidationError::new(
                "expiry_warnings",
                "lists one duration twice",
            ));
        }
        Ok(warnings)
    }
}

/// Why a subscription receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledReason {
    /// Through the disable operation.
    Requested,
    /// Its endpoint answered 410 Gone.
    Gone,
    /// Every delivery of an event failed for the whole retry period.
    Failing,
}

impl DisabledReason {
    pub const ALL: [DisabledReason; 3] = [Self::Requested, Self::Gone, Self::Failing];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Gone => "gone",
            Self::Failing => "failing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A subscription to an account's lifecycle events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    pub account_id: Uuid,
    pub url: String,
    pub event_types: Vec<EventTypeFilter>,
    pub description: Option<String>,
    pub expiry_warnings: Vec<ExpiryWarning>,
    pub disabled: Option<(DateTime<Utc>, DisabledReason)>,
    pub created_at: DateTime<Utc>,
}

impl Webhook {
    /// Whether events of `event` type are sent to it (pings always are).
    pub fn wants(&self, event: WebhookEventType) -> bool {
        event == WebhookEventType::WebhookPing || self.event_types.iter().any(|f| f.matches(event))
    }
}

/// Checks a description: at most 1000 characters, no control characters
/// other than line breaks and tabs.
pub fn check_description(description: Option<String>) -> Result<Option<String>, ValidationError> {
    let Some(text) = description else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::new(
            "description",
            "must be at most 1000 characters",
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(ValidationError::new(
            "description",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(Some(text))
}

/// A subscription's signing secret: 32 random bytes, shown as `whsec_` and
/// their base64.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret([u8; 32]);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

pub const SECRET_PREFIX: &str = "whsec_";

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
        Self(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `whsec_` and the base64 of the bytes: what a receiver configures.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0))
    }

    /// `v1,` and the base64 HMAC-SHA-256 of `id.timestamp.body`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        use hmac::{KeyInit as _, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0)
            .expect("HMAC accepts any key length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// How long a previous secret keeps signing after a rotation.
pub const PREVIOUS_SECRET_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The Standard Webhooks retry schedule: the wait before each attempt after
/// the first (which is immediate); the last wait repeats.
pub const RETRY_SCHEDULE: [Duration; 7] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long an event is retried before it is given up.
pub const RETRY_PERIOD: Duration = Duration::from_secs(3 * 86_400);

/// The wait after `attempts` failed attempts, before jitter.
pub fn retry_delay(attempts: u32) -> Duration {
    let index = usize::try_from(attempts).unwrap_or(usize::MAX);
    RETRY_SCHEDULE[index.min(RETRY_SCHEDULE.len() - 1)]
}

/// `delay` moved by up to ±20 %; `unit` in [0, 1) picks where.
pub fn with_jitter(delay: Duration, unit: f64) -> Duration {
    delay.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_filters_take_names_and_known_prefixes() {
        let token = EventTypeFilter::parse("token.*").unwrap();
        assert!(token.matches(WebhookEventType::TokenExpiring));
        assert!(!token.matches(WebhookEventType::ServiceAccountCreated));
        let exact = EventTypeFilter::parse("token.revoked").unwrap();
        assert!(exact.matches(WebhookEventType::TokenRevoked));
        assert!(!exact.matches(WebhookEventType::TokenRotated));
        let federation = EventTypeFilter::parse("federation.*").unwrap();
        assert!(federation.matches(WebhookEventType::FederationExchangeDenied));
        assert!(!federation.matches(WebhookEventType::FederationRuleCreated));
        for bad in [
            "",
            "*",
            "token",
            "token.",
            "tokens.*",
            "Token.revoked",
            ".*",
            "token.**",
        ] {
            assert!(EventTypeFilter::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(token.to_text(), "token.*");
        let twice = vec!["token.*".to_owned(), "token.*".to_owned()];
        assert!(EventTypeFilter::parse_list(&twice).is_err());
        assert!(EventTypeFilter::parse_list(&[]).is_err());
        let many: Vec<String> = vec!["token.rotated".to_owned(); 33];
        assert!(EventTypeFilter::parse_list(&many).is_err());
    }

    #[test]
    fn expiry_warnings_are_durations_read_back_as_written() {
        for (text, seconds) in [
            ("30d", 2_592_000),
            ("36h", 129_600),
            ("90s", 90),
            ("15m", 900),
        ] {
            let warning = ExpiryWarning::parse(text).unwrap();
            assert_eq!(warning.seconds(), seconds);
            assert_eq!(warning.to_text(), text);
        }
        assert_eq!(ExpiryWarning::parse("60s").unwrap().to_text(), "1m");
        assert_eq!(ExpiryWarning::parse("365d").unwrap().seconds(), 31_536_000);
        for bad in [
            "",
            "d",
            "0s",
            "366d",
            "1.5d",
            "-1d",
            "1w",
            "1 d",
            "99999999999s",
            "１d",
        ] {
            assert!(ExpiryWarning::parse(bad).is_err(), "{bad:?}");
        }
        let defaults = ExpiryWarning::parse_list(None).unwrap();
        let texts: Vec<String> = defaults.iter().map(ExpiryWarning::to_text).collect();
        assert_eq!(texts, ["30d", "7d", "1d"]);
        assert_eq!(ExpiryWarning::parse_list(Some(&[])).unwrap(), vec![]);
        let given = ["10s".to_owned(), "1m".to_owned()];
        let sorted = ExpiryWarning::parse_list(Some(&given)).unwrap();
        assert_eq!(sorted[0].seconds(), 60);
        let twice = ["60s".to_owned(), "1m".to_owned()];
        assert!(ExpiryWarning::parse_list(Some(&twice)).is_err());
        let eleven = vec!["1s".to_owned(); 11];
        assert!(ExpiryWarning::parse_list(Some(&eleven)).is_err());
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        let secret = SigningSecret::generate();
        assert!(secret.reveal().starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret.reveal()[6..]).unwrap(), secret.0);
        let one = secret.sign("msg_1", 1_700_000_000, b"{}");
        assert!(one.starts_with("v1,"));
        assert_ne!(one, secret.sign("msg_2", 1_700_000_000, b"{}"));
        assert_ne!(one, secret.sign("msg_1", 1_700_000_001, b"{}"));
        assert_ne!(one, secret.sign("msg_1", 1_700_000_000, b"{ }"));
        assert_ne!(SigningSecret::generate(), secret);
        assert_eq!(format!("{secret:?}"), "SigningSecret(..)");
    }

    #[test]
    fn the_retry_schedule_is_standard_webhooks_with_jitter() {
        assert_eq!(retry_delay(0), Duration::ZERO);
        assert_eq!(retry_delay(1), Duration::from_secs(5));
        assert_eq!(retry_delay(6), Duration::from_secs(36_000));
        assert_eq!(retry_delay(40), Duration::from_secs(36_000));
        let base = Duration::from_secs(100);
        assert_eq!(with_jitter(base, 0.0), Duration::from_secs(80));
        assert_eq!(with_jitter(base, 0.5), Duration::from_secs(100));
        assert_eq!(with_jitter(base, 1.0), Duration::from_secs(120));
    }

    #[test]
    fn descriptions_are_bounded_and_printable() {
        assert_eq!(check_description(None).unwrap(), None);
        let max = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert!(check_description(Some(max.clone())).is_ok());
        assert!(check_description(Some(format!("{max}x"))).is_err());
        assert!(check_description(Some("a\nb\tc".into())).is_ok());
        assert!(check_description(Some("a\u{7}b".into())).is_err());
    }
}
