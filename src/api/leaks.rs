//! Types of the leaked-token operations: reports from secret-scanning
//! partners (GitHub's secret scanning partner program, GitLab's token
//! revocation), in the format they send and the feedback they expect; and
//! the public revocation endpoint, for anyone holding a token.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One string a scanner found that looks like one of our tokens.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(example = "example_report")]
pub struct ReportedToken {
    /// The string found.
    pub token: String,
    /// The secret type the partner matched (`hbx_service_account_token`).
    #[serde(rename = "type")]
    pub token_type: Option<String>,
    /// Where it was found (a link to the commit, issue or file).
    pub url: Option<String>,
    /// What kind of place that is (`content`, `commit`, `issue`, ...).
    pub source: Option<String>,
}

fn example_report() -> ReportedToken {
    ReportedToken {
        token: "hbxsa_4Qz9LwP1cV7kTt0a_k3JqX8mN2vB6cZ1rT5yW9pL4sD7fG0hJ2zrTzw".to_owned(),
        token_type: Some(TOKEN_TYPE.to_owned()),
        url: Some("https://github.com/octo-org/octo-repo/blob/abc123/config.env".to_owned()),
        source: Some("content".to_owned()),
    }
}

/// The secret type of our tokens, as partners name it.
pub const TOKEN_TYPE: &str = "hbx_service_account_token";

/// Whether a reported string is one of our tokens: `true_positive` (it is,
/// whether or not it still worked) or `false_positive` (it is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenLabel {
    TruePositive,
    FalsePositive,
}

/// What the server says of one reported string, in the order reported.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct TokenReportFeedback {
    /// SHA-256 of the reported string, in lowercase hex.
    pub token_hash: String,
    /// Always `hbx_service_account_token`.
    pub token_type: String,
    /// `true_positive` or `false_positive`.
    pub label: TokenLabel,
}

/// The signature of a report from GitHub.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct GithubSignatureHeaders {
    /// Which of GitHub's published keys signed the report (required: a
    /// report without it is refused with 401).
    #[serde(rename = "Github-Public-Key-Identifier")]
    pub key_identifier: Option<String>,
    /// The base64 DER ECDSA P-256/SHA-256 signature of the raw body
    /// (required: a report without it is refused with 401).
    #[serde(rename = "Github-Public-Key-Signature")]
    pub signature: Option<String>,
}

/// The signature of a report from GitLab.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct GitlabSignatureHeaders {
    /// Which of GitLab's published keys signed the report (required: a
    /// report without it is refused with 401).
    #[serde(rename = "Gitlab-Public-Key-Identifier")]
    pub key_identifier: Option<String>,
    /// The base64 DER ECDSA P-256/SHA-256 signature of the raw body
    /// (required: a report without it is refused with 401).
    #[serde(rename = "Gitlab-Public-Key-Signature")]
    pub signature: Option<String>,
}

/// Credentials to revoke: tokens of this server that their holder wants
/// dead (found in a log, pasted by mistake).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicRevocationRequest {
    /// The tokens, at most 1000.
    #[schemars(length(max = 1000))]
    pub credentials: Vec<String>,
}

/// The answer to every revocation request, whatever the tokens were: it
/// tells nobody whether a token was valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct PublicRevocationReceipt {
    /// Always the same sentence.
    pub message: String,
}

impl PublicRevocationReceipt {
    pub fn accepted() -> Self {
        Self {
            message: "Received. Every live token of this server among them is revoked; \
                      nothing else is said about them."
                .to_owned(),
        }
    }
}
