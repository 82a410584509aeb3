//! Property tests of the parsers that read untrusted input, run in the normal
//! suite (the same functions are fuzzed by `scripts/fuzz`): the token parser,
//! the create body, the introspection form and Basic credentials, and the
//! unverified parts of a JWT. None may panic on any input, and each accepts
//! exactly what it should.

use base64::Engine as _;
use hbx_service_accounts::api::extract::{BodyFormat, Form, Json};
use hbx_service_accounts::api::types::CreateServiceAccountRequest;
use hbx_service_accounts::api::verification::IntrospectionRequest;
use hbx_service_accounts::auth::basic::basic_credentials;
use hbx_service_accounts::auth::oauth::read_unverified;
use hbx_service_accounts::domain::{NAME_MAX_CHARS, ServiceAccountName};
use hbx_service_accounts::token::{self, TokenPrefix};
use proptest::prelude::*;

fn base62() -> impl Strategy<Value = char> {
    prop::sample::select(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            .chars()
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_token_parser_never_panics(candidate in ".{0,80}") {
        let _ = token::parse(&TokenPrefix::default(), &candidate);
    }

    #[test]
    fn token_shaped_strings_parse_only_with_the_right_checksum(
        public_id in prop::collection::vec(base62(), 16),
        secret in prop::collection::vec(base62(), 32),
        checksum in prop::collection::vec(base62(), 6),
    ) {
        let public_id: String = public_id.into_iter().collect();
        let body = format!("hbxsa_{public_id}_{}", secret.into_iter().collect::<String>());
        let candidate = format!("{body}{}", checksum.into_iter().collect::<String>());
        let right = crate::common::with_checksum(&body);
        match token::parse(&TokenPrefix::default(), &candidate) {
            Ok(parsed) => {
                prop_assert_eq!(&candidate, &right);
                prop_assert_eq!(parsed.public_id(), public_id.as_str());
            }
            Err(_) => prop_assert_ne!(&candidate, &right),
        }
        prop_assert!(token::parse(&TokenPrefix::default(), &right).is_ok());
    }

    #[test]
    fn generated_tokens_parse_and_any_one_change_does_not(position in 0usize..61, replacement in any::<char>()) {
        let generated = token::generate(&TokenPrefix::default()).plaintext.into_exposed();
        prop_assert!(token::parse(&TokenPrefix::default(), &generated).is_ok());
        let mut chars: Vec<char> = generated.chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(token::parse(&TokenPrefix::default(), &changed).is_err());
    }

    #[test]
    fn random_bytes_as_a_create_body_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Json::decode::<CreateServiceAccountRequest>(&body);
    }

    #[test]
    fn create_bodies_with_any_name_decode_to_that_name(name in "\\PC{0,130}") {
        let body = serde_json::json!({ "name": name }).to_string();
        let request = Json::decode::<CreateServiceAccountRequest>(body.as_bytes()).unwrap();
        prop_assert_eq!(&request.name, &name);
        let parsed = ServiceAccountName::parse(name.clone());
        if name.chars().count() > NAME_MAX_CHARS || name.trim().is_empty() {
            prop_assert!(parsed.is_err());
        }
    }

    #[test]
    fn any_expiry_is_accepted_only_within_its_bounds(seconds in any::<i64>(), nanos in 0u32..2_000_000_000) {
        use hbx_service_accounts::service::policy::{TokenPolicy, latest_expiry, parse_expiry};
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let Some(requested) = chrono::DateTime::from_timestamp(seconds % 300_000_000_000, nanos) else {
            return Ok(());
        };
        let bounded = TokenPolicy { max_lifetime: Some(chrono::TimeDelta::days(90)), ..TokenPolicy::default() };
        for policy in [TokenPolicy::default(), bounded] {
            match parse_expiry(Some(requested), now, &policy) {
                Ok(Some(accepted)) => {
                    prop_assert!(accepted > now && accepted <= latest_expiry());
                    prop_assert!(nanos < 1_000_000_000, "a leap second was accepted");
                    prop_assert_eq!(accepted.timestamp_subsec_nanos() % 1000, 0, "microseconds");
                    if let Some(max) = policy.max_lifetime {
                        prop_assert!(accepted <= now + max);
                    }
                }
                Ok(None) => prop_assert!(false, "a requested expiry vanished"),
                Err(error) => prop_assert_eq!(error.field, "expires_at"),
            }
        }
    }

    #[test]
    fn any_claims_are_checked_without_a_panic(
        iss in proptest::option::of("[a-z:/.]{0,30}"),
        aud in proptest::option::of("[a-z]{0,10}"),
        exp in any::<f64>(),
        nbf in proptest::option::of(any::<i64>()),
        sub in ".{0,40}",
    ) {
        use hbx_service_accounts::auth::oauth::check_claims_json;
        let mut claims = serde_json::json!({"sub": sub, "nbf": nbf});
        if let Some(iss) = &iss { claims["iss"] = iss.clone().into(); }
        if let Some(aud) = &aud { claims["aud"] = aud.clone().into(); }
        if exp.is_finite() { claims["exp"] = exp.into(); }
        let checked = check_claims_json("https://issuer.example", &["api".to_owned()], claims.to_string().as_bytes());
        if checked.is_ok() {
            prop_assert_eq!(iss.as_deref(), Some("https://issuer.example"));
            prop_assert_eq!(aud.as_deref(), Some("api"));
            prop_assert!(uuid::Uuid::parse_str(&sub).is_ok());
        }
    }

    #[test]
    fn introspection_forms_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Form::decode::<IntrospectionRequest>(&body);
    }

    #[test]
    fn introspection_forms_carry_any_token(token in ".{1,100}", hint in proptest::option::of("[a-z_]{1,20}")) {
        let mut pairs = vec![("token", token.as_str())];
        if let Some(hint) = &hint {
            pairs.push(("token_type_hint", hint.as_str()));
        }
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let request = Form::decode::<IntrospectionRequest>(body.as_bytes()).unwrap();
        prop_assert_eq!(request.token, token);
        prop_assert_eq!(request.token_type_hint, hint);
    }

    #[test]
    fn basic_credentials_never_panic_and_round_trip(id in "[A-Za-z0-9_]{1,40}", secret in "[ -~]{1,60}", noise in ".{0,60}") {
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&noise) {
            headers.insert(http::header::AUTHORIZATION, value);
            let _ = basic_credentials(&headers);
        }
        let escaped: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{escaped}"));
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        prop_assert_eq!(basic_credentials(&headers), Ok((id, secret)));
    }

    #[test]
    fn unverified_jwt_parts_never_panic(header in ".{0,80}", claims in ".{0,80}", signature in "[A-Za-z0-9_-]{0,20}") {
        let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let _ = read_unverified(&format!("{}.{}.{signature}", b64(&header), b64(&claims)));
        let _ = read_unverified(&format!("{header}.{claims}.{signature}"));
    }

    #[test]
    fn jwts_with_crit_are_refused_whatever_else(extension in "[a-z]{1,10}") {
        let b64 = |value: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let token = format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256", "crit": [extension]})),
            b64(serde_json::json!({"iss": "https://issuer.example"}))
        );
        prop_assert!(read_unverified(&token).is_err());
    }
}

/// Every input a fuzzer once crashed on (kept under fuzz/regressions/) is
/// replayed through the same entry point, so the crash stays fixed.
#[test]
fn fuzz_regressions_stay_fixed() {
    use hbx_service_accounts::fuzzing::TARGETS;
    let mut fuzz_targets: Vec<String> = std::fs::read_dir("fuzz/fuzz_targets")
        .unwrap()
        .map(|file| file.unwrap().path())
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .collect();
    fuzz_targets.sort();
    let mut known: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    known.sort();
    assert_eq!(
        fuzz_targets, known,
        "every fuzz target has its entry point in fuzzing::TARGETS"
    );
    // Each target has saved inputs: no crash has been found so far, so they
    // are seeds, each an input one of the parser's rules was written for
    // (a character across a boundary the token is sliced at, a year past
    // 9999, a leap second, an unsigned or critical JWT, ...), named for it.
    // A crash the fuzzer finds is saved beside them.
    let mut replayed = 0;
    for (target, entry) in TARGETS {
        let dir = std::path::Path::new("fuzz/regressions").join(target);
        assert!(dir.is_dir(), "{} exists", dir.display());
        let mut inputs = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.file_name().is_some_and(|name| name == ".keep") {
                continue;
            }
            entry(&std::fs::read(&path).unwrap());
            inputs += 1;
        }
        assert!(inputs >= 3, "{target}: {inputs} saved inputs");
        replayed += inputs;
    }
    println!("replayed {replayed} saved fuzz inputs");
}

/// Characters that make a name display as another, or not at all: every one
/// of them is refused wherever it stands in a name.
const INVISIBLE: [char; 13] = [
    '\u{034F}',
    '\u{0000}',
    '\u{001F}',
    '\u{007F}',
    '\u{00AD}',
    '\u{200B}',
    '\u{200D}',
    '\u{202E}',
    '\u{2028}',
    '\u{2066}',
    '\u{FEFF}',
    '\u{3164}',
    '\u{E0041}',
];

/// A name: ordinary pieces, white space, other scripts, and now and then an
/// invisible character; from empty to beyond the longest allowed.
fn candidate_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        16 => "[a-z0-9_.-]{1,14}",
        3 => prop::sample::select(vec![" ", "\t", "é", "🦀", "ß", "名前"]).prop_map(str::to_owned),
        1 => prop::sample::select(INVISIBLE.to_vec()).prop_map(String::from),
        1 => prop::sample::select(BLANK.to_vec()).prop_map(String::from),
    ];
    let blank = prop::sample::select(BLANK.to_vec()).prop_map(String::from);
    prop_oneof![
        9 => prop::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat()),
        // Now and then a name of blank characters only, which must be
        // refused as empty.
        1 => prop::collection::vec(blank, 1..4).prop_map(|pieces| pieces.concat()),
    ]
}

/// Characters that show as blank space without being invisible: allowed
/// inside a name, refused as all of one.
const BLANK: [char; 4] = [' ', '\u{3000}', '\u{1680}', '\u{2800}'];

/// Create bodies as clients send them (a name, sometimes an expiry, now and
/// then an unknown field), and bytes that are not JSON at all.
fn create_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Expiries up to the year 9000 (RFC 3339's four digits), an unknown
        // field one time in eight (refused as a whole).
        9 => (
            candidate_name(),
            proptest::option::of(0i64..222_000_000_000),
            prop::bool::weighted(0.125),
        )
            .prop_map(|(name, expires, extra)| {
                let mut body = serde_json::json!({ "name": name });
                if let Some(seconds) = expires
                    && let Some(at) = chrono::DateTime::from_timestamp(seconds, 0)
                {
                    body["expires_at"] = at.to_rfc3339().into();
                }
                if extra {
                    body["description"] = "unknown".into();
                }
                body.to_string().into_bytes()
            }),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Every create body is decoded without a panic; every name the service
/// accepts is 1 to 120 characters, not only blank, with no control or
/// invisible character (Default_Ignorable_Code_Point included); and every name it refuses breaks one of those rules.
/// Run as a plain test so that it can count: most bodies must reach the name
/// checks, or the property proves nothing.
#[test]
fn create_bodies_never_panic_and_only_valid_names_are_accepted() {
    use proptest::test_runner::{Config, TestRunner};
    let checked = std::cell::Cell::new(0usize);
    let accepted = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config::with_cases(1024));
    runner
        .run(&create_body(), |body| {
            let Ok(request) = Json::decode::<CreateServiceAccountRequest>(&body) else {
                return Ok(());
            };
            checked.set(checked.get() + 1);
            let name = request.name.clone();
            let length = name.chars().count();
            let breaks_a_rule = length == 0
                || length > NAME_MAX_CHARS
                || name
                    .chars()
                    .all(|c| c.is_whitespace() || BLANK.contains(&c))
                || name.chars().any(|c| {
                    c.is_control()
                        || INVISIBLE.contains(&c)
                        || hbx_service_accounts::domain::names::is_default_ignorable(c)
                });
            match ServiceAccountName::parse(request.name) {
                Ok(valid) => {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(!breaks_a_rule, "accepted {:?}", valid.as_str());
                    prop_assert_eq!(valid.as_str(), name.as_str(), "kept exactly as sent");
                }
                Err(error) => {
                    prop_assert_eq!(error.field, "name");
                    prop_assert!(breaks_a_rule, "refused {name:?}: {}", error.message);
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        checked.get() > 500 && accepted.get() > 200,
        "the name checks ran for {} bodies, {} accepted",
        checked.get(),
        accepted.get()
    );
}
