//! The audit trail's group commit: the reads of concurrent requests share one commit.
//!
//! Every request that showed personal data hands its reads to one writer task and waits
//! for its answer. The writer takes whatever requests have gathered while the previous
//! commit was under way, writes each request's reads as one row of `audit_reads` (all its
//! records in one array), commits once, and only then answers each of them. So every response still waits for its own audit rows to be durable, and
//! none is answered whose audit could be lost, but many requests share one WAL flush
//! instead of paying one each.
//!
//! If the commit fails, every request in it is answered with the error (and withheld by
//! the HTTP layer); nothing is retried behind the caller's back.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::StoreError;

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
    /// Record type, record id.
    pub reads: Vec<(&'static str, Uuid)>,
}

type Job = (ReadBatch, oneshot::Sender<Result<(), StoreError>>);

/// The handle on the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl AuditWriter {
    /// Starts the writer task on `db`. It ends when the last handle is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, queue));
        Self { jobs }
    }

    /// Writes `batch` and returns once it is committed.
    pub async fn write(&self, batch: ReadBatch) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.jobs.send((batch, done)).await.map_err(|_| StoreError::Corrupt("the audit writer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Corrupt("the audit writer stopped before answering".into()))?
    }
}

async fn run(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(REQUESTS_PER_COMMIT);
    while queue.recv_many(&mut jobs, REQUESTS_PER_COMMIT).await > 0 {
        let result = commit(&db, &jobs).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, requests = jobs.len(), "the audit trail could not be written");
        }
        for (_, done) in jobs.drain(..) {
            // A request that gave up waiting (its client went away) needs no answer.
            let _ = done.send(result.clone().map_err(StoreError::Corrupt));
        }
    }
}

async fn commit(db: &DatabaseConnection, jobs: &[Job]) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    for (batch, _) in jobs {
        txn.execute_raw(insert(db.get_database_backend(), batch)).await?;
    }
    txn.commit().await
}

/// One row for all of a request's reads: the records as one JSON array of
/// `[record type, record id]` (and on PostgreSQL their ids as an indexed array too).
fn insert(backend: DbBackend, batch: &ReadBatch) -> Statement {
    let records: Vec<serde_json::Value> = batch
        .reads
        .iter()
        .map(|(record_type, record_id)| serde_json::json!([record_type, record_id.simple().to_string()]))
        .collect();
    let records = serde_json::Value::Array(records).to_string();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, records, record_ids) \
             SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, ARRAY(SELECT (e->>1)::uuid FROM jsonb_array_elements($7::jsonb) AS e)"
        }
        _ => {
            "INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, records) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        }
    };
    let values: Vec<Value> = vec![
        Uuid::now_v7().into(),
        batch.occurred_at.into(),
        batch.request_id.clone().into(),
        batch.subject.clone().into(),
        batch.organization_id.into(),
        batch.roles.clone().into(),
        records.into(),
    ];
    Statement::from_sql_and_values(backend, sql, values)
}
