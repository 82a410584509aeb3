//! What a decode error may tell the client (and the log): which field, and
//! what was expected there; never the value that was sent. A value can be a
//! secret sent in the wrong place (a token as a string where a list was
//! expected), and an error message is copied into the response body and the
//! request's log line. Serde's messages quote the value they found
//! (`invalid type: string "…", expected a sequence`), so each one is
//! rewritten here before it is shown.

/// `message` (a serde or `serde_json` error message) without any value from
/// the input: the found value's kind is kept (`a string`), its text dropped;
/// an unknown field or variant is named only when its name is a short
/// identifier (anything else may be a secret that landed in a key).
pub fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some(at) = rest.rfind(", expected ")
        {
            // Serde writes the found value as its kind, then the value in
            // backticks or quotes: `string "…"`, ``integer `5` ``, `map`.
            let kind = rest[..at]
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim();
            let kind = if kind.is_empty() || !is_identifier_words(kind) {
                "a value"
            } else {
                kind
            };
            return format!("{prefix}got {kind}{}", &rest[at..]);
        }
    }
    for (prefix, what) in [("unknown field ", "field"), ("unknown variant ", "variant")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // "`name`, expected one of …" or "`name`, there are no fields".
            let tail_at = rest
                .rfind(", expected ")
                .or_else(|| rest.rfind(", there are no "))
                .unwrap_or(rest.len());
            let name = rest[..tail_at]
                .strip_prefix('`')
                .and_then(|name| name.strip_suffix('`'));
            let named = match name {
                Some(name) if is_short_identifier(name) => format!("unknown {what} `{name}`"),
                _ => format!("an unknown {what} (its name is not shown)"),
            };
            return format!("{named}{}", &rest[tail_at..]);
        }
    }
    message.to_owned()
}

/// A field path (`credentials[0]`, `metadata.owner`) for a message: each part
/// that is not a short identifier or an index is replaced by `?`.
pub fn safe_path(path: &str) -> String {
    path.split('.')
        .map(|part| {
            let name = part.split('[').next().unwrap_or_default();
            let indices_ok = part[name.len()..].split_terminator(']').all(|index| {
                index
                    .strip_prefix('[')
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            });
            if (name.is_empty() || is_short_identifier(name)) && indices_ok {
                part.to_owned()
            } else {
                "?".to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Longest unknown name echoed back: enough for any field name of this API
/// (and a typo of one), too short for a token.
const ECHOED_NAME_MAX: usize = 40;

fn is_short_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ECHOED_NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Serde's kinds of value: one or two plain words (`string`, `unit value`,
/// `floating point`).
fn is_identifier_words(kind: &str) -> bool {
    kind.len() <= 24 && kind.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "hbxsa_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123453fOlMQ";

    fn json_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(body: &str) -> String {
        serde_json::from_str::<T>(body).unwrap_err().to_string()
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Request {
        credentials: Vec<String>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        count: Option<u8>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
    }

    #[test]
    fn decode_errors_name_the_field_and_type_never_the_value() {
        let cases = [
            (
                format!(r#"{{"credentials": "{TOKEN}"}}"#),
                "invalid type: got string, expected a sequence",
            ),
            (
                format!(r#"{{"credentials": [], "kind": "{TOKEN}"}}"#),
                "an unknown variant (its name is not shown), expected `plain`",
            ),
            (
                format!(r#"{{"credentials": [], "{TOKEN}": 1}}"#),
                "an unknown field (its name is not shown), expected one of",
            ),
            (
                r#"{"credentials": [], "admin": true}"#.to_owned(),
                "unknown field `admin`, expected one of",
            ),
            (
                r#"{"credentials": [], "count": 300}"#.to_owned(),
                "invalid value: got integer, expected u8",
            ),
            (
                r#"{"credentials": [], "count": "300"}"#.to_owned(),
                "invalid type: got string, expected u8",
            ),
        ];
        for (body, expected) in cases {
            let raw = json_error::<Request>(&body);
            let shown = without_values(&raw);
            assert!(shown.starts_with(expected), "{body}: {raw} became {shown}");
            assert!(!shown.contains(TOKEN) && !shown.contains("300"), "{shown}");
        }
        // A value that forges serde's own wording is still dropped whole.
        let forged = r#"{"credentials": "x\", expected a secret"}"#;
        let shown = without_values(&json_error::<Request>(forged));
        assert!(
            shown.starts_with("invalid type: got string, expected a sequence at line 1"),
            "{shown}"
        );
        assert!(!shown.contains("secret"), "{shown}");
        // Messages that carry no value pass unchanged.
        for message in [
            "missing field `credentials`",
            "expected value at line 1 column 2",
        ] {
            assert_eq!(without_values(message), message);
        }
    }

    #[test]
    fn paths_keep_names_and_indices_only() {
        assert_eq!(safe_path("credentials[3]"), "credentials[3]");
        assert_eq!(safe_path("metadata.owner"), "metadata.owner");
        assert_eq!(safe_path(&format!("metadata.{TOKEN}")), "metadata.?");
        assert_eq!(safe_path("a[x]"), "?");
    }
}
