//! A plan's next review date, kept on the plan so that "which reviews are overdue" is
//! one indexed query. It is maintained by every change of the plan and its reviews;
//! plans made before this migration get theirs at the next start (Store::backfill_review_dates).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("parent_action_plans", "next_review_due").await? {
            m.alter_table(
                Table::alter().table("parent_action_plans").add_column(date_null("next_review_due")).to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_parent_action_plans_status_next_review_due")
                .table("parent_action_plans")
                .col("status")
                .col("next_review_due")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }
}
