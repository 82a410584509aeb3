//! The service-account token format: generation, parsing and the checksum.
//!
//! A token reads `<prefix>_<public_id>_<secret><checksum>`:
//!
//! | part      | size | alphabet | purpose                                        |
//! |-----------|------|----------|------------------------------------------------|
//! | prefix    | 1–16 | `[a-z]`  | who issued it and what it is (`hbxsa`)         |
//! | public_id | 16   | base62   | random, non-secret; the database lookup key    |
//! | secret    | 32   | base62   | CSPRNG output; never stored anywhere           |
//! | checksum  | 6    | base62   | CRC-32 of everything before it, zero-padded    |
//!
//! The checksum lets secret scanners and this server reject typos and look-alikes
//! without touching the database. What the database keeps instead of the token is
//! a keyed MAC, computed by [`keyring`].

pub mod client;
pub mod keyring;
pub mod scan;

use std::fmt;

/// The prefix of tokens issued by a server that was not told otherwise.
pub const DEFAULT_PREFIX: &str = "hbxsa";
/// Length of the public id, in base62 characters.
pub const PUBLIC_ID_LEN: usize = 16;
/// Length of the secret, in base62 characters (32 × log2(62) ≈ 190 bits).
pub const SECRET_LEN: usize = 32;
/// Length of the checksum, in base62 characters (62^6 > 2^32).
pub const CHECKSUM_LEN: usize = 6;
const PREFIX_MAX_LEN: usize = 16;

/// Base62 digits in ascending value: `0-9`, then `A-Z`, then `a-z`.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The type prefix of tokens, validated to be 1–16 lowercase ASCII letters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenPrefix(String);

/// A token prefix that is not 1–16 lowercase ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token prefix {0:?} is invalid: use 1 to {PREFIX_MAX_LEN} lowercase ASCII letters")]
pub struct InvalidTokenPrefix(String);

impl TokenPrefix {
    pub fn parse(prefix: &str) -> Result<Self, InvalidTokenPrefix> {
        if prefix.is_empty()
            || prefix.len() > PREFIX_MAX_LEN
            || !prefix.bytes().all(|b| b.is_ascii_lowercase())
        {
            return Err(InvalidTokenPrefix(prefix.to_owned()));
        }
        Ok(Self(prefix.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Total length of a token with this prefix.
    pub fn token_len(&self) -> usize {
        self.secret_range().end + CHECKSUM_LEN
    }

    /// Where the public id sits in a token with this prefix (after
    /// `<prefix>_`).
    pub fn public_id_range(&self) -> std::ops::Range<usize> {
        let start = self.0.len() + 1;
        start..start + PUBLIC_ID_LEN
    }

    /// Where the secret sits in a token with this prefix (after
    /// `<prefix>_<public id>_`, before the checksum).
    pub fn secret_range(&self) -> std::ops::Range<usize> {
        let start = self.public_id_range().end + 1;
        start..start + SECRET_LEN
    }
}

impl Default for TokenPrefix {
    fn default() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }
}

impl std::str::FromStr for TokenPrefix {
    type Err = InvalidTokenPrefix;

    fn from_str(prefix: &str) -> Result<Self, InvalidTokenPrefix> {
        Self::parse(prefix)
    }
}

impl fmt::Display for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext bearer token. Its `Debug` and `Display` never show the secret, so
/// it cannot leak through a log line, a panic message or an error chain; the only
/// way to read it is [`PlaintextToken::expose`], called where the token is handed
/// to its owner (the create and rotate responses, and `bootstrap`).
#[derive(Clone, PartialEq, Eq)]
pub struct PlaintextToken(String);

impl PlaintextToken {
    pub(crate) fn new(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlaintextToken(<redacted>)")
    }
}

impl fmt::Display for PlaintextToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted token>")
    }
}

/// A freshly generated token and the non-secret facts about it that are stored
/// and shown (`token_public_id`, `token_last4`).
#[derive(Debug)]
pub struct GeneratedToken {
    pub plaintext: PlaintextToken,
    pub public_id: String,
    pub last4: String,
}

/// Generates a new token with `prefix`, drawing the public id and the secret from
/// the operating system's CSPRNG.
pub fn generate(prefix: &TokenPrefix) -> GeneratedToken {
    let public_id = random_base62(PUBLIC_ID_LEN);
    let secret = random_base62(SECRET_LEN);
    let body = format!("{prefix}_{public_id}_{secret}");
    let token = format!("{body}{}", encode_checksum(checksum(&body)));
    let last4 = token[token.len() - 4..].to_owned();
    GeneratedToken {
        plaintext: PlaintextToken(token),
        public_id,
        last4,
    }
}

/// A candidate token that passed every check that needs no database: prefix,
/// shape, alphabet and checksum.
#[derive(Debug, Clone, Copy)]
pub struct ParsedToken<'a> {
    token: &'a str,
    public_id: &'a str,
}

impl<'a> ParsedToken<'a> {
    pub fn public_id(&self) -> &'a str {
        self.public_id
    }

    /// The whole token, as the MAC is computed over it.
    pub fn as_str(&self) -> &'a str {
        self.token
    }
}

/// Why a string is not a well-formed token. None of these needs a database read,
/// and none of them carries any part of the rejected string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("the token does not start with this server's prefix")]
    WrongPrefix,
    #[error("the token does not have the shape <prefix>_<public id>_<secret><checksum>")]
    Malformed,
    #[error("the token's checksum does not match (a typo or a truncated copy)")]
    BadChecksum,
}

/// Checks `candidate` against the token format without any I/O.
pub fn parse<'a>(
    prefix: &TokenPrefix,
    candidate: &'a str,
) -> Result<ParsedToken<'a>, TokenFormatError> {
    let rest = candidate
        .strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(TokenFormatError::WrongPrefix)?;
    let rest = rest.as_bytes();
    if rest.len() != PUBLIC_ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN {
        return Err(TokenFormatError::Malformed);
    }
    let (public_id, rest) = rest.split_at(PUBLIC_ID_LEN);
    let (separator, rest) = rest.split_at(1);
    let (secret, checksum_digits) = rest.split_at(SECRET_LEN);
    if separator != b"_"
        || !is_base62(public_id)
        || !is_base62(secret)
        || !is_base62(checksum_digits)
    {
        return Err(TokenFormatError::Malformed);
    }
    let body = &candidate[..candidate.len() - CHECKSUM_LEN];
    if decode_checksum(checksum_digits) != Some(checksum(body)) {
        return Err(TokenFormatError::BadChecksum);
    }
    let public_id_start = prefix.as_str().len() + 1;
    Ok(ParsedToken {
        token: candidate,
        public_id: &candidate[public_id_start..public_id_start + PUBLIC_ID_LEN],
    })
}

/// CRC-32 (IEEE 802.3, as in zlib and PNG) of the token body.
fn checksum(body: &str) -> u32 {
    crc32fast::hash(body.as_bytes())
}

/// Base62, most significant digit first, zero-padded to [`CHECKSUM_LEN`].
fn encode_checksum(mut value: u32) -> String {
    let mut digits = [BASE62[0]; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits.to_vec()).expect("base62 digits are ASCII")
}

/// Inverse of [`encode_checksum`]; `None` for values that do not fit in 32 bits.
fn decode_checksum(digits: &[u8]) -> Option<u32> {
    let mut value: u64 = 0;
    for &digit in digits {
        value = value * 62 + u64::from(base62_value(digit)?);
    }
    u32::try_from(value).ok()
}

fn base62_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'Z' => Some(digit - b'A' + 10),
        b'a'..=b'z' => Some(digit - b'a' + 36),
        _ => None,
    }
}

fn is_base62(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_alphanumeric)
}

/// `len` base62 characters from the OS CSPRNG. Bytes of 248 or more are thrown
/// away (248 = 4 × 62), so every digit is exactly equally likely: no modulo bias.
pub(crate) fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut pool).expect("the operating system's random source failed");
        for &byte in pool.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> TokenPrefix {
        TokenPrefix::default()
    }

    #[test]
    fn crc32_known_answer() {
        // The standard CRC-32 check value.
        assert_eq!(checksum("123456789"), 0xCBF4_3926);
    }

    #[test]
    fn checksum_encoding_known_answers() {
        assert_eq!(encode_checksum(0), "000000");
        assert_eq!(encode_checksum(61), "00000z");
        assert_eq!(encode_checksum(62), "000010");
        assert_eq!(encode_checksum(u32::MAX), "4gfFC3");
        assert_eq!(encode_checksum(0xCBF4_3926), "3jZRME");
        for value in [0, 1, 61, 62, 3843, 0xCBF4_3926, u32::MAX] {
            assert_eq!(
                decode_checksum(encode_checksum(value).as_bytes()),
                Some(value)
            );
        }
        // Six base62 digits can exceed 32 bits; such checksums are not ours.
        assert_eq!(decode_checksum(b"zzzzzz"), None);
    }

    #[test]
    fn known_answer_tokens() {
        // Checksums computed independently (Python's zlib.crc32, then base62), so
        // other implementations (secret scanners, clients) can check against them.
        for (token, public_id) in [
            (
                "hbxsa_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123453fOlMQ",
                "0123456789ABCDEF",
            ),
            (
                "hbxsa_4Qz9LwP1cV7kTt0a_k3JqX8mN2vB6cZ1rT5yW9pL4sD7fG0hJ2zrTzw",
                "4Qz9LwP1cV7kTt0a",
            ),
        ] {
            assert_eq!(token.len(), 61);
            let parsed = parse(&prefix(), token).expect("valid token");
            assert_eq!(parsed.public_id(), public_id);
            assert_eq!(parsed.as_str(), token);
        }
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let generated = generate(&prefix());
        let token = generated.plaintext.expose();
        assert_eq!(token.len(), 61);
        assert_eq!(prefix().token_len(), 61);
        assert!(token.starts_with("hbxsa_"));
        let public_id = prefix().public_id_range();
        let secret = prefix().secret_range();
        assert_eq!(public_id, 6..22);
        assert_eq!(secret, 23..55);
        assert_eq!(&token[public_id.clone()], generated.public_id);
        assert_eq!(&token[public_id.end..secret.start], "_");
        assert_eq!(generated.last4, &token[token.len() - 4..]);
        let parsed = parse(&prefix(), token).expect("a generated token parses");
        assert_eq!(parsed.public_id(), generated.public_id);
    }

    #[test]
    fn generated_tokens_differ() {
        let a = generate(&prefix());
        let b = generate(&prefix());
        assert_ne!(a.plaintext, b.plaintext);
        assert_ne!(a.public_id, b.public_id);
    }

    #[test]
    fn base62_draws_are_roughly_uniform() {
        // 62 × 2000 draws: each digit is expected 2000 times. A modulo-biased
        // generator (byte % 62 without rejection) gives digits 0–7 about 25% more
        // often (5 chances in 256 instead of 4), far outside these bounds.
        let draws = random_base62(62 * 2000);
        let mut counts = [0u32; 62];
        for b in draws.bytes() {
            counts[usize::from(base62_value(b).unwrap())] += 1;
        }
        for (digit, &count) in counts.iter().enumerate() {
            assert!(
                (1750..=2250).contains(&count),
                "digit {digit} drawn {count} times out of 124000"
            );
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let token = generate(&prefix()).plaintext.into_exposed();
        let alphabet: Vec<char> = BASE62
            .iter()
            .map(|&b| char::from(b))
            .chain(['_', '-', ' ', '.', '\0', 'é', '\u{200b}'])
            .collect();
        let chars: Vec<char> = token.chars().collect();
        let mut tried = 0;
        for position in 0..chars.len() {
            for &replacement in &alphabet {
                if replacement == chars[position] {
                    continue;
                }
                let mut mutated = chars.clone();
                mutated[position] = replacement;
                let mutated: String = mutated.into_iter().collect();
                assert!(
                    parse(&prefix(), &mutated).is_err(),
                    "changing position {position} to {replacement:?} was accepted"
                );
                tried += 1;
            }
        }
        assert!(tried > 61 * 60);
        // Dropping or adding a character is rejected too.
        assert!(parse(&prefix(), &token[..token.len() - 1]).is_err());
        assert!(parse(&prefix(), &format!("{token}0")).is_err());
        assert!(parse(&prefix(), &format!("0{token}")).is_err());
    }

    #[test]
    fn other_prefixes_and_garbage_are_rejected() {
        let token = generate(&prefix()).plaintext.into_exposed();
        let other = TokenPrefix::parse("ghp").unwrap();
        assert_eq!(
            parse(&other, &token).unwrap_err(),
            TokenFormatError::WrongPrefix
        );
        for garbage in [
            "",
            "hbxsa",
            "hbxsa_",
            "Bearer x",
            "eyJhbGciOiJSUzI1NiJ9.e30.sig",
        ] {
            assert!(parse(&prefix(), garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn prefix_validation() {
        assert!(TokenPrefix::parse("hbxsa").is_ok());
        // The boundaries: one letter and sixteen are prefixes, seventeen is not.
        assert!(TokenPrefix::parse("a").is_ok());
        assert!(TokenPrefix::parse("abcdefghijklmnop").is_ok());
        for bad in ["", "HBX", "hbx_sa", "hbx1", "abcdefghijklmnopq"] {
            assert!(TokenPrefix::parse(bad).is_err(), "{bad:?}");
            assert!(bad.parse::<TokenPrefix>().is_err(), "FromStr {bad:?}");
        }
        assert_eq!("ghp".parse::<TokenPrefix>().unwrap().as_str(), "ghp");
    }

    /// A token whose checksum is right but one part is outside the alphabet
    /// (or the separator is wrong) is malformed: the shape check decides,
    /// not the checksum that happens to cover it.
    #[test]
    fn each_part_outside_the_alphabet_is_malformed_even_with_a_good_checksum() {
        let public_id = "0123456789ABCDEF";
        let secret = "abcdefghijklmnopqrstuvwxyz012345";
        let with_checksum = |body: String| format!("{body}{}", encode_checksum(checksum(&body)));
        let good = with_checksum(format!("hbxsa_{public_id}_{secret}"));
        assert!(parse(&prefix(), &good).is_ok());
        for (part, token) in [
            (
                "public id",
                with_checksum(format!("hbxsa_0123456789ABCDE-_{secret}")),
            ),
            (
                "separator",
                with_checksum(format!("hbxsa_{public_id}-{secret}")),
            ),
            (
                "secret",
                with_checksum(format!(
                    "hbxsa_{public_id}_abcdefghijklmnopqrstuvwxyz01234-"
                )),
            ),
        ] {
            assert_eq!(token.len(), good.len());
            assert_eq!(
                parse(&prefix(), &token).unwrap_err(),
                TokenFormatError::Malformed,
                "{part}"
            );
        }
        let bad_checksum_digit = format!("{}-", &good[..good.len() - 1]);
        assert_eq!(
            parse(&prefix(), &bad_checksum_digit).unwrap_err(),
            TokenFormatError::Malformed
        );
        assert!(!is_base62(b"abc-"));
        assert!(is_base62(b"aZ09"));
    }

    #[test]
    fn debug_and_display_never_show_the_token() {
        let generated = generate(&prefix());
        let secret = generated.plaintext.expose().to_owned();
        for rendered in [
            format!("{:?}", generated),
            format!("{:?}", generated.plaintext),
            format!("{}", generated.plaintext),
        ] {
            assert!(!rendered.contains(&secret));
            assert!(!rendered.contains(&secret[prefix().secret_range()]));
        }
        // And they say what they hide (an empty rendering would read as no
        // token at all in a log line).
        assert_eq!(
            format!("{:?}", generated.plaintext),
            "PlaintextToken(<redacted>)"
        );
        assert_eq!(format!("{}", generated.plaintext), "<redacted token>");
    }
}
