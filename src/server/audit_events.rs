//! The audit log's operation: an account's events, newest first, for a
//! caller holding `auth.manage` there; and the API's shape of an event,
//! which the command line prints too.

use dropshot::{HttpError, HttpResponseHeaders, HttpResponseOk, RequestContext};

use super::authentication::authorize;
use super::context::ApiContext;
use super::error::service_error;
use super::frame;
use super::verification::api_provenance;
use crate::api::audit_events::{self as api, AuditActor, AuditTarget, ListAuditEventsQuery};
use crate::api::extract::{PathParams, QueryParams};
use crate::api::types::{AccountPath, SunsetHeaders};
use crate::domain::{self, AuditDetail, Capability};
use crate::service::audit_events::AuditQuery;

/// Reading the audit log needs `auth.manage` on the account.
const NEEDED: Capability = Capability::AuthManage;

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    query: QueryParams<ListAuditEventsQuery>,
) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<api::AuditEvent>>, SunsetHeaders>, HttpError> {
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let query = query.into_inner();
    let filter = AuditQuery {
        action: query.action.map(action),
        actor_type: query.actor_type.map(actor_type),
        actor_id: query.actor_id,
        service_account_id: query.service_account_id,
        token_public_id: query.token_public_id.as_deref(),
        since: query.since,
        until: query.until,
        limit: query.limit,
        before: query.before,
    }
    .parse()
    .map_err(|e| service_error(e.into()))?;
    let page = rqctx
        .context()
        .audit_log
        .page(access.account_id(), &filter)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(page.iter().map(api::AuditEvent::from).collect()),
        SunsetHeaders {
            sunset: frame::sunset(),
        },
    ))
}

pub fn action(action: api::AuditAction) -> domain::AuditAction {
    use api::AuditAction as A;
    use domain::AuditAction as D;
    match action {
        A::Create => D::Create,
        A::Rotate => D::Rotate,
        A::Revoke => D::Revoke,
        A::GrantAdd => D::GrantAdd,
        A::GrantRemove => D::GrantRemove,
        A::RoleAssign => D::RoleAssign,
        A::RoleRevoke => D::RoleRevoke,
        A::RetirePreviousToken => D::RetirePreviousToken,
        A::LeakReport => D::LeakReport,
        A::PublicRevocation => D::PublicRevocation,
        A::IdempotentReplay => D::IdempotentReplay,
        A::TokenExchange => D::TokenExchange,
        A::TokenExchangeDenied => D::TokenExchangeDenied,
        A::IdentityProviderCreate => D::IdentityProviderCreate,
        A::IdentityProviderDelete => D::IdentityProviderDelete,
        A::FederationRuleCreate => D::FederationRuleCreate,
        A::FederationRuleDelete => D::FederationRuleDelete,
        A::DisableStaticToken => D::DisableStaticToken,
        A::WebhookCreate => D::WebhookCreate,
        A::WebhookDelete => D::WebhookDelete,
        A::WebhookRotateSecret => D::WebhookRotateSecret,
        A::WebhookEnable => D::WebhookEnable,
        A::WebhookDisable => D::WebhookDisable,
    }
}

pub fn actor_type(kind: api::ActorType) -> domain::ActorType {
    match kind {
        api::ActorType::User => domain::ActorType::User,
        api::ActorType::ServiceAccount => domain::ActorType::ServiceAccount,
        api::ActorType::Operator => domain::ActorType::Operator,
        api::ActorType::Reporter => domain::ActorType::Reporter,
    }
}

/// What an event changed: the grant, role assignment, federation rule or
/// identity provider it names, else its service account, else the account.
fn target(event: &domain::AuditEvent) -> AuditTarget {
    let (target_type, id) = match (&event.detail, event.service_account_id) {
        (
            Some(AuditDetail::Grant {
                authorization_id: Some(id),
                ..
            }),
            _,
        ) => ("authorization", *id),
        (
            Some(AuditDetail::Role {
                role_assignment_id, ..
            }),
            _,
        ) => ("role_assignment", *role_assignment_id),
        (Some(AuditDetail::Webhook { webhook_id, .. }), _) => ("webhook", *webhook_id),
        (Some(AuditDetail::Federation(federation)), _) => match federation.federation_rule_id {
            Some(rule) => ("federation_rule", rule),
            None => ("identity_provider", federation.identity_provider_id),
        },
        (_, Some(id)) => ("service_account", id),
        (_, None) => ("account", event.account_id),
    };
    AuditTarget {
        target_type: target_type.to_owned(),
        id,
    }
}

impl From<&domain::AuditEvent> for api::AuditEvent {
    fn from(event: &domain::AuditEvent) -> Self {
        let details = match event.detail.as_ref().map(AuditDetail::to_json) {
            Some(serde_json::Value::Object(details)) => details,
            _ => serde_json::Map::new(),
        };
        Self {
            id: event.id,
            occurred_at: event.occurred_at,
            action: event.action.as_str().to_owned(),
            actor: AuditActor {
                actor_type: event.actor.kind().to_owned(),
                id: event.actor.id(),
                token_public_id: event.origin.actor_token_public_id.clone(),
                federation: event.origin.actor_federation.as_ref().map(api_provenance),
            },
            target: target(event),
            request_id: event.origin.request_id.clone(),
            source_ip: event.origin.source_ip.map(|ip| ip.to_string()),
            user_agent: event.origin.user_agent.clone(),
            details,
        }
    }
}
