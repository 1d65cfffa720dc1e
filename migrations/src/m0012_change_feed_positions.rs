//! An exact change-feed cursor: `outbox.position`, the order in which changes became
//! visible.
//!
//! An outbox row's `id` is taken while its transaction is still open, so on PostgreSQL a
//! row with a smaller id can commit after a larger one, and a reader resuming after the
//! larger id would skip it. `position` is assigned only to committed rows, by one relay at
//! a time (`Store::sequence_changes`), each time above every position assigned before: a
//! reader that has passed position `p` can never be handed a row at or below `p` later.
//! Rows that are committed but not yet sequenced have `position IS NULL`, and a partial
//! index finds them.
//!
//! The rows already in the feed keep their id as their position, so the cursors
//! integrations hold stay valid.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("outbox", "position").await? {
            m.alter_table(Table::alter().table("outbox").add_column(big_integer_null("position")).to_owned()).await?;
        }
        let db = m.get_connection();
        db.execute_unprepared("UPDATE outbox SET position = id WHERE position IS NULL").await?;
        db.execute_unprepared("CREATE UNIQUE INDEX IF NOT EXISTS ux_outbox_position ON outbox (position)").await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_outbox_organization_id_position ON outbox (organization_id, position)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS ix_outbox_unsequenced ON outbox (id) WHERE position IS NULL")
            .await?;
        Ok(())
    }
}
