//! The store's health, for readiness checks and metrics: whether the
//! database answers with its schema up to date, its connection pools, the
//! circuit breaker's counts, and closing it at shutdown.

use async_trait::async_trait;
use sqlx::Pool;

use super::backend::Backend;
use super::error::StoreError;
use super::sql_store::SqlStore;

/// A store's connections, failures and health, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub pools: Vec<PoolStats>,
    /// Operations that failed because the database was unreachable or busy.
    pub unavailable_errors: u64,
    /// Operations that failed for any other reason.
    pub internal_errors: u64,
    /// The database is known to be unreachable (requests fail at once).
    pub down: bool,
}

/// One connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    /// Open connections.
    pub size: u32,
    /// Of which idle.
    pub idle: u32,
}

#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Whether the database is reachable and its schema up to date.
    async fn check_ready(&self) -> Result<(), StoreError>;

    /// Connections, failures and health, for metrics.
    fn stats(&self) -> StoreStats;

    /// Closes every connection, after which every call fails. For shutdown.
    async fn close(&self);
}

const COUNT_APPLIED_MIGRATIONS: &str =
    "SELECT count(*) AS count FROM _sqlx_migrations WHERE success";

#[async_trait]
impl<D: Backend> StoreHealth for SqlStore<D> {
    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied = self.count(COUNT_APPLIED_MIGRATIONS).await?;
        let known = D::migrator().iter().count() as i64;
        if applied < known {
            return Err(StoreError::Internal(
                format!("{applied} of {known} migrations are applied").into(),
            ));
        }
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        let pool = |name, pool: &Pool<D>| PoolStats {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
        };
        let pools = if self.shared_pool {
            vec![pool("shared", &self.writer)]
        } else {
            vec![pool("readers", &self.readers), pool("writer", &self.writer)]
        };
        let counts = self.breaker.counts();
        StoreStats {
            pools,
            unavailable_errors: counts.unavailable_errors,
            internal_errors: counts.internal_errors,
            down: counts.down,
        }
    }

    async fn close(&self) {
        self.close_pools().await;
    }
}
