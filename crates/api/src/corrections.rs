//! Corrections: a case system corrects what it sent. Each names the version it read
//! (`expectedVersion`; a goal names its plan's); a stale version is `CONFLICT` with the
//! current one; every field left out keeps what is stored; the rules are checked on the
//! corrected record; and a correction that changes nothing writes nothing, puts nothing in
//! the change feed and answers `changed: false`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{ContactVisitId, FamilyMemberId, GoalId, OrganizationId, PersonId, PlacementId};
use kinbridge_domain::person::parse_identifiers;
use kinbridge_domain::text::Name;
use kinbridge_persistence::corrections::{
    GoalCorrection, MemberCorrection, PersonCorrection, PlacementCorrection, VisitCorrection,
};
use kinbridge_persistence::write::Outcome;
use serde::Serialize;

use crate::context::caller;
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under, version_arg};
use crate::families::{FamilyMember, Person, PersonIdentifierInput};
use crate::placements::Placement;
use crate::plans::Goal;
use crate::scalars::{Date, FamilyRole, GoalPurpose, PlacementSetting, Supervision, Timestamp};
use crate::visits::ContactVisit;

fn name(field: &str, value: Option<&str>) -> Result<Option<Name>, ApiError> {
    value.map(Name::parse).transpose().at(field).map_err(in_input)
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CorrectPersonInput {
    pub id: ID,
    /// The person's version as you read it.
    pub expected_version: i64,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birth_date: Option<Date>,
    /// All of the person's identifiers: given, they replace the ones stored.
    pub identifiers: Option<Vec<PersonIdentifierInput>>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CorrectPersonPayload {
    pub person: Person,
    /// Whether the correction changed what was stored.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CorrectPlacementInput {
    pub id: ID,
    /// The placement's version as you read it.
    pub expected_version: i64,
    /// The placement provider where the child lives.
    pub provider_id: Option<ID>,
    pub setting: Option<PlacementSetting>,
    pub decision_date: Option<Date>,
    pub start_date: Option<Date>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CorrectPlacementPayload {
    pub placement: Placement,
    /// Whether the correction changed what was stored.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CorrectContactVisitInput {
    pub id: ID,
    /// The visit's version as you read it.
    pub expected_version: i64,
    pub planned_start: Option<Timestamp>,
    pub planned_end: Option<Timestamp>,
    pub location: Option<String>,
    pub supervision: Option<Supervision>,
    /// Who supports or supervises the visit; an unsupervised visit names nobody.
    pub supervisor_name: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CorrectContactVisitPayload {
    pub contact_visit: ContactVisit,
    /// Whether the correction changed what was stored.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CorrectGoalInput {
    pub id: ID,
    /// The version of the goal's plan as you read it: a goal is part of its plan.
    pub expected_plan_version: i64,
    pub description: Option<String>,
    pub purpose: Option<GoalPurpose>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CorrectGoalPayload {
    pub goal: Goal,
    /// Whether the correction changed what was stored.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CorrectFamilyMemberInput {
    /// The member (`mem_…`), not the person.
    pub id: ID,
    /// The version of the member's family as you read it: a member is part of the family.
    pub expected_family_version: i64,
    pub role: Option<FamilyRole>,
    pub residence_municipality_id: Option<ID>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CorrectFamilyMemberPayload {
    pub member: FamilyMember,
    /// Whether the correction changed what was stored.
    pub changed: bool,
}

#[derive(Default, Debug)]
pub struct CorrectionMutation;

#[Object]
impl CorrectionMutation {
    /// Corrects a person's names or birth date.
    async fn correct_person(&self, ctx: &Context<'_>, input: CorrectPersonInput) -> ApiResult<CorrectPersonPayload> {
        let c = caller(ctx)?;
        let id: PersonId = id_arg("input.id", &input.id)?;
        let version = version_arg("input.expectedVersion", input.expected_version)?;
        let correction = PersonCorrection {
            given_name: name("givenName", input.given_name.as_deref())?,
            family_name: name("familyName", input.family_name.as_deref())?,
            birth_date: input.birth_date.map(|d| d.0),
            identifiers: input
                .identifiers
                .as_ref()
                .map(|ids| {
                    let raw: Vec<_> =
                        ids.iter().map(|i| (i.kind.into(), i.system.as_str(), i.value.as_str())).collect();
                    parse_identifiers(&raw)
                })
                .transpose()
                .map_err(in_input)?,
        };
        let meta = c.write("correctPerson", input.idempotency_key.as_deref(), &input)?;
        let outcome = c.store.correct_person(&meta, id, version, &correction).await.map_err(under("input"))?;
        Ok(CorrectPersonPayload {
            person: Person(c.store.person(&c.reader(), id).await.api()?),
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Corrects a member's role in the family or where they live.
    async fn correct_family_member(
        &self,
        ctx: &Context<'_>,
        input: CorrectFamilyMemberInput,
    ) -> ApiResult<CorrectFamilyMemberPayload> {
        let c = caller(ctx)?;
        let id: FamilyMemberId = id_arg("input.id", &input.id)?;
        let version = version_arg("input.expectedFamilyVersion", input.expected_family_version)?;
        let residence = input
            .residence_municipality_id
            .as_ref()
            .map(|r| id_arg::<OrganizationId>("input.residenceMunicipalityId", r))
            .transpose()?;
        let correction = MemberCorrection { role: input.role.map(Into::into), residence_municipality_id: residence };
        let meta = c.write("correctFamilyMember", input.idempotency_key.as_deref(), &input)?;
        let outcome = c.store.correct_family_member(&meta, id, version, &correction).await.map_err(under("input"))?;
        Ok(CorrectFamilyMemberPayload {
            member: FamilyMember(c.store.family_member(&c.reader(), id).await.api()?),
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Corrects a placement's provider, setting, decision or start date. The child's
    /// placements still never overlap.
    async fn correct_placement(
        &self,
        ctx: &Context<'_>,
        input: CorrectPlacementInput,
    ) -> ApiResult<CorrectPlacementPayload> {
        let c = caller(ctx)?;
        let id: PlacementId = id_arg("input.id", &input.id)?;
        let version = version_arg("input.expectedVersion", input.expected_version)?;
        let provider_id =
            input.provider_id.as_ref().map(|p| id_arg::<OrganizationId>("input.providerId", p)).transpose()?;
        let correction = PlacementCorrection {
            provider_id,
            setting: input.setting.map(Into::into),
            decision_date: input.decision_date.map(|d| d.0),
            start_date: input.start_date.map(|d| d.0),
        };
        let meta = c.write("correctPlacement", input.idempotency_key.as_deref(), &input)?;
        let outcome = c.store.correct_placement(&meta, id, version, &correction).await.map_err(under("input"))?;
        Ok(CorrectPlacementPayload {
            placement: Placement(c.store.placement(&c.reader(), id).await.api()?),
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Corrects a planned contact visit's time, place or supervision.
    async fn correct_contact_visit(
        &self,
        ctx: &Context<'_>,
        input: CorrectContactVisitInput,
    ) -> ApiResult<CorrectContactVisitPayload> {
        let c = caller(ctx)?;
        let id: ContactVisitId = id_arg("input.id", &input.id)?;
        let version = version_arg("input.expectedVersion", input.expected_version)?;
        let correction = VisitCorrection {
            planned_start: input.planned_start.map(|t| t.0),
            planned_end: input.planned_end.map(|t| t.0),
            location: input.location.clone(),
            supervision: input.supervision.map(Into::into),
            supervisor_name: input.supervisor_name.clone(),
        };
        let meta = c.write("correctContactVisit", input.idempotency_key.as_deref(), &input)?;
        let outcome = c.store.correct_contact_visit(&meta, id, version, &correction).await.map_err(under("input"))?;
        Ok(CorrectContactVisitPayload {
            contact_visit: ContactVisit(c.store.contact_visit(&c.reader(), id).await.api()?),
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Corrects a goal's wording or purpose.
    async fn correct_goal(&self, ctx: &Context<'_>, input: CorrectGoalInput) -> ApiResult<CorrectGoalPayload> {
        let c = caller(ctx)?;
        let id: GoalId = id_arg("input.id", &input.id)?;
        let version = version_arg("input.expectedPlanVersion", input.expected_plan_version)?;
        let correction =
            GoalCorrection { description: input.description.clone(), purpose: input.purpose.map(Into::into) };
        let meta = c.write("correctGoal", input.idempotency_key.as_deref(), &input)?;
        let outcome = c.store.correct_goal(&meta, id, version, &correction).await.map_err(under("input"))?;
        Ok(CorrectGoalPayload {
            goal: Goal(c.store.goal(&c.reader(), id).await.api()?),
            changed: outcome != Outcome::Unchanged,
        })
    }
}
