//! The JSON form of an audit event's detail ([`AuditDetail`]): how the audit
//! log keeps it and the API shows it (older forms still read).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::accounts::CapabilityKey;
use super::audit::{AuditAction, AuditDetail, FailedCondition, FederationTarget};
use super::authorizations::{GrantKind, Grants, Resource, ResourceType, Subject};
use super::federation_rules::Provenance;
use super::roles::RoleKey;

impl Provenance {
    /// A federated token's provenance as the audit log keeps it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "federation_rule_id": self.federation_rule_id,
            "identity_provider_id": self.identity_provider_id,
            "issuer": self.issuer,
            "subject": self.subject,
            "claims": self.claims,
        })
    }

    /// The provenance [`Self::to_json`] made; none if `value` is not one.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        Some(Self {
            federation_rule_id: uuid_at(value, "federation_rule_id")?,
            identity_provider_id: uuid_at(value, "identity_provider_id")?,
            issuer: value["issuer"].as_str()?.to_owned(),
            subject: value["subject"].as_str()?.to_owned(),
            claims: value["claims"]
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect::<Option<_>>()?,
        })
    }
}

impl AuditDetail {
    /// The detail as the audit log keeps it and the API shows it: a JSON
    /// object whose `kind` says which it is.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AuditDetail::Grant {
                authorization_id,
                subject,
                grants,
                resource,
            } => serde_json::json!({
                "kind": "grant",
                "authorization_id": authorization_id,
                "grant_kind": grants.kind().as_str(),
                "subject_type": subject.kind().as_str(),
                "subject_id": subject.id(),
                "capability": grants.capability_key().map(CapabilityKey::as_str),
                "resource_type": resource.map(|r| r.kind.as_str()),
                "resource_id": resource.map(|r| r.id),
            }),
            AuditDetail::Role {
                role_assignment_id,
                subject,
                role,
                resource,
            } => serde_json::json!({
                "kind": "role",
                "role_assignment_id": role_assignment_id,
                "role_key": role.as_str(),
                "subject_type": subject.kind().as_str(),
                "subject_id": subject.id(),
                "resource_type": resource.kind.as_str(),
                "resource_id": resource.id,
            }),
            AuditDetail::Grace {
                previous_token_public_id,
                until,
            } => serde_json::json!({
                "kind": "grace",
                "previous_token_public_id": previous_token_public_id,
                "until": until,
            }),
            AuditDetail::Retired {
                previous_token_public_id,
            } => serde_json::json!({
                "kind": "retired",
                "previous_token_public_id": previous_token_public_id,
            }),
            AuditDetail::Replay {
                of,
                token_public_id,
            } => serde_json::json!({
                "kind": "replay",
                "of": of.as_str(),
                "token_public_id": token_public_id,
            }),
            AuditDetail::Leak {
                reporter,
                token_public_id,
                source,
                url,
                revoked,
            } => serde_json::json!({
                "kind": "leak",
                "reporter": reporter,
                "token_public_id": token_public_id,
                "source": source,
                "url": url,
                "revoked": revoked,
            }),
            AuditDetail::Webhook {
                webhook_id,
                url,
                reason,
            } => serde_json::json!({
                "kind": "webhook",
                "webhook_id": webhook_id,
                "url": url,
                "reason": reason,
            }),
            AuditDetail::Federation(target) => serde_json::json!({
                "kind": "federation",
                "identity_provider_id": target.identity_provider_id,
                "issuer": target.issuer,
                "federation_rule_id": target.federation_rule_id,
            }),
            AuditDetail::Exchange {
                identity_provider_id,
                issuer,
                subject,
                federation_rule_id,
                reason,
                failed,
            } => serde_json::json!({
                "kind": "exchange",
                "identity_provider_id": identity_provider_id,
                "issuer": issuer,
                "subject": subject,
                "federation_rule_id": federation_rule_id,
                "reason": reason,
                "failed_conditions": failed.iter().map(|f| serde_json::json!({
                    "federation_rule_id": f.federation_rule_id,
                    "claim": f.claim,
                    "op": f.op,
                    "expected": serde_json::from_str::<serde_json::Value>(&f.expected)
                        .unwrap_or(serde_json::Value::Null),
                    "presented": f.presented,
                })).collect::<Vec<_>>(),
            }),
        }
    }

    /// The detail [`Self::to_json`] made (or an older version of it);
    /// none if `value` is not one.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        match value["kind"].as_str() {
            Some("grant") => {
                // Events recorded before grants had kinds and ids name the
                // capability alone (`account_owner` for ownership).
                let capability = value["capability"].as_str();
                let kind = match value["grant_kind"].as_str() {
                    Some(kind) => GrantKind::parse(kind).ok()?,
                    None if capability == Some("account_owner") => GrantKind::AccountOwner,
                    None => GrantKind::Capability,
                };
                let capability = capability.filter(|_| kind == GrantKind::Capability);
                Some(AuditDetail::Grant {
                    authorization_id: uuid_at(value, "authorization_id"),
                    subject: subject_at(value)?,
                    grants: Grants::parse(kind, capability).ok()?,
                    resource: resource_at(value),
                })
            }
            Some("role") => Some(AuditDetail::Role {
                role_assignment_id: uuid_at(value, "role_assignment_id")?,
                subject: subject_at(value)?,
                role: value["role_key"]
                    .as_str()
                    .and_then(|role| RoleKey::parse(role).ok())?,
                resource: resource_at(value)?,
            }),
            Some("grace") => Some(AuditDetail::Grace {
                previous_token_public_id: value["previous_token_public_id"].as_str()?.to_owned(),
                until: value["until"]
                    .as_str()
                    .and_then(|at| DateTime::parse_from_rfc3339(at).ok())?
                    .with_timezone(&Utc),
            }),
            Some("retired") => Some(AuditDetail::Retired {
                previous_token_public_id: value["previous_token_public_id"].as_str()?.to_owned(),
            }),
            Some("replay") => Some(AuditDetail::Replay {
                of: value["of"].as_str().and_then(AuditAction::parse)?,
                token_public_id: value["token_public_id"].as_str()?.to_owned(),
            }),
            Some("leak") => {
                let text = |key: &str| value[key].as_str().map(str::to_owned);
                Some(AuditDetail::Leak {
                    reporter: text("reporter")?,
                    token_public_id: text("token_public_id")?,
                    source: text("source"),
                    url: text("url"),
                    revoked: value["revoked"].as_bool()?,
                })
            }
            Some("webhook") => Some(AuditDetail::Webhook {
                webhook_id: uuid_at(value, "webhook_id")?,
                url: value["url"].as_str()?.to_owned(),
                reason: value["reason"].as_str().map(str::to_owned),
            }),
            Some("federation") => Some(AuditDetail::Federation(FederationTarget {
                identity_provider_id: uuid_at(value, "identity_provider_id")?,
                issuer: value["issuer"].as_str()?.to_owned(),
                federation_rule_id: uuid_at(value, "federation_rule_id"),
            })),
            Some("exchange") => {
                let text = |key: &str| value[key].as_str().map(str::to_owned);
                let failed = value["failed_conditions"]
                    .as_array()?
                    .iter()
                    .map(|f| {
                        Some(FailedCondition {
                            federation_rule_id: uuid_at(f, "federation_rule_id")?,
                            claim: f["claim"].as_str()?.to_owned(),
                            op: f["op"].as_str()?.to_owned(),
                            expected: f["expected"].to_string(),
                            presented: f["presented"].as_str().map(str::to_owned),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(AuditDetail::Exchange {
                    identity_provider_id: uuid_at(value, "identity_provider_id")?,
                    issuer: text("issuer")?,
                    subject: text("subject")?,
                    federation_rule_id: uuid_at(value, "federation_rule_id"),
                    reason: text("reason"),
                    failed,
                })
            }
            _ => None,
        }
    }
}

fn uuid_at(value: &serde_json::Value, key: &str) -> Option<Uuid> {
    value[key].as_str().and_then(|id| id.parse().ok())
}

fn subject_at(value: &serde_json::Value) -> Option<Subject> {
    Subject::from_parts(
        value["subject_type"].as_str()?,
        value["subject_id"].as_str()?,
    )
}

fn resource_at(value: &serde_json::Value) -> Option<Resource> {
    Some(Resource {
        kind: ResourceType::parse(value["resource_type"].as_str()?).ok()?,
        id: uuid_at(value, "resource_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of detail reads back as itself from the JSON it is kept
    /// as, under its own `kind`; events written before grants had kinds and
    /// ids read as the grant they were; anything else is not a detail.
    #[test]
    fn details_read_back_from_their_json() {
        let at = DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap();
        let resource = Resource {
            kind: ResourceType::Workspace,
            id: Uuid::new_v4(),
        };
        let details = [
            (
                "grant",
                AuditDetail::Grant {
                    authorization_id: Some(Uuid::new_v4()),
                    subject: Subject::Group("ops team".into()),
                    grants: Grants::parse(GrantKind::Capability, Some("dns.read")).unwrap(),
                    resource: Some(resource),
                },
            ),
            (
                "grant",
                AuditDetail::Grant {
                    authorization_id: None,
                    subject: Subject::ServiceAccount(Uuid::new_v4()),
                    grants: Grants::AccountOwner,
                    resource: None,
                },
            ),
            (
                "role",
                AuditDetail::Role {
                    role_assignment_id: Uuid::new_v4(),
                    subject: Subject::User("u-1".into()),
                    role: RoleKey::CredentialManager,
                    resource,
                },
            ),
            (
                "grace",
                AuditDetail::Grace {
                    previous_token_public_id: "AbCdEf0123456789".into(),
                    until: at,
                },
            ),
            (
                "retired",
                AuditDetail::Retired {
                    previous_token_public_id: "AbCdEf0123456789".into(),
                },
            ),
            (
                "replay",
                AuditDetail::Replay {
                    of: AuditAction::Rotate,
                    token_public_id: "AbCdEf0123456789".into(),
                },
            ),
            (
                "leak",
                AuditDetail::Leak {
                    reporter: "github".into(),
                    token_public_id: "AbCdEf0123456789".into(),
                    source: Some("commit".into()),
                    url: None,
                    revoked: true,
                },
            ),
        ];
        for (kind, detail) in details {
            let json = detail.to_json();
            assert_eq!(json["kind"], kind);
            let text = json.to_string();
            let read: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(AuditDetail::from_json(&read), Some(detail), "{text}");
        }
        let owner = AuditDetail::Grant {
            authorization_id: None,
            subject: Subject::User("u-1".into()),
            grants: Grants::AccountOwner,
            resource: None,
        };
        let before_kinds = serde_json::json!({
            "kind": "grant", "subject_type": "user", "subject_id": "u-1",
            "capability": "account_owner",
        });
        assert_eq!(AuditDetail::from_json(&before_kinds), Some(owner));
        let capability = serde_json::json!({
            "kind": "grant", "subject_type": "user", "subject_id": "u-1",
            "capability": "auth.manage",
        });
        assert!(matches!(
            AuditDetail::from_json(&capability),
            Some(AuditDetail::Grant {
                grants: Grants::Capability(_),
                ..
            })
        ));
        for broken in [
            serde_json::json!({}),
            serde_json::json!({"kind": "mystery"}),
            serde_json::json!({"kind": "retired"}),
            serde_json::json!({"kind": "grace", "previous_token_public_id": "x", "until": "soon"}),
            serde_json::json!({"kind": "replay", "of": "dance", "token_public_id": "x"}),
            serde_json::json!({"kind": "leak", "reporter": "r", "token_public_id": "x"}),
            serde_json::json!({"kind": "role", "role_assignment_id": "x"}),
            serde_json::json!({"kind": "grant", "subject_type": "robot", "subject_id": "x"}),
        ] {
            assert_eq!(AuditDetail::from_json(&broken), None, "{broken}");
        }
    }
}
