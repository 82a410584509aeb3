//! The federation rule operations of a service account: list, create,
//! delete and the dry run. Each handler authenticates, authorizes
//! (`auth.manage`), turns the API's words into the domain's, calls the
//! service and shapes the response.

use dropshot::{
    HttpError, HttpResponseCreated, HttpResponseDeleted, HttpResponseOk, RequestContext,
};
use slog::info;

use super::authentication::authorize;
use super::authorizations::NEEDED;
use super::context::ApiContext;
use super::error::service_error;
use crate::api::extract::{JsonBody, PathParams};
use crate::api::federation::{
    self as api, ClaimCondition, ConditionOp, ConditionResult, CreateFederationRuleRequest,
    FederationRulePath, FederationRuleTestRequest, FederationRuleTestResult,
};
use crate::api::types::ServiceAccountPath;
use crate::domain::{self, Condition, ConditionTest, ValidationError};
use crate::service::federation_rules::RuleRequest;

fn op(op: ConditionOp) -> &'static str {
    match op {
        ConditionOp::Eq => "eq",
        ConditionOp::In => "in",
        ConditionOp::Glob => "glob",
    }
}

fn condition(condition: &Condition) -> ClaimCondition {
    let (op, value, values) = match &condition.test {
        ConditionTest::Eq(value) => (ConditionOp::Eq, Some(value.clone()), None),
        ConditionTest::Glob(value) => (ConditionOp::Glob, Some(value.clone()), None),
        ConditionTest::In(values) => (ConditionOp::In, None, Some(values.clone())),
    };
    ClaimCondition {
        claim: condition.claim.clone(),
        op,
        value,
        values,
    }
}

/// The API's shape of a rule.
fn record(rule: domain::FederationRule) -> api::FederationRule {
    api::FederationRule {
        id: rule.id,
        account_id: rule.account_id,
        service_account_id: rule.service_account_id,
        identity_provider_id: rule.identity_provider_id,
        audience: rule.audience,
        conditions: rule.conditions.iter().map(condition).collect(),
        capabilities: rule
            .capabilities
            .iter()
            .map(|key| key.as_str().to_owned())
            .collect(),
        token_ttl_seconds: rule.token_ttl_seconds,
        description: rule.description,
        created_at: rule.created_at,
    }
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
) -> Result<HttpResponseOk<Vec<api::FederationRule>>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let context = rqctx.context();
    // A service account that is not there is a 404, not an empty list.
    let service_accounts = &context.service_accounts;
    let found = service_accounts.get(&access, path.service_account_id).await;
    found.map_err(service_error)?;
    let rules = context
        .federation_rules
        .list(&access, path.service_account_id)
        .await
        .map_err(service_error)?;
    Ok(HttpResponseOk(rules.into_iter().map(record).collect()))
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<ServiceAccountPath>,
    body: JsonBody<CreateFederationRuleRequest>,
) -> Result<HttpResponseCreated<api::FederationRule>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let request = body.decode()?;
    let conditions = request
        .conditions
        .into_iter()
        .map(|c| Condition::parse(&c.claim, op(c.op), c.value, c.values))
        .collect::<Result<Vec<_>, ValidationError>>()
        .map_err(|e| service_error(e.into()))?;
    let parsed = RuleRequest::parse(
        request.identity_provider_id,
        request.audience,
        conditions,
        &request.capabilities,
        request.token_ttl_seconds,
        request.description,
    )
    .map_err(|e| service_error(e.into()))?;
    let rules = &rqctx.context().federation_rules;
    let rule = rules
        .create(&access, path.service_account_id, parsed)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "federation rule created";
        "account_id" => %access.account_id(),
        "service_account_id" => %rule.service_account_id,
        "federation_rule_id" => %rule.id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseCreated(record(rule)))
}

pub async fn delete(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<FederationRulePath>,
) -> Result<HttpResponseDeleted, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let rules = &rqctx.context().federation_rules;
    rules
        .delete(&access, path.service_account_id, path.federation_rule_id)
        .await
        .map_err(service_error)?;
    info!(rqctx.log, "federation rule deleted";
        "account_id" => %access.account_id(),
        "federation_rule_id" => %path.federation_rule_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseDeleted())
}

pub async fn test(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<FederationRulePath>,
    body: JsonBody<FederationRuleTestRequest>,
) -> Result<HttpResponseOk<FederationRuleTestResult>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let request = body.decode()?;
    let rules = &rqctx.context().federation_rules;
    let run = rules
        .dry_run(
            &access,
            path.service_account_id,
            path.federation_rule_id,
            request.claims,
            request.subject_token.as_deref(),
        )
        .await
        .map_err(service_error)?;
    Ok(HttpResponseOk(FederationRuleTestResult {
        matched: run.matched,
        conditions: run
            .outcomes
            .into_iter()
            .map(|o| ConditionResult {
                claim: o.claim,
                op: o.op.to_owned(),
                expected: o.expected,
                presented: o.presented,
                pass: o.pass,
            })
            .collect(),
    }))
}
