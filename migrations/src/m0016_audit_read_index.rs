//! On PostgreSQL, the access log finds a request's reads through `index_ids`, not through
//! every record id.
//!
//! m0008 put a GIN index on `audit_reads.record_ids`: on a page of 50 families that is
//! about 850 index entries per request, and merging them into the index cost the
//! database about 2.4 ms per request, more than the page's statements together. A record
//! that the audit trail relates to a person only through its parent (a placement's
//! visits and offers, a plan's goals and reviews: `Related` in persistence's trail.rs) is
//! related to a person exactly when its parent is, so its read is indexed under the
//! parent's id: one entry for all the visits of a placement. The same page has about 450.
//!
//! `record_ids` still holds every record shown, position by position with
//! `record_types`, and the `audit_trail` view still unpacks them; the access log tests each
//! read's own record id after the index has found its request. Existing rows are indexed
//! under all their record ids, which finds them as before.
//!
//! SQLite has no GIN index and keeps its layout.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
DROP VIEW IF EXISTS audit_trail;
ALTER TABLE audit_reads ADD COLUMN IF NOT EXISTS index_ids uuid[];
UPDATE audit_reads SET index_ids = record_ids WHERE index_ids IS NULL;
ALTER TABLE audit_reads ALTER COLUMN index_ids SET NOT NULL;
CREATE INDEX IF NOT EXISTS ix_audit_reads_index_ids ON audit_reads USING gin (index_ids);
DROP INDEX IF EXISTS ix_audit_reads_record_ids;

CREATE VIEW audit_trail AS
SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id,
       ARRAY[record_id] AS index_ids
  FROM audit_events
UNION ALL
SELECT encode(substring(uuid_send(r.id) FROM 1 FOR 12) || int4send(e.n::int), 'hex')::uuid,
       r.occurred_at, r.request_id, r.subject, r.organization_id, r.roles, 'read',
       e.record_type, e.record_id, r.index_ids
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
