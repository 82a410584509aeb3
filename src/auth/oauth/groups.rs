//! A user's groups, from a claim of its access token (`--oauth-groups-claim`,
//! Keycloak's `groups` by default): an array of strings (a single string is
//! one group). A group grant applies to every user whose token lists the
//! group, compared exactly as the token spells it (Keycloak's full paths,
//! `/platform/ci`, stay paths). Entries no grant could name (empty, longer
//! than a subject id, with control characters, not strings) are left out,
//! and at most [`MAX_GROUPS`] are read, so a hostile token costs little.

use serde_json::Value;

use crate::domain::authorizations::SUBJECT_ID_MAX_CHARS;

/// Keycloak's claim, and the default.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// The most groups read from one token.
pub const MAX_GROUPS: usize = 1000;

/// The groups `claim` lists, deduplicated in the token's order.
pub fn groups_of(claim: Option<&Value>) -> Vec<String> {
    let names: Vec<&str> = match claim {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut groups: Vec<String> = Vec::new();
    for name in names {
        let chars = name.chars().count();
        let usable =
            chars > 0 && chars <= SUBJECT_ID_MAX_CHARS && !name.chars().any(char::is_control);
        if usable && !groups.iter().any(|g| g == name) {
            groups.push(name.to_owned());
            if groups.len() == MAX_GROUPS {
                break;
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn groups_are_read_as_the_token_spells_them() {
        let claim = json!([
            "/platform/ci",
            "Ops Team",
            "",
            "a\nb",
            7,
            "/platform/ci",
            "x".repeat(256)
        ]);
        assert_eq!(groups_of(Some(&claim)), ["/platform/ci", "Ops Team"]);
        assert_eq!(groups_of(Some(&json!("solo"))), ["solo"]);
        assert!(groups_of(Some(&json!({"a": 1}))).is_empty());
        assert!(groups_of(None).is_empty());
        let long = "y".repeat(255);
        assert_eq!(groups_of(Some(&json!([long.clone()]))), [long]);
        let many: Vec<String> = (0..MAX_GROUPS + 5).map(|i| format!("g{i}")).collect();
        assert_eq!(groups_of(Some(&json!(many))).len(), MAX_GROUPS);
    }
}
