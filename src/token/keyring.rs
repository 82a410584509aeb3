//! The server-side keys under which tokens are MACed before they are stored.
//!
//! The database never holds a token, only `HMAC-SHA-256(key, token)` and the
//! version of the key used. Keys live in a key file, one per line as
//! `v<version> <64 hex digits>`; the highest version signs new tokens and every
//! listed version still verifies old ones, so a key can be rotated by appending a
//! line and restarting (old tokens keep working until rotated or revoked; drop the
//! old line once none remain under it).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Key length in bytes (the HMAC-SHA-256 block size would allow more; 32 is the
/// digest size and the usual choice).
pub const KEY_LEN: usize = 32;

/// A MAC of one token and the key version that made it: what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMac {
    pub key_version: u32,
    pub digest: Vec<u8>,
}

/// All known token keys; the highest version is current.
pub struct TokenKeyring {
    keys: BTreeMap<u32, [u8; KEY_LEN]>,
    /// How many MACs this keyring has computed: lets a test see that two ways
    /// of failing cost the same work, without timing anything.
    computed: AtomicU64,
}

impl std::fmt::Debug for TokenKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeyring")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("cannot read the token key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the token key file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the token key file {path} is invalid at line {line}: {problem} \
         (each line must be `v<version> <64 hex digits>`)"
    )]
    Invalid {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("the token key file {path} holds no key")]
    Empty { path: String },
}

impl TokenKeyring {
    /// A keyring holding exactly `key` as version `version`.
    pub fn single(version: u32, key: [u8; KEY_LEN]) -> Self {
        Self {
            keys: BTreeMap::from([(version, key)]),
            computed: AtomicU64::new(0),
        }
    }

    /// Reads the key file at `path`, first creating it with one fresh random
    /// key (mode 0600, never overwriting) if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyringError> {
        if !path.exists() {
            create_key_file(path)?;
        }
        Self::load(path)
    }

    /// Reads the key file at `path`; it must exist.
    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyringError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut keys = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let invalid = |problem: &str| KeyringError::Invalid {
                path: shown.clone(),
                line: index + 1,
                problem: problem.to_owned(),
            };
            let (version, hex_key) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| invalid("expected a version and a key"))?;
            // Both stores keep the version as a 32-bit signed integer.
            let version: u32 = version
                .strip_prefix('v')
                .and_then(|v| v.parse().ok())
                .filter(|v| (1..=i32::MAX as u32).contains(v))
                .ok_or_else(|| invalid("the version must look like v1 (1 to 2147483647)"))?;
            let mut key = [0u8; KEY_LEN];
            hex::decode_to_slice(hex_key.trim(), &mut key)
                .map_err(|_| invalid("the key must be exactly 64 hex digits"))?;
            if keys.insert(version, key).is_some() {
                return Err(invalid("this version appears twice"));
            }
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty { path: shown });
        }
        Ok(Self {
            keys,
            computed: AtomicU64::new(0),
        })
    }

    /// The version that new tokens are MACed under.
    pub fn current_version(&self) -> u32 {
        *self
            .keys
            .keys()
            .next_back()
            .expect("a keyring is never empty")
    }

    /// How many MACs have been computed so far.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }

    fn mac_with(&self, key: &[u8; KEY_LEN], token: &str) -> HmacSha256 {
        self.computed.fetch_add(1, Ordering::Relaxed);
        mac_with(key, token)
    }

    /// MAC of `token` under the current key.
    pub fn mac(&self, token: &str) -> TokenMac {
        let key_version = self.current_version();
        TokenMac {
            key_version,
            digest: self
                .mac_with(&self.keys[&key_version], token)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Whether `stored` is the MAC of `token`, compared in constant time. A key
    /// version this keyring does not know never verifies.
    pub fn verify(&self, token: &str, stored: &TokenMac) -> bool {
        match self.keys.get(&stored.key_version) {
            Some(key) => self
                .mac_with(key, token)
                .verify_slice(&stored.digest)
                .is_ok(),
            None => false,
        }
    }

    /// Does the same work as a failed [`verify`](Self::verify), so that an
    /// unknown public id takes as long to refuse as a wrong secret.
    pub fn burn_equivalent_work(&self, token: &str) {
        let key = &self.keys[&self.current_version()];
        let _ = self.mac_with(key, token).verify_slice(&[0u8; 32]);
    }
}

/// Keys for purposes other than token MACs, derived from the token keys so
/// that the key file stays the one secret to keep.
impl TokenKeyring {
    /// Every key version, newest (current) first.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().rev().copied().collect()
    }

    /// HMAC-SHA-256 of `message` under key `version` (none if unknown). The
    /// caller separates purposes by what it puts in `message`.
    pub fn mac_under(&self, version: u32, message: &[u8]) -> Option<[u8; 32]> {
        let key = self.keys.get(&version)?;
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message);
        Some(mac.finalize().into_bytes().into())
    }

    /// A key for `purpose` derived with HKDF-SHA-256 from key `version`
    /// together with `secret` (none if the version is unknown): without
    /// both, it cannot be computed.
    pub fn derive(&self, version: u32, secret: &[u8], purpose: &[u8]) -> Option<[u8; 32]> {
        let key = self.keys.get(&version)?;
        let mut input = Vec::with_capacity(KEY_LEN + 1 + secret.len());
        input.extend_from_slice(key);
        input.push(0);
        input.extend_from_slice(secret);
        let mut derived = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &input)
            .expand(purpose, &mut derived)
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        Some(derived)
    }
}

fn mac_with(key: &[u8; KEY_LEN], token: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(token.as_bytes());
    mac
}

/// Warns when a key file can be read by anyone but its owner.
pub fn permission_warning(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "the token key file {} has mode {:o}; it should be readable by its owner only (chmod 600)",
            path.display(),
            mode & 0o777
        )
    })
}

/// Creates a key file at `path` holding one fresh random key (mode 0600). Fails
/// if the file exists: a key file is never overwritten.
pub fn create_key_file(path: &Path) -> Result<(), KeyringError> {
    let create_error = |source| KeyringError::Create {
        path: path.display().to_string(),
        source,
    };
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| create_error(std::io::Error::other(e.to_string())))?;
    let contents = format!(
        "# Token MAC keys for hbx-sa. Keep this file secret and backed up:\n\
         # without it no issued token can be verified.\n\
         v1 {}\n",
        hex::encode(key)
    );
    crate::private_files::write_new_file(path, contents.as_bytes()).map_err(create_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_known_answer() {
        // RFC 4231, test case 2: the primitive itself, with the RFC's key.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn mac_known_answer_with_a_32_byte_key() {
        // Computed independently with Python: hmac.new(bytes(range(32)), b"hbxsa_...", sha256).
        let keyring = TokenKeyring::single(1, std::array::from_fn(|i| i as u8));
        let token = "hbxsa_0123456789ABCDEF_abcdefghijklmnopqrstuvwxyz0123453fOlMQ";
        let mac = keyring.mac(token);
        assert_eq!(mac.key_version, 1);
        assert_eq!(hex::encode(&mac.digest), KNOWN_MAC);
        assert!(keyring.verify(token, &mac));
    }

    const KNOWN_MAC: &str = "358c8301ccf659ba6250040637ff9334898e0bcef456c6abfabd35b387433a4a";

    #[test]
    fn verify_rejects_other_tokens_versions_and_digests() {
        let keyring = TokenKeyring::single(3, [7u8; KEY_LEN]);
        let mac = keyring.mac("a");
        assert!(keyring.verify("a", &mac));
        assert!(!keyring.verify("b", &mac));
        let mut flipped = mac.clone();
        flipped.digest[31] ^= 1;
        assert!(!keyring.verify("a", &flipped));
        let wrong_version = TokenMac {
            key_version: 2,
            ..mac.clone()
        };
        assert!(!keyring.verify("a", &wrong_version));
        let truncated = TokenMac {
            digest: mac.digest[..16].to_vec(),
            ..mac
        };
        assert!(!keyring.verify("a", &truncated));
    }

    #[test]
    fn created_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let first = TokenKeyring::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(permission_warning(&path), None);
        let again = TokenKeyring::load_or_create(&path).unwrap();
        assert_eq!(first.mac("x"), again.mac("x"));
    }

    #[test]
    fn rotation_keeps_old_versions_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let v1 = TokenKeyring::load_or_create(&path).unwrap();
        let old = v1.mac("token");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("v2 {}\n", "ab".repeat(32)));
        std::fs::write(&path, text).unwrap();
        let rotated = TokenKeyring::load(&path).unwrap();
        assert_eq!(rotated.current_version(), 2);
        assert_eq!(rotated.mac("token").key_version, 2);
        assert!(rotated.verify("token", &old));
    }

    #[test]
    fn invalid_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        for (contents, expected) in [
            ("", "holds no key"),
            ("# only a comment\n", "holds no key"),
            ("v1\n", "line 1"),
            ("1 00\n", "version must look like v1"),
            (&format!("v0 {}\n", "00".repeat(32)), "1 to 2147483647"),
            (
                &format!("v2147483648 {}\n", "00".repeat(32)),
                "1 to 2147483647",
            ),
            ("v1 abcd\n", "64 hex digits"),
            (
                &format!("v1 {0}\nv1 {0}\n", "00".repeat(32)),
                "appears twice",
            ),
        ] {
            std::fs::write(&path, contents).unwrap();
            let message = TokenKeyring::load(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{contents:?}: {message}");
        }
    }

    #[test]
    fn loose_permissions_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("v1 {}\n", "00".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(permission_warning(&path).unwrap().contains("chmod 600"));
    }

    /// The keys derived for other purposes: a MAC under a named version and
    /// an HKDF key from a version and a secret, each checked against an
    /// independent computation (Python's hmac, and HKDF written out from RFC
    /// 5869), none for an unknown version; versions newest first; and every
    /// MAC computed counted, a refusal's burnt work included.
    #[test]
    fn derived_keys_versions_and_the_work_counted() {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(
            &path,
            format!("v3 {}\nv5 {}\n", "07".repeat(32), "ab".repeat(32)),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let keyring = TokenKeyring::load(&path).unwrap();
        assert_eq!(keyring.versions(), vec![5, 3]);
        assert_eq!(
            hex(&keyring.mac_under(3, b"webhook:abc").unwrap()),
            "e8c184b772a45fcf9de665890ed5242653349b1e4948462f9a37986dcf9052a6"
        );
        assert_ne!(
            keyring.mac_under(5, b"webhook:abc"),
            keyring.mac_under(3, b"webhook:abc")
        );
        assert_eq!(keyring.mac_under(4, b"webhook:abc"), None);
        assert_eq!(
            hex(&keyring.derive(3, b"secret", b"purpose").unwrap()),
            "823c1defa783b0a69fe7a93593f01f575ae166762072c2be313478d377574852"
        );
        assert_ne!(
            keyring.derive(3, b"secret", b"other"),
            keyring.derive(3, b"secret", b"purpose")
        );
        assert_eq!(keyring.derive(4, b"secret", b"purpose"), None);
        let debug = format!("{keyring:?}");
        assert!(
            debug.contains("TokenKeyring") && debug.contains("[3, 5]"),
            "{debug}"
        );
        assert!(!debug.contains("07070707"), "no key in the Debug output");

        assert_eq!(keyring.computed(), 0);
        let mac = keyring.mac("hbxsa_token");
        assert!(keyring.verify("hbxsa_token", &mac));
        keyring.burn_equivalent_work("hbxsa_other");
        assert_eq!(
            keyring.computed(),
            3,
            "a MAC, a verification, a refusal's work"
        );
    }
}
