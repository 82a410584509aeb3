//! The OAuth scheme: signed JWT access tokens (RFC 9068 style) from trusted
//! issuers, whose `sub` (a UUID) is the user.
//!
//! A token is checked in this order: its form; its header's algorithm (RS256,
//! ES256 or EdDSA only: never `none`, never an HMAC); its `iss`, which must be a
//! configured issuer exactly; its signature, under a key that issuer publishes
//! for that algorithm; then `aud` (one of the issuer's audiences), `exp`
//! (required) and `nbf`, with a small leeway for clock skew; then `sub`.

pub mod dev;
pub mod groups;
pub mod keys;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::keys::{IssuerKeys, JwksLocation};
use super::principal::{AuthError, CredentialFacts, Principal, Refusal, Verified};
use super::published::{InsecureUrl, RefreshPolicy, require_https};
use super::scheme::{AuthnScheme, SchemeResult};
use crate::clock::Clock;

/// Algorithms a token may be signed with.
pub const ACCEPTED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// One trusted authorization server.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// Compared exactly with each token's `iss`.
    pub issuer: String,
    /// A token's `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    pub keys: JwksLocation,
}

/// Clock skew tolerated on a token's `exp` and `nbf` when not told otherwise.
pub const DEFAULT_LEEWAY: TimeDelta = TimeDelta::seconds(30);

/// The OAuth configuration of a server; no issuers means OAuth is off.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub issuers: Vec<IssuerSettings>,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: TimeDelta,
    pub key_policy: RefreshPolicy,
    /// The claim that lists a user's groups.
    pub groups_claim: String,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            key_policy: keys::default_policy(),
            groups_claim: groups::DEFAULT_GROUPS_CLAIM.to_owned(),
        }
    }
}

struct TrustedIssuer {
    issuer: String,
    audiences: Vec<String>,
    keys: Arc<IssuerKeys>,
}

pub struct OAuthAuthenticator {
    issuers: Vec<TrustedIssuer>,
    leeway: TimeDelta,
    groups_claim: String,
    clock: Arc<dyn Clock>,
    /// Tokens whose signature and claims passed, by SHA-256 of the token, so
    /// that a token used again costs a hash instead of a signature check. Its
    /// times are checked against the clock on every use.
    verified: moka::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
}

/// A token that passed every check but the clock's.
struct VerifiedToken {
    verified: Verified,
    expires_at: DateTime<Utc>,
    not_before: Option<DateTime<Utc>>,
}

/// How long a verified token is remembered at most (it is also checked
/// against its `exp` on every use).
const VERIFIED_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How many verified tokens are remembered at most.
const VERIFIED_TOKEN_CAPACITY: u64 = 100_000;

/// The claims this service reads. Anything else in the token is ignored.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<serde_json::Number>,
    nbf: Option<serde_json::Number>,
    iat: Option<serde_json::Number>,
    /// Keycloak's token type claim (`Bearer` for access tokens).
    typ: Option<String>,
    /// Every other claim: the groups claim is among them, by its configured
    /// name.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// Header `typ` values an access token may carry (RFC 9068 says `at+jwt`;
/// Keycloak and many others say `JWT`; absent is common too).
const ACCESS_TOKEN_HEADER_TYPES: [&str; 3] = ["JWT", "at+jwt", "application/at+jwt"];
/// Keycloak's `typ` claim on tokens that are not access tokens.
const NOT_ACCESS_TOKENS: [&str; 3] = ["ID", "Refresh", "Logout"];

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, accepted: &[String]) -> bool {
        match self {
            Audience::One(aud) => accepted.contains(aud),
            Audience::Many(auds) => auds.iter().any(|aud| accepted.contains(aud)),
        }
    }
}

/// The issuer named in a token, read before anything is verified: it only
/// chooses which issuer's keys to verify with.
#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

impl OAuthAuthenticator {
    /// An authenticator trusting the configured issuers, or none if there are
    /// none. Issuers and JWKS URLs must be https (plain http only on a
    /// loopback address, for tests and development).
    pub fn new(
        settings: &OAuthSettings,
        clock: Arc<dyn Clock>,
        log: &slog::Logger,
    ) -> Result<Option<Self>, InsecureUrl> {
        if settings.issuers.is_empty() {
            return Ok(None);
        }
        for issuer in &settings.issuers {
            // An issuer that is an http URL is fetched from only on loopback
            // (schemes are case-insensitive: `HTTP://` is http too).
            let plain_http = issuer
                .issuer
                .get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http:"));
            if plain_http || matches!(issuer.keys, JwksLocation::Discover) {
                require_https(&issuer.issuer, "the OAuth issuer")?;
            }
            if let JwksLocation::JwksUrl(url) = &issuer.keys {
                require_https(url, "the JWKS URL")?;
            }
        }
        let issuers = settings
            .issuers
            .iter()
            .map(|issuer| TrustedIssuer {
                issuer: issuer.issuer.clone(),
                audiences: issuer.audiences.clone(),
                keys: Arc::new(keys::issuer_keys(
                    issuer.issuer.clone(),
                    issuer.keys.clone(),
                    settings.key_policy,
                    clock.clone(),
                    log.new(
                        slog::o!("component" => "oauth_keys", "issuer" => issuer.issuer.clone()),
                    ),
                )),
            })
            .collect();
        Ok(Some(Self {
            issuers,
            leeway: settings.leeway,
            groups_claim: settings.groups_claim.clone(),
            clock,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKEN_CAPACITY)
                .time_to_live(VERIFIED_TOKEN_TTL)
                .build(),
        }))
    }

    /// Whether `credential` has a JWT's form: three base64url parts.
    pub fn recognizes(credential: &str) -> bool {
        credential.split('.').count() == 3
    }

    async fn verify(&self, credential: &str) -> Result<Verified, AuthError> {
        let key: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        if let Some(known) = self.verified.get(&key) {
            self.check_times(known.expires_at, known.not_before)?;
            return Ok(known.verified.clone());
        }
        let checked = self.verify_signature_and_claims(credential).await?;
        self.check_times(checked.expires_at, checked.not_before)?;
        let verified = checked.verified.clone();
        self.verified.insert(key, Arc::new(checked));
        Ok(verified)
    }

    async fn verify_signature_and_claims(
        &self,
        credential: &str,
    ) -> Result<VerifiedToken, AuthError> {
        let (header, claimed) = read_unverified(credential)?;
        let issuer = self
            .issuers
            .iter()
            .find(|trusted| claimed.as_deref() == Some(trusted.issuer.as_str()))
            .ok_or(Refusal::JwtUntrustedIssuer)?;
        let candidates = keys::candidates(&issuer.keys, header.kid.as_deref(), header.alg)
            .await
            .map_err(AuthError::IssuerUnavailable)?;
        if candidates.is_empty() {
            return Err(Refusal::JwtUnknownKey.into());
        }
        // Signature only: every claim is checked below, against our clock.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = candidates
            .iter()
            .find_map(|candidate| {
                jsonwebtoken::decode::<Claims>(credential, &candidate.key, &validation).ok()
            })
            .ok_or(Refusal::JwtBadSignature)?
            .claims;
        check_claims(
            &issuer.issuer,
            &issuer.audiences,
            &self.groups_claim,
            claims,
        )
    }

    /// `exp` (required) has not passed and `nbf` (if any) has, each with the
    /// leeway.
    fn check_times(
        &self,
        expires: DateTime<Utc>,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        // `checked_` arithmetic: a signed but absurd date must not panic.
        if expires
            .checked_add_signed(self.leeway)
            .is_none_or(|deadline| now >= deadline)
        {
            return Err(Refusal::JwtExpired.into());
        }
        if let Some(not_before) = not_before
            && not_before
                .checked_sub_signed(self.leeway)
                .is_none_or(|earliest| now < earliest)
        {
            return Err(Refusal::JwtNotYetValid.into());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl AuthnScheme for OAuthAuthenticator {
    fn kind(&self) -> &'static str {
        "user"
    }

    async fn authenticate(&self, credential: &str) -> SchemeResult {
        if !Self::recognizes(credential) {
            return SchemeResult::NotMine;
        }
        self.verify(credential).await.into()
    }
}

/// The claims of a token whose signature verified, checked against the
/// issuer that signed it and the audiences it accepts (times are checked on
/// every use, by [`OAuthAuthenticator::check_times`]).
fn check_claims(
    issuer: &str,
    audiences: &[String],
    groups_claim: &str,
    claims: Claims,
) -> Result<VerifiedToken, AuthError> {
    if claims.iss.as_deref() != Some(issuer) {
        return Err(Refusal::JwtIssuerMismatch.into());
    }
    if !claims.aud.is_some_and(|aud| aud.contains_any(audiences)) {
        return Err(Refusal::JwtAudience.into());
    }
    let expires = claims
        .exp
        .as_ref()
        .and_then(numeric_date)
        .ok_or(Refusal::JwtNoExpiry)?;
    let not_before = match claims.nbf.as_ref() {
        None => None,
        Some(nbf) => Some(numeric_date(nbf).ok_or(Refusal::JwtBadNotBefore)?),
    };
    if claims.typ.as_deref().is_some_and(|typ| {
        NOT_ACCESS_TOKENS
            .iter()
            .any(|t| t.eq_ignore_ascii_case(typ))
    }) {
        return Err(Refusal::JwtNotAccessToken.into());
    }
    let user_id = claims
        .sub
        .as_deref()
        .and_then(|sub| Uuid::parse_str(sub).ok())
        .ok_or(Refusal::JwtSubjectNotUuid)?;
    let issued_at = match claims.iat.as_ref() {
        None => None,
        Some(iat) => Some(numeric_date(iat).ok_or(Refusal::JwtBadIssuedAt)?),
    };
    Ok(VerifiedToken {
        verified: Verified {
            principal: Principal::User { user_id },
            credential: CredentialFacts::AccessToken {
                issued_at,
                expires_at: expires,
                groups: groups::groups_of(claims.other.get(groups_claim)),
            },
        },
        expires_at: expires,
        not_before,
    })
}

/// The claims of a token as JSON (its decoded payload), checked as
/// [`check_claims`] would check them after the signature verified: for the
/// fuzz targets, which cannot sign.
pub fn check_claims_json(
    issuer: &str,
    audiences: &[String],
    payload: &[u8],
) -> Result<(), AuthError> {
    let claims: Claims =
        serde_json::from_slice(payload).map_err(|_| Refusal::JwtMalformedClaims)?;
    check_claims(issuer, audiences, groups::DEFAULT_GROUPS_CLAIM, claims).map(|_| ())
}

/// What a token says about itself before anything is verified: its header
/// (an accepted algorithm, no critical extensions, an access token's type)
/// and the issuer it names, which only chooses the keys to verify with. The
/// first of the checks, and the only ones that read untrusted input before
/// a signature is verified.
pub fn read_unverified(
    credential: &str,
) -> Result<(jsonwebtoken::Header, Option<String>), AuthError> {
    let header = jsonwebtoken::decode_header(credential).map_err(|_| Refusal::JwtMalformed)?;
    if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
        return Err(Refusal::JwtAlgorithm.into());
    }
    // RFC 7515 §4.1.11: a `crit` header names extensions the recipient must
    // understand, and this service understands none.
    if names_critical_extensions(credential) {
        return Err(Refusal::JwtCritical.into());
    }
    // An ID token or a logout token is not a credential for this API.
    if header.typ.as_deref().is_some_and(|typ| {
        !ACCESS_TOKEN_HEADER_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(typ))
    }) {
        return Err(Refusal::JwtNotAccessTokenType.into());
    }
    let claimed: UnverifiedIssuer = jsonwebtoken::dangerous::insecure_decode_claims(credential)
        .map_err(|_| Refusal::JwtMalformedClaims)?;
    Ok((header, claimed.iss))
}

/// Whether the token's header (already known to decode) has a `crit` member.
pub fn names_critical_extensions(credential: &str) -> bool {
    use base64::Engine as _;
    let header = credential.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|header| header.get("crit").is_some())
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly fractional.
fn numeric_date(value: &serde_json::Number) -> Option<DateTime<Utc>> {
    let seconds = value.as_f64()?;
    if !seconds.is_finite() {
        return None;
    }
    DateTime::from_timestamp_micros((seconds * 1e6) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const ISSUER: &str = "https://sso.example/realms/hybridbox";

    fn b64(json: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// A token of `header` and `claims` with a signature that is never
    /// checked here (these rules run before, or without, the signature).
    fn token(header: serde_json::Value, claims: serde_json::Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    fn refusal<T: std::fmt::Debug>(result: Result<T, AuthError>) -> Refusal {
        match result {
            Err(AuthError::Refused(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn claims(extra: serde_json::Value) -> Vec<u8> {
        let mut claims = serde_json::json!({
            "iss": ISSUER, "aud": "api", "exp": 4_000_000_000u64,
            "sub": "8d3b4e4c-0a5e-4a57-9f3e-2b1f7c9d2e11",
        });
        for (key, value) in extra.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        serde_json::to_vec(&claims).unwrap()
    }

    #[test]
    fn only_three_part_credentials_are_jwts() {
        assert!(OAuthAuthenticator::recognizes("a.b.c"));
        for not in ["a.b", "a.b.c.d", "hbxsa_0123456789ABCDEF_x", ""] {
            assert!(!OAuthAuthenticator::recognizes(not), "{not:?}");
        }
    }

    #[test]
    fn headers_are_checked_before_any_key_is_fetched() {
        let accepted = token(
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k"}),
            serde_json::json!({"iss": ISSUER}),
        );
        let (header, issuer) = read_unverified(&accepted).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(issuer.as_deref(), Some(ISSUER));
        let cases = [
            (serde_json::json!({"alg": "HS256"}), Refusal::JwtAlgorithm),
            (
                serde_json::json!({"alg": "ES256", "crit": ["exp"]}),
                Refusal::JwtCritical,
            ),
            (
                serde_json::json!({"alg": "EdDSA", "typ": "logout+jwt"}),
                Refusal::JwtNotAccessTokenType,
            ),
        ];
        for (header, expected) in cases {
            let refused = token(header.clone(), serde_json::json!({"iss": ISSUER}));
            assert_eq!(refusal(read_unverified(&refused)), expected, "{header}");
        }
        assert_eq!(refusal(read_unverified("x.y.z")), Refusal::JwtMalformed);
        let no_claims = format!(
            "{}.bm90IGpzb24.c2ln",
            b64(&serde_json::json!({"alg": "RS256"}))
        );
        assert_eq!(
            refusal(read_unverified(&no_claims)),
            Refusal::JwtMalformedClaims
        );
        // `crit` is read from the header only.
        assert!(names_critical_extensions(&token(
            serde_json::json!({"alg": "RS256", "crit": []}),
            serde_json::json!({}),
        )));
        assert!(!names_critical_extensions(&token(
            serde_json::json!({"alg": "RS256"}),
            serde_json::json!({"crit": ["exp"]}),
        )));
    }

    #[test]
    fn claims_are_checked_one_rule_each() {
        let audiences = vec!["api".to_owned()];
        assert!(check_claims_json(ISSUER, &audiences, &claims(serde_json::json!({}))).is_ok());
        assert!(
            check_claims_json(
                ISSUER,
                &audiences,
                &claims(serde_json::json!({"aud": ["x", "api"]}))
            )
            .is_ok()
        );
        let cases = [
            (
                serde_json::json!({"iss": "https://other.example"}),
                Refusal::JwtIssuerMismatch,
            ),
            (serde_json::json!({"aud": "other"}), Refusal::JwtAudience),
            (serde_json::json!({"aud": ["x", "y"]}), Refusal::JwtAudience),
            (serde_json::json!({"aud": null}), Refusal::JwtAudience),
            (serde_json::json!({"exp": null}), Refusal::JwtNoExpiry),
            (serde_json::json!({"nbf": 1e300}), Refusal::JwtBadNotBefore),
            (
                serde_json::json!({"typ": "Refresh"}),
                Refusal::JwtNotAccessToken,
            ),
            (
                serde_json::json!({"sub": "not-a-uuid"}),
                Refusal::JwtSubjectNotUuid,
            ),
            (serde_json::json!({"iat": 1e300}), Refusal::JwtBadIssuedAt),
        ];
        for (change, expected) in cases {
            let body = claims(change.clone());
            assert_eq!(
                refusal(check_claims_json(ISSUER, &audiences, &body)),
                expected,
                "{change}"
            );
        }
        assert_eq!(
            refusal(check_claims_json(ISSUER, &audiences, b"[1]")),
            Refusal::JwtMalformedClaims
        );
    }

    #[test]
    fn numeric_dates_are_seconds_since_the_epoch() {
        let date = |text: &str| numeric_date(&serde_json::from_str(text).unwrap());
        assert_eq!(
            date("1700000000"),
            DateTime::from_timestamp(1_700_000_000, 0)
        );
        assert_eq!(
            date("1.5"),
            DateTime::from_timestamp_micros(1_500_000),
            "fractional seconds"
        );
        assert_eq!(date("1e300"), None, "beyond any date");
    }
}
