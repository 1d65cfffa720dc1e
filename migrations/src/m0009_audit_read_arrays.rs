//! On PostgreSQL, a request's reads become two parallel arrays instead of a JSON document.
//!
//! m0008 stored the records a request was shown as one `jsonb` array of
//! `[record type, record id]` pairs beside a `uuid[]` of the same ids for the GIN index.
//! Measured on a page of 50 families (about 850 records), parsing that 44 KB document and
//! compressing it into TOAST cost the database about 1.5 ms of CPU per request, more than
//! the page's largest read. Now the row holds `record_types text[]` beside `record_ids`,
//! position by position, both bound as array literals: no JSON is built, parsed or stored,
//! and the ids are stored once.
//!
//! The `audit_trail` view unpacks the two arrays together (`unnest … WITH ORDINALITY`),
//! with the same row ids as before: a read's id is its request row's id with the last
//! four bytes replaced by its position.
//!
//! SQLite keeps the JSON text of m0008: it has no arrays and no GIN index to feed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
DROP VIEW IF EXISTS audit_trail;
ALTER TABLE audit_reads ADD COLUMN IF NOT EXISTS record_types text[];
UPDATE audit_reads SET record_types = ARRAY(SELECT e.value->>0 FROM jsonb_array_elements(records) WITH ORDINALITY AS e(value, n) ORDER BY e.n)
 WHERE record_types IS NULL;
ALTER TABLE audit_reads ALTER COLUMN record_types SET NOT NULL;
ALTER TABLE audit_reads DROP COLUMN IF EXISTS records;

CREATE VIEW audit_trail AS
SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id,
       ARRAY[record_id] AS record_ids
  FROM audit_events
UNION ALL
SELECT encode(substring(uuid_send(r.id) FROM 1 FOR 12) || int4send(e.n::int), 'hex')::uuid,
       r.occurred_at, r.request_id, r.subject, r.organization_id, r.roles, 'read',
       e.record_type, e.record_id, r.record_ids
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
