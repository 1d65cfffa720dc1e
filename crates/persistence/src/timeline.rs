//! A family's timeline, or a placement's: what happened across agencies, in one
//! chronological list, read for every parent of a level in one statement.
//!
//! Each kind of event is one branch of a `UNION ALL`, read from the table of the record
//! behind it under that table's sharing condition from [`scope`](crate::scope), so an
//! entry is shown only when the caller may see its record and the count counts only
//! those. Every branch names its parents (the families or placements of the level) itself,
//! so the database reads only their rows; the union is then numbered per parent by
//! `ROW_NUMBER()` in the timeline's order (a union of tables has no index to read each
//! parent's rows down in order, as [`assoc`](crate::assoc) pages do):
//!
//! ```sql
//! SELECT * FROM (
//!   SELECT u.*, ROW_NUMBER() OVER (PARTITION BY u.kb_family ORDER BY kb_at, kb_rank, kb_record) AS kb_rn
//!     FROM (SELECT … FROM placements WHERE <scope> AND family_id IN (…)
//!           UNION ALL SELECT … FROM contact_visits WHERE <scope> AND placement_id IN (…) …) AS u
//!    WHERE <from, until, kinds, cursor>
//! ) AS kb_page WHERE kb_rn <= n + 1 ORDER BY kb_family, kb_rn
//! ```
//!
//! The moment of an event is a fixed-width UTC text (`2026-03-01T10:00:00.000000Z`; a
//! date is its midnight), the same on SQLite and PostgreSQL, so that events dated by a
//! day and events timed to the second sort together; ties go by [`TimelineKind::rank`]
//! and then the record's id. A cursor carries that position itself.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kinbridge_domain::ids::*;
use kinbridge_domain::timeline::TimelineKind;
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, SelectStatement, UnionType, WindowStatement,
};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, QueryResult};
use uuid::Uuid;

use crate::Store;
use crate::entities::*;
use crate::error::StoreError;
use crate::page::{Limit, Page};
use crate::scope::{self, Reader, owned_by};
use crate::sharing::referrals_visible;

/// Whose timeline: a family's (everything about it), or one placement's (its decision,
/// start and end, its visits and offers, and the reviews of its plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimelineOf {
    Family,
    Placement,
}

/// Which events to show. Every field narrows; none is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TimelineFilter {
    /// From this moment on.
    pub from: Option<DateTime<Utc>>,
    /// Before this moment.
    pub until: Option<DateTime<Utc>>,
    /// Only these kinds; all when `None`.
    pub kinds: Option<Vec<TimelineKind>>,
}

/// Where an entry stands in the timeline's order; an edge's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimelinePosition {
    at: String,
    rank: i32,
    record: Uuid,
}

impl TimelinePosition {
    /// The cursor that names this position: opaque to clients.
    pub fn cursor(&self) -> String {
        format!("tl1.{}.{}.{}", self.at, self.rank, self.record.simple())
    }

    /// The position a cursor names, if it is one of this connection's.
    pub fn parse(cursor: &str) -> Option<Self> {
        let mut parts = cursor.strip_prefix("tl1.")?.split('.');
        let (date, fraction, rank, record) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let at = format!("{date}.{fraction}");
        // Only a moment written as this module writes it.
        DateTime::parse_from_rfc3339(&at).ok().filter(|_| at.len() == MOMENT_WIDTH)?;
        Some(Self { at, rank: rank.parse().ok()?, record: Uuid::try_parse(record).ok()? })
    }
}

/// A page request of a timeline: like [`PageRequest`](crate::PageRequest), with
/// positions for cursors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimelineRequest {
    pub after: Option<TimelinePosition>,
    pub before: Option<TimelinePosition>,
    pub limit: Limit,
}

/// One event of a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub position: TimelinePosition,
    pub occurred_at: DateTime<Utc>,
    pub kind: TimelineKind,
    /// The GraphQL type of the record behind the event, such as `ContactVisit`.
    pub record_type: &'static str,
    pub record_id: Uuid,
    pub family_id: Option<FamilyId>,
    pub placement_id: Option<PlacementId>,
    /// The person the event is about, when it is about one: the placed child, who gave
    /// or revoked a consent, who was served.
    pub person_id: Option<PersonId>,
    /// What qualifies the event, by its API name: a placement's setting or end reason, a
    /// visit's supervision or who cancelled it, a review's kind, an offer's kind, a
    /// consent's purpose, a service's activity.
    pub detail: Option<String>,
    /// For a review: the average of the scores given to the plan's goals.
    pub average_score: Option<f64>,
}

impl TimelineEntry {
    /// The record's public id (`vis_…`).
    pub fn record_public_id(&self) -> String {
        let u = self.record_id;
        match self.record_type {
            "Placement" => PlacementId::from_uuid(u).to_string(),
            "ContactVisit" => ContactVisitId::from_uuid(u).to_string(),
            "PlanReview" => PlanReviewId::from_uuid(u).to_string(),
            "SupportOffer" => SupportOfferId::from_uuid(u).to_string(),
            "Consent" => ConsentId::from_uuid(u).to_string(),
            "Referral" => ReferralId::from_uuid(u).to_string(),
            "FamilyPartnerService" => FamilyPartnerServiceId::from_uuid(u).to_string(),
            _ => u.simple().to_string(),
        }
    }
}

/// `2026-03-01T10:00:00.000000Z`: how long a moment's text is.
const MOMENT_WIDTH: usize = 27;

/// A moment as the timeline writes it.
fn moment(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `column` (a timestamp) as a moment's text.
fn at_time(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"),
        _ => format!("(strftime('%Y-%m-%dT%H:%M:%f', {column}) || '000Z')"),
    }
}

/// The earlier of two timestamp columns.
fn earlier(backend: DbBackend, a: &str, b: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("LEAST({a}, {b})"),
        _ => format!("(CASE WHEN julianday({a}) <= julianday({b}) THEN {a} ELSE {b} END)"),
    }
}

/// `column` (a date) as its midnight's text.
fn at_date(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(to_char({column}, 'YYYY-MM-DD') || 'T00:00:00.000000Z')"),
        _ => format!("({column} || 'T00:00:00.000000Z')"),
    }
}

fn null(sql_type: &str) -> String {
    format!("CAST(NULL AS {sql_type})")
}

/// One kind of event: from which table, when, and what it shows.
/// Every branch's condition is `Condition::all()` of the table's scope and its own
/// conditions: a scope may be a disjunction (`referrals_visible`), to which a condition
/// added directly would be one more alternative.
struct Branch {
    table: &'static str,
    kind: String,
    rank: String,
    record_type: &'static str,
    at: String,
    family: String,
    placement: String,
    person: String,
    detail: String,
    score: String,
    condition: Condition,
}

impl Branch {
    fn statement(self) -> SelectStatement {
        let mut s = Query::select();
        s.from(Alias::new(self.table))
            .expr_as(Expr::cust(self.family), Alias::new("kb_family"))
            .expr_as(Expr::cust(self.placement), Alias::new("kb_placement"))
            .expr_as(Expr::cust(self.at), Alias::new("kb_at"))
            .expr_as(Expr::cust(self.rank), Alias::new("kb_rank"))
            .expr_as(Expr::cust(self.kind), Alias::new("kb_kind"))
            .expr_as(Expr::val(self.record_type), Alias::new("kb_type"))
            .expr_as(Expr::cust(format!("\"{}\".\"id\"", self.table)), Alias::new("kb_record"))
            .expr_as(Expr::cust(self.person), Alias::new("kb_person"))
            .expr_as(Expr::cust(self.detail), Alias::new("kb_detail"))
            .expr_as(Expr::cust(self.score), Alias::new("kb_score"))
            .cond_where(self.condition);
        s
    }
}

fn kind_sql(kind: TimelineKind) -> (String, String) {
    (format!("'{}'", kind.as_str()), kind.rank().to_string())
}

/// The branches of the union, each limited to `parents` (families or placements).
fn branches(backend: DbBackend, r: &Reader<'_>, of: TimelineOf, parents: &[Uuid]) -> Vec<Branch> {
    use TimelineKind::*;
    let parents = parents.to_vec();
    let (uuid, text, real) = (null("uuid"), null("text"), null("double precision"));
    let family_placements = || {
        Query::select()
            .column(placement::Column::Id)
            .from(placement::Entity)
            .and_where(placement::Column::FamilyId.is_in(parents.clone()))
            .take()
    };
    // The placements the timeline is about: the families' or the placements themselves.
    let placements_of = |column: Expr| match of {
        TimelineOf::Family => column.in_subquery(family_placements()),
        TimelineOf::Placement => column.is_in(parents.clone()),
    };
    let placement_parent = match of {
        TimelineOf::Family => placement::Column::FamilyId.is_in(parents.clone()),
        TimelineOf::Placement => placement::Column::Id.is_in(parents.clone()),
    };
    let family_of_placement =
        |column: &str| format!("(SELECT kb_p.family_id FROM placements kb_p WHERE kb_p.id = {column})");

    let mut out = Vec::new();
    // Placements: decided, started, ended.
    for (kind, at, detail, extra) in [
        (PlacementDecided, at_date(backend, "placements.decision_date"), "placements.setting", None),
        (PlacementStarted, at_date(backend, "placements.start_date"), "placements.setting", None),
        (
            PlacementEnded,
            at_date(backend, "placements.end_date"),
            "placements.end_reason",
            Some(placement::Column::EndDate.is_not_null()),
        ),
    ] {
        let (kind_text, rank) = kind_sql(kind);
        let condition = Condition::all().add(scope::placements(r)).add(placement_parent.clone()).add_option(extra);
        out.push(Branch {
            table: "placements",
            kind: kind_text,
            rank,
            record_type: "Placement",
            at,
            family: "placements.family_id".into(),
            placement: "placements.id".into(),
            person: "placements.child_id".into(),
            detail: detail.into(),
            score: real.clone(),
            condition,
        });
    }
    // Contact visits: planned (when recorded), held or missed (when they were to begin),
    // cancelled (when, by whom).
    for (kind, at, detail, status) in [
        // Planned when recorded, or at the latest when it was to begin: a visit recorded
        // afterwards (an integration's back-fill) was planned by then.
        (
            VisitPlanned,
            at_time(backend, &earlier(backend, "contact_visits.created_at", "contact_visits.planned_start")),
            "contact_visits.supervision",
            None,
        ),
        (VisitHeld, at_time(backend, "contact_visits.planned_start"), text.as_str(), Some("HELD")),
        (VisitNoShow, at_time(backend, "contact_visits.planned_start"), text.as_str(), Some("NO_SHOW")),
        (
            VisitCancelled,
            at_time(backend, "contact_visits.cancelled_at"),
            "contact_visits.cancelled_by",
            Some("CANCELLED"),
        ),
    ] {
        let (kind_text, rank) = kind_sql(kind);
        let condition = Condition::all()
            .add(scope::visits(r))
            .add(placements_of(Expr::col((contact_visit::Entity, contact_visit::Column::PlacementId))))
            .add_option(status.map(|s| contact_visit::Column::Status.eq(s)))
            .add_option((kind == VisitCancelled).then(|| contact_visit::Column::CancelledAt.is_not_null()));
        out.push(Branch {
            table: "contact_visits",
            kind: kind_text,
            rank,
            record_type: "ContactVisit",
            at,
            family: family_of_placement("contact_visits.placement_id"),
            placement: "contact_visits.placement_id".into(),
            person: uuid.clone(),
            detail: detail.into(),
            score: real.clone(),
            condition,
        });
    }
    // Support offers: offered (again, when the same kind was declined before), then
    // accepted or declined.
    let declined_before = "EXISTS (SELECT 1 FROM support_offers kb_o WHERE kb_o.placement_id = support_offers.placement_id \
         AND kb_o.kind = support_offers.kind AND kb_o.response = 'DECLINED' AND kb_o.offered_on < support_offers.offered_on)";
    let offered = (
        format!(
            "CASE WHEN {declined_before} THEN '{}' ELSE '{}' END",
            SupportReoffered.as_str(),
            SupportOffered.as_str()
        ),
        format!("CASE WHEN {declined_before} THEN {} ELSE {} END", SupportReoffered.rank(), SupportOffered.rank()),
    );
    for (kinds, at, response) in [
        (offered, at_date(backend, "support_offers.offered_on"), None),
        (kind_sql(SupportAccepted), at_date(backend, "support_offers.responded_on"), Some("ACCEPTED")),
        (kind_sql(SupportDeclined), at_date(backend, "support_offers.responded_on"), Some("DECLINED")),
    ] {
        let condition = Condition::all()
            .add(scope::offers(r))
            .add(placements_of(Expr::col((support_offer::Entity, support_offer::Column::PlacementId))))
            .add_option(response.map(|answer| {
                Condition::all()
                    .add(support_offer::Column::Response.eq(answer))
                    .add(support_offer::Column::RespondedOn.is_not_null())
            }));
        out.push(Branch {
            table: "support_offers",
            kind: kinds.0,
            rank: kinds.1,
            record_type: "SupportOffer",
            at,
            family: family_of_placement("support_offers.placement_id"),
            placement: "support_offers.placement_id".into(),
            person: uuid.clone(),
            detail: "support_offers.kind".into(),
            score: real.clone(),
            condition,
        });
    }
    // Reviews, with the average score given to the goals.
    let plans_of = match of {
        TimelineOf::Family => parent_action_plan::Column::FamilyId.is_in(parents.clone()),
        TimelineOf::Placement => parent_action_plan::Column::PlacementId.is_in(parents.clone()),
    };
    let (kind_text, rank) = kind_sql(ReviewHeld);
    out.push(Branch {
        table: "plan_reviews",
        kind: kind_text,
        rank,
        record_type: "PlanReview",
        at: at_date(backend, "plan_reviews.held_on"),
        family: "(SELECT kb_p.family_id FROM parent_action_plans kb_p WHERE kb_p.id = plan_reviews.plan_id)".into(),
        placement: "(SELECT kb_p.placement_id FROM parent_action_plans kb_p WHERE kb_p.id = plan_reviews.plan_id)"
            .into(),
        person: uuid.clone(),
        detail: "plan_reviews.kind".into(),
        score: "CAST((SELECT AVG(kb_s.score) FROM plan_review_progress kb_s WHERE kb_s.review_id = plan_reviews.id) \
                AS double precision)"
            .into(),
        condition: Condition::all().add(scope::reviews(r)).add(
            plan_review::Column::PlanId.in_subquery(
                Query::select()
                    .column(parent_action_plan::Column::Id)
                    .from(parent_action_plan::Entity)
                    .and_where(plans_of)
                    .take(),
            ),
        ),
    });
    if of == TimelineOf::Placement {
        return out;
    }
    // What concerns the family rather than one placement: consents of its members,
    // referrals, family partner services to its members.
    for (kind, at, extra) in [
        (ConsentGiven, at_date(backend, "consents.given_on"), None),
        (ConsentRevoked, at_time(backend, "consents.revoked_at"), Some(consent::Column::RevokedAt.is_not_null())),
    ] {
        let (kind_text, rank) = kind_sql(kind);
        let condition = Condition::all()
            .add(owned_by(consent::Column::OrganizationId, r.actor))
            .add(Expr::col((family_member::Entity, family_member::Column::FamilyId)).is_in(parents.clone()))
            .add_option(extra);
        out.push(Branch {
            table: "consents",
            kind: kind_text,
            rank,
            record_type: "Consent",
            at,
            family: "family_members.family_id".into(),
            placement: uuid.clone(),
            person: "consents.person_id".into(),
            detail: "consents.purpose".into(),
            score: real.clone(),
            condition,
        });
    }
    for (kind, at, extra) in [
        (ReferralStarted, at_date(backend, "referrals.starts_on"), None),
        (ReferralEnded, at_date(backend, "referrals.ends_on"), Some(referral::Column::EndsOn.is_not_null())),
    ] {
        let (kind_text, rank) = kind_sql(kind);
        let condition = Condition::all()
            .add(referrals_visible(r))
            .add(referral::Column::FamilyId.is_in(parents.clone()))
            .add_option(extra);
        out.push(Branch {
            table: "referrals",
            kind: kind_text,
            rank,
            record_type: "Referral",
            at,
            family: "referrals.family_id".into(),
            placement: uuid.clone(),
            person: uuid.clone(),
            detail: text.clone(),
            score: real.clone(),
            condition,
        });
    }
    let (kind_text, rank) = kind_sql(FamilyPartnerServiceDelivered);
    out.push(Branch {
        table: "family_partner_services",
        kind: kind_text,
        rank,
        record_type: "FamilyPartnerService",
        at: at_date(backend, "family_partner_services.service_date"),
        family: "family_members.family_id".into(),
        placement: uuid,
        person: "family_partner_services.recipient_id".into(),
        detail: "family_partner_services.activity".into(),
        score: real,
        condition: Condition::all()
            .add(scope::services(r))
            .add(Expr::col((family_member::Entity, family_member::Column::FamilyId)).is_in(parents.clone())),
    });
    out
}

/// The union of the branches, with the joins the family-wide ones need.
fn union(backend: DbBackend, r: &Reader<'_>, of: TimelineOf, parents: &[Uuid]) -> SelectStatement {
    let mut statements = branches(backend, r, of, parents).into_iter().map(|b| {
        let table = b.table;
        let mut s = b.statement();
        // A consent or service belongs to the family of the member it names; a person in
        // two of the parents' families shows it in both.
        let person = match table {
            "consents" => Some("consents.person_id"),
            "family_partner_services" => Some("family_partner_services.recipient_id"),
            _ => None,
        };
        if let Some(person) = person {
            s.inner_join(
                family_member::Entity,
                Expr::col((family_member::Entity, family_member::Column::PersonId)).eq(Expr::cust(person)),
            );
        }
        s
    });
    let mut first = statements.next().unwrap_or_else(Query::select);
    for s in statements {
        first.union(UnionType::All, s);
    }
    first
}

/// The conditions on the union's rows: the filter's moments and kinds.
fn filtered(select: &mut SelectStatement, filter: &TimelineFilter) {
    if let Some(from) = filter.from {
        select.and_where(Expr::col(Alias::new("kb_at")).gte(moment(from)));
    }
    if let Some(until) = filter.until {
        select.and_where(Expr::col(Alias::new("kb_at")).lt(moment(until)));
    }
    if let Some(kinds) = &filter.kinds {
        select.and_where(Expr::col(Alias::new("kb_kind")).is_in(kinds.iter().map(|k| k.as_str())));
    }
}

fn parent_column(of: TimelineOf) -> Alias {
    Alias::new(match of {
        TimelineOf::Family => "kb_family",
        TimelineOf::Placement => "kb_placement",
    })
}

fn position_expr() -> Expr {
    Expr::tuple([Expr::col(Alias::new("kb_at")), Expr::col(Alias::new("kb_rank")), Expr::col(Alias::new("kb_record"))])
}

fn position_value(p: &TimelinePosition) -> Expr {
    Expr::tuple([Expr::val(p.at.clone()), Expr::val(p.rank), Expr::val(p.record)])
}

impl Store {
    /// One page of the timeline of each of `parents` (families or placements), in one
    /// statement. Every entry shown is logged as a read of the record behind it.
    pub async fn timeline_pages(
        &self,
        r: &Reader<'_>,
        of: TimelineOf,
        parents: &[Uuid],
        filter: &TimelineFilter,
        req: &TimelineRequest,
    ) -> Result<HashMap<Uuid, Page<TimelineEntry>>, StoreError> {
        let backend = self.backend();
        let backwards = matches!(req.limit, Limit::Last(_));
        let (Limit::First(n) | Limit::Last(n)) = req.limit;
        let direction = if backwards { Order::Desc } else { Order::Asc };
        let mut window = WindowStatement::partition_by(parent_column(of));
        for c in ["kb_at", "kb_rank", "kb_record"] {
            window.order_by(Alias::new(c), direction.clone());
        }
        let mut numbered = Query::select();
        numbered
            .column(Asterisk)
            .expr_window_as(Func::cust(Alias::new("ROW_NUMBER")), window, Alias::new("kb_rn"))
            .from_subquery(union(backend, r, of, parents), Alias::new("kb_union"));
        filtered(&mut numbered, filter);
        if let Some(after) = &req.after {
            numbered.and_where(position_expr().gt(position_value(after)));
        }
        if let Some(before) = &req.before {
            numbered.and_where(position_expr().lt(position_value(before)));
        }
        let page = Query::select()
            .column(Asterisk)
            .from_subquery(numbered, Alias::new("kb_page"))
            .and_where(Expr::col(Alias::new("kb_rn")).lte(n.saturating_add(1)))
            .order_by(parent_column(of), Order::Asc)
            .order_by(Alias::new("kb_rn"), Order::Asc)
            .take();
        let mut rows: HashMap<Uuid, Vec<TimelineEntry>> = HashMap::with_capacity(parents.len());
        for row in self.conn().query_all_raw(backend.build(&page)).await? {
            let (parent, entry) = entry(&row, of)?;
            rows.entry(parent).or_default().push(entry);
        }
        let mut pages = HashMap::with_capacity(parents.len());
        for parent in parents {
            let page = crate::page::cut(
                req.limit,
                req.after.is_some(),
                req.before.is_some(),
                rows.remove(parent).unwrap_or_default(),
            );
            for e in &page.items {
                r.saw(e.record_type, e.record_id);
            }
            pages.insert(*parent, page);
        }
        Ok(pages)
    }

    /// How many entries the caller may see in the timeline of each of `parents`, in one
    /// statement. A count shows no record and logs none.
    pub async fn timeline_counts(
        &self,
        r: &Reader<'_>,
        of: TimelineOf,
        parents: &[Uuid],
        filter: &TimelineFilter,
    ) -> Result<HashMap<Uuid, u64>, StoreError> {
        let backend = self.backend();
        let mut select = Query::select();
        select
            .expr_as(Expr::col(parent_column(of)), Alias::new("kb_key"))
            .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("kb_count"))
            .from_subquery(union(backend, r, of, parents), Alias::new("kb_union"))
            .group_by_col(parent_column(of));
        filtered(&mut select, filter);
        let mut counts: HashMap<Uuid, u64> = parents.iter().map(|p| (*p, 0)).collect();
        for row in self.conn().query_all_raw(backend.build(&select)).await? {
            let key: Uuid = row.try_get("", "kb_key")?;
            let n: i64 = row.try_get("", "kb_count")?;
            counts.insert(key, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }
}

/// One row of the union as an entry, with the parent it was read for.
fn entry(row: &QueryResult, of: TimelineOf) -> Result<(Uuid, TimelineEntry), StoreError> {
    let get = |name: &str| row.try_get::<Option<Uuid>>("", name);
    let at: String = row.try_get("", "kb_at")?;
    let kind: String = row.try_get("", "kb_kind")?;
    let kind: TimelineKind = kind.parse()?;
    let record_type: String = row.try_get("", "kb_type")?;
    let record_type = match record_type.as_str() {
        "Placement" => "Placement",
        "ContactVisit" => "ContactVisit",
        "SupportOffer" => "SupportOffer",
        "PlanReview" => "PlanReview",
        "Consent" => "Consent",
        "Referral" => "Referral",
        "FamilyPartnerService" => "FamilyPartnerService",
        other => return Err(StoreError::Corrupt(format!("a timeline entry of type {other}"))),
    };
    let record: Uuid = row.try_get("", "kb_record")?;
    let occurred_at = DateTime::parse_from_rfc3339(&at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt(format!("a timeline moment {at}")))?;
    let family = get("kb_family")?;
    let placement = get("kb_placement")?;
    let parent = match of {
        TimelineOf::Family => family,
        TimelineOf::Placement => placement,
    }
    .ok_or_else(|| StoreError::Corrupt("a timeline entry without its parent".into()))?;
    let entry = TimelineEntry {
        position: TimelinePosition { at: moment(occurred_at), rank: kind.rank(), record },
        occurred_at,
        kind,
        record_type,
        record_id: record,
        family_id: family.map(FamilyId::from_uuid),
        placement_id: placement.map(PlacementId::from_uuid),
        person_id: get("kb_person")?.map(PersonId::from_uuid),
        detail: row.try_get("", "kb_detail")?,
        average_score: row.try_get("", "kb_score")?,
    };
    Ok((parent, entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn a_cursor_names_its_position_and_nothing_else_is_one() {
        let p = TimelinePosition { at: moment(Utc::now()), rank: 9, record: Uuid::now_v7() };
        assert_eq!(TimelinePosition::parse(&p.cursor()), Some(p.clone()));
        for bad in ["", "tl1.", "tl1.x.y.z.w", "fam_0190f4c2a0b07c3e9d1f2a3b4c5d6e7f", &format!("{}.1", p.cursor())] {
            assert_eq!(TimelinePosition::parse(bad), None, "{bad}");
        }
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_time(chrono::NaiveTime::MIN).and_utc();
        assert_eq!(moment(date), "2026-03-01T00:00:00.000000Z");
        assert_eq!(moment(date).len(), MOMENT_WIDTH);
    }
}
