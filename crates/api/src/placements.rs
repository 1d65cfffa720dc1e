//! Placements of a child out of home.

use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::ids::{FamilyId, OrganizationId, PersonId, PlacementId};
use kinbridge_domain::placement::{self as dplacement, NewPlacement, PlacementInput, is_cross_municipality};
use kinbridge_persistence::lookups::VisitCount;
use serde::Serialize;
use uuid::Uuid;

use crate::connection::{Conn, cost};
use crate::context::caller;
use crate::error::{ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::{Family, Person};
use crate::loader;
use crate::offers::SupportOffer;
use crate::organizations::Organization;
use crate::plans::ParentActionPlan;
use crate::scalars::{Date, PlacementEndReason, PlacementSetting, Timestamp};
use crate::visits::{ContactVisit, VisitArrangement, VisitStatistics};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;

/// A child's placement out of home, decided by the placing municipality.
#[derive(Debug, Clone)]
pub struct Placement(pub(crate) records::Placement);

#[Object]
impl Placement {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The placing municipality's own case id for the placement.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    async fn family(&self, ctx: &Context<'_>) -> ApiResult<Family> {
        let c = caller(ctx)?;
        Ok(Family(c.reference(ctx, &catalogue::FAMILY, self.0.family_id).await?))
    }

    /// The placed child.
    async fn child(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.child_id).await?))
    }

    /// The municipality that decided the placement and owns the case.
    async fn placing_municipality(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.organization_id).await?))
    }

    /// The foster family agency or institution where the child lives.
    async fn provider(&self, ctx: &Context<'_>) -> ApiResult<Option<Organization>> {
        let c = caller(ctx)?;
        match self.0.provider_id {
            None => Ok(None),
            Some(id) => Ok(Some(Organization(c.reference(ctx, &catalogue::ORGANIZATION, id).await?))),
        }
    }

    async fn setting(&self) -> ApiResult<PlacementSetting> {
        Ok(self.0.setting.into())
    }

    /// Whether the parents consented to the placement.
    async fn voluntary(&self) -> bool {
        self.0.voluntary
    }

    async fn decision_date(&self) -> Date {
        Date(self.0.decision_date)
    }

    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }

    /// The first day the child no longer lives at the placement.
    async fn end_date(&self) -> Option<Date> {
        self.0.end_date.map(Date)
    }

    async fn end_reason(&self) -> ApiResult<Option<PlacementEndReason>> {
        Ok(self.0.end_reason.map(Into::into))
    }

    /// Whether a parent lives in another municipality than the placing one, so that the
    /// two municipalities coordinate.
    async fn is_cross_municipality(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let c = caller(ctx)?;
        let residences = c
            .lookup(ctx, "parent_residences", self.0.family_id, async |ids| {
                c.store.parent_residences(&c.reader(), &ids).await
            })
            .await?
            .unwrap_or_default();
        Ok(is_cross_municipality(self.0.organization_id, &residences))
    }

    /// How the placement's contact visits are arranged, once set.
    async fn visit_arrangement(&self, ctx: &Context<'_>) -> ApiResult<Option<VisitArrangement>> {
        let c = caller(ctx)?;
        let found = c
            .lookup(ctx, "visit_arrangements", self.0.id, async |ids| {
                c.store.visit_arrangements(&c.reader(), &ids).await
            })
            .await?;
        Ok(found.map(VisitArrangement))
    }

    /// Planned, held, cancelled and missed visits planned to start from `from` up to, not
    /// including, `to`; the cancellation rate; and who cancelled.
    async fn visit_statistics(&self, ctx: &Context<'_>, from: Date, to: Date) -> ApiResult<VisitStatistics> {
        let c = caller(ctx)?;
        let (start, end) = crate::visits::period(from, to)?;
        let rows = c
            .lookup(ctx, "visit_counts", self.0.id, async |ids| {
                let counts = c.store.visit_counts(&c.reader(), Some(&ids), start, end).await?;
                let mut by_placement: HashMap<Uuid, Vec<VisitCount>> = HashMap::new();
                for count in counts {
                    by_placement.entry(count.placement_id.as_uuid()).or_default().push(count);
                }
                Ok(by_placement)
            })
            .await?
            .unwrap_or_default();
        let mut stats = kinbridge_domain::visit::VisitStatistics::default();
        rows.iter().for_each(|count| crate::visits::add_counts(&mut stats, count));
        Ok(VisitStatistics::new(from.0, to.0, &stats))
    }

    /// Support offered to the parents, in the order it was offered.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn support_offers(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<SupportOffer>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PLACEMENT_OFFERS,
            self.0.id,
            |o| o.id.to_string(),
            SupportOffer,
        )
        .await
    }

    /// Days from the placement decision to the first support offer; support should start
    /// in immediate connection with the decision. None while nothing has been offered.
    async fn days_from_decision_to_first_offer(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        let c = caller(ctx)?;
        let first = c
            .lookup(ctx, "first_offers_on", self.0.id, async |ids| c.store.first_offers_on(&c.reader(), &ids).await)
            .await?;
        Ok(first.map(|on| {
            let days = kinbridge_domain::plan::days_from_decision_to_first_offer(self.0.decision_date, on);
            i32::try_from(days).unwrap_or(i32::MAX)
        }))
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

    /// What happened to the placement across agencies, oldest first: its decision, start
    /// and end; its visits planned, held, missed and cancelled (with who cancelled); the
    /// offers of support made for it; the reviews of its plans. Each entry is shown only if
    /// the caller may see the record behind it, and `totalCount` counts only those; reading
    /// it is audited like reading those records. `from` and `until` narrow it to a period
    /// (from inclusive, until exclusive), `kinds` to some kinds.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        kinds: Option<Vec<crate::scalars::TimelineKind>>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<crate::timeline::TimelineEntry>> {
        crate::timeline::resolve(
            ctx,
            kinbridge_persistence::timeline::TimelineOf::Placement,
            self.0.id,
            (after, before, first, last),
            from,
            until,
            kinds,
        )
        .await
    }

    /// The placement's contact visits by planned start, earliest first: `last: 5` are the
    /// latest five.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn contact_visits(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ContactVisit>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PLACEMENT_VISITS,
            self.0.id,
            |v| v.id.to_string(),
            ContactVisit,
        )
        .await
    }

    /// The parent action plans made for this placement, with their goals. The
    /// responsible municipality sees them all; a placement provider only those whose
    /// family has a parent's standing consent to share the plan's goals with it (an empty
    /// list otherwise); a referred family services provider those of its families.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn parent_action_plans(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ParentActionPlan>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PLACEMENT_PLANS,
            self.0.id,
            |p| p.id.to_string(),
            ParentActionPlan,
        )
        .await
    }
}

crate::level::level!(Placement, plain: [
    "id", "externalId", "setting", "voluntary", "decisionDate", "startDate", "endDate", "endReason", "version",
    "createdAt", "updatedAt",
], nested: {
    "family" => crate::level::one_via(&catalogue::PLACEMENT_FAMILY, |p: &Placement| Some(p.0.family_id.into()), Family),
    "child" => crate::level::one_via(&catalogue::PLACEMENT_CHILD, |p: &Placement| Some(p.0.child_id.into()), Person),
    "placingMunicipality" => crate::level::one_via(
        &catalogue::PLACEMENT_MUNICIPALITY,
        |p: &Placement| Some(p.0.organization_id.into()),
        Organization
    ),
    "provider" => crate::level::one_via(&catalogue::PLACEMENT_PROVIDER, |p: &Placement| p.0.provider_id.map(Into::into), Organization),
    "contactVisits" => crate::level::many(&catalogue::PLACEMENT_VISITS, ContactVisit),
    "parentActionPlans" => crate::level::many(&catalogue::PLACEMENT_PLANS, ParentActionPlan),
});

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreatePlacementInput {
    pub family_id: ID,
    /// The child's person id (`per_…`, not the membership's `mem_…`): a person who is a
    /// member of the family with the role `CHILD`.
    pub child_id: ID,
    /// A registered placement provider.
    pub provider_id: Option<ID>,
    /// The placing municipality's own case id; unique within the municipality.
    pub external_id: Option<String>,
    pub setting: PlacementSetting,
    pub voluntary: bool,
    pub decision_date: Date,
    pub start_date: Date,
    /// The first day the child no longer lives at the placement; with `endReason`.
    pub end_date: Option<Date>,
    pub end_reason: Option<PlacementEndReason>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct UpsertPlacementInput {
    /// The placing municipality's own case id for the placement.
    pub external_id: String,
    pub family_id: ID,
    /// The child's person id (`per_…`), a member of the family with the role `CHILD`.
    pub child_id: ID,
    /// A registered placement provider (`org_…`).
    pub provider_id: Option<ID>,
    pub setting: PlacementSetting,
    pub voluntary: bool,
    pub decision_date: Date,
    pub start_date: Date,
    /// As stored: an upsert does not change a placement's end (see `endPlacement`).
    pub end_date: Option<Date>,
    pub end_reason: Option<PlacementEndReason>,
    pub idempotency_key: Option<String>,
}

impl CreatePlacementInput {
    /// The family, the child and the placement, each checked, with fields named under
    /// `input`.
    fn parse(&self) -> ApiResult<(FamilyId, PersonId, NewPlacement)> {
        let family_id: FamilyId = id_arg("input.familyId", &self.family_id)?;
        let child_id: PersonId = id_arg("input.childId", &self.child_id)?;
        let provider_id: Option<OrganizationId> =
            self.provider_id.as_ref().map(|p| id_arg("input.providerId", p)).transpose()?;
        let new = NewPlacement::parse(PlacementInput {
            external_id: self.external_id.as_deref(),
            provider_id,
            setting: self.setting.into(),
            voluntary: self.voluntary,
            decision_date: self.decision_date.0,
            start_date: self.start_date.0,
            end_date: self.end_date.map(|d| d.0),
            end_reason: self.end_reason.map(Into::into),
        })
        .map_err(in_input)?;
        Ok((family_id, child_id, new))
    }
}

impl From<&UpsertPlacementInput> for CreatePlacementInput {
    fn from(u: &UpsertPlacementInput) -> Self {
        Self {
            family_id: u.family_id.clone(),
            child_id: u.child_id.clone(),
            provider_id: u.provider_id.clone(),
            external_id: Some(u.external_id.clone()),
            setting: u.setting,
            voluntary: u.voluntary,
            decision_date: u.decision_date,
            start_date: u.start_date,
            end_date: u.end_date,
            end_reason: u.end_reason,
            idempotency_key: None,
        }
    }
}

#[derive(SimpleObject, Debug)]
pub struct UpsertPlacementPayload {
    pub placement: Placement,
    /// Whether this call recorded the placement (rather than finding it). A retry with
    /// the same idempotency key answers as the first call did.
    pub created: bool,
    /// Whether this call changed what was stored. An upsert of exactly what is stored
    /// changes nothing: no new version, nothing in the change feed.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct EndPlacementInput {
    pub id: ID,
    /// The first day the child no longer lives at the placement.
    pub end_date: Date,
    pub end_reason: PlacementEndReason,
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct EndPlacementPayload {
    pub placement: Placement,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreatePlacementPayload {
    pub placement: Placement,
}

/// Narrows `placements`: every field given must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct PlacementFilter {
    /// At this placement provider (an `org_…` id).
    pub provider_id: Option<ID>,
    /// Under way on this day: started on or before it and not ended by it (a placement
    /// ends at the start of its end date).
    pub active_on: Option<Date>,
    /// Created or changed at or after this time.
    pub updated_since: Option<Timestamp>,
    /// Whether a parent lives in another municipality than the placing one
    /// (`isCrossMunicipality`).
    pub cross_municipality: Option<bool>,
}

#[derive(Default, Debug)]
pub struct PlacementQuery;

#[Object]
impl PlacementQuery {
    /// One of the caller's placements. Another organisation's placement is `NOT_FOUND`.
    async fn placement(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Placement>> {
        let c = caller(ctx)?;
        let id: PlacementId = id_arg("id", &id)?;
        Ok(Some(Placement(c.store.placement(&c.reader(), id).await.api()?)))
    }

    /// The placements the caller may see, oldest first: the responsible municipality's
    /// own, a provider's at its sites, a referred provider's of its families. `filter`
    /// narrows them inside the same scoped query, so `totalCount` counts what it leaves.
    /// (The residence municipality's view is `crossMunicipalityPlacements`.)
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn placements(
        &self,
        ctx: &Context<'_>,
        filter: Option<PlacementFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Placement>> {
        let c = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        let filter = kinbridge_persistence::lists::PlacementFilter {
            provider: filter.provider_id.as_ref().map(|id| id_arg("filter.providerId", id)).transpose()?,
            active_on: filter.active_on.map(|d| d.0),
            updated_since: filter.updated_since.map(|t| t.0),
            cross_municipality: filter.cross_municipality,
        };
        crate::connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.placements_where(&c.reader(), &filter, req).await,
            async || c.store.count_placements_where(&c.reader(), &filter).await,
            |p| p.id.to_string(),
            Placement,
        )
        .await
    }

    /// The caller's placement with this case id (the `externalId` it gave the
    /// placement). Another organisation's case ids are never found.
    async fn placement_by_external_id(&self, ctx: &Context<'_>, external_id: String) -> ApiResult<Option<Placement>> {
        let c = caller(ctx)?;
        let external_id = crate::error::case_id_arg("externalId", &external_id)?;
        let found = c.store.by_case_id(&c.reader(), &catalogue::PLACEMENT_CASE, external_id.as_str()).await.api()?;
        Ok(Some(Placement(found)))
    }
}

#[derive(Default, Debug)]
pub struct PlacementMutation;

#[Object]
impl PlacementMutation {
    /// Ends one of the caller's placements: the child returned home, moved or aged out.
    async fn end_placement(&self, ctx: &Context<'_>, input: EndPlacementInput) -> ApiResult<EndPlacementPayload> {
        let c = caller(ctx)?;
        let id: PlacementId = id_arg("input.id", &input.id)?;
        let end = dplacement::PlacementEnd { date: input.end_date.0, reason: input.end_reason.into() };
        let meta = c.write("endPlacement", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .end_placement(&meta, id, end, crate::error::expected_version(input.expected_version)?)
            .await
            .map_err(under("input"))?;
        Ok(EndPlacementPayload { placement: Placement(c.store.placement(&c.reader(), id).await.api()?) })
    }

    /// Records a placement of a child of one of the caller's families. A child's
    /// placements never overlap in time.
    async fn create_placement(
        &self,
        ctx: &Context<'_>,
        input: CreatePlacementInput,
    ) -> ApiResult<CreatePlacementPayload> {
        let c = caller(ctx)?;
        let (family_id, child_id, new) = input.parse()?;
        let meta = c.write("createPlacement", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_placement(&meta, family_id, child_id, &new).await.map_err(under("input"))?;
        Ok(CreatePlacementPayload { placement: Placement(c.store.placement(&c.reader(), id).await.api()?) })
    }

    /// Records the placement with your case id, or brings its provider, setting,
    /// voluntariness and dates up to date: safe to send on every sync, it never
    /// duplicates a placement. The case id names one placement of one child (another
    /// child is `BAD_USER_INPUT` on `input.childId`); its end is recorded with
    /// `endPlacement` and must be sent as stored.
    async fn upsert_placement(
        &self,
        ctx: &Context<'_>,
        input: UpsertPlacementInput,
    ) -> ApiResult<UpsertPlacementPayload> {
        let c = caller(ctx)?;
        let (family_id, child_id, new) = CreatePlacementInput::from(&input).parse()?;
        let meta = c.write("upsertPlacement", input.idempotency_key.as_deref(), &input)?;
        let (id, outcome) = c.store.upsert_placement(&meta, family_id, child_id, &new).await.map_err(under("input"))?;
        Ok(UpsertPlacementPayload {
            placement: Placement(c.store.placement(&c.reader(), id).await.api()?),
            created: outcome == kinbridge_persistence::write::Outcome::Created,
            changed: outcome != kinbridge_persistence::write::Outcome::Unchanged,
        })
    }
}
