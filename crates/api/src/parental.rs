//! Parental-role support (000) and sub-goals (001).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{GoalId, OrganizationId, PersonId, SubGoalId};
use kinbridge_domain::parental::{self as dparental, OtherParentSupport};
use kinbridge_domain::text::{FreeText, Name};
use kinbridge_domain::when;
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;
use serde::Serialize;

use crate::connection::{self, Conn, cost};
use crate::context::caller;
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::Person;
use crate::organizations::Organization;
use crate::plans::Goal;
use crate::scalars::{Date, KoppRole, PillarStatus, ResiliencePillar, SubGoalStatus};

/// A dated note of how the client was supported in the role as a parent.
#[derive(Debug, Clone)]
pub struct ParentalSupportNote(pub(crate) records::ParentalSupportNote);

#[Object]
impl ParentalSupportNote {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn noted_on(&self) -> Date {
        Date(self.0.noted_on)
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
}

/// A KOPP (COPMI) prevention interview, ideally with the partner or else a confidant of
/// the child.
#[derive(Debug, Clone)]
pub struct KoppInterview(pub(crate) records::KoppInterview);

/// Who took part in a KOPP interview besides the client.
#[derive(SimpleObject, Debug, Clone)]
pub struct KoppParticipant {
    pub person: Person,
    pub role: KoppRole,
}

#[Object]
impl KoppInterview {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn held_on(&self) -> Date {
        Date(self.0.held_on)
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    async fn participants(&self, ctx: &Context<'_>) -> ApiResult<Vec<KoppParticipant>> {
        let c = caller(ctx)?;
        let participants = c
            .lookup(ctx, "kopp_participants", self.0.id, async |ids| c.store.kopp_participants(&c.reader(), &ids).await)
            .await?
            .unwrap_or_default();
        let persons = c.references(ctx, &catalogue::PERSON, participants.iter().map(|p| p.person_id)).await?;
        Ok(participants
            .into_iter()
            .zip(persons)
            .map(|(p, person)| KoppParticipant { person: Person(person), role: p.role.into() })
            .collect())
    }
}

/// One record of where a pillar stood on a day.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct PillarRecord {
    #[graphql(skip)]
    pub id: ID,
    pub pillar: ResiliencePillar,
    pub status: PillarStatus,
    pub recorded_on: Date,
    pub note: Option<String>,
}

/// Where one pillar of the children's resilience stands now, and how it got there.
#[derive(SimpleObject, Debug, Clone)]
pub struct PillarState {
    pub pillar: ResiliencePillar,
    /// `NOT_DISCUSSED` until something is recorded.
    pub status: PillarStatus,
    pub recorded_on: Option<Date>,
    /// Every record of this pillar, oldest first.
    pub history: Vec<PillarRecord>,
}

#[async_graphql::ComplexObject]
impl PillarRecord {
    pub(crate) async fn id(&self) -> ID {
        self.id.clone()
    }
}

impl TryFrom<records::PillarRecord> for PillarRecord {
    type Error = ApiError;
    fn try_from(r: records::PillarRecord) -> Result<Self, ApiError> {
        Ok(Self {
            id: ID(r.id.to_string()),
            pillar: r.pillar.into(),
            status: r.status.into(),
            recorded_on: Date(r.recorded_on),
            note: r.note,
        })
    }
}

/// What was done for the other parent.
#[derive(Debug, Clone)]
pub struct OtherParentSupportRecord(pub(crate) records::OtherParentSupport);

#[Object]
impl OtherParentSupportRecord {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn other_parent(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.other_parent_id).await?))
    }
    async fn recorded_on(&self) -> Date {
        Date(self.0.recorded_on)
    }
    /// Their well-being was asked about.
    async fn wellbeing_asked(&self) -> bool {
        self.0.wellbeing_asked
    }
    /// Someone from their network was involved to help with parenting tasks.
    async fn network_involved(&self) -> bool {
        self.0.network_involved
    }
    /// They were informed about support options.
    async fn informed_of_support_options(&self) -> bool {
        self.0.informed_of_support_options
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

/// A concrete step under a goal, owned by a family therapist or support person.
#[derive(Debug, Clone)]
pub struct SubGoal(pub(crate) records::SubGoal);

#[Object]
impl SubGoal {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn goal(&self, ctx: &Context<'_>) -> ApiResult<Goal> {
        let c = caller(ctx)?;
        Ok(Goal(c.reference(ctx, &catalogue::GOAL, self.0.goal_id).await?))
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The municipality or referred provider whose person owns the sub-goal.
    async fn owner_organization(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.owner_organization_id).await?))
    }
    /// The family therapist or support person who owns it.
    async fn owner_name(&self) -> &str {
        &self.0.owner_name
    }
    async fn status(&self) -> ApiResult<SubGoalStatus> {
        Ok(self.0.status.into())
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// The client's pillar records, as one state per pillar with its history.
pub(crate) fn pillar_states(records: Vec<records::PillarRecord>) -> Result<Vec<PillarState>, ApiError> {
    let records = records.into_iter().map(PillarRecord::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(dparental::ResiliencePillar::ALL
        .iter()
        .map(|p| {
            let pillar: ResiliencePillar = (*p).into();
            let history: Vec<PillarRecord> = records.iter().filter(|r| r.pillar == pillar).cloned().collect();
            let last = history.last();
            PillarState {
                pillar,
                status: last.map_or(PillarStatus::NotDiscussed, |r| r.status),
                recorded_on: last.map(|r| r.recorded_on),
                history,
            }
        })
        .collect())
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordParentalSupportNoteInput {
    /// The client: a parent of the caller's organisation.
    pub client_id: ID,
    pub noted_on: Date,
    /// How the client was supported in the role as a parent.
    pub text: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct KoppParticipantInput {
    pub person_id: ID,
    pub role: KoppRole,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordKoppInterviewInput {
    pub client_id: ID,
    pub held_on: Date,
    /// The partner, or without one a confidant of the child; at least one.
    pub participants: Vec<KoppParticipantInput>,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordResiliencePillarInput {
    pub client_id: ID,
    pub pillar: ResiliencePillar,
    pub status: PillarStatus,
    pub recorded_on: Date,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordOtherParentSupportInput {
    pub client_id: ID,
    pub other_parent_id: ID,
    pub recorded_on: Date,
    pub wellbeing_asked: bool,
    pub network_involved: bool,
    pub informed_of_support_options: bool,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AddSubGoalInput {
    pub goal_id: ID,
    pub description: String,
    /// The caller's municipality, or a family services provider the family is referred to.
    pub owner_organization_id: ID,
    /// The family therapist or support person who owns the sub-goal.
    pub owner_name: String,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SetSubGoalStatusInput {
    pub id: ID,
    pub status: SubGoalStatus,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ParentalSupportPayload {
    /// The client, with the support recorded.
    pub client: Person,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SubGoalPayload {
    pub sub_goal: SubGoal,
}

#[derive(Default, Debug)]
pub struct ParentalQuery;

#[Object]
impl ParentalQuery {
    /// The sub-goals the caller's organisation owns.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn owned_sub_goals(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<SubGoal>> {
        let c = caller(ctx)?;
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.owned_sub_goals(&c.reader(), req).await,
            async || c.store.count_owned_sub_goals(&c.reader()).await,
            |x| x.id.to_string(),
            SubGoal,
        )
        .await
    }
}

#[derive(Default, Debug)]
pub struct ParentalMutation;

fn text(field: &str, value: Option<&str>) -> Result<Option<FreeText>, ApiError> {
    value.map(FreeText::parse).transpose().at(field).map_err(in_input)
}

#[Object]
impl ParentalMutation {
    /// Notes how the client was supported in the role as a parent.
    async fn record_parental_support_note(
        &self,
        ctx: &Context<'_>,
        input: RecordParentalSupportNoteInput,
    ) -> ApiResult<ParentalSupportPayload> {
        let c = caller(ctx)?;
        let client: PersonId = id_arg("input.clientId", &input.client_id)?;
        let note = FreeText::parse(&input.text).at("text").map_err(in_input)?;
        let noted_on = when::has_happened("notedOn", input.noted_on.0, c.today()).map_err(in_input)?;
        let meta = c.write("recordParentalSupportNote", input.idempotency_key.as_deref(), &input)?;
        c.store.record_parental_note(&meta, client, noted_on, &note).await.map_err(under("input"))?;
        Ok(ParentalSupportPayload { client: Person(c.store.person(&c.reader(), client).await.api()?) })
    }

    /// Records a KOPP interview and who took part.
    async fn record_kopp_interview(
        &self,
        ctx: &Context<'_>,
        input: RecordKoppInterviewInput,
    ) -> ApiResult<ParentalSupportPayload> {
        let c = caller(ctx)?;
        let client: PersonId = id_arg("input.clientId", &input.client_id)?;
        let participants = input
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| Ok((id_arg(&format!("input.participants.{i}.personId"), &p.person_id)?, p.role.into())))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let note = text("note", input.note.as_deref())?;
        let held_on = when::has_happened("heldOn", input.held_on.0, c.today()).map_err(in_input)?;
        let meta = c.write("recordKoppInterview", input.idempotency_key.as_deref(), &input)?;
        c.store
            .record_kopp_interview(&meta, client, held_on, &participants, note.as_ref())
            .await
            .map_err(under("input"))?;
        Ok(ParentalSupportPayload { client: Person(c.store.person(&c.reader(), client).await.api()?) })
    }

    /// Records where one pillar of the children's resilience stands. None is mandatory
    /// and the order is free.
    async fn record_resilience_pillar(
        &self,
        ctx: &Context<'_>,
        input: RecordResiliencePillarInput,
    ) -> ApiResult<ParentalSupportPayload> {
        let c = caller(ctx)?;
        let client: PersonId = id_arg("input.clientId", &input.client_id)?;
        let note = text("note", input.note.as_deref())?;
        let recorded_on = when::has_happened("recordedOn", input.recorded_on.0, c.today()).map_err(in_input)?;
        let meta = c.write("recordResiliencePillar", input.idempotency_key.as_deref(), &input)?;
        c.store
            .record_pillar(&meta, client, input.pillar.into(), input.status.into(), recorded_on, note.as_ref())
            .await
            .map_err(under("input"))?;
        Ok(ParentalSupportPayload { client: Person(c.store.person(&c.reader(), client).await.api()?) })
    }

    /// Records what was done for the other parent: well-being asked, network involved,
    /// informed of support options.
    async fn record_other_parent_support(
        &self,
        ctx: &Context<'_>,
        input: RecordOtherParentSupportInput,
    ) -> ApiResult<ParentalSupportPayload> {
        let c = caller(ctx)?;
        let client: PersonId = id_arg("input.clientId", &input.client_id)?;
        let other: PersonId = id_arg("input.otherParentId", &input.other_parent_id)?;
        let support =
            OtherParentSupport::new(input.wellbeing_asked, input.network_involved, input.informed_of_support_options)
                .map_err(in_input)?;
        let note = text("note", input.note.as_deref())?;
        let recorded_on = when::has_happened("recordedOn", input.recorded_on.0, c.today()).map_err(in_input)?;
        let meta = c.write("recordOtherParentSupport", input.idempotency_key.as_deref(), &input)?;
        c.store
            .record_other_parent_support(&meta, client, other, recorded_on, support, note.as_ref())
            .await
            .map_err(under("input"))?;
        Ok(ParentalSupportPayload { client: Person(c.store.person(&c.reader(), client).await.api()?) })
    }

    /// Adds a concrete step under a goal, owned by a family therapist or support person.
    async fn add_sub_goal(&self, ctx: &Context<'_>, input: AddSubGoalInput) -> ApiResult<SubGoalPayload> {
        let c = caller(ctx)?;
        let goal: GoalId = id_arg("input.goalId", &input.goal_id)?;
        let owner: OrganizationId = id_arg("input.ownerOrganizationId", &input.owner_organization_id)?;
        let description = FreeText::parse(&input.description).at("description").map_err(in_input)?;
        let owner_name = Name::parse(&input.owner_name).at("ownerName").map_err(in_input)?;
        let meta = c.write("addSubGoal", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.add_sub_goal(&meta, goal, &description, owner, &owner_name).await.map_err(under("input"))?;
        Ok(SubGoalPayload { sub_goal: SubGoal(c.store.sub_goal(&c.reader(), id).await.api()?) })
    }

    /// Moves a sub-goal on; its owner may, and so may the plan's municipality.
    async fn set_sub_goal_status(&self, ctx: &Context<'_>, input: SetSubGoalStatusInput) -> ApiResult<SubGoalPayload> {
        let c = caller(ctx)?;
        let id: SubGoalId = id_arg("input.id", &input.id)?;
        let meta = c.write("setSubGoalStatus", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.set_sub_goal_status(&meta, id, input.status.into()).await.map_err(under("input"))?;
        Ok(SubGoalPayload { sub_goal: SubGoal(c.store.sub_goal(&c.reader(), id).await.api()?) })
    }
}
