//! The long descriptions of operations, applied to the document by
//! `document.rs`: the API trait keeps each operation's summary, and this
//! file the reference text a summary line cannot hold (the trait would
//! otherwise outgrow one file).

/// Operation id, and its description (Markdown).
pub const OPERATION_DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "create_service_account",
        r#"Creates a service account in the account and issues its bearer token. The token is in this response and nowhere else: store it now, it is never returned again (rotate to get a new one). The new service account holds no capabilities until one is granted. Send an `Idempotency-Key` to make the request safe to retry: a retry after a timeout then gets this response, token included, instead of a 409. Requires the `auth.manage` capability on the account."#,
    ),
    (
        "list_service_accounts",
        r#"Lists the account's service accounts as a bare JSON array, oldest first (by `created_at`, then `id`). Revoked service accounts are left out unless `include_revoked=true`; expired ones are listed. To read a large account in pages, pass `limit` and then, for each next page, `after` set to the `id` of the last service account received; a page shorter than `limit` is the last. Tokens are never included. Requires the `auth.manage` capability on the account."#,
    ),
    (
        "rotate_service_account",
        r#"Issues a new token for the service account and returns it, in this response only. By default the replaced token stops working at once. To rotate without an outage, pass `grace_period_seconds`: the replaced token then keeps working until `previous_token_expires_at` (responses to requests made with it carry a `Sunset` header), while its users move to the new one; watch `previous_token_last_used_at`, then end the grace early with `retire-previous-token` if you like. There is at most one previous token: rotating again ends an earlier grace period at once. The service account keeps its `id`, `name`, `created_*` and `expires_at`; `last_used_at` starts over and `updated_at` moves. A revoked service account cannot be rotated (409 `service_account_revoked`), nor can an expired one (409 `service_account_expired`): create a new one instead. Send an `Idempotency-Key` to make the request safe to retry. Takes no request body. Requires the `auth.manage` capability on the account."#,
    ),
    (
        "list_authorizations",
        r#"Lists the account's grants as a bare JSON array, oldest first, live ones unless `include_revoked=true`, filtered by `subject_type`, `subject_id`, `grant_kind` and `capability_key`. Page with `limit` and `after` (the `id` of the last one received). Requires `auth.manage`."#,
    ),
    (
        "create_authorization",
        r#"Grants a capability (account-wide, or on one resource) or ownership to a user, a group or a service account of the account; it applies at once. Requires `auth.manage`, and holding what is granted (ownership: being an owner); nobody changes their own grants; `super_admin` is the operator's alone (403, naming what is missing in `Hbx-Required-Capabilities`). A live duplicate is 409 `authorization_exists`. Send an `Idempotency-Key` to retry safely."#,
    ),
    (
        "exchange_token",
        r#"RFC 8693 token exchange, form-encoded (or JSON), with no bearer credential: a CI job's or workload's OIDC token becomes a short-lived token of `service_account_id` under its first matching federation rule. Errors are RFC 6749 bodies; the audit log says why. See docs/federation.md."#,
    ),
    (
        "list_audit_events",
        r#"Lists the account's audit log as a bare JSON array, newest first: every create, rotation, revocation, grant and role change, leak report and replayed response, with its actor (and the token it used), target, request id, source address and user agent. Filter by `action`, `actor_type`, `actor_id`, `service_account_id`, `token_public_id` and time (`since` inclusive, `until` exclusive); page with `limit` and `before` (the `id` of the last event received). Requires `auth.manage`."#,
    ),
    (
        "whoami",
        r#"Describes the caller: a service account (its id, account, name, and the token used: its public id, whether it is the current or the previous one, and when it stops working) or a user (their id and the access token's expiry), and its grants in every account where it has standing. Any valid bearer credential may ask; no capability is needed. Counts as a use of a service-account token (`last_used_at`)."#,
    ),
    (
        "introspect_token",
        r#"Tells a Hybridbox platform component (a gateway, a resource server) whether a token is active and whom it speaks for (RFC 7662). The caller is an introspection client, authenticated with HTTP Basic (`client_id:client_secret`, from `hbx-sa introspection-clients create`); bearer tokens are not accepted here. The body is form-encoded: `token`, and optionally `token_type_hint` (ignored). An inactive token (malformed, unknown, expired, revoked, rotated away, or a failing access token) is exactly `{"active": false}` whatever the reason. An active one carries `token_type`, `sub`, `exp`, `iat` and the `hbx_` members, grants included; a service-account token that a rotation replaced is active until its grace period ends (`exp`), with `hbx_token_generation` `previous`. Counts as a use of a service-account token. Callers may cache an answer for at most 1 second (the revocation bound). If the authorization server's keys cannot be fetched, an access token gets 503 `unavailable`: it may be fine, ask again later."#,
    ),
    (
        "report_github_leaks",
        r#"For GitHub's secret scanning partner program: GitHub sends the strings of our token form it found in public, signed with one of its published keys (ECDSA P-256/SHA-256 over the raw body, base64 DER, in `Github-Public-Key-Signature`, the key named in `Github-Public-Key-Identifier`). A bad or missing signature is 401 and changes nothing. Each reported token that is ours (form, checksum and a stored MAC) is a `true_positive`, even if it no longer works; a live one is put out of use at once (the service account is revoked with `revoked_reason` `leaked`; a previous token in its grace period is retired), unless the server only records (`--secret-scanning-action notify`); each is audited with its source and URL. Anything else is a `false_positive`. At most 1000 tokens per report. No bearer credential: the signature is the authority."#,
    ),
    (
        "report_gitlab_leaks",
        r#"The same as the GitHub operation, for GitLab's token revocation: the report is signed the same way, with the key and signature in `Gitlab-Public-Key-Identifier` and `Gitlab-Public-Key-Signature`, and checked against the keys at `--secret-scanning-gitlab-keys-url` (without one, every report is 401)."#,
    ),
    (
        "revoke_credentials",
        r#"For anyone who holds a token of this server and wants it dead (found in a log, pasted in a chat): holding it is the authority to revoke it, so no credential is needed. Always 202 with the same body, whatever the tokens are (live, revoked, unknown or not tokens at all): the answer tells nobody whether a token was valid. Each live token among them is put out of use (its service account is revoked with `revoked_reason` `reported`; a previous token in its grace period is retired) and audited with the client's address. At most 1000 tokens per request; requests are rate-limited per client address (429 `rate_limited`, with `Retry-After`)."#,
    ),
    (
        "list_webhooks",
        r#"The account's webhook subscriptions, oldest first (never their secrets)."#,
    ),
    (
        "create_webhook",
        r#"Subscribes to the account's lifecycle events: `url` (https, on a public address: loopback, private, link-local, CGNAT, multicast and cloud metadata addresses are refused, now and at every delivery), `event_types` (names, or `prefix.*`), `description`, `expiry_warnings` (when `token.expiring` fires; default `30d`, `7d`, `1d`). The answer carries the signing secret (`whsec_...`), shown only here and by rotate-secret: every delivery is signed with it (Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp`, `webhook-signature`). Every change is written with its events in one transaction; deliveries are retried (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h..., for 3 days) until a 2xx answer; 410 disables the subscription, and so do 3 days of failures (the account's other subscriptions get `webhook.disabled`). The event bodies are the `WebhookEvent` schema. Send an `Idempotency-Key` to retry safely. Requires `auth.manage`."#,
    ),
    (
        "get_webhook",
        r#"One subscription, with whether it is enabled and, if not, since when and why."#,
    ),
    (
        "delete_webhook",
        r#"Deletes the subscription, its undelivered events and its delivery log."#,
    ),
    (
        "rotate_webhook_secret",
        r#"Issues a new signing secret, returned only here. For 24 hours deliveries carry two signatures (space-separated in `webhook-signature`), one by each secret, so receivers can switch without losing one."#,
    ),
    (
        "ping_webhook",
        r#"Queues a `webhook.ping` event for this subscription alone (whatever its `event_types`), signed and logged like any other: a way to test the receiving end. 202 with its `webhook-id`. A disabled subscription is refused (400)."#,
    ),
    (
        "enable_webhook",
        r#"Enables the subscription again: it receives the events that happen from now on."#,
    ),
    (
        "disable_webhook",
        r#"Stops deliveries: undelivered events are given up, and none are queued until it is enabled again."#,
    ),
    (
        "list_webhook_deliveries",
        r#"The delivery attempts of the last 30 days, newest first: status, HTTP status, duration and the first kilobyte of the answer. Filter by `status`, `event_type` and `since`; page with `limit` and `before` (the `id` of the last attempt received)."#,
    ),
    (
        "redeliver_webhook_event",
        r#"Queues the event of this attempt again, with the same `webhook-id` (receivers deduplicate on it). 202 with its `webhook-id`."#,
    ),
];
