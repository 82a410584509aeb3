//! Telling caches what changed. Every write that changes what a credential is
//! or may do (a token created, rotated or revoked; a grant added or removed;
//! an introspection client created or revoked) names its changes; the store
//! hands them to this process's subscribers synchronously once the write has
//! committed, so the very next request sees it, and records them for other
//! processes in the same transaction: PostgreSQL sends them with NOTIFY,
//! SQLite keeps them in a table that other processes poll. A subscriber that
//! may have missed changes (a lost listening connection) is told
//! [`CredentialChange::Everything`].

use std::sync::{Arc, PoisonError, RwLock};

use futures::future::BoxFuture;
use slog::Logger;
use uuid::Uuid;

use crate::domain::Subject;

/// Where a process hears of credential changes: its own, at once, and other
/// processes' through the database.
pub trait CredentialChanges: Send + Sync + 'static {
    /// This process's subscribers to credential changes: every change the
    /// store commits is published to them before the call returns.
    fn changes(&self) -> &Arc<ChangeHub>;

    /// Publishes to [`CredentialChanges::changes`] what other processes
    /// change (other servers, commands run beside this one), until the store
    /// closes. Spawn it.
    fn watch_other_writers(&self, log: Logger) -> BoxFuture<'static, ()>;
}

/// What a write changed, as a cache of credentials needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CredentialChange {
    /// The token with this public id was created, replaced or revoked.
    Token(String),
    /// What `subject` holds on `account_id` changed.
    Grants { account_id: Uuid, subject: Subject },
    /// The introspection client with this id was created or revoked.
    Client(String),
    /// Anything may have changed: forget everything.
    Everything,
}

impl CredentialChange {
    /// The change as one line of text (a NOTIFY payload, a table row).
    pub fn encode(&self) -> String {
        match self {
            CredentialChange::Token(public_id) => format!("token {public_id}"),
            CredentialChange::Grants {
                account_id,
                subject,
            } => format!("grants {account_id} {} {}", subject.kind(), subject.id()),
            // The subject's id comes last: a group's may hold spaces.
            CredentialChange::Client(client_id) => format!("client {client_id}"),
            CredentialChange::Everything => "everything".to_owned(),
        }
    }

    /// The inverse of [`encode`](Self::encode). Text that is not a change
    /// (from a newer version, say) is [`CredentialChange::Everything`]: a
    /// cache that cannot tell what changed forgets it all.
    pub fn decode(text: &str) -> Self {
        if let Some(grants) = text.strip_prefix("grants ") {
            let mut parts = grants.splitn(3, ' ');
            let account_id = parts.next().and_then(|id| id.parse().ok());
            let subject = parts
                .next()
                .zip(parts.next())
                .and_then(|(kind, id)| Subject::from_parts(kind, id));
            return match account_id.zip(subject) {
                Some((account_id, subject)) => CredentialChange::Grants {
                    account_id,
                    subject,
                },
                None => CredentialChange::Everything,
            };
        }
        let parts: Vec<&str> = text.split(' ').collect();
        match parts.as_slice() {
            ["token", public_id] => CredentialChange::Token((*public_id).to_owned()),
            ["client", client_id] => CredentialChange::Client((*client_id).to_owned()),
            _ => CredentialChange::Everything,
        }
    }
}

type Subscriber = Arc<dyn Fn(&[CredentialChange]) + Send + Sync>;

/// The subscribers of one process, told of every change.
#[derive(Default)]
pub struct ChangeHub {
    subscribers: RwLock<Vec<Subscriber>>,
}

impl std::fmt::Debug for ChangeHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeHub").finish_non_exhaustive()
    }
}

impl ChangeHub {
    /// Calls `subscriber` with every batch of changes from now on.
    pub fn subscribe(&self, subscriber: impl Fn(&[CredentialChange]) + Send + Sync + 'static) {
        // A subscriber list is whole whatever panicked while it was held.
        self.subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(subscriber));
    }

    pub fn publish(&self, changes: &[CredentialChange]) {
        if changes.is_empty() {
            return;
        }
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for subscriber in subscribers {
            subscriber(changes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_their_text_form() {
        for change in [
            CredentialChange::Token("4Qz9LwP1cV7kTt0a".into()),
            CredentialChange::Grants {
                account_id: Uuid::new_v4(),
                subject: Subject::user(Uuid::new_v4()),
            },
            CredentialChange::Grants {
                account_id: Uuid::new_v4(),
                subject: Subject::Group("platform team / ops".into()),
            },
            CredentialChange::Grants {
                account_id: Uuid::new_v4(),
                subject: Subject::ServiceAccount(Uuid::new_v4()),
            },
            CredentialChange::Client("hbxic_0123456789abcdef".into()),
            CredentialChange::Everything,
        ] {
            assert_eq!(CredentialChange::decode(&change.encode()), change);
        }
        for unknown in ["", "token", "grants x user y", "grants", "future-kind 1"] {
            assert_eq!(
                CredentialChange::decode(unknown),
                CredentialChange::Everything
            );
        }
    }
}
