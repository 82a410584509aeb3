//! Extracting `Authorization: Basic <base64(id:secret)>` (RFC 7617), as OAuth
//! clients send it (RFC 6749 §2.3.1: both parts form-urlencoded first).

use base64::Engine as _;
use http::HeaderMap;

/// Why the `Authorization` header does not carry Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    /// No `Authorization` header, or one with another scheme.
    Missing,
    /// A Basic header that does not decode to `id:secret`.
    Malformed,
}

/// The client id and secret of a request.
pub fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), BasicError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let value = values.next().ok_or(BasicError::Missing)?;
    if values.next().is_some() {
        return Err(BasicError::Malformed);
    }
    let value = value.to_str().map_err(|_| BasicError::Malformed)?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicError::Missing);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_start_matches(' '))
        .map_err(|_| BasicError::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| BasicError::Malformed)?;
    let (id, secret) = decoded.split_once(':').ok_or(BasicError::Malformed)?;
    let unescape = |part: &str| -> String {
        form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    let (id, secret) = (unescape(id), unescape(secret));
    if id.is_empty() || secret.is_empty() {
        return Err(BasicError::Malformed);
    }
    Ok((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    fn basic(plain: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain)
        )
    }

    #[test]
    fn decodes_id_and_secret() {
        assert_eq!(
            basic_credentials(&with(&basic("hbxic_a:s3cr:et"))),
            Ok(("hbxic_a".into(), "s3cr:et".into()))
        );
        assert_eq!(
            basic_credentials(&with(&basic("a%2Bb:c+d"))),
            Ok(("a+b".into(), "c d".into())),
            "RFC 6749 form-urlencodes both parts"
        );
        assert_eq!(
            basic_credentials(&with(&basic("x:y").replace("Basic", "bAsIc"))),
            Ok(("x".into(), "y".into()))
        );
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(
            basic_credentials(&HeaderMap::new()),
            Err(BasicError::Missing)
        );
        assert_eq!(
            basic_credentials(&with("Bearer hbxsa_x")),
            Err(BasicError::Missing)
        );
        for bad in [
            "Basic".to_owned(),
            "Basic !!!".to_owned(),
            basic("no-colon"),
            basic(":secret"),
            basic("id:"),
        ] {
            assert_eq!(
                basic_credentials(&with(&bad)),
                Err(BasicError::Malformed),
                "{bad}"
            );
        }
    }
}
