//! Settings, in one typed place, and the defaults they start from. The command
//! line (`crate::cli`) fills them from flags and `HBX_SA_*` variables; tests
//! build them directly.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use chrono::TimeDelta;

use crate::auth::last_use;
use crate::auth::leaks::{DEFAULT_REFETCH_INTERVAL, GITHUB_KEYS_URL};
use crate::auth::oauth::OAuthSettings;
use crate::service::TokenPolicy;
use crate::service::idempotency;
use crate::service::leaks::LeakAction;
use crate::token::TokenPrefix;

/// Where the server listens when not told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Where state lives when not told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./hbx-sa-data";
/// The token key file's name inside the data directory.
pub const TOKEN_KEY_FILE: &str = "token-keys";
/// How long an operation waits for the database when not told otherwise.
pub const DEFAULT_DATABASE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long in-flight requests may go on after a stop signal when not told
/// otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a verified credential's stored facts may be reused when not told
/// otherwise: the bound on how long a change made by another process can go
/// unseen (contract §6).
pub const DEFAULT_CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(1);

/// Where state lives, how tokens are minted and what rules they follow.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Holds the SQLite database and, unless `token_key_file` says otherwise,
    /// the token key file. Created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// A key file to use instead of `<data_dir>/token-keys`. It must exist.
    pub token_key_file: Option<PathBuf>,
    pub token_prefix: TokenPrefix,
    /// A PostgreSQL database to use instead of SQLite in the data directory.
    /// Every instance sharing it must share the token key file too.
    pub database_url: Option<String>,
    /// A URL beside `database_url` that bypasses the transaction pooler it
    /// goes through: migrations and hearing other instances' changes.
    pub database_direct_url: Option<String>,
    /// Connections each process keeps to PostgreSQL at most.
    pub database_max_connections: u32,
    /// How long an operation waits for the database (a connection, SQLite's
    /// write lock, or PostgreSQL's answer) before it fails with 503
    /// `unavailable`.
    pub database_timeout: Duration,
    /// How long what verifying a credential read from the store is reused;
    /// zero turns the cache off. Changes made through this process are seen
    /// at once, changes made elsewhere within this time.
    pub credential_cache_ttl: Duration,
    /// Rules for new tokens (maximum lifetime, longest rotation grace).
    pub token_policy: TokenPolicy,
    /// How long an idempotency key and its recorded response are kept.
    pub idempotency_retention: TimeDelta,
    /// `last_used_at` is written at most once per token per this interval.
    pub last_use_interval: TimeDelta,
    /// How long noted uses gather before they are written together (not a
    /// flag: a test sets it long to see that shutdown writes them).
    pub last_use_flush_delay: Duration,
    /// Trusted OAuth issuers (none: only service-account tokens are accepted).
    pub oauth: OAuthSettings,
    /// Also trust the local development key (`hbx-sa dev-token`). Not for
    /// production.
    pub oauth_dev: bool,
    /// Take identity providers whose issuer or key URL is plain http on a
    /// loopback address (tests and development only: never in production).
    pub federation_allow_loopback_issuers: bool,
    /// Federation exchanges let in per client address.
    pub exchange_rate_per_address: Rate,
    /// Federation exchanges let in per service account.
    pub exchange_rate_per_service_account: Rate,
    /// How leaked tokens are taken in.
    pub secret_scanning: SecretScanningSettings,
    /// The role table (none: the one shipped with the server).
    pub roles_file: Option<PathBuf>,
    /// Where webhook deliveries may go, and how they are sent.
    pub webhooks: WebhookSettings,
}

/// Lifecycle webhooks: where deliveries may go beyond public addresses, and
/// how this instance's delivery worker and expiry scan run.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Plain http and loopback addresses (tests and development only).
    pub allow_loopback_http: bool,
    /// Networks deliveries may reach though they are private.
    pub allow_networks: Vec<ipnet::IpNet>,
    pub delivery: crate::service::webhook_delivery::DeliverySettings,
    /// How often tokens are scanned for expiry warnings.
    pub expiry_scan_interval: Duration,
    /// Whether this instance delivers (and scans, and purges the log).
    pub run_workers: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback_http: false,
            allow_networks: Vec::new(),
            delivery: Default::default(),
            expiry_scan_interval: DEFAULT_WEBHOOK_EXPIRY_SCAN_INTERVAL,
            run_workers: true,
        }
    }
}

/// How often tokens are scanned for expiry warnings when not told otherwise.
pub const DEFAULT_WEBHOOK_EXPIRY_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// How leaked tokens are taken in: whose signed reports, what is done with
/// them, and how the public revocation endpoint is bounded.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretScanningSettings {
    /// Where GitHub publishes its signing keys (none: its reports are refused).
    pub github_keys_url: Option<String>,
    /// Where GitLab's signing keys are (none: its reports are refused).
    pub gitlab_keys_url: Option<String>,
    /// Least time between two fetches of a partner's keys (a report naming
    /// an unknown key triggers one).
    pub keys_refetch_interval: Duration,
    pub action: LeakAction,
    /// Public revocation requests allowed per client address.
    pub public_revoke_rate: Rate,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, proxies).
    pub trusted_proxies: Vec<TrustedProxy>,
    /// IPv6 clients of the public revocation endpoint are limited by
    /// network: the first this many bits of their address.
    pub public_revoke_ipv6_prefix: u8,
}

impl Default for SecretScanningSettings {
    fn default() -> Self {
        Self {
            github_keys_url: Some(GITHUB_KEYS_URL.to_owned()),
            gitlab_keys_url: None,
            keys_refetch_interval: DEFAULT_REFETCH_INTERVAL,
            action: LeakAction::default(),
            public_revoke_rate: DEFAULT_PUBLIC_REVOKE_RATE,
            trusted_proxies: Vec::new(),
            public_revoke_ipv6_prefix: DEFAULT_PUBLIC_REVOKE_IPV6_PREFIX,
        }
    }
}

/// The IPv6 prefix length the public revocation endpoint limits clients by
/// when not told otherwise: the network a single subscriber is commonly
/// given (one client with a /64 could otherwise take a fresh address for
/// every request).
pub const DEFAULT_PUBLIC_REVOKE_IPV6_PREFIX: u8 = 64;

/// Public revocation requests per client address when not told otherwise.
pub const DEFAULT_PUBLIC_REVOKE_RATE: Rate = Rate {
    requests: 10,
    per: Duration::from_secs(60),
};

/// Federation exchanges per client address when not told otherwise: a CI
/// fan-out behind one NAT address fits (1000 a minute, all at once if need
/// be).
pub const DEFAULT_EXCHANGE_RATE_PER_ADDRESS: Rate = Rate {
    requests: 1000,
    per: Duration::from_secs(60),
};

/// Federation exchanges per service account when not told otherwise.
pub const DEFAULT_EXCHANGE_RATE_PER_SERVICE_ACCOUNT: Rate = Rate {
    requests: 600,
    per: Duration::from_secs(60),
};

/// So many requests per so long (`10/1m`): at most `requests` at once, and
/// then one more every `per / requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!("{text:?} is not a rate: write requests/duration, as in 10/1m (ten a minute)")
        };
        let (requests, per) = text.split_once('/').ok_or_else(invalid)?;
        let requests: u32 = requests.trim().parse().map_err(|_| invalid())?;
        let per = parse_duration(per.trim())
            .map_err(|_| invalid())?
            .to_std()
            .map_err(|_| invalid())?;
        if requests == 0 || per.is_zero() {
            return Err(invalid());
        }
        Ok(Self { requests, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, HumanDuration::from_std(self.per))
    }
}

/// A peer trusted to say who its client is: an address (`10.0.0.7`) or a
/// network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl TrustedProxy {
    pub fn contains(&self, address: &std::net::IpAddr) -> bool {
        self.0.contains(address)
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| {
                format!("{text:?} is not an address or a network: write 10.0.0.7 or 10.0.0.0/8")
            })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Settings {
    /// The defaults, with state in `data_dir`.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            token_key_file: None,
            token_prefix: TokenPrefix::default(),
            database_url: None,
            database_direct_url: None,
            database_max_connections: crate::store::postgres::DEFAULT_MAX_CONNECTIONS,
            database_timeout: DEFAULT_DATABASE_TIMEOUT,
            credential_cache_ttl: DEFAULT_CREDENTIAL_CACHE_TTL,
            token_policy: TokenPolicy::default(),
            idempotency_retention: idempotency::DEFAULT_RETENTION,
            last_use_interval: last_use::DEFAULT_INTERVAL,
            last_use_flush_delay: last_use::FLUSH_DELAY,
            oauth: OAuthSettings::default(),
            oauth_dev: false,
            federation_allow_loopback_issuers: false,
            exchange_rate_per_address: DEFAULT_EXCHANGE_RATE_PER_ADDRESS,
            exchange_rate_per_service_account: DEFAULT_EXCHANGE_RATE_PER_SERVICE_ACCOUNT,
            secret_scanning: SecretScanningSettings::default(),
            roles_file: None,
            webhooks: WebhookSettings::default(),
        }
    }
}

const MAX_DURATION_SECONDS: i64 = 100 * 365 * 86_400;

/// A duration as operators write it: a whole number and a unit (`90d`, `12h`,
/// `30m`, `45s`). Shown in the largest unit that expresses it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub TimeDelta);

impl HumanDuration {
    /// The same duration; durations this service configures are whole seconds.
    pub const fn from_std(duration: Duration) -> Self {
        Self(TimeDelta::seconds(duration.as_secs() as i64))
    }

    /// As a standard duration (zero for a negative one, which parsing refuses).
    pub fn to_std(self) -> Duration {
        self.0.to_std().unwrap_or(Duration::ZERO)
    }
}

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_duration(text).map(Self)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.num_seconds();
        let (value, unit) = match seconds {
            0 => (0, "s"),
            s if s % 86_400 == 0 => (s / 86_400, "d"),
            s if s % 3_600 == 0 => (s / 3_600, "h"),
            s if s % 60 == 0 => (s / 60, "m"),
            s => (s, "s"),
        };
        write!(f, "{value}{unit}")
    }
}

/// A duration that may also be zero (`0s`), such as a tolerance.
pub fn parse_tolerance(text: &str) -> Result<HumanDuration, String> {
    if text.trim_end_matches(['s', 'm', 'h', 'd']) == "0" {
        return Ok(HumanDuration(TimeDelta::zero()));
    }
    text.parse()
}

/// Parses a duration written as a whole number and a unit: `90d`, `12h`, `30m`,
/// `45s`. Zero and negative durations are refused.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let invalid = || {
        format!("{text:?} is not a duration: write a number and a unit (s, m, h or d), as in 90d")
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    let seconds = number.checked_mul(seconds_per_unit).ok_or_else(invalid)?;
    if seconds == 0 {
        return Err(format!("{text:?} is zero: a duration must be positive"));
    }
    if seconds > MAX_DURATION_SECONDS {
        return Err(format!("{text:?} is more than 100 years"));
    }
    TimeDelta::try_seconds(seconds).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Ok(TimeDelta::days(90)));
        assert_eq!(parse_duration("12h"), Ok(TimeDelta::hours(12)));
        assert_eq!(parse_duration("30m"), Ok(TimeDelta::minutes(30)));
        assert_eq!(parse_duration("45s"), Ok(TimeDelta::seconds(45)));
        for bad in [
            "",
            "d",
            "90",
            "1.5h",
            "-1d",
            "0s",
            "90 d",
            "1w",
            "99999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_display_as_they_parse() {
        for text in ["60s", "1m", "90d", "36h", "45s", "0s"] {
            let parsed = parse_tolerance(text).unwrap();
            assert_eq!(parse_tolerance(&parsed.to_string()), Ok(parsed), "{text}");
        }
        assert_eq!(HumanDuration(TimeDelta::seconds(60)).to_string(), "1m");
        assert_eq!(HumanDuration(TimeDelta::seconds(90)).to_string(), "90s");
        assert!("0s".parse::<HumanDuration>().is_err());
    }
}
