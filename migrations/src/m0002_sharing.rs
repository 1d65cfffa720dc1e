//! Sharing: referrals to family services providers, consents, and the link between a
//! family partner and the token subject they sign in as.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // A municipality refers a family to a family services provider, from a date and
        // until a date or until ended; the provider sees the family while it is active.
        m.create_table(
            Table::create()
                .table("referrals")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("organization_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(integer("version"))
                .col(uuid("family_id"))
                .col(uuid("provider_id"))
                .col(date("starts_on"))
                .col(date_null("ends_on"))
                .foreign_key(&mut fk("referrals", "organization_id", "organizations"))
                .foreign_key(&mut fk("referrals", "family_id", "families"))
                .foreign_key(&mut fk("referrals", "provider_id", "organizations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("referrals", &["provider_id", "family_id"])).await?;
        m.create_index(index("referrals", &["family_id"])).await?;

        // A person's consent, for a purpose, to a recipient organisation, from a date,
        // until revoked. Checked when data is read.
        m.create_table(
            Table::create()
                .table("consents")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("organization_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(uuid("person_id"))
                .col(string_len("purpose", 60))
                .col(uuid("recipient_id"))
                .col(date("given_on"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(&mut fk("consents", "organization_id", "organizations"))
                .foreign_key(&mut fk("consents", "person_id", "persons"))
                .foreign_key(&mut fk("consents", "recipient_id", "organizations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("consents", &["recipient_id", "purpose", "person_id"])).await?;
        m.create_index(index("consents", &["person_id"])).await?;

        // The token subject a family partner signs in as, so that they see only their
        // own assignments.
        if !m.has_column("family_partners", "subject").await? {
            m.alter_table(
                Table::alter().table("family_partners").add_column(string_len_null("subject", 256)).to_owned(),
            )
            .await?;
        }
        m.create_index(index("family_partners", &["organization_id", "subject"])).await?;

        // Whom another municipality contacts about the family: the responsible caseworker.
        if !m.has_column("families", "caseworker_contact").await? {
            m.alter_table(
                Table::alter().table("families").add_column(string_len_null("caseworker_contact", 200)).to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
