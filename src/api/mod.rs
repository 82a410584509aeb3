//! The interface: the Dropshot API trait and its types, by feature ([`types`] for service accounts
//! and the shared ones, [`verification`], [`leaks`], [`federation`] ...), the extractors that give
//! every failure an `error_code` ([`extract`], [`errors`]), and the OpenAPI document made from them
//! ([`document`], checked in at `openapi/hbx-service-accounts.json`). No storage and no business
//! logic lives here; the implementation is in `crate::server`.

pub mod audit_events;
pub mod authorizations;
pub mod decode_errors;
pub mod document;
pub mod document_links;
pub mod errors;
pub mod examples;
pub mod extract;
pub mod federation;
pub mod leaks;
pub mod limits;
pub mod types;
pub mod verification;

use dropshot::{HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted};
use dropshot::{HttpResponseHeaders, HttpResponseOk, RequestContext};

use self::audit_events::*;
use self::authorizations::*;
use self::extract::*;
use self::federation::*;
use self::leaks::*;
use self::types::*;
use self::verification::*;

pub use self::limits::*;

// Every published operation has exactly one of these tags; the document
// lists them in the order of `document::TAG_ORDER`.
#[dropshot::api_description {
    tag_config = {
        allow_other_tags = false,
        policy = dropshot::EndpointTagPolicy::ExactlyOne,
        tags = {
            "service-accounts" = {
                description = "Service accounts of an account and their bearer tokens: create, \
                    list, get, rotate, revoke.",
            },
            "authorizations" = {
                description = "Who may do what in an account: grants of capabilities and \
                    ownership, and roles, to users, groups and service accounts.",
            },
            "federation" = {
                description = "No long-lived secret in CI: the OIDC issuers an account trusts, \
                    the rules by which their tokens become short-lived tokens of a service \
                    account, and the exchange (RFC 8693) that mints them.",
            },
            "audit-log" = {
                description = "What was done in an account, by whom, from where: every \
                    change to its service accounts, tokens, grants and roles.",
            },
            "auth" = {
                description = "The caller's own identity: who a bearer credential speaks for.",
            },
            "platform" = {
                description = "For other Hybridbox services, not for end users: verifying \
                    tokens presented to them (introspection), authenticated as an \
                    introspection client.",
            },
            "secret-scanning" = {
                description = "Leaked tokens: reports from secret-scanning partners (GitHub, \
                    GitLab), signed by them, and revocation by anyone who holds a token. No \
                    bearer credential.",
            },
        },
    },
}]
pub trait ServiceAccountsApi {
    type Context;

    /// Create a service account
    ///
    /// Creates a service account in the account and issues its bearer token. The token is in this
    /// response and nowhere else: store it now, it is never returned again (rotate to get a new
    /// one). The new service account holds no capabilities until one is granted. Send an
    /// `Idempotency-Key` to make the request safe to retry: a retry after a timeout then gets this
    /// response, token included, instead of a 409. Requires the `auth.manage` capability on the
    /// account.
    #[endpoint { method = POST, tags = ["service-accounts"], request_body_max_bytes = REQUEST_BODY_MAX_BYTES,
        path = "/v1/public/accounts/{account_id}/auth/service-accounts" }]
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
    /// Lists the account's service accounts as a bare JSON array, oldest first (by `created_at`,
    /// then `id`). Revoked service accounts are left out unless `include_revoked=true`; expired
    /// ones are listed. To read a large account in pages, pass `limit` and then, for each next
    /// page, `after` set to the `id` of the last service account received; a page shorter than
    /// `limit` is the last. Tokens are never included. Requires the `auth.manage` capability on the
    /// account.
    #[endpoint { method = GET, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts" }]
    async fn list_service_accounts(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListServiceAccountsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<ServiceAccount>>, SunsetHeaders>, HttpError>;

    /// Get a service account
    ///
    /// Returns one service account of the account, revoked or not. Its token is never included.
    /// Requires the `auth.manage` capability on the account.
    #[endpoint { method = GET, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}" }]
    async fn get_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// Rotate a service account's token
    ///
    /// Issues a new token for the service account and returns it, in this response only. By default
    /// the replaced token stops working at once. To rotate without an outage, pass
    /// `grace_period_seconds`: the replaced token then keeps working until
    /// `previous_token_expires_at` (responses to requests made with it carry a `Sunset` header),
    /// while its users move to the new one; watch `previous_token_last_used_at`, then end the grace
    /// early with `retire-previous-token` if you like. There is at most one previous token:
    /// rotating again ends an earlier grace period at once. The service account keeps its `id`,
    /// `name`, `created_*` and `expires_at`; `last_used_at` starts over and `updated_at` moves. A
    /// revoked service account cannot be rotated (409 `service_account_revoked`), nor can an
    /// expired one (409 `service_account_expired`): create a new one instead. Send an
    /// `Idempotency-Key` to make the request safe to retry. Takes no request body. Requires the
    /// `auth.manage` capability on the account.
    #[endpoint { method = POST, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/rotate" }]
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
    /// Ends the grace period of the token that a rotation replaced: from now on only the current
    /// token works. Do it once `previous_token_last_used_at` shows that nothing uses the old token
    /// any more. Without a previous token still in its grace period this changes nothing; either
    /// way the answer is the service account as it now stands (so retrying is safe). Takes no
    /// request body. Requires the `auth.manage` capability on the account.
    #[endpoint { method = POST, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/retire-previous-token" }]
    async fn retire_previous_token(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// Revoke a service account
    ///
    /// Revokes the service account: its tokens (the current one, and a previous one in its grace
    /// period) stop working at once, and it is listed only with `include_revoked=true`. The record
    /// stays, with `revoked_at` and `revoked_by_user_id`. Revoking it again changes nothing and
    /// returns the first revocation. Takes no request body. Requires the `auth.manage` capability
    /// on the account.
    #[endpoint { method = POST, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/revoke" }]
    async fn revoke_service_account(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError>;

    /// List authorizations
    ///
    /// Lists the account's grants as a bare JSON array, oldest first, live ones unless
    /// `include_revoked=true`, filtered by `subject_type`, `subject_id`, `grant_kind` and
    /// `capability_key`. Page with `limit` and `after` (the `id` of the last one received).
    /// Requires `auth.manage`.
    #[endpoint { method = GET, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/authorizations" }]
    async fn list_authorizations(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuthorizationsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<Authorization>>, SunsetHeaders>, HttpError>;

    /// Grant a capability or ownership
    ///
    /// Grants a capability (account-wide, or on one resource) or ownership to a user, a group or a
    /// service account of the account; it applies at once. Requires `auth.manage`, and holding what
    /// is granted (ownership: being an owner); nobody changes their own grants; `super_admin` is
    /// the operator's alone (403, naming what is missing in `Hbx-Required-Capabilities`). A live
    /// duplicate is 409 `authorization_exists`. Send an `Idempotency-Key` to retry safely.
    #[endpoint { method = POST, tags = ["authorizations"], request_body_max_bytes = REQUEST_BODY_MAX_BYTES,
        path = "/v1/public/accounts/{account_id}/auth/authorizations" }]
    async fn create_authorization(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateAuthorizationRequest>,
    ) -> Result<HttpResponseHeaders<HttpResponseCreated<Authorization>, GrantedHeaders>, HttpError>;

    /// Get an authorization
    ///
    /// Returns one grant of the account, revoked or not. Requires `auth.manage`.
    #[endpoint { method = GET, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/authorizations/{authorization_id}" }]
    async fn get_authorization(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AuthorizationPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Authorization>, SunsetHeaders>, HttpError>;

    /// Revoke an authorization
    ///
    /// Revokes a grant: it stops applying at once (on other instances within the revocation bound,
    /// 1 second). Revoking a revoked one changes nothing. The account's last owner grant that can
    /// act stays (409 `last_owner`). Takes no request body. Requires `auth.manage` (and ownership,
    /// for an ownership grant); nobody revokes their own grants.
    #[endpoint { method = POST, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/authorizations/{authorization_id}/revoke" }]
    async fn revoke_authorization(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AuthorizationPath>,
    ) -> Result<HttpResponseOk<Authorization>, HttpError>;

    /// List role assignments
    ///
    /// Lists the account's role assignments as a bare JSON array, oldest first, live ones unless
    /// `include_revoked=true`, each with the capability keys its role gives now. Page with `limit`
    /// and `after`. Requires `auth.manage`.
    #[endpoint { method = GET, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/role-assignments" }]
    async fn list_role_assignments(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListRoleAssignmentsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<RoleAssignment>>, SunsetHeaders>, HttpError>;

    /// Assign a role
    ///
    /// Gives a role on a resource (`account`, with this account's id, for the whole account) to a
    /// user, a group or a service account. Requires `auth.manage` and holding every capability the
    /// role gives there; nobody changes their own roles. A live duplicate is 409
    /// `role_assignment_exists`. Send an `Idempotency-Key` to retry safely.
    #[endpoint { method = POST, tags = ["authorizations"], request_body_max_bytes = REQUEST_BODY_MAX_BYTES,
        path = "/v1/public/accounts/{account_id}/auth/role-assignments" }]
    async fn create_role_assignment(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateRoleAssignmentRequest>,
    ) -> Result<HttpResponseHeaders<HttpResponseCreated<RoleAssignment>, GrantedHeaders>, HttpError>;

    /// Get a role assignment
    ///
    /// Returns one role assignment of the account, revoked or not. Requires `auth.manage`.
    #[endpoint { method = GET, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/role-assignments/{role_assignment_id}" }]
    async fn get_role_assignment(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<RoleAssignmentPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<RoleAssignment>, SunsetHeaders>, HttpError>;

    /// Revoke a role assignment
    ///
    /// Revokes a role assignment: it stops applying at once (on other instances within the
    /// revocation bound). Revoking a revoked one changes nothing. Takes no request body. Requires
    /// `auth.manage`; nobody revokes their own roles.
    #[endpoint { method = POST, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/role-assignments/{role_assignment_id}/revoke" }]
    async fn revoke_role_assignment(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<RoleAssignmentPath>,
    ) -> Result<HttpResponseOk<RoleAssignment>, HttpError>;

    /// Turn a service account's own token off
    ///
    /// Makes its token (and a previous one) stop working at once, leaving only tokens minted by
    /// federation: a service account with no long-lived secret. A later rotate issues a new token.
    /// Audited. Requires `auth.manage`; not with a federated token.
    #[endpoint { method = POST, tags = ["service-accounts"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/disable-static-token" }]
    async fn disable_static_token(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<ServiceAccount>, HttpError>;

    /// List identity providers
    ///
    /// The OIDC issuers the account trusts for federation, oldest first.
    #[endpoint { method = GET, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/identity-providers" }]
    async fn list_identity_providers(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
    ) -> Result<HttpResponseOk<Vec<IdentityProvider>>, HttpError>;

    /// Register an identity provider
    ///
    /// Trusts an OIDC issuer (GitHub Actions, GitLab CI, a Kubernetes cluster, any other) for
    /// federation: its `issuer` (https, compared exactly), where its keys are, and the longest a
    /// token it issues may live. One provider per issuer (409 `identity_provider_exists`).
    #[endpoint { method = POST, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/identity-providers" }]
    async fn create_identity_provider(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        body: JsonBody<CreateIdentityProviderRequest>,
    ) -> Result<HttpResponseCreated<IdentityProvider>, HttpError>;

    /// Get an identity provider
    ///
    /// One identity provider of the account, with where its keys are found.
    #[endpoint { method = GET, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/identity-providers/{identity_provider_id}" }]
    async fn get_identity_provider(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<IdentityProviderPath>,
    ) -> Result<HttpResponseOk<IdentityProvider>, HttpError>;

    /// Delete an identity provider
    ///
    /// Refused (409 `identity_provider_in_use`) while rules name it.
    #[endpoint { method = DELETE, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/identity-providers/{identity_provider_id}" }]
    async fn delete_identity_provider(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<IdentityProviderPath>,
    ) -> Result<HttpResponseDeleted, HttpError>;

    /// List a service account's federation rules
    ///
    /// In creation order: the order in which an exchange tries them.
    #[endpoint { method = GET, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/federation-rules" }]
    async fn list_federation_rules(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<Vec<FederationRule>>, HttpError>;

    /// Create a federation rule
    ///
    /// Lets tokens of an identity provider whose audience and claims match become tokens of this
    /// service account, with at most `capabilities` (held by the service account and by the
    /// caller). The rails of `conditions` are checked now (422 `federation_rule_unsafe`).
    #[endpoint { method = POST, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/federation-rules" }]
    async fn create_federation_rule(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<ServiceAccountPath>,
        body: JsonBody<CreateFederationRuleRequest>,
    ) -> Result<HttpResponseCreated<FederationRule>, HttpError>;

    /// Delete a federation rule
    ///
    /// Tokens it minted work until they expire (revoke them to stop them now).
    #[endpoint { method = DELETE, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/federation-rules/{federation_rule_id}" }]
    async fn delete_federation_rule(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<FederationRulePath>,
    ) -> Result<HttpResponseDeleted, HttpError>;

    /// Test a federation rule
    ///
    /// A dry run: what each condition expected, what was presented, and whether it held, for
    /// `claims` or a `subject_token`. Mints nothing.
    #[endpoint { method = POST, tags = ["federation"],
        path = "/v1/public/accounts/{account_id}/auth/service-accounts/{service_account_id}/federation-rules/{federation_rule_id}/test" }]
    async fn test_federation_rule(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<FederationRulePath>,
        body: JsonBody<FederationRuleTestRequest>,
    ) -> Result<HttpResponseOk<FederationRuleTestResult>, HttpError>;

    /// Exchange a workload's OIDC token
    ///
    /// RFC 8693 token exchange, form-encoded (or JSON), with no bearer credential: a CI job's or
    /// workload's OIDC token becomes a short-lived token of `service_account_id` under its first
    /// matching federation rule. Errors are RFC 6749 bodies; the audit log says why. See
    /// docs/federation.md.
    #[endpoint { method = POST, tags = ["federation"], path = "/v1/public/auth/token",
        content_type = "application/x-www-form-urlencoded" }]
    async fn exchange_token(
        rqctx: RequestContext<Self::Context>,
        body: FormBody<TokenExchangeRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<TokenExchangeResponse>, CredentialAnswerHeaders>,
        OAuthError,
    >;

    /// List audit events
    ///
    /// Lists the account's audit log as a bare JSON array, newest first: every create, rotation,
    /// revocation, grant and role change, leak report and replayed response, with its actor (and
    /// the token it used), target, request id, source address and user agent. Filter by `action`,
    /// `actor_type`, `actor_id`, `service_account_id`, `token_public_id` and time (`since`
    /// inclusive, `until` exclusive); page with `limit` and `before` (the `id` of the last event
    /// received). Requires `auth.manage`.
    #[endpoint { method = GET, tags = ["audit-log"],
        path = "/v1/public/accounts/{account_id}/auth/audit-events" }]
    async fn list_audit_events(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuditEventsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<AuditEvent>>, SunsetHeaders>, HttpError>;

    /// Who am I
    ///
    /// Describes the caller: a service account (its id, account, name, and the token used: its
    /// public id, whether it is the current or the previous one, and when it stops working) or a
    /// user (their id and the access token's expiry), and its grants in every account where it has
    /// standing. Any valid bearer credential may ask; no capability is needed. Counts as a use of a
    /// service-account token (`last_used_at`).
    #[endpoint { method = GET, path = "/v1/public/auth/whoami", tags = ["auth"] }]
    async fn whoami(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError>;

    /// Introspect a token
    ///
    /// Tells a Hybridbox platform component (a gateway, a resource server) whether a token is
    /// active and whom it speaks for (RFC 7662). The caller is an introspection client,
    /// authenticated with HTTP Basic (`client_id:client_secret`, from `hbx-sa introspection-clients
    /// create`); bearer tokens are not accepted here. The body is form-encoded: `token`, and
    /// optionally `token_type_hint` (ignored). An inactive token (malformed, unknown, expired,
    /// revoked, rotated away, or a failing access token) is exactly `{"active": false}` whatever
    /// the reason. An active one carries `token_type`, `sub`, `exp`, `iat` and the `hbx_` members,
    /// grants included; a service-account token that a rotation replaced is active until its grace
    /// period ends (`exp`), with `hbx_token_generation` `previous`. Counts as a use of a
    /// service-account token. Callers may cache an answer for at most 1 second (the revocation
    /// bound). If the authorization server's keys cannot be fetched, an access token gets 503
    /// `unavailable`: it may be fine, ask again later.
    #[endpoint { method = POST, tags = ["platform"], content_type = "application/x-www-form-urlencoded", request_body_max_bytes = INTROSPECTION_BODY_MAX_BYTES,
        path = "/v1/internal/auth/introspect" }]
    async fn introspect_token(
        rqctx: RequestContext<Self::Context>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    >;

    /// Report leaked tokens (GitHub)
    ///
    /// For GitHub's secret scanning partner program: GitHub sends the strings of our token form it
    /// found in public, signed with one of its published keys (ECDSA P-256/SHA-256 over the raw
    /// body, base64 DER, in `Github-Public-Key-Signature`, the key named in
    /// `Github-Public-Key-Identifier`). A bad or missing signature is 401 and changes nothing. Each
    /// reported token that is ours (form, checksum and a stored MAC) is a `true_positive`, even if
    /// it no longer works; a live one is put out of use at once (the service account is revoked
    /// with `revoked_reason` `leaked`; a previous token in its grace period is retired), unless the
    /// server only records (`--secret-scanning-action notify`); each is audited with its source and
    /// URL. Anything else is a `false_positive`. At most 1000 tokens per report. No bearer
    /// credential: the signature is the authority.
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
        path = "/v1/public/secret-scanning/github" }]
    async fn report_github_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GithubSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    /// Report leaked tokens (GitLab)
    ///
    /// The same as the GitHub operation, for GitLab's token revocation: the report is signed the
    /// same way, with the key and signature in `Gitlab-Public-Key-Identifier` and
    /// `Gitlab-Public-Key-Signature`, and checked against the keys at
    /// `--secret-scanning-gitlab-keys-url` (without one, every report is 401).
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
        path = "/v1/public/secret-scanning/gitlab" }]
    async fn report_gitlab_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GitlabSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    /// Revoke tokens you hold
    ///
    /// For anyone who holds a token of this server and wants it dead (found in a log, pasted in a
    /// chat): holding it is the authority to revoke it, so no credential is needed. Always 202 with
    /// the same body, whatever the tokens are (live, revoked, unknown or not tokens at all): the
    /// answer tells nobody whether a token was valid. Each live token among them is put out of use
    /// (its service account is revoked with `revoked_reason` `reported`; a previous token in its
    /// grace period is retired) and audited with the client's address. At most 1000 tokens per
    /// request; requests are rate-limited per client address (429 `rate_limited`, with
    /// `Retry-After`).
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = PUBLIC_REVOCATION_BODY_MAX_BYTES,
        path = "/v1/public/credentials/revoke" }]
    async fn revoke_credentials(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<PublicRevocationRequest>,
    ) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError>;
}
