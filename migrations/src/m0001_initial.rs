//! The first schema: organisations, persons, families, the five aggregates, and the audit,
//! outbox and idempotency tables every write goes through.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::helpers::{fk, index, owned, unique, versioned};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("organizations")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(string_len("kind", 40))
                .col(string_len("name", 200))
                .col(string_len("code", 128))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("organizations", &["kind", "code"])).await?;

        m.create_table(
            versioned(
                owned("persons")
                    .col(string_len("given_name", 200))
                    .col(string_len("family_name", 200))
                    .col(date_null("birth_date")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(index("persons", &["organization_id", "id"])).await?;

        m.create_table(
            owned("person_identifiers")
                .col(uuid("person_id"))
                .col(string_len("kind", 40))
                .col(string_len("system", 128))
                .col(string_len("value", 128))
                .foreign_key(&mut fk("person_identifiers", "person_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("person_identifiers", &["person_id", "kind", "system"])).await?;
        // Exact-match look-up of an identifier within the owning organisation.
        m.create_index(index("person_identifiers", &["organization_id", "system", "value"])).await?;

        m.create_table(
            versioned(owned("families").col(string_len_null("external_id", 128)).col(string_len("name", 200)))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("families", &["organization_id", "external_id"])).await?;
        m.create_index(index("families", &["organization_id", "id"])).await?;

        m.create_table(
            owned("family_members")
                .col(uuid("family_id"))
                .col(uuid("person_id"))
                .col(string_len("role", 40))
                .col(uuid_null("residence_municipality_id"))
                .foreign_key(&mut fk("family_members", "family_id", "families"))
                .foreign_key(&mut fk("family_members", "person_id", "persons"))
                .foreign_key(&mut fk("family_members", "residence_municipality_id", "organizations"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("family_members", &["family_id", "person_id"])).await?;
        m.create_index(index("family_members", &["person_id"])).await?;

        m.create_table(
            versioned(
                owned("placements")
                    .col(uuid("family_id"))
                    .col(uuid("child_id"))
                    .col(uuid_null("provider_id"))
                    .col(string_len_null("external_id", 128))
                    .col(string_len("setting", 40))
                    .col(boolean("voluntary"))
                    .col(date("decision_date"))
                    .col(date("start_date"))
                    .col(date_null("end_date"))
                    .col(string_len_null("end_reason", 40))
                    .foreign_key(&mut fk("placements", "family_id", "families"))
                    .foreign_key(&mut fk("placements", "child_id", "persons"))
                    .foreign_key(&mut fk("placements", "provider_id", "organizations")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(unique("placements", &["organization_id", "external_id"])).await?;
        m.create_index(index("placements", &["family_id", "id"])).await?;
        m.create_index(index("placements", &["child_id"])).await?;
        m.create_index(index("placements", &["provider_id"])).await?;

        m.create_table(
            versioned(
                owned("contact_visits")
                    .col(uuid("placement_id"))
                    .col(string_len_null("external_id", 128))
                    .col(timestamp_with_time_zone("planned_start"))
                    .col(timestamp_with_time_zone("planned_end"))
                    .col(text_null("location"))
                    .col(string_len("supervision", 40))
                    .col(string_len_null("supervisor_name", 200))
                    .col(string_len("status", 40))
                    .col(string_len_null("cancelled_by", 40))
                    .col(timestamp_with_time_zone_null("cancelled_at"))
                    .col(text_null("cancellation_reason"))
                    .col(text_null("observations"))
                    .col(timestamp_with_time_zone_null("outcome_recorded_at"))
                    .foreign_key(&mut fk("contact_visits", "placement_id", "placements")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(unique("contact_visits", &["organization_id", "external_id"])).await?;
        m.create_index(index("contact_visits", &["placement_id", "id"])).await?;
        m.create_index(index("contact_visits", &["placement_id", "planned_start"])).await?;

        m.create_table(
            Table::create()
                .table("contact_visit_participants")
                .if_not_exists()
                .col(uuid("visit_id"))
                .col(uuid("person_id"))
                .primary_key(Index::create().col("visit_id").col("person_id"))
                .foreign_key(&mut fk("contact_visit_participants", "visit_id", "contact_visits"))
                .foreign_key(&mut fk("contact_visit_participants", "person_id", "persons"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            versioned(
                owned("parent_action_plans")
                    .col(uuid("family_id"))
                    .col(uuid("placement_id"))
                    .col(string_len("status", 40))
                    .col(integer("review_interval_days"))
                    .col(string_len_null("child_plan_reference", 128))
                    .foreign_key(&mut fk("parent_action_plans", "family_id", "families"))
                    .foreign_key(&mut fk("parent_action_plans", "placement_id", "placements")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(index("parent_action_plans", &["family_id", "id"])).await?;
        m.create_index(index("parent_action_plans", &["placement_id"])).await?;

        m.create_table(
            owned("plan_goals")
                .col(uuid("plan_id"))
                .col(integer("position"))
                .col(text("description"))
                .col(string_len("purpose", 40))
                .foreign_key(&mut fk("plan_goals", "plan_id", "parent_action_plans"))
                .to_owned(),
        )
        .await?;
        m.create_index(unique("plan_goals", &["plan_id", "position"])).await?;

        m.create_table(
            versioned(
                owned("family_partners")
                    .col(string_len("given_name", 200))
                    .col(string_len("family_name", 200))
                    .col(string_len("certification_status", 40))
                    .col(date_null("certified_on"))
                    .col(date_null("renewal_due"))
                    .col(date_null("training_deadline")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(index("family_partners", &["organization_id", "id"])).await?;

        m.create_table(
            owned("service_eligibilities")
                .col(uuid("child_id"))
                .col(uuid("caregiver_id"))
                .col(date("eligible_from"))
                .col(date_null("eligible_to"))
                .foreign_key(&mut fk("service_eligibilities", "child_id", "persons"))
                .foreign_key(&mut fk("service_eligibilities", "caregiver_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("service_eligibilities", &["child_id"])).await?;

        m.create_table(
            versioned(
                owned("family_partner_assignments")
                    .col(uuid("family_partner_id"))
                    .col(uuid("eligibility_id"))
                    .col(uuid("caregiver_id"))
                    .col(date("start_date"))
                    .col(date_null("end_date"))
                    .foreign_key(&mut fk("family_partner_assignments", "family_partner_id", "family_partners"))
                    .foreign_key(&mut fk("family_partner_assignments", "eligibility_id", "service_eligibilities"))
                    .foreign_key(&mut fk("family_partner_assignments", "caregiver_id", "persons")),
            )
            .to_owned(),
        )
        .await?;
        m.create_index(index("family_partner_assignments", &["family_partner_id"])).await?;
        m.create_index(index("family_partner_assignments", &["caregiver_id"])).await?;

        m.create_table(
            owned("family_partner_services")
                .col(uuid("assignment_id"))
                .col(uuid("recipient_id"))
                .col(date("service_date"))
                .col(integer("minutes"))
                .col(string_len("activity", 40))
                .foreign_key(&mut fk("family_partner_services", "assignment_id", "family_partner_assignments"))
                .foreign_key(&mut fk("family_partner_services", "recipient_id", "persons"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("family_partner_services", &["assignment_id", "service_date"])).await?;

        // Append-only: no code path updates or deletes a row of this table.
        m.create_table(
            Table::create()
                .table("audit_events")
                .if_not_exists()
                .col(uuid("id").primary_key())
                .col(timestamp_with_time_zone("occurred_at"))
                .col(string_len("request_id", 64))
                .col(string_len("subject", 256))
                .col(uuid("organization_id"))
                .col(string_len("roles", 256))
                .col(string_len("operation", 100))
                .col(string_len("record_type", 60))
                .col(uuid("record_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("audit_events", &["organization_id", "occurred_at"])).await?;
        m.create_index(index("audit_events", &["record_id"])).await?;

        // The change feed. Rows are read in `id` order by cursor.
        m.create_table(
            Table::create()
                .table("outbox")
                .if_not_exists()
                .col(big_pk_auto("id"))
                .col(timestamp_with_time_zone("occurred_at"))
                .col(uuid("organization_id"))
                .col(string_len("aggregate_type", 60))
                .col(uuid("aggregate_id"))
                .col(string_len("event_type", 100))
                .col(text("payload"))
                .to_owned(),
        )
        .await?;
        m.create_index(index("outbox", &["organization_id", "id"])).await?;

        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .if_not_exists()
                .col(uuid("organization_id"))
                .col(string_len("key", 200))
                .col(string_len("operation", 100))
                .col(string_len("request_hash", 64))
                .col(uuid("record_id"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("organization_id").col("key"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
