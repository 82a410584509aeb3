//! The OIDC issuers an account trusts for workload identity federation: a CI
//! platform (GitHub Actions, GitLab CI), a Kubernetes cluster, or any other
//! issuer, with where its signing keys are found and how long a token it
//! issues may live at most.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::names::{OperatorName, ValidationError};

words!(
    /// What kind of platform an issuer is: it decides which claim pins a rule
    /// to its owner, and which claims a minted token's provenance shows.
    ProviderKind, "kind" {
        GithubActions = "github_actions",
        GitlabCi = "gitlab_ci",
        Kubernetes = "kubernetes",
        Generic = "generic",
    }
);

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKeys {
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery,
    /// A JWKS at this https URL.
    JwksUrl(String),
    /// A JWKS given when the provider was registered (an issuer this server
    /// cannot reach), as its JSON text.
    Inline(String),
}

impl ProviderKeys {
    pub fn source(&self) -> &'static str {
        match self {
            ProviderKeys::Discovery => "discovery",
            ProviderKeys::JwksUrl(_) => "jwks_url",
            ProviderKeys::Inline(_) => "inline",
        }
    }
}

/// The longest a presented token may live (`exp − iat`) when not told
/// otherwise: one hour (CI platforms issue minutes; a year-long Kubernetes
/// service-account token is refused).
pub const DEFAULT_MAX_SUBJECT_TOKEN_LIFETIME_SECONDS: u32 = 3600;
/// The most a provider may allow: one day.
pub const MAX_SUBJECT_TOKEN_LIFETIME_SECONDS: u32 = 86_400;
/// The longest issuer or key URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// An issuer URL: https (plain http only on a loopback address, and only on
/// a server that allows it for tests), compared with a token's `iss` as an
/// exact string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(value: &str, allow_loopback_http: bool) -> Result<Self, ValidationError> {
        check_url("issuer", value, allow_loopback_http)?;
        Ok(Self(value.to_owned()))
    }

    /// An issuer read back from the store.
    pub fn stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks that `value` is an absolute https URL with a host, no credentials
/// and no fragment (http only on loopback when `allow_loopback_http`).
pub fn check_url(
    field: &'static str,
    value: &str,
    allow_loopback_http: bool,
) -> Result<(), ValidationError> {
    let invalid = |why: &str| ValidationError::new(field, why.to_owned());
    if value.is_empty() || value.chars().count() > MAX_URL_CHARS {
        return Err(invalid("must be an https URL of at most 2048 characters"));
    }
    if value.chars().any(char::is_control) || value.contains(' ') {
        return Err(invalid("must not contain spaces or control characters"));
    }
    let parsed = url::Url::parse(value).map_err(|_| {
        invalid(
            "must be an absolute https URL, such as https://token.actions.githubusercontent.com",
        )
    })?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => return Err(invalid("must name a host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback_http => {}
        _ => {
            return Err(invalid(
                "must be an https URL: keys fetched in clear text could be replaced on the way",
            ));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    Ok(())
}

/// An identity provider registered in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityProvider {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: OperatorName,
    pub issuer: Issuer,
    pub kind: ProviderKind,
    pub keys: ProviderKeys,
    pub max_subject_token_lifetime_seconds: u32,
    pub created_at: DateTime<Utc>,
}

/// Checks a provider's maximum presented-token lifetime.
pub fn check_max_lifetime(seconds: u32) -> Result<u32, ValidationError> {
    if !(1..=MAX_SUBJECT_TOKEN_LIFETIME_SECONDS).contains(&seconds) {
        return Err(ValidationError::new(
            "max_subject_token_lifetime_seconds",
            format!("must be between 1 and {MAX_SUBJECT_TOKEN_LIFETIME_SECONDS} (one day)"),
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_urls_with_a_host() {
        assert!(Issuer::parse("https://token.actions.githubusercontent.com", false).is_ok());
        assert!(Issuer::parse("https://gitlab.example.com", false).is_ok());
        for bad in [
            "",
            "token.actions.githubusercontent.com",
            "http://gitlab.example.com",
            "http://127.0.0.1:8080",
            "https://user:pw@example.com",
            "https://example.com/#x",
            "https://exa mple.com",
            "ftp://example.com",
        ] {
            let error = Issuer::parse(bad, false).unwrap_err();
            assert_eq!(error.field, "issuer", "{bad}");
        }
        assert!(Issuer::parse("http://127.0.0.1:8080", true).is_ok());
        assert!(Issuer::parse("http://localhost:8080/x", true).is_ok());
        assert!(Issuer::parse("http://10.0.0.1", true).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(Issuer::parse(&long, false).is_err());
    }

    #[test]
    fn lifetimes_are_bounded_by_a_day() {
        assert_eq!(check_max_lifetime(1).unwrap(), 1);
        assert_eq!(check_max_lifetime(86_400).unwrap(), 86_400);
        assert!(check_max_lifetime(0).is_err());
        assert!(check_max_lifetime(86_401).is_err());
    }
}
