//! The family's network map (000, 001): who in the parents' network can help, how, and
//! since when. Each entry names its helper as a person (a member of the family, or someone
//! outside it) and, for a member, the membership; the owning municipality is the family's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index, owned, versioned};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let table = "network_map_entries";
        m.create_table(
            versioned(&mut owned(table))
                .col(uuid("family_id"))
                .col(uuid("person_id"))
                .col(uuid_null("member_id"))
                .col(string_len_null("relationship", 200))
                .col(string_len("help", 40))
                .col(text("description"))
                .col(date("since"))
                .col(date_null("until"))
                .foreign_key(&mut fk(table, "family_id", "families"))
                .foreign_key(&mut fk(table, "person_id", "persons"))
                .foreign_key(&mut fk(table, "member_id", "family_members"))
                .to_owned(),
        )
        .await?;
        // A family's map, read for a page of families at once; a person's entries, for
        // their access log.
        m.create_index(index(table, &["family_id", "id"])).await?;
        m.create_index(index(table, &["person_id"])).await?;
        Ok(())
    }
}
