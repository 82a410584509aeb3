//! The checked-in document says what Hybridbox publishes for the create
//! endpoint (their page for `POST /v1/public/accounts/{account_id}/auth/service-accounts`):
//! path, parameter, request and response fields, required and nullable sets,
//! formats, lengths and bearer security. Parsed with `openapiv3`, as a client
//! generator would read it.

use std::collections::BTreeSet;

use openapiv3::{
    OpenAPI, Operation, ParameterSchemaOrContent, ReferenceOr, Schema, SchemaKind, SecurityScheme,
    StringFormat, Type, VariantOrUnknownOrEmpty,
};

const CREATE_PATH: &str = "/v1/public/accounts/{account_id}/auth/service-accounts";

fn document() -> OpenAPI {
    let text = std::fs::read_to_string("openapi/hbx-service-accounts.json").unwrap();
    serde_json::from_str(&text).expect("a valid OpenAPI 3.0 document")
}

fn create_operation(document: &OpenAPI) -> &Operation {
    let path = document
        .paths
        .paths
        .get(CREATE_PATH)
        .expect("the create path");
    let ReferenceOr::Item(item) = path else {
        panic!("the path item is inline")
    };
    assert!(item.get.is_none() || item.post.is_some());
    item.post.as_ref().expect("create is a POST")
}

/// The component schema a `#/components/schemas/...` reference names.
fn component<'a>(document: &'a OpenAPI, reference: &str) -> &'a Schema {
    let name = reference
        .strip_prefix("#/components/schemas/")
        .expect("a component schema reference");
    match &document.components.as_ref().unwrap().schemas[name] {
        ReferenceOr::Item(schema) => schema,
        ReferenceOr::Reference { .. } => panic!("reference to a reference"),
    }
}

fn resolve<'a>(document: &'a OpenAPI, schema: &'a ReferenceOr<Schema>) -> &'a Schema {
    match schema {
        ReferenceOr::Item(schema) => schema,
        ReferenceOr::Reference { reference } => component(document, reference),
    }
}

fn boxed_resolve<'a>(document: &'a OpenAPI, schema: &'a ReferenceOr<Box<Schema>>) -> &'a Schema {
    match schema {
        ReferenceOr::Item(schema) => schema,
        ReferenceOr::Reference { reference } => component(document, reference),
    }
}

fn object_properties(schema: &Schema) -> &openapiv3::ObjectType {
    match &schema.schema_kind {
        SchemaKind::Type(Type::Object(object)) => object,
        other => panic!("expected an object schema, got {other:?}"),
    }
}

fn string_format(schema: &Schema) -> Option<String> {
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) => match &string.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Some("date-time".into()),
            VariantOrUnknownOrEmpty::Item(StringFormat::Date) => Some("date".into()),
            VariantOrUnknownOrEmpty::Unknown(other) => Some(other.clone()),
            VariantOrUnknownOrEmpty::Item(other) => Some(format!("{other:?}")),
            VariantOrUnknownOrEmpty::Empty => None,
        },
        other => panic!("expected a string schema, got {other:?}"),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn create_is_a_post_with_a_uuid_account_id() {
    let document = document();
    let operation = create_operation(&document);
    assert_eq!(
        operation.operation_id.as_deref(),
        Some("create_service_account")
    );
    assert!(operation.summary.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(
        operation
            .description
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    );
    // The seed's one parameter, and the optional Idempotency-Key header
    // (contract §9) that makes a create safe to retry.
    assert_eq!(operation.parameters.len(), 2);
    let ReferenceOr::Item(openapiv3::Parameter::Header {
        parameter_data: header,
        ..
    }) = &operation.parameters[1]
    else {
        panic!("Idempotency-Key is a header parameter")
    };
    assert_eq!(header.name, "Idempotency-Key");
    assert!(!header.required);
    let ReferenceOr::Item(openapiv3::Parameter::Path { parameter_data, .. }) =
        &operation.parameters[0]
    else {
        panic!("account_id is a path parameter")
    };
    assert_eq!(parameter_data.name, "account_id");
    assert!(parameter_data.required);
    let ParameterSchemaOrContent::Schema(schema) = &parameter_data.format else {
        panic!("account_id has a schema")
    };
    assert_eq!(
        string_format(resolve(&document, schema)).as_deref(),
        Some("uuid")
    );
}

#[test]
fn request_body_matches_the_seed() {
    let document = document();
    let operation = create_operation(&document);
    let Some(ReferenceOr::Item(body)) = &operation.request_body else {
        panic!("create has an inline request body")
    };
    assert!(body.required);
    let schema = resolve(
        &document,
        body.content["application/json"].schema.as_ref().unwrap(),
    );
    assert!(schema.schema_data.description.is_some());
    let object = object_properties(schema);
    assert_eq!(
        object.properties.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["name", "expires_at"])
    );
    assert_eq!(
        object.required.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["name"])
    );

    let name = boxed_resolve(&document, &object.properties["name"]);
    assert!(!name.schema_data.nullable);
    let SchemaKind::Type(Type::String(name_type)) = &name.schema_kind else {
        panic!("name is a string")
    };
    assert_eq!(name_type.min_length, Some(1));
    assert_eq!(name_type.max_length, Some(120));

    let expires_at = boxed_resolve(&document, &object.properties["expires_at"]);
    assert!(expires_at.schema_data.nullable);
    assert_eq!(string_format(expires_at).as_deref(), Some("date-time"));

    for (name, property) in &object.properties {
        let property = boxed_resolve(&document, property);
        assert!(
            property.schema_data.description.is_some(),
            "{name} has a description"
        );
    }
}

#[test]
fn response_matches_the_seed() {
    let document = document();
    let operation = create_operation(&document);
    let responses = &operation.responses.responses;
    let created = responses
        .get(&openapiv3::StatusCode::Code(201))
        .expect("create answers 201");
    let ReferenceOr::Item(created) = created else {
        panic!("inline 201 response")
    };
    assert!(created.headers.contains_key("Location"));
    assert!(created.headers.contains_key("Cache-Control"));
    let schema = resolve(
        &document,
        created.content["application/json"].schema.as_ref().unwrap(),
    );
    let object = object_properties(schema);

    // The seed's field list, its required set, and its nullable set.
    let required = set(&[
        "account_id",
        "created_at",
        "id",
        "name",
        "token",
        "token_last4",
        "token_prefix",
        "token_public_id",
        "updated_at",
    ]);
    // The seed's nullable fields, the four a rotation's grace period added
    // (contract §9), the revocation's reason (§10) and when the own token was
    // turned off (§13): optional and nullable,
    // so additive.
    let nullable = set(&[
        "created_by_user_id",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by_user_id",
        "previous_token_public_id",
        "previous_token_last4",
        "previous_token_expires_at",
        "previous_token_last_used_at",
        "revoked_reason",
        "static_token_disabled_at",
    ]);
    let all: BTreeSet<String> = required.union(&nullable).cloned().collect();
    assert_eq!(
        object.properties.keys().cloned().collect::<BTreeSet<_>>(),
        all
    );
    assert_eq!(
        object.required.iter().cloned().collect::<BTreeSet<_>>(),
        required
    );

    let expected_format = |name: &str| match name {
        "account_id" | "id" | "created_by_user_id" | "revoked_by_user_id" => Some("uuid"),
        "created_at"
        | "updated_at"
        | "expires_at"
        | "last_used_at"
        | "revoked_at"
        | "previous_token_expires_at"
        | "previous_token_last_used_at"
        | "static_token_disabled_at" => Some("date-time"),
        _ => None,
    };
    for (name, property) in &object.properties {
        let property = boxed_resolve(&document, property);
        assert_eq!(
            property.schema_data.nullable,
            nullable.contains(name),
            "nullability of {name}"
        );
        assert_eq!(
            string_format(property).as_deref(),
            expected_format(name),
            "format of {name}"
        );
        assert!(
            property.schema_data.description.is_some(),
            "{name} has a description"
        );
    }
}

#[test]
fn bearer_security_is_declared_and_applied() {
    let document = document();
    let schemes = &document.components.as_ref().unwrap().security_schemes;
    let name = hbx_service_accounts::api::SECURITY_SCHEME;
    let Some(ReferenceOr::Item(SecurityScheme::HTTP { scheme, .. })) = schemes.get(name) else {
        panic!("an HTTP security scheme named {name}")
    };
    assert_eq!(scheme, "bearer");
    let applied = document
        .security
        .as_ref()
        .expect("security applies to every operation");
    assert_eq!(applied.len(), 1);
    assert!(applied[0].contains_key(name));
    // Every operation takes the bearer credential, but four, on purpose:
    // introspection takes an introspection client's Basic credentials, and
    // the leaked-token operations take none (a partner's report is signed; a
    // token's holder needs none). Each of those says so, and nothing else
    // opts out.
    let introspection = hbx_service_accounts::api::INTROSPECTION_SECURITY_SCHEME;
    let mut opted_out = Vec::new();
    for (path, item) in &document.paths.paths {
        let ReferenceOr::Item(item) = item else {
            panic!("{path} is inline")
        };
        for (method, operation) in item.iter() {
            let Some(security) = &operation.security else {
                continue;
            };
            let id = operation.operation_id.clone().unwrap_or_default();
            match id.as_str() {
                "introspect_token" => {
                    assert_eq!(security.len(), 1, "{id}");
                    assert!(security[0].contains_key(introspection), "{id}");
                    assert_eq!(security[0].len(), 1, "{id}: Basic alone");
                }
                "report_github_leaks"
                | "report_gitlab_leaks"
                | "revoke_credentials"
                | "exchange_token" => {
                    assert!(security.is_empty(), "{id}: no credential at all");
                }
                other => panic!("{method} {path} ({other}) opts out of the bearer credential"),
            }
            opted_out.push(id);
        }
    }
    opted_out.sort();
    assert_eq!(
        opted_out,
        [
            "exchange_token",
            "introspect_token",
            "report_github_leaks",
            "report_gitlab_leaks",
            "revoke_credentials"
        ]
    );
    assert!(create_operation(&document).security.is_none());
}
