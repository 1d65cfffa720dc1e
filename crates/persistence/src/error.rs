//! The storage layer's error. Each variant says what the API answers.

use kinbridge_domain::{TransitionError, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record of that id is visible to the caller. Answered `NOT_FOUND`; whether the
    /// record exists elsewhere is never revealed.
    #[error("{record_type} not found")]
    NotFound { record_type: &'static str },
    /// The input broke a rule that needs stored state to check. Answered
    /// `BAD_USER_INPUT` with the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The record's state forbids the change. Answered `CONFLICT`.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A concurrent or earlier write got there first: a stale version, a reused
    /// idempotency key, an external id already taken. Answered `CONFLICT`, with the id
    /// of the existing record where there is one.
    #[error("{message}")]
    Conflict { message: String, existing_id: Option<String> },
    /// The database failed. Logged whole where handled; answered `INTERNAL` with no detail.
    /// A unique violation, a serialization failure or a deadlock is never this: those are
    /// races between concurrent writes, and become [`StoreError::Conflict`] on the way in.
    #[error("database error: {0}")]
    Database(sea_orm::DbErr),
    /// The database cannot serve the request now: it does not answer in time, refuses
    /// connections, is read-only or is full. Nothing was written (the transaction, if
    /// any, rolled back). Answered `UNAVAILABLE` (HTTP 503), so that a client retries later.
    #[error("the database is unavailable: {0}")]
    Unavailable(&'static str),
    /// A stored value no longer parses: a bug or a damaged row. Answered `INTERNAL`.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn not_found(record_type: &'static str) -> Self {
        Self::NotFound { record_type }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { message: message.into(), existing_id: None }
    }
}

impl From<sea_orm::DbErr> for StoreError {
    /// Every database error passes here. A concurrent write that broke a unique
    /// constraint, or that PostgreSQL could not serialize or chose as a deadlock's victim,
    /// is a race the client resolves by reading again and retrying: `CONFLICT`, never
    /// `INTERNAL`, and not an error of the service's own.
    fn from(e: sea_orm::DbErr) -> Self {
        if is_unique_violation(&e) {
            return Self::conflict("a concurrent request wrote the same record; read it again and retry");
        }
        if is_concurrency_failure(&e) {
            return Self::conflict("the write collided with a concurrent one; retry");
        }
        if let Some(why) = unavailability(&e) {
            tracing::warn!(error = %e, "the database is unavailable");
            return Self::Unavailable(why);
        }
        Self::Database(e)
    }
}

/// Why the database cannot serve requests now, if that is what `err` says: no connection
/// within the acquire timeout, a connection refused or lost, a read-only database
/// (PostgreSQL 25006, a standby or `default_transaction_read_only`; SQLite's READONLY), a
/// full disk (PostgreSQL 53100, SQLite's FULL) or, on SQLite, a write lock held by another
/// process past the busy timeout (BUSY, LOCKED).
fn unavailability(err: &sea_orm::DbErr) -> Option<&'static str> {
    use sea_orm::{DbErr, RuntimeErr};
    let (source, connecting) = match err {
        DbErr::ConnectionAcquire(_) => return Some("no database connection could be had in time"),
        DbErr::Conn(RuntimeErr::SqlxError(e)) => (e, true),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => (e, false),
        DbErr::Conn(_) => return Some("the database refused the connection"),
        _ => return None,
    };
    // A connection that could not be opened, whatever the driver says of it (a connection
    // cut during its TLS or start-up exchange is a protocol error), is an outage too.
    let otherwise = connecting.then_some("the database connection failed");
    let why = match &**source {
        sea_orm::sqlx::Error::PoolTimedOut | sea_orm::sqlx::Error::PoolClosed => {
            Some("no database connection could be had in time")
        }
        sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::Tls(_) => Some("the database connection failed"),
        sea_orm::sqlx::Error::Database(d) => {
            let code = d.code()?;
            if code.len() == 5 {
                // PostgreSQL's SQLSTATE.
                match &*code {
                    "25006" => Some("the database is read-only"),
                    "53100" => Some("the database is full"),
                    c if c.starts_with("08") || c == "57P01" || c == "57P03" => Some("the database connection failed"),
                    _ => None,
                }
            } else {
                // SQLite's extended result code, whose low byte is the primary code.
                match code.parse::<u32>().ok()? & 0xff {
                    // BUSY and LOCKED: another process held the write lock past the busy
                    // timeout (this process's writers take turns, `connection.rs`).
                    5 | 6 => Some("the database was locked by another writer past the busy timeout"),
                    8 => Some("the database is read-only"),
                    13 => Some("the database is full"),
                    _ => None,
                }
            }
        }
        _ => None,
    };
    why.or(otherwise)
}

/// PostgreSQL's serialization failure (40001) or deadlock (40P01).
fn is_concurrency_failure(err: &sea_orm::DbErr) -> bool {
    let source = match err {
        sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    source.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40001" || code == "40P01")
}

impl From<kinbridge_domain::error::UnknownValue> for StoreError {
    fn from(e: kinbridge_domain::error::UnknownValue) -> Self {
        Self::Corrupt(e.to_string())
    }
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
