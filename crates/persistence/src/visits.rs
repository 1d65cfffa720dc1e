//! Contact visits and their outcomes.

use kinbridge_domain::ValidationError;
use kinbridge_domain::ids::{ContactVisitId, PersonId, PlacementId, VisitArrangementId};
use kinbridge_domain::placement::Period;
use kinbridge_domain::visit::{NewVisit, VisitArrangement, VisitOutcome, VisitStatus, record_outcome};
use sea_orm::QuerySelect;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::Store;
use crate::entities::{contact_visit, contact_visit_participant, family_member, placement, visit_arrangement};
use crate::error::StoreError;
use crate::placements::placement_owned;
use crate::records;
use crate::scope::{self, Reader};
use crate::write::{Outcome, WriteMeta, WriteTx, Written, case_id, expect_version, unique_to_conflict};

impl Store {
    /// Plans a visit for one of the caller's placements. Participants are members of the
    /// placement's family, and the visit falls within the placement.
    pub async fn plan_visit(
        &self,
        meta: &WriteMeta<'_>,
        placement_id: PlacementId,
        new: &NewVisit,
        participants: &[PersonId],
    ) -> Result<Written<records::ContactVisit>, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(Written::Read(id));
        }
        let stored = insert_visit(&tx, placement_id, new, participants).await?;
        let (id, visible) = (stored.id, tx.scope().sees_own_visits_and_reviews());
        tx.commit_answering(stored, id, visible).await
    }

    /// The visit a write answers with, logged as shown to the caller.
    pub async fn shown_visit(
        &self,
        r: &Reader<'_>,
        written: Written<records::ContactVisit>,
    ) -> Result<records::ContactVisit, StoreError> {
        written
            .shown(r, "ContactVisit", |v| v.id.as_uuid(), |id| self.contact_visit(r, ContactVisitId::from_uuid(id)))
            .await
    }

    /// Plans the visit with the caller's case id, or moves it to the time, place and
    /// supervision given if it exists and is still planned: what a case system sends on
    /// every sync, without duplicates. An upsert of what is stored writes nothing and puts
    /// nothing in the change feed; a visit already held, missed or cancelled is not moved
    /// (`CONFLICT`). Participants are set when the visit is first planned. Concurrent
    /// upserts of one new case id: one plans it, the others wait (a lock on the case id)
    /// and find it.
    pub async fn upsert_visit(
        &self,
        meta: &WriteMeta<'_>,
        placement_id: PlacementId,
        new: &NewVisit,
        participants: &[PersonId],
    ) -> Result<(ContactVisitId, Outcome), StoreError> {
        let external_id = case_id(new.external_id.as_ref())?;
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok((ContactVisitId::from_uuid(replay.record_id), replay.outcome));
        }
        let existing = tx
            .find_case::<contact_visit::Entity>(
                "contact_visit",
                contact_visit::Column::OrganizationId,
                contact_visit::Column::ExternalId,
                external_id,
            )
            .await?;
        let Some(row) = existing else {
            let id = ContactVisitId::from_uuid(insert_visit(&tx, placement_id, new, participants).await?.id);
            tx.commit_as(id.as_uuid(), Outcome::Created).await?;
            return Ok((id, Outcome::Created));
        };
        let id = ContactVisitId::from_uuid(row.id);
        if row.placement_id != placement_id.as_uuid() {
            return Err(ValidationError::new(
                "placementId",
                format!("the visit with this case id ({id}) belongs to another placement"),
            )
            .into());
        }
        let location = new.location.as_ref().map(|l| l.as_str().to_owned());
        let supervisor = new.supervisor_name.as_ref().map(|n| n.as_str().to_owned());
        let same = row.planned_start == new.planned_start
            && row.planned_end == new.planned_end
            && row.location == location
            && row.supervision == new.supervision.as_str()
            && row.supervisor_name == supervisor;
        if same {
            tx.commit_as(row.id, Outcome::Unchanged).await?;
            return Ok((id, Outcome::Unchanged));
        }
        if row.status != VisitStatus::Planned.as_str() {
            return Err(StoreError::conflict(format!(
                "the visit {id} is no longer planned ({}): its time, place and supervision stay as they were",
                row.status
            )));
        }
        let placement = placement_owned(&tx.reads(), tx.actor(), placement_id).await?;
        if !(Period { start: placement.start_date, end: placement.end_date }).contains(new.planned_start.date_naive()) {
            return Err(ValidationError::new("plannedStart", "the visit falls outside the placement's dates").into());
        }
        tx.update::<contact_visit::Entity>("contact visit", row.id, row.version, |u| {
            u.col_expr(contact_visit::Column::PlannedStart, Expr::value(new.planned_start))
                .col_expr(contact_visit::Column::PlannedEnd, Expr::value(new.planned_end))
                .col_expr(contact_visit::Column::Location, Expr::value(location))
                .col_expr(contact_visit::Column::Supervision, Expr::value(new.supervision.as_str()))
                .col_expr(contact_visit::Column::SupervisorName, Expr::value(supervisor))
        })
        .await?;
        tx.record("ContactVisit", row.id, &id.to_string(), "contact_visit.updated").await?;
        tx.commit_as(row.id, Outcome::Updated).await?;
        Ok((id, Outcome::Updated))
    }
}

/// Plans a visit within `tx`: the checks and the rows of [`Store::plan_visit`], without
/// the commit.
async fn insert_visit(
    tx: &WriteTx<'_>,
    placement_id: PlacementId,
    new: &NewVisit,
    participants: &[PersonId],
) -> Result<contact_visit::Model, StoreError> {
    let placement = placement_owned(&tx.reads(), tx.actor(), placement_id).await?;
    let period = Period { start: placement.start_date, end: placement.end_date };
    if !period.contains(new.planned_start.date_naive()) {
        return Err(ValidationError::new("plannedStart", "the visit falls outside the placement's dates").into());
    }
    // The participants who are members of the family, in one read.
    let members: std::collections::HashSet<Uuid> = if participants.is_empty() {
        Default::default()
    } else {
        family_member::Entity::find()
            .select_only()
            .column(family_member::Column::PersonId)
            .filter(family_member::Column::FamilyId.eq(placement.family_id))
            .filter(family_member::Column::PersonId.is_in(participants.iter().map(|p| p.as_uuid())))
            .into_tuple::<Uuid>()
            .all(&tx.reads())
            .await?
            .into_iter()
            .collect()
    };
    for (i, person) in participants.iter().enumerate() {
        if !members.contains(&person.as_uuid()) {
            return Err(ValidationError::new(
                format!("participantIds.{i}"),
                "is not a member of the placed child's family",
            )
            .into());
        }
        if participants[..i].contains(person) {
            return Err(ValidationError::new(format!("participantIds.{i}"), "is listed twice").into());
        }
    }
    tx.ensure_external_id_free::<contact_visit::Entity>(
        new.external_id.as_ref(),
        contact_visit::Column::OrganizationId,
        contact_visit::Column::ExternalId,
        "contact visit",
        |e| ContactVisitId::from_uuid(e.id).to_string(),
    )
    .await?;
    let id = ContactVisitId::new();
    let inserted = tx
        .insert_returning(contact_visit::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            placement_id: Set(placement.id),
            external_id: Set(new.external_id.as_ref().map(|e| e.as_str().to_owned())),
            planned_start: Set(new.planned_start),
            planned_end: Set(new.planned_end),
            location: Set(new.location.as_ref().map(|l| l.as_str().to_owned())),
            supervision: Set(new.supervision.as_str().to_owned()),
            supervisor_name: Set(new.supervisor_name.as_ref().map(|s| s.as_str().to_owned())),
            status: Set(VisitStatus::Planned.as_str().to_owned()),
            cancelled_by: Set(None),
            cancelled_at: Set(None),
            cancellation_reason: Set(None),
            observations: Set(None),
            outcome_recorded_at: Set(None),
        })
        .await;
    let stored = unique_to_conflict(inserted, "a contact visit with this external id was created concurrently")?;
    tx.insert_all(
        participants
            .iter()
            .map(|person| contact_visit_participant::ActiveModel {
                visit_id: Set(id.as_uuid()),
                person_id: Set(person.as_uuid()),
            })
            .collect(),
    )
    .await?;
    tx.record("ContactVisit", id.as_uuid(), &id.to_string(), "contact_visit.planned").await?;
    Ok(stored)
}

impl Store {
    /// Moves a planned visit to held, cancelled or no-show. Whoever may see the visit may
    /// record its outcome: the placing municipality, a family services provider the family
    /// is referred to, and the placement provider where the child lives. With `expected_version`, a
    /// visit changed since the caller read it is refused; without it, the outcome is
    /// recorded on the visit as it stands when the update takes its row, if the rule holds
    /// there: the rule is the update's condition, so no change can come between a check
    /// and the write. Only a refused update reads the visit, to say why (and a race lost
    /// there is decided by an update that names the version read).
    pub async fn record_visit_outcome(
        &self,
        meta: &WriteMeta<'_>,
        id: ContactVisitId,
        outcome: &VisitOutcome,
        expected_version: Option<i32>,
    ) -> Result<Written<records::ContactVisit>, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(Written::Read(id));
        }
        // The outcome's columns. The rule (whoever may see the visit) is decided in the
        // update itself, so that a referral ended or a placement moved meanwhile leaves the
        // visit unchanged; and so the visit it returns is one the caller may see.
        let change = |u: sea_orm::UpdateMany<contact_visit::Entity>| {
            let u = u
                .col_expr(contact_visit::Column::Status, Expr::value(outcome.status().as_str()))
                .col_expr(contact_visit::Column::OutcomeRecordedAt, Expr::value(tx.now))
                .filter(crate::authz::visit_viewer(&tx.scope()));
            match outcome {
                VisitOutcome::Held { observations } => u.col_expr(
                    contact_visit::Column::Observations,
                    Expr::value(observations.as_ref().map(|o| o.as_str().to_owned())),
                ),
                VisitOutcome::Cancelled(c) => u
                    .col_expr(contact_visit::Column::CancelledBy, Expr::value(c.by.as_str()))
                    .col_expr(contact_visit::Column::CancelledAt, Expr::value(c.at))
                    .col_expr(contact_visit::Column::CancellationReason, Expr::value(c.reason.as_str())),
                VisitOutcome::NoShow => u,
            }
        };
        // First the update alone, where `record_outcome`'s rule holds in its condition: a
        // planned visit (at the version the caller expects, if it says one) that has
        // started, unless it is cancelled. One statement, no read before it.
        let mut allowed = Condition::all()
            .add(contact_visit::Column::Status.eq(VisitStatus::Planned.as_str()))
            .add_option(expected_version.map(|v| contact_visit::Column::Version.eq(v)));
        if !matches!(outcome, VisitOutcome::Cancelled(_)) {
            allowed = allowed.add(contact_visit::Column::PlannedStart.lte(tx.now));
        }
        let stored = match tx.update_returning_where::<contact_visit::Entity>(id.as_uuid(), allowed, change).await? {
            Some(stored) => stored,
            None => {
                // Missing, hidden, changed or not planned: the visit as it stands says which,
                // and the update that names the version read decides a race.
                let visit = contact_visit::Entity::find_by_id(id.as_uuid())
                    .filter(crate::authz::visit_viewer(&tx.scope()))
                    .one(&tx.reads())
                    .await?
                    .ok_or(StoreError::not_found("ContactVisit"))?;
                expect_version("visit", expected_version, visit.version)?;
                let current: VisitStatus = visit.status.parse()?;
                record_outcome(current, visit.planned_start, outcome, tx.now)?;
                tx.update_returning::<contact_visit::Entity>("visit", visit.id, visit.version, change).await?
            }
        };
        let (owner, visit_id) = (stored.organization_id, stored.id);
        let event = match outcome.status() {
            VisitStatus::Held => "contact_visit.held",
            VisitStatus::Cancelled => "contact_visit.cancelled",
            VisitStatus::NoShow => "contact_visit.no_show",
            VisitStatus::Planned => "contact_visit.planned",
        };
        tx.record_for(owner, "ContactVisit", visit_id, &id.to_string(), event).await?;
        tx.commit_answering(stored, visit_id, true).await
    }

    pub async fn contact_visit(&self, r: &Reader<'_>, id: ContactVisitId) -> Result<records::ContactVisit, StoreError> {
        let found = contact_visit::Entity::find_by_id(id.as_uuid())
            .filter(scope::visits(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("ContactVisit"))?;
        r.saw("ContactVisit", found.id);
        found.try_into()
    }
}

impl Store {
    /// Sets how a placement's contact visits are arranged, replacing any earlier arrangement.
    pub async fn set_visit_arrangement(
        &self,
        meta: &WriteMeta<'_>,
        placement_id: PlacementId,
        arrangement: &VisitArrangement,
    ) -> Result<(VisitArrangementId, Outcome), StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok((VisitArrangementId::from_uuid(replay.record_id), replay.outcome));
        }
        let placement = placement_owned(&tx.reads(), tx.actor(), placement_id).await?;
        // A placement has one arrangement: concurrent settings of it take turns.
        tx.lock::<placement::Entity>(placement.id).await?;
        let existing = visit_arrangement::Entity::find()
            .filter(visit_arrangement::Column::PlacementId.eq(placement.id))
            .one(&tx.reads())
            .await?;
        let supervisor = arrangement.supervisor_name.as_ref().map(|n| n.as_str().to_owned());
        let interval = i32::from(arrangement.interval_days);
        let (id, outcome) = match existing {
            Some(row)
                if row.interval_days == interval
                    && row.supervision == arrangement.supervision.as_str()
                    && row.supervisor_name == supervisor =>
            {
                // The arrangement as stored: nothing is written, nothing is in the feed.
                let id = VisitArrangementId::from_uuid(row.id);
                tx.commit_as(id.as_uuid(), Outcome::Unchanged).await?;
                return Ok((id, Outcome::Unchanged));
            }
            Some(row) => {
                tx.update::<visit_arrangement::Entity>("visit arrangement", row.id, row.version, |u| {
                    u.col_expr(
                        visit_arrangement::Column::IntervalDays,
                        Expr::value(i32::from(arrangement.interval_days)),
                    )
                    .col_expr(visit_arrangement::Column::Supervision, Expr::value(arrangement.supervision.as_str()))
                    .col_expr(visit_arrangement::Column::SupervisorName, Expr::value(supervisor))
                })
                .await?;
                (VisitArrangementId::from_uuid(row.id), Outcome::Updated)
            }
            None => {
                let id = VisitArrangementId::new();
                let inserted = tx
                    .insert(visit_arrangement::ActiveModel {
                        id: Set(id.as_uuid()),
                        organization_id: Set(tx.organization_id()),
                        created_at: Set(tx.now),
                        updated_at: Set(tx.now),
                        version: Set(1),
                        placement_id: Set(placement.id),
                        interval_days: Set(i32::from(arrangement.interval_days)),
                        supervision: Set(arrangement.supervision.as_str().to_owned()),
                        supervisor_name: Set(supervisor),
                    })
                    .await;
                unique_to_conflict(inserted, "the placement's arrangement was set concurrently; read it again")?;
                (id, Outcome::Created)
            }
        };
        tx.record("VisitArrangement", id.as_uuid(), &id.to_string(), "visit_arrangement.set").await?;
        tx.commit_as(id.as_uuid(), outcome).await?;
        Ok((id, outcome))
    }

    /// The placement providers of placements the caller may see, by placement id.
    pub async fn providers_of(
        &self,
        r: &Reader<'_>,
        placements: &[Uuid],
    ) -> Result<Vec<(Uuid, Option<Uuid>)>, StoreError> {
        Ok(placement::Entity::find()
            .select_only()
            .column(placement::Column::Id)
            .column(placement::Column::ProviderId)
            .filter(scope::placements(r))
            .filter(placement::Column::Id.is_in(placements.to_vec()))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(self.conn())
            .await?)
    }
}
