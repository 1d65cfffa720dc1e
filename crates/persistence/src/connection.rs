//! The connection a store's reads go through: the pool's, a connection per statement, or
//! one connection held for the whole of a query request ([`Store::holding_one_connection`]).
//!
//! Why hold one: sqlx pings every connection as it is taken from its pool and again as it
//! goes back (`return_to_pool` sends a Sync and waits for the answer), so a statement sent
//! through the pool costs three round trips to the database, and the CPU of both ends for
//! each. A query request sends one statement per level of its tree and more for counts,
//! references and the caller's organisation; holding one connection for all of them costs
//! two pings per request instead of two per statement.
//!
//! Only a query's reads are held, and only its reads: statements that change something
//! (`execute_raw`, `execute_unprepared`) and transactions ([`Store::pool`]) go to the pool.
//! A query opens no transaction, so a request never waits for a second connection while it
//! holds a first, and the pool cannot be drained by requests waiting on each other.
//!
//! [`Store::holding_one_connection`]: crate::Store::holding_one_connection
//! [`Store::pool`]: crate::Store::pool

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sea_orm::sqlx::{self, Postgres, Sqlite, pool::PoolConnection};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;

use crate::MAINTENANCE;

/// What [`crate::Store::conn`] hands the repositories: the pool, or the request's own
/// connection when it holds one.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: DatabaseConnection,
    held: Option<Arc<Held>>,
}

impl Db {
    pub(crate) fn new(pool: DatabaseConnection) -> Self {
        Self { pool, held: None }
    }

    pub(crate) fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// The same pool, with reads through one connection taken at the first read.
    pub(crate) fn holding(&self, statements: Arc<AtomicU64>) -> Self {
        let held = Held { pool: self.pool.clone(), statements, slot: tokio::sync::Mutex::new(Slot::Empty) };
        Self { pool: self.pool.clone(), held: Some(Arc::new(held)) }
    }

    /// Gives the held connection back to the pool; later reads take one per statement.
    pub(crate) async fn release(&self) {
        if let Some(held) = &self.held {
            *held.slot.lock().await = Slot::Released;
        }
    }
}

/// Counts a statement sent, unless it is the server's own upkeep ([`MAINTENANCE`]), and
/// traces it: the pool's metric callback and the held connection both report here.
pub(crate) fn sent(statements: &AtomicU64, sql: &str, elapsed: std::time::Duration) {
    tracing::trace!(target: "kinbridge::sql", elapsed_us = elapsed.as_micros() as u64, "{sql}");
    if !sql.starts_with(MAINTENANCE) {
        statements.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) struct Held {
    pool: DatabaseConnection,
    statements: Arc<AtomicU64>,
    /// Locked for the length of one statement: the reads of one request that run at once
    /// take turns on the connection, as they would on one database session anyway.
    slot: tokio::sync::Mutex<Slot>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

enum Slot {
    /// No read yet: the connection is taken at the first.
    Empty,
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
    /// Given back: reads go to the pool.
    Released,
}

impl Held {
    /// Runs a read on the held connection, taking it from the pool first if this is the
    /// request's first read; `None` once the connection has been given back. With `one`,
    /// only the first row is fetched.
    async fn read(&self, stmt: &Statement, one: bool) -> Option<Result<Vec<QueryResult>, DbErr>> {
        let mut slot = self.slot.lock().await;
        if matches!(*slot, Slot::Released) {
            return None;
        }
        if matches!(*slot, Slot::Empty) {
            *slot = match self.acquire().await {
                Ok(taken) => taken,
                Err(e) => return Some(Err(e)),
            };
        }
        let started = Instant::now();
        // As sea-orm's drivers bind a statement's values, on this connection.
        let values = SqlxValues(stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new())));
        macro_rules! run {
            ($conn:expr, $fetch:ident) => {
                sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values).$fetch(&mut **$conn).await.map(rows)
            };
        }
        let rows = match &mut *slot {
            Slot::Postgres(conn) if one => run!(conn, fetch_optional),
            Slot::Postgres(conn) => run!(conn, fetch_all),
            Slot::Sqlite(conn) if one => run!(conn, fetch_optional),
            Slot::Sqlite(conn) => run!(conn, fetch_all),
            Slot::Empty | Slot::Released => return None,
        };
        sent(&self.statements, &stmt.sql, started.elapsed());
        Some(rows.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))))
    }

    async fn acquire(&self) -> Result<Slot, DbErr> {
        let taken = match self.pool.get_database_backend() {
            DbBackend::Postgres => self.pool.get_postgres_connection_pool().acquire().await.map(Slot::Postgres),
            DbBackend::Sqlite => self.pool.get_sqlite_connection_pool().acquire().await.map(Slot::Sqlite),
            other => return Err(DbErr::Custom(format!("Kinbridge does not run on {other:?}"))),
        };
        // As sea-orm reports a pool that did not answer in time, so that the error is
        // the same `UNAVAILABLE` whichever way the read went.
        taken.map_err(|e| match e {
            sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        })
    }
}

/// The rows sea-orm reads its models from.
fn rows<R: Into<QueryResult>>(rows: impl IntoIterator<Item = R>) -> Vec<QueryResult> {
    rows.into_iter().map(Into::into).collect()
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.pool.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if let Some(held) = &self.held
            && let Some(rows) = held.read(&stmt, true).await
        {
            return rows.map(|rows| rows.into_iter().next());
        }
        self.pool.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(held) = &self.held
            && let Some(rows) = held.read(&stmt, false).await
        {
            return rows;
        }
        self.pool.query_all_raw(stmt).await
    }
}
