//! What the write path needs to hold under concurrency and retries.
//!
//! - `idempotency_keys.outcome`: what the first request with a key did (`created`,
//!   `updated`, `unchanged`), so that a retry answers as the first request was answered,
//!   `created: true` included. The key row is now claimed at the start of the write and
//!   completed at its commit (see `write.rs`).
//! - A national id once per organisation and identifier system: two person records of one
//!   organisation with the same national id are the same person registered twice.
//! - A token subject once per organisation among its family partners: the subject is how
//!   a partner signs in, and decides which assignments and clients they see.
//!
//! Both indexes are partial (`WHERE …`), which PostgreSQL and SQLite alike support. A
//! database that already holds such duplicates stops this migration with the index's
//! error: they must be merged by hand, since only a caseworker knows which record is right.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("idempotency_keys", "outcome").await? {
            m.alter_table(
                Table::alter().table("idempotency_keys").add_column(string_len_null("outcome", 16)).to_owned(),
            )
            .await?;
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_person_identifiers_national_id \
             ON person_identifiers (organization_id, system, value) WHERE kind = 'NATIONAL_ID'",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_family_partners_organization_id_subject \
             ON family_partners (organization_id, subject) WHERE subject IS NOT NULL",
        )
        .await?;
        Ok(())
    }
}
