//! The API's constants: its version, the largest body each operation takes,
//! and the names the document gives its security schemes.

/// Version of the API contract (the document's `info.version`). The major
/// number goes up with every breaking change.
pub const API_VERSION: semver::Version = semver::Version::new(1, 9, 0);

/// Largest request body any operation accepts. A create request is at most a
/// 120-character name and a timestamp; 8 KiB leaves room for generous escaping
/// and white space while keeping hostile bodies cheap to refuse.
pub const REQUEST_BODY_MAX_BYTES: usize = 8 * 1024;

/// Largest introspection request: room for a large access token (an identity
/// provider's JWT with many claims runs to a few KiB).
pub const INTROSPECTION_BODY_MAX_BYTES: usize = 16 * 1024;

/// Largest leak report: 1000 tokens, each with a URL of up to about 2 KiB.
pub const LEAK_REPORT_BODY_MAX_BYTES: usize = 2 * 1024 * 1024;

/// Largest public revocation request: 1000 tokens and generous escaping.
pub const PUBLIC_REVOCATION_BODY_MAX_BYTES: usize = 256 * 1024;

/// Name of the bearer security scheme in the document (every operation but
/// introspection).
pub const SECURITY_SCHEME: &str = "bearerAuth";
/// Name of the HTTP Basic security scheme of introspection clients.
pub const INTROSPECTION_SECURITY_SCHEME: &str = "basicAuth";
/// The path of the introspection endpoint.
pub const INTROSPECTION_PATH: &str = "/v1/internal/auth/introspect";
