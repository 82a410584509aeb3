//! The OpenAPI document of the API, byte for byte as checked in at
//! `openapi/hbx-service-accounts.json`: built from the trait's stub
//! description, then completed with what Dropshot cannot express (servers,
//! tag descriptions, security schemes, the error codes, response links).

use super::descriptions::OPERATION_DESCRIPTIONS;
use super::document_links::{add_grant_links, add_links};
use super::{
    API_VERSION, INTROSPECTION_PATH, INTROSPECTION_SECURITY_SCHEME, SECURITY_SCHEME, errors,
    service_accounts_api_mod,
};

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
    order_tags(&mut document);
    document_errors(&mut document);
    add_bearer_security(&mut document);
    add_introspection_security(&mut document);
    add_links(&mut document);
    add_grant_links(&mut document);
    add_required_capabilities(&mut document);
    require_every_member(&mut document, "Whoami", &["federation"]);
    document_secret_scanning(&mut document);
    describe_operations(&mut document);
    add_webhook_event_schemas(&mut document);
    add_webhook_callback(&mut document);
    let mut text = serde_json::to_string_pretty(&document).expect("the document serializes");
    text.push('\n');
    text
}

const API_DESCRIPTION: &str = "Create, list, get, rotate and revoke the service accounts of a \
Hybridbox account: non-human identities that call the public API with a bearer token. Decide \
who may do what in the account: grants of capabilities and ownership, and roles, to users, \
groups and service accounts. And verify either kind of Hybridbox credential, for the caller itself (whoami) or for another \
platform component (token introspection).\n\n\
The service-account and authorization operations need the `auth.manage` capability on the \
account (each operation lists what it needs in `x-hbx-required-capabilities`; a 403 names what \
is missing, also in the `Hbx-Required-Capabilities` header), and a bearer credential: a service account token or an OAuth access token (see the `bearerAuth` security \
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

/// The order of the tags in the document: the main resource first. Their
/// descriptions are the API trait's (`tag_config`); Dropshot sorts them by
/// name.
const TAG_ORDER: [&str; 8] = [
    "service-accounts",
    "authorizations",
    "federation",
    "webhooks",
    "audit-log",
    "auth",
    "platform",
    "secret-scanning",
];

/// The extension every operation carries: the capability keys it needs on the
/// account in its path (none: any valid credential, or no credential at all).
pub const REQUIRED_CAPABILITIES_EXTENSION: &str = "x-hbx-required-capabilities";

/// What each tag's operations need: managing service accounts and grants,
/// and reading the audit log, take `auth.manage`; the rest needs none.
fn required_capabilities(tag: &str) -> Vec<&'static str> {
    match tag {
        "service-accounts" | "authorizations" | "federation" | "webhooks" | "audit-log" => {
            vec!["auth.manage"]
        }
        _ => vec![],
    }
}

/// Every operation of the document's paths.
fn operations_mut(
    document: &mut openapiv3::OpenAPI,
) -> impl Iterator<Item = &mut openapiv3::Operation> {
    document.paths.paths.values_mut().flat_map(|item| {
        let openapiv3::ReferenceOr::Item(item) = item else {
            return Vec::new();
        };
        [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}

fn add_required_capabilities(document: &mut openapiv3::OpenAPI) {
    for operation in operations_mut(document) {
        let tag = operation.tags.first().expect("every operation has a tag");
        // The exchange takes no credential: the presented token is it.
        let required = if operation.operation_id.as_deref() == Some("exchange_token") {
            vec![]
        } else {
            required_capabilities(tag)
        };
        operation.extensions.insert(
            REQUIRED_CAPABILITIES_EXTENSION.to_owned(),
            serde_json::json!(required),
        );
    }
}

fn order_tags(document: &mut openapiv3::OpenAPI) {
    let position = |name: &str| TAG_ORDER.iter().position(|tag| *tag == name);
    assert!(
        document
            .tags
            .iter()
            .all(|tag| position(&tag.name).is_some()),
        "every tag of the API trait has its place in TAG_ORDER"
    );
    document.tags.sort_by_key(|tag| position(&tag.name));
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

/// The leaked-token operations and the federation exchange take no bearer
/// credential (a partner's report is signed; a token's holder needs none; a
/// workload presents its OIDC token in the body), and a report's signature
/// headers are required: without them it is refused (with 401, not 400,
/// which is why the types leave them optional).
fn document_secret_scanning(document: &mut openapiv3::OpenAPI) {
    use openapiv3::{Parameter, ReferenceOr};
    for path in [
        "/v1/public/secret-scanning/github",
        "/v1/public/secret-scanning/gitlab",
        "/v1/public/credentials/revoke",
        "/v1/public/auth/token",
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

/// Marks every member of schema `name` required but those `except` names:
/// the server always sends each one, null where it does not apply (contract
/// §8), so clients may read them without checking for their presence (an
/// object member that is absent when it does not apply, such as whoami's
/// `federation`, stays optional: OpenAPI 3.0 cannot say "null or this
/// object" in a way every generator reads). (schemars leaves an `Option`
/// out of `required`, and its `required` attribute would drop the null.)
fn require_every_member(document: &mut openapiv3::OpenAPI, name: &str, except: &[&str]) {
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
    object.required = object
        .properties
        .keys()
        .filter(|key| !except.contains(&key.as_str()))
        .cloned()
        .collect();
}

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

/// Gives the operations of [`OPERATION_DESCRIPTIONS`] their descriptions.
fn describe_operations(document: &mut openapiv3::OpenAPI) {
    for operation in operations_mut(document) {
        let id = operation.operation_id.as_deref().unwrap_or_default();
        if let Some((_, text)) = OPERATION_DESCRIPTIONS.iter().find(|(op, _)| *op == id) {
            operation.description = Some((*text).to_owned());
        }
    }
}

/// The bodies webhook deliveries carry: no operation returns them, so
/// Dropshot leaves them out; receivers generate their types from these.
fn add_webhook_event_schemas(document: &mut openapiv3::OpenAPI) {
    let mut generator = schemars::r#gen::SchemaSettings::openapi3().into_generator();
    let root = generator.subschema_for::<super::webhooks::WebhookEvent>();
    let mut schemas = generator.take_definitions();
    if !schemas.contains_key("WebhookEvent") {
        schemas.insert("WebhookEvent".to_owned(), root);
    }
    let components = document.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        let value = serde_json::to_value(&schema).expect("a schema serializes");
        let schema = serde_json::from_value(value).expect("schemars writes OpenAPI 3.0 schemas");
        components.schemas.entry(name).or_insert(schema);
    }
}

/// The deliveries a subscription receives, as OpenAPI 3.0 says a request
/// the server makes to a URL the client gave: a callback of the operation
/// that creates the subscription.
fn add_webhook_callback(document: &mut openapiv3::OpenAPI) {
    let callback = serde_json::json!({
        "{$request.body#/url}": {
            "post": {
                "operationId": "receive_webhook_event",
                "summary": "Receive a lifecycle event",
                "description": "What a subscription's URL receives (Standard Webhooks 1.0): \
                    verify `webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}` \
                    with the subscription's secret, deduplicate on `webhook-id`, and answer 2xx. \
                    Other answers are retried; 410 disables the subscription.",
                "tags": ["webhooks"],
                "parameters": [
                    {"name": "webhook-id", "in": "header", "required": true,
                     "description": "The event's id: the same for every attempt.",
                     "schema": {"type": "string"}},
                    {"name": "webhook-timestamp", "in": "header", "required": true,
                     "description": "When this attempt was signed, in Unix seconds.",
                     "schema": {"type": "string"}},
                    {"name": "webhook-signature", "in": "header", "required": true,
                     "description": "`v1,` and the base64 HMAC-SHA-256; two, space-separated, \
                        while a rotated secret still signs.",
                     "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/WebhookEvent"}
                    }}
                },
                "responses": {
                    "2XX": {"description": "Taken: the event is delivered."},
                    "410": {"description": "Gone: the subscription is disabled."}
                }
            }
        }
    });
    let callback = serde_json::from_value(callback).expect("a valid callback");
    let create = operations_mut(document)
        .find(|op| op.operation_id.as_deref() == Some("create_webhook"))
        .expect("the API creates webhooks");
    create
        .callbacks
        .insert("lifecycle_event".to_owned(), callback);
}
