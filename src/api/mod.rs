//! The interface: the Dropshot API trait, its types, and the one function that
//! turns them into the OpenAPI document checked in at
//! `openapi/hbx-service-accounts.json`. No storage and no business logic lives
//! here; the implementation is in `crate::server`.

pub mod errors;
pub mod extract;
pub mod types;

use dropshot::{HttpError, HttpResponseCreated, HttpResponseHeaders, RequestContext};

use self::extract::{JsonBody, PathParams};
use self::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, ServiceAccountWithToken,
};

/// Version of the API contract (the document's `info.version`). The major
/// number goes up with every breaking change.
pub const API_VERSION: semver::Version = semver::Version::new(1, 0, 0);

/// Largest request body any operation accepts. A create request is at most a
/// 120-character name and a timestamp; 8 KiB leaves room for generous escaping
/// and white space while keeping hostile bodies cheap to refuse.
pub const REQUEST_BODY_MAX_BYTES: usize = 8 * 1024;

/// Name of the security scheme in the document.
pub const SECURITY_SCHEME: &str = "bearerAuth";

#[dropshot::api_description]
pub trait ServiceAccountsApi {
    type Context;

    /// Create a service account
    ///
    /// Creates a service account in the account and issues its bearer token. The
    /// token is in this response and nowhere else: store it now, it is never
    /// returned again (rotate to get a new one). The new service account holds no
    /// capabilities until one is granted. Requires the `auth.manage` capability on
    /// the account.
    #[endpoint {
        method = POST,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts",
        tags = ["service-accounts"],
        request_body_max_bytes = REQUEST_BODY_MAX_BYTES,
    }]
    async fn create_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    >;
}

/// The OpenAPI document of the API, byte for byte as checked in. Built from the
/// trait's stub description, then completed with what Dropshot cannot express
/// (the bearer security scheme).
pub fn openapi_document() -> String {
    let description = service_accounts_api_mod::stub_api_description()
        .expect("the API trait describes a valid API");
    let mut definition = description.openapi("Hybridbox service accounts API", API_VERSION);
    definition.description(
        "Create, list, rotate and revoke the service accounts of a Hybridbox account, \
         and the bearer tokens they authenticate with.",
    );
    let mut raw = Vec::new();
    definition
        .write(&mut raw)
        .expect("writing to memory cannot fail");
    // Parse into openapiv3's typed model (order-preserving), add what Dropshot
    // cannot say, and write it back in the same order.
    let mut document: openapiv3::OpenAPI =
        serde_json::from_slice(&raw).expect("Dropshot writes a valid OpenAPI document");
    add_bearer_security(&mut document);
    let mut text = serde_json::to_string_pretty(&document).expect("the document serializes");
    text.push('\n');
    text
}

fn add_bearer_security(document: &mut openapiv3::OpenAPI) {
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SECURITY_SCHEME.to_owned(),
        openapiv3::ReferenceOr::Item(openapiv3::SecurityScheme::HTTP {
            scheme: "bearer".to_owned(),
            bearer_format: Some(
                "hbxsa service-account token or OAuth 2.0 access token (JWT)".to_owned(),
            ),
            description: Some(
                "Public API bearer credential sent as `Authorization: Bearer <token>`: \
                 either an OAuth access token or a Hybridbox service account token."
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
