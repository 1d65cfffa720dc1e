//! What the computed fields of an object read (a placement's arrangement, a person's
//! identifiers, a review's progress, …), for every object of a level at once.
//!
//! Each lookup takes the ids of all the objects whose field the query selected and
//! answers them with one statement (two for the coordination view's goals: the plans
//! shared, then their goals), so a page of 100 costs what a page of 10 does. An object
//! missing from the answer has nothing to show: no arrangement, no identifiers, no
//! consent to share. Like every read, each filters by the caller's scope inside the
//! statement and logs the records it returns.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use kinbridge_domain::family::{FamilyRole, FamilyStatus};
use kinbridge_domain::ids::{OrganizationId, PersonId, PlacementId};
use kinbridge_domain::sharing::ConsentPurpose;
use kinbridge_domain::visit::{CancelledBy, VisitStatus};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::Store;
use crate::coordination::coordination_condition;
use crate::entities::{
    contact_visit, contact_visit_participant, family_member, family_partner_assignment, kopp_interview,
    kopp_participant, parent_action_plan, person_identifier, placement, plan_goal, plan_review, plan_review_progress,
    resilience_pillar_record, support_offer, visit_arrangement,
};
use crate::error::StoreError;
use crate::records;
use crate::scope::{self, Reader, consented_families, owned_by};

/// Visits in `[from, to)` by planned start, counted per placement, status and who cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitCount {
    pub placement_id: PlacementId,
    pub status: VisitStatus,
    pub cancelled_by: Option<CancelledBy>,
    pub visits: u32,
}

impl Store {
    /// Each person's identifiers; national ids among them go to the owning organisation
    /// only (`scope::person_identifiers`).
    pub async fn person_identifiers(
        &self,
        r: &Reader<'_>,
        persons: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<records::PersonIdentifier>>, StoreError> {
        let rows = person_identifier::Entity::find()
            .filter(scope::person_identifiers(r))
            .filter(person_identifier::Column::PersonId.is_in(persons.iter().copied()))
            .order_by_asc(person_identifier::Column::Id)
            .all(self.conn())
            .await?;
        let found = records::grouped(rows, |i: &records::PersonIdentifier| i.person_id.as_uuid())?;
        found.keys().for_each(|person| r.saw("PersonIdentifier", *person));
        Ok(found)
    }

    /// Each client's resilience pillar records, as the caller's organisation recorded them,
    /// oldest first.
    pub async fn pillar_records(
        &self,
        r: &Reader<'_>,
        clients: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<records::PillarRecord>>, StoreError> {
        let rows = resilience_pillar_record::Entity::find()
            .filter(scope::parental_support(
                r,
                resilience_pillar_record::Column::OrganizationId,
                resilience_pillar_record::Column::ClientId,
            ))
            .filter(resilience_pillar_record::Column::ClientId.is_in(clients.iter().copied()))
            .order_by_asc(resilience_pillar_record::Column::RecordedOn)
            .order_by_asc(resilience_pillar_record::Column::Id)
            .all(self.conn())
            .await?;
        rows.iter().for_each(|x| r.saw("PillarRecord", x.id));
        records::grouped(rows, |x: &records::PillarRecord| x.client_id.as_uuid())
    }

    /// Where each family's parents live: the residence municipalities of its members with
    /// a parent role. A count of places, not a record shown: nothing is logged.
    /// Where each family stands with the placements the caller may see, today; a family
    /// without any is missing from the answer (`NO_PLACEMENT`). The placements' dates are
    /// read, not shown: no record is logged beyond the family the caller was shown.
    pub async fn family_statuses(
        &self,
        r: &Reader<'_>,
        families: &[Uuid],
    ) -> Result<HashMap<Uuid, FamilyStatus>, StoreError> {
        let rows: Vec<(Uuid, NaiveDate, Option<NaiveDate>)> = placement::Entity::find()
            .select_only()
            .column(placement::Column::FamilyId)
            .column(placement::Column::StartDate)
            .column(placement::Column::EndDate)
            .filter(scope::placements(r))
            .filter(placement::Column::FamilyId.is_in(families.iter().copied()))
            .into_tuple()
            .all(self.conn())
            .await?;
        let mut dates: HashMap<Uuid, Vec<(NaiveDate, Option<NaiveDate>)>> = HashMap::new();
        for (family, start, end) in rows {
            dates.entry(family).or_default().push((start, end));
        }
        Ok(dates.into_iter().map(|(family, dates)| (family, FamilyStatus::of(dates, r.today))).collect())
    }

    pub async fn parent_residences(
        &self,
        r: &Reader<'_>,
        families: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<OrganizationId>>, StoreError> {
        let parents: Vec<&str> = FamilyRole::ALL.iter().filter(|r| r.is_parent()).map(|r| r.as_str()).collect();
        let rows: Vec<(Uuid, Option<Uuid>)> = family_member::Entity::find()
            .select_only()
            .column(family_member::Column::FamilyId)
            .column(family_member::Column::ResidenceMunicipalityId)
            .filter(scope::members(r))
            .filter(family_member::Column::FamilyId.is_in(families.iter().copied()))
            .filter(family_member::Column::Role.is_in(parents))
            .into_tuple()
            .all(self.conn())
            .await?;
        let mut found: HashMap<Uuid, Vec<OrganizationId>> = HashMap::new();
        for (family, residence) in rows {
            if let Some(residence) = residence {
                found.entry(family).or_default().push(OrganizationId::from_uuid(residence));
            }
        }
        Ok(found)
    }

    /// How each placement's visits are arranged, for the placements the caller may see.
    pub async fn visit_arrangements(
        &self,
        r: &Reader<'_>,
        placements: &[Uuid],
    ) -> Result<HashMap<Uuid, records::VisitArrangement>, StoreError> {
        let rows = visit_arrangement::Entity::find()
            .filter(visit_arrangement::Column::PlacementId.is_in(placements.iter().copied()))
            .filter(
                visit_arrangement::Column::PlacementId
                    .in_subquery(visible(placement::Column::Id, scope::placements(r))),
            )
            .all(self.conn())
            .await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            r.saw("VisitArrangement", row.id);
            let arrangement = records::VisitArrangement::try_from(row)?;
            found.insert(arrangement.placement_id.as_uuid(), arrangement);
        }
        Ok(found)
    }

    /// The day of each placement's first support offer, among the offers the caller may
    /// see. A date, not a record shown: nothing is logged.
    pub async fn first_offers_on(
        &self,
        r: &Reader<'_>,
        placements: &[Uuid],
    ) -> Result<HashMap<Uuid, NaiveDate>, StoreError> {
        let rows: Vec<(Uuid, NaiveDate)> = support_offer::Entity::find()
            .select_only()
            .column(support_offer::Column::PlacementId)
            .column(support_offer::Column::OfferedOn)
            .filter(scope::offers(r))
            .filter(support_offer::Column::PlacementId.is_in(placements.iter().copied()))
            .into_tuple()
            .all(self.conn())
            .await?;
        let mut first: HashMap<Uuid, NaiveDate> = HashMap::new();
        for (placement, on) in rows {
            first.entry(placement).and_modify(|d| *d = (*d).min(on)).or_insert(on);
        }
        Ok(first)
    }

    /// Counts of the caller's visible visits planned to start in `[from, to)`, per
    /// placement, status and who cancelled; for these placements or, with `None`, all.
    /// Counts show no record and log none.
    pub async fn visit_counts(
        &self,
        r: &Reader<'_>,
        placements: Option<&[Uuid]>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VisitCount>, StoreError> {
        let mut query = contact_visit::Entity::find()
            .select_only()
            .column(contact_visit::Column::PlacementId)
            .column(contact_visit::Column::Status)
            .column(contact_visit::Column::CancelledBy)
            .column_as(contact_visit::Column::Id.count(), "n")
            .filter(scope::visits(r))
            .filter(contact_visit::Column::PlannedStart.gte(from))
            .filter(contact_visit::Column::PlannedStart.lt(to))
            .group_by(contact_visit::Column::PlacementId)
            .group_by(contact_visit::Column::Status)
            .group_by(contact_visit::Column::CancelledBy);
        if let Some(placements) = placements {
            query = query.filter(contact_visit::Column::PlacementId.is_in(placements.iter().copied()));
        }
        let rows = query.into_tuple::<(Uuid, String, Option<String>, i64)>().all(self.conn()).await?;
        rows.into_iter()
            .map(|(placement, status, by, n)| {
                Ok(VisitCount {
                    placement_id: PlacementId::from_uuid(placement),
                    status: status.parse()?,
                    cancelled_by: by.as_deref().map(str::parse).transpose()?,
                    visits: u32::try_from(n).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// The persons who take part in each visit the caller may see. Ids only: the persons
    /// are read (and logged) as references.
    pub async fn visit_participants(
        &self,
        r: &Reader<'_>,
        visits: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<PersonId>>, StoreError> {
        let rows = contact_visit_participant::Entity::find()
            .filter(contact_visit_participant::Column::VisitId.is_in(visits.iter().copied()))
            .filter(
                contact_visit_participant::Column::VisitId
                    .in_subquery(visible(contact_visit::Column::Id, scope::visits(r))),
            )
            .order_by_asc(contact_visit_participant::Column::PersonId)
            .all(self.conn())
            .await?;
        let grouped = records::grouped(rows, |p: &records::ContactVisitParticipant| p.visit_id.as_uuid())?;
        Ok(grouped.into_iter().map(|(visit, ps)| (visit, ps.into_iter().map(|p| p.person_id).collect())).collect())
    }

    /// Who took part in each of the caller's organisation's KOPP interviews besides the
    /// client. Ids and roles: the persons are read (and logged) as references.
    pub async fn kopp_participants(
        &self,
        r: &Reader<'_>,
        interviews: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<records::KoppParticipant>>, StoreError> {
        let rows = kopp_participant::Entity::find()
            .filter(kopp_participant::Column::InterviewId.is_in(interviews.iter().copied()))
            .filter(kopp_participant::Column::InterviewId.in_subquery(visible(
                kopp_interview::Column::Id,
                owned_by(kopp_interview::Column::OrganizationId, r.actor),
            )))
            .order_by_asc(kopp_participant::Column::PersonId)
            .all(self.conn())
            .await?;
        records::grouped(rows, |p: &records::KoppParticipant| p.interview_id.as_uuid())
    }

    /// The progress recorded at each review the caller may see. The goals are read (and
    /// logged) as references.
    pub async fn review_progress(
        &self,
        r: &Reader<'_>,
        reviews: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<records::PlanReviewProgress>>, StoreError> {
        let rows = plan_review_progress::Entity::find()
            .filter(plan_review_progress::Column::ReviewId.is_in(reviews.iter().copied()))
            .filter(
                plan_review_progress::Column::ReviewId.in_subquery(visible(plan_review::Column::Id, scope::reviews(r))),
            )
            .order_by_asc(plan_review_progress::Column::Id)
            .all(self.conn())
            .await?;
        records::grouped(rows, |p: &records::PlanReviewProgress| p.review_id.as_uuid())
    }

    /// How many current assignments (not ended by today) each family partner has, among
    /// the assignments the caller may see. Counts show no record and log none.
    pub async fn partner_caseloads(&self, r: &Reader<'_>, partners: &[Uuid]) -> Result<HashMap<Uuid, u64>, StoreError> {
        let rows: Vec<(Uuid, i64)> = family_partner_assignment::Entity::find()
            .select_only()
            .column(family_partner_assignment::Column::FamilyPartnerId)
            .column_as(family_partner_assignment::Column::Id.count(), "n")
            .filter(scope::assignments(r))
            .filter(family_partner_assignment::Column::FamilyPartnerId.is_in(partners.iter().copied()))
            .filter(
                Condition::any()
                    .add(family_partner_assignment::Column::EndDate.is_null())
                    .add(family_partner_assignment::Column::EndDate.gt(r.today)),
            )
            .group_by(family_partner_assignment::Column::FamilyPartnerId)
            .into_tuple()
            .all(self.conn())
            .await?;
        Ok(rows.into_iter().map(|(partner, n)| (partner, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// The goals of each plan in the coordination view whose sharing a parent's consent
    /// allows today, in the parents' order. A plan that is not shared is missing from the
    /// answer; a shared plan without goals maps to an empty list.
    pub async fn coordination_goals(
        &self,
        r: &Reader<'_>,
        plans: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<records::Goal>>, StoreError> {
        let shared: Vec<Uuid> = parent_action_plan::Entity::find()
            .select_only()
            .column(parent_action_plan::Column::Id)
            .filter(parent_action_plan::Column::Id.is_in(plans.iter().copied()))
            .filter(
                parent_action_plan::Column::PlacementId
                    .in_subquery(visible(placement::Column::Id, coordination_condition(self.backend(), r, true))),
            )
            .filter(
                parent_action_plan::Column::FamilyId
                    .in_subquery(consented_families(r, ConsentPurpose::ShareWithResidenceMunicipality)),
            )
            .into_tuple()
            .all(self.conn())
            .await?;
        if shared.is_empty() {
            return Ok(HashMap::new());
        }
        let goals = plan_goal::Entity::find()
            .filter(plan_goal::Column::PlanId.is_in(shared.iter().copied()))
            .order_by_asc(plan_goal::Column::Position)
            .order_by_asc(plan_goal::Column::Id)
            .all(self.conn())
            .await?;
        goals.iter().for_each(|g| r.saw("Goal", g.id));
        let mut found = records::grouped(goals, |g: &records::Goal| g.plan_id.as_uuid())?;
        for plan in shared {
            found.entry(plan).or_default();
        }
        Ok(found)
    }
}

/// The ids of `id`'s table that `condition` lets the caller see, as a subquery.
fn visible<C: ColumnTrait>(id: C, condition: Condition) -> sea_orm::sea_query::SelectStatement {
    Query::select().expr(Expr::col((id.entity_name(), id))).from(id.entity_name()).cond_where(condition).take()
}
