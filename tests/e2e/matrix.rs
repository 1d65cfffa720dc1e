//! The authorization matrix: every role of every organisation kind, against the queries
//! and mutations, on own, referred, consented, formerly consented and foreign records.
//!
//! The expected outcomes are the table below, read as data: one row per operation, one
//! column per kind of caller. Each column stands for several callers: every role that
//! behaves alike there (all roles but the auditor's and the family partner's), each of
//! which must get the same outcome.

use chrono::{Days, Duration, Utc};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Gql, Org, TestApp, spawn_app};

/// The roles that see and do the same within their organisation.
const ORDINARY_ROLES: &[&str] = &[
    "CASEWORKER",
    "MANAGER",
    "INTEGRATION",
    "FAMILY_THERAPIST",
    "VISIT_SUPERVISOR",
    "SUPPORT_PERSON",
    "PLACEMENT_STAFF",
];

/// The columns of the table.
const CALLERS: [&str; 13] = [
    "owner",         // the placing municipality (Aarhus), which owns the family
    "auditor",       // Aarhus's auditor
    "residence",     // Randers, where a parent of the family lives
    "foreign-muni",  // Odder, unrelated
    "fsp",           // a family services provider with an active referral
    "fsp-former",    // a provider whose referral has ended
    "fsp-never",     // a provider never referred
    "site",          // the placement provider where the children live; consented for one plan
    "other-site",    // another placement provider
    "mha",           // the mental health authority's manager
    "partner",       // its family partner who holds the assignment
    "other-partner", // its family partner who does not
    "foreign-mha",   // another authority
];

/// One row: the operation, its GraphQL document, and the expected outcome per column:
/// `ok`, a count, or an error code (`NF` not found, `FB` forbidden, `CF` conflict, `BI`
/// bad user input: for a caller who may not, the input names nothing it can see).
type Row = (&'static str, &'static str, [&'static str; 13]);

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                                 owner aud   resid forgn fsp   fspX  fsp0  site  site2 mha   prt   prt2  mha2
    ("family (own, referred)",            "query($f: ID!) { family(id: $f) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("families: how many",                "{ families { totalCount } }",              ["2",  "FB", "0",  "0",  "1",  "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0"]),
    ("person: the placed child",          "query($child: ID!) { person(id: $child) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("person: the parent",                "query($parent: ID!) { person(id: $parent) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("placement at the site",             "query($p: ID!) { placement(id: $p) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("contact visit at the site",         "query($v: ID!) { contactVisit(id: $v) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("plan, consented to the site",       "query($plan: ID!) { parentActionPlan(id: $plan) { goals { totalCount } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("plan, consent revoked",             "query($plan2: ID!) { parentActionPlan(id: $plan2) { id } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("node: the family",                  "query($f: ID!) { node(id: $f) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("node: plan, consented to the site", "query($plan: ID!) { node(id: $plan) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("nodes: plan, consent revoked",      "query($plan2: ID!) { nodes(ids: [$plan2]) { id } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("plans from the placement",          "query($p: ID!) { placement(id: $p) { parentActionPlans { totalCount } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF"]),
    ("familyByExternalId, unknown",       "{ familyByExternalId(externalId: \"SAG-NONE\") { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("placementByExternalId, unknown",    "{ placementByExternalId(externalId: \"PL-NONE\") { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("contactVisitByExternalId, unknown", "{ contactVisitByExternalId(externalId: \"KV-NONE\") { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("placements: how many",              "{ placements { totalCount } }",             ["2",  "FB", "0",  "0",  "1",  "0",  "0",  "2",  "0",  "0",  "0",  "0",  "0"]),
    ("parent action plans: how many",     "{ parentActionPlans { totalCount } }",      ["2",  "FB", "0",  "0",  "1",  "0",  "0",  "1",  "0",  "0",  "0",  "0",  "0"]),
    ("families placed now",               "{ families(filter: { status: PLACED }) { totalCount } }", ["2", "FB", "0", "0", "1", "0", "0", "0", "0", "0", "0", "0", "0"]),
    ("contact visits: how many",          "{ contactVisits { totalCount } }",          ["1",  "FB", "0",  "0",  "1",  "0",  "0",  "1",  "0",  "0",  "0",  "0",  "0"]),
    ("cross-municipality placements",     "{ crossMunicipalityPlacements { totalCount } }", ["0", "FB", "1", "0", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("family partner assignment",         "query($a: ID!) { familyPartnerAssignment(id: $a) { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "ok", "ok", "NF", "NF"]),
    ("family partners: how many",         "{ familyPartners { totalCount } }",         ["0",  "FB", "0",  "0",  "0",  "0",  "0",  "0",  "0",  "2",  "1",  "1",  "0"]),
    ("audit events",                      "{ auditEvents(first: 1) { edges { node { id } } } }",  ["FB", "ok", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("access log of the parent",          "query($parent: ID!) { accessLog(personId: $parent, first: 1) { edges { node { id } } } }", ["FB", "ok", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("subject report of the parent",      "query($parent: ID!) { subjectReport(personId: $parent) }", ["FB", "ok", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("erasePerson: only the DPO decides", "mutation($parent: ID!) { erasePerson(input: { personId: $parent, reason: \"asked\" }) { personId } }", ["FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("createFamily",                      "mutation { createFamily(input: { name: \"M\" }) { family { id } } }", ["ok", "FB", "ok", "ok", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("record a no-show, stale version",   "mutation($v: ID!) { recordContactVisitNoShow(input: { id: $v, expectedVersion: 999 }) { contactVisit { id } } }", ["CF", "FB", "NF", "NF", "CF", "NF", "NF", "CF", "NF", "NF", "NF", "NF", "NF"]),
    ("addGoal to the consented plan",     "mutation($plan: ID!) { addGoal(input: { planId: $plan, goal: { description: \"G\", purpose: PARENT_WELLBEING } }) { goal { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("createReferral of the family",      "mutation($f: ID!, $target: ID!) { createReferral(input: { familyId: $f, providerId: $target, startsOn: \"2030-01-01\" }) { referral { id } } }", ["ok", "FB", "NF", "NF", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("giveConsent for the parent",        "mutation($parent: ID!, $siteId: ID!) { giveConsent(input: { personId: $parent, purpose: SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER, recipientId: $siteId, givenOn: \"2026-01-01\" }) { consent { id } } }", ["ok", "FB", "NF", "NF", "BI", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("createFamilyPartner",               "mutation { createFamilyPartner(input: { givenName: \"N\", familyName: \"P\", certificationStatus: PENDING_CERTIFICATION, trainingDeadline: \"2030-01-01\" }) { familyPartner { id } } }", ["FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "ok", "FB", "FB", "ok"]),
    ("personByIdentifier: not the owner's",  "{ personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0000000000\") { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("viewer",                            "{ viewer { subject } }",                    ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("organization (the directory)",      "query($aarhus: ID!) { organization(id: $aarhus) { name } }", ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("organizations (the directory)",     "{ organizations(first: 5) { edges { node { name } } } }", ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("familyPartner: the assigned one",   "query($hanne: ID!) { familyPartner(id: $hanne) { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "ok", "ok", "NF", "NF"]),
    ("serviceEligibility",                "query($e: ID!) { serviceEligibility(id: $e) { id } }", ["NF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "ok", "ok", "NF", "NF"]),
    ("addFamilyMember: already a member", "mutation($f: ID!, $child: ID!) { addFamilyMember(input: { familyId: $f, member: { role: SIBLING, personId: $child } }) { member { id } } }", ["BI", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("createPerson",                      "mutation { createPerson(input: { person: { givenName: \"A\", familyName: \"B\" } }) { person { id } } }", ["ok", "FB", "ok", "ok", "FB", "FB", "FB", "FB", "FB", "ok", "FB", "FB", "ok"]),
    ("createPlacement: overlapping",      "mutation($f: ID!, $child: ID!, $start: Date!) { createPlacement(input: { familyId: $f, childId: $child, setting: OTHER, voluntary: true, decisionDate: $start, startDate: $start }) { placement { id } } }", ["BI", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("planContactVisit",                  "mutation($p: ID!, $vs: DateTime!, $ve: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $vs, plannedEnd: $ve, supervision: UNSUPERVISED }) { contactVisit { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("record held, stale version",        "mutation($v: ID!) { recordContactVisitHeld(input: { id: $v, expectedVersion: 999 }) { contactVisit { id } } }", ["CF", "FB", "NF", "NF", "CF", "NF", "NF", "CF", "NF", "NF", "NF", "NF", "NF"]),
    ("cancel, stale version",             "mutation($v: ID!) { cancelContactVisit(input: { id: $v, cancelledBy: PARENT, reason: \"Ill\", expectedVersion: 999 }) { contactVisit { id } } }", ["CF", "FB", "NF", "NF", "CF", "NF", "NF", "CF", "NF", "NF", "NF", "NF", "NF"]),
    ("createParentActionPlan",            "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 30 }) { parentActionPlan { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("recordServiceEligibility",          "mutation($mhaChild: ID!, $caregiver: ID!) { recordServiceEligibility(input: { childId: $mhaChild, primaryCaregiverId: $caregiver, eligibleFrom: \"2026-01-01\" }) { eligibility { id } } }", ["FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "ok", "FB", "FB", "BI"]),
    ("assignFamilyPartner",               "mutation($peter: ID!, $e: ID!) { assignFamilyPartner(input: { familyPartnerId: $peter, eligibilityId: $e, startDate: \"2026-03-01\" }) { assignment { id } } }", ["FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "ok", "FB", "FB", "BI"]),
    ("recordFamilyPartnerService",        "mutation($a: ID!, $caregiver: ID!) { recordFamilyPartnerService(input: { assignmentId: $a, recipientId: $caregiver, date: \"2026-03-02\", minutes: 30, activity: INFORMATION }) { service { id } } }", ["FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "ok", "ok", "NF", "NF"]),
    ("endReferral: already ended",        "mutation($former: ID!) { endReferral(input: { id: $former, endsOn: \"2031-01-01\" }) { referral { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("revokeConsent: already revoked",    "mutation($revoked: ID!) { revokeConsent(input: { id: $revoked }) { consent { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("activate plan, stale version",      "mutation($plan: ID!) { activateParentActionPlan(input: { id: $plan, expectedVersion: 999 }) { parentActionPlan { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("close plan, stale version",         "mutation($plan: ID!) { closeParentActionPlan(input: { id: $plan, expectedVersion: 999 }) { parentActionPlan { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("review a draft plan",               "mutation($plan: ID!) { recordPlanReview(input: { planId: $plan, kind: STATUS_MEETING, heldOn: \"2026-01-05\" }) { review { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("offerSupport",                      "mutation($p: ID!, $start: Date!) { offerSupport(input: { placementId: $p, kind: PARENT_NETWORK, offeredOn: $start }) { supportOffer { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("answer an answered offer",          "mutation($offer: ID!) { answerSupportOffer(input: { id: $offer, response: DECLINED, respondedOn: \"2026-01-06\", reofferOn: \"2026-03-01\" }) { supportOffer { id } } }", ["BI", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("plans overdue for review",          "{ plansOverdueForReview { totalCount } }",  ["1",  "FB", "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0"]),
    ("placements awaiting an offer",      "{ placementsAwaitingSupportOffer(afterDays: 0) { totalCount } }", ["1", "FB", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0"]),
    ("offers due for re-offer",           "{ supportOffersDueForReoffer { totalCount } }", ["1", "FB", "0", "0", "1", "0", "0", "0", "0", "0", "0", "0", "0"]),
    ("partners due for certification",    "{ familyPartnersDueForCertification(withinDays: 365) { totalCount } }", ["0", "FB", "0", "0", "0", "0", "0", "0", "0", "2", "1", "1", "0"]),
    ("cancellation rates by provider",    "{ cancellationRatesByProvider(from: \"2000-01-01\", to: \"2100-01-01\") { statistics { held } } }", ["ok", "FB", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("caregiver service hours",           "query($caregiver: ID!) { caregiverServiceHours(caregiverId: $caregiver) { minutes } }", ["ok", "FB", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("setVisitArrangement",               "mutation($p: ID!) { setVisitArrangement(input: { placementId: $p, intervalDays: 14, supervision: UNSUPERVISED }) { visitArrangement { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("owned sub-goals",                   "{ ownedSubGoals { totalCount } }",          ["0",  "FB", "0",  "0",  "1",  "0",  "0",  "0",  "0",  "0",  "0",  "0",  "0"]),
    ("addSubGoal, owned by the provider", "mutation($goal: ID!, $fspId: ID!) { addSubGoal(input: { goalId: $goal, description: \"Step\", ownerOrganizationId: $fspId, ownerName: \"Karin\" }) { subGoal { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("set an achieved sub-goal's status", "mutation($sub: ID!) { setSubGoalStatus(input: { id: $sub, status: OPEN }) { subGoal { id } } }", ["CF", "FB", "NF", "NF", "CF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("recordParentalSupportNote",         "mutation($parent: ID!) { recordParentalSupportNote(input: { clientId: $parent, notedOn: \"2026-01-05\", text: \"T\" }) { client { id } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("recordKoppInterview",               "mutation($parent: ID!, $keyPerson: ID!) { recordKoppInterview(input: { clientId: $parent, heldOn: \"2026-01-05\", participants: [{ personId: $keyPerson, role: CHILD_CONFIDANT }] }) { client { id } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("recordResiliencePillar",            "mutation($parent: ID!) { recordResiliencePillar(input: { clientId: $parent, pillar: CHILDRENS_EMOTIONS, status: DISCUSSED, recordedOn: \"2026-01-05\" }) { client { id } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("recordOtherParentSupport",          "mutation($parent: ID!, $otherParent: ID!) { recordOtherParentSupport(input: { clientId: $parent, otherParentId: $otherParent, recordedOn: \"2026-01-05\", wellbeingAsked: true, networkInvolved: false, informedOfSupportOptions: false }) { client { id } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("change feed",                       "{ changes(first: 1) { edges { node { event } } } }", ["ok", "FB", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    ("upsertContactVisit by case id",     "mutation($p: ID!, $vs: DateTime!, $ve: DateTime!) { upsertContactVisit(input: { externalId: \"KV-M\", placementId: $p, plannedStart: $vs, plannedEnd: $ve, supervision: UNSUPERVISED }) { contactVisit { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("upsertPlacement: overlapping",      "mutation($f: ID!, $child: ID!, $start: Date!) { upsertPlacement(input: { externalId: \"ANB-M\", familyId: $f, childId: $child, setting: OTHER, voluntary: true, decisionDate: $start, startDate: $start }) { placement { id } } }", ["BI", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("upsertFamily by case id",           "mutation { upsertFamily(input: { externalId: \"SAG-M\", name: \"M\" }) { family { id } } }", ["ok", "FB", "ok", "ok", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB", "FB"]),
    ("endPlacement, stale version",       "mutation($p: ID!) { endPlacement(input: { id: $p, endDate: \"2030-01-01\", endReason: RETURNED_HOME, expectedVersion: 999 }) { placement { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("correctPerson, stale version",      "mutation($parent: ID!) { correctPerson(input: { id: $parent, expectedVersion: 999, givenName: \"X\" }) { person { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("correctPlacement, stale version",   "mutation($p: ID!) { correctPlacement(input: { id: $p, expectedVersion: 999, setting: OTHER }) { placement { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("correctContactVisit, stale version", "mutation($v: ID!) { correctContactVisit(input: { id: $v, expectedVersion: 999, location: \"Home\" }) { contactVisit { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("correctGoal, stale plan version",   "mutation($goal: ID!) { correctGoal(input: { id: $goal, expectedPlanVersion: 999, description: \"G\" }) { goal { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("correctFamilyMember, stale version", "mutation($member: ID!) { correctFamilyMember(input: { id: $member, expectedFamilyVersion: 999, role: PARTNER }) { member { id } } }", ["CF", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("network map of the family",         "query($f: ID!) { family(id: $f) { networkMap { totalCount edges { node { person { id } member { id } } } } } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("node: a network map entry",         "query($net: ID!) { node(id: $net) { id } }", ["ok", "FB", "NF", "NF", "ok", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("addNetworkMapEntry",                "mutation($f: ID!, $start: Date!) { addNetworkMapEntry(input: { familyId: $f, person: { givenName: \"Jens\", familyName: \"Nabo\" }, relationship: \"neighbour\", help: PRACTICAL, description: \"Collects the child from school on Thursdays\", since: $start }) { networkMapEntry { id } } }", ["ok", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("endNetworkMapEntry before its start", "mutation($net: ID!) { endNetworkMapEntry(input: { id: $net, until: \"2000-01-01\" }) { networkMapEntry { id } } }", ["BI", "FB", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF", "NF"]),
    ("notifyKeyPerson, with consent",     "mutation($parent: ID!, $keyPerson: ID!) { notifyKeyPerson(input: { clientId: $parent, keyPersonId: $keyPerson, notifiedOn: \"2026-11-01\" }) { notification { id } } }", ["ok", "FB", "BI", "BI", "BI", "BI", "BI", "BI", "BI", "BI", "BI", "BI", "BI"]),
];

fn day(offset: i64) -> String {
    let today = Utc::now().date_naive();
    (if offset < 0 { today - Days::new(offset.unsigned_abs()) } else { today + Days::new(offset.unsigned_abs()) })
        .to_string()
}

async fn data(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.gql(token, query, variables).await.data().clone()
}

fn id_at(v: &Value, path: &[&str]) -> String {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or_else(|| panic!("no id at {path:?} in {v}")).to_owned()
}

/// The records the table speaks of, and a token maker per column.
struct Scenario {
    variables: Value,
    columns: Vec<(OrganizationId, Vec<Vec<&'static str>>, &'static str)>,
}

async fn scenario(app: &TestApp) -> Scenario {
    let org = |kind, name: &'static str| async move { app.org(kind, name, &["CASEWORKER"]).await };
    let aarhus = org(OrganizationKind::Municipality, "Aarhus").await;
    let randers = org(OrganizationKind::Municipality, "Randers").await;
    let odder = org(OrganizationKind::Municipality, "Odder").await;
    let fsp = org(OrganizationKind::FamilyServicesProvider, "Familiecenter").await;
    let fsp_former = org(OrganizationKind::FamilyServicesProvider, "Former").await;
    let fsp_never = org(OrganizationKind::FamilyServicesProvider, "Never").await;
    let fsp_target = org(OrganizationKind::FamilyServicesProvider, "Target").await;
    let site = org(OrganizationKind::PlacementProvider, "Skovbrynet").await;
    let other_site = org(OrganizationKind::PlacementProvider, "Elsewhere").await;
    let mha = app.org(OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let foreign_mha = org(OrganizationKind::MentalHealthAuthority, "Other LMHA").await;

    // The family: the child lives at the site; a parent lives in Randers.
    let family = app.seed_family(&aarhus, Some(randers.id)).await;
    let refer = async |provider: &Org, starts: i64, ends: Option<i64>| {
        data(app, &aarhus.token, "mutation($f: ID!, $p: ID!, $s: Date!, $e: Date) { createReferral(input: { familyId: $f, providerId: $p, startsOn: $s, endsOn: $e }) { referral { id } } }",
            json!({ "f": family.id, "p": provider.id.to_string(), "s": day(starts), "e": ends.map(day) })).await;
    };
    // The child's other parent, and a key person of the child (a confidant).
    let member = async |role: &str, name: &str| {
        let v = data(app, &aarhus.token, "mutation($f: ID!, $m: FamilyMemberInput!) { addFamilyMember(input: { familyId: $f, member: $m }) { member { id person { id } } } }",
            json!({ "f": family.id, "m": { "role": role, "person": { "givenName": name, "familyName": "Hansen" },
                "residenceMunicipalityId": (role == "OTHER_PARENT").then(|| aarhus.id.to_string()) } })).await;
        (id_at(&v, &["addFamilyMember", "member", "person", "id"]), id_at(&v, &["addFamilyMember", "member", "id"]))
    };
    let (other_parent, _) = member("OTHER_PARENT", "Jens").await;
    let (key_person, key_membership) = member("KEY_PERSON", "Lærer Ib").await;
    refer(&fsp, -30, None).await;
    refer(&fsp_former, -30, Some(-1)).await;
    let place = async |f: &crate::support::SeededFamily| {
        let v = data(app, &aarhus.token, "mutation($f: ID!, $c: ID!, $p: ID!, $d: Date!) { createPlacement(input: { familyId: $f, childId: $c, providerId: $p, setting: FOSTER_FAMILY, voluntary: false, decisionDate: $d, startDate: $d }) { placement { id } } }",
            json!({ "f": f.id, "c": f.child_id, "p": site.id.to_string(), "d": day(-30) })).await;
        id_at(&v, &["createPlacement", "placement", "id"])
    };
    let plan = async |placement: &str| {
        let v = data(app, &aarhus.token, "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 30, goals: [{ description: \"Visits\", purpose: IMPROVE_CONTACT }] }) { parentActionPlan { id } } }",
            json!({ "p": placement })).await;
        id_at(&v, &["createParentActionPlan", "parentActionPlan", "id"])
    };
    let consent = async |person: &str| {
        let v = data(app, &aarhus.token, "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER, recipientId: $r, givenOn: \"2026-01-01\" }) { consent { id } } }",
            json!({ "p": person, "r": site.id.to_string() })).await;
        id_at(&v, &["giveConsent", "consent", "id"])
    };
    let placement = place(&family).await;
    let start = Utc::now() - Duration::hours(3);
    let visit = data(app, &aarhus.token, "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id } } }",
        json!({ "p": placement, "s": start.to_rfc3339(), "e": (start + Duration::hours(2)).to_rfc3339() })).await;
    let plan1 = plan(&placement).await;
    let goal = data(
        app,
        &aarhus.token,
        "query($p: ID!) { parentActionPlan(id: $p) { goals { edges { node { id } } } } }",
        json!({ "p": plan1 }),
    )
    .await;
    let goal = goal["parentActionPlan"]["goals"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let sub = data(app, &aarhus.token, "mutation($g: ID!, $o: ID!) { addSubGoal(input: { goalId: $g, description: \"Goodbyes\", ownerOrganizationId: $o, ownerName: \"Karin\" }) { subGoal { id } } }",
        json!({ "g": goal, "o": fsp.id.to_string() })).await;
    let sub = id_at(&sub, &["addSubGoal", "subGoal", "id"]);
    data(
        app,
        &fsp.token,
        "mutation($s: ID!) { setSubGoalStatus(input: { id: $s, status: ACHIEVED }) { subGoal { id } } }",
        json!({ "s": sub }),
    )
    .await;
    let offer = data(app, &aarhus.token, "mutation($p: ID!, $on: Date!) { offerSupport(input: { placementId: $p, kind: SUPPORT_PERSON, offeredOn: $on }) { supportOffer { id } } }", json!({ "p": placement, "on": day(-29) })).await;
    let offer = id_at(&offer, &["offerSupport", "supportOffer", "id"]);
    let declined = data(app, &aarhus.token, "mutation($p: ID!, $on: Date!) { offerSupport(input: { placementId: $p, kind: PMTO, offeredOn: $on }) { supportOffer { id } } }", json!({ "p": placement, "on": day(-29) })).await;
    data(app, &aarhus.token, "mutation($o: ID!, $on: Date!, $again: Date!) { answerSupportOffer(input: { id: $o, response: DECLINED, respondedOn: $on, reofferOn: $again }) { supportOffer { id } } }",
        json!({ "o": id_at(&declined, &["offerSupport", "supportOffer", "id"]), "on": day(-28), "again": day(-10) })).await;
    data(app, &aarhus.token, "mutation($o: ID!, $on: Date!) { answerSupportOffer(input: { id: $o, response: ACCEPTED, respondedOn: $on }) { supportOffer { id } } }", json!({ "o": offer, "on": day(-28) })).await;
    consent(&family.parent_id).await;
    // The key person helps: an entry on the family's network map.
    let net = data(app, &aarhus.token, "mutation($f: ID!, $m: ID!, $on: Date!) { addNetworkMapEntry(input: { familyId: $f, memberId: $m, help: CHILD_CONFIDANT, description: \"Talks with the child after visits\", since: $on }) { networkMapEntry { id } } }",
        json!({ "f": family.id, "m": key_membership, "on": day(-30) })).await;
    let net = id_at(&net, &["addNetworkMapEntry", "networkMapEntry", "id"]);

    // A second family at the same site, whose parent's consent was revoked.
    let family2 = app.seed_family(&aarhus, None).await;
    let placement2 = place(&family2).await;
    let plan2 = plan(&placement2).await;
    data(
        app,
        &aarhus.token,
        "mutation($p: ID!) { activateParentActionPlan(input: { id: $p }) { parentActionPlan { id } } }",
        json!({ "p": plan2 }),
    )
    .await;
    data(app, &aarhus.token, "mutation($p: ID!, $h: Date!, $n: Date!) { recordPlanReview(input: { planId: $p, kind: STATUS_MEETING, heldOn: $h, nextReviewOn: $n }) { review { id } } }",
        json!({ "p": plan2, "h": day(-20), "n": day(-2) })).await;
    let revoked = consent(&family2.parent_id).await;
    data(
        app,
        &aarhus.token,
        "mutation($c: ID!) { revokeConsent(input: { id: $c }) { consent { id } } }",
        json!({ "c": revoked }),
    )
    .await;
    // The parent lets Aarhus notify key people.
    data(
        app,
        &aarhus.token,
        "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: \"2026-01-01\" }) { consent { id } } }",
        json!({ "p": family.parent_id, "r": aarhus.id.to_string() }),
    )
    .await;
    let referrals = data(
        app,
        &aarhus.token,
        "query($f: ID!) { family(id: $f) { referrals { edges { node { id provider { name } } } } } }",
        json!({ "f": family.id }),
    )
    .await;
    let former_referral = referrals["family"]["referrals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["provider"]["name"] == "Former")
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .unwrap();

    // The authority: two partners, one assignment, held by "hanne".
    let person = async |name: &str| {
        let v = data(app, &mha.token, "mutation($n: String!) { createPerson(input: { person: { givenName: $n, familyName: \"J\" } }) { person { id } } }", json!({ "n": name })).await;
        id_at(&v, &["createPerson", "person", "id"])
    };
    let (child, caregiver) = (person("Oliver").await, person("Maria").await);
    let e = data(app, &mha.token, "mutation($c: ID!, $g: ID!) { recordServiceEligibility(input: { childId: $c, primaryCaregiverId: $g, eligibleFrom: \"2026-01-01\" }) { eligibility { id } } }", json!({ "c": child, "g": caregiver })).await;
    let mut partners = Vec::new();
    for subject in ["hanne", "peter"] {
        let p = data(app, &mha.token, "mutation($s: String!) { createFamilyPartner(input: { givenName: $s, familyName: \"P\", certificationStatus: CERTIFIED, certifiedOn: \"2025-01-01\", renewalDue: \"2027-01-01\", subject: $s }) { familyPartner { id } } }", json!({ "s": subject })).await;
        partners.push(id_at(&p, &["createFamilyPartner", "familyPartner", "id"]));
    }
    let eligibility = id_at(&e, &["recordServiceEligibility", "eligibility", "id"]);
    let a = data(app, &mha.token, "mutation($p: ID!, $e: ID!) { assignFamilyPartner(input: { familyPartnerId: $p, eligibilityId: $e, startDate: \"2026-02-01\" }) { assignment { id } } }",
        json!({ "p": partners[0], "e": eligibility })).await;

    let ordinary = || ORDINARY_ROLES.iter().map(|r| vec![*r]).collect::<Vec<_>>();
    Scenario {
        variables: json!({
            "f": family.id, "child": family.child_id, "parent": family.parent_id, "p": placement,
            "v": id_at(&visit, &["planContactVisit", "contactVisit", "id"]), "plan": plan1, "plan2": plan2,
            "a": id_at(&a, &["assignFamilyPartner", "assignment", "id"]), "target": fsp_target.id.to_string(), "siteId": site.id.to_string(),
            "aarhus": aarhus.id.to_string(), "hanne": partners[0], "peter": partners[1], "e": eligibility,
            "mhaChild": child, "caregiver": caregiver, "otherParent": other_parent, "keyPerson": key_person, "member": key_membership, "former": former_referral, "offer": offer, "goal": goal, "sub": sub, "fspId": fsp.id.to_string(), "revoked": revoked, "start": day(-30), "net": net,
            "vs": (Utc::now() + Duration::days(7)).to_rfc3339(), "ve": (Utc::now() + Duration::days(7) + Duration::hours(1)).to_rfc3339(),
        }),
        columns: vec![
            (aarhus.id, ordinary(), "caller"),
            (aarhus.id, vec![vec!["AUDITOR"]], "caller"),
            (randers.id, ordinary(), "caller"),
            (odder.id, ordinary(), "caller"),
            (fsp.id, ordinary(), "caller"),
            (fsp_former.id, ordinary(), "caller"),
            (fsp_never.id, ordinary(), "caller"),
            (site.id, ordinary(), "caller"),
            (other_site.id, ordinary(), "caller"),
            (mha.id, ordinary(), "caller"),
            (mha.id, vec![vec!["FAMILY_PARTNER"]], "hanne"),
            (mha.id, vec![vec!["FAMILY_PARTNER"]], "peter"),
            (foreign_mha.id, ordinary(), "caller"),
        ],
    }
}

/// What a response amounts to: an error code, a count, or `ok`.
fn outcome(r: &Gql) -> String {
    if let Some(code) = r.body["errors"][0]["extensions"]["code"].as_str() {
        return match code {
            "NOT_FOUND" => "NF",
            "FORBIDDEN" => "FB",
            "CONFLICT" => "CF",
            "BAD_USER_INPUT" => "BI",
            other => other,
        }
        .to_owned();
    }
    let (_, value) = r.body["data"].as_object().and_then(|d| d.iter().next()).expect("a field in data");
    match value.get("totalCount") {
        Some(n) if value.as_object().is_some_and(|o| o.len() == 1) => n.to_string(),
        _ => "ok".to_owned(),
    }
}

#[tokio::test]
async fn every_caller_gets_exactly_what_the_matrix_says() {
    let app = spawn_app().await;
    let s = scenario(&app).await;
    let mut failures = Vec::new();
    for (operation, query, expected) in MATRIX {
        for (column, (org, role_sets, subject)) in s.columns.iter().enumerate() {
            for roles in role_sets {
                let token = app.token_with(|c| {
                    c.org = org.to_string();
                    c.sub = (*subject).to_owned();
                    c.roles = roles.iter().map(|r| (*r).to_owned()).collect();
                });
                let changes = app.outbox_len().await;
                let got = outcome(&app.gql(&token, query, s.variables.clone()).await);
                let refused = !(got == "ok" || got.parse::<u64>().is_ok());
                if refused && app.outbox_len().await != changes {
                    failures
                        .push(format!("{operation}: {} as {roles:?} was refused ({got}) yet wrote", CALLERS[column]));
                }
                if got != expected[column] {
                    failures.push(format!(
                        "{operation}: {} as {roles:?} got {got}, expected {}",
                        CALLERS[column], expected[column]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} cells differ:\n{}", failures.len(), failures.join("\n"));
}

/// The root fields of `Query` or `Mutation` in the published schema.
fn root_fields(sdl: &str, root: &str) -> Vec<String> {
    let start = sdl.find(&format!("type {root} {{")).unwrap_or_else(|| panic!("no {root} type"));
    let body = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
    let mut in_doc = false;
    let mut fields = Vec::new();
    for line in body.lines().skip(1).map(str::trim) {
        if let Some(rest) = line.strip_prefix("\"\"\"") {
            // A doc string: one line (`"""text"""`), or a block between two `"""` lines.
            if rest.is_empty() || !rest.ends_with("\"\"\"") {
                in_doc = !in_doc;
            }
            continue;
        }
        if !in_doc && !line.is_empty() {
            fields.push(line.split(['(', ':']).next().unwrap().to_owned());
        }
    }
    fields
}

#[test]
fn the_matrix_covers_every_query_and_mutation() {
    let sdl = kinbridge_api::sdl();
    for (root, at_least) in [("Query", 25), ("Mutation", 38)] {
        let fields = root_fields(&sdl, root);
        assert!(fields.len() >= at_least, "{root} parsed as {fields:?}");
        for field in fields {
            let used = MATRIX.iter().any(|(_, document, _)| {
                document.contains(&format!("{field}("))
                    || document.contains(&format!("{field} {{"))
                    || document.contains(&format!("{field} }}"))
            });
            assert!(used, "{root}.{field} has no row in the authorization matrix");
            if root == "Mutation" {
                assert!(
                    kinbridge_persistence::authz::writers(&field).is_some(),
                    "Mutation.{field} is not in the table of writes (crates/persistence/src/authz.rs)"
                );
            }
        }
    }
}
