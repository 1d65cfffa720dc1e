//! On PostgreSQL, the access log finds a request's reads by fewer ids: the GIN index of
//! `audit_reads` moves from every record id shown to `index_ids`, the records' own ids
//! except where a record is about a person exactly when its parent is (a contact visit
//! and its placement, a goal and its plan, a membership and its family: see
//! `kinbridge_persistence::scope::Shown::indexed_as`). A page of 50 families shows about
//! 970 records and indexes about 310 ids.
//!
//! Measured on the 10,000-family set, 400 inserts of rows with real record ids: merging
//! the index's pending list took 1.6-1.8 ms per row of 970 ids and 0.5 ms per row of 310,
//! and the insert itself about 0.4 ms more with the index than without at 970 ids, 0.15
//! at 310.
//!
//! Rows written before keep no `index_ids`: the index is over
//! `coalesce(index_ids, record_ids)`, so they are found by every record id as before, and
//! nothing is rewritten. The `audit_trail` view exposes that expression as `index_ids`
//! (a write event's own record id), which `accessLog` filters on before it unpacks the
//! rows and checks each record.
//!
//! SQLite keeps its JSON text: it has no arrays and no index to feed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
ALTER TABLE audit_reads ADD COLUMN IF NOT EXISTS index_ids uuid[];
CREATE INDEX IF NOT EXISTS ix_audit_reads_index_ids ON audit_reads USING gin ((coalesce(index_ids, record_ids)));
DROP INDEX IF EXISTS ix_audit_reads_record_ids;

DROP VIEW IF EXISTS audit_trail;
CREATE VIEW audit_trail AS
SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id,
       ARRAY[record_id] AS record_ids, ARRAY[record_id] AS index_ids
  FROM audit_events
UNION ALL
SELECT encode(substring(uuid_send(r.id) FROM 1 FOR 12) || int4send(e.n::int), 'hex')::uuid,
       r.occurred_at, r.request_id, r.subject, r.organization_id, r.roles, 'read',
       e.record_type, e.record_id, r.record_ids, coalesce(r.index_ids, r.record_ids)
  FROM audit_reads r CROSS JOIN LATERAL unnest(r.record_types, r.record_ids) WITH ORDINALITY AS e(record_type, record_id, n);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection().execute_unprepared(POSTGRES).await?;
        }
        Ok(())
    }
}
