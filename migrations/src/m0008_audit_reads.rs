//! What a request was shown becomes one row per request, not one per record.
//!
//! `audit_reads` holds, per request that showed personal data: who (subject, organisation,
//! roles), when, which request, and the records shown as one JSON array of
//! `[record type, record id]` (`jsonb` on PostgreSQL, JSON text on SQLite). On PostgreSQL the row also carries the record ids as a
//! `uuid[]` with a GIN index, so "who has seen this person" finds its requests through
//! the index, and the table is partitioned by month like `audit_events`. A page of 50
//! families (about a thousand records) is then one row and one index entry per record in
//! a GIN pending list, instead of a thousand rows in four b-trees.
//!
//! `audit_trail` is the view the audit queries read: the write events of `audit_events`
//! and the reads of `audit_reads`, one row per record shown, as before. A read's row id is
//! its request row's id with the last four bytes replaced by its position in the array,
//! so ids stay unique and in order (request, then position) and cursors keep working.
//!
//! The existing read events move into `audit_reads`, grouped by request.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
CREATE TABLE IF NOT EXISTS audit_reads (
    id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    request_id varchar(64) NOT NULL,
    subject varchar(256) NOT NULL,
    organization_id uuid NOT NULL,
    roles varchar(256) NOT NULL,
    records jsonb NOT NULL,
    record_ids uuid[] NOT NULL,
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE TABLE IF NOT EXISTS audit_reads_default PARTITION OF audit_reads DEFAULT;
CREATE INDEX IF NOT EXISTS ix_audit_reads_organization_id_occurred_at ON audit_reads (organization_id, occurred_at);
CREATE INDEX IF NOT EXISTS ix_audit_reads_request_id ON audit_reads (request_id);
CREATE INDEX IF NOT EXISTS ix_audit_reads_record_ids ON audit_reads USING gin (record_ids);

-- The monthly partitions the moved events and this month's reads belong in, made before
-- the rows arrive: a month whose rows already sit in the default partition can get no
-- partition of its own. Names and bounds as Store::ensure_audit_partitions makes them.
DO $$
DECLARE month date;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date FROM audit_events
                  WHERE operation = 'read'
                 UNION SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date
    LOOP
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_reads FOR VALUES FROM (%L) TO (%L)',
                       'audit_reads_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM'),
                       month::text || ' 00:00:00+00', (month + interval '1 month')::date::text || ' 00:00:00+00');
    END LOOP;
END $$;

INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, records, record_ids)
SELECT min(id::text)::uuid, min(occurred_at), request_id, subject, organization_id, roles,
       jsonb_agg(jsonb_build_array(record_type, replace(record_id::text, '-', '')) ORDER BY id),
       array_agg(record_id ORDER BY id)
  FROM audit_events WHERE operation = 'read'
 GROUP BY request_id, subject, organization_id, roles;
DELETE FROM audit_events WHERE operation = 'read';

CREATE OR REPLACE VIEW audit_trail AS
SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id,
       ARRAY[record_id] AS record_ids
  FROM audit_events
UNION ALL
SELECT encode(substring(uuid_send(r.id) FROM 1 FOR 12) || int4send(e.n::int), 'hex')::uuid,
       r.occurred_at, r.request_id, r.subject, r.organization_id, r.roles, 'read',
       e.value->>0, (e.value->>1)::uuid, r.record_ids
  FROM audit_reads r CROSS JOIN LATERAL jsonb_array_elements(r.records) WITH ORDINALITY AS e(value, n);
"#;

const SQLITE: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS audit_reads (
    id blob NOT NULL PRIMARY KEY,
    occurred_at text NOT NULL,
    request_id varchar(64) NOT NULL,
    subject varchar(256) NOT NULL,
    organization_id blob NOT NULL,
    roles varchar(256) NOT NULL,
    records text NOT NULL
)"#,
    "CREATE INDEX IF NOT EXISTS ix_audit_reads_organization_id_occurred_at ON audit_reads (organization_id, occurred_at)",
    "CREATE INDEX IF NOT EXISTS ix_audit_reads_request_id ON audit_reads (request_id)",
    r#"INSERT OR IGNORE INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, records)
SELECT min(id), min(occurred_at), request_id, subject, organization_id, roles,
       json_group_array(json_array(record_type, lower(hex(record_id))))
  FROM (SELECT * FROM audit_events WHERE operation = 'read' ORDER BY id)
 GROUP BY request_id, subject, organization_id, roles"#,
    "DELETE FROM audit_events WHERE operation = 'read'",
    "DROP VIEW IF EXISTS audit_trail",
    r#"CREATE VIEW audit_trail AS
SELECT id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id
  FROM audit_events
UNION ALL
SELECT unhex(hex(substr(r.id, 1, 12)) || printf('%08X', j.key + 1)),
       r.occurred_at, r.request_id, r.subject, r.organization_id, r.roles, 'read',
       j.value->>0, unhex(j.value->>1)
  FROM audit_reads r, json_each(r.records) j"#,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        if m.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(POSTGRES).await?;
        } else {
            for statement in SQLITE {
                db.execute_unprepared(statement).await?;
            }
        }
        Ok(())
    }
}
