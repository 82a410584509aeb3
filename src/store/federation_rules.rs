//! Federation rules of service accounts: created (the service account and
//! the provider checked live in the same transaction), read in creation
//! order (the first that matches wins an exchange), deleted. Every change is
//! audited in its transaction.

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit_events;
use super::authorizations::check_subject;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, CapabilityKey, Condition, ConditionTest, FederationRule, Subject};

/// Creating, reading and deleting federation rules.
#[async_trait]
pub trait FederationRuleStore: Send + Sync + 'static {
    /// Adds `rule` and records `event`. The service account must be a live
    /// one of the rule's account ([`StoreError::ServiceAccountNotInAccount`])
    /// and the provider one of its providers
    /// ([`StoreError::IdentityProviderNotFound`]).
    async fn create_federation_rule(
        &self,
        rule: &FederationRule,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The rules of service account `service_account_id` of `account_id`,
    /// in creation order.
    async fn federation_rules_of(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
    ) -> Result<Vec<FederationRule>, StoreError>;

    /// Rule `id` of service account `service_account_id` of `account_id`.
    async fn get_federation_rule(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<FederationRule>, StoreError>;

    /// Deletes rule `id` and records `event`; `None`: no such rule.
    async fn delete_federation_rule(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<Option<FederationRule>, StoreError>;
}

const INSERT: &str = "INSERT INTO federation_rules (id, account_id, service_account_id, \
    identity_provider_id, audience, conditions, capabilities, token_ttl_seconds, description, \
    created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const PROVIDER_EXISTS: &str = "SELECT id FROM identity_providers WHERE account_id = $1 AND id = $2";

const LIST: &str = "SELECT id, account_id, service_account_id, identity_provider_id, audience, \
    conditions, capabilities, token_ttl_seconds, description, created_at \
    FROM federation_rules WHERE account_id = $1 AND service_account_id = $2 \
    ORDER BY created_at, id";

const SELECT_ONE: &str = "SELECT id, account_id, service_account_id, identity_provider_id, \
    audience, conditions, capabilities, token_ttl_seconds, description, created_at \
    FROM federation_rules WHERE account_id = $1 AND service_account_id = $2 AND id = $3";

const DELETE: &str = "DELETE FROM federation_rules WHERE id = $1";

/// The `federation_rules` table.
struct FederationRuleRow {
    id: Uuid,
    account_id: Uuid,
    service_account_id: Uuid,
    identity_provider_id: Uuid,
    audience: String,
    conditions: String,
    capabilities: String,
    token_ttl_seconds: i32,
    description: Option<String>,
    created_at: Timestamp,
}

impl FromColumns for FederationRuleRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            service_account_id: columns.get("service_account_id")?,
            identity_provider_id: columns.get("identity_provider_id")?,
            audience: columns.get("audience")?,
            conditions: columns.get("conditions")?,
            capabilities: columns.get("capabilities")?,
            token_ttl_seconds: columns.get("token_ttl_seconds")?,
            description: columns.get("description")?,
            created_at: columns.get("created_at")?,
        })
    }
}

/// A rule's conditions as stored: `[{"claim", "op", "value" | "values"}]`.
fn conditions_json(conditions: &[Condition]) -> String {
    let list: Vec<Value> = conditions
        .iter()
        .map(|c| match &c.test {
            ConditionTest::Eq(value) | ConditionTest::Glob(value) => {
                json!({"claim": c.claim, "op": c.test.op(), "value": value})
            }
            ConditionTest::In(values) => json!({"claim": c.claim, "op": "in", "values": values}),
        })
        .collect();
    Value::from(list).to_string()
}

fn read_conditions(text: &str) -> Option<Vec<Condition>> {
    let list: Vec<Value> = serde_json::from_str(text).ok()?;
    list.iter()
        .map(|c| {
            let values = c["values"].as_array().map(|values| {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
            Condition::parse(
                c["claim"].as_str()?,
                c["op"].as_str()?,
                c["value"].as_str().map(str::to_owned),
                values,
            )
            .ok()
        })
        .collect()
}

/// Capability keys as stored: space-separated.
pub(super) fn capabilities_text(keys: &[CapabilityKey]) -> String {
    keys.iter()
        .map(CapabilityKey::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn read_capabilities(text: &str) -> Option<Vec<CapabilityKey>> {
    text.split_whitespace()
        .map(|key| CapabilityKey::parse(key).ok())
        .collect()
}

impl FederationRuleRow {
    fn into_rule(self) -> Result<FederationRule, StoreError> {
        let id = self.id;
        let invalid = |what: &str| corrupt(format!("federation rule {id}: invalid {what}"));
        Ok(FederationRule {
            id,
            account_id: self.account_id,
            service_account_id: self.service_account_id,
            identity_provider_id: self.identity_provider_id,
            audience: self.audience,
            conditions: read_conditions(&self.conditions).ok_or_else(|| invalid("conditions"))?,
            capabilities: read_capabilities(&self.capabilities)
                .ok_or_else(|| invalid("capabilities"))?,
            token_ttl_seconds: u32::try_from(self.token_ttl_seconds)
                .map_err(|_| invalid("token_ttl_seconds"))?,
            description: self.description,
            created_at: self.created_at.0,
        })
    }
}

async fn select_one<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    service_account_id: Uuid,
    id: Uuid,
) -> Result<Option<FederationRule>, StoreError> {
    let select = query::<D>(SELECT_ONE)
        .arg(account_id)
        .arg(service_account_id)
        .arg(id);
    fetch_optional(connection, select)
        .await?
        .map(|row| decode::<D, FederationRuleRow>(&row)?.into_rule())
        .transpose()
}

#[async_trait]
impl<D: Backend> FederationRuleStore for SqlStore<D> {
    async fn create_federation_rule(
        &self,
        rule: &FederationRule,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            let owner = Subject::ServiceAccount(rule.service_account_id);
            check_subject::<D>(tx, rule.account_id, &owner).await?;
            let provider = query::<D>(PROVIDER_EXISTS)
                .arg(rule.account_id)
                .arg(rule.identity_provider_id);
            if fetch_optional(tx, provider).await?.is_none() {
                return Err(StoreError::IdentityProviderNotFound);
            }
            let ttl = i32::try_from(rule.token_ttl_seconds)
                .map_err(|_| corrupt("a token TTL beyond i32 reached the store".to_owned()))?;
            let insert = query::<D>(INSERT)
                .arg(rule.id)
                .arg(rule.account_id)
                .arg(rule.service_account_id)
                .arg(rule.identity_provider_id)
                .arg(rule.audience.as_str())
                .arg(conditions_json(&rule.conditions).as_str())
                .arg(capabilities_text(&rule.capabilities).as_str())
                .arg(ttl)
                .arg(rule.description.clone())
                .arg(Timestamp(rule.created_at));
            execute(tx, insert).await?;
            audit_events::insert::<D>(tx, event).await
        })
        .await
    }

    async fn federation_rules_of(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
    ) -> Result<Vec<FederationRule>, StoreError> {
        self.reading(async |connection| {
            let select = query::<D>(LIST).arg(account_id).arg(service_account_id);
            fetch_all(connection, select)
                .await?
                .iter()
                .map(|row| decode::<D, FederationRuleRow>(row)?.into_rule())
                .collect()
        })
        .await
    }

    async fn get_federation_rule(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<FederationRule>, StoreError> {
        self.reading(async |connection| {
            select_one::<D>(connection, account_id, service_account_id, id).await
        })
        .await
    }

    async fn delete_federation_rule(
        &self,
        account_id: Uuid,
        service_account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<Option<FederationRule>, StoreError> {
        self.write(async |tx| {
            let Some(found) = select_one::<D>(tx, account_id, service_account_id, id).await? else {
                return Ok(None);
            };
            execute(tx, query::<D>(DELETE).arg(id)).await?;
            audit_events::insert::<D>(tx, event).await?;
            Ok(Some(found))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_back_as_written() {
        let conditions = vec![
            Condition::parse("repository_owner_id", "eq", Some("42".into()), None).unwrap(),
            Condition::parse("ref", "glob", Some("refs/heads/*".into()), None).unwrap(),
            Condition::parse(
                "environment",
                "in",
                None,
                Some(vec!["a".into(), "b".into()]),
            )
            .unwrap(),
        ];
        let text = conditions_json(&conditions);
        assert_eq!(read_conditions(&text), Some(conditions));
        assert_eq!(read_conditions("[{\"claim\": 1}]"), None);
        assert_eq!(read_conditions("nonsense"), None);
        let keys = vec![CapabilityKey::parse("auth.manage").unwrap()];
        assert_eq!(read_capabilities(&capabilities_text(&keys)), Some(keys));
    }
}
