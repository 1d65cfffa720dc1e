//! Notifications of key people around a child, made with the client's consent (000).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_key_person_notifications_{column}"))
        .from("key_person_notifications", column.to_owned())
        .to(to.to_owned(), "id")
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("key_person_notifications")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("organization_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(uuid("client_id"))
                .col(uuid("key_person_id"))
                .col(date("notified_on"))
                .col(text_null("note"))
                .foreign_key(&mut fk("organization_id", "organizations"))
                .foreign_key(&mut fk("client_id", "persons"))
                .foreign_key(&mut fk("key_person_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_key_person_notifications_client_id")
                .table("key_person_notifications")
                .col("client_id")
                .if_not_exists()
                .to_owned(),
        )
        .await
    }
}
