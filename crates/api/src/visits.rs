//! Contact visits and their outcomes.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use chrono::{NaiveDate, TimeZone};
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{ContactVisitId, PersonId, PlacementId};
use kinbridge_domain::text::{FreeText, Name};
use kinbridge_domain::visit::{self as dvisit, Cancellation, NewVisit, VisitInput, VisitOutcome};
use kinbridge_domain::when;
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::lookups::VisitCount;
use kinbridge_persistence::records;
use kinbridge_persistence::write::{Outcome, Written};
use serde::Serialize;

use crate::connection::{Conn, cost};
use crate::context::{Caller, caller};
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::Person;
use crate::placements::Placement;
use crate::scalars::{CancelledBy, Date, Supervision, Timestamp, VisitStatus};

/// A meeting between a placed child and parents or other relatives.
#[derive(Debug, Clone)]
pub struct ContactVisit(pub(crate) records::ContactVisit);

/// Who cancelled a visit, when and why.
#[derive(SimpleObject, Debug, Clone)]
pub struct VisitCancellation {
    pub cancelled_by: CancelledBy,
    pub cancelled_at: Timestamp,
    pub reason: String,
}

#[Object]
impl ContactVisit {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    async fn placement(&self, ctx: &Context<'_>) -> ApiResult<Placement> {
        let c = caller(ctx)?;
        Ok(Placement(c.reference(ctx, &catalogue::PLACEMENT, self.0.placement_id).await?))
    }

    async fn planned_start(&self) -> Timestamp {
        Timestamp(self.0.planned_start)
    }

    async fn planned_end(&self) -> Timestamp {
        Timestamp(self.0.planned_end)
    }

    async fn location(&self) -> Option<&str> {
        self.0.location.as_deref()
    }

    async fn supervision(&self) -> ApiResult<Supervision> {
        Ok(self.0.supervision.into())
    }

    /// The visit supervisor, for a supported or supervised visit.
    async fn supervisor_name(&self) -> Option<&str> {
        self.0.supervisor_name.as_deref()
    }

    async fn status(&self) -> ApiResult<VisitStatus> {
        Ok(self.0.status.into())
    }

    /// Who cancelled, when and why; only for a cancelled visit.
    async fn cancellation(&self) -> ApiResult<Option<VisitCancellation>> {
        match (self.0.cancelled_by, self.0.cancelled_at, &self.0.cancellation_reason) {
            (Some(by), Some(at), Some(reason)) => Ok(Some(VisitCancellation {
                cancelled_by: by.into(),
                cancelled_at: Timestamp(at),
                reason: reason.clone(),
            })),
            _ => Ok(None),
        }
    }

    /// What the supervisor observed at a held visit.
    async fn observations(&self) -> Option<&str> {
        self.0.observations.as_deref()
    }

    /// When the outcome (held, cancelled, no-show) was recorded.
    async fn outcome_recorded_at(&self) -> Option<Timestamp> {
        self.0.outcome_recorded_at.map(Timestamp)
    }

    /// The family members taking part.
    async fn participants(&self, ctx: &Context<'_>) -> ApiResult<Vec<Person>> {
        let c = caller(ctx)?;
        let ids = c
            .lookup(ctx, "visit_participants", self.0.id, async |ids| {
                c.store.visit_participants(&c.reader(), &ids).await
            })
            .await?
            .unwrap_or_default();
        Ok(c.references(ctx, &catalogue::PERSON, ids).await?.into_iter().map(Person).collect())
    }

    /// Increases with every change; send it back as `expectedVersion` to detect lost updates.
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

crate::level::level!(ContactVisit, plain: [
    "id", "externalId", "plannedStart", "plannedEnd", "location", "supervision", "supervisorName", "status",
    "cancellation", "observations", "outcomeRecordedAt", "version", "createdAt", "updatedAt",
], nested: {
    "placement" => crate::level::one_via(&catalogue::VISIT_PLACEMENT, |v: &ContactVisit| Some(v.0.placement_id.into()), Placement),
});

/// How a placement's contact visits are arranged.
#[derive(Debug, Clone)]
pub struct VisitArrangement(pub(crate) records::VisitArrangement);

#[Object]
impl VisitArrangement {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Days between visits: 7 for weekly, 14 for every other week.
    async fn interval_days(&self) -> i32 {
        self.0.interval_days
    }

    async fn supervision(&self) -> ApiResult<Supervision> {
        Ok(self.0.supervision.into())
    }

    async fn supervisor_name(&self) -> Option<&str> {
        self.0.supervisor_name.as_deref()
    }

    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// What happened to the visits planned in a period.
#[derive(SimpleObject, Debug, Clone)]
pub struct VisitStatistics {
    /// The first day of the period.
    pub from: Date,
    /// The first day after the period.
    pub to: Date,
    /// Visits whose outcome is not yet recorded.
    pub planned: i32,
    pub held: i32,
    pub cancelled: i32,
    pub no_show: i32,
    /// Cancelled visits as a share (0 to 1) of the visits with an outcome; null while none has one.
    pub cancellation_rate: Option<f64>,
    /// Cancelled visits by who cancelled.
    pub cancellations_by: Vec<CancellationCount>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CancellationCount {
    pub cancelled_by: CancelledBy,
    pub count: i32,
}

impl VisitStatistics {
    pub(crate) fn new(from: NaiveDate, to: NaiveDate, stats: &dvisit::VisitStatistics) -> Self {
        let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        Self {
            from: Date(from),
            to: Date(to),
            planned: n(stats.planned),
            held: n(stats.held),
            cancelled: n(stats.cancelled),
            no_show: n(stats.no_show),
            cancellation_rate: stats.cancellation_rate(),
            cancellations_by: stats
                .cancelled_by
                .iter()
                .map(|(by, count)| CancellationCount { cancelled_by: (*by).into(), count: n(*count) })
                .collect(),
        }
    }
}

/// Checks a period's bounds and turns them into instants (midnight UTC).
pub(crate) fn period(from: Date, to: Date) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    if to.0 <= from.0 {
        return Err(ApiError::bad_input("to", "the period ends after it starts"));
    }
    let instant = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
    Ok((instant(from.0), instant(to.0)))
}

/// Adds grouped visit counts to statistics.
pub(crate) fn add_counts(stats: &mut dvisit::VisitStatistics, count: &VisitCount) {
    stats.add(count.status, count.cancelled_by, count.visits);
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SetVisitArrangementInput {
    pub placement_id: ID,
    /// Days between visits: 7 for weekly, 14 for every other week.
    pub interval_days: i64,
    pub supervision: Supervision,
    /// Required for supported and supervised visits.
    pub supervisor_name: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SetVisitArrangementPayload {
    pub visit_arrangement: VisitArrangement,
    /// Whether this call changed what was stored: setting the arrangement as it is
    /// writes nothing and puts nothing in the change feed.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PlanContactVisitInput {
    pub placement_id: ID,
    pub external_id: Option<String>,
    pub planned_start: Timestamp,
    pub planned_end: Timestamp,
    pub location: Option<String>,
    pub supervision: Supervision,
    /// Required for a supported or supervised visit.
    pub supervisor_name: Option<String>,
    /// Members of the placed child's family who take part.
    pub participant_ids: Option<Vec<ID>>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct UpsertContactVisitInput {
    /// Your case id for the visit; unique within your organisation.
    pub external_id: String,
    pub placement_id: ID,
    pub planned_start: Timestamp,
    pub planned_end: Timestamp,
    pub location: Option<String>,
    pub supervision: Supervision,
    /// Required for a supported or supervised visit.
    pub supervisor_name: Option<String>,
    /// Members of the placed child's family who take part; set when the visit is first
    /// planned.
    pub participant_ids: Option<Vec<ID>>,
    pub idempotency_key: Option<String>,
}

impl PlanContactVisitInput {
    /// The placement, the visit and its participants, each checked, with fields named
    /// under `input`.
    fn parse(&self) -> ApiResult<(PlacementId, NewVisit, Vec<PersonId>)> {
        let placement_id: PlacementId = id_arg("input.placementId", &self.placement_id)?;
        let participants = self
            .participant_ids
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, id)| id_arg::<PersonId>(&format!("input.participantIds.{i}"), id))
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewVisit::parse(VisitInput {
            external_id: self.external_id.as_deref(),
            planned_start: self.planned_start.0,
            planned_end: self.planned_end.0,
            location: self.location.as_deref(),
            supervision: self.supervision.into(),
            supervisor_name: self.supervisor_name.as_deref(),
        })
        .map_err(in_input)?;
        Ok((placement_id, new, participants))
    }
}

impl From<&UpsertContactVisitInput> for PlanContactVisitInput {
    fn from(u: &UpsertContactVisitInput) -> Self {
        Self {
            placement_id: u.placement_id.clone(),
            external_id: Some(u.external_id.clone()),
            planned_start: u.planned_start,
            planned_end: u.planned_end,
            location: u.location.clone(),
            supervision: u.supervision,
            supervisor_name: u.supervisor_name.clone(),
            participant_ids: u.participant_ids.clone(),
            idempotency_key: None,
        }
    }
}

#[derive(SimpleObject, Debug)]
pub struct UpsertContactVisitPayload {
    pub contact_visit: ContactVisit,
    /// Whether this call planned the visit (rather than finding it). A retry with the same
    /// idempotency key answers as the first call did.
    pub created: bool,
    /// Whether this call changed what was stored. An upsert of exactly what is stored
    /// changes nothing: no new version, nothing in the change feed.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordContactVisitHeldInput {
    pub id: ID,
    pub observations: Option<String>,
    /// The version the caller last read; a visit changed since is refused with `CONFLICT`.
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CancelContactVisitInput {
    pub id: ID,
    pub cancelled_by: CancelledBy,
    /// Why the visit was cancelled. Always required.
    pub reason: String,
    /// When it was cancelled; now, if not given.
    pub cancelled_at: Option<Timestamp>,
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordContactVisitNoShowInput {
    pub id: ID,
    pub expected_version: Option<i64>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ContactVisitPayload {
    pub contact_visit: ContactVisit,
}

/// Narrows `contactVisits`: every field given must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct ContactVisitFilter {
    /// Planned to start at or after this time.
    pub from: Option<Timestamp>,
    /// Planned to start before this time.
    pub until: Option<Timestamp>,
    pub status: Option<VisitStatus>,
    /// Supervised by the person of this name (exact match).
    pub supervisor_name: Option<String>,
    /// Of this placement (a `plc_…` id).
    pub placement_id: Option<ID>,
}

#[derive(Default, Debug)]
pub struct VisitQuery;

#[Object]
impl VisitQuery {
    /// One of the caller's contact visits. Another organisation's visit is `NOT_FOUND`.
    async fn contact_visit(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ContactVisit>> {
        let c = caller(ctx)?;
        let id: ContactVisitId = id_arg("id", &id)?;
        Ok(Some(ContactVisit(c.store.contact_visit(&c.reader(), id).await.api()?)))
    }

    /// The contact visits the caller may see, by planned start (`last: n` are the latest
    /// n). `filter` narrows them inside the same scoped query, so `totalCount` counts what
    /// it leaves: "this week's visits" is `{ from: monday, until: next monday }`.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn contact_visits(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContactVisitFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ContactVisit>> {
        let c = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        if let (Some(from), Some(until)) = (&filter.from, &filter.until)
            && until.0 < from.0
        {
            return Err(ApiError::bad_input("filter.until", "must not be before filter.from").into());
        }
        // Checked as a stored supervisor's name is, so that what could never match is named.
        let supervisor_name = filter
            .supervisor_name
            .as_deref()
            .map(|n| Name::parse(n).at("filter.supervisorName").map(|n| n.as_str().to_owned()))
            .transpose()
            .map_err(ApiError::from)?;
        let filter = kinbridge_persistence::lists::VisitFilter {
            from: filter.from.map(|t| t.0),
            until: filter.until.map(|t| t.0),
            status: filter.status.map(Into::into),
            supervisor_name,
            placement: filter.placement_id.as_ref().map(|id| id_arg("filter.placementId", id)).transpose()?,
        };
        crate::connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.visits_where(&c.reader(), &filter, req).await,
            async || c.store.count_visits_where(&c.reader(), &filter).await,
            |v| v.id.to_string(),
            ContactVisit,
        )
        .await
    }

    /// The caller's contact visit with this case id (the `externalId` it gave the
    /// visit). Another organisation's case ids are never found.
    async fn contact_visit_by_external_id(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> ApiResult<Option<ContactVisit>> {
        let c = caller(ctx)?;
        let external_id = crate::error::case_id_arg("externalId", &external_id)?;
        let found =
            c.store.by_case_id(&c.reader(), &catalogue::CONTACT_VISIT_CASE, external_id.as_str()).await.api()?;
        Ok(Some(ContactVisit(found)))
    }
}

#[derive(Default, Debug)]
pub struct VisitMutation;

#[Object]
impl VisitMutation {
    /// Sets how a placement's contact visits are arranged: how often, with what
    /// supervision, by whom. Replaces any earlier arrangement.
    async fn set_visit_arrangement(
        &self,
        ctx: &Context<'_>,
        input: SetVisitArrangementInput,
    ) -> ApiResult<SetVisitArrangementPayload> {
        let c = caller(ctx)?;
        let placement: PlacementId = id_arg("input.placementId", &input.placement_id)?;
        let arrangement = dvisit::VisitArrangement::parse(
            input.interval_days,
            input.supervision.into(),
            input.supervisor_name.as_deref(),
        )
        .map_err(in_input)?;
        let meta = c.write("setVisitArrangement", input.idempotency_key.as_deref(), &input)?;
        let (_, outcome) =
            c.store.set_visit_arrangement(&meta, placement, &arrangement).await.map_err(under("input"))?;
        let found = c
            .store
            .visit_arrangements(&c.reader(), &[placement.as_uuid()])
            .await
            .api()?
            .remove(&placement.as_uuid())
            .ok_or(ApiError::NotFound { record_type: "VisitArrangement" })?;
        Ok(SetVisitArrangementPayload {
            visit_arrangement: VisitArrangement(found),
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Plans a contact visit for one of the caller's placements.
    async fn plan_contact_visit(
        &self,
        ctx: &Context<'_>,
        input: PlanContactVisitInput,
    ) -> ApiResult<ContactVisitPayload> {
        let c = caller(ctx)?;
        let (placement_id, new, participants) = input.parse()?;
        let meta = c.write("planContactVisit", input.idempotency_key.as_deref(), &input)?;
        let written = c.store.plan_visit(&meta, placement_id, &new, &participants).await.map_err(under("input"))?;
        payload(c, written).await
    }

    /// Plans the visit with your case id, or moves it to this time, place and
    /// supervision if it is still planned: safe to send on every sync, it never
    /// duplicates a visit. A visit already held, missed or cancelled is `CONFLICT` if
    /// the input differs; one of another placement is `BAD_USER_INPUT` on
    /// `input.placementId`.
    async fn upsert_contact_visit(
        &self,
        ctx: &Context<'_>,
        input: UpsertContactVisitInput,
    ) -> ApiResult<UpsertContactVisitPayload> {
        let c = caller(ctx)?;
        let (placement_id, new, participants) = PlanContactVisitInput::from(&input).parse()?;
        let meta = c.write("upsertContactVisit", input.idempotency_key.as_deref(), &input)?;
        let (id, outcome) =
            c.store.upsert_visit(&meta, placement_id, &new, &participants).await.map_err(under("input"))?;
        Ok(UpsertContactVisitPayload {
            contact_visit: ContactVisit(c.store.contact_visit(&c.reader(), id).await.api()?),
            created: outcome == Outcome::Created,
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Records that a planned visit was held, with the supervisor's observations.
    async fn record_contact_visit_held(
        &self,
        ctx: &Context<'_>,
        input: RecordContactVisitHeldInput,
    ) -> ApiResult<ContactVisitPayload> {
        let c = caller(ctx)?;
        let id: ContactVisitId = id_arg("input.id", &input.id)?;
        let observations =
            input.observations.as_deref().map(FreeText::parse).transpose().at("observations").map_err(in_input)?;
        let meta = c.write("recordContactVisitHeld", input.idempotency_key.as_deref(), &input)?;
        let outcome = VisitOutcome::Held { observations };
        let written = c
            .store
            .record_visit_outcome(&meta, id, &outcome, crate::error::expected_version(input.expected_version)?)
            .await
            .map_err(under("input"))?;
        payload(c, written).await
    }

    /// Cancels a planned visit, recording who cancelled, when and why.
    async fn cancel_contact_visit(
        &self,
        ctx: &Context<'_>,
        input: CancelContactVisitInput,
    ) -> ApiResult<ContactVisitPayload> {
        let c = caller(ctx)?;
        let id: ContactVisitId = id_arg("input.id", &input.id)?;
        let at = when::has_happened_at("cancelledAt", input.cancelled_at.map_or_else(Utc::now, |t| t.0), Utc::now())
            .map_err(in_input)?;
        let cancellation = Cancellation::parse(input.cancelled_by.into(), at, &input.reason).map_err(in_input)?;
        let meta = c.write("cancelContactVisit", input.idempotency_key.as_deref(), &input)?;
        let outcome = VisitOutcome::Cancelled(cancellation);
        let written = c
            .store
            .record_visit_outcome(&meta, id, &outcome, crate::error::expected_version(input.expected_version)?)
            .await
            .map_err(under("input"))?;
        payload(c, written).await
    }

    /// Records that the parents or the child did not come to a planned visit.
    async fn record_contact_visit_no_show(
        &self,
        ctx: &Context<'_>,
        input: RecordContactVisitNoShowInput,
    ) -> ApiResult<ContactVisitPayload> {
        let c = caller(ctx)?;
        let id: ContactVisitId = id_arg("input.id", &input.id)?;
        let meta = c.write("recordContactVisitNoShow", input.idempotency_key.as_deref(), &input)?;
        let written = c
            .store
            .record_visit_outcome(
                &meta,
                id,
                &VisitOutcome::NoShow,
                crate::error::expected_version(input.expected_version)?,
            )
            .await
            .map_err(under("input"))?;
        payload(c, written).await
    }
}

async fn payload(c: Caller<'_>, written: Written<records::ContactVisit>) -> ApiResult<ContactVisitPayload> {
    Ok(ContactVisitPayload { contact_visit: ContactVisit(c.store.shown_visit(&c.reader(), written).await.api()?) })
}
