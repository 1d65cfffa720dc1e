//! Kinbridge's storage: sea-orm entities, repositories, transactions, and the audit and
//! outbox writers.
//!
//! **Invariants:**
//! - Every write runs in one transaction that also commits its audit event, its outbox
//!   row and, when the caller sent one, its idempotency key ([`write::WriteTx`]). There is
//!   no other way to write.
//! - Every read filters by what the caller may see inside the SQL query ([`scope`]), so
//!   counts and pages never include or reveal another organisation's rows.
//! - Repositories receive domain values, which are valid by construction; they check only
//!   the rules that need stored state (overlaps, membership, kinds of organisations).

pub mod alerts;
pub mod assoc;
mod audit_writer;
pub mod authz;
pub mod bulk;
mod connection;
pub mod coordination;
pub mod corrections;
pub mod entities;
pub mod erasure;
pub mod error;
pub mod families;
pub mod lists;
pub mod lookups;
pub mod network;
pub mod offers;
pub mod organizations;
pub mod page;
pub mod parental;
pub mod partners;
pub mod placements;
pub mod plans;
pub mod records;
pub mod scope;
pub mod sharing;
pub mod signal;
pub mod subject;
pub mod timeline;
pub mod trail;
pub mod visits;
pub mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kinbridge_migrations::MigratorTrait;
use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend};

use audit_writer::AuditWriter;
pub use error::StoreError;

/// How a statement of the server's own upkeep begins (merging the audit index, on a
/// timer): `statements_sent` leaves those out.
pub(crate) const MAINTENANCE: &str = "/* maintenance */ ";
pub use page::{Page, PageRequest};
pub use write::{Idempotency, WriteMeta};

/// A handle on the database, cheap to clone: the connection pool is shared.
#[derive(Debug, Clone)]
pub struct Store {
    db: connection::Db,
    statements: Arc<AtomicU64>,
    audit: AuditWriter,
    /// Live feed readers' wake-ups (see [`signal`]).
    signals: Arc<signal::FeedSignals>,
    feed_poll: Duration,
    /// The organisations recent tokens named (see [`organizations::TokenOrganizations`]).
    registry: Arc<organizations::TokenOrganizations>,
}

/// SQLite's own page cache per connection, in KiB (its default is 2,000). The operating
/// system caches the file as well, so a smaller cache costs a system call where it would
/// have been a memory read: on the 10,000-family set a family's page answered as fast with
/// 1,000 KiB, and the server's peak memory under a caseworker's page fell by about 6 MiB.
const SQLITE_CACHE_KIB: u32 = 1_000;

/// At most this many SQLite connections, whatever [`StoreOptions::max_connections`] says:
/// two more than the cores. SQLite runs its statements on the connection's own thread, so
/// more connections than cores add no throughput; each costs a page cache and the working
/// memory of its statements, about 6 MiB under a caseworker's page. Measured on 2 cores
/// with that page at 32 concurrent requests: 10 connections peaked at 132–134 MiB and 4 at
/// 98–103 MiB, with the same throughput.
fn sqlite_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cores + 2).unwrap_or(u32::MAX)
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The largest pool; for SQLite, at most two more than the cores.
    pub max_connections: u32,
    /// How long a request waits for a database connection (and a new connection for the
    /// database to answer) before it is answered `UNAVAILABLE`.
    pub database_timeout: Duration,
    /// How long a SQLite writer waits for the lock held by another before giving up.
    pub sqlite_busy_timeout: Duration,
    /// How long a live feed reader waits without a signal before it reads the feed anyway
    /// ([`signal::POLL`] by default).
    pub feed_poll: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            database_timeout: Duration::from_secs(2),
            sqlite_busy_timeout: Duration::from_secs(5),
            feed_poll: signal::POLL,
        }
    }
}

impl Store {
    /// Connects to `url`: `sqlite://path?mode=rwc` or `postgres://…`. SQLite runs in WAL
    /// mode with foreign keys on and a busy timeout, so that readers never block the writer.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, sea_orm::DbErr> {
        let mut opts = ConnectOptions::new(url.to_owned());
        let max_connections = if url.starts_with("sqlite:") {
            options.max_connections.min(sqlite_connections())
        } else {
            options.max_connections
        };
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(options.database_timeout)
            .acquire_timeout(options.database_timeout)
            .sqlx_logging(false)
            // The pool pings a connection as it is given back, and as it is taken out if
            // it sat idle for a second or more, so that one the database or something
            // between has closed (a restart, a failover) is replaced before a statement
            // fails on it. One idle for less is handed out untested: under load that
            // spares each request a round trip, and the statements that find their
            // connection closed take another (`connection::UNTESTED_IDLE`).
            .test_before_acquire_if_idle_for(connection::UNTESTED_IDLE);
        // The driver reports every wait for a pool connection as an event at debug level;
        // `/metrics` turns them into a histogram (the server's telemetry.rs), and the log
        // lines never show them.
        opts.map_sqlx_postgres_pool_opts(|o| o.acquire_time_level(log::LevelFilter::Debug));
        opts.map_sqlx_sqlite_pool_opts(|o| o.acquire_time_level(log::LevelFilter::Debug));
        let busy = options.sqlite_busy_timeout;
        opts.map_sqlx_sqlite_opts(move |o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(busy)
                .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
        });
        let mut db = sea_orm::Database::connect(opts).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&statements);
        db.set_metric_callback(move |info| connection::sent(&counter, &info.statement.sql, info.elapsed));
        let writers = connection::WriterGate::default();
        let warm = connection::Warm::start(&db);
        let audit = AuditWriter::start(db.clone(), Arc::clone(&warm), writers.clone(), Arc::clone(&statements));
        Ok(Self {
            db: connection::Db::new(db, warm, writers, Arc::clone(&statements)),
            statements,
            audit,
            signals: Arc::default(),
            feed_poll: options.feed_poll,
            registry: Arc::default(),
        })
    }

    /// Brings the schema up to date. Safe to run on every start and from several
    /// replicas: applied migrations are skipped.
    pub async fn migrate(&self) -> Result<(), sea_orm::DbErr> {
        kinbridge_migrations::Migrator::up(self.pool(), None).await
    }

    pub fn backend(&self) -> DbBackend {
        self.pool().get_database_backend()
    }

    /// Checks that the database answers; used by the readiness probe. A connection the
    /// database ended while it sat idle in the pool (taken without the pool's own ping,
    /// `connection::UNTESTED_IDLE`) fails its ping and is closed as it goes back; the
    /// next is tried, as a request's statements do, so that a replica is not reported
    /// unready for connections it replaces anyway.
    pub async fn ping(&self) -> Result<(), sea_orm::DbErr> {
        let mut tried = 1;
        loop {
            match self.pool().ping().await {
                Err(e) if tried < connection::tries(self.pool()) && connection::ping_lost(&e) => tried += 1,
                pinged => return pinged,
            }
        }
    }

    /// The connection pool now: connections open, how many of them are idle, and how
    /// many may be open.
    pub fn pool_usage(&self) -> (u32, usize, u32) {
        match self.backend() {
            DbBackend::Postgres => {
                let pool = self.pool().get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            DbBackend::Sqlite => {
                let pool = self.pool().get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            _ => (0, 0, 0),
        }
    }

    /// How many SQL statements this store has sent since it connected: what the
    /// statement-count tests and the benchmark divide by the number of requests. The
    /// server's own upkeep on a timer (statements that begin with [`MAINTENANCE`]) is not
    /// counted: it belongs to no request.
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// What reads go through: the pool, or this request's own connection
    /// ([`Store::holding_one_connection`]).
    pub(crate) fn conn(&self) -> &connection::Db {
        &self.db
    }

    /// The pool itself: for transactions, and for what does not belong to a request.
    pub(crate) fn pool(&self) -> &DatabaseConnection {
        self.db.pool()
    }

    /// This store for one request: its reads go through one connection, taken from
    /// the pool at the first read and given back by [`Store::release_connection`] (or when
    /// the last clone is dropped). One ping of the connection per request, not one per
    /// statement (see `connection.rs`). A write's transaction begins on that connection
    /// and gives it back when it commits.
    pub fn holding_one_connection(&self) -> Store {
        Self { db: self.db.holding(), ..self.clone() }
    }

    /// Lets this request's write (a mutation's transaction) stay open after its trail is
    /// written, to commit with the audit of what its answer shows
    /// ([`Store::commit_with_reads`]): one WAL flush per mutation instead of two. On
    /// PostgreSQL, on a store [`Store::holding_one_connection`]; elsewhere nothing.
    pub fn defer_write_commits(&self) {
        self.db.defer_commits();
    }

    /// Gives the connection a [`Store::holding_one_connection`] took back to the pool, as
    /// soon as the request has read what it needs (before its audit event is written).
    pub async fn release_connection(&self) {
        self.db.release().await;
    }

    pub async fn close(self) -> Result<(), sea_orm::DbErr> {
        // The pool's close waits for every connection out of it, the parked ones too.
        self.db.warm().give_back_all();
        self.db.pool().clone().close().await
    }
}
