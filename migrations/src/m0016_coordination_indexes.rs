//! Covering indexes for the residence municipality's coordination view
//! (`crossMunicipalityPlacements`), from `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL 15 over
//! `kinbridge seed --families 10000`:
//!
//! - The families whose parents live in the municipality were found through
//!   `(residence_municipality_id, family_id)` and then the members' rows, read only to
//!   check their role: 98 heap pages for 200 members, 0.75 ms. With the role in the index
//!   it is an index-only scan: 0.1 ms.
//! - The placements of those families were read from the heap, 116 of them, to drop the 95
//!   that the municipality placed itself or that have ended. With the organisation and the
//!   end date in the index, the count is an index-only scan (1.5 ms → 0.5 ms), and the
//!   page picks its ids the same way before it reads the rows it shows.
//! - A placement's latest plan was found by sorting its plans: with `(placement_id, id)`
//!   it is the last entry of one index range.
//!
//! Each supersedes the index it extends, which is dropped so that writes keep one index,
//! not two. SQLite has no `INCLUDE`: there the columns extend the key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, key columns, included columns, the index it supersedes).
const INDEXES: &[(&str, &[&str], &[&str], &str)] = &[
    (
        "family_members",
        &["residence_municipality_id", "family_id"],
        &["role"],
        "ix_family_members_residence_municipality_id_family_id",
    ),
    ("placements", &["family_id", "id"], &["organization_id", "end_date"], "ix_placements_family_id_id"),
    ("parent_action_plans", &["placement_id", "id"], &[], "ix_parent_action_plans_placement_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let postgres = m.get_database_backend() == DbBackend::Postgres;
        for (table, keys, included, superseded) in INDEXES {
            let name =
                format!("ix_{table}_{}", keys.iter().chain(included.iter()).copied().collect::<Vec<_>>().join("_"));
            let sql = if postgres && !included.is_empty() {
                format!(
                    "CREATE INDEX IF NOT EXISTS {name} ON {table} ({}) INCLUDE ({})",
                    keys.join(", "),
                    included.join(", ")
                )
            } else {
                let columns: Vec<&str> = keys.iter().chain(included.iter()).copied().collect();
                format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({})", columns.join(", "))
            };
            m.get_connection().execute_unprepared(&sql).await?;
            m.get_connection().execute_unprepared(&format!("DROP INDEX IF EXISTS {superseded}")).await?;
        }
        Ok(())
    }
}
