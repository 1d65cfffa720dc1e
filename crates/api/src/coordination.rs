//! The residence municipality's coordination view of cross-municipality placements.

use async_graphql::{Context, ID, Object, SimpleObject};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::coordination::CoordinationRow;
use kinbridge_persistence::records;

use crate::connection::{Conn, cost};
use crate::context::caller;
use crate::error::{ApiError, ApiResult};
use crate::level::{self, Rendered};
use crate::organizations::Organization;
use crate::scalars::{Date, GoalPurpose, PlacementSetting, PlanStatus};

/// What the municipality where the parents live is shown of a placement decided by
/// another municipality: enough to coordinate, never notes.
#[derive(Debug, Clone)]
pub struct CoordinationPlacement(CoordinationRow);

/// The placed child, as the coordination view shows them.
#[derive(SimpleObject, Debug, Clone)]
pub struct CoordinationChild {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
}

/// A goal shared with the residence municipality by the parents' consent.
#[derive(SimpleObject, Debug, Clone)]
pub struct SharedGoal {
    pub id: ID,
    pub description: String,
    pub purpose: GoalPurpose,
}

#[Object]
impl CoordinationPlacement {
    /// The placement's id.
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.placement.id.to_string())
    }

    async fn child(&self) -> CoordinationChild {
        let c = &self.0.child;
        CoordinationChild {
            given_name: c.given_name.clone(),
            family_name: c.family_name.clone(),
            birth_date: c.birth_date.map(Date),
        }
    }

    async fn placing_municipality(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.placement.organization_id).await?))
    }

    /// Whom to contact at the placing municipality about the family.
    async fn caseworker_contact(&self) -> Option<&str> {
        self.0.caseworker_contact.as_deref()
    }

    async fn setting(&self) -> ApiResult<PlacementSetting> {
        Ok(self.0.placement.setting.into())
    }

    async fn decision_date(&self) -> Date {
        Date(self.0.placement.decision_date)
    }

    async fn start_date(&self) -> Date {
        Date(self.0.placement.start_date)
    }

    async fn end_date(&self) -> Option<Date> {
        self.0.placement.end_date.map(Date)
    }

    /// The status of the parents' action plan, if one has been made.
    async fn plan_status(&self) -> ApiResult<Option<PlanStatus>> {
        match &self.0.plan {
            None => Ok(None),
            Some(plan) => Ok(Some(plan.status.into())),
        }
    }

    /// When the plan is next due for review (a plan meeting or status meeting).
    async fn next_review_due(&self) -> Option<Date> {
        self.0.plan.as_ref().and_then(|p| p.next_review_due).map(Date)
    }

    /// The plan's goals, only while a parent's consent to share them with the caller
    /// stands; `null` otherwise.
    async fn goals(&self, ctx: &Context<'_>) -> ApiResult<Option<Vec<SharedGoal>>> {
        let c = caller(ctx)?;
        let Some(plan) = &self.0.plan else { return Ok(None) };
        let goals = c
            .lookup(ctx, "coordination_goals", plan.id, async |ids| c.store.coordination_goals(&c.reader(), &ids).await)
            .await?;
        goals
            .map(|goals| goals.into_iter().map(shared_goal).collect::<Result<Vec<_>, ApiError>>())
            .transpose()
            .map_err(Into::into)
    }
}

crate::level::level!(CoordinationPlacement, key(p) => p.0.placement.id, plain: [
    "id", "caseworkerContact", "setting", "decisionDate", "startDate", "endDate", "planStatus", "nextReviewDue",
], nested: {
    "placingMunicipality" => crate::level::one(
        &catalogue::ORGANIZATION,
        |p: &CoordinationPlacement| Some(p.0.placement.organization_id.into()),
        Organization
    ),
});

fn shared_goal(g: records::Goal) -> Result<SharedGoal, ApiError> {
    Ok(SharedGoal { id: ID(g.id.to_string()), purpose: g.purpose.into(), description: g.description })
}

#[derive(Default, Debug)]
pub struct CoordinationQuery;

#[Object]
impl CoordinationQuery {
    /// For a municipality: children of parents living in it, placed by another
    /// municipality. Current placements, or all with `includeEnded`.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn cross_municipality_placements(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_ended: bool,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Rendered<Conn<CoordinationPlacement>>> {
        let c = caller(ctx)?;
        c.require_kind(
            kinbridge_domain::organization::OrganizationKind::Municipality,
            "coordinate cross-municipality placements",
        )?;
        level::connection(
            ctx,
            (after, before, first, last),
            async |req, count| c.store.cross_municipality_placements(&c.reader(), include_ended, req, count).await,
            async || c.store.count_cross_municipality_placements(&c.reader(), include_ended).await,
            CoordinationPlacement,
        )
        .await
    }
}
