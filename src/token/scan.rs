//! Finding leaked tokens in text: every string of the token's form whose
//! checksum is right, and nothing else (a look-alike, a typo or a truncated
//! token has the wrong checksum, so there are no false positives to check by
//! hand). What `hbx-sa scan` and the secret-scanning endpoints use, and what
//! `docs/leaked-tokens.md` publishes for other scanners:
//!
//! - the pattern `\b<prefix>_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}\b` (with the
//!   default prefix, `\bhbxsa_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}\b`): the prefix,
//!   the public id, then the 32-character secret and the 6-character checksum,
//!   neither preceded nor followed by a letter, digit or underscore;
//! - the checksum: CRC-32 (IEEE 802.3, as zlib's `crc32`) of everything
//!   before it, written as 6 base62 digits (`0-9A-Za-z`), most significant
//!   first, zero-padded.

use super::{TokenPrefix, parse};

/// A token found in some text: where, and what may be shown of it (never
/// its secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in bytes) where the token starts.
    pub column: usize,
    pub public_id: String,
    pub last4: String,
    /// The whole token, for those that must act on it (the secret-scanning
    /// endpoints compare it with the stored MAC); never printed.
    token: String,
}

impl Found {
    /// The whole token. Handle with care: this is the secret.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// Never shows the token.
impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("line", &self.line)
            .field("column", &self.column)
            .field("public_id", &self.public_id)
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

/// Whether `byte` may stand next to a token without joining it (the
/// pattern's `\b`: anything but a letter, a digit or `_`).
fn separates(byte: Option<&u8>) -> bool {
    byte.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
}

/// Every token with `prefix`, of the right form and checksum, in `text` (any
/// bytes: a binary file is searched too), in order.
pub fn find_tokens(text: &[u8], prefix: &TokenPrefix) -> Vec<Found> {
    let marker = format!("{}_", prefix.as_str());
    let marker = marker.as_bytes();
    let length = prefix.token_len();
    let mut found = Vec::new();
    let (mut line, mut line_start, mut scanned) = (1, 0, 0);
    let mut from = 0;
    while let Some(offset) = memchr::memmem::find(&text[from..], marker) {
        let start = from + offset;
        from = start + 1;
        let end = start + length;
        if end > text.len()
            || !separates(start.checked_sub(1).and_then(|i| text.get(i)))
            || !separates(text.get(end))
        {
            continue;
        }
        let Ok(candidate) = std::str::from_utf8(&text[start..end]) else {
            continue;
        };
        let Ok(parsed) = parse(prefix, candidate) else {
            continue;
        };
        // Lines are counted only up to what was found, once.
        for (i, byte) in text[scanned..start].iter().enumerate() {
            if *byte == b'\n' {
                line += 1;
                line_start = scanned + i + 1;
            }
        }
        scanned = start;
        found.push(Found {
            line,
            column: start - line_start + 1,
            public_id: parsed.public_id().to_owned(),
            last4: candidate[candidate.len() - 4..].to_owned(),
            token: candidate.to_owned(),
        });
        from = end;
    }
    found
}

/// What stands in, in a log line, for something shaped like a token.
pub const REDACTED_TOKEN: &str = "<redacted token>";

/// `text` with every run shaped like a token of *any* prefix (1 to 16
/// lowercase letters, `_`, 16 base62 characters, `_`, 38 base62 characters,
/// between separators as in [`find_tokens`]) replaced by
/// [`REDACTED_TOKEN`]. The checksum is not checked: a mistyped token still
/// holds most of a secret. For request lines, whose paths are the client's
/// say.
pub fn redact_token_shapes(text: &str) -> std::borrow::Cow<'_, str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !text.split(|c| !is_word(c)).any(is_token_shaped) {
        return text.into();
    }
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        redacted.push_str(if is_token_shaped(word) {
            REDACTED_TOKEN
        } else {
            word
        });
        let gap_end = after.find(is_word).unwrap_or(after.len());
        redacted.push_str(&after[..gap_end]);
        rest = &after[gap_end..];
    }
    redacted.into()
}

/// Whether `word` (a run of letters, digits and `_`) is a token's shape.
fn is_token_shaped(word: &str) -> bool {
    let Some((prefix, rest)) = word.split_once('_') else {
        return false;
    };
    let Some((public_id, secret)) = rest.split_once('_') else {
        return false;
    };
    let base62 = |part: &str| part.bytes().all(|b| b.is_ascii_alphanumeric());
    (1..=16).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && public_id.len() == super::PUBLIC_ID_LEN
        && base62(public_id)
        && secret.len() == super::SECRET_LEN + super::CHECKSUM_LEN
        && base62(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::generate;

    #[test]
    fn token_shapes_are_redacted_whatever_their_prefix_or_checksum() {
        let token = generate(&TokenPrefix::default()).plaintext.into_exposed();
        let other = generate(&TokenPrefix::parse("ghp").unwrap())
            .plaintext
            .into_exposed();
        let mistyped = format!("{}0", &token[..token.len() - 1]);
        for shaped in [&token, &other, &mistyped] {
            let path = format!("/v1/public/accounts/{shaped}/auth/x");
            assert_eq!(
                redact_token_shapes(&path),
                "/v1/public/accounts/<redacted token>/auth/x"
            );
        }
        let two = format!("{token}/{other}");
        assert_eq!(
            redact_token_shapes(&two),
            "<redacted token>/<redacted token>"
        );
        // Nothing shaped like one: unchanged, and not copied.
        for plain in [
            "/v1/public/accounts/0b3c/auth/service-accounts",
            "hbxsa_short",
            &token[..token.len() - 1],
            &format!("{token}x"),
            &format!("x_{token}"),
            "",
        ] {
            let shown = redact_token_shapes(plain);
            assert_eq!(shown, plain);
            assert!(matches!(shown, std::borrow::Cow::Borrowed(_)));
        }
    }

    #[test]
    fn finds_tokens_where_they_are_and_nothing_else() {
        let prefix = TokenPrefix::default();
        let a = generate(&prefix).plaintext.into_exposed();
        let b = generate(&prefix).plaintext.into_exposed();
        let text = format!(
            "line one\nexport TOKEN={a}\n\"{b}\" and x{a} and {a}x and _{a}\nhbxsa_short\n{b}"
        );
        let found = find_tokens(text.as_bytes(), &prefix);
        let places: Vec<(usize, usize, &str)> = found
            .iter()
            .map(|f| (f.line, f.column, f.token()))
            .collect();
        assert_eq!(
            places,
            vec![(2, 14, a.as_str()), (3, 2, b.as_str()), (5, 1, b.as_str())]
        );
        assert_eq!(found[0].last4, &a[a.len() - 4..]);
        assert!(!format!("{found:?}").contains(&a[prefix.secret_range()]));
        // What it does show: where, and the public parts.
        let shown = format!("{:?}", found[0]);
        for part in [
            "line: 2",
            "column: 14",
            &found[0].public_id,
            &found[0].last4,
        ] {
            assert!(shown.contains(part), "{shown} shows {part}");
        }
    }
}
