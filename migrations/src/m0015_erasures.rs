//! Erasures (GDPR art. 5(1)(e), 17): which person or family was erased, when, on which
//! basis (a person's request, or the retention policy) and who decided it. The erased
//! records stay, with their personal fields pseudonymised, so that the audit trail and
//! the statistics keep their references; this table tells what was erased.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{owned, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let table = "erasures";
        m.create_table(
            owned(table)
                .col(string_len("record_type", 40))
                .col(uuid("record_id"))
                .col(string_len("basis", 20))
                .col(string_len("decided_by", 256))
                .col(text_null("reason"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique(table, &["record_id"])).await?;
        Ok(())
    }
}
