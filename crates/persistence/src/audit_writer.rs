//! The audit trail's group commit: the reads of concurrent requests share one commit.
//!
//! Every request that showed personal data hands its reads to one writer task and waits
//! for its answer. The writer takes whatever requests have gathered while the previous
//! commit was under way, writes each request's reads as one row of `audit_reads` (all its
//! records in one array), all the rows in one statement, and only then answers each of
//! them. So every response still waits for its own audit rows to be durable, and
//! none is answered whose audit could be lost, but many requests share one WAL flush
//! instead of paying one each.
//!
//! If the commit fails, every request in it is answered with the error (and withheld by
//! the HTTP layer); nothing is retried behind the caller's back.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::connection::{Warm, WriterGate};
use crate::error::StoreError;
use crate::scope::Shown;

/// How many requests one commit takes at most; more wait for the next.
const REQUESTS_PER_COMMIT: usize = 256;
/// How many requests may wait for the writer before callers queue on the channel.
const QUEUE: usize = 4096;

/// The reads of one request, to be written as audit events.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    pub occurred_at: DateTime<Utc>,
    pub request_id: String,
    pub subject: String,
    pub organization_id: Uuid,
    pub roles: String,
    /// Each record once.
    pub reads: Vec<Shown>,
}

type Job = (ReadBatch, oneshot::Sender<Result<(), StoreError>>);

/// The handle on the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer task on `db`. It ends when the last handle is dropped. On SQLite
    /// its inserts take their turn with the process's write transactions (`writers`).
    pub fn start(db: DatabaseConnection, warm: Arc<Warm>, writers: WriterGate, statements: Arc<AtomicU64>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, warm, writers, statements, queue));
        Self { jobs }
    }

    /// Writes `batch` and returns once it is committed.
    pub async fn write(&self, batch: ReadBatch) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send((batch, done)).await.map_err(|_| StoreError::Corrupt("the audit writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Corrupt("the audit writer stopped before answering".into()))?
    }
}

async fn run(
    db: DatabaseConnection,
    warm: Arc<Warm>,
    writers: WriterGate,
    statements: Arc<AtomicU64>,
    mut queue: mpsc::Receiver<Job>,
) {
    let mut jobs = Vec::with_capacity(REQUESTS_PER_COMMIT);
    while queue.recv_many(&mut jobs, REQUESTS_PER_COMMIT).await > 0 {
        // An outage stays an outage for every request of the commit (answered
        // UNAVAILABLE, and logged as a warning where it is classified); anything else is a
        // fault of the service.
        let result = commit(&db, &warm, &writers, &statements, &jobs).await.map_err(StoreError::from);
        if let Err(e) = &result
            && !matches!(e, StoreError::Unavailable(_))
        {
            tracing::error!(error = %e, requests = jobs.len(), "the audit trail could not be written");
        }
        for (_, done) in jobs.drain(..) {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(StoreError::Unavailable(why)) => Err(StoreError::Unavailable(why)),
                Err(e) => Err(StoreError::Corrupt(e.to_string())),
            };
            // A request that gave up waiting (its client went away) needs no answer.
            let _ = done.send(answer);
        }
    }
}

/// Writes the reads of every request of the commit as one statement: a single statement
/// is atomic on its own, so the commit is one round trip, not a `BEGIN`, an insert per
/// request and a `COMMIT`.
async fn commit(
    db: &DatabaseConnection,
    warm: &Warm,
    writers: &WriterGate,
    statements: &AtomicU64,
    jobs: &[Job],
) -> Result<(), sea_orm::DbErr> {
    let batches: Vec<&ReadBatch> = jobs.iter().map(|(batch, _)| batch).collect();
    crate::connection::write_in_turn(db, warm, writers, statements, insert(db.get_database_backend(), &batches))
        .await
        .map(drop)
}

/// One row per request, each with all of its reads. On PostgreSQL the record types and
/// ids are two parallel arrays (see migration m0009): the types bound as one array
/// literal, the ids as a binary `uuid[]`; on SQLite the records are one JSON array of
/// `[record type, record id]`.
///
/// The ids are bound in binary because PostgreSQL parses a `uuid[]` literal slowly: for
/// the 970 ids a page of 50 families shows, 0.6 ms of its CPU per request, against 0.06
/// ms to copy the binary form (measured in a loop of casts on the benchmark's data set).
/// The types' literal is short and cheap to parse (0.07 ms for 970 names).
pub(crate) fn insert(backend: DbBackend, batches: &[&ReadBatch]) -> Statement {
    insert_after(backend, batches, 0)
}

/// [`insert`], its placeholders numbered after `first` others: to be sent inside another
/// statement that binds `first` values (`connection.rs`, `with_first`).
pub(crate) fn insert_after(backend: DbBackend, batches: &[&ReadBatch], first: usize) -> Statement {
    use std::fmt::Write;
    let postgres = backend == DbBackend::Postgres;
    let mut sql = String::from(if postgres {
        "INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, record_types, record_ids, index_ids) VALUES "
    } else {
        "INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, records) VALUES "
    });
    let mut values: Vec<Value> = Vec::with_capacity(batches.len() * 9);
    for (i, batch) in batches.iter().enumerate() {
        values.extend([
            Uuid::now_v7().into(),
            batch.occurred_at.into(),
            batch.request_id.clone().into(),
            batch.subject.clone().into(),
            batch.organization_id.into(),
            batch.roles.clone().into(),
        ]);
        if i > 0 {
            sql.push_str(", ");
        }
        if postgres {
            values.extend([
                types_literal(&batch.reads).into(),
                uuid_array(batch.reads.iter().map(|r| r.record_id)),
                uuid_array(index_ids(&batch.reads)),
            ]);
            let n = first + i * 9;
            let _ = write!(
                sql,
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}::text[], ${}::uuid[], ${}::uuid[])",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8,
                n + 9
            );
        } else {
            let records: Vec<serde_json::Value> = batch
                .reads
                .iter()
                .map(|r| serde_json::json!([r.record_type, r.record_id.simple().to_string()]))
                .collect();
            values.push(serde_json::Value::Array(records).to_string().into());
            sql.push_str("(?, ?, ?, ?, ?, ?, ?)");
        }
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// The PostgreSQL array literal `{Family,Person,…}` of the record types of `reads`.
/// Record types are type names (letters only), so the literal needs no quoting.
fn types_literal(reads: &[Shown]) -> String {
    let mut types = String::with_capacity(2 + reads.len() * 12);
    types.push('{');
    for (i, Shown { record_type, .. }) in reads.iter().enumerate() {
        debug_assert!(record_type.bytes().all(|b| b.is_ascii_alphanumeric()), "{record_type}");
        if i > 0 {
            types.push(',');
        }
        types.push_str(record_type);
    }
    types.push('}');
    types
}

/// The ids the access log finds these reads by (`Shown::indexed_as`), each once: the
/// parents of a page's records stand for all of them.
fn index_ids(reads: &[Shown]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = reads.iter().map(|r| r.indexed_as).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `ids` as one `uuid[]` value, which the driver sends in binary.
fn uuid_array(ids: impl IntoIterator<Item = Uuid>) -> Value {
    let ids = ids.into_iter().map(|id| Value::Uuid(Some(id))).collect();
    Value::Array(sea_orm::sea_query::ArrayType::Uuid, Some(Box::new(ids)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuids(ids: &[Uuid]) -> Value {
        Value::Array(sea_orm::sea_query::ArrayType::Uuid, Some(Box::new(ids.iter().map(|&id| id.into()).collect())))
    }

    #[test]
    fn the_arrays_list_the_reads_in_order_and_each_index_id_once() {
        let (family, visit, other_visit) = (Uuid::from_u128(3), Uuid::from_u128(2), Uuid::from_u128(1));
        let placement = Uuid::from_u128(9);
        let reads = [
            Shown::new("Family", family),
            Shown { record_type: "ContactVisit", record_id: visit, indexed_as: placement },
            Shown { record_type: "ContactVisit", record_id: other_visit, indexed_as: placement },
        ];
        assert_eq!(types_literal(&reads), "{Family,ContactVisit,ContactVisit}");
        assert_eq!(uuid_array(reads.iter().map(|r| r.record_id)), uuids(&[family, visit, other_visit]));
        assert_eq!(index_ids(&reads), vec![family, placement]);
        assert_eq!(types_literal(&[]), "{}");
        assert_eq!(uuid_array(index_ids(&[])), uuids(&[]));
    }

    fn batch(request_id: &str, reads: Vec<Shown>) -> ReadBatch {
        ReadBatch {
            occurred_at: Utc::now(),
            request_id: request_id.to_owned(),
            subject: "caseworker-1".to_owned(),
            organization_id: Uuid::from_u128(9),
            roles: "CASEWORKER".to_owned(),
            reads,
        }
    }

    #[test]
    fn the_reads_of_a_commit_are_one_statement_with_a_row_per_request() {
        let (a, b) = (batch("r-1", vec![Shown::new("Family", Uuid::from_u128(1))]), batch("r-2", vec![]));
        let pg = insert(DbBackend::Postgres, &[&a, &b]);
        assert!(pg.sql.ends_with("($1, $2, $3, $4, $5, $6, $7::text[], $8::uuid[], $9::uuid[]), ($10, $11, $12, $13, $14, $15, $16::text[], $17::uuid[], $18::uuid[])"), "{}", pg.sql);
        let values = pg.values.unwrap().0;
        assert_eq!(values.len(), 18);
        assert_eq!(values[2], Value::from("r-1".to_owned()));
        assert_eq!(values[8], uuids(&[Uuid::from_u128(1)]));
        assert_eq!(values[11], Value::from("r-2".to_owned()));
        assert_eq!(values[15], Value::from("{}".to_owned()));
        assert_eq!(values[16], uuids(&[]));
        assert_eq!(values[17], uuids(&[]));
        let sqlite = insert(DbBackend::Sqlite, &[&a, &b]);
        assert!(sqlite.sql.ends_with("VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"), "{}", sqlite.sql);
        assert_eq!(sqlite.values.unwrap().0.len(), 14);
    }
}
