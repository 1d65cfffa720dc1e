//! What a caller may see, expressed as SQL conditions; and the log of what it was shown.
//!
//! **Invariant:** every read of an owned table goes through a condition from this module,
//! applied in the query itself. Nothing is fetched and then filtered in memory, so a
//! `totalCount` or a page never counts or reveals a row the caller may not see.
//!
//! The rules (the domain brief's "who may see what"):
//!
//! | caller | sees |
//! | --- | --- |
//! | the responsible municipality | everything of its families, except the parental-role support other organisations record; that only with the client's consent to share it (`SHARE_PARENTAL_SUPPORT_WITH_MUNICIPALITY`) |
//! | a family services provider | the families referred to it, while the referral is active; the parental-role support it records itself for their parents (000) |
//! | a placement provider | placements at its sites, their children and visits; plans only with a parent's consent |
//! | a mental health authority | its eligibility records, assignments and services; a family partner only their own |
//! | the residence municipality | the coordination view of cross-municipality placements (see `coordination.rs`); goals only with consent |
//! | an auditor | the audit trail of its organisation, and no personal data |
//! | a data-protection officer | the audit trail, and the subject access report of a person the organisation holds records about |
//!
//! Consent is checked here, at read time: a revoked consent hides the data on the next
//! request.

use std::sync::Mutex;

use chrono::NaiveDate;
use kinbridge_domain::access::Actor;
use kinbridge_domain::family::FamilyRole;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::sharing::ConsentPurpose;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition};
use uuid::Uuid;

use crate::entities::{
    consent, contact_visit, family, family_member, family_partner, family_partner_assignment, family_partner_service,
    network_map_entry, parent_action_plan, person, person_identifier, placement, plan_goal, plan_review, referral,
    service_eligibility, support_offer, visit_arrangement,
};

/// A caller reading: who it is, what day it is, and where to log what it was shown.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub actor: &'a Actor,
    pub today: NaiveDate,
    log: &'a ReadLog,
}

impl<'a> Reader<'a> {
    pub fn new(actor: &'a Actor, today: NaiveDate, log: &'a ReadLog) -> Self {
        Self { actor, today, log }
    }

    /// Logs that the caller was shown a record of personal data.
    pub(crate) fn saw(&self, record_type: &'static str, record_id: Uuid) {
        self.log.record(Shown { record_type, record_id, indexed_as: record_id });
    }

    /// Logs that the caller was shown a record of personal data that is about a person
    /// exactly when its parent `parent` is (see [`Shown::indexed_as`]).
    pub(crate) fn saw_under(&self, record_type: &'static str, record_id: Uuid, parent: Uuid) {
        self.log.record(Shown { record_type, record_id, indexed_as: parent });
    }

    /// Logs that the caller read its organisation's audit trail: the trail's own audit,
    /// an event under the organisation's id.
    pub fn read_audit_trail(&self) {
        self.saw("AuditTrail", self.org());
    }

    /// Logs that the caller read `person`'s access log, so that the log lists it.
    pub fn read_access_log(&self, person: kinbridge_domain::ids::PersonId) {
        self.saw("AccessLog", person.as_uuid());
    }

    fn org(&self) -> Uuid {
        self.actor.organization_id.as_uuid()
    }

    /// Whether the caller sees every contact visit and plan review its organisation owns:
    /// a municipality does (the first branch of [`visits`] and of [`reviews`]), so what it
    /// has just written is its answer without a read.
    pub(crate) fn sees_own_visits_and_reviews(&self) -> bool {
        self.kind() == OrganizationKind::Municipality
    }

    fn kind(&self) -> OrganizationKind {
        self.actor.organization_kind
    }
}

/// The records shown to one request's caller, to be written to the audit trail before
/// the response leaves.
#[derive(Debug, Default)]
pub struct ReadLog(Mutex<Vec<Shown>>);

/// One record a caller was shown, as the audit trail keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shown {
    pub record_type: &'static str,
    pub record_id: Uuid,
    /// The id under which the access log finds this read (`audit_reads.index_ids`, GIN
    /// on PostgreSQL): the record's own id, or its parent's where the record is about a
    /// person exactly when its parent is. `trail::Related` derives a contact visit from
    /// its placement alone, a goal from its plan, a membership from its family (the
    /// person's own memberships name the person's families): so whenever such a record is
    /// among a person's related records, its parent is too, and `accessLog` finds the read
    /// through the parent's id before it checks the record's own. Indexing the parent
    /// instead of each child keeps the index three times smaller on a page of families
    /// (`assoc::Association::indexed_by_parent` says which associations may).
    pub indexed_as: Uuid,
}

impl Shown {
    /// A record shown, found in the access log by its own id.
    pub fn new(record_type: &'static str, record_id: Uuid) -> Self {
        Self { record_type, record_id, indexed_as: record_id }
    }
}

impl ReadLog {
    fn record(&self, shown: Shown) {
        // A poisoned lock means a resolver panicked mid-push; the request is answered
        // INTERNAL anyway, so the log's content no longer matters.
        if let Ok(mut reads) = self.0.lock() {
            reads.push(shown);
        }
    }

    /// Takes the logged reads, each record once, leaving the log empty. A record shown
    /// under two ids to index it by keeps one of them: either finds the read.
    pub fn take(&self) -> Vec<Shown> {
        let mut reads = self.0.lock().map(|mut reads| std::mem::take(&mut *reads)).unwrap_or_default();
        reads.sort_unstable();
        reads.dedup_by(|a, b| a.record_type == b.record_type && a.record_id == b.record_id);
        reads
    }
}

fn parent_roles() -> Vec<&'static str> {
    FamilyRole::ALL.iter().filter(|r| r.is_parent()).map(|r| r.as_str()).collect()
}

fn nothing() -> Condition {
    Condition::all().add(Expr::cust("1 = 0"))
}

/// Families referred to the caller by an active referral.
fn referred_families(r: &Reader<'_>) -> SelectStatement {
    Query::select()
        .column(referral::Column::FamilyId)
        .from(referral::Entity)
        .and_where(referral::Column::ProviderId.eq(r.org()))
        .and_where(referral::Column::StartsOn.lte(r.today))
        .cond_where(Condition::any().add(referral::Column::EndsOn.is_null()).add(referral::Column::EndsOn.gt(r.today)))
        .take()
}

/// Placements at the caller's sites.
fn provided_placements(r: &Reader<'_>) -> SelectStatement {
    Query::select()
        .column(placement::Column::Id)
        .from(placement::Entity)
        .and_where(placement::Column::ProviderId.eq(r.org()))
        .take()
}

/// Families where a parent's consent for `purpose` to the caller stands today.
pub(crate) fn consented_families(r: &Reader<'_>, purpose: ConsentPurpose) -> SelectStatement {
    let consenting = Query::select()
        .column(consent::Column::PersonId)
        .from(consent::Entity)
        .and_where(consent::Column::RecipientId.eq(r.org()))
        .and_where(consent::Column::Purpose.eq(purpose.as_str()))
        .and_where(consent::Column::GivenOn.lte(r.today))
        .and_where(consent::Column::RevokedAt.is_null())
        .take();
    Query::select()
        .column(family_member::Column::FamilyId)
        .from(family_member::Entity)
        .and_where(family_member::Column::Role.is_in(parent_roles()))
        .and_where(family_member::Column::PersonId.in_subquery(consenting))
        .take()
}

/// The assignments of the family partner the caller signs in as.
fn own_assignments(r: &Reader<'_>) -> SelectStatement {
    let partner = Query::select()
        .column(family_partner::Column::Id)
        .from(family_partner::Entity)
        .and_where(family_partner::Column::OrganizationId.eq(r.org()))
        .and_where(family_partner::Column::Subject.eq(r.actor.subject.as_str()))
        .take();
    Query::select()
        .column(family_partner_assignment::Column::Id)
        .from(family_partner_assignment::Entity)
        .and_where(family_partner_assignment::Column::FamilyPartnerId.in_subquery(partner))
        .take()
}

pub(crate) fn select(
    column: impl sea_orm::sea_query::IntoColumnRef,
    table: impl sea_orm::sea_query::IntoTableRef,
    condition: Condition,
) -> SelectStatement {
    Query::select().column(column).from(table).cond_where(condition).take()
}

pub(crate) fn families(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(family::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(family::Column::Id.in_subquery(referred_families(r)))
        }
        _ => nothing(),
    }
}

pub(crate) fn members(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(family_member::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(family_member::Column::FamilyId.in_subquery(referred_families(r)))
        }
        _ => nothing(),
    }
}

/// A family's network map: shown with the family, to its municipality and to a provider
/// the family is referred to.
pub(crate) fn network_map(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(network_map_entry::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(network_map_entry::Column::FamilyId.in_subquery(referred_families(r)))
        }
        _ => nothing(),
    }
}

pub(crate) fn persons(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(person::Column::OrganizationId.eq(r.org())),
        // The members of the families referred to it, and the helpers on their network maps.
        OrganizationKind::FamilyServicesProvider => Condition::any()
            .add(person::Column::Id.in_subquery(select(
                family_member::Column::PersonId,
                family_member::Entity,
                Condition::all().add(family_member::Column::FamilyId.in_subquery(referred_families(r))),
            )))
            .add(person::Column::Id.in_subquery(select(
                network_map_entry::Column::PersonId,
                network_map_entry::Entity,
                Condition::all().add(network_map_entry::Column::FamilyId.in_subquery(referred_families(r))),
            ))),
        OrganizationKind::PlacementProvider => Condition::all().add(person::Column::Id.in_subquery(select(
            placement::Column::ChildId,
            placement::Entity,
            Condition::all().add(placement::Column::ProviderId.eq(r.org())),
        ))),
        OrganizationKind::MentalHealthAuthority if r.actor.is_family_partner_only() => {
            let assignments = own_assignments(r);
            let caregivers = select(
                family_partner_assignment::Column::CaregiverId,
                family_partner_assignment::Entity,
                Condition::all().add(family_partner_assignment::Column::Id.in_subquery(assignments.clone())),
            );
            let eligibilities = select(
                family_partner_assignment::Column::EligibilityId,
                family_partner_assignment::Entity,
                Condition::all().add(family_partner_assignment::Column::Id.in_subquery(assignments)),
            );
            let children = select(
                service_eligibility::Column::ChildId,
                service_eligibility::Entity,
                Condition::all().add(service_eligibility::Column::Id.in_subquery(eligibilities)),
            );
            Condition::any()
                .add(person::Column::Id.in_subquery(caregivers))
                .add(person::Column::Id.in_subquery(children))
        }
        OrganizationKind::MentalHealthAuthority => Condition::all().add(person::Column::OrganizationId.eq(r.org())),
    }
}

/// The persons the caller supports in their role as parents (000), by `person.id`: a
/// municipality's and an authority's own persons; for a family services provider, the
/// parents of the families referred to it while the referral is active.
pub(crate) fn clients(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality | OrganizationKind::MentalHealthAuthority => {
            Condition::all().add(person::Column::OrganizationId.eq(r.org()))
        }
        OrganizationKind::FamilyServicesProvider => Condition::all().add(
            person::Column::Id.in_subquery(select(
                family_member::Column::PersonId,
                family_member::Entity,
                Condition::all()
                    .add(family_member::Column::FamilyId.in_subquery(referred_families(r)))
                    .add(family_member::Column::Role.is_in(parent_roles())),
            )),
        ),
        OrganizationKind::PlacementProvider => nothing(),
    }
}

/// Parental-role support records (`organization` the recording organisation's column,
/// `client` the client's): the caller's own, and another organisation's about a client
/// whose consent to share them with the caller, recorded by that organisation, stands
/// today (000: the professional who treats the parent keeps these records; the
/// responsible municipality sees them with the client's consent).
pub(crate) fn parental_support<C: ColumnTrait>(r: &Reader<'_>, organization: C, client: C) -> Condition {
    let col = |c: C| Expr::col((c.entity_name(), c));
    let consented = Query::select()
        .expr(Expr::val(1))
        .from(consent::Entity)
        .and_where(Expr::col((consent::Entity, consent::Column::PersonId)).eq(col(client)))
        .and_where(Expr::col((consent::Entity, consent::Column::OrganizationId)).eq(col(organization)))
        .and_where(consent::Column::RecipientId.eq(r.org()))
        .and_where(consent::Column::Purpose.eq(ConsentPurpose::ShareParentalSupportWithMunicipality.as_str()))
        .and_where(consent::Column::GivenOn.lte(r.today))
        .and_where(consent::Column::RevokedAt.is_null())
        .take();
    Condition::any().add(col(organization).eq(r.org())).add(Expr::exists(consented))
}

/// Identifiers, national ids among them, go to the organisation that owns the person only.
pub(crate) fn person_identifiers(r: &Reader<'_>) -> Condition {
    Condition::all().add(person_identifier::Column::OrganizationId.eq(r.org()))
}

fn placement_condition(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(placement::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(placement::Column::FamilyId.in_subquery(referred_families(r)))
        }
        OrganizationKind::PlacementProvider => Condition::all().add(placement::Column::ProviderId.eq(r.org())),
        OrganizationKind::MentalHealthAuthority => nothing(),
    }
}

pub(crate) fn placements(r: &Reader<'_>) -> Condition {
    placement_condition(r)
}

pub(crate) fn visits(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(contact_visit::Column::OrganizationId.eq(r.org())),
        OrganizationKind::PlacementProvider => {
            Condition::all().add(contact_visit::Column::PlacementId.in_subquery(provided_placements(r)))
        }
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(contact_visit::Column::PlacementId.in_subquery(select(
                placement::Column::Id,
                placement::Entity,
                placement_condition(r),
            )))
        }
        OrganizationKind::MentalHealthAuthority => nothing(),
    }
}

/// A placement's visit arrangement: seen with the placement.
pub(crate) fn arrangements(r: &Reader<'_>) -> Condition {
    Condition::all().add(visit_arrangement::Column::PlacementId.in_subquery(select(
        placement::Column::Id,
        placement::Entity,
        placements(r),
    )))
}

pub(crate) fn plans(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(parent_action_plan::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(parent_action_plan::Column::FamilyId.in_subquery(referred_families(r)))
        }
        // Goals reach the placement provider only with a parent's consent (001).
        OrganizationKind::PlacementProvider => {
            Condition::all().add(parent_action_plan::Column::PlacementId.in_subquery(provided_placements(r))).add(
                parent_action_plan::Column::FamilyId
                    .in_subquery(consented_families(r, ConsentPurpose::SharePlanGoalsWithPlacementProvider)),
            )
        }
        OrganizationKind::MentalHealthAuthority => nothing(),
    }
}

pub(crate) fn goals(r: &Reader<'_>) -> Condition {
    Condition::all().add(plan_goal::Column::PlanId.in_subquery(select(
        parent_action_plan::Column::Id,
        parent_action_plan::Entity,
        plans(r),
    )))
}

/// Reviews and offers concern the parents' support: the responsible municipality and a
/// referred family services provider see them; placement providers do not.
fn support_plans(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(parent_action_plan::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(parent_action_plan::Column::FamilyId.in_subquery(referred_families(r)))
        }
        _ => nothing(),
    }
}

pub(crate) fn reviews(r: &Reader<'_>) -> Condition {
    Condition::all().add(plan_review::Column::PlanId.in_subquery(select(
        parent_action_plan::Column::Id,
        parent_action_plan::Entity,
        support_plans(r),
    )))
}

pub(crate) fn offers(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::Municipality => Condition::all().add(support_offer::Column::OrganizationId.eq(r.org())),
        OrganizationKind::FamilyServicesProvider => {
            Condition::all().add(support_offer::Column::PlacementId.in_subquery(select(
                placement::Column::Id,
                placement::Entity,
                Condition::all().add(placement::Column::FamilyId.in_subquery(referred_families(r))),
            )))
        }
        _ => nothing(),
    }
}

pub(crate) fn partners(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::MentalHealthAuthority if r.actor.is_family_partner_only() => Condition::all()
            .add(family_partner::Column::OrganizationId.eq(r.org()))
            .add(family_partner::Column::Subject.eq(r.actor.subject.as_str())),
        OrganizationKind::MentalHealthAuthority => {
            Condition::all().add(family_partner::Column::OrganizationId.eq(r.org()))
        }
        _ => nothing(),
    }
}

pub(crate) fn assignments(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::MentalHealthAuthority if r.actor.is_family_partner_only() => {
            Condition::all().add(family_partner_assignment::Column::Id.in_subquery(own_assignments(r)))
        }
        OrganizationKind::MentalHealthAuthority => {
            Condition::all().add(family_partner_assignment::Column::OrganizationId.eq(r.org()))
        }
        _ => nothing(),
    }
}

pub(crate) fn services(r: &Reader<'_>) -> Condition {
    Condition::all().add(family_partner_service::Column::AssignmentId.in_subquery(select(
        family_partner_assignment::Column::Id,
        family_partner_assignment::Entity,
        assignments(r),
    )))
}

pub(crate) fn eligibilities(r: &Reader<'_>) -> Condition {
    match r.kind() {
        OrganizationKind::MentalHealthAuthority if r.actor.is_family_partner_only() => {
            Condition::all().add(service_eligibility::Column::Id.in_subquery(select(
                family_partner_assignment::Column::EligibilityId,
                family_partner_assignment::Entity,
                assignments(r),
            )))
        }
        OrganizationKind::MentalHealthAuthority => {
            Condition::all().add(service_eligibility::Column::OrganizationId.eq(r.org()))
        }
        _ => nothing(),
    }
}

/// Rows owned by the caller's organisation: the rule for writes, which only the owner
/// makes (visit outcomes excepted, see `visits.rs`).
pub fn owned_by<C: ColumnTrait>(organization_column: C, actor: &Actor) -> Condition {
    Condition::all().add(organization_column.eq(actor.organization_id.as_uuid()))
}
