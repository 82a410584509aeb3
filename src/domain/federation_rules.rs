//! Federation rules: which presented OIDC tokens may become a short-lived
//! token of a service account. A rule names an identity provider, the
//! audience the token must carry, conditions on its claims (each claim
//! matched on its own), the capabilities the minted token may hold at most,
//! and its lifetime. The rails that keep a rule from letting strangers in
//! are checked here, when the rule is made ([`check_rails`]), not found out
//! at exchange time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::accounts::CapabilityKey;
use super::identity_providers::ProviderKind;
use super::names::ValidationError;

/// A minted token's lifetime when not told otherwise: 15 minutes.
pub const DEFAULT_TOKEN_TTL_SECONDS: u32 = 900;
/// The shortest and longest a minted token may live.
pub const MIN_TOKEN_TTL_SECONDS: u32 = 60;
pub const MAX_TOKEN_TTL_SECONDS: u32 = 3600;
/// The most conditions a rule may have, and values an `in` may list.
pub const MAX_CONDITIONS: usize = 32;
pub const MAX_VALUES: usize = 100;
/// The longest claim name and expected value.
pub const MAX_CLAIM_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 1024;

/// Claims whose values name branches, tags, environments or workflows: the
/// only ones a `glob` may test.
pub const GLOB_CLAIMS: [&str; 7] = [
    "ref",
    "ref_type",
    "environment",
    "workflow_ref",
    "job_workflow_ref",
    "ref_path",
    "sub",
];

/// How a condition tests its claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionTest {
    /// The claim is exactly this string.
    Eq(String),
    /// The claim is exactly one of these.
    In(Vec<String>),
    /// The claim matches this pattern: `*` stands for any run of characters
    /// within one `/`- or `:`-separated segment.
    Glob(String),
}

impl ConditionTest {
    pub fn op(&self) -> &'static str {
        match self {
            ConditionTest::Eq(_) => "eq",
            ConditionTest::In(_) => "in",
            ConditionTest::Glob(_) => "glob",
        }
    }

    /// What is expected, as the dry run and the audit log show it.
    pub fn expected(&self) -> Value {
        match self {
            ConditionTest::Eq(value) | ConditionTest::Glob(value) => Value::from(value.as_str()),
            ConditionTest::In(values) => Value::from(values.clone()),
        }
    }
}

/// One condition on one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub claim: String,
    pub test: ConditionTest,
}

/// What a condition found in a set of claims.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionOutcome {
    pub claim: String,
    pub op: &'static str,
    pub expected: Value,
    /// The claim as presented, as text (none: absent, or not a string,
    /// number or boolean).
    pub presented: Option<String>,
    pub pass: bool,
}

impl Condition {
    /// Parses one condition as a client sends it: `op` with `value` (eq,
    /// glob) or `values` (in).
    pub fn parse(
        claim: &str,
        op: &str,
        value: Option<String>,
        values: Option<Vec<String>>,
    ) -> Result<Self, ValidationError> {
        let invalid = |message: String| ValidationError::new("conditions", message);
        if claim.is_empty()
            || claim.chars().count() > MAX_CLAIM_CHARS
            || claim.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "claim must be a claim name of 1 to {MAX_CLAIM_CHARS} characters"
            )));
        }
        let check = |value: &String| {
            if value.is_empty()
                || value.chars().count() > MAX_VALUE_CHARS
                || value.chars().any(char::is_control)
            {
                Err(invalid(format!(
                    "the values of claim {claim:?} must be 1 to {MAX_VALUE_CHARS} characters \
                     without control characters"
                )))
            } else {
                Ok(())
            }
        };
        let test = match (op, value, values) {
            ("eq", Some(value), None) => {
                check(&value)?;
                ConditionTest::Eq(value)
            }
            ("glob", Some(value), None) => {
                check(&value)?;
                ConditionTest::Glob(value)
            }
            ("in", None, Some(values)) => {
                if values.is_empty() || values.len() > MAX_VALUES {
                    return Err(invalid(format!(
                        "`in` on claim {claim:?} needs 1 to {MAX_VALUES} values"
                    )));
                }
                values.iter().try_for_each(check)?;
                ConditionTest::In(values)
            }
            ("eq" | "glob", _, _) => {
                return Err(invalid(format!(
                    "`{op}` on claim {claim:?} takes `value` (one string), not `values`"
                )));
            }
            ("in", _, _) => {
                return Err(invalid(format!(
                    "`in` on claim {claim:?} takes `values` (a list), not `value`"
                )));
            }
            _ => {
                return Err(invalid(format!("op {op:?} is not one of eq, in, glob")));
            }
        };
        Ok(Self {
            claim: claim.to_owned(),
            test,
        })
    }

    /// Tests this condition against `claims`.
    pub fn evaluate(&self, claims: &serde_json::Map<String, Value>) -> ConditionOutcome {
        let presented = claims.get(&self.claim).and_then(claim_text);
        let pass = presented.as_deref().is_some_and(|text| match &self.test {
            ConditionTest::Eq(value) => text == value,
            ConditionTest::In(values) => values.iter().any(|v| v == text),
            ConditionTest::Glob(pattern) => glob_matches(pattern, text),
        });
        ConditionOutcome {
            claim: self.claim.clone(),
            op: self.test.op(),
            expected: self.test.expected(),
            presented,
            pass,
        }
    }
}

/// A claim's value as text: strings as they are, numbers and booleans as
/// JSON writes them (GitHub sends ids as strings, other issuers as numbers);
/// anything else has no text.
pub fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// other than `/` and `:` (so it never crosses a segment): both are split at
/// their separators, which must be the same, and each segment is matched on
/// its own.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    fn separators(s: &str) -> impl Iterator<Item = &str> {
        s.matches(['/', ':'])
    }
    separators(pattern).eq(separators(text))
        && pattern
            .split(['/', ':'])
            .zip(text.split(['/', ':']))
            .all(|(pattern, text)| segment_matches(pattern.as_bytes(), text.as_bytes()))
}

/// Wildcard matching within one segment: `*` matches any run of bytes (the
/// last star is widened on a mismatch, which is enough for `*` alone).
fn segment_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            star = Some((star_p, star_t + 1));
            p = star_p + 1;
            t = star_t + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// A rail broken by a rule: `rail` names it (stable, for the error body),
/// `message` says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RailBroken {
    pub rail: &'static str,
    pub message: String,
}

fn broken(rail: &'static str, message: impl Into<String>) -> RailBroken {
    RailBroken {
        rail,
        message: message.into(),
    }
}

/// Checks a rule's conditions against the rails of its provider's kind: an
/// owner pin (an `eq` on the claim that names who owns the workload), `glob`
/// only on branch-like claims, segment-bounded, never a bare `*`.
pub fn check_rails(kind: ProviderKind, conditions: &[Condition]) -> Result<(), RailBroken> {
    let pinned = |claim: &str| {
        conditions
            .iter()
            .any(|c| c.claim == claim && matches!(c.test, ConditionTest::Eq(_)))
    };
    match kind {
        ProviderKind::GithubActions => {
            if !pinned("repository_owner_id") {
                return Err(broken(
                    "owner_pin",
                    "a github_actions rule needs an `eq` condition on repository_owner_id (the \
                     owner's immutable id): an owner name can be renamed and taken by someone \
                     else",
                ));
            }
            if conditions.iter().any(|c| c.claim == "repository") && !pinned("repository_id") {
                return Err(broken(
                    "repository_pin",
                    "a github_actions rule that names repository also needs an `eq` condition \
                     on repository_id: a deleted repository's name can be taken again",
                ));
            }
        }
        ProviderKind::GitlabCi => {
            if !pinned("namespace_id") && !pinned("project_id") {
                return Err(broken(
                    "owner_pin",
                    "a gitlab_ci rule needs an `eq` condition on namespace_id or project_id \
                     (immutable ids): paths can be renamed and taken by someone else",
                ));
            }
        }
        ProviderKind::Kubernetes | ProviderKind::Generic => {
            if !pinned("sub") {
                return Err(broken(
                    "owner_pin",
                    format!(
                        "a {kind} rule needs an `eq` condition on sub (the workload's exact \
                         identity)"
                    ),
                ));
            }
        }
    }
    for condition in conditions {
        if let ConditionTest::Glob(pattern) = &condition.test {
            check_glob(&condition.claim, pattern)?;
        }
    }
    Ok(())
}

fn check_glob(claim: &str, pattern: &str) -> Result<(), RailBroken> {
    if !GLOB_CLAIMS.contains(&claim) {
        return Err(broken(
            "glob_claim",
            format!(
                "`glob` is allowed only on {}; use `eq` or `in` on {claim:?}",
                GLOB_CLAIMS.join(", ")
            ),
        ));
    }
    if pattern.chars().all(|c| c == '*') {
        return Err(broken(
            "glob_everything",
            format!(
                "the pattern {pattern:?} on {claim:?} matches anything: name the branch, tag or \
                 environment, such as refs/heads/release-*"
            ),
        ));
    }
    if pattern.contains("**") {
        return Err(broken(
            "glob_segment",
            format!("the pattern {pattern:?} has `**`: `*` matches within one segment only"),
        ));
    }
    if claim == "sub" {
        let last_separator = pattern.rfind(['/', ':']).map_or(0, |at| at + 1);
        if pattern[..last_separator].contains('*') || last_separator == 0 {
            return Err(broken(
                "glob_sub_suffix",
                format!(
                    "a `glob` on sub may only vary its last segment (after the last `:` or \
                     `/`), not {pattern:?}"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a minted token's lifetime.
pub fn check_token_ttl(seconds: u32) -> Result<u32, ValidationError> {
    if !(MIN_TOKEN_TTL_SECONDS..=MAX_TOKEN_TTL_SECONDS).contains(&seconds) {
        return Err(ValidationError::new(
            "token_ttl_seconds",
            format!("must be between {MIN_TOKEN_TTL_SECONDS} and {MAX_TOKEN_TTL_SECONDS} seconds"),
        ));
    }
    Ok(seconds)
}

/// A federation rule of a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationRule {
    pub id: Uuid,
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    pub identity_provider_id: Uuid,
    pub audience: String,
    pub conditions: Vec<Condition>,
    pub capabilities: Vec<CapabilityKey>,
    pub token_ttl_seconds: u32,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FederationRule {
    /// Each condition's outcome against `claims`, in the rule's order.
    pub fn evaluate(&self, claims: &serde_json::Map<String, Value>) -> Vec<ConditionOutcome> {
        self.conditions.iter().map(|c| c.evaluate(claims)).collect()
    }
}

/// The audience a rule of `account_id` expects when it names none.
pub fn default_audience(account_id: Uuid) -> String {
    format!("https://api.hybridbox.io/accounts/{account_id}")
}

/// Where a minted token came from: shown by whoami, introspection and the
/// audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub federation_rule_id: Uuid,
    pub identity_provider_id: Uuid,
    pub issuer: String,
    pub subject: String,
    /// The provider kind's useful claims (repository, run, ref, sha ...).
    pub claims: BTreeMap<String, String>,
}

/// The claims each kind's provenance keeps.
pub fn provenance_claims(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::GithubActions => &[
            "repository",
            "repository_id",
            "repository_owner",
            "repository_owner_id",
            "run_id",
            "run_attempt",
            "ref",
            "sha",
            "workflow_ref",
            "job_workflow_ref",
            "environment",
            "event_name",
            "actor",
        ],
        ProviderKind::GitlabCi => &[
            "project_path",
            "project_id",
            "namespace_path",
            "namespace_id",
            "pipeline_id",
            "job_id",
            "ref",
            "ref_type",
            "sha",
            "environment",
            "user_login",
        ],
        ProviderKind::Kubernetes | ProviderKind::Generic => &[],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eq(claim: &str, value: &str) -> Condition {
        Condition::parse(claim, "eq", Some(value.into()), None).unwrap()
    }

    fn glob(claim: &str, value: &str) -> Condition {
        Condition::parse(claim, "glob", Some(value.into()), None).unwrap()
    }

    #[test]
    fn claims_and_values_are_bounded_exactly() {
        let value = |v: String| Condition::parse("sub", "eq", Some(v), None);
        let claim = |c: String| Condition::parse(&c, "eq", Some("x".into()), None);
        assert!(claim("c".repeat(MAX_CLAIM_CHARS)).is_ok());
        assert!(claim("c".repeat(MAX_CLAIM_CHARS + 1)).is_err());
        assert!(
            claim("é".repeat(MAX_CLAIM_CHARS)).is_ok(),
            "counted in characters"
        );
        assert!(claim("a\u{7}b".into()).is_err());
        assert!(claim(String::new()).is_err());
        assert!(value("v".repeat(MAX_VALUE_CHARS)).is_ok());
        assert!(value("v".repeat(MAX_VALUE_CHARS + 1)).is_err());
        assert!(
            value("é".repeat(MAX_VALUE_CHARS)).is_ok(),
            "counted in characters"
        );
        assert!(value("a\u{7}b".into()).is_err());
        let values = |n: usize| Condition::parse("env", "in", None, Some(vec!["x".into(); n]));
        assert!(values(MAX_VALUES).is_ok());
        assert!(values(MAX_VALUES + 1).is_err());
        assert!(values(0).is_err());
    }

    #[test]
    fn a_condition_of_the_wrong_shape_says_which_field_to_send() {
        let message = |op: &str, value: Option<&str>, values: Option<Vec<String>>| {
            Condition::parse("sub", op, value.map(str::to_owned), values)
                .unwrap_err()
                .message
        };
        let list = Some(vec!["a".to_owned()]);
        assert!(message("eq", None, list).contains("takes `value`"));
        assert!(message("glob", None, None).contains("takes `value`"));
        assert!(message("in", Some("a"), None).contains("takes `values`"));
        assert!(message("in", None, None).contains("takes `values`"));
        assert!(message("like", Some("a"), None).contains("is not one of eq, in, glob"));
    }

    #[test]
    fn a_star_stays_within_its_segment() {
        assert!(glob_matches(
            "refs/heads/release-*",
            "refs/heads/release-1.2"
        ));
        assert!(glob_matches("refs/heads/*", "refs/heads/main"));
        assert!(!glob_matches("refs/heads/*", "refs/heads/feature/x"));
        assert!(!glob_matches("refs/heads/*", "refs/tags/v1"));
        assert!(glob_matches(
            "repo:acme/api:ref:refs/heads/*",
            "repo:acme/api:ref:refs/heads/main"
        ));
        assert!(!glob_matches(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/a/b:ref:refs/heads/main"
        ));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(glob_matches("a*b", "ab"));
        assert!(!glob_matches("a*b", "a"));
        assert!(!glob_matches("prod", "production"));
        assert!(glob_matches("prod*", "production"));
        assert!(!glob_matches("release-*", ""));
        assert!(glob_matches("é*", "été"));
    }

    #[test]
    fn conditions_match_one_claim_each_as_text() {
        let claims = json!({
            "repository_owner_id": "42", "run_id": 7, "fork": false, "ref": "refs/heads/main",
            "list": ["a"],
        });
        let claims = claims.as_object().unwrap();
        assert!(eq("repository_owner_id", "42").evaluate(claims).pass);
        assert!(eq("run_id", "7").evaluate(claims).pass);
        assert!(eq("fork", "false").evaluate(claims).pass);
        let missing = eq("environment", "prod").evaluate(claims);
        assert!(!missing.pass);
        assert_eq!(missing.presented, None);
        assert!(!eq("list", "a").evaluate(claims).pass);
        let within = Condition::parse("ref", "in", None, Some(vec!["refs/heads/main".into()]));
        assert!(within.unwrap().evaluate(claims).pass);
        let outcome = eq("repository_owner_id", "43").evaluate(claims);
        assert_eq!(
            (
                outcome.op,
                outcome.expected,
                outcome.presented,
                outcome.pass
            ),
            ("eq", json!("43"), Some("42".to_owned()), false)
        );
    }

    #[test]
    fn malformed_conditions_say_what_to_send() {
        for (claim, op, value, values) in [
            ("", "eq", Some("x"), None),
            ("ref", "eq", None, Some(vec!["x"])),
            ("ref", "in", Some("x"), None),
            ("ref", "in", None, Some(vec![])),
            ("ref", "like", Some("x"), None),
            ("ref", "eq", Some(""), None),
            ("ref", "eq", Some("a\nb"), None),
        ] {
            let error = Condition::parse(
                claim,
                op,
                value.map(|v| v.replace("\\n", "\n")),
                values.map(|v| v.into_iter().map(str::to_owned).collect()),
            )
            .unwrap_err();
            assert_eq!(error.field, "conditions", "{claim} {op}");
        }
    }

    #[test]
    fn every_kind_needs_its_owner_pin() {
        let rail =
            |kind, conditions: &[Condition]| check_rails(kind, conditions).map_err(|e| e.rail);
        let owner = eq("repository_owner_id", "42");
        assert_eq!(rail(ProviderKind::GithubActions, &[]), Err("owner_pin"));
        assert_eq!(
            rail(
                ProviderKind::GithubActions,
                &[glob("sub", "repo:acme/api:ref:refs/heads/*")]
            ),
            Err("owner_pin")
        );
        assert_eq!(
            rail(ProviderKind::GithubActions, std::slice::from_ref(&owner)),
            Ok(())
        );
        let named = [owner.clone(), eq("repository", "acme/api")];
        assert_eq!(
            rail(ProviderKind::GithubActions, &named),
            Err("repository_pin")
        );
        let pinned = [
            owner,
            eq("repository", "acme/api"),
            eq("repository_id", "7"),
        ];
        assert_eq!(rail(ProviderKind::GithubActions, &pinned), Ok(()));
        // A pin must be `eq`: `in` or `glob` on the owner id does not count.
        let loose = Condition::parse("repository_owner_id", "in", None, Some(vec!["1".into()]));
        assert_eq!(
            rail(ProviderKind::GithubActions, &[loose.unwrap()]),
            Err("owner_pin")
        );
        assert_eq!(
            rail(ProviderKind::GitlabCi, &[eq("project_path", "a/b")]),
            Err("owner_pin")
        );
        assert_eq!(
            rail(ProviderKind::GitlabCi, &[eq("namespace_id", "3")]),
            Ok(())
        );
        assert_eq!(
            rail(ProviderKind::GitlabCi, &[eq("project_id", "3")]),
            Ok(())
        );
        assert_eq!(
            rail(ProviderKind::Kubernetes, &[eq("aud", "x")]),
            Err("owner_pin")
        );
        let sub = eq("sub", "system:serviceaccount:ci:deployer");
        assert_eq!(
            rail(ProviderKind::Kubernetes, std::slice::from_ref(&sub)),
            Ok(())
        );
        assert_eq!(rail(ProviderKind::Generic, &[sub]), Ok(()));
    }

    #[test]
    fn globs_only_where_they_are_safe() {
        let rail = |condition: Condition| {
            check_rails(
                ProviderKind::GithubActions,
                &[eq("repository_owner_id", "42"), condition],
            )
            .map_err(|e| e.rail)
        };
        assert_eq!(rail(glob("ref", "refs/heads/release-*")), Ok(()));
        assert_eq!(rail(glob("environment", "prod-*")), Ok(()));
        assert_eq!(rail(glob("actor", "bot-*")), Err("glob_claim"));
        assert_eq!(rail(glob("ref", "*")), Err("glob_everything"));
        assert_eq!(rail(glob("ref", "**")), Err("glob_everything"));
        assert_eq!(rail(glob("ref", "refs/**")), Err("glob_segment"));
        assert_eq!(rail(glob("sub", "repo:acme/api:ref:refs/heads/*")), Ok(()));
        assert_eq!(
            rail(glob("sub", "repo:acme/*:ref:refs/heads/main")),
            Err("glob_sub_suffix")
        );
        assert_eq!(rail(glob("sub", "repo*")), Err("glob_sub_suffix"));
    }

    #[test]
    fn token_lifetimes_are_a_minute_to_an_hour() {
        assert!(check_token_ttl(59).is_err());
        assert_eq!(check_token_ttl(60).unwrap(), 60);
        assert_eq!(check_token_ttl(3600).unwrap(), 3600);
        assert!(check_token_ttl(3601).is_err());
    }
}
