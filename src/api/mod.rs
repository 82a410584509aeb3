//! The interface: the Dropshot API trait, its types, and the one function that
//! turns them into the OpenAPI document checked in at
//! `openapi/hbx-service-accounts.json`. No storage and no business logic lives
//! here; the implementation is in `crate::server`.

pub mod errors;
pub mod examples;
pub mod extract;
pub mod platform;
pub mod secret_scanning;
pub mod types;

use dropshot::{
    HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseHeaders, HttpResponseOk,
    RequestContext,
};

use self::extract::{FormBody, HeaderParams, JsonBody, PathParams, QueryParams};
use self::platform::{IntrospectionRequest, IntrospectionResponse, Whoami};
use self::secret_scanning::{
    GithubSignatureHeaders, GitlabSignatureHeaders, PublicRevocationReceipt,
    PublicRevocationRequest, ReportedToken, TokenReportFeedback,
};
use self::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, CredentialAnswerHeaders,
    DocsFilePath, HealthStatus, IdempotencyHeaders, ListServiceAccountsQuery,
    RotateServiceAccountQuery, RotatedHeaders, ServiceAccount, ServiceAccountPath,
    ServiceAccountWithToken, SunsetHeaders, WhoamiHeaders,
};

/// Version of the API contract (the document's `info.version`). The major
/// number goes up with every breaking change.
pub const API_VERSION: semver::Version = semver::Version::new(1, 4, 0);

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

#[dropshot::api_description]
pub trait ServiceAccountsApi {
    type Context;

    /// Create a service account
    ///
    /// Creates a service account in the account and issues its bearer token. The
    /// token is in this response and nowhere else: store it now, it is never
    /// returned again (rotate to get a new one). The new service account holds no
    /// capabilities until one is granted. Send an `Idempotency-Key` to make the
    /// request safe to retry: a retry after a timeout then gets this response,
    /// token included, instead of a 409. Requires the `auth.manage` capability
    /// on the account.
    #[endpoint {
        method = POST,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts",
        tags = ["service-accounts"],
        request_body_max_bytes = REQUEST_BODY_MAX_BYTES,
    }]
    async fn create_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    >;

    /// List service accounts
    ///
    /// Lists the account's service accounts as a bare JSON array, oldest first (by
    /// `created_at`, then `id`). Revoked service accounts are left out unless
    /// `include_revoked=true`; expired ones are listed. To read a large account in
    /// pages, pass `limit` and then, for each next page, `after` set to the `id` of
    /// the last service account received; a page shorter than `limit` is the last.
    /// Tokens are never included. Requires the `auth.manage` capability on the
    /// account.
    #[endpoint {
        method = GET,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts",
        tags = ["service-accounts"],
    }]
    async fn list_service_accounts(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListServiceAccountsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<ServiceAccount>>, SunsetHeaders>, HttpError>;

    /// Get a service account
    ///
    /// Returns one service account of the account, revoked or not. Its token is
    /// never included. Requires the `auth.manage` capability on the account.
    #[endpoint {
        method = GET,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}",
        tags = ["service-accounts"],
    }]
    async fn get_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// Rotate a service account's token
    ///
    /// Issues a new token for the service account and returns it, in this response
    /// only. By default the replaced token stops working at once. To rotate
    /// without an outage, pass `grace_period_seconds`: the replaced token then
    /// keeps working until `previous_token_expires_at` (responses to requests
    /// made with it carry a `Sunset` header), while its users move to the new
    /// one; watch `previous_token_last_used_at`, then end the grace early with
    /// `retire-previous-token` if you like. There is at most one previous token:
    /// rotating again ends an earlier grace period at once. The service account
    /// keeps its `id`, `name`, `created_*` and `expires_at`; `last_used_at`
    /// starts over and `updated_at` moves. A revoked service account cannot be
    /// rotated (409 `service_account_revoked`), nor can an expired one (409
    /// `service_account_expired`): create a new one instead. Send an
    /// `Idempotency-Key` to make the request safe to retry. Takes no request
    /// body. Requires the `auth.manage` capability on the account.
    #[endpoint {
        method = POST,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/rotate",
        tags = ["service-accounts"],
    }]
    async fn rotate_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
        query: QueryParams<RotateServiceAccountQuery>,
        headers: HeaderParams<IdempotencyHeaders>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, RotatedHeaders>,
        HttpError,
    >;

    /// Retire a service account's previous token
    ///
    /// Ends the grace period of the token that a rotation replaced: from now
    /// on only the current token works. Do it once `previous_token_last_used_at`
    /// shows that nothing uses the old token any more. Without a previous token
    /// still in its grace period this changes nothing; either way the answer is
    /// the service account as it now stands (so retrying is safe). Takes no
    /// request body. Requires the `auth.manage` capability on the account.
    #[endpoint {
        method = POST,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/retire-previous-token",
        tags = ["service-accounts"],
    }]
    async fn retire_previous_token(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// Revoke a service account
    ///
    /// Revokes the service account: its tokens (the current one, and a previous
    /// one in its grace period) stop working at once, and it is listed only with
    /// `include_revoked=true`. The record stays, with `revoked_at` and
    /// `revoked_by_user_id`. Revoking it again changes nothing and returns the
    /// first revocation. Takes no request body. Requires the `auth.manage`
    /// capability on the account.
    #[endpoint {
        method = POST,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/revoke",
        tags = ["service-accounts"],
    }]
    async fn revoke_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// Who am I
    ///
    /// Describes the caller: a service account (its id, account, name, and the
    /// token used: its public id, whether it is the current or the previous
    /// one, and when it stops working) or a user (their id and the access
    /// token's expiry), and its grants in every account where it has standing.
    /// Any valid bearer credential may ask; no capability is needed. Counts as
    /// a use of a service-account token (`last_used_at`).
    #[endpoint {
        method = GET,
        path = "/v1/public/auth/whoami",
        tags = ["auth"],
    }]
    async fn whoami(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError>;

    /// Introspect a token
    ///
    /// Tells a Hybridbox platform component (a gateway, a resource server)
    /// whether a token is active and whom it speaks for (RFC 7662). The caller
    /// is an introspection client, authenticated with HTTP Basic
    /// (`client_id:client_secret`, from `hbx-sa introspection-clients
    /// create`); bearer tokens are not accepted here. The body is form-encoded:
    /// `token`, and optionally `token_type_hint` (ignored). An inactive token
    /// (malformed, unknown, expired, revoked, rotated away, or a failing access
    /// token) is exactly `{"active": false}` whatever the reason. An active one
    /// carries `token_type`, `sub`, `exp`, `iat` and the `hbx_` members,
    /// grants included; a service-account token that a rotation replaced is
    /// active until its grace period ends (`exp`), with `hbx_token_generation`
    /// `previous`. Counts as a use of a service-account token. Callers may
    /// cache an answer for at most 1 second (the revocation bound). If the
    /// authorization server's keys cannot be fetched, an access token gets 503
    /// `unavailable`: it may be fine, ask again later.
    #[endpoint {
        method = POST,
        path = "/v1/internal/auth/introspect",
        tags = ["platform"],
        content_type = "application/x-www-form-urlencoded",
        request_body_max_bytes = INTROSPECTION_BODY_MAX_BYTES,
    }]
    async fn introspect_token(
        rqctx: RequestContext<Self::Context>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    >;

    /// Report leaked tokens (GitHub)
    ///
    /// For GitHub's secret scanning partner program: GitHub sends the strings
    /// of our token form it found in public, signed with one of its published
    /// keys (ECDSA P-256/SHA-256 over the raw body, base64 DER, in
    /// `Github-Public-Key-Signature`, the key named in
    /// `Github-Public-Key-Identifier`). A bad or missing signature is 401 and
    /// changes nothing. Each reported token that is ours (form, checksum and
    /// a stored MAC) is a `true_positive`, even if it no longer works; a live
    /// one is put out of use at once (the service account is revoked with
    /// `revoked_reason` `leaked`; a previous token in its grace period is
    /// retired), unless the server only records (`--secret-scanning-action
    /// notify`); each is audited with its source and URL. Anything else is a
    /// `false_positive`. At most 1000 tokens per report. No bearer
    /// credential: the signature is the authority.
    #[endpoint {
        method = POST,
        path = "/v1/public/secret-scanning/github",
        tags = ["secret-scanning"],
        request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
    }]
    async fn report_github_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GithubSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    /// Report leaked tokens (GitLab)
    ///
    /// The same as the GitHub operation, for GitLab's token revocation: the
    /// report is signed the same way, with the key and signature in
    /// `Gitlab-Public-Key-Identifier` and `Gitlab-Public-Key-Signature`, and
    /// checked against the keys at `--secret-scanning-gitlab-keys-url`
    /// (without one, every report is 401).
    #[endpoint {
        method = POST,
        path = "/v1/public/secret-scanning/gitlab",
        tags = ["secret-scanning"],
        request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
    }]
    async fn report_gitlab_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GitlabSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    /// Revoke tokens you hold
    ///
    /// For anyone who holds a token of this server and wants it dead (found in
    /// a log, pasted in a chat): holding it is the authority to revoke it, so
    /// no credential is needed. Always 202 with the same body, whatever the
    /// tokens are (live, revoked, unknown or not tokens at all): the answer
    /// tells nobody whether a token was valid. Each live token among them is
    /// put out of use (its service account is revoked with `revoked_reason`
    /// `reported`; a previous token in its grace period is retired) and
    /// audited with the client's address. At most 1000 tokens per request;
    /// requests are rate-limited per client address (429 `rate_limited`, with
    /// `Retry-After`).
    #[endpoint {
        method = POST,
        path = "/v1/public/credentials/revoke",
        tags = ["secret-scanning"],
        request_body_max_bytes = PUBLIC_REVOCATION_BODY_MAX_BYTES,
    }]
    async fn revoke_credentials(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<PublicRevocationRequest>,
    ) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError>;

    /// Liveness: the process answers. For orchestrators; not part of the
    /// published API.
    #[endpoint {
        method = GET,
        path = "/healthz",
        unpublished = true,
    }]
    async fn healthz(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<HealthStatus>, HttpError>;

    /// Readiness: the database answers and its schema is up to date (503
    /// `unavailable` otherwise). For load balancers; not part of the published
    /// API.
    #[endpoint {
        method = GET,
        path = "/readyz",
        unpublished = true,
    }]
    async fn readyz(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseOk<HealthStatus>, HttpError>;

    /// Prometheus metrics (text format), unless `--metrics-bind` serves them
    /// elsewhere. Not part of the published API.
    #[endpoint {
        method = GET,
        path = "/metrics",
        unpublished = true,
    }]
    async fn metrics(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<http::Response<dropshot::Body>, HttpError>;

    /// This document, byte for byte as checked in. Not part of the published
    /// API (it is left out of the document itself).
    #[endpoint {
        method = GET,
        path = "/openapi.json",
        unpublished = true,
    }]
    async fn openapi_json(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<http::Response<dropshot::Body>, HttpError>;

    /// The API reference as a web page, rendered from `/openapi.json`, with
    /// every asset served from here. Not part of the published API.
    #[endpoint {
        method = GET,
        path = "/docs",
        unpublished = true,
    }]
    async fn docs(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<http::Response<dropshot::Body>, HttpError>;

    /// The reference page's assets (the renderer and its licenses). Not part
    /// of the published API.
    #[endpoint {
        method = GET,
        path = "/docs/{file}",
        unpublished = true,
    }]
    async fn docs_file(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<DocsFilePath>,
    ) -> Result<http::Response<dropshot::Body>, HttpError>;
}

/// The checked-in document, as served by `GET /openapi.json`. The snapshot test
/// keeps it identical to [`openapi_document`].
pub const CHECKED_IN_DOCUMENT: &str = include_str!("../../openapi/hbx-service-accounts.json");

/// The OpenAPI document of the API, byte for byte as checked in. Built from the
/// trait's stub description, then completed with what Dropshot cannot express:
/// servers, tag descriptions, the bearer security scheme and the error codes.
pub fn openapi_document() -> String {
    let description = service_accounts_api_mod::stub_api_description()
        .expect("the API trait describes a valid API");
    let mut definition = description.openapi("Hybridbox service accounts API", API_VERSION);
    definition
        .description(API_DESCRIPTION)
        .contact_name("Hybridbox")
        .contact_url("https://docs.hybridbox.io")
        .license("MPL-2.0", "https://www.mozilla.org/en-US/MPL/2.0/");
    let mut raw = Vec::new();
    definition
        .write(&mut raw)
        .expect("writing to memory cannot fail");
    // Parse into openapiv3's typed model (order-preserving), add what Dropshot
    // cannot say, and write it back in the same order.
    let mut document: openapiv3::OpenAPI =
        serde_json::from_slice(&raw).expect("Dropshot writes a valid OpenAPI document");
    add_servers(&mut document);
    add_tags(&mut document);
    document_errors(&mut document);
    add_bearer_security(&mut document);
    add_introspection_security(&mut document);
    add_links(&mut document);
    require_every_member(&mut document, "Whoami");
    document_secret_scanning(&mut document);
    let mut text = serde_json::to_string_pretty(&document).expect("the document serializes");
    text.push('\n');
    text
}

const API_DESCRIPTION: &str = "Create, list, get, rotate and revoke the service accounts of a \
Hybridbox account: non-human identities that call the public API with a bearer token. And \
verify either kind of Hybridbox credential, for the caller itself (whoami) or for another \
platform component (token introspection).\n\n\
The service-account operations need the `auth.manage` capability on the account, and a bearer \
credential: a service account token or an OAuth access token (see the `bearerAuth` security \
scheme). Whoami needs any valid bearer credential. Introspection is for platform components \
only: introspection clients authenticated with HTTP Basic (the `basicAuth` scheme). A \
service account's plaintext token is returned exactly once, by create and by rotate; store it \
then. Timestamps are UTC (`Z`) with microsecond precision. Errors share one body, \
`{request_id, error_code, message}`, with the stable `error_code` values listed below and \
under the `Error` schema.";

fn add_servers(document: &mut openapiv3::OpenAPI) {
    document.servers = vec![
        openapiv3::Server {
            url: "https://api.hybridbox.io".to_owned(),
            description: Some("Hybridbox production".to_owned()),
            ..Default::default()
        },
        openapiv3::Server {
            url: "http://127.0.0.1:8080".to_owned(),
            description: Some("A local `hbx-sa serve` with its default address".to_owned()),
            ..Default::default()
        },
    ];
}

fn add_tags(document: &mut openapiv3::OpenAPI) {
    let tag = |name: &str, description: &str| openapiv3::Tag {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        ..Default::default()
    };
    document.tags = vec![
        tag(
            "service-accounts",
            "Service accounts of an account and their bearer tokens: create, list, get, \
             rotate, revoke.",
        ),
        tag(
            "auth",
            "The caller's own identity: who a bearer credential speaks for.",
        ),
        tag(
            "platform",
            "For other Hybridbox services, not for end users: verifying tokens presented \
             to them (introspection), authenticated as an introspection client.",
        ),
        tag(
            "secret-scanning",
            "Leaked tokens: reports from secret-scanning partners (GitHub, GitLab), signed \
             by them, and revocation by anyone who holds a token. No bearer credential.",
        ),
    ];
}

/// Describes Dropshot's shared error body, and lists every `error_code`.
fn document_errors(document: &mut openapiv3::OpenAPI) {
    use openapiv3::{ReferenceOr, SchemaKind, Type};
    let table: String = errors::ErrorCode::ALL
        .iter()
        .map(|code| {
            format!(
                "\n| {} | `{}` | {} |",
                code.status().as_u16(),
                code.as_str(),
                code.meaning()
            )
        })
        .collect();
    let components = document.components.get_or_insert_with(Default::default);
    if let Some(ReferenceOr::Item(response)) = components.responses.get_mut("Error") {
        response.description = "An error: the status and `error_code` say which (see the \
                                `Error` schema)."
            .to_owned();
    }
    let Some(ReferenceOr::Item(schema)) = components.schemas.get_mut("Error") else {
        panic!("Dropshot always defines the Error schema");
    };
    let table = format!("| status | error_code | when |\n|---|---|---|{table}");
    schema.schema_data.description = Some(format!("The body of every error response.\n\n{table}"));
    let SchemaKind::Type(Type::Object(object)) = &mut schema.schema_kind else {
        panic!("the Error schema is an object");
    };
    for (name, description) in [
        (
            "error_code",
            "Stable, machine-readable code: one of those listed above (new codes may be \
             added).",
        ),
        (
            "message",
            "What went wrong and what to do about it, for people.",
        ),
        (
            "request_id",
            "Identifies the request in the server's logs (also sent as `x-request-id`).",
        ),
    ] {
        if let Some(ReferenceOr::Item(property)) = object.properties.get_mut(name) {
            property.schema_data.description = Some(description.to_owned());
        }
    }
    // The same table in the introduction, where readers of a rendered
    // reference meet it first (renderers do not all show a schema's own
    // description).
    if let Some(description) = &mut document.info.description {
        description.push_str("\n\n## Errors\n\n");
        description.push_str(&table);
    }
}

/// The leaked-token operations take no bearer credential (a partner's
/// report is signed; a token's holder needs none), and a report's signature
/// headers are required: without them it is refused (with 401, not 400,
/// which is why the types leave them optional).
fn document_secret_scanning(document: &mut openapiv3::OpenAPI) {
    use openapiv3::{Parameter, ReferenceOr};
    for path in [
        "/v1/public/secret-scanning/github",
        "/v1/public/secret-scanning/gitlab",
        "/v1/public/credentials/revoke",
    ] {
        let Some(ReferenceOr::Item(item)) = document.paths.paths.get_mut(path) else {
            panic!("{path} is in the document");
        };
        let operation = item.post.as_mut().expect("a POST");
        operation.security = Some(vec![]);
        for parameter in &mut operation.parameters {
            if let ReferenceOr::Item(Parameter::Header { parameter_data, .. }) = parameter {
                parameter_data.required = true;
            }
        }
    }
}

/// Marks every member of schema `name` required: the server always sends
/// each one, null where it does not apply (contract §8), so clients may read
/// them without checking for their presence. (schemars leaves an `Option`
/// out of `required`, and its `required` attribute would drop the null.)
fn require_every_member(document: &mut openapiv3::OpenAPI, name: &str) {
    use openapiv3::{ReferenceOr, SchemaKind, Type};
    let Some(ReferenceOr::Item(schema)) = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut(name))
    else {
        panic!("{name} is in the document");
    };
    let SchemaKind::Type(Type::Object(object)) = &mut schema.schema_kind else {
        panic!("{name} is an object");
    };
    object.required = object.properties.keys().cloned().collect();
}

/// Response links, so that tools (and readers) can follow a created or
/// listed service account to the operations on it: create → get, rotate,
/// revoke; rotate → get, retire the previous token; list → get (the first
/// item).
fn add_links(document: &mut openapiv3::OpenAPI) {
    use openapiv3::{Link, LinkOperation, ReferenceOr, StatusCode};
    let link = |operation_id: &str, description: &str, id: &str| {
        ReferenceOr::Item(Link {
            description: Some(description.to_owned()),
            operation: LinkOperation::OperationId(operation_id.to_owned()),
            request_body: None,
            parameters: [
                (
                    "account_id".to_owned(),
                    serde_json::json!("$request.path.account_id"),
                ),
                ("service_account_id".to_owned(), serde_json::json!(id)),
            ]
            .into_iter()
            .collect(),
            server: None,
            extensions: Default::default(),
        })
    };
    let collection = "/v1/public/accounts/{account_id}/auth/service-accounts";
    let rotate =
        "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/rotate";
    let answered = "$response.body#/id";
    for (path, post, status, links) in [
        (
            collection,
            true,
            201,
            vec![
                (
                    "GetServiceAccount",
                    link(
                        "get_service_account",
                        "The service account just created.",
                        answered,
                    ),
                ),
                (
                    "RotateServiceAccount",
                    link(
                        "rotate_service_account",
                        "Rotate the token of the service account just created.",
                        answered,
                    ),
                ),
                (
                    "RevokeServiceAccount",
                    link(
                        "revoke_service_account",
                        "Revoke the service account just created.",
                        answered,
                    ),
                ),
            ],
        ),
        (
            rotate,
            true,
            200,
            vec![
                (
                    "GetServiceAccount",
                    link(
                        "get_service_account",
                        "The service account just rotated.",
                        answered,
                    ),
                ),
                (
                    "RetirePreviousToken",
                    link(
                        "retire_previous_token",
                        "End the grace period of the token just replaced.",
                        answered,
                    ),
                ),
            ],
        ),
        (
            collection,
            false,
            200,
            vec![(
                "GetFirstServiceAccount",
                link(
                    "get_service_account",
                    "The first service account of the page.",
                    "$response.body#/0/id",
                ),
            )],
        ),
    ] {
        let Some(ReferenceOr::Item(item)) = document.paths.paths.get_mut(path) else {
            panic!("{path} is in the document");
        };
        let operation = if post {
            item.post.as_mut()
        } else {
            item.get.as_mut()
        };
        let responses = &mut operation.expect("the operation exists").responses.responses;
        let Some(ReferenceOr::Item(response)) = responses.get_mut(&StatusCode::Code(status)) else {
            panic!("{path} answers {status}");
        };
        response.links = links
            .into_iter()
            .map(|(name, link)| (name.to_owned(), link))
            .collect();
    }
}

/// Introspection is called with an introspection client's Basic credentials,
/// not with a bearer token, and answers 401 with a Basic challenge.
fn add_introspection_security(document: &mut openapiv3::OpenAPI) {
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        INTROSPECTION_SECURITY_SCHEME.to_owned(),
        openapiv3::ReferenceOr::Item(openapiv3::SecurityScheme::HTTP {
            scheme: "basic".to_owned(),
            bearer_format: None,
            description: Some(
                "An introspection client's credentials, `Authorization: Basic \
                 base64(client_id:client_secret)`. Clients are platform components, created \
                 by the operator with `hbx-sa introspection-clients create`; the secret is \
                 shown once. Missing or wrong credentials get 401 `unauthenticated` with a \
                 `WWW-Authenticate: Basic` challenge."
                    .to_owned(),
            ),
            extensions: Default::default(),
        }),
    );
    let Some(openapiv3::ReferenceOr::Item(item)) = document.paths.paths.get_mut(INTROSPECTION_PATH)
    else {
        panic!("the introspection operation is in the document");
    };
    let operation = item.post.as_mut().expect("introspection is a POST");
    operation.security = Some(vec![
        [(INTROSPECTION_SECURITY_SCHEME.to_owned(), Vec::new())]
            .into_iter()
            .collect(),
    ]);
}

fn add_bearer_security(document: &mut openapiv3::OpenAPI) {
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SECURITY_SCHEME.to_owned(),
        openapiv3::ReferenceOr::Item(openapiv3::SecurityScheme::HTTP {
            scheme: "bearer".to_owned(),
            bearer_format: Some("hbxsa service-account token or JWT".to_owned()),
            description: Some(
                "Public API bearer credential sent as `Authorization: Bearer <token>`. Use \
                 either a Hybridbox service account token or an OAuth access token.\n\n\
                 - **Service account token**: `hbxsa_<public id>_<secret><checksum>` (61 \
                 characters: a 16-character public id, a 32-character secret and a \
                 6-character CRC-32 checksum, all base62). Returned once, by create and \
                 rotate.\n\
                 - **OAuth access token**: a JWT signed with RS256, ES256 or EdDSA by the \
                 configured authorization server, with its `iss`, one of the accepted `aud` \
                 values, an `exp`, and a `sub` that is the user's UUID.\n\n\
                 A missing credential gets 401 `unauthenticated`; an invalid, expired or \
                 revoked one gets 401 `invalid_token`."
                    .to_owned(),
            ),
            extensions: Default::default(),
        }),
    );
    document.security = Some(vec![
        [(SECURITY_SCHEME.to_owned(), Vec::new())]
            .into_iter()
            .collect(),
    ]);
}
