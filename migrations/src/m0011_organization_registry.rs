//! Organisations can be disabled by an operator (`kinbridge organizations disable`): the
//! registry keeps them, with everything they recorded, but their tokens are refused.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("organizations", "disabled_at").await? {
            m.alter_table(
                Table::alter()
                    .table("organizations")
                    .add_column(timestamp_with_time_zone_null("disabled_at"))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
