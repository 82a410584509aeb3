//! The interface: the Dropshot API trait and its types, by feature ([`types`] for service accounts
//! and the shared ones, [`verification`], [`leaks`], [`federation`] ...), the extractors that give
//! every failure an `error_code` ([`extract`], [`errors`]), and the OpenAPI document made from them
//! ([`document`], checked in at `openapi/hbx-service-accounts.json`). No storage and no business
//! logic lives here; the implementation is in `crate::server`.

pub mod audit_events;
pub mod authorizations;
pub mod decode_errors;
pub mod descriptions;
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
pub mod webhooks;

use dropshot::{HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted};
use dropshot::{HttpResponseHeaders, HttpResponseOk, RequestContext};

use self::audit_events::*;
use self::authorizations::*;
use self::extract::*;
use self::federation::*;
use self::leaks::*;
use self::types::*;
use self::verification::*;
use self::webhooks::*;

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
            "webhooks" = {
                description = "Lifecycle events of an account (tokens created, rotated, revoked, \
                    leaked and expiring; grants; federation) as signed webhooks (Standard \
                    Webhooks 1.0), retried until delivered, with their delivery log.",
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

    ///  Create a service account
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

    ///  List service accounts
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

    ///  Rotate a service account's token
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

    ///  List authorizations
    #[endpoint { method = GET, tags = ["authorizations"],
        path = "/v1/public/accounts/{account_id}/auth/authorizations" }]
    async fn list_authorizations(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuthorizationsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<Authorization>>, SunsetHeaders>, HttpError>;

    ///  Grant a capability or ownership
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

    ///  Exchange a workload's OIDC token
    #[endpoint { method = POST, tags = ["federation"], path = "/v1/public/auth/token",
        content_type = "application/x-www-form-urlencoded" }]
    async fn exchange_token(
        rqctx: RequestContext<Self::Context>,
        body: FormBody<TokenExchangeRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<TokenExchangeResponse>, CredentialAnswerHeaders>,
        OAuthError,
    >;

    /// List webhooks
    #[endpoint { method = GET, tags = ["webhooks"], path = "/v1/public/accounts/{account_id}/webhooks" }]
    async fn list_webhooks(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
    ) -> Result<HttpResponseOk<Vec<Webhook>>, HttpError>;

    /// Create a webhook
    #[endpoint { method = POST, tags = ["webhooks"], path = "/v1/public/accounts/{account_id}/webhooks" }]
    async fn create_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateWebhookRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<WebhookWithSecret>, WebhookCreatedHeaders>,
        HttpError,
    >;

    /// Get a webhook
    #[endpoint { method = GET, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}" }]
    async fn get_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError>;

    /// Delete a webhook
    #[endpoint { method = DELETE, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}" }]
    async fn delete_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseDeleted, HttpError>;

    /// Rotate a webhook's signing secret
    #[endpoint { method = POST, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/rotate-secret" }]
    async fn rotate_webhook_secret(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<WebhookWithSecret>, HttpError>;

    /// Ping a webhook
    #[endpoint { method = POST, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/ping" }]
    async fn ping_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseAccepted<QueuedWebhookEvent>, HttpError>;

    /// Enable a webhook
    #[endpoint { method = POST, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/enable" }]
    async fn enable_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError>;

    /// Disable a webhook
    #[endpoint { method = POST, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/disable" }]
    async fn disable_webhook(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError>;

    /// List a webhook's deliveries
    #[endpoint { method = GET, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/deliveries" }]
    async fn list_webhook_deliveries(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookPath>,
        query: QueryParams<ListWebhookDeliveriesQuery>,
    ) -> Result<HttpResponseOk<Vec<WebhookDelivery>>, HttpError>;

    /// Redeliver an event
    #[endpoint { method = POST, tags = ["webhooks"],
        path = "/v1/public/accounts/{account_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver" }]
    async fn redeliver_webhook_event(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<WebhookDeliveryPath>,
    ) -> Result<HttpResponseAccepted<QueuedWebhookEvent>, HttpError>;

    ///  List audit events
    #[endpoint { method = GET, tags = ["audit-log"],
        path = "/v1/public/accounts/{account_id}/auth/audit-events" }]
    async fn list_audit_events(
        rqctx: RequestContext<Self::Context>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuditEventsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<AuditEvent>>, SunsetHeaders>, HttpError>;

    ///  Who am I
    #[endpoint { method = GET, path = "/v1/public/auth/whoami", tags = ["auth"] }]
    async fn whoami(
        rqctx: RequestContext<Self::Context>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError>;

    ///  Introspect a token
    #[endpoint { method = POST, tags = ["platform"], content_type = "application/x-www-form-urlencoded", request_body_max_bytes = INTROSPECTION_BODY_MAX_BYTES,
        path = "/v1/internal/auth/introspect" }]
    async fn introspect_token(
        rqctx: RequestContext<Self::Context>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    >;

    ///  Report leaked tokens (GitHub)
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
        path = "/v1/public/secret-scanning/github" }]
    async fn report_github_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GithubSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    ///  Report leaked tokens (GitLab)
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = LEAK_REPORT_BODY_MAX_BYTES,
        path = "/v1/public/secret-scanning/gitlab" }]
    async fn report_gitlab_leaks(
        rqctx: RequestContext<Self::Context>,
        headers: HeaderParams<GitlabSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError>;

    ///  Revoke tokens you hold
    #[endpoint { method = POST, tags = ["secret-scanning"], request_body_max_bytes = PUBLIC_REVOCATION_BODY_MAX_BYTES,
        path = "/v1/public/credentials/revoke" }]
    async fn revoke_credentials(
        rqctx: RequestContext<Self::Context>,
        body: JsonBody<PublicRevocationRequest>,
    ) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError>;
}
