//! Hearing the credential changes other PostgreSQL writers make: a `LISTEN`
//! on one connection that keeps its session (straight to the database, or
//! the direct connection beside a transaction pooler), and a check, each
//! time it starts listening, that what is sent is heard.
//!
//! The check matters because a `LISTEN` through a transaction pooler
//! succeeds and then hears nothing: its session ends with its transaction.
//! A notification on a channel of its own is sent through the writers' pool
//! (the way changes are sent); if it does not arrive, the log says that
//! other instances' changes are bounded by the cache's lifetime alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slog::{Logger, info, warn};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Pool, Postgres};

use super::changes::{ChangeHub, CredentialChange};

/// The NOTIFY channel of credential changes.
pub const CHANNEL: &str = "hbx_sa_credential_changes";

/// How long the check's notification may take to be heard.
const CHECK_WITHIN: Duration = Duration::from_secs(5);

/// LISTENs, on a connection of `feed` (named `feed_name` in the log), for
/// the changes every process sends (this one's included). While the
/// listening connection is down, notifications are lost: each time it is
/// (re)established the subscribers forget everything, and the cache's
/// lifetime bounds what is lost in between.
pub async fn listen(
    feed: Pool<Postgres>,
    feed_name: &'static str,
    writers: Pool<Postgres>,
    hub: Arc<ChangeHub>,
    log: Logger,
) {
    loop {
        if feed.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&feed).await {
            Ok(listener) => listener,
            Err(error) => {
                if !feed.is_closed() {
                    warn!(log, "cannot listen for credential changes yet"; "error" => %error);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let check = format!("hbx_sa_check_{}", uuid::Uuid::new_v4().simple());
        if let Err(error) = listener.listen_all([CHANNEL, check.as_str()]).await {
            warn!(log, "cannot listen for credential changes yet"; "error" => %error);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        hub.publish(&[CredentialChange::Everything]);
        let sent = Instant::now();
        let mut checking = match send_check(&writers, &check).await {
            Ok(()) => true,
            Err(error) => {
                warn!(log, "cannot check that credential changes are heard";
                    "over" => feed_name, "error" => %error);
                false
            }
        };
        loop {
            let received = if checking {
                let deadline = tokio::time::Instant::from_std(sent + CHECK_WITHIN);
                match tokio::time::timeout_at(deadline, listener.try_recv()).await {
                    Ok(received) => received,
                    Err(_) => {
                        warn!(log, "other instances' credential changes are not heard: a \
                                    notification sent through the database URL did not \
                                    arrive (does the listening connection go through a \
                                    transaction pooler?); a token revoked or rotated \
                                    elsewhere is refused here within the credential \
                                    cache's lifetime (--credential-cache-ttl)";
                            "over" => feed_name, "waited_ms" => CHECK_WITHIN.as_millis());
                        checking = false;
                        continue;
                    }
                }
            } else {
                listener.try_recv().await
            };
            match received {
                Ok(Some(notification)) if notification.channel() == check => {
                    info!(log, "hearing other instances' credential changes (LISTEN)";
                        "over" => feed_name,
                        "check_heard_ms" => sent.elapsed().as_millis());
                    checking = false;
                }
                Ok(Some(notification)) => {
                    hub.publish(&[CredentialChange::decode(notification.payload())]);
                }
                // The connection was lost and is being re-established.
                Ok(None) => hub.publish(&[CredentialChange::Everything]),
                Err(error) => {
                    if !feed.is_closed() {
                        warn!(log, "lost the credential-change listener; forgetting cached \
                                    credentials"; "error" => %error);
                    }
                    hub.publish(&[CredentialChange::Everything]);
                    break;
                }
            }
        }
    }
}

/// Sends the check's notification the way changes are sent: through the
/// writers' pool, in a statement of its own (unprepared: nothing is left on
/// a pooler's server connection).
async fn send_check(writers: &Pool<Postgres>, channel: &str) -> Result<(), sqlx::Error> {
    // The channel is this module's own: `hbx_sa_check_` and hex digits.
    sqlx::raw_sql(AssertSqlSafe(format!("NOTIFY {channel}")))
        .execute(writers)
        .await
        .map(|_| ())
}
