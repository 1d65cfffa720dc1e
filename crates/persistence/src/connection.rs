//! The connection a store's reads go through: the pool's, a connection per statement, or
//! one connection held for the whole of a request ([`Store::holding_one_connection`]).
//!
//! Why hold one: sqlx pings every connection as it goes back to its pool
//! (`return_to_pool` sends a Sync and waits for the answer), and as it is taken out if it
//! sat idle for a second or more ([`UNTESTED_IDLE`]), so a statement sent through the
//! pool costs two or three round trips to the database, and the CPU of both ends for
//! each. A query request sends one statement per level of its tree and more for counts,
//! references and the caller's organisation; holding one connection for all of them costs
//! one ping per request instead of one or two per statement. On PostgreSQL a request done
//! with its connection parks it for the next request ([`Warm`]), which takes it without
//! any ping; the ping comes when a connection goes back to the pool, after a moment
//! without requests.
//!
//! A connection handed out untested may have been closed by the database meanwhile: the
//! statements that can be sent again (a read, a `BEGIN`, a single statement that commits
//! on its own) then take another ([`connection_lost`]).
//!
//! A request's reads go through its held connection, and so does its write transaction
//! ([`Db::begin`]): the connection is lent to the transaction and comes back when it
//! commits, so a mutation's organisation look-up, its write and the reads of its answer
//! share one connection too. While it is lent, the request's other reads go through the
//! transaction (and see what it has written so far).
//! A statement that changes something outside a transaction (`execute_raw`,
//! `execute_unprepared`) goes to the pool. A request never waits for a second connection
//! while its first sits idle: requests cannot drain the pool by holding connections they
//! do not use.
//!
//! [`Store::holding_one_connection`]: crate::Store::holding_one_connection

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sea_orm::sqlx::{self, Postgres, SqlSafeStr, Sqlite, pool::PoolConnection};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use sqlx_core::transaction::TransactionManager;
use tracing::instrument::WithSubscriber;

use crate::MAINTENANCE;

/// What [`crate::Store::conn`] hands the repositories: the pool, or the request's own
/// connection when it holds one.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: DatabaseConnection,
    held: Option<Arc<Held>>,
    /// The store's count of statements sent (`Store::statements_sent`).
    statements: Arc<AtomicU64>,
    /// Connections given back a moment ago, for the next request ([`Warm`]).
    warm: Arc<Warm>,
    /// SQLite's one writer at a time, in this process ([`WriterGate`]).
    writers: WriterGate,
}

/// SQLite lets one transaction write at a time. A second writer that finds the lock taken
/// waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, … up to 100 ms between
/// looks, however soon the lock is free: under a burst of writes the cores idled while
/// requests slept (the mutation mix ran with the cores 59-60 % busy and a p99 of
/// 146-357 ms). Writers of this process therefore queue here, in order, and each takes
/// SQLite's lock as the one before lets it go. The busy handler still arbitrates between
/// processes. Unused on PostgreSQL.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriterGate(Arc<tokio::sync::Mutex<()>>);

impl WriterGate {
    /// Waits for this process's turn to write, on SQLite; `None` on PostgreSQL.
    pub(crate) async fn enter(&self, backend: DbBackend) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        (backend == DbBackend::Sqlite).then_some(())?;
        Some(Arc::clone(&self.0).lock_owned().await)
    }
}

/// Runs `stmt`, which writes, on a connection of `pool` outside any transaction: on SQLite
/// in this process's turn ([`WriterGate`]), taken once the connection is, as [`Db::begin`]
/// takes it. On PostgreSQL, a connection found closed ([`connection_lost`]) is replaced
/// and the statement sent again: a single statement commits on its own or not at all, and
/// one whose answer was lost after it committed is refused the second time by its own
/// keys, never written twice.
pub(crate) async fn write_in_turn(
    pool: &DatabaseConnection,
    warm: &Warm,
    writers: &WriterGate,
    statements: &AtomicU64,
    stmt: Statement,
) -> Result<ExecResult, DbErr> {
    let sqlite = pool.get_database_backend() == DbBackend::Sqlite;
    let mut tried = 1;
    loop {
        let mut conn = acquire(pool, warm).await?;
        let _turn = if sqlite { writers.enter(DbBackend::Sqlite).await } else { None };
        match execute(&mut conn, &stmt, statements).await {
            Err(e) if tried < tries(pool) && connection_lost(&e) => tried += 1,
            done => {
                warm.park(conn);
                return done;
            }
        }
    }
}

/// How long a connection may have sat idle in the pool and still be handed out without
/// the pool's ping (`Store::connect`). Under load a connection is back in use within
/// milliseconds, so requests skip the ping's round trip (one of the three to nine a
/// request sends); one idle longer is pinged as before. A connection that the database
/// closed meanwhile (a restart, a session ended by an operator) fails the first
/// statement sent on it, and the request's reads, its `BEGIN` and the audit writer's
/// inserts then take another ([`connection_lost`]).
pub(crate) const UNTESTED_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// How many connections a statement tries when it finds them closed: every connection
/// the pool holds may have been ended at once (an operator ending the sessions, a
/// restart within the second), each is found dead in turn (and closed by the pool's
/// ping as it goes back), and the last try is on one opened since. On SQLite, one: its
/// connections are files, not sessions a server can end.
pub(crate) fn tries(pool: &DatabaseConnection) -> usize {
    match pool.get_database_backend() {
        DbBackend::Postgres => pool.get_postgres_connection_pool().options().get_max_connections() as usize + 1,
        _ => 1,
    }
}

/// Whether `err` says that the connection was closed under the statement rather than
/// that the statement failed: the socket failed (`Io`), or PostgreSQL ended the session
/// (SQLSTATE class 08, connection exception, or 57P, the server shutting down or an
/// operator ending the session). A read, a `BEGIN` or a single statement that commits on
/// its own may then be sent again on another connection.
pub(crate) fn connection_lost(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => session_ended(e),
        _ => false,
    }
}

/// [`connection_lost`] for the pool's ping, whose failure sea-orm reports as a connection
/// error (`DbErr::Conn`): the connection it took was closed under it. A pool that could not
/// open a connection at all fails otherwise (`DbErr::ConnectionAcquire`), and is not tried
/// again.
pub(crate) fn ping_lost(err: &DbErr) -> bool {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e)) => session_ended(e),
        _ => connection_lost(err),
    }
}

fn session_ended(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl Db {
    pub(crate) fn new(
        pool: DatabaseConnection,
        warm: Arc<Warm>,
        writers: WriterGate,
        statements: Arc<AtomicU64>,
    ) -> Self {
        Self { pool, held: None, writers, statements, warm }
    }

    pub(crate) fn warm(&self) -> &Warm {
        &self.warm
    }

    pub(crate) fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    /// The same pool, with reads through one connection taken at the first read.
    pub(crate) fn holding(&self) -> Self {
        let held = Held {
            pool: self.pool.clone(),
            warm: Arc::clone(&self.warm),
            unsettled: std::sync::atomic::AtomicBool::new(false),
            statements: Arc::clone(&self.statements),
            slot: tokio::sync::Mutex::new(Slot::Empty),
            defer: std::sync::atomic::AtomicBool::new(false),
            pending: tokio::sync::Mutex::new(None),
        };
        Self {
            pool: self.pool.clone(),
            held: Some(Arc::new(held)),
            writers: self.writers.clone(),
            statements: Arc::clone(&self.statements),
            warm: Arc::clone(&self.warm),
        }
    }

    /// From now on, a write's transaction that has written its trail stays open until
    /// [`Db::finish`] commits it with the request's reads: one WAL flush for the write and
    /// the audit of its answer. PostgreSQL only, and only on a held connection.
    pub(crate) fn defer_commits(&self) {
        if let Some(held) = &self.held
            && self.pool.get_database_backend() == DbBackend::Postgres
        {
            held.defer.store(true, Ordering::Relaxed);
        }
    }

    /// Commits the write left open by [`Transaction::end`], if any, with `last` (the
    /// request's audit of its reads; see [`Numbered`]) sent in the same statement as the
    /// write's trail; `Ok(false)` if there was none.
    pub(crate) async fn finish(&self, last: Option<impl Numbered>) -> Result<bool, DbErr> {
        let Some(held) = &self.held else { return Ok(false) };
        let Some(pending) = held.pending.lock().await.take() else { return Ok(false) };
        pending.commit(last).await.map(|()| true)
    }

    /// Gives the held connection back to the pool; later reads take one per statement.
    pub(crate) async fn release(&self) {
        if let Some(held) = &self.held {
            let given = std::mem::replace(&mut *held.slot.lock().await, Slot::Released);
            held.give_back(given);
        }
    }
}

impl Db {
    /// A read outside any request's connection, on one taken from the pool for it; one the
    /// database closed is replaced, as for a request's reads ([`connection_lost`]).
    async fn pooled_read(&self, stmt: &Statement, one: bool) -> Result<Vec<QueryResult>, DbErr> {
        let mut tried = 1;
        loop {
            let mut conn = acquire(&self.pool, &self.warm).await?;
            match query(&mut conn, stmt, one, &self.statements).await {
                Err(e) if tried < tries(&self.pool) && connection_lost(&e) => tried += 1,
                read => {
                    self.warm.park(conn);
                    return read;
                }
            }
        }
    }
}

impl Db {
    /// Begins a transaction: on the request's own connection when it holds one (a
    /// mutation's organisation look-up, its write and the reads of its answer then share
    /// one connection and one pair of pings), otherwise on one taken from the pool. With
    /// `immediate`, SQLite takes the write lock at once (`BEGIN IMMEDIATE`).
    pub(crate) async fn begin(&self, statements: &Arc<AtomicU64>, immediate: bool) -> Result<Transaction, DbErr> {
        // A second write of the request (a second mutation field) commits the first one
        // before it begins: it would otherwise wait on the first one's locks.
        self.finish(None::<fn(usize) -> Statement>).await?;
        // A connection the database closed while it sat in the pool fails its `BEGIN`
        // (`UNTESTED_IDLE`); nothing has begun, and another is taken.
        let mut tried = 1;
        loop {
            match self.begin_on_a_connection(statements, immediate).await {
                Err(e) if tried < tries(&self.pool) && connection_lost(&e) => tried += 1,
                begun => return begun,
            }
        }
    }

    async fn begin_on_a_connection(&self, statements: &Arc<AtomicU64>, immediate: bool) -> Result<Transaction, DbErr> {
        let open = Arc::new(tokio::sync::Mutex::new(None));
        let (mut conn, home) = match &self.held {
            Some(held) => {
                let mut slot = held.slot.lock().await;
                match std::mem::replace(&mut *slot, Slot::Lent(Arc::downgrade(&open))) {
                    Slot::Held(conn) => (conn, Some(Arc::clone(held))),
                    Slot::Empty => match acquire(&self.pool, &self.warm).await {
                        Ok(conn) => (conn, Some(Arc::clone(held))),
                        Err(e) => {
                            *slot = Slot::Empty;
                            return Err(e);
                        }
                    },
                    // Given back already, or lent to a transaction still open: this one
                    // takes its own.
                    other => {
                        *slot = other;
                        drop(slot);
                        (acquire(&self.pool, &self.warm).await?, None)
                    }
                }
            }
            None => (acquire(&self.pool, &self.warm).await?, None),
        };
        // The connection first, then the turn: a writer waiting for its turn must not hold
        // the turn while it waits for a connection that a writer waiting for the turn holds.
        let gate = if immediate { self.writers.enter(self.pool.get_database_backend()).await } else { None };
        let mut beginning = Beginning { conn: &mut conn, begun: false };
        let begun = match beginning.conn.raw() {
            Raw::Postgres(c) => <Postgres as sqlx::Database>::TransactionManager::begin(c, None).await,
            Raw::Sqlite(c) => {
                let statement = immediate.then(|| sqlx::AssertSqlSafe("BEGIN IMMEDIATE").into_sql_str());
                <Sqlite as sqlx::Database>::TransactionManager::begin(c, statement).await
            }
        };
        beginning.begun = begun.is_ok();
        drop(beginning);
        *open.lock().await = Some(conn);
        let transaction = Transaction {
            conn: open,
            home,
            warm: Arc::clone(&self.warm),
            statements: Arc::clone(statements),
            backend: self.pool.get_database_backend(),
            _gate: gate,
        };
        if let Err(e) = begun {
            // The connection is closed (`Beginning`) rather than given back to its request:
            // the request's next statement takes another.
            if let Some(home) = &transaction.home {
                let mut slot = home.slot.lock().await;
                if matches!(*slot, Slot::Lent(_)) {
                    *slot = Slot::Empty;
                }
            }
            drop(transaction.conn.lock().await.take());
            return Err(DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))));
        }
        Ok(transaction)
    }
}

/// The connection of an open transaction; `None` once it has ended. Shared with the slot
/// of the request that lent it, whose reads go through it meanwhile.
type Open = tokio::sync::Mutex<Option<Conn>>;

/// A transaction on one connection, begun by [`Db::begin`]. Dropped without
/// [`Transaction::commit`], it rolls back: the rollback is queued on the connection at
/// once and sent before anything else the connection does (as sqlx's own transactions
/// do), so a connection never goes back to the pool, or to its request, inside a
/// transaction.
pub(crate) struct Transaction {
    conn: Arc<Open>,
    /// The request the connection was lent by, to which it goes back.
    home: Option<Arc<Held>>,
    /// Where it goes once committed, if it has no request to go back to.
    warm: Arc<Warm>,
    statements: Arc<AtomicU64>,
    backend: DbBackend,
    /// This process's turn to write on SQLite, held until the transaction ends.
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Transaction {
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        {
            let mut open = self.conn.lock().await;
            let Some(conn) = open.as_mut() else {
                return Err(DbErr::Custom("BUG: a transaction committed twice".to_owned()));
            };
            let committed = match conn.raw() {
                Raw::Postgres(c) => <Postgres as sqlx::Database>::TransactionManager::commit(c).await,
                Raw::Sqlite(c) => <Sqlite as sqlx::Database>::TransactionManager::commit(c).await,
            };
            committed.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))?;
        }
        // The slot first, then the connection, as the slot's reads take them: a read that
        // finds the transaction over finds the connection back in the slot.
        let Some(home) = &self.home else {
            if let Some(conn) = self.conn.lock().await.take() {
                self.warm.park(conn);
            }
            return Ok(());
        };
        let mut slot = home.slot.lock().await;
        let conn = self.conn.lock().await.take();
        if let (Some(conn), Slot::Lent(_)) = (conn, &*slot) {
            *slot = Slot::Held(conn);
        }
        Ok(())
    }

    /// Ends a write whose `trail` (its audit events, change-feed rows and idempotency
    /// key's answer) is still to be sent. If its request defers commits
    /// ([`Db::defer_commits`]) and has no write left open already, the transaction is left
    /// open, and [`Db::finish`] sends the trail with the request's audit of its reads and
    /// commits at the end of the request; otherwise the trail is sent and the transaction
    /// committed now. `committed` is told once the commit is made. Dropped uncommitted
    /// (the request timed out or failed), the transaction rolls back.
    pub(crate) async fn end(
        mut self,
        trail: Vec<Statement>,
        committed: Option<Arc<crate::signal::FeedSignals>>,
    ) -> Result<(), DbErr> {
        if let Some(home) = self.home.clone().filter(|home| home.defer.load(Ordering::Relaxed)) {
            let mut pending = home.pending.lock().await;
            if pending.is_none() {
                // The request's reads meanwhile go through the transaction (its slot holds
                // it as lent); at the commit its connection goes back to the pool, not to
                // the slot. Not holding its request also keeps the request from holding
                // itself.
                self.home = None;
                *pending = Some(Pending { txn: self, trail, committed });
                return Ok(());
            }
        }
        Pending { txn: self, trail, committed }.commit(None::<fn(usize) -> Statement>).await
    }

    /// The connection, for one statement; an error once committed.
    async fn conn(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Conn>, DbErr> {
        tokio::sync::MutexGuard::try_map(self.conn.lock().await, Option::as_mut)
            .map_err(|_| DbErr::Custom("BUG: a statement after its transaction committed".to_owned()))
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Only a statement on the connection (the write's, or a read of its request)
        // holds the lock, and none runs once the write is dropped; if one still did, the
        // connection rolls back when it is dropped in turn (see `Conn`'s `Drop`).
        let Ok(mut open) = self.conn.try_lock() else { return };
        let Some(mut conn) = open.take() else { return };
        conn.start_rollback();
        // Back to the request if it can be had without waiting; otherwise to the pool,
        // whose ping on return sends the rollback.
        if let Some(home) = &self.home
            && let Ok(mut slot) = home.slot.try_lock()
            && matches!(*slot, Slot::Lent(_))
        {
            // Its rollback is queued, and a statement of the write may have been cut
            // midway: the request may read on, but the next request does not take it.
            home.unsettled.store(true, Ordering::Relaxed);
            *slot = Slot::Held(conn);
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Transaction {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        execute(&mut *self.conn().await?, &stmt, &self.statements).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        execute(&mut *self.conn().await?, &Statement::from_string(self.backend, sql), &self.statements).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let rows = query(&mut *self.conn().await?, &stmt, true, &self.statements).await?;
        Ok(rows.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        query(&mut *self.conn().await?, &stmt, false, &self.statements).await
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
    /// Where the connection goes when the request is done with it.
    warm: Arc<Warm>,
    /// Whether the connection may be in the middle of something: a read or a write that
    /// was cancelled (its request timed out, its client went away). Such a connection
    /// goes back to the pool, whose ping waits for it, rather than to the next request.
    unsettled: std::sync::atomic::AtomicBool,
    statements: Arc<AtomicU64>,
    /// Locked for the length of one statement: the reads of one request that run at once
    /// take turns on the connection, as they would on one database session anyway.
    slot: tokio::sync::Mutex<Slot>,
    /// Whether a write's commit waits for the end of the request ([`Db::defer_commits`]).
    defer: std::sync::atomic::AtomicBool,
    /// The write waiting for it.
    pending: tokio::sync::Mutex<Option<Pending>>,
}

/// A write whose trail is still to be sent and whose commit waits for its request's end.
struct Pending {
    txn: Transaction,
    /// The write's audit events, change-feed rows and idempotency key's answer.
    trail: Vec<Statement>,
    /// The change feed's signal, given once the write is committed, if it fed the feed.
    committed: Option<Arc<crate::signal::FeedSignals>>,
}

impl Pending {
    /// Sends the trail and `last`, commits, and tells the change feed. On PostgreSQL a
    /// trail of one statement and `last` are one statement (`last` a data-modifying `WITH`
    /// query of the trail's): a statement is a round trip, and each costs both ends CPU.
    async fn commit(self, last: Option<impl Numbered>) -> Result<(), DbErr> {
        let Pending { txn, mut trail, committed } = self;
        match last {
            Some(last) if txn.backend == DbBackend::Postgres && trail.len() == 1 => {
                let then = trail.pop().expect("a trail of one statement");
                txn.execute_raw(with_first(last, then)).await?;
            }
            last => {
                for statement in trail {
                    txn.execute_raw(statement).await?;
                }
                if let Some(last) = last {
                    txn.execute_raw(last(0)).await?;
                }
            }
        }
        txn.commit().await?;
        if let Some(signals) = committed {
            signals.committed();
        }
        Ok(())
    }
}

/// A statement built to be sent inside another: given how many values the other binds, it
/// numbers its own placeholders after them (PostgreSQL's `$n`).
pub(crate) trait Numbered: FnOnce(usize) -> Statement + Send {}
impl<F: FnOnce(usize) -> Statement + Send> Numbered for F {}

/// `then` with `first` as a data-modifying `WITH` query before it: one statement. Both
/// run, whatever `then` reads; neither sees the other's rows, so they must not depend on
/// each other.
fn with_first(first: impl Numbered, then: Statement) -> Statement {
    let mut values = then.values.map(|v| v.0).unwrap_or_default();
    let first = first(values.len());
    values.extend(first.values.map(|v| v.0).unwrap_or_default());
    let sql = match then.sql.strip_prefix("WITH ") {
        Some(rest) => format!("WITH kb_first AS ({}), {rest}", first.sql),
        None => format!("WITH kb_first AS ({}) {}", first.sql, then.sql),
    };
    Statement::from_sql_and_values(then.db_backend, sql, values)
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").finish_non_exhaustive()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let slot = std::mem::replace(self.slot.get_mut(), Slot::Released);
        self.give_back(slot);
    }
}

enum Slot {
    /// No read yet: the connection is taken at the first.
    Empty,
    Held(Conn),
    /// Lent to the request's write transaction ([`Db::begin`]); back when it ends.
    /// Meanwhile the request's reads go through the transaction (and see what it has
    /// written so far): a request never takes a second connection while it holds one.
    Lent(std::sync::Weak<Open>),
    /// Given back: reads go to the pool.
    Released,
}

/// A connection whose `BEGIN` is under way. The driver counts a transaction only once
/// `BEGIN` has been answered, so a write cancelled before that (its request timed out, its
/// client went away) would give the connection back to the pool inside a transaction that
/// nobody knows of: its next users' statements, the audit writer's inserts among them,
/// would run in it uncommitted, and a later rollback would take them with it
/// (`tests/e2e/pool.rs`). Dropped before the `BEGIN` is answered, or after it failed, the
/// connection is closed instead, which ends whatever the server began.
struct Beginning<'a> {
    conn: &'a mut Conn,
    begun: bool,
}

impl Drop for Beginning<'_> {
    fn drop(&mut self) {
        if !self.begun {
            match self.conn.raw() {
                Raw::Postgres(c) => c.close_on_drop(),
                Raw::Sqlite(c) => c.close_on_drop(),
            }
        }
    }
}

/// One connection out of the pool. Dropped inside a transaction (a request cancelled in
/// the middle of a write), it queues the rollback first, which the pool's ping on return
/// sends: no connection goes back to the pool inside a transaction.
struct Conn(Option<Raw>);

enum Raw {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Conn {
    fn raw(&mut self) -> &mut Raw {
        // Emptied only by `Conn::into_parked`, which consumes it.
        self.0.as_mut().expect("a connection is used only until it is parked")
    }

    /// Queues the rollback of the transaction the connection is in, if it is in one: it is
    /// sent before anything else the connection does.
    fn start_rollback(&mut self) {
        match &mut self.0 {
            Some(Raw::Postgres(c))
                if <Postgres as sqlx::Database>::TransactionManager::get_transaction_depth(c) > 0 =>
            {
                <Postgres as sqlx::Database>::TransactionManager::start_rollback(c);
            }
            Some(Raw::Sqlite(c)) if <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(c) > 0 => {
                <Sqlite as sqlx::Database>::TransactionManager::start_rollback(c);
            }
            _ => {}
        }
    }

    /// The PostgreSQL connection, to be parked ([`Warm`]), if it is outside any transaction;
    /// otherwise `None`, and it goes back to the pool as it is dropped.
    fn into_parked(mut self) -> Option<PoolConnection<Postgres>> {
        match self.0.take() {
            Some(Raw::Postgres(c))
                if <Postgres as sqlx::Database>::TransactionManager::get_transaction_depth(&c) == 0 =>
            {
                Some(c)
            }
            other => {
                self.0 = other;
                None
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.start_rollback();
    }
}

/// Runs `$body` with `$c` bound to the connection, whichever database it is on.
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn.raw() {
            Raw::Postgres($c) => $body,
            Raw::Sqlite($c) => $body,
        }
    };
}

/// Connections that requests gave back a moment ago, kept out of the pool for the next
/// requests (PostgreSQL only). sqlx pings a connection as it goes back to its pool (a
/// Sync and its answer, in a task of its own); a connection taken from here skips that
/// round trip and the pool's accounting both ways. Kept [`WARM_FOR`] at most: a sweep
/// gives older ones back to the pool, where its ping tests them and its idle and
/// lifetime limits apply. And kept only while the pool could serve a request without it
/// (an idle connection, or room for a new one), so that no one waits on the pool while
/// a connection sits here.
pub(crate) struct Warm {
    pool: Option<sqlx::PgPool>,
    parked: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

/// How long a connection stays parked: under load the next request takes it within a
/// millisecond or two.
const WARM_FOR: std::time::Duration = std::time::Duration::from_millis(50);

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm").finish_non_exhaustive()
    }
}

impl Warm {
    /// Parks for `pool`'s connections, and sweeps them back to it while the returned
    /// handle lives (PostgreSQL; on SQLite nothing is parked).
    pub(crate) fn start(pool: &DatabaseConnection) -> Arc<Self> {
        let pool =
            (pool.get_database_backend() == DbBackend::Postgres).then(|| pool.get_postgres_connection_pool().clone());
        let warm = Arc::new(Self { pool, parked: std::sync::Mutex::default() });
        if warm.pool.is_some() {
            let sweeping = Arc::downgrade(&warm);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(WARM_FOR);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    match sweeping.upgrade() {
                        Some(warm) => warm.give_back_older_than(WARM_FOR),
                        None => return,
                    }
                }
            });
        }
        warm
    }

    /// The connection parked last, if it is still warm.
    fn take(&self) -> Option<Conn> {
        let taken = self.parked.lock().ok()?.pop();
        match taken {
            Some((conn, at)) if at.elapsed() < WARM_FOR => Some(Conn(Some(Raw::Postgres(conn)))),
            // Dropped outside the lock: the pool pings it on its return.
            _ => None,
        }
    }

    /// Parks `conn` if it is a PostgreSQL connection outside any transaction and the pool
    /// can serve others without it; otherwise gives it back to the pool.
    fn park(&self, conn: Conn) {
        let Some(pool) = &self.pool else { return };
        let room = pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections();
        if !room || pool.is_closed() {
            return;
        }
        let Some(conn) = conn.into_parked() else { return };
        if let Ok(mut parked) = self.parked.lock() {
            parked.push((conn, Instant::now()));
        }
    }

    fn give_back_older_than(&self, age: std::time::Duration) {
        let stale: Vec<_> = match self.parked.lock() {
            Ok(mut parked) => {
                let keep = parked.iter().position(|(_, at)| at.elapsed() < age).unwrap_or(parked.len());
                parked.drain(..keep).collect()
            }
            Err(_) => return,
        };
        drop(stale);
    }

    /// Gives every parked connection back to the pool: before the pool closes, which waits
    /// for them.
    pub(crate) fn give_back_all(&self) {
        self.give_back_older_than(std::time::Duration::ZERO);
    }
}

impl Held {
    /// Gives the connection of `slot`, if it holds one, to the next request ([`Warm`]);
    /// one that may be in the middle of something goes back to the pool.
    fn give_back(&self, slot: Slot) {
        if let Slot::Held(conn) = slot
            && !self.unsettled.load(Ordering::Relaxed)
        {
            self.warm.park(conn);
        }
    }

    /// Runs a read on the held connection, taking it from the pool first if this is the
    /// request's first read; `None` once the connection has been given back. With `one`,
    /// only the first row is fetched.
    async fn read(&self, stmt: &Statement, one: bool) -> Option<Result<Vec<QueryResult>, DbErr>> {
        // Twice at most: a read that finds the transaction it was lent to just ended finds
        // the connection back in the slot.
        for _ in 0..2 {
            let mut slot = self.slot.lock().await;
            if matches!(*slot, Slot::Empty) {
                *slot = match acquire(&self.pool, &self.warm).await {
                    Ok(taken) => Slot::Held(taken),
                    Err(e) => return Some(Err(e)),
                };
            }
            match &mut *slot {
                Slot::Held(conn) => {
                    // Cleared once the read is done: a read cancelled midway leaves it set.
                    self.unsettled.store(true, Ordering::Relaxed);
                    let mut read = query(conn, stmt, one, &self.statements).await;
                    let mut tried = 1;
                    // A connection the database closed while it sat in the pool (taken
                    // without a ping, `UNTESTED_IDLE`) is replaced; a read has no effect
                    // to repeat. The closed one goes back to the pool, whose ping on
                    // return finds it dead and closes it.
                    while tried < tries(&self.pool) && read.as_ref().is_err_and(connection_lost) {
                        match acquire(&self.pool, &self.warm).await {
                            Ok(fresh) => *conn = fresh,
                            Err(e) => return Some(Err(e)),
                        }
                        read = query(conn, stmt, one, &self.statements).await;
                        tried += 1;
                    }
                    self.unsettled.store(false, Ordering::Relaxed);
                    return Some(read);
                }
                Slot::Lent(open) => {
                    let open = open.upgrade()?;
                    drop(slot);
                    if let Some(conn) = open.lock().await.as_mut() {
                        return Some(query(conn, stmt, one, &self.statements).await);
                    }
                }
                Slot::Empty | Slot::Released => return None,
            }
        }
        None
    }
}

/// Takes a connection from the pool. A pool that did not answer in time is reported as
/// sea-orm reports it, so that the error is the same `UNAVAILABLE` whichever way a
/// statement went.
async fn acquire(pool: &DatabaseConnection, warm: &Warm) -> Result<Conn, DbErr> {
    if let Some(conn) = warm.take() {
        return Ok(conn);
    }
    let taken = match pool.get_database_backend() {
        DbBackend::Postgres => {
            pool.get_postgres_connection_pool().acquire().await.map(|c| Conn(Some(Raw::Postgres(c))))
        }
        DbBackend::Sqlite => pool.get_sqlite_connection_pool().acquire().await.map(|c| Conn(Some(Raw::Sqlite(c)))),
        other => return Err(DbErr::Custom(format!("Kinbridge does not run on {other:?}"))),
    };
    taken.map_err(|e| match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        e => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
    })
}

/// Reads rows on `conn`; with `one`, only the first row is fetched.
async fn query(
    conn: &mut Conn,
    stmt: &Statement,
    one: bool,
    statements: &AtomicU64,
) -> Result<Vec<QueryResult>, DbErr> {
    let started = Instant::now();
    let rows = on_conn!(conn, c => {
        let query = sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values(stmt));
        let fetch = async {
            if one { query.fetch_optional(&mut **c).await.map(rows) } else { query.fetch_all(&mut **c).await.map(rows) }
        };
        // The driver's row stream enters the span that was current when it began (the
        // request's) on every poll, and it is polled once per row: on a page of 50
        // families, a thousand rows, that was about 4 % of the service's CPU (`perf`,
        // page (b) at 8 connections), spent in the subscriber's span registry. Read
        // under no subscriber, the stream holds no span. What the driver would log meanwhile
        // is nothing Kinbridge prints: its statement logging is off (`Store::connect`),
        // and the pool's events (the wait for a connection, which `/metrics` counts)
        // happen before this, under the request's subscriber.
        fetch.with_subscriber(tracing::Dispatch::none()).await
    });
    sent(statements, &stmt.sql, started.elapsed());
    rows.map_err(|e| DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))))
}

/// A statement's values, bound as sea-orm's drivers bind them.
fn values(stmt: &Statement) -> SqlxValues {
    SqlxValues(stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new())))
}

/// Runs a statement that changes rows on `conn`.
async fn execute(conn: &mut Conn, stmt: &Statement, statements: &AtomicU64) -> Result<ExecResult, DbErr> {
    let started = Instant::now();
    let done = on_conn!(conn, c => {
        let query = sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values(stmt));
        query.execute(&mut **c).await.map(ExecResult::from)
    });
    sent(statements, &stmt.sql, started.elapsed());
    done.map_err(|e| DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))))
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
        Ok(self.pooled_read(&stmt, true).await?.into_iter().next())
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(held) = &self.held
            && let Some(rows) = held.read(&stmt, false).await
        {
            return rows;
        }
        self.pooled_read(&stmt, false).await
    }
}
