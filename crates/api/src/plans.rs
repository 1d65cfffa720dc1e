//! Parent action plans and their goals.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{ParentActionPlanId, PlacementId};
use kinbridge_domain::plan::{self as dplan, NewGoal, NewPlan, NewReview, ProgressScore};
use kinbridge_domain::text::FreeText;
use serde::Serialize;

use crate::connection::{Conn, cost};
use crate::context::caller;
use crate::error::{ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::Family;
use crate::loader;
use crate::placements::Placement;
use crate::scalars::{Date, GoalPurpose, PlanStatus, ReviewKind, Timestamp};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;

/// The plan made with the parents of a placed child for the support they receive.
#[derive(Debug, Clone)]
pub struct ParentActionPlan(pub(crate) records::ParentActionPlan);

#[Object]
impl ParentActionPlan {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn family(&self, ctx: &Context<'_>) -> ApiResult<Family> {
        let c = caller(ctx)?;
        Ok(Family(c.reference(ctx, &catalogue::FAMILY, self.0.family_id).await?))
    }

    /// The placement of the child whose parents the plan supports.
    async fn placement(&self, ctx: &Context<'_>) -> ApiResult<Placement> {
        let c = caller(ctx)?;
        Ok(Placement(c.reference(ctx, &catalogue::PLACEMENT, self.0.placement_id).await?))
    }

    async fn status(&self) -> ApiResult<PlanStatus> {
        Ok(self.0.status.into())
    }

    /// Days between plan meetings or status meetings.
    async fn review_interval_days(&self) -> i32 {
        self.0.review_interval_days
    }

    /// The day the plan was agreed with the parents.
    async fn activated_on(&self) -> Option<Date> {
        self.0.activated_on.map(Date)
    }

    async fn closed_on(&self) -> Option<Date> {
        self.0.closed_on.map(Date)
    }

    /// When the plan is next due for review: the date the last review set, or one
    /// interval after the last review or the plan's start. None for a closed plan.
    async fn next_review_due(&self) -> Option<Date> {
        self.0.next_review_due.map(Date)
    }

    /// Whether an active plan is past its review date.
    async fn is_review_overdue(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let c = caller(ctx)?;
        Ok(self.0.next_review_due.is_some_and(|due| dplan::is_review_overdue(self.0.status, due, c.today())))
    }

    /// The plan meetings and status meetings held, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<PlanReview>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PLAN_REVIEWS,
            self.0.id,
            |x| x.id.to_string(),
            PlanReview,
        )
        .await
    }

    /// The child's own plan in the municipal case system.
    async fn child_plan_reference(&self) -> Option<&str> {
        self.0.child_plan_reference.as_deref()
    }

    /// The goals, in the parents' own words, in the order they were written.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn goals(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Goal>> {
        loader::nested(ctx, (after, before, first, last), &catalogue::PLAN_GOALS, self.0.id, |g| g.id.to_string(), Goal)
            .await
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }
}

crate::level::level!(ParentActionPlan, plain: [
    "id", "status", "reviewIntervalDays", "activatedOn", "closedOn", "nextReviewDue", "isReviewOverdue",
    "childPlanReference", "version", "createdAt", "updatedAt",
], nested: {
    "family" => crate::level::one_via(&catalogue::PLAN_FAMILY, |p: &ParentActionPlan| Some(p.0.family_id.into()), Family),
    "placement" => crate::level::one_via(&catalogue::PLAN_PLACEMENT, |p: &ParentActionPlan| Some(p.0.placement_id.into()), Placement),
    "goals" => crate::level::many(&catalogue::PLAN_GOALS, Goal),
});

/// A plan meeting or status meeting: progress per goal, adjustments, the next review.
#[derive(Debug, Clone)]
pub struct PlanReview(pub(crate) records::PlanReview);

/// Progress on one goal at a review, from 1 (none yet) to 5 (achieved).
#[derive(SimpleObject, Debug, Clone)]
pub struct GoalProgress {
    pub goal: Goal,
    pub score: i32,
    pub note: Option<String>,
}

#[Object]
impl PlanReview {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> ApiResult<ReviewKind> {
        Ok(self.0.kind.into())
    }

    async fn held_on(&self) -> Date {
        Date(self.0.held_on)
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// How the support was adjusted after the review.
    async fn adjustments(&self) -> Option<&str> {
        self.0.adjustments.as_deref()
    }

    /// The date set for the next review, if one was set.
    async fn next_review_on(&self) -> Option<Date> {
        self.0.next_review_on.map(Date)
    }

    async fn progress(&self, ctx: &Context<'_>) -> ApiResult<Vec<GoalProgress>> {
        let c = caller(ctx)?;
        let rows = c
            .lookup(ctx, "review_progress", self.0.id, async |ids| c.store.review_progress(&c.reader(), &ids).await)
            .await?
            .unwrap_or_default();
        let goals = c.references(ctx, &catalogue::GOAL, rows.iter().map(|row| row.goal_id)).await?;
        Ok(rows
            .into_iter()
            .zip(goals)
            .map(|(row, goal)| GoalProgress { goal: Goal(goal), score: row.score, note: row.note })
            .collect())
    }
}

/// A goal of a parent action plan, in the parents' own words.
#[derive(Debug, Clone)]
pub struct Goal(pub(crate) records::Goal);

#[Object]
impl Goal {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// What the goal is for; shown to the parents so they can adjust their expectations.
    async fn purpose(&self) -> ApiResult<GoalPurpose> {
        Ok(self.0.purpose.into())
    }

    /// The concrete steps under the goal, each owned by a family therapist or support person.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn sub_goals(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<crate::parental::SubGoal>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::GOAL_SUB_GOALS,
            self.0.id,
            |x| x.id.to_string(),
            crate::parental::SubGoal,
        )
        .await
    }

    /// The goal's place in the plan, from 0.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

crate::level::level!(Goal, plain: ["id", "description", "purpose", "position"], nested: {});

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct GoalInput {
    /// The goal in the parents' own words.
    pub description: String,
    pub purpose: GoalPurpose,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreateParentActionPlanInput {
    pub placement_id: ID,
    /// Days between reviews, from 7 to 366.
    pub review_interval_days: i64,
    pub child_plan_reference: Option<String>,
    pub goals: Option<Vec<GoalInput>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AddGoalInput {
    pub plan_id: ID,
    pub goal: GoalInput,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ChangePlanStatusInput {
    pub id: ID,
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct GoalProgressInput {
    pub goal_id: ID,
    /// From 1 (no progress yet) to 5 (achieved).
    pub score: i64,
    pub note: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordPlanReviewInput {
    pub plan_id: ID,
    pub kind: ReviewKind,
    pub held_on: Date,
    pub note: Option<String>,
    /// How the support is adjusted after the review.
    pub adjustments: Option<String>,
    /// When to meet next; without it, one review interval after this review.
    pub next_review_on: Option<Date>,
    pub progress: Option<Vec<GoalProgressInput>>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ParentActionPlanPayload {
    pub parent_action_plan: ParentActionPlan,
}

// The plan is read only when the answer asks for it: an answer that shows the review
// alone neither reads the plan nor logs it as shown.
#[derive(Debug, Clone)]
pub struct RecordPlanReviewPayload {
    plan_id: ParentActionPlanId,
    review: PlanReview,
}

#[Object]
impl RecordPlanReviewPayload {
    async fn parent_action_plan(&self, ctx: &Context<'_>) -> ApiResult<ParentActionPlan> {
        let c = caller(ctx)?;
        Ok(ParentActionPlan(c.store.plan(&c.reader(), self.plan_id).await.api()?))
    }

    async fn review(&self) -> &PlanReview {
        &self.review
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreateParentActionPlanPayload {
    pub parent_action_plan: ParentActionPlan,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AddGoalPayload {
    pub parent_action_plan: ParentActionPlan,
    pub goal: Goal,
}

#[derive(Default, Debug)]
pub struct PlanQuery;

#[Object]
impl PlanQuery {
    /// One of the caller's parent action plans. Another organisation's is `NOT_FOUND`.
    async fn parent_action_plan(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ParentActionPlan>> {
        let c = caller(ctx)?;
        let id: ParentActionPlanId = id_arg("id", &id)?;
        Ok(Some(ParentActionPlan(c.store.plan(&c.reader(), id).await.api()?)))
    }

    /// The parent action plans the caller may see, oldest first; `filter` narrows them
    /// inside the same scoped query (`totalCount` counts what it leaves). Plans with a
    /// review due this month: `{ reviewDueFrom: first of the month, reviewDueUntil: first
    /// of the next }`.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn parent_action_plans(
        &self,
        ctx: &Context<'_>,
        filter: Option<PlanFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ParentActionPlan>> {
        let c = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        let filter = kinbridge_persistence::lists::PlanFilter {
            status: filter.status.map(Into::into),
            review_due_from: filter.review_due_from.map(|d| d.0),
            review_due_until: filter.review_due_until.map(|d| d.0),
            updated_since: filter.updated_since.map(|t| t.0),
        };
        crate::connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.plans_where(&c.reader(), &filter, req).await,
            async || c.store.count_plans_where(&c.reader(), &filter).await,
            |p| p.id.to_string(),
            ParentActionPlan,
        )
        .await
    }
}

/// Narrows `parentActionPlans`: every field given must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct PlanFilter {
    pub status: Option<PlanStatus>,
    /// Next review due on or after this day.
    pub review_due_from: Option<Date>,
    /// Next review due before this day.
    pub review_due_until: Option<Date>,
    /// Created or changed at or after this time.
    pub updated_since: Option<Timestamp>,
}

#[derive(Default, Debug)]
pub struct PlanMutation;

#[Object]
impl PlanMutation {
    /// Makes a parent action plan, in draft, for the parents of a placed child.
    async fn create_parent_action_plan(
        &self,
        ctx: &Context<'_>,
        input: CreateParentActionPlanInput,
    ) -> ApiResult<CreateParentActionPlanPayload> {
        let c = caller(ctx)?;
        let placement_id: PlacementId = id_arg("input.placementId", &input.placement_id)?;
        let goals = input
            .goals
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, g)| NewGoal::parse(&g.description, g.purpose.into()).map_err(|e| e.under(&format!("goals.{i}"))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(in_input)?;
        let plan = NewPlan::parse(input.review_interval_days, input.child_plan_reference.as_deref(), goals)
            .map_err(in_input)?;
        let meta = c.write("createParentActionPlan", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_plan(&meta, placement_id, &plan).await.map_err(under("input"))?;
        Ok(CreateParentActionPlanPayload {
            parent_action_plan: ParentActionPlan(c.store.plan(&c.reader(), id).await.api()?),
        })
    }

    /// Marks a draft plan as agreed with the parents; its reviews are due from today.
    async fn activate_parent_action_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangePlanStatusInput,
    ) -> ApiResult<ParentActionPlanPayload> {
        change_status(ctx, input, dplan::PlanStatus::Active, "activateParentActionPlan").await
    }

    /// Closes a plan. A closed plan is not reviewed again; a new situation gets a new plan.
    async fn close_parent_action_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangePlanStatusInput,
    ) -> ApiResult<ParentActionPlanPayload> {
        change_status(ctx, input, dplan::PlanStatus::Closed, "closeParentActionPlan").await
    }

    /// Records a plan meeting or status meeting of an active plan: progress per goal on
    /// a scale, a note, adjustments, and the next review.
    async fn record_plan_review(
        &self,
        ctx: &Context<'_>,
        input: RecordPlanReviewInput,
    ) -> ApiResult<RecordPlanReviewPayload> {
        let c = caller(ctx)?;
        let plan_id: ParentActionPlanId = id_arg("input.planId", &input.plan_id)?;
        let text =
            |field: &str, v: &Option<String>| v.as_deref().map(FreeText::parse).transpose().at(field).map_err(in_input);
        let mut progress = Vec::new();
        for (i, p) in input.progress.iter().flatten().enumerate() {
            progress.push(dplan::GoalProgress {
                goal_id: id_arg(&format!("input.progress.{i}.goalId"), &p.goal_id)?,
                score: ProgressScore::new(p.score).at(&format!("progress.{i}.score")).map_err(in_input)?,
                note: text(&format!("progress.{i}.note"), &p.note)?,
            });
        }
        let review = NewReview::new(
            input.kind.into(),
            input.held_on.0,
            text("note", &input.note)?,
            text("adjustments", &input.adjustments)?,
            input.next_review_on.map(|d| d.0),
            progress,
            c.today(),
        )
        .map_err(in_input)?;
        let meta = c.write("recordPlanReview", input.idempotency_key.as_deref(), &input)?;
        let written = c.store.record_review(&meta, plan_id, &review).await.map_err(under("input"))?;
        Ok(RecordPlanReviewPayload {
            plan_id,
            review: PlanReview(c.store.shown_review(&c.reader(), written).await.api()?),
        })
    }

    /// Adds a goal at the end of a plan.
    async fn add_goal(&self, ctx: &Context<'_>, input: AddGoalInput) -> ApiResult<AddGoalPayload> {
        let c = caller(ctx)?;
        let plan_id: ParentActionPlanId = id_arg("input.planId", &input.plan_id)?;
        let goal = NewGoal::parse(&input.goal.description, input.goal.purpose.into())
            .map_err(|e| in_input(e.under("goal")))?;
        let meta = c.write("addGoal", input.idempotency_key.as_deref(), &input)?;
        let goal_id = c.store.add_goal(&meta, plan_id, &goal).await.map_err(under("input"))?;
        let plan = c.store.plan(&c.reader(), plan_id).await.api()?;
        let goal = c.store.goal(&c.reader(), goal_id).await.api()?;
        Ok(AddGoalPayload { parent_action_plan: ParentActionPlan(plan), goal: Goal(goal) })
    }
}

async fn change_status(
    ctx: &Context<'_>,
    input: ChangePlanStatusInput,
    to: dplan::PlanStatus,
    operation: &'static str,
) -> ApiResult<ParentActionPlanPayload> {
    let c = caller(ctx)?;
    let id: ParentActionPlanId = id_arg("input.id", &input.id)?;
    let meta = c.write(operation, input.idempotency_key.as_deref(), &input)?;
    let id = c
        .store
        .set_plan_status(&meta, id, to, crate::error::expected_version(input.expected_version)?)
        .await
        .map_err(under("input"))?;
    Ok(ParentActionPlanPayload { parent_action_plan: ParentActionPlan(c.store.plan(&c.reader(), id).await.api()?) })
}
