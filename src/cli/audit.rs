//! `hbx-sa audit`: an account's audit log, read from the server's storage
//! through the same service and filters as the API's list, and printed in
//! the API's shape, one event per line, newest first.

use super::access_args::AuditArgs;
use super::error::CliError;
use super::storage::open;
use crate::api::audit_events::AuditEvent;
use crate::service::audit_events::{AuditQuery, MAX_PAGE};

pub async fn audit(args: AuditArgs) -> Result<Vec<AuditEvent>, CliError> {
    let app = open(args.storage).await?;
    let admin = app.admin();
    let mut filter = AuditQuery {
        action: args.action,
        actor_type: args.actor_type,
        actor_id: args.actor_id,
        service_account_id: args.service_account,
        token_public_id: args.token_public_id.as_deref(),
        since: args.since,
        until: args.until,
        limit: Some(args.limit.unwrap_or(MAX_PAGE)),
        before: args.before,
    }
    .parse()?;
    let mut events = Vec::new();
    loop {
        let page = admin.audit_page(args.account, &filter).await?;
        let full = page.len() == filter.limit as usize;
        events.extend(page.iter().map(AuditEvent::from));
        match page.last() {
            // Without a limit, every matching event: page on.
            Some(last) if full && args.limit.is_none() => filter.before = Some(last.id),
            _ => return Ok(events),
        }
    }
}
