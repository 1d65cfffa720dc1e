//! The root lists integrations page through, with their filters: families, placements,
//! contact visits and parent action plans. Every filter is a condition of the same scoped statement as the
//! page, and the count is that statement counted, so a `totalCount` counts exactly the
//! rows the filter and the caller's scope leave.

use chrono::{DateTime, NaiveDate, Utc};
use kinbridge_domain::family::{FamilyRole, FamilyStatus};
use kinbridge_domain::ids::{OrganizationId, PlacementId};
use kinbridge_domain::plan::PlanStatus;
use kinbridge_domain::visit::VisitStatus;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Select};

use crate::Store;
use crate::entities::{contact_visit, family, family_member, parent_action_plan, placement};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::{self, Reader};

/// Narrows the families; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct FamilyFilter {
    /// Changed (or created) at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// The caller's own case id (exact match).
    pub external_id: Option<String>,
    /// Where the family stands with the placements the caller may see, today.
    pub status: Option<FamilyStatus>,
}

/// Narrows the parent action plans; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    pub status: Option<PlanStatus>,
    /// Next review due on or after this day.
    pub review_due_from: Option<NaiveDate>,
    /// Next review due before this day.
    pub review_due_until: Option<NaiveDate>,
    /// Changed (or created) at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
}

/// Narrows the placements; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct PlacementFilter {
    /// At this placement provider.
    pub provider: Option<OrganizationId>,
    /// Under way on this day: started on or before it, not ended by it (a placement
    /// ends at the start of its end date, as a new one may start that day).
    pub active_on: Option<NaiveDate>,
    /// Changed (or created) at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Whether a parent lives in another municipality than the placing one, as far as the
    /// caller sees the family's members (as `Placement.isCrossMunicipality` answers).
    pub cross_municipality: Option<bool>,
}

/// Narrows the contact visits; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// Planned to start at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Planned to start before this time.
    pub until: Option<DateTime<Utc>>,
    pub status: Option<VisitStatus>,
    /// Supervised by the person of this name (exact match).
    pub supervisor_name: Option<String>,
    pub placement: Option<PlacementId>,
}

fn families(r: &Reader<'_>, f: &FamilyFilter) -> Select<family::Entity> {
    let mut q = family::Entity::find().filter(scope::families(r));
    if let Some(t) = f.updated_since {
        q = q.filter(family::Column::UpdatedAt.gte(t));
    }
    if let Some(id) = &f.external_id {
        q = q.filter(family::Column::ExternalId.eq(id.as_str()));
    }
    if let Some(status) = f.status {
        q = q.filter(family_status(r, status));
    }
    q
}

/// The families of `status` today, judged by the placements the caller may see, as
/// [`FamilyStatus::of`] judges them.
fn family_status(r: &Reader<'_>, status: FamilyStatus) -> Condition {
    use placement::Column as P;
    let today = r.today;
    let with = |condition: Condition| {
        scope::select(P::FamilyId, placement::Entity, Condition::all().add(scope::placements(r)).add(condition))
    };
    let not_ended = || Condition::any().add(P::EndDate.is_null()).add(P::EndDate.gt(today));
    let placed = || with(Condition::all().add(P::StartDate.lte(today)).add(not_ended()));
    let later = with(Condition::all().add(P::StartDate.gt(today)).add(not_ended()));
    let any = || with(Condition::all());
    let id = family::Column::Id;
    match status {
        FamilyStatus::Placed => Condition::all().add(id.in_subquery(placed())),
        FamilyStatus::PlacementDecided => Condition::all().add(id.not_in_subquery(placed())).add(id.in_subquery(later)),
        FamilyStatus::PlacementEnded => {
            Condition::all().add(id.in_subquery(any())).add(id.not_in_subquery(with(not_ended())))
        }
        FamilyStatus::NoPlacement => Condition::all().add(id.not_in_subquery(any())),
    }
}

fn plans(r: &Reader<'_>, f: &PlanFilter) -> Select<parent_action_plan::Entity> {
    use parent_action_plan::Column as P;
    let mut q = parent_action_plan::Entity::find().filter(scope::plans(r));
    if let Some(status) = f.status {
        q = q.filter(P::Status.eq(status.as_str()));
    }
    if let Some(day) = f.review_due_from {
        q = q.filter(P::NextReviewDue.gte(day));
    }
    if let Some(day) = f.review_due_until {
        q = q.filter(P::NextReviewDue.lt(day));
    }
    if let Some(t) = f.updated_since {
        q = q.filter(P::UpdatedAt.gte(t));
    }
    q
}

fn placements(r: &Reader<'_>, f: &PlacementFilter) -> Select<placement::Entity> {
    use placement::Column as P;
    let mut q = placement::Entity::find().filter(scope::placements(r));
    if let Some(provider) = f.provider {
        q = q.filter(P::ProviderId.eq(provider.as_uuid()));
    }
    if let Some(day) = f.active_on {
        q = q.filter(P::StartDate.lte(day)).filter(Condition::any().add(P::EndDate.is_null()).add(P::EndDate.gt(day)));
    }
    if let Some(t) = f.updated_since {
        q = q.filter(P::UpdatedAt.gte(t));
    }
    if let Some(cross) = f.cross_municipality {
        // A parent of the family, visible to the caller, living elsewhere than the
        // placing municipality.
        use family_member::Column as M;
        let parents: Vec<&str> = FamilyRole::ALL.iter().filter(|r| r.is_parent()).map(|r| r.as_str()).collect();
        let elsewhere = Query::select()
            .expr(Expr::val(1))
            .from(family_member::Entity)
            .cond_where(
                Condition::all()
                    .add(scope::members(r))
                    .add(M::Role.is_in(parents))
                    .add(Expr::col((family_member::Entity, M::FamilyId)).equals((placement::Entity, P::FamilyId)))
                    .add(M::ResidenceMunicipalityId.is_not_null())
                    .add(
                        Expr::col((family_member::Entity, M::ResidenceMunicipalityId))
                            .ne(Expr::col((placement::Entity, P::OrganizationId))),
                    ),
            )
            .take();
        let exists = Expr::exists(elsewhere);
        q = q.filter(if cross { exists } else { exists.not() });
    }
    q
}

fn visits(r: &Reader<'_>, f: &VisitFilter) -> Select<contact_visit::Entity> {
    use contact_visit::Column as V;
    let mut q = contact_visit::Entity::find().filter(scope::visits(r));
    if let Some(t) = f.from {
        q = q.filter(V::PlannedStart.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(V::PlannedStart.lt(t));
    }
    if let Some(status) = f.status {
        q = q.filter(V::Status.eq(status.as_str()));
    }
    if let Some(name) = &f.supervisor_name {
        q = q.filter(V::SupervisorName.eq(name.as_str()));
    }
    if let Some(p) = f.placement {
        q = q.filter(V::PlacementId.eq(p.as_uuid()));
    }
    q
}

impl Store {
    /// A page of the caller's families that `f` leaves, oldest first; and when `count`,
    /// how many families `f` leaves in all, read by the same statement
    /// ([`page::fetch_counted`]).
    pub async fn families_where(
        &self,
        r: &Reader<'_>,
        f: &FamilyFilter,
        req: PageRequest,
        count: bool,
    ) -> Result<(Page<records::Family>, Option<u64>), StoreError> {
        let order = page::Order::by_id(family::Column::Id);
        let (page, total) = if count {
            let (page, total) = page::fetch_counted(self.conn(), families(r, f), order, req).await?;
            (page, Some(total))
        } else {
            (page::fetch(self.conn(), families(r, f), order, req).await?, None)
        };
        page.items.iter().for_each(|x| r.saw("Family", x.id));
        Ok((page.read()?, total))
    }

    pub async fn count_families_where(&self, r: &Reader<'_>, f: &FamilyFilter) -> Result<u64, StoreError> {
        Ok(families(r, f).count(self.conn()).await?)
    }

    /// A page of the placements the caller may see that `f` leaves, oldest first.
    pub async fn placements_where(
        &self,
        r: &Reader<'_>,
        f: &PlacementFilter,
        req: PageRequest,
    ) -> Result<Page<records::Placement>, StoreError> {
        let page = page::fetch(self.conn(), placements(r, f), page::Order::by_id(placement::Column::Id), req).await?;
        page.items.iter().for_each(|x| r.saw("Placement", x.id));
        page.read()
    }

    pub async fn count_placements_where(&self, r: &Reader<'_>, f: &PlacementFilter) -> Result<u64, StoreError> {
        Ok(placements(r, f).count(self.conn()).await?)
    }

    /// A page of the contact visits the caller may see that `f` leaves, by planned start.
    pub async fn visits_where(
        &self,
        r: &Reader<'_>,
        f: &VisitFilter,
        req: PageRequest,
    ) -> Result<Page<records::ContactVisit>, StoreError> {
        use contact_visit::Column as V;
        let page = page::fetch(self.conn(), visits(r, f), page::Order::by(V::PlannedStart, V::Id), req).await?;
        page.items.iter().for_each(|x| r.saw("ContactVisit", x.id));
        page.read()
    }

    /// A page of the parent action plans the caller may see that `f` leaves, oldest first.
    pub async fn plans_where(
        &self,
        r: &Reader<'_>,
        f: &PlanFilter,
        req: PageRequest,
    ) -> Result<Page<records::ParentActionPlan>, StoreError> {
        let order = page::Order::by_id(parent_action_plan::Column::Id);
        let page = page::fetch(self.conn(), plans(r, f), order, req).await?;
        page.items.iter().for_each(|x| r.saw("ParentActionPlan", x.id));
        page.read()
    }

    pub async fn count_plans_where(&self, r: &Reader<'_>, f: &PlanFilter) -> Result<u64, StoreError> {
        Ok(plans(r, f).count(self.conn()).await?)
    }

    pub async fn count_visits_where(&self, r: &Reader<'_>, f: &VisitFilter) -> Result<u64, StoreError> {
        Ok(visits(r, f).count(self.conn()).await?)
    }
}
