//! The checked-in document says what Hybridbox publishes for authorizations
//! and role assignments (contract §12): field names, types, required and
//! nullable members, the enums in requests and query parameters (their
//! values exactly), plain strings in responses, and bare-array lists. Read
//! from the document as a client generator reads it.

use std::collections::BTreeSet;

use serde_json::Value;

const GRANTS: &str = "/v1/public/accounts/{account_id}/auth/authorizations";
const ROLES: &str = "/v1/public/accounts/{account_id}/auth/role-assignments";

const GRANT_KINDS: [&str; 3] = ["capability", "account_owner", "super_admin"];
const SUBJECT_TYPES: [&str; 3] = ["user", "group", "service_account"];
const RESOURCE_TYPES: [&str; 12] = [
    "client",
    "account",
    "workspace",
    "domain",
    "dns_record",
    "mailbox",
    "redirect",
    "forwarding",
    "credential",
    "tenant",
    "route",
    "proxy",
];
const ROLE_KEYS: [&str; 9] = [
    "viewer",
    "editor",
    "domain_manager",
    "manager",
    "dns_manager",
    "ip_manager",
    "billing_viewer",
    "billing_admin",
    "credential_manager",
];

fn document() -> Value {
    let text = std::fs::read_to_string("openapi/hbx-service-accounts.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `schema` with references followed, and a lone `allOf` wrapper (how a
/// described or nullable reference is written) opened.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        return resolve(document, &document["components"]["schemas"][name]);
    }
    match schema["allOf"].as_array() {
        Some(all) if all.len() == 1 => resolve(document, &all[0]),
        _ => schema,
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// An enum schema's values (after following the reference).
fn enum_values(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(document, schema);
    assert_eq!(schema["type"], "string", "{schema}");
    strings(&schema["enum"])
}

/// A response member Hybridbox types as a plain string: no enum, no
/// reference.
#[track_caller]
fn plain_string(schema: &Value) {
    assert_eq!(schema["type"], "string", "{schema}");
    assert!(
        schema.get("enum").is_none() && schema.get("$ref").is_none(),
        "{schema}"
    );
}

fn operation<'a>(document: &'a Value, path: &str, method: &str) -> &'a Value {
    &document["paths"][path][method]
}

/// The schema of an operation's success answer.
fn answer<'a>(document: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    &operation(document, path, method)["responses"][status]["content"]["application/json"]["schema"]
}

fn body<'a>(document: &'a Value, path: &str) -> &'a Value {
    resolve(
        document,
        &operation(document, path, "post")["requestBody"]["content"]["application/json"]["schema"],
    )
}

#[test]
fn the_authorization_record_is_hybridboxs() {
    let document = document();
    let record = resolve(&document, answer(&document, GRANTS, "post", "201"));
    let properties = &record["properties"];
    assert_eq!(
        keys(properties),
        set(&[
            "id",
            "grant_kind",
            "subject_type",
            "subject_id",
            "capability_key",
            "resource_type",
            "resource_id",
            "created_at",
            "revoked_at"
        ])
    );
    assert_eq!(
        strings(&record["required"]),
        set(&["id", "grant_kind", "subject_type", "subject_id"])
    );
    for nullable in [
        "capability_key",
        "resource_type",
        "resource_id",
        "created_at",
        "revoked_at",
    ] {
        assert_eq!(properties[nullable]["nullable"], true, "{nullable}");
    }
    for name in [
        "grant_kind",
        "subject_type",
        "subject_id",
        "capability_key",
        "resource_type",
    ] {
        plain_string(&properties[name]);
    }
    assert_eq!(properties["id"]["format"], "uuid");
    assert_eq!(properties["resource_id"]["format"], "uuid");
    assert_eq!(properties["created_at"]["format"], "date-time");
    assert_eq!(properties["revoked_at"]["format"], "date-time");
    // The list is a bare array of the same records.
    let list = answer(&document, GRANTS, "get", "200");
    assert_eq!(list["type"], "array");
    assert_eq!(resolve(&document, &list["items"]), record);
    // Revoke answers the record.
    let revoked = answer(
        &document,
        &format!("{GRANTS}/{{authorization_id}}/revoke"),
        "post",
        "200",
    );
    assert_eq!(resolve(&document, revoked), record);
}

#[test]
fn the_grant_request_and_filters_are_hybridboxs() {
    let document = document();
    let request = body(&document, GRANTS);
    let properties = &request["properties"];
    assert_eq!(
        keys(properties),
        set(&[
            "grant_kind",
            "subject_type",
            "subject_id",
            "capability_key",
            "resource_type",
            "resource_id"
        ])
    );
    assert_eq!(
        strings(&request["required"]),
        set(&["grant_kind", "subject_type", "subject_id"])
    );
    assert_eq!(
        enum_values(&document, &properties["grant_kind"]),
        set(&GRANT_KINDS)
    );
    assert_eq!(
        enum_values(&document, &properties["subject_type"]),
        set(&SUBJECT_TYPES)
    );
    assert_eq!(
        enum_values(&document, &properties["resource_type"]),
        set(&RESOURCE_TYPES)
    );
    assert_eq!(properties["subject_id"]["minLength"], 1);
    assert_eq!(properties["resource_id"]["format"], "uuid");

    let parameters = operation(&document, GRANTS, "get")["parameters"]
        .as_array()
        .unwrap();
    let query = |name: &str| {
        parameters
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == name)
            .unwrap_or_else(|| panic!("query parameter {name}"))
    };
    assert_eq!(
        enum_values(&document, &query("subject_type")["schema"]),
        set(&SUBJECT_TYPES)
    );
    assert_eq!(
        enum_values(&document, &query("grant_kind")["schema"]),
        set(&GRANT_KINDS)
    );
    assert_eq!(
        resolve(&document, &query("include_revoked")["schema"])["type"],
        "boolean"
    );
    for name in ["subject_id", "capability_key"] {
        assert_eq!(
            resolve(&document, &query(name)["schema"])["type"],
            "string",
            "{name}"
        );
    }
    // Ours: keyset paging, as for service accounts.
    assert_eq!(query("limit")["schema"]["maximum"], 1000);
    assert_eq!(query("after")["schema"]["format"], "uuid");
    for parameter in parameters {
        assert_eq!(
            parameter["required"] == true,
            parameter["in"] == "path",
            "{parameter}"
        );
    }
}

#[test]
fn the_role_assignment_is_hybridboxs() {
    let document = document();
    let request = body(&document, ROLES);
    let properties = &request["properties"];
    let fields = [
        "role_key",
        "subject_type",
        "subject_id",
        "resource_type",
        "resource_id",
    ];
    assert_eq!(keys(properties), set(&fields));
    assert_eq!(strings(&request["required"]), set(&fields), "all required");
    assert_eq!(
        enum_values(&document, &properties["role_key"]),
        set(&ROLE_KEYS)
    );
    assert_eq!(
        enum_values(&document, &properties["subject_type"]),
        set(&SUBJECT_TYPES)
    );
    assert_eq!(
        enum_values(&document, &properties["resource_type"]),
        set(&RESOURCE_TYPES)
    );

    let record = resolve(&document, answer(&document, ROLES, "post", "201"));
    let members = &record["properties"];
    let mut expected = fields.to_vec();
    expected.extend(["id", "expanded_capability_keys", "created_at", "revoked_at"]);
    assert_eq!(keys(members), set(&expected));
    let required = strings(&record["required"]);
    assert!(required.contains("id") && required.contains("expanded_capability_keys"));
    for nullable in ["created_at", "revoked_at"] {
        assert_eq!(members[nullable]["nullable"], true, "{nullable}");
    }
    for name in ["role_key", "subject_type", "subject_id", "resource_type"] {
        plain_string(&members[name]);
    }
    assert_eq!(members["expanded_capability_keys"]["type"], "array");
    let list = answer(&document, ROLES, "get", "200");
    assert_eq!(list["type"], "array");
    assert_eq!(resolve(&document, &list["items"]), record);
}

/// Every operation says what it needs; the grant operations need
/// `auth.manage`.
#[test]
fn every_operation_names_its_required_capabilities() {
    let document = document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let required = &operation["x-hbx-required-capabilities"];
            assert!(required.is_array(), "{method} {path}");
            let needs_manage = path.contains("/accounts/{account_id}/");
            assert_eq!(
                strings(required) == set(&["auth.manage"]),
                needs_manage,
                "{method} {path}: {required}"
            );
        }
    }
}
