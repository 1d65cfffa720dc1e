//! The everyday questions of Kinbridge's users, each answered from the demo data set.
//! The README shows some of these queries; this keeps them answering.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app_with};

async fn demo() -> TestApp {
    spawn_app_with(true).await
}

async fn token(app: &TestApp, kind: OrganizationKind, code: &str, roles: &[&str]) -> String {
    let org = app.store.organization_by_code(kind, code).await.unwrap().unwrap();
    app.token(org.id, roles)
}

fn non_empty(v: &Value, what: &str) {
    let n = v["totalCount"]
        .as_i64()
        .or_else(|| v["edges"].as_array().map(|a| a.len() as i64))
        .or_else(|| v.as_array().map(|a| a.len() as i64))
        .unwrap_or(0);
    assert!(n > 0, "{what} is empty: {v}");
}

#[tokio::test]
async fn a_caseworker_sees_families_with_placements_next_visits_and_plans_and_what_needs_doing() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::Municipality, "0751", &["CASEWORKER"]).await;
    let r = app
        .gql(&t, "{ families { totalCount edges { node { name placements { edges { node { setting contactVisits(last: 1) { edges { node { status plannedStart } } } } } }
            parentActionPlans { edges { node { status nextReviewDue isReviewOverdue goals { totalCount } } } } } } } }", json!({}))
        .await;
    let families = &r.data()["families"];
    non_empty(families, "my families");
    let hansen = &families["edges"][0]["node"];
    assert_eq!(
        hansen["placements"]["edges"][0]["node"]["contactVisits"]["edges"][0]["node"]["status"], "PLANNED",
        "the next visit"
    );
    non_empty(&hansen["parentActionPlans"], "the family's plans");

    let r = app
        .gql(&t, "{ plansOverdueForReview { totalCount } placementsAwaitingSupportOffer { totalCount edges { node { child { givenName } decisionDate } } } supportOffersDueForReoffer { totalCount } }", json!({}))
        .await;
    let d = r.data();
    non_empty(&d["plansOverdueForReview"], "reviews overdue");
    non_empty(&d["placementsAwaitingSupportOffer"], "parents with no support offer since the decision");
    assert_eq!(d["placementsAwaitingSupportOffer"]["edges"][0]["node"]["child"]["givenName"], "Yasmin");
    non_empty(&d["supportOffersDueForReoffer"], "declined offers due again");
}

#[tokio::test]
async fn a_caseworker_preparing_a_plan_meeting_reads_what_happened_lately_in_order() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::Municipality, "0751", &["CASEWORKER"]).await;
    let r = app
        .gql(&t, "{ families(filter: { externalId: \"AAR-2026-0001\" }) { edges { node { name timeline(last: 10, kinds: [VISIT_CANCELLED, REVIEW_HELD, SUPPORT_DECLINED, SUPPORT_REOFFERED]) {
            totalCount edges { node { occurredAt kind detail averageScore } } } } } } }", json!({}))
        .await;
    let timeline = &r.data()["families"]["edges"][0]["node"]["timeline"];
    non_empty(timeline, "what happened to the Hansens");
    let kinds: Vec<&str> =
        timeline["edges"].as_array().unwrap().iter().map(|e| e["node"]["kind"].as_str().unwrap()).collect();
    for kind in ["VISIT_CANCELLED", "REVIEW_HELD", "SUPPORT_DECLINED"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let cancelled =
        timeline["edges"].as_array().unwrap().iter().find(|e| e["node"]["kind"] == "VISIT_CANCELLED").unwrap();
    assert!(cancelled["node"]["detail"].is_string(), "who cancelled: {cancelled}");
}

#[tokio::test]
async fn a_case_system_upserts_by_its_own_case_id_and_reads_what_changed() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::Municipality, "0751", &["INTEGRATION"]).await;
    // The demo's families carry the case system's ids; creating one again says which it is.
    let r = app
        .gql(
            &t,
            "mutation { createFamily(input: { externalId: \"AAR-2026-0001\", name: \"Hansen\" }) { family { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "CONFLICT");
    assert!(r.body["errors"][0]["extensions"]["existingId"].as_str().unwrap().starts_with("fam_"));
    non_empty(
        &app.gql(&t, "{ changes(first: 100) { totalCount } }", json!({})).await.data()["changes"],
        "what changed",
    );
}

#[tokio::test]
async fn a_partner_agency_sees_the_families_referred_to_it_and_the_sub_goals_it_owns() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::FamilyServicesProvider, "FSP-0751-01", &["FAMILY_THERAPIST"]).await;
    let r = app.gql(&t, "{ families { totalCount edges { node { name } } } ownedSubGoals { totalCount edges { node { description status } } } }", json!({})).await;
    non_empty(&r.data()["families"], "the families referred to us");
    non_empty(&r.data()["ownedSubGoals"], "the sub-goals we own");
}

#[tokio::test]
async fn a_residence_municipality_sees_the_children_placed_elsewhere_and_the_next_plan_meeting() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::Municipality, "0730", &["CASEWORKER"]).await;
    let r = app
        .gql(&t, "{ crossMunicipalityPlacements { totalCount edges { node { child { givenName } placingMunicipality { name } caseworkerContact nextReviewDue goals { description } } } } }", json!({}))
        .await;
    let view = &r.data()["crossMunicipalityPlacements"];
    non_empty(view, "children of parents living here placed by another municipality");
    let node = &view["edges"][0]["node"];
    assert!(node["nextReviewDue"].is_string(), "when the next plan meeting is: {node}");
    non_empty(&node["goals"], "the goals Jonas consented to share");
}

#[tokio::test]
async fn a_mental_health_authority_sees_deadlines_caseloads_and_service_minutes() {
    let app = demo().await;
    let t = token(&app, OrganizationKind::MentalHealthAuthority, "MHA-MIDT", &["MANAGER"]).await;
    let r = app
        .gql(&t, "{ familyPartnersDueForCertification { totalCount edges { node { givenName deadline } } }
            familyPartners { edges { node { givenName caseload assignments { edges { node { primaryCaregiver { id } } } } } } } }", json!({}))
        .await;
    non_empty(&r.data()["familyPartnersDueForCertification"], "partners whose deadline is near");
    let partners = r.data()["familyPartners"]["edges"].as_array().unwrap().clone();
    assert!(partners.iter().any(|p| p["node"]["caseload"].as_i64() > Some(0)), "caseloads: {partners:?}");
    let caregiver = partners
        .iter()
        .find_map(|p| p["node"]["assignments"]["edges"][0]["node"]["primaryCaregiver"]["id"].as_str())
        .unwrap()
        .to_owned();
    let r = app
        .gql(
            &t,
            "query($c: ID!) { caregiverServiceHours(caregiverId: $c) { from minutes hours } }",
            json!({ "c": caregiver }),
        )
        .await;
    non_empty(&r.data()["caregiverServiceHours"], "service minutes per caregiver");
}
