//! Names as people give them: a service account's, and an operator's (of an
//! account, an introspection client), checked once into types that can only
//! hold acceptable values, and the error that says which field is wrong.

/// Longest name, in Unicode scalar values (what JSON Schema's `maxLength` counts).
pub const NAME_MAX_CHARS: usize = 120;

/// An input value that is not acceptable, with the field it came from and what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A human-readable name: 1–120 Unicode scalar values, not only white space,
/// without control characters and without the invisible bidirectional controls
/// that can make a name display as something it is not. Kept exactly as given
/// (no trimming or normalization), so what is stored is what was sent.
fn check_display_name(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters long (got {chars})"),
        ));
    }
    if value.chars().all(char::is_whitespace) {
        return Err(ValidationError::new(field, "must not be only white space"));
    }
    if let Some((position, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| is_forbidden_in_names(*c))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain control, invisible or bidirectional-override characters \
                 (found U+{:04X} at character {})",
                u32::from(c),
                position + 1
            ),
        ));
    }
    Ok(())
}

fn is_forbidden_in_names(c: char) -> bool {
    c.is_control()
        || is_format_character(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}'              // line and paragraph separators
            // Hangul fillers: letters that render as nothing.
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// Unicode general category Cf (format characters, Unicode 16): invisible
/// characters such as the zero-width space, joiners, the byte-order mark,
/// bidirectional controls and tag characters, which make one name display as
/// another (`bootstrap-owner` with a zero-width space appended).
fn is_format_character(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// The name of a service account. Unique among an account's non-revoked service
/// accounts (the store enforces that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountName(String);

impl ServiceAccountName {
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        check_display_name("name", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name set by an operator: of an account, or of an introspection client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName(String);

impl OperatorName {
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        check_display_name("name", &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_at_the_boundaries() {
        assert!(ServiceAccountName::parse("a".into()).is_ok());
        assert!(ServiceAccountName::parse("x".repeat(120)).is_ok());
        // 120 four-byte characters: 480 bytes, still 120 characters.
        assert!(ServiceAccountName::parse("🦀".repeat(120)).is_ok());
        assert!(ServiceAccountName::parse("é".repeat(120)).is_ok());
        assert!(ServiceAccountName::parse(" padded name ".into()).is_ok());
        let too_long = ServiceAccountName::parse("x".repeat(121)).unwrap_err();
        assert_eq!(too_long.field, "name");
        assert!(too_long.message.contains("at most 120"));
        assert!(ServiceAccountName::parse("🦀".repeat(121)).is_err());
    }

    #[test]
    fn hostile_names_are_rejected() {
        for bad in [
            "",
            " ",
            "\t\n ",
            "\u{3000}",
            "a\u{0}b",
            "line\nbreak",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "evil\u{202E}gpj.exe",
            "iso\u{2066}late",
            "sep\u{2028}arator",
            "\u{200B}",
            "bootstrap-owner\u{200B}",
            "arabic\u{061C}mark",
            "\u{FEFF}bom",
            "word\u{2060}joiner",
            "tag\u{E0041}\u{E007F}",
            "soft\u{00AD}hyphen",
            "\u{3164}",
            "filler\u{115F}",
            "filler\u{1160}",
            "half\u{FFA0}width",
        ] {
            let error = ServiceAccountName::parse(bad.into()).unwrap_err();
            assert_eq!(error.field, "name", "{bad:?}");
        }
    }
}
