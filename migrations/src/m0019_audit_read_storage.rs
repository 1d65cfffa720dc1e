//! On PostgreSQL, a read's id arrays (`record_ids`, `index_ids`) are stored out of line
//! without a compression attempt (`STORAGE EXTERNAL`). Ids do not compress: a page of 50
//! families shows about 870 records, a row of about 14 KB and 5 KB of ids, which
//! PostgreSQL's default (`EXTENDED`) first tried to compress with pglz, failed to shrink
//! by the quarter it requires, and then moved out of line as they were. Measured on the
//! 10,000-family set with such a row, one insert a transaction without waiting for the
//! commit: 0.51-0.65 ms with the arrays `EXTERNAL` against 1.03-1.11 ms as before (the
//! record index included; 0.36 against 0.84-0.92 ms without it). `record_types` keeps the
//! default: its repeated names do compress, to about 270 bytes.
//!
//! The change applies to the parent and every partition, and a partition created later
//! (`Store::ensure_audit_partitions`) takes the parent's storage. Rows already written
//! stay as they are: the change is to the catalogue only (no table is rewritten), so the
//! exclusive lock it takes on the trail, which other replicas' audit inserts wait for, is
//! brief. SQLite has no storage modes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES: &str = r#"
ALTER TABLE audit_reads
  ALTER COLUMN record_ids SET STORAGE EXTERNAL,
  ALTER COLUMN index_ids SET STORAGE EXTERNAL;
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
