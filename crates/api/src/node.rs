//! Relay's object identification: the `Node` interface and `node(id)` / `nodes(ids)`.
//!
//! Every id is type-prefixed (`fam_…`, `vis_…`), so `node` knows from the id alone which
//! record to read, and reads it as any nested reference is read: through the record's
//! scope, batched with the other `node`s of the request by type, logged as shown. A
//! record the caller may not see is `NOT_FOUND`, exactly like one that does not exist.
//!
//! The views that borrow another record's id (`CoordinationPlacement`, `SharedGoal`) and
//! the audit trail's events are not nodes: `node` on such an id names the record itself.

use async_graphql::{Context, ID, Interface, Object};
use kinbridge_domain::ids::*;
use kinbridge_persistence::assoc::catalogue;

use crate::connection::MAX_PAGE_SIZE;
use crate::context::{any_caller, caller};
use crate::error::{ApiError, ApiResult, id_arg};
use crate::families::{Family, FamilyMember, Person};
use crate::network::NetworkMapEntry;
use crate::offers::SupportOffer;
use crate::organizations::Organization;
use crate::parental::{KoppInterview, OtherParentSupportRecord, ParentalSupportNote, PillarRecord, SubGoal};
use crate::partners::{FamilyPartner, FamilyPartnerAssignment, FamilyPartnerService, ServiceEligibility};
use crate::placements::Placement;
use crate::plans::{Goal, ParentActionPlan, PlanReview};
use crate::sharing::{Consent, KeyPersonNotification, Referral};
use crate::visits::{ContactVisit, VisitArrangement};

/// A record with a global id: give the id to `node` to read it again.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    Organization(Organization),
    Person(Person),
    Family(Family),
    FamilyMember(FamilyMember),
    NetworkMapEntry(NetworkMapEntry),
    Placement(Placement),
    ContactVisit(ContactVisit),
    VisitArrangement(VisitArrangement),
    ParentActionPlan(ParentActionPlan),
    Goal(Goal),
    PlanReview(PlanReview),
    SupportOffer(SupportOffer),
    SubGoal(SubGoal),
    FamilyPartner(FamilyPartner),
    ServiceEligibility(ServiceEligibility),
    FamilyPartnerAssignment(FamilyPartnerAssignment),
    FamilyPartnerService(FamilyPartnerService),
    Referral(Referral),
    Consent(Consent),
    KeyPersonNotification(KeyPersonNotification),
    ParentalSupportNote(ParentalSupportNote),
    KoppInterview(KoppInterview),
    OtherParentSupportRecord(OtherParentSupportRecord),
    PillarRecord(PillarRecord),
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Node")
    }
}

#[derive(Default, Debug)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The record with this id, of any type, if the caller may see it (Relay's object
    /// identification). An id Kinbridge never gives out is `BAD_USER_INPUT`; a record
    /// that does not exist or that the caller may not see is `NOT_FOUND`.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        Ok(Some(resolve(ctx, "id", &id).await?))
    }

    /// The records with these ids, in their order (at most 100): `null` and an error at
    /// its index for each that cannot be shown.
    #[graphql(complexity = "1 + ids.len() * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<Vec<Option<Node>>> {
        if ids.len() > usize::try_from(MAX_PAGE_SIZE).unwrap_or(0) {
            return Err(ApiError::bad_input("ids", format!("at most {MAX_PAGE_SIZE} ids")).into());
        }
        let found = futures_util::future::join_all(
            ids.iter().enumerate().map(|(i, id)| async move { (i, resolve(ctx, &format!("ids.{i}"), id).await) }),
        )
        .await;
        let mut nodes = Vec::with_capacity(found.len());
        for (_, node) in found {
            match node {
                Ok(node) => nodes.push(Some(node)),
                // A list item that cannot be shown is null; the error says why.
                Err(e) => {
                    ctx.add_error(async_graphql::Error::from(e).into_server_error(ctx.item.pos));
                    nodes.push(None);
                }
            }
        }
        Ok(nodes)
    }
}

async fn resolve(ctx: &Context<'_>, field: &str, id: &ID) -> Result<Node, ApiError> {
    let prefix = id.as_str().split_once('_').map_or("", |(p, _)| p);
    if prefix == OrganizationId::PREFIX {
        // The directory is open to every caller, the auditor included.
        let c = any_caller(ctx)?;
        let id: OrganizationId = id_arg(field, id)?;
        return Ok(Node::Organization(Organization(c.reference(ctx, &catalogue::ORGANIZATION, id).await?)));
    }
    let c = caller(ctx)?;
    if prefix == PillarRecordId::PREFIX {
        let id: PillarRecordId = id_arg(field, id)?;
        return Ok(Node::PillarRecord(PillarRecord::try_from(c.reference(ctx, &catalogue::PILLAR_RECORD, id).await?)?));
    }
    macro_rules! read {
        ($($id:ty => $reference:ident => $node:ident($wrap:expr)),+ $(,)?) => {
            match prefix {
                $(p if p == <$id>::PREFIX => {
                    let id: $id = id_arg(field, id)?;
                    Node::$node($wrap(c.reference(ctx, &catalogue::$reference, id).await?))
                })+
                _ => return Err(ApiError::bad_input(field, "is not an id Kinbridge gives out")),
            }
        };
    }
    Ok(read!(
        PersonId => PERSON => Person(Person),
        FamilyId => FAMILY => Family(Family),
        FamilyMemberId => FAMILY_MEMBER => FamilyMember(FamilyMember),
        NetworkMapEntryId => NETWORK_MAP_ENTRY => NetworkMapEntry(NetworkMapEntry),
        PlacementId => PLACEMENT => Placement(Placement),
        ContactVisitId => CONTACT_VISIT => ContactVisit(ContactVisit),
        VisitArrangementId => VISIT_ARRANGEMENT => VisitArrangement(VisitArrangement),
        ParentActionPlanId => PLAN => ParentActionPlan(ParentActionPlan),
        GoalId => GOAL => Goal(Goal),
        PlanReviewId => PLAN_REVIEW => PlanReview(PlanReview),
        SupportOfferId => SUPPORT_OFFER => SupportOffer(SupportOffer),
        SubGoalId => SUB_GOAL => SubGoal(SubGoal),
        FamilyPartnerId => FAMILY_PARTNER => FamilyPartner(FamilyPartner),
        ServiceEligibilityId => ELIGIBILITY => ServiceEligibility(ServiceEligibility),
        FamilyPartnerAssignmentId => ASSIGNMENT => FamilyPartnerAssignment(FamilyPartnerAssignment),
        FamilyPartnerServiceId => SERVICE => FamilyPartnerService(FamilyPartnerService),
        ReferralId => REFERRAL => Referral(Referral),
        ConsentId => CONSENT => Consent(Consent),
        KeyPersonNotificationId => KEY_PERSON_NOTIFICATION => KeyPersonNotification(KeyPersonNotification),
        ParentalSupportNoteId => PARENTAL_SUPPORT_NOTE => ParentalSupportNote(ParentalSupportNote),
        KoppInterviewId => KOPP_INTERVIEW => KoppInterview(KoppInterview),
        OtherParentSupportId => OTHER_PARENT_SUPPORT => OtherParentSupportRecord(OtherParentSupportRecord),
    ))
}
