//! A family's timeline, and a placement's: one chronological connection of what happened
//! across agencies, each entry shown only when the caller may see the record behind it.

use async_graphql::{Context, ID, Object};
use kinbridge_persistence::page::Page;
use kinbridge_persistence::timeline::{self, TimelineFilter, TimelineOf, TimelinePosition, TimelineRequest};
use uuid::Uuid;

use crate::connection::{self, Conn, PageArgs, wants_page, wants_total};
use crate::context::caller;
use crate::error::{ApiError, ApiResult};
use crate::scalars::{TimelineKind, Timestamp};

/// One event of a timeline: when, what, and the record behind it.
#[derive(Debug, Clone)]
pub struct TimelineEntry(timeline::TimelineEntry);

#[Object]
impl TimelineEntry {
    /// When it happened, in UTC. An event recorded by its day (a decision, a review, an
    /// offer) is at that day's midnight; a visit held or missed at its planned start; a
    /// cancellation when it was made; a visit planned when it was recorded, or at its
    /// planned start if it was recorded afterwards.
    async fn occurred_at(&self) -> Timestamp {
        Timestamp(self.0.occurred_at)
    }

    async fn kind(&self) -> TimelineKind {
        self.0.kind.into()
    }

    /// The type of the record behind the event: `Placement`, `ContactVisit`,
    /// `SupportOffer`, `PlanReview`, `Consent`, `Referral` or `FamilyPartnerService`.
    async fn record_type(&self) -> &str {
        self.0.record_type
    }

    /// The record's id; `node(id:)` reads it.
    async fn record_id(&self) -> ID {
        ID(self.0.record_public_id())
    }

    async fn family_id(&self) -> Option<ID> {
        self.0.family_id.map(|id| ID(id.to_string()))
    }

    /// The placement the event belongs to, if it belongs to one.
    async fn placement_id(&self) -> Option<ID> {
        self.0.placement_id.map(|id| ID(id.to_string()))
    }

    /// Whom the event is about, when it is about one person: the placed child, who gave
    /// or revoked a consent, who was served by a family partner.
    async fn person_id(&self) -> Option<ID> {
        self.0.person_id.map(|id| ID(id.to_string()))
    }

    /// What qualifies the event, by its API name: the placement's setting (decided,
    /// started) or end reason (ended), the visit's supervision (planned) or who cancelled
    /// it (`PARENT`, `CHILD`, …), the review's kind, the offer's kind, the consent's
    /// purpose, the service's activity.
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// For a review: the average of the scores (1 to 5) given to the plan's goals.
    async fn average_score(&self) -> Option<f64> {
        self.0.average_score
    }
}

/// Resolves a `timeline` field of `parent`: its page and its count, each read with those
/// of the field's siblings in one statement, and only what the client selected.
pub(crate) async fn resolve(
    ctx: &Context<'_>,
    of: TimelineOf,
    parent: impl Into<Uuid>,
    (after, before, first, last): PageArgs,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    kinds: Option<Vec<TimelineKind>>,
) -> ApiResult<Conn<TimelineEntry>> {
    let parent = parent.into();
    let c = caller(ctx)?;
    let limit = connection::page_request(None, None, first, last)?.limit;
    let position = |name: &str, cursor: Option<String>| {
        cursor
            .map(|c| {
                TimelinePosition::parse(&c)
                    .ok_or_else(|| ApiError::bad_input(name, "is not a cursor returned by this connection"))
            })
            .transpose()
    };
    let req = TimelineRequest { after: position("after", after)?, before: position("before", before)?, limit };
    if let (Some(from), Some(until)) = (from, until)
        && until.0 <= from.0
    {
        return Err(ApiError::bad_input("until", "is after from").into());
    }
    let filter = TimelineFilter {
        from: from.map(|t| t.0),
        until: until.map(|t| t.0),
        kinds: kinds.map(|ks| ks.into_iter().map(Into::into).collect()),
    };
    let page = async {
        if !wants_page(ctx) {
            return Ok(Page::empty());
        }
        let read = c
            .lookup(ctx, "timeline_pages", parent, async |ids| {
                c.store.timeline_pages(&c.reader(), of, &ids, &filter, &req).await
            })
            .await?;
        Ok::<_, ApiError>(read.unwrap_or_else(Page::empty))
    };
    let total = async {
        if !wants_total(ctx) {
            return Ok(0);
        }
        let n = c
            .lookup(ctx, "timeline_counts", parent, async |ids| {
                c.store.timeline_counts(&c.reader(), of, &ids, &filter).await
            })
            .await?;
        Ok::<_, ApiError>(n.unwrap_or(0))
    };
    let (page, total) = tokio::join!(page, total);
    Ok(connection::build(page?, total?, |e| e.position.cursor(), TimelineEntry))
}
