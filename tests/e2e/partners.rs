//! Family partners (002): serve the primary caregiver of an eligible child, never the child.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, TestApp, spawn_app};

struct Authority {
    app: TestApp,
    org: Org,
    child: String,
    caregiver: String,
    eligibility: String,
}

async fn person(app: &TestApp, org: &Org, given: &str) -> String {
    let r = app
        .gql(
            &org.token,
            "mutation($input: CreatePersonInput!) { createPerson(input: $input) { person { id } } }",
            json!({ "input": { "person": { "givenName": given, "familyName": "Jensen" } } }),
        )
        .await;
    r.data()["createPerson"]["person"]["id"].as_str().unwrap().to_owned()
}

async fn authority() -> Authority {
    let app = spawn_app().await;
    let org = app.org(OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let child = person(&app, &org, "Oliver").await;
    let caregiver = person(&app, &org, "Maria").await;
    let r = app
        .gql(
            &org.token,
            "mutation($input: RecordServiceEligibilityInput!) { recordServiceEligibility(input: $input) {
                eligibility { id eligibleFrom child { givenName } primaryCaregiver { givenName } } } }",
            json!({ "input": { "childId": child, "primaryCaregiverId": caregiver, "eligibleFrom": "2026-01-01" } }),
        )
        .await;
    let e = &r.data()["recordServiceEligibility"]["eligibility"];
    assert_eq!(e["primaryCaregiver"]["givenName"], "Maria");
    let eligibility = e["id"].as_str().unwrap().to_owned();
    Authority { app, org, child, caregiver, eligibility }
}

async fn partner(a: &Authority, certification: Value) -> String {
    let mut input = json!({ "givenName": "Hanne", "familyName": "Lund" });
    for (k, v) in certification.as_object().unwrap() {
        input[k] = v.clone();
    }
    let r = a
        .app
        .gql(&a.org.token, "mutation($input: CreateFamilyPartnerInput!) { createFamilyPartner(input: $input) { familyPartner { id certificationStatus } } }", json!({ "input": input }))
        .await;
    r.data()["createFamilyPartner"]["familyPartner"]["id"].as_str().unwrap().to_owned()
}

const ASSIGN: &str = "mutation($input: AssignFamilyPartnerInput!) { assignFamilyPartner(input: $input) { assignment {
    id startDate primaryCaregiver { givenName } familyPartner { givenName } eligibility { id } } } }";
const SERVICE: &str = "mutation($input: RecordFamilyPartnerServiceInput!) { recordFamilyPartnerService(input: $input) { service { minutes units activity recipient { givenName } } } }";

#[tokio::test]
async fn a_certified_family_partner_is_assigned_to_the_primary_caregiver_of_an_eligible_child() {
    let a = authority().await;
    let hanne = partner(
        &a,
        json!({ "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": "2027-01-01" }),
    )
    .await;
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": hanne, "eligibilityId": a.eligibility, "startDate": "2026-02-01" } }),
        )
        .await;
    let assignment = &r.data()["assignFamilyPartner"]["assignment"];
    assert_eq!(assignment["primaryCaregiver"]["givenName"], "Maria");
    assert_eq!(assignment["familyPartner"]["givenName"], "Hanne");
    let id = assignment["id"].as_str().unwrap();

    let r = a
        .app
        .gql(&a.org.token, SERVICE, json!({ "input": { "assignmentId": id, "recipientId": a.caregiver, "date": "2026-02-10", "minutes": 50, "activity": "ORIENTATION_TO_TREATMENT" } }))
        .await;
    assert_eq!(
        r.data()["recordFamilyPartnerService"]["service"],
        json!({ "minutes": 50, "units": 3, "activity": "ORIENTATION_TO_TREATMENT", "recipient": { "givenName": "Maria" } })
    );

    let r = a
        .app
        .gql(
            &a.org.token,
            "query($id: ID!) { familyPartnerAssignment(id: $id) { services { totalCount } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["familyPartnerAssignment"]["services"]["totalCount"], 1);
    let r = a
        .app
        .gql(&a.org.token, "{ familyPartners { totalCount edges { node { assignments { totalCount } } } } }", json!({}))
        .await;
    assert_eq!(r.data()["familyPartners"]["edges"][0]["node"]["assignments"]["totalCount"], 1);
}

#[tokio::test]
async fn a_family_partner_service_is_delivered_to_the_caregiver_never_to_the_child() {
    let a = authority().await;
    let hanne = partner(
        &a,
        json!({ "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": "2027-01-01" }),
    )
    .await;
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": hanne, "eligibilityId": a.eligibility, "startDate": "2026-02-01" } }),
        )
        .await;
    let id = r.data()["assignFamilyPartner"]["assignment"]["id"].as_str().unwrap().to_owned();
    let r = a
        .app
        .gql(&a.org.token, SERVICE, json!({ "input": { "assignmentId": id, "recipientId": a.child, "date": "2026-02-10", "minutes": 30, "activity": "SKILLS_TRAINING" } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.recipientId"));
    assert!(r.message().contains("never directly to the child"), "{}", r.message());
    let r = a
        .app
        .gql(
            &a.org.token,
            "query($id: ID!) { familyPartnerAssignment(id: $id) { services { totalCount } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(r.data()["familyPartnerAssignment"]["services"]["totalCount"], 0);
}

fn in_days(n: u64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Days::new(n)).to_string()
}

#[tokio::test]
async fn a_partner_past_the_training_deadline_without_certification_gets_no_new_assignment() {
    let a = authority().await;
    let peter =
        partner(&a, json!({ "certificationStatus": "PENDING_CERTIFICATION", "trainingDeadline": in_days(30) })).await;
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": peter, "eligibilityId": a.eligibility, "startDate": in_days(31) } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.familyPartnerId"));
    assert!(r.message().contains("no new assignment"), "{}", r.message());
    // Within the deadline, the same partner may be assigned.
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": peter, "eligibilityId": a.eligibility, "startDate": in_days(5) } }),
        )
        .await;
    r.data();
}

#[tokio::test]
async fn an_assignment_before_the_child_is_eligible_is_refused() {
    let a = authority().await;
    let hanne = partner(
        &a,
        json!({ "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": "2027-01-01" }),
    )
    .await;
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": hanne, "eligibilityId": a.eligibility, "startDate": "2025-12-01" } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.startDate"));
}

#[tokio::test]
async fn a_certification_without_its_dates_is_refused() {
    let a = authority().await;
    let r = a
        .app
        .gql(&a.org.token, "mutation($input: CreateFamilyPartnerInput!) { createFamilyPartner(input: $input) { familyPartner { id } } }",
            json!({ "input": { "givenName": "A", "familyName": "B", "certificationStatus": "PENDING_CERTIFICATION" } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.trainingDeadline"));
}

#[tokio::test]
async fn only_a_mental_health_authority_manages_family_partners_and_others_see_none() {
    let a = authority().await;
    let aarhus = a.app.municipality("Aarhus").await;
    let r = a
        .app
        .gql(&aarhus.token, "mutation($input: CreateFamilyPartnerInput!) { createFamilyPartner(input: $input) { familyPartner { id } } }",
            json!({ "input": { "givenName": "A", "familyName": "B", "certificationStatus": "PENDING_CERTIFICATION", "trainingDeadline": "2027-01-01" } }))
        .await;
    assert_eq!(r.code(), "FORBIDDEN");
    let r = a
        .app
        .gql(&aarhus.token, "query($id: ID!) { serviceEligibility(id: $id) { id } }", json!({ "id": a.eligibility }))
        .await;
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn partners_whose_deadline_is_near_are_listed_with_their_caseload() {
    let a = authority().await;
    let soon = (chrono::Utc::now().date_naive() + chrono::Days::new(20)).to_string();
    let hanne = partner(
        &a,
        json!({ "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": "2030-01-01" }),
    )
    .await;
    partner(&a, json!({ "certificationStatus": "PENDING_CERTIFICATION", "trainingDeadline": soon })).await;
    a.app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": hanne, "eligibilityId": a.eligibility, "startDate": "2026-02-01" } }),
        )
        .await
        .data();
    let r = a
        .app
        .gql(&a.org.token, "{ familyPartnersDueForCertification { totalCount edges { node { certificationStatus deadline caseload } } } }", json!({}))
        .await;
    assert_eq!(
        r.data()["familyPartnersDueForCertification"],
        json!({ "totalCount": 1, "edges": [{ "node": { "certificationStatus": "PENDING_CERTIFICATION", "deadline": soon, "caseload": 0 } }] })
    );
    let r = a
        .app
        .gql(&a.org.token, "query($id: ID!) { familyPartner(id: $id) { caseload deadline } }", json!({ "id": hanne }))
        .await;
    assert_eq!(r.data()["familyPartner"], json!({ "caseload": 1, "deadline": "2030-01-01" }));
}

#[tokio::test]
async fn service_hours_per_caregiver_are_totalled_per_six_months() {
    let a = authority().await;
    let hanne = partner(
        &a,
        json!({ "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": "2030-01-01" }),
    )
    .await;
    let r = a
        .app
        .gql(
            &a.org.token,
            ASSIGN,
            json!({ "input": { "familyPartnerId": hanne, "eligibilityId": a.eligibility, "startDate": "2026-01-01" } }),
        )
        .await;
    let id = r.data()["assignFamilyPartner"]["assignment"]["id"].as_str().unwrap().to_owned();
    for (date, minutes) in [("2026-02-10", 60), ("2026-06-30", 44), ("2026-07-02", 50)] {
        a.app
            .gql(&a.org.token, SERVICE, json!({ "input": { "assignmentId": id, "recipientId": a.caregiver, "date": date, "minutes": minutes, "activity": "INFORMATION" } }))
            .await
            .data();
    }
    let r = a
        .app
        .gql(
            &a.org.token,
            "query($c: ID!) { caregiverServiceHours(caregiverId: $c) { from to minutes hours units } }",
            json!({ "c": a.caregiver }),
        )
        .await;
    assert_eq!(
        r.data()["caregiverServiceHours"],
        json!([
            { "from": "2026-01-01", "to": "2026-07-01", "minutes": 104, "hours": 104.0 / 60.0, "units": 6 },
            { "from": "2026-07-01", "to": "2027-01-01", "minutes": 50, "hours": 50.0 / 60.0, "units": 3 },
        ])
    );
}
