//! Webhook subscriptions written straight to a test server's store: for the
//! store's own tests, and for a subscription the API would refuse today (a
//! name re-pointed at a loopback address since it was made).

use hbx_service_accounts::domain::{
    Actor, AuditAction, AuditEvent, EventTypeFilter, ExpiryWarning, SigningSecret, Webhook,
};
use uuid::Uuid;

use super::TestServer;

/// A subscription of the server's account to `filters`, delivered to `url`,
/// with these warnings (in seconds).
pub async fn stored_subscription(
    server: &TestServer,
    url: &str,
    filters: &[&str],
    warnings: &[u32],
) -> Webhook {
    let webhook = Webhook {
        id: Uuid::new_v4(),
        account_id: server.account_id,
        url: url.to_owned(),
        event_types: filters
            .iter()
            .map(|f| EventTypeFilter::parse(f).unwrap())
            .collect(),
        description: None,
        expiry_warnings: warnings
            .iter()
            .map(|s| ExpiryWarning::from_seconds(*s).unwrap())
            .collect(),
        disabled: None,
        created_at: server.now(),
    };
    let sealed = server
        .app
        .webhook_sealer()
        .seal(webhook.id, &SigningSecret::generate());
    let event = AuditEvent::new(
        server.now(),
        server.account_id,
        None,
        AuditAction::WebhookCreate,
        Actor::Operator,
        Default::default(),
    );
    server
        .app
        .store()
        .create_webhook(&webhook, &sealed, &event, None)
        .await
        .unwrap();
    webhook
}
