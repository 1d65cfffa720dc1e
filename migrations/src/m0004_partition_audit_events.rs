//! On PostgreSQL, the audit trail (the fastest-growing table) becomes a table partitioned
//! by month of `occurred_at`, so that old months can be detached and archived without
//! touching current ones. SQLite keeps the plain table.
//!
//! Monthly partitions are created ahead of time by `Store::ensure_audit_partitions`, at
//! every start and daily; the default partition only catches rows of a month whose
//! partition was not made in time, so that no audit event is ever refused.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PARTITION: &str = r#"
ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX IF EXISTS ix_audit_events_organization_id_occurred_at RENAME TO ix_audit_events_unpartitioned_org;
ALTER INDEX IF EXISTS ix_audit_events_record_id RENAME TO ix_audit_events_unpartitioned_record;
CREATE TABLE audit_events (
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    request_id varchar(64) NOT NULL,
    subject varchar(256) NOT NULL,
    organization_id uuid NOT NULL,
    roles varchar(256) NOT NULL,
    operation varchar(100) NOT NULL,
    record_type varchar(60) NOT NULL,
    record_id uuid NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX ix_audit_events_organization_id_occurred_at ON audit_events (organization_id, occurred_at);
CREATE INDEX ix_audit_events_record_id ON audit_events (record_id);
CREATE INDEX ix_audit_events_request_id ON audit_events (request_id);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;
INSERT INTO audit_events SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id
    FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        m.get_connection().execute_unprepared(PARTITION).await.map(|_| ())
    }
}
