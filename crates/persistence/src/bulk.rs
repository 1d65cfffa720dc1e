//! Bulk loading of generated data sets (`kinbridge seed`), for benchmarks and load tests.
//!
//! This is the one write path outside [`WriteTx`](crate::write::WriteTx), on purpose: a
//! generated data set is synthetic, so it has no audit events, no change feed and no
//! idempotency keys, and it is loaded as fast as the database takes rows. Nothing on the
//! request path calls it.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable, TransactionTrait};

use crate::Store;
use crate::error::StoreError;

/// Bound parameters per statement: under SQLite's limit (32,766) and PostgreSQL's (65,535).
const PARAMETERS_PER_STATEMENT: usize = 30_000;

impl Store {
    /// Inserts `rows` in multi-row statements within one transaction.
    pub async fn bulk_insert<A>(&self, rows: Vec<A>) -> Result<(), StoreError>
    where
        A: ActiveModelTrait + Send,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let columns = <<A::Entity as EntityTrait>::Column as Iterable>::iter().count().max(1);
        let per_statement = (PARAMETERS_PER_STATEMENT / columns).max(1);
        let txn = self.pool().begin().await?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
            <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// After a bulk load, on PostgreSQL: `VACUUM (ANALYZE)`, as after any bulk load. It
    /// sets the visibility map, without which an index-only scan (the coordination view's,
    /// migration m0016) reads the table after all, and the statistics the planner chooses
    /// by; in service, autovacuum keeps both, but only a while after the load. SQLite's
    /// planner is left as it is.
    pub async fn settle_bulk_load(&self) -> Result<(), StoreError> {
        if self.backend() == DbBackend::Postgres {
            self.pool().execute_unprepared(&format!("{}VACUUM (ANALYZE)", crate::MAINTENANCE)).await?;
        }
        Ok(())
    }
}
