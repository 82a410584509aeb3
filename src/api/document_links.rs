//! The response links of the OpenAPI document: from a created or listed
//! service account, authorization or role assignment to the operations on
//! it, so that tools (and readers) can follow them.

/// Response links, so that tools (and readers) can follow a created or
/// listed service account to the operations on it: create → get, rotate,
/// revoke; rotate → get, retire the previous token; list → get (the first
/// item).
pub fn add_links(document: &mut openapiv3::OpenAPI) {
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
/// Links from a created or listed authorization or role assignment to the
/// operations on it (create → get, revoke; list → get the first), so that
/// tools can follow them.
pub fn add_grant_links(document: &mut openapiv3::OpenAPI) {
    use openapiv3::{Link, LinkOperation, ReferenceOr, StatusCode};
    for (collection, id, get, revoke) in [
        (
            "/v1/public/accounts/{account_id}/auth/authorizations",
            "authorization_id",
            "get_authorization",
            "revoke_authorization",
        ),
        (
            "/v1/public/accounts/{account_id}/auth/role-assignments",
            "role_assignment_id",
            "get_role_assignment",
            "revoke_role_assignment",
        ),
    ] {
        let link = |operation_id: &str, what: &str, value: &str| {
            let link = Link {
                description: Some(format!("{what}.")),
                operation: LinkOperation::OperationId(operation_id.to_owned()),
                request_body: None,
                parameters: [
                    (
                        "account_id".to_owned(),
                        serde_json::json!("$request.path.account_id"),
                    ),
                    (id.to_owned(), serde_json::json!(value)),
                ]
                .into_iter()
                .collect(),
                server: None,
                extensions: Default::default(),
            };
            (camel(operation_id), ReferenceOr::Item(link))
        };
        let Some(ReferenceOr::Item(item)) = document.paths.paths.get_mut(collection) else {
            panic!("{collection} is in the document");
        };
        let created = "$response.body#/id";
        for (operation, status, links) in [
            (
                item.post.as_mut(),
                201,
                vec![
                    link(get, "The record just made", created),
                    link(revoke, "Revoke the record just made", created),
                ],
            ),
            (
                item.get.as_mut(),
                200,
                vec![link(
                    get,
                    "The first record of the page",
                    "$response.body#/0/id",
                )],
            ),
        ] {
            let responses = &mut operation.expect("the operation exists").responses.responses;
            let Some(ReferenceOr::Item(response)) = responses.get_mut(&StatusCode::Code(status))
            else {
                panic!("{collection} answers {status}");
            };
            response.links = links.into_iter().collect();
        }
    }
}

/// `get_authorization` as a link's name: `GetAuthorization`.
fn camel(operation_id: &str) -> String {
    operation_id
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}
