//! The implementation of the API trait, by delegation: each operation's
//! handler lives in the module of its feature ([`service_accounts`],
//! [`verification`] for whoami and introspection, [`leaks`] for leak reports
//! and public revocation, [`operations`] for health, metrics and the
//! documents), and every one runs inside the request frame ([`frame`]: the
//! request line, metrics, notes). The server's start and stop are in
//! [`lifecycle`]; failures become responses in [`error`].

pub mod audit_events;
pub mod authentication;
pub mod authorizations;
pub mod client_address;
pub mod context;
pub mod docs;
pub mod error;
pub mod federation_rules;
pub mod frame;
pub mod idempotent;
pub mod identity_providers;
pub mod leaks;
pub mod lifecycle;
pub mod metrics;
pub mod operations;
pub mod rate_limit;
pub mod request_log;
pub mod role_assignments;
pub mod service_accounts;
pub mod token_exchange;
pub mod verification;
pub mod webhook_workers;
pub mod webhooks;

use dropshot::{
    ApiDescription, HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted,
    HttpResponseHeaders, HttpResponseOk, RequestContext,
};

use self::context::ApiContext;
use self::frame::{observe, observe_detached};
use crate::api::audit_events::{AuditEvent, ListAuditEventsQuery};
use crate::api::authorizations::{
    Authorization, AuthorizationPath, CreateAuthorizationRequest, CreateRoleAssignmentRequest,
    GrantedHeaders, ListAuthorizationsQuery, ListRoleAssignmentsQuery, RoleAssignment,
    RoleAssignmentPath,
};
use crate::api::extract::{FormBody, HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::federation::{
    CreateFederationRuleRequest, CreateIdentityProviderRequest, FederationRule, FederationRulePath,
    FederationRuleTestRequest, FederationRuleTestResult, IdentityProvider, IdentityProviderPath,
    OAuthError, TokenExchangeRequest, TokenExchangeResponse,
};
use crate::api::leaks::{
    GithubSignatureHeaders, GitlabSignatureHeaders, PublicRevocationReceipt,
    PublicRevocationRequest, ReportedToken, TokenReportFeedback,
};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, CredentialAnswerHeaders,
    IdempotencyHeaders, ListServiceAccountsQuery, RotateServiceAccountQuery, RotatedHeaders,
    ServiceAccount, ServiceAccountPath, ServiceAccountWithToken, SunsetHeaders, WhoamiHeaders,
};
use crate::api::verification::{IntrospectionRequest, IntrospectionResponse, Whoami};
use crate::api::webhooks::{
    CreateWebhookRequest, ListWebhookDeliveriesQuery, QueuedWebhookEvent, Webhook,
    WebhookCreatedHeaders, WebhookDelivery, WebhookDeliveryPath, WebhookPath, WebhookWithSecret,
};
use crate::api::{ServiceAccountsApi, service_accounts_api_mod};
use crate::auth::leaks::Sender;

/// The type the API trait is implemented on; never constructed.
pub enum ApiImpl {}

impl ServiceAccountsApi for ApiImpl {
    type Context = ApiContext;

    async fn create_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    > {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(service_accounts::create(rqctx, path, headers, body))
        })
        .await
    }

    async fn list_service_accounts(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListServiceAccountsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<ServiceAccount>>, SunsetHeaders>, HttpError>
    {
        observe(&rqctx, service_accounts::list(&rqctx, path, query)).await
    }

    async fn get_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe(&rqctx, service_accounts::get(&rqctx, path)).await
    }

    async fn rotate_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
        query: QueryParams<RotateServiceAccountQuery>,
        headers: HeaderParams<IdempotencyHeaders>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, RotatedHeaders>,
        HttpError,
    > {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(service_accounts::rotate(rqctx, path, query, headers))
        })
        .await
    }

    async fn retire_previous_token(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(service_accounts::retire_previous_token(rqctx, path))
        })
        .await
    }

    async fn revoke_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(service_accounts::revoke(rqctx, path))
        })
        .await
    }

    async fn list_authorizations(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuthorizationsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<Authorization>>, SunsetHeaders>, HttpError>
    {
        observe(&rqctx, authorizations::list(&rqctx, path, query)).await
    }

    async fn create_authorization(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateAuthorizationRequest>,
    ) -> Result<HttpResponseHeaders<HttpResponseCreated<Authorization>, GrantedHeaders>, HttpError>
    {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(authorizations::create(rqctx, path, headers, body))
        })
        .await
    }

    async fn get_authorization(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AuthorizationPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Authorization>, SunsetHeaders>, HttpError> {
        observe(&rqctx, authorizations::get(&rqctx, path)).await
    }

    async fn revoke_authorization(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AuthorizationPath>,
    ) -> Result<HttpResponseOk<Authorization>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(authorizations::revoke(rqctx, path))
        })
        .await
    }

    async fn list_role_assignments(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListRoleAssignmentsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<RoleAssignment>>, SunsetHeaders>, HttpError>
    {
        observe(&rqctx, role_assignments::list(&rqctx, path, query)).await
    }

    async fn create_role_assignment(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateRoleAssignmentRequest>,
    ) -> Result<HttpResponseHeaders<HttpResponseCreated<RoleAssignment>, GrantedHeaders>, HttpError>
    {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(role_assignments::create(rqctx, path, headers, body))
        })
        .await
    }

    async fn get_role_assignment(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<RoleAssignmentPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<RoleAssignment>, SunsetHeaders>, HttpError> {
        observe(&rqctx, role_assignments::get(&rqctx, path)).await
    }

    async fn revoke_role_assignment(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<RoleAssignmentPath>,
    ) -> Result<HttpResponseOk<RoleAssignment>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(role_assignments::revoke(rqctx, path))
        })
        .await
    }

    async fn disable_static_token(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(service_accounts::disable_static_token(rqctx, path))
        })
        .await
    }

    async fn list_identity_providers(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
    ) -> Result<HttpResponseOk<Vec<IdentityProvider>>, HttpError> {
        observe(&rqctx, identity_providers::list(&rqctx, path)).await
    }

    async fn create_identity_provider(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        body: JsonBody<CreateIdentityProviderRequest>,
    ) -> Result<HttpResponseCreated<IdentityProvider>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(identity_providers::create(rqctx, path, body))
        })
        .await
    }

    async fn get_identity_provider(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<IdentityProviderPath>,
    ) -> Result<HttpResponseOk<IdentityProvider>, HttpError> {
        observe(&rqctx, identity_providers::get(&rqctx, path)).await
    }

    async fn delete_identity_provider(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<IdentityProviderPath>,
    ) -> Result<HttpResponseDeleted, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(identity_providers::delete(rqctx, path))
        })
        .await
    }

    async fn list_federation_rules(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<Vec<FederationRule>>, HttpError> {
        observe(&rqctx, federation_rules::list(&rqctx, path)).await
    }

    async fn create_federation_rule(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
        body: JsonBody<CreateFederationRuleRequest>,
    ) -> Result<HttpResponseCreated<FederationRule>, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(federation_rules::create(rqctx, path, body))
        })
        .await
    }

    async fn delete_federation_rule(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<FederationRulePath>,
    ) -> Result<HttpResponseDeleted, HttpError> {
        observe_detached(rqctx, move |rqctx| {
            Box::pin(federation_rules::delete(rqctx, path))
        })
        .await
    }

    async fn test_federation_rule(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<FederationRulePath>,
        body: JsonBody<FederationRuleTestRequest>,
    ) -> Result<HttpResponseOk<FederationRuleTestResult>, HttpError> {
        observe(&rqctx, federation_rules::test(&rqctx, path, body)).await
    }

    async fn exchange_token(
        rqctx: RequestContext<ApiContext>,
        body: FormBody<TokenExchangeRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<TokenExchangeResponse>, CredentialAnswerHeaders>,
        OAuthError,
    > {
        let request_id = rqctx.request_id.clone();
        observe_detached(rqctx, move |rqctx| {
            Box::pin(token_exchange::exchange(rqctx, body))
        })
        .await
        .map_err(|error| OAuthError {
            request_id: Some(request_id),
            ..OAuthError::from(error)
        })
    }

    async fn list_webhooks(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
    ) -> Result<HttpResponseOk<Vec<Webhook>>, HttpError> {
        observe(&rqctx, webhooks::list(&rqctx, path)).await
    }

    async fn create_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateWebhookRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<WebhookWithSecret>, WebhookCreatedHeaders>,
        HttpError,
    > {
        observe(&rqctx, webhooks::create(&rqctx, path, headers, body)).await
    }

    async fn get_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError> {
        observe(&rqctx, webhooks::get(&rqctx, path)).await
    }

    async fn delete_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseDeleted, HttpError> {
        observe(&rqctx, webhooks::delete(&rqctx, path)).await
    }

    async fn rotate_webhook_secret(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<WebhookWithSecret>, HttpError> {
        observe(&rqctx, webhooks::rotate_secret(&rqctx, path)).await
    }

    async fn ping_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseAccepted<QueuedWebhookEvent>, HttpError> {
        observe(&rqctx, webhooks::ping(&rqctx, path)).await
    }

    async fn enable_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError> {
        observe(&rqctx, webhooks::set_enabled(&rqctx, path, true)).await
    }

    async fn disable_webhook(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
    ) -> Result<HttpResponseOk<Webhook>, HttpError> {
        observe(&rqctx, webhooks::set_enabled(&rqctx, path, false)).await
    }

    async fn list_webhook_deliveries(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookPath>,
        query: QueryParams<ListWebhookDeliveriesQuery>,
    ) -> Result<HttpResponseOk<Vec<WebhookDelivery>>, HttpError> {
        observe(&rqctx, webhooks::deliveries(&rqctx, path, query)).await
    }

    async fn redeliver_webhook_event(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<WebhookDeliveryPath>,
    ) -> Result<HttpResponseAccepted<QueuedWebhookEvent>, HttpError> {
        observe(&rqctx, webhooks::redeliver(&rqctx, path)).await
    }

    async fn list_audit_events(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListAuditEventsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<AuditEvent>>, SunsetHeaders>, HttpError>
    {
        observe(&rqctx, audit_events::list(&rqctx, path, query)).await
    }

    async fn whoami(
        rqctx: RequestContext<ApiContext>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError> {
        observe(&rqctx, verification::whoami(&rqctx)).await
    }

    async fn introspect_token(
        rqctx: RequestContext<ApiContext>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    > {
        observe(&rqctx, verification::introspect(&rqctx, body)).await
    }

    async fn report_github_leaks(
        rqctx: RequestContext<ApiContext>,
        headers: HeaderParams<GithubSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError> {
        let headers = headers.into_inner();
        observe_detached(rqctx, move |rqctx| {
            Box::pin(leaks::report(
                rqctx,
                Sender::GitHub,
                headers.key_identifier,
                headers.signature,
                body,
            ))
        })
        .await
    }

    async fn report_gitlab_leaks(
        rqctx: RequestContext<ApiContext>,
        headers: HeaderParams<GitlabSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError> {
        let headers = headers.into_inner();
        observe_detached(rqctx, move |rqctx| {
            Box::pin(leaks::report(
                rqctx,
                Sender::GitLab,
                headers.key_identifier,
                headers.signature,
                body,
            ))
        })
        .await
    }

    async fn revoke_credentials(
        rqctx: RequestContext<ApiContext>,
        body: JsonBody<PublicRevocationRequest>,
    ) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError> {
        observe_detached(rqctx, move |rqctx| Box::pin(leaks::revoke(rqctx, body))).await
    }
}

/// The API, wired to its implementation.
pub fn api_description() -> ApiDescription<ApiContext> {
    let mut api = service_accounts_api_mod::api_description::<ApiImpl>()
        .expect("the API trait and its implementation agree");
    operations::register(&mut api);
    api
}
