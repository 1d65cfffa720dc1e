//! Who may write what: one table, beside the read scope of `scope.rs`.
//!
//! A write finds the record it changes (or the parent it adds to) with the condition of
//! its rule, in the write's own transaction, before it changes anything: a caller the
//! rule does not admit gets `NOT_FOUND`, exactly like a record that does not exist, and
//! nothing is written. Rows a write then changes are locked or versioned (`write.rs`), so
//! the decision holds until the commit. The role and organisation-kind checks (only a
//! municipality registers families, only a manager of an authority assigns partners, an
//! auditor writes nothing) come before, in the API.
//!
//! `WRITES` is the table; the authorization matrix (`tests/e2e/matrix.rs`) checks every
//! mutation against every kind of caller, and that a refused write leaves the change feed
//! as it was.

use kinbridge_domain::access::Actor;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition};

use crate::entities::{plan_goal, sub_goal};
use crate::scope::{self, Reader};

/// Whom a write is open to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// The organisation that owns the record or the parent it adds to.
    Owner,
    /// Whoever may see the visit under the read scope: its municipality, the placement
    /// provider where the child lives, a provider the family is referred to (000: the
    /// supervisor records how the visit went).
    VisitViewer,
    /// The plan's owner, or the organisation a sub-goal names as its owner while it may
    /// still see the goal (a referred provider moves its sub-goals on; 001).
    SubGoalOwner,
    /// The family partner who holds the assignment, or the authority's manager (002).
    AssignmentHolder,
    /// Kinbridge itself, on an operator's command.
    Operator,
}

/// Every write of the API, the record it changes, and who may make it.
pub const WRITES: &[(&str, &str, Writers)] = {
    use Writers::*;
    &[
        ("createFamily", "Family", Owner),
        ("upsertFamily", "Family", Owner),
        ("addFamilyMember", "FamilyMember", Owner),
        ("createPerson", "Person", Owner),
        ("correctPerson", "Person", Owner),
        ("correctFamilyMember", "FamilyMember", Owner),
        ("addNetworkMapEntry", "NetworkMapEntry", Owner),
        ("endNetworkMapEntry", "NetworkMapEntry", Owner),
        ("createPlacement", "Placement", Owner),
        ("upsertPlacement", "Placement", Owner),
        ("endPlacement", "Placement", Owner),
        ("correctPlacement", "Placement", Owner),
        ("setVisitArrangement", "VisitArrangement", Owner),
        ("planContactVisit", "ContactVisit", Owner),
        ("upsertContactVisit", "ContactVisit", Owner),
        ("correctContactVisit", "ContactVisit", Owner),
        ("recordContactVisitHeld", "ContactVisit", VisitViewer),
        ("cancelContactVisit", "ContactVisit", VisitViewer),
        ("recordContactVisitNoShow", "ContactVisit", VisitViewer),
        ("createParentActionPlan", "ParentActionPlan", Owner),
        ("activateParentActionPlan", "ParentActionPlan", Owner),
        ("closeParentActionPlan", "ParentActionPlan", Owner),
        ("recordPlanReview", "PlanReview", Owner),
        ("addGoal", "Goal", Owner),
        ("correctGoal", "Goal", Owner),
        ("addSubGoal", "SubGoal", Owner),
        ("setSubGoalStatus", "SubGoal", SubGoalOwner),
        ("offerSupport", "SupportOffer", Owner),
        ("answerSupportOffer", "SupportOffer", Owner),
        ("createReferral", "Referral", Owner),
        ("endReferral", "Referral", Owner),
        ("giveConsent", "Consent", Owner),
        ("revokeConsent", "Consent", Owner),
        ("notifyKeyPerson", "KeyPersonNotification", Owner),
        ("recordParentalSupportNote", "ParentalSupportNote", Owner),
        ("recordKoppInterview", "KoppInterview", Owner),
        ("recordResiliencePillar", "ResiliencePillarRecord", Owner),
        ("recordOtherParentSupport", "OtherParentSupport", Owner),
        ("createFamilyPartner", "FamilyPartner", Owner),
        ("recordServiceEligibility", "ServiceEligibility", Owner),
        ("assignFamilyPartner", "FamilyPartnerAssignment", Owner),
        ("recordFamilyPartnerService", "FamilyPartnerService", AssignmentHolder),
        ("registerOrganization", "Organization", Operator),
        ("renameOrganization", "Organization", Operator),
        ("disableOrganization", "Organization", Operator),
        ("enableOrganization", "Organization", Operator),
        ("configureOrganization", "Organization", Operator),
        ("applyRetention", "Family", Operator),
        ("erasePerson", "Person", Owner),
        ("setNextReviewDate", "ParentActionPlan", Operator),
    ]
};

/// Who may make the write `operation`; `None` for an operation the table does not know.
pub fn writers(operation: &str) -> Option<Writers> {
    WRITES.iter().find(|(op, _, _)| *op == operation).map(|(_, _, w)| *w)
}

/// [`Writers::Owner`]: the record's organisation column is the caller's organisation.
pub fn owner<C: ColumnTrait>(organization_column: C, actor: &Actor) -> Condition {
    scope::owned_by(organization_column, actor)
}

/// [`Writers::VisitViewer`], on `contact_visits`.
pub(crate) fn visit_viewer(r: &Reader<'_>) -> Condition {
    scope::visits(r)
}

/// [`Writers::SubGoalOwner`], on `sub_goals`.
pub(crate) fn sub_goal_owner(r: &Reader<'_>) -> Condition {
    let org = r.actor.organization_id.as_uuid();
    let goals =
        Query::select().column(plan_goal::Column::Id).from(plan_goal::Entity).cond_where(scope::goals(r)).take();
    Condition::all().add(sub_goal::Column::GoalId.in_subquery(goals)).add(
        Condition::any()
            .add(sub_goal::Column::OrganizationId.eq(org))
            .add(sub_goal::Column::OwnerOrganizationId.eq(org)),
    )
}

/// [`Writers::AssignmentHolder`], on `family_partner_assignments`.
pub(crate) fn assignment_holder(r: &Reader<'_>) -> Condition {
    scope::assignments(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_is_listed_once() {
        for (i, (op, _, _)) in WRITES.iter().enumerate() {
            assert!(WRITES[..i].iter().all(|(other, _, _)| other != op), "{op} is listed twice");
        }
        assert_eq!(writers("setSubGoalStatus"), Some(Writers::SubGoalOwner));
        assert_eq!(writers("dropTable"), None);
    }
}
