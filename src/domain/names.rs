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

/// A human-readable name: 1–120 Unicode scalar values, not only blank
/// characters, without control characters, without any character Unicode
/// says to display as nothing (Default_Ignorable_Code_Point: zero-width
/// spaces and joiners, variation selectors, Hangul fillers, tag characters)
/// and without the bidirectional controls that can make a name display as
/// something it is not. Kept exactly as given (no trimming or normalization),
/// so what is stored is what was sent.
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
    if value.chars().all(is_blank) {
        return Err(ValidationError::new(
            field,
            "must not be only blank characters (white space, or characters that display \
             as nothing): it would look empty",
        ));
    }
    Ok(())
}

fn is_forbidden_in_names(c: char) -> bool {
    c.is_control()
        || is_format_character(c)
        || is_default_ignorable(c)
        || matches!(c, '\u{2028}' | '\u{2029}') // line and paragraph separators
}

/// Unicode's Default_Ignorable_Code_Point: characters a renderer shows as
/// nothing at all unless it supports them specially (U+034F, variation
/// selectors, Mongolian free variation selectors, Khmer inherent vowels,
/// Hangul fillers, U+E0100..U+E01EF), from the property data `icu_properties`
/// compiles in, so a new Unicode version comes with the crate.
pub fn is_default_ignorable(c: char) -> bool {
    icu_properties::CodePointSetData::new::<icu_properties::props::DefaultIgnorableCodePoint>()
        .contains(c)
}

/// Characters that show as blank space: Unicode's White_Space, and the
/// characters that are not space but draw nothing (U+2800 BRAILLE PATTERN
/// BLANK). A name of only these would look empty.
pub fn is_blank(c: char) -> bool {
    icu_properties::CodePointSetData::new::<icu_properties::props::WhiteSpace>().contains(c)
        || c == '\u{2800}'
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
        // Kept exactly as given.
        let name = " ci deploy é ".to_owned();
        assert_eq!(
            ServiceAccountName::parse(name.clone()).unwrap().as_str(),
            name
        );
        assert_eq!(OperatorName::parse(name.clone()).unwrap().as_str(), name);
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
            // Format characters (Cf) that are not default-ignorable: only
            // the format check refuses them.
            "number\u{0600}sign",
            "note\u{FFF9}anchor",
            "egyptian\u{13430}joiner",
            "\u{3164}",
            "filler\u{115F}",
            "filler\u{1160}",
            "half\u{FFA0}width",
            // Default_Ignorable_Code_Point outside Cf (the second review's).
            "bootstrap-owner\u{034F}",
            "\u{FE00}",
            "mongolian\u{180B}",
            "khmer\u{17B4}",
            "selector\u{E0100}",
            // Blank without being white space.
            "\u{2800}",
            "\u{2800} \u{3000}",
        ] {
            let error = ServiceAccountName::parse(bad.into()).unwrap_err();
            assert_eq!(error.field, "name", "{bad:?}");
        }
    }

    /// Every Default_Ignorable_Code_Point, from the Unicode property data
    /// (not a hand list), is refused alone and inside an otherwise good name.
    #[test]
    fn every_default_ignorable_code_point_is_refused() {
        let set = icu_properties::CodePointSetData::new::<
            icu_properties::props::DefaultIgnorableCodePoint,
        >();
        let mut checked = 0;
        for range in set.iter_ranges() {
            for c in range.filter_map(char::from_u32) {
                for name in [
                    c.to_string(),
                    format!("bootstrap-owner{c}"),
                    format!("a{c}b"),
                ] {
                    assert!(
                        ServiceAccountName::parse(name).is_err(),
                        "U+{:04X} accepted",
                        u32::from(c)
                    );
                }
                checked += 1;
            }
        }
        // Unicode 16 has 4,174 of them (most unassigned, reserved as ignorable).
        assert!(
            checked > 4000,
            "only {checked} default-ignorable code points"
        );
    }

    #[test]
    fn names_that_only_look_blank_are_empty() {
        for blank in [
            "\u{2800}",
            "\u{2800}\u{2800}",
            " \u{2800} ",
            "\u{1680}",
            "\u{205F}",
        ] {
            let error = ServiceAccountName::parse(blank.into()).unwrap_err();
            assert!(
                error.message.contains("blank"),
                "{blank:?}: {}",
                error.message
            );
        }
        assert!(ServiceAccountName::parse("a\u{2800}b".into()).is_ok());
    }
}
