//! Parent action plans and their goals.

use chrono::NaiveDate;
use kinbridge_domain::access::Actor;
use kinbridge_domain::ids::{GoalId, OrganizationId, ParentActionPlanId, PlacementId, PlanReviewId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::plan::{NewGoal, NewPlan, NewReview, PlanStatus, ReviewInterval, next_review_due};
use kinbridge_domain::{TransitionError, ValidationError};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::Store;
use crate::entities::{parent_action_plan, plan_goal, plan_review, plan_review_progress};
use crate::error::StoreError;
use crate::placements::placement_owned;
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{WriteMeta, WriteTx, Written, expect_version, system_actor};

impl Store {
    /// Makes a plan, in draft, for the parents of a child in one of the caller's placements.
    pub async fn create_plan(
        &self,
        meta: &WriteMeta<'_>,
        placement_id: PlacementId,
        new: &NewPlan,
    ) -> Result<ParentActionPlanId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ParentActionPlanId::from_uuid(id));
        }
        let placement = placement_owned(&tx.reads(), tx.actor(), placement_id).await?;
        let id = ParentActionPlanId::new();
        tx.insert(parent_action_plan::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            family_id: Set(placement.family_id),
            placement_id: Set(placement.id),
            status: Set(PlanStatus::Draft.as_str().to_owned()),
            review_interval_days: Set(i32::from(new.review_interval.days())),
            child_plan_reference: Set(new.child_plan_reference.as_ref().map(|r| r.as_str().to_owned())),
            activated_on: Set(None),
            closed_on: Set(None),
            next_review_due: Set(Some(new.review_interval.next_review_due(tx.now.date_naive()))),
        })
        .await?;
        tx.record("ParentActionPlan", id.as_uuid(), &id.to_string(), "parent_action_plan.created").await?;
        for (position, goal) in new.goals.iter().enumerate() {
            insert_goal(&tx, id.as_uuid(), i32::try_from(position).unwrap_or(i32::MAX), goal).await?;
        }
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Adds a goal at the end of one of the caller's plans.
    pub async fn add_goal(
        &self,
        meta: &WriteMeta<'_>,
        plan_id: ParentActionPlanId,
        goal: &NewGoal,
    ) -> Result<GoalId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(GoalId::from_uuid(id));
        }
        // Concurrent goals of one plan take the next positions in turn.
        let plan =
            tx.one_locked(owned_plan(tx.actor(), plan_id)).await?.ok_or(StoreError::not_found("ParentActionPlan"))?;
        let count = plan_goal::Entity::find().filter(plan_goal::Column::PlanId.eq(plan.id)).count(&tx.reads()).await?;
        if count >= NewPlan::MAX_GOALS as u64 {
            return Err(kinbridge_domain::ValidationError::new(
                "planId",
                format!("a plan has at most {} goals", NewPlan::MAX_GOALS),
            )
            .into());
        }
        let last: Option<i32> = plan_goal::Entity::find()
            .select_only()
            .column_as(Expr::from(Func::max(Expr::col(plan_goal::Column::Position))), "max")
            .filter(plan_goal::Column::PlanId.eq(plan.id))
            .into_tuple::<Option<i32>>()
            .one(&tx.reads())
            .await?
            .flatten();
        let id = insert_goal(&tx, plan.id, last.map_or(0, |p| p + 1), goal).await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    pub async fn plan(&self, r: &Reader<'_>, id: ParentActionPlanId) -> Result<records::ParentActionPlan, StoreError> {
        let found = parent_action_plan::Entity::find_by_id(id.as_uuid())
            .filter(scope::plans(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("ParentActionPlan"))?;
        r.saw("ParentActionPlan", found.id);
        found.try_into()
    }

    pub async fn goal(&self, r: &Reader<'_>, id: GoalId) -> Result<records::Goal, StoreError> {
        let found = plan_goal::Entity::find_by_id(id.as_uuid())
            .filter(scope::goals(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Goal"))?;
        r.saw("Goal", found.id);
        found.try_into()
    }
}

/// The plan, if the caller's organisation made it (the rule for writes).
async fn plan_owned<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ParentActionPlanId,
) -> Result<parent_action_plan::Model, StoreError> {
    owned_plan(actor, id).one(db).await?.ok_or(StoreError::not_found("ParentActionPlan"))
}

fn owned_plan(actor: &Actor, id: ParentActionPlanId) -> sea_orm::Select<parent_action_plan::Entity> {
    parent_action_plan::Entity::find_by_id(id.as_uuid())
        .filter(owned_by(parent_action_plan::Column::OrganizationId, actor))
}

async fn insert_goal(tx: &WriteTx<'_>, plan_id: Uuid, position: i32, goal: &NewGoal) -> Result<GoalId, StoreError> {
    let id = GoalId::new();
    tx.insert(plan_goal::ActiveModel {
        id: Set(id.as_uuid()),
        organization_id: Set(tx.organization_id()),
        created_at: Set(tx.now),
        plan_id: Set(plan_id),
        position: Set(position),
        description: Set(goal.description.as_str().to_owned()),
        purpose: Set(goal.purpose.as_str().to_owned()),
    })
    .await?;
    tx.record("Goal", id.as_uuid(), &id.to_string(), "goal.added").await?;
    Ok(id)
}

impl Store {
    /// Moves one of the caller's plans to `to` (active or closed), recording the day.
    pub async fn set_plan_status(
        &self,
        meta: &WriteMeta<'_>,
        plan_id: ParentActionPlanId,
        to: PlanStatus,
        expected_version: Option<i32>,
    ) -> Result<ParentActionPlanId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ParentActionPlanId::from_uuid(id));
        }
        let plan = plan_owned(&tx.reads(), tx.actor(), plan_id).await?;
        expect_version("plan", expected_version, plan.version)?;
        let current: PlanStatus = plan.status.parse()?;
        current.transition(to)?;
        let today = tx.now.date_naive();
        let due = match to {
            PlanStatus::Active => plan_next_review(&tx.reads(), &plan, Some(today)).await?,
            _ => None,
        };
        tx.update::<parent_action_plan::Entity>("plan", plan.id, plan.version, |u| {
            let u = u
                .col_expr(parent_action_plan::Column::Status, Expr::value(to.as_str()))
                .col_expr(parent_action_plan::Column::NextReviewDue, Expr::value(due));
            match to {
                PlanStatus::Active => u.col_expr(parent_action_plan::Column::ActivatedOn, Expr::value(today)),
                _ => u.col_expr(parent_action_plan::Column::ClosedOn, Expr::value(today)),
            }
        })
        .await?;
        let event = if to == PlanStatus::Active { "parent_action_plan.activated" } else { "parent_action_plan.closed" };
        tx.record("ParentActionPlan", plan.id, &plan_id.to_string(), event).await?;
        tx.commit(plan.id).await?;
        Ok(plan_id)
    }

    /// Records a review of one of the caller's active plans, with progress per goal of
    /// that plan.
    pub async fn record_review(
        &self,
        meta: &WriteMeta<'_>,
        plan_id: ParentActionPlanId,
        review: &NewReview,
    ) -> Result<Written<records::PlanReview>, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(Written::Read(id));
        }
        let (plan, last) = plan_and_last_review(&tx, plan_id).await?;
        if plan.status != PlanStatus::Active.as_str() {
            return Err(TransitionError(format!("the plan is {}; only an active plan is reviewed", plan.status)).into());
        }
        // The goals the progress names, of this plan, in one read.
        if !review.progress.is_empty() {
            let named: Vec<Uuid> = review.progress.iter().map(|p| p.goal_id.as_uuid()).collect();
            let found: std::collections::HashSet<Uuid> = plan_goal::Entity::find()
                .select_only()
                .column(plan_goal::Column::Id)
                .filter(plan_goal::Column::PlanId.eq(plan.id))
                .filter(plan_goal::Column::Id.is_in(named.iter().copied()))
                .into_tuple::<Uuid>()
                .all(&tx.reads())
                .await?
                .into_iter()
                .collect();
            if let Some(i) = named.iter().position(|goal| !found.contains(goal)) {
                return Err(ValidationError::new(format!("progress.{i}.goalId"), "is not a goal of this plan").into());
            }
        }
        let id = PlanReviewId::new();
        let stored = tx
            .insert_returning(plan_review::ActiveModel {
                id: Set(id.as_uuid()),
                organization_id: Set(tx.organization_id()),
                created_at: Set(tx.now),
                plan_id: Set(plan.id),
                kind: Set(review.kind.as_str().to_owned()),
                held_on: Set(review.held_on),
                note: Set(review.note.as_ref().map(|n| n.as_str().to_owned())),
                adjustments: Set(review.adjustments.as_ref().map(|n| n.as_str().to_owned())),
                next_review_on: Set(review.next_review_on),
            })
            .await?;
        tx.insert_all(
            review
                .progress
                .iter()
                .map(|p| plan_review_progress::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    review_id: Set(id.as_uuid()),
                    goal_id: Set(p.goal_id.as_uuid()),
                    score: Set(i32::from(p.score.get())),
                    note: Set(p.note.as_ref().map(|n| n.as_str().to_owned())),
                })
                .collect(),
        )
        .await?;
        // The plan's last review is now this one, unless one held later (or on the same
        // day, with a greater id) was recorded before: the order `plan_next_review` reads.
        let this = LastReview { held_on: stored.held_on, id: stored.id, next_review_on: stored.next_review_on };
        let last = last.filter(|l| (l.held_on, l.id) > (this.held_on, this.id)).unwrap_or(this);
        let due =
            next_review_due(plan_interval(&plan)?, plan_started_on(&plan), Some((last.held_on, last.next_review_on)));
        tx.update::<parent_action_plan::Entity>("plan", plan.id, plan.version, |u| {
            u.col_expr(parent_action_plan::Column::NextReviewDue, Expr::value(Some(due)))
        })
        .await?;
        tx.record("PlanReview", id.as_uuid(), &id.to_string(), "plan_review.recorded").await?;
        let visible = tx.scope().sees_own_visits_and_reviews();
        tx.commit_answering(stored, id.as_uuid(), visible).await
    }

    /// The review a write answers with, logged as shown to the caller.
    pub async fn shown_review(
        &self,
        r: &Reader<'_>,
        written: Written<records::PlanReview>,
    ) -> Result<records::PlanReview, StoreError> {
        written.shown(r, "PlanReview", |v| v.id.as_uuid(), |id| self.review(r, PlanReviewId::from_uuid(id))).await
    }

    pub async fn review(&self, r: &Reader<'_>, id: PlanReviewId) -> Result<records::PlanReview, StoreError> {
        let found = plan_review::Entity::find_by_id(id.as_uuid())
            .filter(scope::reviews(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("PlanReview"))?;
        r.saw("PlanReview", found.id);
        found.try_into()
    }

    /// Gives plans made before their next review date was stored one, once, at start.
    pub async fn backfill_review_dates(&self) -> Result<u64, StoreError> {
        let plans = parent_action_plan::Entity::find()
            .filter(parent_action_plan::Column::NextReviewDue.is_null())
            .filter(parent_action_plan::Column::Status.ne(PlanStatus::Closed.as_str()))
            .all(self.conn())
            .await?;
        // Each plan is a write of its own, by Kinbridge for the plan's municipality: versioned,
        // audited and in the change feed like any other. A plan changed meanwhile by a
        // caseworker got its date from that change, and is left alone.
        let mut done = 0;
        for plan in &plans {
            let actor = system_actor(OrganizationId::from_uuid(plan.organization_id), OrganizationKind::Municipality);
            let meta =
                WriteMeta { actor: &actor, request_id: "start-up", operation: "setNextReviewDate", idempotency: None };
            let tx = self.begin_write(&meta).await?;
            let due = plan_next_review(&tx.reads(), plan, plan.activated_on).await?;
            let updated = tx
                .update::<parent_action_plan::Entity>("plan", plan.id, plan.version, |u| {
                    u.col_expr(parent_action_plan::Column::NextReviewDue, Expr::value(due))
                })
                .await;
            match updated {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
            let public = ParentActionPlanId::from_uuid(plan.id).to_string();
            tx.record("ParentActionPlan", plan.id, &public, "parent_action_plan.next_review_set").await?;
            tx.commit(plan.id).await?;
            done += 1;
        }
        Ok(done)
    }
}

/// The last review of a plan, in the order reviews follow one another: by the day held,
/// then by id.
#[derive(Debug, Clone, Copy)]
struct LastReview {
    held_on: NaiveDate,
    id: Uuid,
    next_review_on: Option<NaiveDate>,
}

/// The caller's plan `plan_id`, read and locked for this write ([`WriteTx::one_locked`]),
/// and its last review, in one statement: the review's columns are subqueries of the
/// plan's row, by the plan's reviews' index.
async fn plan_and_last_review(
    tx: &WriteTx<'_>,
    plan_id: ParentActionPlanId,
) -> Result<(parent_action_plan::Model, Option<LastReview>), StoreError> {
    use crate::entities::FromRow;
    use sea_orm::ExprTrait;
    use sea_orm::sea_query::Query;
    use sea_orm::{Iterable, QueryTrait};
    let last = |column: plan_review::Column| {
        Query::select()
            .column((plan_review::Entity, column))
            .from(plan_review::Entity)
            .and_where(
                Expr::col((plan_review::Entity, plan_review::Column::PlanId))
                    .equals((parent_action_plan::Entity, parent_action_plan::Column::Id)),
            )
            .order_by((plan_review::Entity, plan_review::Column::HeldOn), sea_orm::Order::Desc)
            .order_by((plan_review::Entity, plan_review::Column::Id), sea_orm::Order::Desc)
            .limit(1)
            .take()
    };
    let mut select = owned_plan(tx.actor(), plan_id);
    for (column, name) in [
        (plan_review::Column::HeldOn, "kb_last_held_on"),
        (plan_review::Column::Id, "kb_last_id"),
        (plan_review::Column::NextReviewOn, "kb_last_next_review_on"),
    ] {
        select = select.expr_as(Expr::SubQuery(None, Box::new(last(column).into())), name);
    }
    let select = if crate::write::supports_row_locks(tx.backend()) { select.lock_exclusive() } else { select };
    let statement = tx.backend().build(&select.into_query());
    let row = tx.reads().query_one_raw(statement).await?.ok_or(StoreError::not_found("ParentActionPlan"))?;
    let columns = parent_action_plan::Column::iter().count();
    let plan = parent_action_plan::Model::from_row(&row, 0)?;
    let held_on: Option<NaiveDate> = row.try_get_by_index(columns)?;
    let last = match held_on {
        Some(held_on) => Some(LastReview {
            held_on,
            id: row.try_get_by_index(columns + 1)?,
            next_review_on: row.try_get_by_index(columns + 2)?,
        }),
        None => None,
    };
    Ok((plan, last))
}

fn plan_interval(plan: &parent_action_plan::Model) -> Result<ReviewInterval, StoreError> {
    ReviewInterval::from_days(i64::from(plan.review_interval_days)).map_err(|e| StoreError::Corrupt(e.0))
}

/// The day a plan's reviews count from when it has none: the day it was activated.
fn plan_started_on(plan: &parent_action_plan::Model) -> NaiveDate {
    plan.activated_on.unwrap_or_else(|| plan.created_at.date_naive())
}

/// A plan's next review date: from its latest review, or one interval after it started
/// (`started_on`, or the day it was made while it is a draft).
async fn plan_next_review<C: ConnectionTrait>(
    db: &C,
    plan: &parent_action_plan::Model,
    started_on: Option<NaiveDate>,
) -> Result<Option<NaiveDate>, StoreError> {
    let interval = plan_interval(plan)?;
    let last = plan_review::Entity::find()
        .filter(plan_review::Column::PlanId.eq(plan.id))
        .order_by_desc(plan_review::Column::HeldOn)
        .order_by_desc(plan_review::Column::Id)
        .one(db)
        .await?
        .map(|r| (r.held_on, r.next_review_on));
    let started_on = started_on.unwrap_or_else(|| plan.created_at.date_naive());
    Ok(Some(next_review_due(interval, started_on, last)))
}
