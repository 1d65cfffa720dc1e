//! Corrections: case systems correct what they sent. Each is a versioned update through
//! the write path: the caller names the version it read, a stale one is `CONFLICT` with
//! the current version, the domain's rules are checked again on the corrected record,
//! and a correction that changes nothing writes nothing and says so.
//!
//! Goals are part of their plan: a goal is corrected against the plan's version, and the
//! plan's version moves on.

use chrono::{DateTime, NaiveDate, Utc};
use kinbridge_domain::ValidationError;
use std::collections::BTreeSet;

use kinbridge_domain::family::{FamilyRole, Membership};
use kinbridge_domain::ids::{ContactVisitId, FamilyId, FamilyMemberId, GoalId, OrganizationId, PersonId, PlacementId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::person::PersonIdentifier;
use kinbridge_domain::placement::{NewPlacement, PlacementInput, PlacementSetting, ensure_no_overlap};
use kinbridge_domain::plan::{GoalPurpose, NewGoal};
use kinbridge_domain::visit::{NewVisit, Supervision, VisitInput, VisitStatus};
use kinbridge_domain::{TransitionError, text::Name};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::Store;
use crate::entities::{
    contact_visit, family, family_member, parent_action_plan, person, person_identifier, placement, plan_goal,
};
use crate::error::StoreError;
use crate::families::{ensure_national_ids_free, family_owned};
use crate::placements::placement_owned;
use crate::scope::owned_by;
use crate::write::{Outcome, WriteMeta, WriteTx, expect_version};

/// What a correction of a person sets; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct PersonCorrection {
    pub given_name: Option<Name>,
    pub family_name: Option<Name>,
    pub birth_date: Option<NaiveDate>,
    /// All of the person's identifiers, replacing the ones stored.
    pub identifiers: Option<Vec<PersonIdentifier>>,
}

/// What a correction of a family member sets; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct MemberCorrection {
    pub role: Option<FamilyRole>,
    pub residence_municipality_id: Option<OrganizationId>,
}

/// What a correction of a placement sets; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct PlacementCorrection {
    pub provider_id: Option<OrganizationId>,
    pub setting: Option<PlacementSetting>,
    pub decision_date: Option<NaiveDate>,
    pub start_date: Option<NaiveDate>,
}

/// What a correction of a planned contact visit sets; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct VisitCorrection {
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    pub location: Option<String>,
    pub supervision: Option<Supervision>,
    pub supervisor_name: Option<String>,
}

/// What a correction of a goal sets; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct GoalCorrection {
    pub description: Option<String>,
    pub purpose: Option<GoalPurpose>,
}

/// Finishes a correction: records it unless nothing changed, and commits.
async fn finish(
    tx: WriteTx<'_>,
    changed: bool,
    record: (&'static str, uuid::Uuid, &str, &str),
) -> Result<Outcome, StoreError> {
    let (record_type, id, public_id, event) = record;
    let outcome = if changed { Outcome::Updated } else { Outcome::Unchanged };
    if changed {
        tx.record(record_type, id, public_id, event).await?;
    }
    tx.commit_as(id, outcome).await?;
    Ok(outcome)
}

impl Store {
    /// Corrects a person's names and birth date.
    pub async fn correct_person(
        &self,
        meta: &WriteMeta<'_>,
        id: PersonId,
        expected_version: i32,
        correction: &PersonCorrection,
    ) -> Result<Outcome, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok(replay.outcome);
        }
        let row = person::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(person::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Person"))?;
        expect_version("person", Some(expected_version), row.version)?;
        let given = correction.given_name.as_ref().map_or(row.given_name.as_str(), Name::as_str).to_owned();
        let family = correction.family_name.as_ref().map_or(row.family_name.as_str(), Name::as_str).to_owned();
        let born = correction.birth_date.or(row.birth_date);
        if born.is_some_and(|d| d > tx.now.date_naive()) {
            return Err(ValidationError::new("birthDate", "must not be in the future").into());
        }
        let key = |kind: &str, system: &str, value: &str| (kind.to_owned(), system.to_owned(), value.to_owned());
        let stored: BTreeSet<_> = person_identifier::Entity::find()
            .filter(person_identifier::Column::PersonId.eq(row.id))
            .all(&tx.reads())
            .await?
            .iter()
            .map(|i| key(&i.kind, &i.system, &i.value))
            .collect();
        let identifiers = match &correction.identifiers {
            Some(new) => {
                let set: BTreeSet<_> =
                    new.iter().map(|i| key(i.kind.as_str(), i.system.as_str(), i.value.as_str())).collect();
                (set != stored).then_some(new)
            }
            None => None,
        };
        let changed =
            given != row.given_name || family != row.family_name || born != row.birth_date || identifiers.is_some();
        if changed {
            tx.update::<person::Entity>("person", row.id, row.version, |u| {
                u.col_expr(person::Column::GivenName, Expr::value(given))
                    .col_expr(person::Column::FamilyName, Expr::value(family))
                    .col_expr(person::Column::BirthDate, Expr::value(born))
            })
            .await?;
        }
        if let Some(new) = identifiers {
            ensure_national_ids_free(&tx, new, Some(row.id)).await?;
            tx.delete_where(
                person_identifier::Entity::delete_many().filter(person_identifier::Column::PersonId.eq(row.id)),
            )
            .await?;
            tx.insert_all(
                new.iter()
                    .map(|identifier| person_identifier::ActiveModel {
                        id: Set(uuid::Uuid::now_v7()),
                        organization_id: Set(tx.organization_id()),
                        created_at: Set(tx.now),
                        person_id: Set(row.id),
                        kind: Set(identifier.kind.as_str().to_owned()),
                        system: Set(identifier.system.as_str().to_owned()),
                        value: Set(identifier.value.as_str().to_owned()),
                    })
                    .collect(),
            )
            .await?;
        }
        finish(tx, changed, ("Person", row.id, &id.to_string(), "person.corrected")).await
    }

    /// Corrects a member's role in the family and where they live, against the family's
    /// version (a member is part of the family). The child of one of the family's
    /// placements stays its child.
    pub async fn correct_family_member(
        &self,
        meta: &WriteMeta<'_>,
        id: FamilyMemberId,
        expected_family_version: i32,
        correction: &MemberCorrection,
    ) -> Result<Outcome, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok(replay.outcome);
        }
        let member = family_member::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(family_member::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("FamilyMember"))?;
        let family = family_owned(&tx.reads(), tx.actor(), FamilyId::from_uuid(member.family_id)).await?;
        expect_version("family", Some(expected_family_version), family.version)?;
        let stored_role: FamilyRole = member.role.parse()?;
        let role = correction.role.unwrap_or(stored_role);
        let residence =
            correction.residence_municipality_id.or(member.residence_municipality_id.map(OrganizationId::from_uuid));
        let membership = Membership::new(role, residence)?;
        if let Some(residence) = correction.residence_municipality_id {
            Store::expect_organization_kind(
                &tx.reads(),
                residence,
                OrganizationKind::Municipality,
                "residenceMunicipalityId",
            )
            .await?;
        }
        if stored_role == FamilyRole::Child && role != FamilyRole::Child {
            let placed = placement::Entity::find()
                .filter(placement::Column::FamilyId.eq(member.family_id))
                .filter(placement::Column::ChildId.eq(member.person_id))
                .one(&tx.reads())
                .await?;
            if placed.is_some() {
                return Err(
                    ValidationError::new("role", "the member is the child of a placement of this family").into()
                );
            }
        }
        let residence = membership.residence_municipality_id.map(|r| r.as_uuid());
        let changed = role != stored_role || residence != member.residence_municipality_id;
        if changed {
            tx.update::<family::Entity>("family", family.id, family.version, |u| u).await?;
            tx.update_where(
                family_member::Entity::update_many()
                    .col_expr(family_member::Column::Role, Expr::value(role.as_str()))
                    .col_expr(family_member::Column::ResidenceMunicipalityId, Expr::value(residence))
                    .filter(family_member::Column::Id.eq(member.id)),
            )
            .await?;
        }
        finish(tx, changed, ("FamilyMember", member.id, &id.to_string(), "family_member.corrected")).await
    }

    /// Corrects a placement's provider, setting and dates. The child's placements are
    /// compared again (under the child's lock), so a correction never makes two overlap.
    pub async fn correct_placement(
        &self,
        meta: &WriteMeta<'_>,
        id: PlacementId,
        expected_version: i32,
        correction: &PlacementCorrection,
    ) -> Result<Outcome, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok(replay.outcome);
        }
        let row = placement_owned(&tx.reads(), tx.actor(), id).await?;
        expect_version("placement", Some(expected_version), row.version)?;
        if let Some(provider) = correction.provider_id {
            Store::expect_organization_kind(&tx.reads(), provider, OrganizationKind::PlacementProvider, "providerId")
                .await?;
        }
        let stored_setting: PlacementSetting = row.setting.parse()?;
        let end_reason = row.end_reason.as_deref().map(str::parse).transpose()?;
        let corrected = NewPlacement::parse(PlacementInput {
            external_id: None,
            provider_id: correction.provider_id.or(row.provider_id.map(OrganizationId::from_uuid)),
            setting: correction.setting.unwrap_or(stored_setting),
            voluntary: row.voluntary,
            decision_date: correction.decision_date.unwrap_or(row.decision_date),
            start_date: correction.start_date.unwrap_or(row.start_date),
            end_date: row.end_date,
            end_reason,
        })?;
        let provider = corrected.provider_id.map(|p| p.as_uuid());
        let changed = provider != row.provider_id
            || corrected.setting != stored_setting
            || corrected.decision_date != row.decision_date
            || corrected.start_date != row.start_date;
        if changed {
            tx.lock::<person::Entity>(row.child_id).await?;
            let others = crate::placements::other_placements_of(&tx, row.child_id, Some(row.id)).await?;
            ensure_no_overlap(&corrected.period(), &others)?;
            tx.update::<placement::Entity>("placement", row.id, row.version, |u| {
                u.col_expr(placement::Column::ProviderId, Expr::value(provider))
                    .col_expr(placement::Column::Setting, Expr::value(corrected.setting.as_str()))
                    .col_expr(placement::Column::DecisionDate, Expr::value(corrected.decision_date))
                    .col_expr(placement::Column::StartDate, Expr::value(corrected.start_date))
            })
            .await?;
        }
        finish(tx, changed, ("Placement", row.id, &id.to_string(), "placement.corrected")).await
    }

    /// Corrects a planned visit's time, place and supervision. A visit that has taken
    /// place (or was cancelled) is history and is not corrected.
    pub async fn correct_contact_visit(
        &self,
        meta: &WriteMeta<'_>,
        id: ContactVisitId,
        expected_version: i32,
        correction: &VisitCorrection,
    ) -> Result<Outcome, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok(replay.outcome);
        }
        let row = contact_visit::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(contact_visit::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("ContactVisit"))?;
        expect_version("visit", Some(expected_version), row.version)?;
        if row.status != VisitStatus::Planned.as_str() {
            return Err(
                TransitionError(format!("the visit is {}; only a planned visit is corrected", row.status)).into()
            );
        }
        let stored_supervision: Supervision = row.supervision.parse()?;
        let supervision = correction.supervision.unwrap_or(stored_supervision);
        // An unsupervised visit names no supervisor; any other keeps the one it has.
        let supervisor = match (&correction.supervisor_name, supervision) {
            (Some(name), _) => Some(name.as_str()),
            (None, Supervision::Unsupervised) => None,
            (None, _) => row.supervisor_name.as_deref(),
        };
        let corrected = NewVisit::parse(VisitInput {
            external_id: None,
            planned_start: correction.planned_start.unwrap_or(row.planned_start),
            planned_end: correction.planned_end.unwrap_or(row.planned_end),
            location: correction.location.as_deref().or(row.location.as_deref()),
            supervision,
            supervisor_name: supervisor,
        })?;
        let location = corrected.location.as_ref().map(|l| l.as_str().to_owned());
        let supervisor = corrected.supervisor_name.as_ref().map(|n| n.as_str().to_owned());
        let changed = corrected.planned_start != row.planned_start
            || corrected.planned_end != row.planned_end
            || location != row.location
            || corrected.supervision != stored_supervision
            || supervisor != row.supervisor_name;
        if changed {
            tx.update::<contact_visit::Entity>("visit", row.id, row.version, |u| {
                u.col_expr(contact_visit::Column::PlannedStart, Expr::value(corrected.planned_start))
                    .col_expr(contact_visit::Column::PlannedEnd, Expr::value(corrected.planned_end))
                    .col_expr(contact_visit::Column::Location, Expr::value(location))
                    .col_expr(contact_visit::Column::Supervision, Expr::value(corrected.supervision.as_str()))
                    .col_expr(contact_visit::Column::SupervisorName, Expr::value(supervisor))
            })
            .await?;
        }
        finish(tx, changed, ("ContactVisit", row.id, &id.to_string(), "contact_visit.corrected")).await
    }

    /// Corrects a goal's wording and purpose, against its plan's version.
    pub async fn correct_goal(
        &self,
        meta: &WriteMeta<'_>,
        id: GoalId,
        expected_plan_version: i32,
        correction: &GoalCorrection,
    ) -> Result<Outcome, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok(replay.outcome);
        }
        let goal = plan_goal::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(plan_goal::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Goal"))?;
        let plan_version: i32 = parent_action_plan::Entity::find_by_id(goal.plan_id)
            .select_only()
            .column(parent_action_plan::Column::Version)
            .into_tuple()
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Goal"))?;
        expect_version("plan", Some(expected_plan_version), plan_version)?;
        let stored_purpose: GoalPurpose = goal.purpose.parse()?;
        let corrected = NewGoal::parse(
            correction.description.as_deref().unwrap_or(&goal.description),
            correction.purpose.unwrap_or(stored_purpose),
        )?;
        let changed = corrected.description.as_str() != goal.description || corrected.purpose != stored_purpose;
        if changed {
            tx.update::<parent_action_plan::Entity>("plan", goal.plan_id, plan_version, |u| u).await?;
            tx.update_where(
                plan_goal::Entity::update_many()
                    .col_expr(plan_goal::Column::Description, Expr::value(corrected.description.as_str()))
                    .col_expr(plan_goal::Column::Purpose, Expr::value(corrected.purpose.as_str()))
                    .filter(plan_goal::Column::Id.eq(goal.id)),
            )
            .await?;
        }
        finish(tx, changed, ("Goal", goal.id, &id.to_string(), "goal.corrected")).await
    }
}
