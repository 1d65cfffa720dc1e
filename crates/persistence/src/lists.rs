//! The root lists integrations page through, with their filters: families, placements
//! and contact visits. Every filter is a condition of the same scoped statement as the
//! page, and the count is that statement counted, so a `totalCount` counts exactly the
//! rows the filter and the caller's scope leave.

use chrono::{DateTime, NaiveDate, Utc};
use kinbridge_domain::ids::{OrganizationId, PlacementId};
use kinbridge_domain::visit::VisitStatus;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Select};

use crate::Store;
use crate::entities::{contact_visit, family, placement};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::{self, Reader};

/// Narrows the families; every field that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct FamilyFilter {
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
    /// A page of the caller's families that `f` leaves, oldest first.
    pub async fn families_where(
        &self,
        r: &Reader<'_>,
        f: &FamilyFilter,
        req: PageRequest,
    ) -> Result<Page<records::Family>, StoreError> {
        let page = page::fetch(self.conn(), families(r, f), page::Order::by_id(family::Column::Id), req).await?;
        page.items.iter().for_each(|x| r.saw("Family", x.id));
        page.read()
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

    pub async fn count_visits_where(&self, r: &Reader<'_>, f: &VisitFilter) -> Result<u64, StoreError> {
        Ok(visits(r, f).count(self.conn()).await?)
    }
}
