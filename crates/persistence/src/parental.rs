//! Parental-role support (000) and sub-goals of parent action plans (001).
//!
//! Parental-role support belongs to the organisation whose professional supports the
//! client (000: "make a note in the file how you supported the client in their role as a
//! parent"): the responsible municipality for its own persons, a family services provider
//! for the parents of the families referred to it, an authority for its own persons. It
//! records them as its own; another organisation reads them only with the client's consent
//! to share them with it (`scope::parental_support`).

use chrono::NaiveDate;
use kinbridge_domain::ValidationError;
use kinbridge_domain::ids::{
    GoalId, KoppInterviewId, OrganizationId, OtherParentSupportId, ParentalSupportNoteId, PersonId, PillarRecordId,
    SubGoalId,
};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::parental::{
    KoppRole, OtherParentSupport, PillarStatus, ResiliencePillar, SubGoalStatus, check_kopp_participants,
};
use kinbridge_domain::text::{FreeText, Name};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::Store;
use crate::entities::{
    kopp_interview, kopp_participant, other_parent_support, parent_action_plan, parental_support_note, person,
    plan_goal, referral, resilience_pillar_record, sub_goal,
};
use crate::error::StoreError;
use crate::families::ensure_role_beside;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{WriteMeta, WriteTx};
use kinbridge_domain::family::beside;

/// The person, if the caller may see them (its own, or a member of a family referred to
/// it); a validation error on `field` otherwise.
async fn owned_person(tx: &WriteTx<'_>, id: PersonId, field: &str) -> Result<(), StoreError> {
    person::Entity::find_by_id(id.as_uuid())
        .filter(scope::persons(&tx.scope()))
        .one(&tx.reads())
        .await?
        .map(|_| ())
        .ok_or_else(|| ValidationError::new(field, "no such person").into())
}

/// The client, a person the caller supports in their role as a parent (its own person,
/// or a parent of a family referred to it: `scope::clients`); otherwise not found.
async fn client(tx: &WriteTx<'_>, id: PersonId) -> Result<(), StoreError> {
    person::Entity::find_by_id(id.as_uuid())
        .filter(scope::clients(&tx.scope()))
        .one(&tx.reads())
        .await?
        .map(|_| ())
        .ok_or(StoreError::not_found("Person"))
}

impl Store {
    /// Notes, dated, how a client was supported in the role as a parent.
    pub async fn record_parental_note(
        &self,
        meta: &WriteMeta<'_>,
        client_id: PersonId,
        on: NaiveDate,
        text: &FreeText,
    ) -> Result<ParentalSupportNoteId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ParentalSupportNoteId::from_uuid(id));
        }
        client(&tx, client_id).await?;
        let id = ParentalSupportNoteId::new();
        tx.insert(parental_support_note::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            client_id: Set(client_id.as_uuid()),
            noted_on: Set(on),
            text: Set(text.as_str().to_owned()),
        })
        .await?;
        tx.record("ParentalSupportNote", id.as_uuid(), &id.to_string(), "parental_support.noted").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records a KOPP interview and who took part: the partner, or a confidant of the child.
    pub async fn record_kopp_interview(
        &self,
        meta: &WriteMeta<'_>,
        client_id: PersonId,
        held_on: NaiveDate,
        participants: &[(PersonId, KoppRole)],
        note: Option<&FreeText>,
    ) -> Result<KoppInterviewId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(KoppInterviewId::from_uuid(id));
        }
        client(&tx, client_id).await?;
        check_kopp_participants(client_id, participants)?;
        for (i, (p, role)) in participants.iter().enumerate() {
            let field = format!("participants.{i}.personId");
            owned_person(&tx, *p, &field).await?;
            let (needed, what) = match role {
                KoppRole::Partner => (beside::KOPP_PARTNER, "the interview's partner"),
                KoppRole::ChildConfidant => (beside::CHILD_CONFIDANT, "a confidant of the child"),
            };
            ensure_role_beside(&tx, client_id, *p, &field, needed, what).await?;
        }
        let id = KoppInterviewId::new();
        tx.insert(kopp_interview::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            client_id: Set(client_id.as_uuid()),
            held_on: Set(held_on),
            note: Set(note.map(|n| n.as_str().to_owned())),
        })
        .await?;
        tx.insert_all(
            participants
                .iter()
                .map(|(p, role)| kopp_participant::ActiveModel {
                    interview_id: Set(id.as_uuid()),
                    person_id: Set(p.as_uuid()),
                    role: Set(role.as_str().to_owned()),
                })
                .collect(),
        )
        .await?;
        tx.record("KoppInterview", id.as_uuid(), &id.to_string(), "kopp_interview.held").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records where one resilience pillar stands. Any pillar, any status, in any order.
    pub async fn record_pillar(
        &self,
        meta: &WriteMeta<'_>,
        client_id: PersonId,
        pillar: ResiliencePillar,
        status: PillarStatus,
        on: NaiveDate,
        note: Option<&FreeText>,
    ) -> Result<PillarRecordId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(PillarRecordId::from_uuid(id));
        }
        client(&tx, client_id).await?;
        let id = PillarRecordId::new();
        tx.insert(resilience_pillar_record::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            client_id: Set(client_id.as_uuid()),
            pillar: Set(pillar.as_str().to_owned()),
            status: Set(status.as_str().to_owned()),
            recorded_on: Set(on),
            note: Set(note.map(|n| n.as_str().to_owned())),
        })
        .await?;
        tx.record("PillarRecord", id.as_uuid(), &id.to_string(), "resilience_pillar.recorded").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records what was done for the other parent.
    pub async fn record_other_parent_support(
        &self,
        meta: &WriteMeta<'_>,
        client_id: PersonId,
        other_parent_id: PersonId,
        on: NaiveDate,
        support: OtherParentSupport,
        note: Option<&FreeText>,
    ) -> Result<OtherParentSupportId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(OtherParentSupportId::from_uuid(id));
        }
        client(&tx, client_id).await?;
        owned_person(&tx, other_parent_id, "otherParentId").await?;
        if other_parent_id == client_id {
            return Err(
                ValidationError::new("otherParentId", "the other parent is someone other than the client").into()
            );
        }
        ensure_role_beside(&tx, client_id, other_parent_id, "otherParentId", beside::OTHER_PARENT, "the other parent")
            .await?;
        let id = OtherParentSupportId::new();
        tx.insert(other_parent_support::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            client_id: Set(client_id.as_uuid()),
            other_parent_id: Set(other_parent_id.as_uuid()),
            recorded_on: Set(on),
            wellbeing_asked: Set(support.wellbeing_asked),
            network_involved: Set(support.network_involved),
            informed_of_support_options: Set(support.informed_of_support_options),
            note: Set(note.map(|n| n.as_str().to_owned())),
        })
        .await?;
        tx.record("OtherParentSupport", id.as_uuid(), &id.to_string(), "other_parent.supported").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Adds a concrete step under a goal of one of the caller's plans, owned by a family
    /// therapist or support person of the caller's municipality or of a family services
    /// provider the family is referred to.
    pub async fn add_sub_goal(
        &self,
        meta: &WriteMeta<'_>,
        goal_id: GoalId,
        description: &FreeText,
        owner_organization: OrganizationId,
        owner_name: &Name,
    ) -> Result<SubGoalId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(SubGoalId::from_uuid(id));
        }
        let goal = plan_goal::Entity::find_by_id(goal_id.as_uuid())
            .filter(owned_by(plan_goal::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Goal"))?;
        if owner_organization != tx.actor().organization_id {
            let plan = parent_action_plan::Entity::find_by_id(goal.plan_id)
                .one(&tx.reads())
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("goal {} has no plan", goal.id)))?;
            Store::expect_organization_kind(
                &tx.reads(),
                owner_organization,
                OrganizationKind::FamilyServicesProvider,
                "ownerOrganizationId",
            )
            .await?;
            let today = tx.now.date_naive();
            let referred = referral::Entity::find()
                .filter(referral::Column::FamilyId.eq(plan.family_id))
                .filter(referral::Column::ProviderId.eq(owner_organization.as_uuid()))
                .filter(referral::Column::StartsOn.lte(today))
                .filter(
                    sea_orm::Condition::any()
                        .add(referral::Column::EndsOn.is_null())
                        .add(referral::Column::EndsOn.gt(today)),
                )
                .count(&tx.reads())
                .await?;
            if referred == 0 {
                return Err(
                    ValidationError::new("ownerOrganizationId", "the family is not referred to this provider").into()
                );
            }
        }
        let id = SubGoalId::new();
        tx.insert(sub_goal::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            goal_id: Set(goal.id),
            description: Set(description.as_str().to_owned()),
            owner_organization_id: Set(owner_organization.as_uuid()),
            owner_name: Set(owner_name.as_str().to_owned()),
            status: Set(SubGoalStatus::Open.as_str().to_owned()),
        })
        .await?;
        tx.record("SubGoal", id.as_uuid(), &id.to_string(), "sub_goal.added").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Moves a sub-goal on. The plan's municipality may, and so may the provider that
    /// owns the sub-goal.
    pub async fn set_sub_goal_status(
        &self,
        meta: &WriteMeta<'_>,
        id: SubGoalId,
        to: SubGoalStatus,
    ) -> Result<SubGoalId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(SubGoalId::from_uuid(id));
        }
        let row = sub_goal::Entity::find_by_id(id.as_uuid())
            .filter(crate::authz::sub_goal_owner(&tx.scope()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("SubGoal"))?;
        let current: SubGoalStatus = row.status.parse()?;
        current.transition(to)?;
        // The rule is decided again in the update itself: a referral that ended meanwhile
        // leaves the row unchanged (and the caller reads NOT_FOUND when it reads again).
        tx.update::<sub_goal::Entity>("sub-goal", row.id, row.version, |u| {
            u.col_expr(sub_goal::Column::Status, Expr::value(to.as_str()))
                .filter(crate::authz::sub_goal_owner(&tx.scope()))
        })
        .await?;
        tx.record_for(row.organization_id, "SubGoal", row.id, &id.to_string(), "sub_goal.status_changed").await?;
        tx.commit(row.id).await?;
        Ok(id)
    }

    pub async fn sub_goal(&self, r: &Reader<'_>, id: SubGoalId) -> Result<records::SubGoal, StoreError> {
        let found = sub_goal::Entity::find_by_id(id.as_uuid())
            .filter(sub_goals_visible(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("SubGoal"))?;
        r.saw("SubGoal", found.id);
        found.try_into()
    }

    /// The sub-goals the caller's organisation owns, on plans it may see.
    pub async fn owned_sub_goals(
        &self,
        r: &Reader<'_>,
        req: PageRequest,
    ) -> Result<Page<records::SubGoal>, StoreError> {
        let page =
            page::fetch(self.conn(), owned_sub_goals_query(r), page::Order::by_id(sub_goal::Column::Id), req).await?;
        page.items.iter().for_each(|x| r.saw("SubGoal", x.id));
        page.read()
    }

    pub async fn count_owned_sub_goals(&self, r: &Reader<'_>) -> Result<u64, StoreError> {
        Ok(owned_sub_goals_query(r).count(self.conn()).await?)
    }
}

/// Sub-goals of goals the caller may see.
pub(crate) fn sub_goals_visible(r: &Reader<'_>) -> sea_orm::Condition {
    let goals =
        Query::select().column(plan_goal::Column::Id).from(plan_goal::Entity).cond_where(scope::goals(r)).take();
    sea_orm::Condition::all().add(sub_goal::Column::GoalId.in_subquery(goals))
}

fn owned_sub_goals_query(r: &Reader<'_>) -> sea_orm::Select<sub_goal::Entity> {
    sub_goal::Entity::find()
        .filter(sub_goals_visible(r))
        .filter(sub_goal::Column::OwnerOrganizationId.eq(r.actor.organization_id.as_uuid()))
}
