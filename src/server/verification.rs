//! The operations other Hybridbox services use to verify credentials: whoami
//! (the caller about itself) and token introspection (an introspection client
//! about any token). Both verify with the same code as every other request
//! (`Authenticator::verify`).

use dropshot::{HttpError, HttpResponseHeaders, HttpResponseOk, RequestContext};
use slog::info;

use super::authentication;
use super::context::ApiContext;
use super::error::{auth_error, client_auth_error, service_error};
use super::frame::{self, count_authentication};
use super::service_accounts::no_store;
use crate::api::extract::FormBody;
use crate::api::federation::FederationProvenance;
use crate::api::types::{CredentialAnswerHeaders, WhoamiHeaders};
use crate::api::verification::{
    self, IntrospectedTokenType, IntrospectionRequest, IntrospectionResponse, PrincipalType, Whoami,
};
use crate::auth::introspection_client::KIND as INTROSPECTION_CLIENT;
use crate::auth::{AuthError, Authentication, CredentialFacts, Principal};
use crate::domain::{Provenance, TokenGeneration};
use crate::service::verification::{AccountGrants, Identity};

pub async fn whoami(
    rqctx: &RequestContext<ApiContext>,
) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError> {
    let context = rqctx.context();
    let verified = authentication::authenticate(rqctx).await?;
    let identity = context
        .identities
        .describe(verified)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(whoami_of(identity)),
        WhoamiHeaders {
            cache_control: no_store(),
            sunset: frame::sunset(),
        },
    ))
}

pub async fn introspect(
    rqctx: &RequestContext<ApiContext>,
    body: FormBody<IntrospectionRequest>,
) -> Result<
    HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
    HttpError,
> {
    let context = rqctx.context();
    let client = context
        .introspection_clients
        .authenticate(rqctx.request.headers())
        .await;
    count_authentication(
        &context.frame.metrics,
        INTROSPECTION_CLIENT,
        client.as_ref().err(),
    );
    let client = client.map_err(client_auth_error)?;
    frame::note_principal(format!("introspection_client:{}", client.client_id));
    let request = body.decode()?;
    let Authentication { kind, result } = context.authenticator.verify(&request.token).await;
    count_authentication(&context.frame.metrics, kind, result.as_ref().err());
    let verified = result;
    let answer = match verified {
        Ok(verified) => {
            let identity = context
                .identities
                .describe(verified)
                .await
                .map_err(service_error)?;
            active(identity)
        }
        Err(AuthError::Refused(reason)) => {
            info!(rqctx.log, "introspected an inactive token";
                "client_id" => &client.client_id, "reason" => reason.as_str());
            IntrospectionResponse::default()
        }
        Err(error) => return Err(auth_error(error)),
    };
    if let Some(sub) = answer.sub {
        info!(rqctx.log, "introspected an active token";
            "client_id" => &client.client_id, "sub" => %sub);
    }
    Ok(HttpResponseHeaders::new(
        HttpResponseOk(answer),
        CredentialAnswerHeaders {
            cache_control: no_store(),
        },
    ))
}

fn whoami_of(identity: Identity) -> Whoami {
    let Identity { verified, grants } = identity;
    let (user_id, service_account_id, account_id) = principal_ids(verified.principal);
    let (name, token_public_id) = match &verified.credential {
        CredentialFacts::ServiceAccountToken {
            public_id, name, ..
        } => (Some(name.clone()), Some(public_id.clone())),
        CredentialFacts::FederatedToken(facts) => (
            Some(facts.name.clone()),
            Some(facts.token.token.public_id.clone()),
        ),
        CredentialFacts::AccessToken { .. } => (None, None),
    };
    let token_generation = generation(&verified.credential);
    Whoami {
        principal_type: principal_type(verified.principal),
        user_id,
        service_account_id,
        account_id,
        name,
        token_public_id,
        token_generation,
        expires_at: verified.credential.expires_at(),
        grants: grants.into_iter().map(api_grants).collect(),
        groups: verified.credential.groups().to_vec(),
        federation: provenance(&verified.credential),
    }
}

fn active(identity: Identity) -> IntrospectionResponse {
    let Identity { verified, grants } = identity;
    let (user_id, service_account_id, account_id) = principal_ids(verified.principal);
    IntrospectionResponse {
        active: true,
        token_type: Some(match verified.credential {
            CredentialFacts::ServiceAccountToken { .. } | CredentialFacts::FederatedToken(_) => {
                IntrospectedTokenType::ServiceAccount
            }
            CredentialFacts::AccessToken { .. } => IntrospectedTokenType::AccessToken,
        }),
        sub: user_id.or(service_account_id),
        exp: verified.credential.expires_at().map(|at| at.timestamp()),
        iat: verified.credential.issued_at().map(|at| at.timestamp()),
        hbx_principal_type: Some(principal_type(verified.principal)),
        hbx_account_id: account_id,
        hbx_service_account_id: service_account_id,
        hbx_user_id: user_id,
        hbx_token_generation: generation(&verified.credential),
        hbx_grants: Some(grants.into_iter().map(api_grants).collect()),
        hbx_federation: provenance(&verified.credential),
    }
}

/// Which of its service account's own tokens a credential is (none for a
/// user's, and none for a federated token, which is none of them).
fn generation(credential: &CredentialFacts) -> Option<verification::TokenGeneration> {
    match credential {
        CredentialFacts::ServiceAccountToken { generation, .. } => match generation {
            TokenGeneration::Current => Some(verification::TokenGeneration::Current),
            TokenGeneration::Previous => Some(verification::TokenGeneration::Previous),
            TokenGeneration::Federated => None,
        },
        CredentialFacts::FederatedToken(_) | CredentialFacts::AccessToken { .. } => None,
    }
}

/// Where a federated token came from; none for any other credential.
fn provenance(credential: &CredentialFacts) -> Option<FederationProvenance> {
    Some(api_provenance(&credential.federated()?.token.provenance))
}

/// The API's shape of a federated token's provenance.
pub(super) fn api_provenance(provenance: &Provenance) -> FederationProvenance {
    FederationProvenance {
        federation_rule_id: provenance.federation_rule_id,
        identity_provider_id: provenance.identity_provider_id,
        issuer: provenance.issuer.clone(),
        subject: provenance.subject.clone(),
        claims: provenance.claims.clone(),
    }
}

/// (user, service account, the service account's account).
fn principal_ids(
    principal: Principal,
) -> (Option<uuid::Uuid>, Option<uuid::Uuid>, Option<uuid::Uuid>) {
    match principal {
        Principal::User { user_id } => (Some(user_id), None, None),
        Principal::ServiceAccount {
            service_account_id,
            account_id,
        } => (None, Some(service_account_id), Some(account_id)),
    }
}

fn principal_type(principal: Principal) -> PrincipalType {
    match principal {
        Principal::User { .. } => PrincipalType::User,
        Principal::ServiceAccount { .. } => PrincipalType::ServiceAccount,
    }
}

fn api_grants(grants: AccountGrants) -> verification::AccountGrants {
    verification::AccountGrants {
        account_id: grants.account_id,
        capabilities: grants.capabilities,
        owner: grants.owner,
        scoped: grants
            .scoped
            .into_iter()
            .map(|scoped| verification::ScopedCapability {
                capability_key: scoped.capability_key.as_str().to_owned(),
                resource_type: scoped.resource.kind.as_str().to_owned(),
                resource_id: scoped.resource.id,
            })
            .collect(),
    }
}
