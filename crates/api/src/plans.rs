//! Parent action plans and their goals.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use kinbridge_domain::ids::{FamilyId, GoalId, ParentActionPlanId, PlacementId};
use kinbridge_domain::plan::{self as dplan, NewGoal, NewPlan};
use kinbridge_persistence::entities::{parent_action_plan, plan_goal};
use serde::Serialize;

use crate::connection::{self, Conn, cost};
use crate::context::caller;
use crate::error::{ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::Family;
use crate::placements::Placement;
use crate::scalars::{self, GoalPurpose, PlanStatus};

/// The plan made with the parents of a placed child for the support they receive.
#[derive(Debug, Clone)]
pub struct ParentActionPlan(pub(crate) parent_action_plan::Model);

#[Object]
impl ParentActionPlan {
    async fn id(&self) -> ID {
        ID(ParentActionPlanId::from_uuid(self.0.id).to_string())
    }

    async fn family(&self, ctx: &Context<'_>) -> ApiResult<Family> {
        let c = caller(ctx)?;
        Ok(Family(c.store.family(&c.reader(), FamilyId::from_uuid(self.0.family_id)).await.api()?))
    }

    /// The placement of the child whose parents the plan supports.
    async fn placement(&self, ctx: &Context<'_>) -> ApiResult<Placement> {
        let c = caller(ctx)?;
        Ok(Placement(c.store.placement(&c.reader(), PlacementId::from_uuid(self.0.placement_id)).await.api()?))
    }

    async fn status(&self) -> ApiResult<PlanStatus> {
        Ok(scalars::stored::<dplan::PlanStatus, _>(&self.0.status)?)
    }

    /// Days between plan meetings or status meetings.
    async fn review_interval_days(&self) -> i32 {
        self.0.review_interval_days
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
        first: Option<i32>,
        last: Option<i32>,
    ) -> ApiResult<Conn<Goal>> {
        let c = caller(ctx)?;
        let id = ParentActionPlanId::from_uuid(self.0.id);
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.plan_goals(&c.reader(), id, req).await,
            async || c.store.count_plan_goals(&c.reader(), id).await,
            |g| GoalId::from_uuid(g.id).to_string(),
            Goal,
        )
        .await
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A goal of a parent action plan, in the parents' own words.
#[derive(Debug, Clone)]
pub struct Goal(pub(crate) plan_goal::Model);

#[Object]
impl Goal {
    async fn id(&self) -> ID {
        ID(GoalId::from_uuid(self.0.id).to_string())
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// What the goal is for; shown to the parents so they can adjust their expectations.
    async fn purpose(&self) -> ApiResult<GoalPurpose> {
        Ok(scalars::stored::<dplan::GoalPurpose, _>(&self.0.purpose)?)
    }

    /// The goal's place in the plan, from 0.
    async fn position(&self) -> i32 {
        self.0.position
    }
}

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
    pub review_interval_days: i32,
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
        let plan = NewPlan::parse(i64::from(input.review_interval_days), input.child_plan_reference.as_deref(), goals)
            .map_err(in_input)?;
        let meta = c.write("createParentActionPlan", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_plan(&meta, placement_id, &plan).await.map_err(under("input"))?;
        Ok(CreateParentActionPlanPayload {
            parent_action_plan: ParentActionPlan(c.store.plan(&c.reader(), id).await.api()?),
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
