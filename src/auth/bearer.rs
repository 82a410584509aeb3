//! Extracting the credential from `Authorization: Bearer <credential>` (RFC 6750 §2.1).

use http::HeaderMap;

/// Why the `Authorization` header does not carry a usable bearer credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No bearer credential: no `Authorization` header, or one with another
    /// scheme (RFC 6750 §3.1 treats both as "no authentication information").
    Missing,
    /// A header that is not a single well-formed `Bearer` credential.
    Malformed,
}

/// The bearer credential of a request. The scheme name is case-insensitive;
/// the credential must be a single token68 word (no spaces, no quoting).
pub fn bearer_credential(headers: &HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(BearerError::Missing)?;
    if values.next().is_some() {
        return Err(BearerError::Malformed);
    }
    let value = value.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let credential = credential.trim_start_matches(' ');
    if credential.is_empty() || !credential.bytes().all(is_token68_byte) {
        return Err(BearerError::Malformed);
    }
    Ok(credential)
}

/// RFC 7235 token68: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`, then `=` padding.
fn is_token68_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(
                http::header::AUTHORIZATION,
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn accepts_bearer_in_any_case() {
        assert_eq!(bearer_credential(&with(&["Bearer abc"])), Ok("abc"));
        assert_eq!(bearer_credential(&with(&["bearer abc"])), Ok("abc"));
        assert_eq!(bearer_credential(&with(&["BEARER  abc"])), Ok("abc"));
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(
            bearer_credential(&HeaderMap::new()),
            Err(BearerError::Missing)
        );
        for other_scheme in ["", "Basic abc", "abc", "Token abc"] {
            assert_eq!(
                bearer_credential(&with(&[other_scheme])),
                Err(BearerError::Missing),
                "{other_scheme:?}"
            );
        }
        for bad in [
            "Bearer",
            "Bearer ",
            "bearer   ",
            "Bearer a b",
            "Bearer \"abc\"",
            "Bearer a,b",
            "Bearer é",
        ] {
            assert_eq!(
                bearer_credential(&with(&[bad])),
                Err(BearerError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            bearer_credential(&with(&["Bearer a", "Bearer b"])),
            Err(BearerError::Malformed)
        );
    }
}
