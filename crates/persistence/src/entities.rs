//! sea-orm entities, one per table. Rows are plain data; the repositories turn domain
//! values into rows and back. Models may hold personal data: never log one.

macro_rules! entity {
    ($(#[$meta:meta])* $module:ident, $table:literal, { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: Uuid,
                $(pub $field: $ty,)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}

            impl crate::entities::FromRow for Model {
                const POSITIONAL: bool = true;

                fn from_row(row: &sea_orm::QueryResult, start: usize) -> Result<Self, DbErr> {
                    let mut i = start;
                    if let Some(r) = row.try_as_pg_row() {
                        return Ok(Self {
                            id: crate::entities::at(r, &mut i)?,
                            $($field: crate::entities::at(r, &mut i)?,)*
                        });
                    }
                    if let Some(r) = row.try_as_sqlite_row() {
                        return Ok(Self {
                            id: crate::entities::at(r, &mut i)?,
                            $($field: crate::entities::at(r, &mut i)?,)*
                        });
                    }
                    <Self as sea_orm::FromQueryResult>::from_query_result(row, "")
                }
            }
        }
    };
}

/// A model read by column position, straight from the driver's row: for the reads that
/// return many rows (a level's pages and references, `assoc.rs`), which select the
/// model's columns in its field order.
///
/// sea-orm's own `FromQueryResult` finds every column by name, and turns every NULL of an
/// optional column into an error whose message it formats before it becomes `None`:
/// measured on a page of 50 families, decoding the contact visits that way was 16 % of
/// the service's CPU per request.
pub trait FromRow: sea_orm::FromQueryResult {
    /// Whether [`FromRow::from_row`] reads the columns by position from `start` (and can
    /// therefore read a row holding other tables' columns of the same names).
    const POSITIONAL: bool = false;

    /// The model from `row`'s columns `start..`, in the model's field order. By default
    /// (the entities not declared with `entity!`), by column name.
    fn from_row(row: &sea_orm::QueryResult, start: usize) -> Result<Self, sea_orm::DbErr> {
        let _ = start;
        Self::from_query_result(row, "")
    }
}

/// The value of column `*i` of `row`; moves `*i` to the next column.
///
/// Decoded without the driver's check that the column's database type suits `T`: the
/// statement names the entity's own columns of its own table, in field order, so the
/// types are the migrations' and the model's, which every read of the test suites
/// decodes. The check cloned and compared type descriptions for each of the thousands of
/// values a page reads: with it, decoding was 9.7 % of the service's CPU on a page of 50
/// families at 8 connections, without it 7.8 % (`perf`). A value that still does not
/// decode is an error, as before.
pub(crate) fn at<'r, R, T>(row: &'r R, i: &mut usize) -> Result<T, sea_orm::DbErr>
where
    R: sea_orm::sqlx::Row,
    usize: sea_orm::sqlx::ColumnIndex<R>,
    T: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
{
    let value = row
        .try_get_unchecked::<T, usize>(*i)
        .map_err(|e| sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e))))?;
    *i += 1;
    Ok(value)
}

/// Implements [`Versioned`](crate::write::Versioned) for entities with `version` and
/// `updated_at` columns: the ones a write updates through `WriteTx::update`.
macro_rules! versioned {
    ($($module:ident),+ $(,)?) => {
        $(impl crate::write::Versioned for $module::Entity {
            const ID: $module::Column = $module::Column::Id;
            const VERSION: $module::Column = $module::Column::Version;
            const UPDATED_AT: $module::Column = $module::Column::UpdatedAt;
        })+
    };
}

versioned!(
    person,
    family,
    placement,
    contact_visit,
    parent_action_plan,
    support_offer,
    sub_goal,
    visit_arrangement,
    network_map_entry,
    family_partner,
    referral,
    family_partner_assignment,
);

entity!(organization, "organizations", {
    kind: String, name: String, code: String, created_at: DateTimeUtc, disabled_at: Option<DateTimeUtc>,
    young_person_consent_age: i32,
});

entity!(person, "persons", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    given_name: String, family_name: String, birth_date: Option<Date>,
});

entity!(person_identifier, "person_identifiers", {
    organization_id: Uuid, created_at: DateTimeUtc, person_id: Uuid, kind: String, system: String, value: String,
});

entity!(family, "families", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    external_id: Option<String>, name: String, caseworker_contact: Option<String>,
});

entity!(family_member, "family_members", {
    organization_id: Uuid, created_at: DateTimeUtc, family_id: Uuid, person_id: Uuid, role: String,
    residence_municipality_id: Option<Uuid>,
});

entity!(
    /// One helper on a family's network map.
    network_map_entry, "network_map_entries", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    family_id: Uuid, person_id: Uuid, member_id: Option<Uuid>, relationship: Option<String>, help: String,
    description: String, since: Date, until: Option<Date>,
});

entity!(placement, "placements", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    family_id: Uuid, child_id: Uuid, provider_id: Option<Uuid>, external_id: Option<String>, setting: String,
    voluntary: bool, decision_date: Date, start_date: Date, end_date: Option<Date>, end_reason: Option<String>,
});

entity!(contact_visit, "contact_visits", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    placement_id: Uuid, external_id: Option<String>, planned_start: DateTimeUtc, planned_end: DateTimeUtc,
    location: Option<String>, supervision: String, supervisor_name: Option<String>, status: String,
    cancelled_by: Option<String>, cancelled_at: Option<DateTimeUtc>, cancellation_reason: Option<String>,
    observations: Option<String>, outcome_recorded_at: Option<DateTimeUtc>,
});

entity!(parent_action_plan, "parent_action_plans", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    family_id: Uuid, placement_id: Uuid, status: String, review_interval_days: i32,
    child_plan_reference: Option<String>, activated_on: Option<Date>, closed_on: Option<Date>,
    next_review_due: Option<Date>,
});

entity!(
    /// A plan meeting or status meeting.
    plan_review, "plan_reviews", {
    organization_id: Uuid, created_at: DateTimeUtc, plan_id: Uuid, kind: String, held_on: Date,
    note: Option<String>, adjustments: Option<String>, next_review_on: Option<Date>,
});

entity!(
    /// Progress on one goal at one review.
    plan_review_progress, "plan_review_progress", {
    review_id: Uuid, goal_id: Uuid, score: i32, note: Option<String>,
});

entity!(
    /// Support offered to the parents of a placed child.
    support_offer, "support_offers", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    placement_id: Uuid, kind: String, offered_on: Date, response: String, responded_on: Option<Date>,
    reoffer_on: Option<Date>,
});

entity!(
    /// A concrete step under a goal, owned by a family therapist or support person.
    sub_goal, "sub_goals", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    goal_id: Uuid, description: String, owner_organization_id: Uuid, owner_name: String, status: String,
});

entity!(
    /// How often and how contact visits of a placement take place.
    visit_arrangement, "visit_arrangements", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    placement_id: Uuid, interval_days: i32, supervision: String, supervisor_name: Option<String>,
});

entity!(
    /// A dated note of how a client was supported in the role as a parent.
    parental_support_note, "parental_support_notes", {
    organization_id: Uuid, created_at: DateTimeUtc, client_id: Uuid, noted_on: Date, text: String,
});

entity!(
    /// A KOPP (COPMI) prevention interview with a client.
    kopp_interview, "kopp_interviews", {
    organization_id: Uuid, created_at: DateTimeUtc, client_id: Uuid, held_on: Date, note: Option<String>,
});

entity!(
    /// The status of one pillar of the children's resilience, as recorded on a day.
    resilience_pillar_record, "resilience_pillar_records", {
    organization_id: Uuid, created_at: DateTimeUtc, client_id: Uuid, pillar: String, status: String,
    recorded_on: Date, note: Option<String>,
});

entity!(
    /// Support given to the other parent.
    other_parent_support, "other_parent_support", {
    organization_id: Uuid, created_at: DateTimeUtc, client_id: Uuid, other_parent_id: Uuid, recorded_on: Date,
    wellbeing_asked: bool, network_involved: bool, informed_of_support_options: bool, note: Option<String>,
});

/// Who took part in a KOPP interview besides the client.
pub mod kopp_participant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "kopp_participants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub interview_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
        pub role: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::entities::FromRow for Model {}
}

entity!(plan_goal, "plan_goals", {
    organization_id: Uuid, created_at: DateTimeUtc, plan_id: Uuid, position: i32, description: String, purpose: String,
});

entity!(family_partner, "family_partners", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    given_name: String, family_name: String, certification_status: String, certified_on: Option<Date>,
    renewal_due: Option<Date>, training_deadline: Option<Date>, subject: Option<String>,
});

entity!(
    /// A municipality's referral of a family to a family services provider.
    referral, "referrals", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    family_id: Uuid, provider_id: Uuid, starts_on: Date, ends_on: Option<Date>,
});

entity!(
    /// A record that a key person around a child was notified, with the client's consent.
    key_person_notification, "key_person_notifications", {
    organization_id: Uuid, created_at: DateTimeUtc, client_id: Uuid, key_person_id: Uuid, notified_on: Date,
    note: Option<String>,
});

entity!(
    /// A person's consent, for a purpose, to a recipient organisation.
    consent, "consents", {
    organization_id: Uuid, created_at: DateTimeUtc, person_id: Uuid, purpose: String, recipient_id: Uuid,
    given_on: Date, revoked_at: Option<DateTimeUtc>,
});

entity!(
    /// A person or family erased: when, on which basis (`REQUEST`, `RETENTION`) and who
    /// decided it. The record itself stays, pseudonymised.
    erasure, "erasures", {
    organization_id: Uuid, created_at: DateTimeUtc, record_type: String, record_id: Uuid, basis: String,
    decided_by: String, reason: Option<String>,
});

entity!(service_eligibility, "service_eligibilities", {
    organization_id: Uuid, created_at: DateTimeUtc, child_id: Uuid, caregiver_id: Uuid,
    eligible_from: Date, eligible_to: Option<Date>,
});

entity!(family_partner_assignment, "family_partner_assignments", {
    organization_id: Uuid, created_at: DateTimeUtc, updated_at: DateTimeUtc, version: i32,
    family_partner_id: Uuid, eligibility_id: Uuid, caregiver_id: Uuid, start_date: Date, end_date: Option<Date>,
});

entity!(family_partner_service, "family_partner_services", {
    organization_id: Uuid, created_at: DateTimeUtc, assignment_id: Uuid, recipient_id: Uuid, service_date: Date,
    minutes: i32, activity: String,
});

entity!(
    /// A write's audit event. Append-only: no code path updates or deletes an audit event.
    audit_event, "audit_events", {
    occurred_at: DateTimeUtc, request_id: String, subject: String, organization_id: Uuid, roles: String,
    operation: String, record_type: String, record_id: Uuid,
});

entity!(
    /// The audit trail as its readers see it (a view): the write events, and one row per
    /// record each request was shown, unpacked from `audit_reads` (see migrations m0008 and m0009).
    audit_trail, "audit_trail", {
    occurred_at: DateTimeUtc, request_id: String, subject: String, organization_id: Uuid, roles: String,
    operation: String, record_type: String, record_id: Uuid,
});

/// Who took part in a contact visit.
pub mod contact_visit_participant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contact_visit_participants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub visit_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::entities::FromRow for Model {}
}

/// The change feed: one row per committed change, read in `position` order (see
/// `Store::sequence_changes`).
pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub occurred_at: DateTimeUtc,
        pub organization_id: Uuid,
        pub aggregate_type: String,
        pub aggregate_id: Uuid,
        pub event_type: String,
        pub payload: String,
        /// Where the change stands in the feed; `None` until it is sequenced, after its
        /// transaction committed.
        pub position: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::entities::FromRow for Model {}
}

/// Idempotency keys of retried writes, per organisation.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub operation: String,
        pub request_hash: String,
        /// The record the first request wrote; the nil id while that request is still
        /// under way (its transaction holds the row).
        pub record_id: Uuid,
        pub created_at: DateTimeUtc,
        /// What the first request did: `created`, `updated` or `unchanged`.
        pub outcome: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
