//! The guidance as records: plan lifecycle, reviews with progress per goal, support
//! offers, sub-goals (001); visit arrangements (001); parental-role support (000).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index, owned, unique};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["activated_on", "closed_on"] {
            if !m.has_column("parent_action_plans", column).await? {
                m.alter_table(Table::alter().table("parent_action_plans").add_column(date_null(column)).to_owned())
                    .await?;
            }
        }

        m.create_table(
            owned("plan_reviews")
                .col(uuid("plan_id"))
                .col(string_len("kind", 40))
                .col(date("held_on"))
                .col(text_null("note"))
                .col(text_null("adjustments"))
                .col(date_null("next_review_on"))
                .foreign_key(&mut fk("plan_reviews", "plan_id", "parent_action_plans"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("plan_reviews", &["plan_id", "held_on"])).await?;

        m.create_table(
            Table::create()
                .table("plan_review_progress")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(uuid("review_id"))
                .col(uuid("goal_id"))
                .col(integer("score"))
                .col(text_null("note"))
                .foreign_key(&mut fk("plan_review_progress", "review_id", "plan_reviews"))
                .foreign_key(&mut fk("plan_review_progress", "goal_id", "plan_goals"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("plan_review_progress", &["review_id", "goal_id"])).await?;

        m.create_table(
            owned("support_offers")
                .col(timestamp_with_time_zone("updated_at"))
                .col(integer("version"))
                .col(uuid("placement_id"))
                .col(string_len("kind", 60))
                .col(date("offered_on"))
                .col(string_len("response", 40))
                .col(date_null("responded_on"))
                .col(date_null("reoffer_on"))
                .foreign_key(&mut fk("support_offers", "placement_id", "placements"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("support_offers", &["placement_id", "offered_on"])).await?;

        m.create_table(
            owned("sub_goals")
                .col(timestamp_with_time_zone("updated_at"))
                .col(integer("version"))
                .col(uuid("goal_id"))
                .col(text("description"))
                .col(uuid("owner_organization_id"))
                .col(string_len("owner_name", 200))
                .col(string_len("status", 40))
                .foreign_key(&mut fk("sub_goals", "goal_id", "plan_goals"))
                .foreign_key(&mut fk("sub_goals", "owner_organization_id", "organizations"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("sub_goals", &["goal_id"])).await?;
        m.create_index(index("sub_goals", &["owner_organization_id"])).await?;

        m.create_table(
            owned("visit_arrangements")
                .col(timestamp_with_time_zone("updated_at"))
                .col(integer("version"))
                .col(uuid("placement_id"))
                .col(integer("interval_days"))
                .col(string_len("supervision", 40))
                .col(string_len_null("supervisor_name", 200))
                .foreign_key(&mut fk("visit_arrangements", "placement_id", "placements"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("visit_arrangements", &["placement_id"])).await?;

        m.create_table(
            owned("parental_support_notes")
                .col(uuid("client_id"))
                .col(date("noted_on"))
                .col(text("text"))
                .foreign_key(&mut fk("parental_support_notes", "client_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("parental_support_notes", &["client_id", "noted_on"])).await?;

        m.create_table(
            owned("kopp_interviews")
                .col(uuid("client_id"))
                .col(date("held_on"))
                .col(text_null("note"))
                .foreign_key(&mut fk("kopp_interviews", "client_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("kopp_interviews", &["client_id"])).await?;

        m.create_table(
            Table::create()
                .table("kopp_participants")
                .if_not_exists()
                .col(uuid("interview_id"))
                .col(uuid("person_id"))
                .col(string_len("role", 40))
                .primary_key(Index::create().col("interview_id").col("person_id"))
                .foreign_key(&mut fk("kopp_participants", "interview_id", "kopp_interviews"))
                .foreign_key(&mut fk("kopp_participants", "person_id", "persons"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            owned("resilience_pillar_records")
                .col(uuid("client_id"))
                .col(string_len("pillar", 60))
                .col(string_len("status", 40))
                .col(date("recorded_on"))
                .col(text_null("note"))
                .foreign_key(&mut fk("resilience_pillar_records", "client_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("resilience_pillar_records", &["client_id", "pillar"])).await?;

        m.create_table(
            owned("other_parent_support")
                .col(uuid("client_id"))
                .col(uuid("other_parent_id"))
                .col(date("recorded_on"))
                .col(boolean("wellbeing_asked"))
                .col(boolean("network_involved"))
                .col(boolean("informed_of_support_options"))
                .col(text_null("note"))
                .foreign_key(&mut fk("other_parent_support", "client_id", "persons"))
                .foreign_key(&mut fk("other_parent_support", "other_parent_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("other_parent_support", &["client_id"])).await?;
        Ok(())
    }
}
