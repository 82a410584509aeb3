//! What the store may keep on a database connection between transactions.
//!
//! Straight to the database, a connection is a session of its own for its
//! whole life: statements are prepared once and kept under a name (sqlx's
//! statement cache), reads run outside transactions, and settings given when
//! connecting hold for every statement ([`Sessions::Kept`]).
//!
//! Behind a transaction pooler (PgBouncer in transaction pooling) a client
//! connection is lent a server connection only for one transaction; the next
//! transaction may run on another one, which has someone else's named
//! statements and none of ours. There ([`Sessions::PerTransaction`]) every
//! read runs in a transaction too, every statement is unnamed (parsed again
//! each time, inside its transaction), and the settings the store needs are
//! made by the statement that begins each transaction (`SET LOCAL`), so
//! nothing is left behind on a server connection for the next client.
//!
//! Which one applies is the store's, decided when it opens; the statements'
//! own code does not change: [`unnamed_within`] marks the work of one
//! transaction, and [`prepared`] (which every statement goes through) reads
//! the mark.

use std::future::Future;
use std::sync::Arc;

use sqlx::database::HasStatementCache;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Database, SqlSafeStr, SqlStr};

/// What a store keeps between transactions on its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sessions {
    /// A connection is a session: named statements, reads outside
    /// transactions, settings made when connecting.
    Kept,
    /// A session lasts one transaction: reads in transactions, unnamed
    /// statements, settings made by `begin`, the statement that opens every
    /// transaction (reads and writes alike).
    PerTransaction { begin: Arc<str> },
}

impl Sessions {
    /// A transaction-scoped session whose transactions start with `BEGIN`
    /// and then make `settings` (each a complete `SET LOCAL ...`).
    pub fn per_transaction(settings: &[String]) -> Self {
        let mut begin = String::from("BEGIN");
        for setting in settings {
            begin.push_str("; ");
            begin.push_str(setting);
        }
        Self::PerTransaction {
            begin: begin.into(),
        }
    }

    /// The statement that begins a transaction here, if it is not the
    /// database's usual one.
    pub fn begin(&self) -> Option<SqlStr> {
        match self {
            Self::Kept => None,
            Self::PerTransaction { begin } => Some(AssertSqlSafe(begin.clone()).into_sql_str()),
        }
    }
}

tokio::task_local! {
    /// Set while a transaction of a [`Sessions::PerTransaction`] store runs.
    static UNNAMED_STATEMENTS: ();
}

/// Runs `work` (one transaction's statements) with every statement unnamed.
pub async fn unnamed_within<T>(work: impl Future<Output = T>) -> T {
    UNNAMED_STATEMENTS.scope((), work).await
}

/// `query` as it is to be sent: unnamed inside [`unnamed_within`], otherwise
/// prepared once per connection and kept (sqlx's default).
pub fn prepared<'q, D: Database + HasStatementCache, A>(query: Query<'q, D, A>) -> Query<'q, D, A> {
    if UNNAMED_STATEMENTS.try_with(|_| ()).is_ok() {
        query.persistent(false)
    } else {
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_follow_the_begin_in_order() {
        let sessions = Sessions::per_transaction(&[
            "SET LOCAL statement_timeout = 5000".to_owned(),
            "SET LOCAL lock_timeout = 100".to_owned(),
        ]);
        assert_eq!(
            sessions.begin().unwrap().as_str(),
            "BEGIN; SET LOCAL statement_timeout = 5000; SET LOCAL lock_timeout = 100"
        );
        assert!(Sessions::Kept.begin().is_none());
    }

    #[tokio::test]
    async fn statements_are_unnamed_only_within_the_mark() {
        use sqlx::Execute;
        let kept = || Execute::persistent(&prepared(sqlx::query::<sqlx::Postgres>("SELECT 1")));
        assert!(kept());
        assert!(!unnamed_within(async { kept() }).await);
        // Across an await, too: the mark is the task's.
        let across = unnamed_within(async {
            tokio::task::yield_now().await;
            kept()
        });
        assert!(!across.await);
        assert!(kept());
    }
}
