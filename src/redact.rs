//! Secrets taken out of what is shown: URLs printed by `--check-config` and
//! named in logs and error chains. A URL may carry a credential in its user
//! part or its query (an API key, a signed link); what is shown keeps where
//! it points and hides those.

/// What stands in for a hidden secret.
pub const REDACTED: &str = "REDACTED";

/// A database URL for showing: the password of its user part, and the values
/// of query parameters that carry a password (`password`, `sslpassword`,
/// ...), are hidden; the user name and the other parameters (`sslmode`) are
/// kept, since an operator needs them to tell which database it is. Text
/// that does not parse as a URL may hide a password anywhere, so it is not
/// shown at all.
pub fn database_url(text: &str) -> String {
    redact(text, |name| name.to_ascii_lowercase().contains("password"))
}

/// A URL the server fetches from (a JWKS, a partner's key list), for showing:
/// its whole user part and every query value are hidden (any of them may be
/// a key), and its fragment is dropped. Text that does not parse as a URL is
/// not shown at all.
pub fn fetched_url(text: &str) -> String {
    let mut shown = redact(text, |_| true);
    if let Ok(mut url) = url::Url::parse(&shown)
        && !url.username().is_empty()
    {
        // Only fails for URLs that cannot have credentials, which have none.
        let _ = url.set_username(REDACTED);
        shown = url.to_string();
    }
    shown
}

/// `text` as a URL with its password hidden and the values of the query
/// parameters `secret` names; its fragment dropped.
fn redact(text: &str, secret: impl Fn(&str) -> bool) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return format!("{REDACTED} (not a URL)");
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which have none.
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) {
                    REDACTED.into()
                } else {
                    value
                };
                (name.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            database_url("postgres://app:s3cret@db.example:5432/hbx?sslmode=require"),
            "postgres://app:REDACTED@db.example:5432/hbx?sslmode=require"
        );
        assert_eq!(
            database_url("postgres://app@db/hbx"),
            "postgres://app@db/hbx"
        );
        // A password in the query, as sqlx and libpq accept it.
        let shown = database_url("postgres://app@db/hbx?password=s3cret&sslmode=require");
        assert_eq!(
            shown,
            "postgres://app@db/hbx?password=REDACTED&sslmode=require"
        );
        let shown = database_url("postgres://app@db/hbx?sslpassword=s3cret");
        assert!(!shown.contains("s3cret"), "{shown}");
        // Percent-encoded passwords, and ones with characters a URL parser
        // may split on.
        for url in [
            "postgres://app:s3%2Fcret@db/hbx",
            "postgres://app:s3/cret@db/hbx",
            "postgres://app:s3@cret@db/hbx",
            "postgres://app:s3:cret@db/hbx",
            "postgres://app:s3?cret@db/hbx",
            "postgres://app:s3#cret@db/hbx",
            "not a url with s3cret",
        ] {
            let shown = database_url(url);
            assert!(!shown.contains("s3"), "{url} is shown as {shown}");
            assert!(!shown.contains("cret"), "{url} is shown as {shown}");
        }
    }

    #[test]
    fn fetched_urls_lose_their_user_part_and_query_values() {
        assert_eq!(
            fetched_url("https://idp.example/jwks.json"),
            "https://idp.example/jwks.json"
        );
        assert_eq!(
            fetched_url("https://bot:s3cret@idp.example/jwks.json?api_key=s3cret&v=2#s3cret"),
            "https://REDACTED:REDACTED@idp.example/jwks.json?api_key=REDACTED&v=REDACTED"
        );
        assert_eq!(
            fetched_url("https://s3cret@keys.example/list"),
            "https://REDACTED@keys.example/list"
        );
        assert!(!fetched_url("s3cret is not a URL").contains("s3cret"));
    }
}
