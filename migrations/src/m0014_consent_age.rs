//! The age from which a young person gives consent about their own case, per
//! organisation (`kinbridge organizations configure --young-person-consent-age`). Existing
//! organisations get the documented default, 15 (`kinbridge_domain::sharing::ConsentAge`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if !m.has_column("organizations", "young_person_consent_age").await? {
            m.alter_table(
                Table::alter()
                    .table("organizations")
                    .add_column(ColumnDef::new("young_person_consent_age").integer().not_null().default(15))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
