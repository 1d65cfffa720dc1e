//! Sharing between agencies: referrals, placement providers, consent checked at read
//! time, and the residence municipality's coordination view.

use chrono::{Days, Utc};
use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, SeededFamily, TestApp, spawn_app};

fn day(offset: i64) -> String {
    let today = Utc::now().date_naive();
    let d =
        if offset < 0 { today - Days::new(offset.unsigned_abs()) } else { today + Days::new(offset.unsigned_abs()) };
    d.to_string()
}

async fn refer(
    app: &TestApp,
    org: &Org,
    family: &SeededFamily,
    provider: &Org,
    starts: i64,
    ends: Option<i64>,
) -> String {
    let r = app
        .gql(
            &org.token,
            "mutation($input: CreateReferralInput!) { createReferral(input: $input) { referral { id isActive } } }",
            json!({ "input": { "familyId": family.id, "providerId": provider.id.to_string(), "startsOn": day(starts), "endsOn": ends.map(day) } }),
        )
        .await;
    r.data()["createReferral"]["referral"]["id"].as_str().unwrap().to_owned()
}

async fn consent(app: &TestApp, org: &Org, person: &str, purpose: &str, recipient: &Org) -> String {
    let r = app
        .gql(
            &org.token,
            "mutation($input: GiveConsentInput!) { giveConsent(input: $input) { consent { id isActive purpose } } }",
            json!({ "input": { "personId": person, "purpose": purpose, "recipientId": recipient.id.to_string(), "givenOn": day(0) } }),
        )
        .await;
    r.data()["giveConsent"]["consent"]["id"].as_str().unwrap().to_owned()
}

async fn revoke(app: &TestApp, org: &Org, consent: &str) {
    app.gql(
        &org.token,
        "mutation($id: ID!) { revokeConsent(input: { id: $id }) { consent { isActive } } }",
        json!({ "id": consent }),
    )
    .await
    .data();
}

async fn plan(app: &TestApp, org: &Org, placement: &str) -> String {
    let r = app
        .gql(
            &org.token,
            "mutation($input: CreateParentActionPlanInput!) { createParentActionPlan(input: $input) { parentActionPlan { id } } }",
            json!({ "input": { "placementId": placement, "reviewIntervalDays": 42, "goals": [{ "description": "Come to every visit.", "purpose": "IMPROVE_CONTACT" }] } }),
        )
        .await;
    r.data()["createParentActionPlan"]["parentActionPlan"]["id"].as_str().unwrap().to_owned()
}

async fn placement_at(app: &TestApp, org: &Org, family: &SeededFamily, provider: &Org) -> String {
    let r = app
        .gql(
            &org.token,
            "mutation($input: CreatePlacementInput!) { createPlacement(input: $input) { placement { id } } }",
            json!({ "input": { "familyId": family.id, "childId": family.child_id, "providerId": provider.id.to_string(),
                "setting": "FOSTER_FAMILY", "voluntary": false, "decisionDate": day(-30), "startDate": day(-30) } }),
        )
        .await;
    r.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned()
}

const FAMILY: &str = "query($id: ID!) { family(id: $id) { name members { totalCount } placements { totalCount } } }";

#[tokio::test]
async fn a_referred_provider_sees_the_family_while_the_referral_is_active() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let other = app.seed_family(&aarhus, None).await;

    assert_eq!(app.gql(&fsp.token, FAMILY, json!({ "id": family.id })).await.code(), "NOT_FOUND");
    let referral = refer(&app, &aarhus, &family, &fsp, -10, None).await;
    let r = app.gql(&fsp.token, FAMILY, json!({ "id": family.id })).await;
    assert_eq!(r.data()["family"]["members"]["totalCount"], 2);
    assert_eq!(app.family_count(&fsp).await, 1, "only the referred family counts");
    assert_eq!(app.gql(&fsp.token, FAMILY, json!({ "id": other.id })).await.code(), "NOT_FOUND");

    // Access ends with the referral.
    let r = app
        .gql(
            &aarhus.token,
            "mutation($id: ID!, $on: Date!) { endReferral(input: { id: $id, endsOn: $on }) { referral { isActive } } }",
            json!({ "id": referral, "on": day(0) }),
        )
        .await;
    assert_eq!(r.data()["endReferral"]["referral"]["isActive"], false);
    assert_eq!(app.gql(&fsp.token, FAMILY, json!({ "id": family.id })).await.code(), "NOT_FOUND");
    assert_eq!(app.family_count(&fsp).await, 0);
}

#[tokio::test]
async fn a_referral_that_has_not_started_gives_no_access() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let family = app.seed_family(&aarhus, None).await;
    refer(&app, &aarhus, &family, &fsp, 5, None).await;
    assert_eq!(app.gql(&fsp.token, FAMILY, json!({ "id": family.id })).await.code(), "NOT_FOUND");
}

#[tokio::test]
async fn only_a_family_services_provider_can_be_referred_to() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let provider = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app
        .gql(
            &aarhus.token,
            "mutation($input: CreateReferralInput!) { createReferral(input: $input) { referral { id } } }",
            json!({ "input": { "familyId": family.id, "providerId": provider.id.to_string(), "startsOn": day(0) } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.providerId"));
}

#[tokio::test]
async fn a_placement_provider_sees_its_placements_and_their_visits_but_not_the_family() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let elsewhere = app.org(OrganizationKind::PlacementProvider, "Elsewhere", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = placement_at(&app, &aarhus, &family, &site).await;
    let start = Utc::now() - chrono::Duration::hours(3);
    let visit = app
        .gql(
            &aarhus.token,
            "mutation($input: PlanContactVisitInput!) { planContactVisit(input: $input) { contactVisit { id } } }",
            json!({ "input": { "placementId": placement, "plannedStart": start.to_rfc3339(), "plannedEnd": (start + chrono::Duration::hours(2)).to_rfc3339(), "supervision": "UNSUPERVISED" } }),
        )
        .await;
    let visit = visit.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned();

    let q = "query($id: ID!) { placement(id: $id) { setting child { givenName } contactVisits { totalCount } } }";
    let r = app.gql(&site.token, q, json!({ "id": placement })).await;
    assert_eq!(r.data()["placement"]["child"]["givenName"], "Emma");
    assert_eq!(r.data()["placement"]["contactVisits"]["totalCount"], 1);
    assert_eq!(app.gql(&elsewhere.token, q, json!({ "id": placement })).await.code(), "NOT_FOUND");
    assert_eq!(app.gql(&site.token, FAMILY, json!({ "id": family.id })).await.code(), "NOT_FOUND");
    let r = app
        .gql(&site.token, "query($id: ID!) { placement(id: $id) { family { id } } }", json!({ "id": placement }))
        .await;
    assert_eq!(r.code(), "NOT_FOUND", "the family record stays with the municipality");

    // The provider records the visit's outcome; another provider cannot.
    let held = "mutation($id: ID!) { recordContactVisitHeld(input: { id: $id }) { contactVisit { status } } }";
    assert_eq!(app.gql(&elsewhere.token, held, json!({ "id": visit })).await.code(), "NOT_FOUND");
    let r = app.gql(&site.token, held, json!({ "id": visit })).await;
    assert_eq!(r.data()["recordContactVisitHeld"]["contactVisit"]["status"], "HELD");
}

#[tokio::test]
async fn plan_goals_reach_the_placement_provider_only_while_a_parent_consents() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = placement_at(&app, &aarhus, &family, &site).await;
    let plan = plan(&app, &aarhus, &placement).await;
    let q = "query($id: ID!) { parentActionPlan(id: $id) { goals { edges { node { description } } } } }";

    assert_eq!(app.gql(&site.token, q, json!({ "id": plan })).await.code(), "NOT_FOUND");
    let given = consent(&app, &aarhus, &family.parent_id, "SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER", &site).await;
    let r = app.gql(&site.token, q, json!({ "id": plan })).await;
    assert_eq!(r.data()["parentActionPlan"]["goals"]["edges"][0]["node"]["description"], "Come to every visit.");

    revoke(&app, &aarhus, &given).await;
    assert_eq!(
        app.gql(&site.token, q, json!({ "id": plan })).await.code(),
        "NOT_FOUND",
        "revocation takes effect on the next request"
    );
}

/// The provider reaches the plan from its own placement, with nothing but the ids it was
/// given: the plan's goals while a parent consents, an empty list (and a count of 0)
/// otherwise; the municipality sees the plan there always.
#[tokio::test]
async fn a_placement_provider_with_consent_reaches_the_plans_goals_from_its_placement() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = placement_at(&app, &aarhus, &family, &site).await;
    let plan = plan(&app, &aarhus, &placement).await;
    let q = "query($id: ID!) { placement(id: $id) { parentActionPlans(first: 5) { totalCount edges { node { id goals { edges { node { description } } } } } } } }";
    let plans = |r: &crate::support::Gql| r.data()["placement"]["parentActionPlans"].clone();

    let municipality = app.gql(&aarhus.token, q, json!({ "id": placement })).await;
    assert_eq!(plans(&municipality)["edges"][0]["node"]["id"], plan.as_str());

    let before = app.gql(&site.token, q, json!({ "id": placement })).await;
    assert_eq!(plans(&before), json!({ "totalCount": 0, "edges": [] }), "no consent: nothing to reach");
    let given = consent(&app, &aarhus, &family.parent_id, "SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER", &site).await;
    let with = app.gql(&site.token, q, json!({ "id": placement })).await;
    assert_eq!(plans(&with)["totalCount"], 1);
    assert_eq!(plans(&with)["edges"][0]["node"]["id"], plan.as_str());
    assert_eq!(plans(&with)["edges"][0]["node"]["goals"]["edges"][0]["node"]["description"], "Come to every visit.");

    revoke(&app, &aarhus, &given).await;
    let after = app.gql(&site.token, q, json!({ "id": placement })).await;
    assert_eq!(plans(&after), json!({ "totalCount": 0, "edges": [] }), "revocation takes effect on the next request");
}

#[tokio::test]
async fn a_consent_to_the_wrong_kind_of_organisation_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app
        .gql(
            &aarhus.token,
            "mutation($input: GiveConsentInput!) { giveConsent(input: $input) { consent { id } } }",
            json!({ "input": { "personId": family.parent_id, "purpose": "SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER", "recipientId": randers.id.to_string(), "givenOn": day(0) } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.recipientId"));
    let r = app
        .gql(
            &aarhus.token,
            "query($id: ID!) { person(id: $id) { consents { totalCount } } }",
            json!({ "id": family.parent_id }),
        )
        .await;
    assert_eq!(r.data()["person"]["consents"]["totalCount"], 0);
}

const COORDINATION: &str =
    "{ crossMunicipalityPlacements { totalCount edges { node { id child { givenName } setting startDate
    placingMunicipality { name } caseworkerContact planStatus nextReviewDue goals { description purpose } } } } }";

#[tokio::test]
async fn the_residence_municipality_sees_the_coordination_view_and_goals_only_while_consent_stands() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let odder = app.municipality("Odder").await;
    let family = app.seed_family(&aarhus, Some(randers.id)).await;
    let placement = app.seed_placement(&aarhus, &family, &day(-20)).await;
    plan(&app, &aarhus, &placement).await;

    let r = app.gql(&randers.token, COORDINATION, json!({})).await;
    let view = &r.data()["crossMunicipalityPlacements"];
    assert_eq!(view["totalCount"], 1);
    let node = &view["edges"][0]["node"];
    assert_eq!(node["id"], placement.as_str());
    assert_eq!(node["child"]["givenName"], "Emma");
    assert_eq!(node["placingMunicipality"]["name"], "Aarhus");
    assert_eq!(node["planStatus"], "DRAFT");
    assert!(node["nextReviewDue"].is_string());
    assert_eq!(node["goals"], Value::Null, "no goals without consent");

    let given = consent(&app, &aarhus, &family.parent_id, "SHARE_WITH_RESIDENCE_MUNICIPALITY", &randers).await;
    let r = app.gql(&randers.token, COORDINATION, json!({})).await;
    assert_eq!(
        r.data()["crossMunicipalityPlacements"]["edges"][0]["node"]["goals"],
        json!([{ "description": "Come to every visit.", "purpose": "IMPROVE_CONTACT" }])
    );
    revoke(&app, &aarhus, &given).await;
    let r = app.gql(&randers.token, COORDINATION, json!({})).await;
    assert_eq!(r.data()["crossMunicipalityPlacements"]["edges"][0]["node"]["goals"], Value::Null);

    // The coordination view is all Randers sees: not the family, not the placement itself.
    assert_eq!(app.gql(&randers.token, FAMILY, json!({ "id": family.id })).await.code(), "NOT_FOUND");
    assert_eq!(
        app.gql(&randers.token, "query($id: ID!) { placement(id: $id) { id } }", json!({ "id": placement }))
            .await
            .code(),
        "NOT_FOUND"
    );
    // A municipality where no parent lives sees nothing; the placing one is not "cross" to itself.
    assert_eq!(
        app.gql(&odder.token, COORDINATION, json!({})).await.data()["crossMunicipalityPlacements"]["totalCount"],
        0
    );
    assert_eq!(
        app.gql(&aarhus.token, COORDINATION, json!({})).await.data()["crossMunicipalityPlacements"]["totalCount"],
        0
    );
}

#[tokio::test]
async fn the_coordination_view_carries_no_notes() {
    let sdl = kinbridge_api::sdl();
    let start = sdl.find("type CoordinationPlacement {").expect("the coordination view is in the schema");
    let body = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
    for forbidden in ["observations", "reason", "identifiers", "members", "contactVisits", "location"] {
        assert!(!body.contains(forbidden), "CoordinationPlacement must not expose {forbidden}");
    }
}

#[tokio::test]
async fn a_family_partner_sees_only_their_own_assignments() {
    let app = spawn_app().await;
    let lmha = app.org(OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let person = async |given: &str| {
        let r = app
            .gql(&lmha.token, "mutation($g: String!) { createPerson(input: { person: { givenName: $g, familyName: \"J\" } }) { person { id } } }", json!({ "g": given }))
            .await;
        r.data()["createPerson"]["person"]["id"].as_str().unwrap().to_owned()
    };
    let mut assignments = Vec::new();
    for (partner_subject, child, caregiver) in [("hanne.lund", "Oliver", "Maria"), ("peter.dahl", "Ida", "Sara")] {
        let (child, caregiver) = (person(child).await, person(caregiver).await);
        let e = app
            .gql(&lmha.token, "mutation($c: ID!, $g: ID!) { recordServiceEligibility(input: { childId: $c, primaryCaregiverId: $g, eligibleFrom: \"2026-01-01\" }) { eligibility { id } } }", json!({ "c": child, "g": caregiver }))
            .await;
        let eligibility = e.data()["recordServiceEligibility"]["eligibility"]["id"].clone();
        let p = app
            .gql(&lmha.token, "mutation($s: String!) { createFamilyPartner(input: { givenName: $s, familyName: \"P\", certificationStatus: CERTIFIED, certifiedOn: \"2025-01-01\", renewalDue: \"2027-01-01\", subject: $s }) { familyPartner { id } } }", json!({ "s": partner_subject }))
            .await;
        let partner = p.data()["createFamilyPartner"]["familyPartner"]["id"].clone();
        let a = app
            .gql(&lmha.token, "mutation($p: ID!, $e: ID!) { assignFamilyPartner(input: { familyPartnerId: $p, eligibilityId: $e, startDate: \"2026-02-01\" }) { assignment { id } } }", json!({ "p": partner, "e": eligibility }))
            .await;
        assignments.push(a.data()["assignFamilyPartner"]["assignment"]["id"].as_str().unwrap().to_owned());
    }
    let hanne = app.token_with(|c| {
        c.org = lmha.id.to_string();
        c.sub = "hanne.lund".into();
        c.roles = vec!["FAMILY_PARTNER".into()];
    });
    let q = "query($id: ID!) { familyPartnerAssignment(id: $id) { primaryCaregiver { givenName } } }";
    let r = app.gql(&hanne, q, json!({ "id": assignments[0] })).await;
    assert_eq!(r.data()["familyPartnerAssignment"]["primaryCaregiver"]["givenName"], "Maria");
    assert_eq!(app.gql(&hanne, q, json!({ "id": assignments[1] })).await.code(), "NOT_FOUND");
    let r = app.gql(&hanne, "{ familyPartners { totalCount } }", json!({})).await;
    assert_eq!(r.data()["familyPartners"]["totalCount"], 1);
    // The authority's manager sees both.
    assert_eq!(
        app.gql(&lmha.token, "{ familyPartners { totalCount } }", json!({})).await.data()["familyPartners"]["totalCount"],
        2
    );
}

const NOTIFY: &str = "mutation($input: NotifyKeyPersonInput!) { notifyKeyPerson(input: $input) { notification {
    notifiedOn note client { givenName } keyPerson { givenName } } } }";

#[tokio::test]
async fn a_key_person_notification_is_refused_without_the_clients_consent_and_writes_nothing() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app
        .gql(
            &aarhus.token,
            "mutation($f: ID!) { addFamilyMember(input: { familyId: $f, member: { role: KEY_PERSON, person: { givenName: \"Lise\", familyName: \"Holm\" } } }) { member { person { id } } } }",
            json!({ "f": family.id }),
        )
        .await;
    let teacher = r.data()["addFamilyMember"]["member"]["person"]["id"].as_str().unwrap().to_owned();
    let input = json!({ "input": { "clientId": family.parent_id, "keyPersonId": teacher, "notifiedOn": day(0), "note": "Told about the placement." } });
    let outbox_before = app.outbox_len().await;

    let r = app.gql(&aarhus.token, NOTIFY, input.clone()).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.clientId"));
    assert!(r.message().contains("permission"), "{}", r.message());
    assert_eq!(app.outbox_len().await, outbox_before, "nothing was written");

    let given = consent(&app, &aarhus, &family.parent_id, "NOTIFY_KEY_PEOPLE", &aarhus).await;
    let r = app.gql(&aarhus.token, NOTIFY, input.clone()).await;
    let n = &r.data()["notifyKeyPerson"]["notification"];
    assert_eq!(
        (n["client"]["givenName"].as_str(), n["keyPerson"]["givenName"].as_str()),
        (Some("Mette"), Some("Lise"))
    );

    revoke(&app, &aarhus, &given).await;
    let r = app.gql(&aarhus.token, NOTIFY, input).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "after revocation, no more notifications");
    let r = app
        .gql(
            &aarhus.token,
            "query($p: ID!) { person(id: $p) { keyPersonNotifications { totalCount } } }",
            json!({ "p": family.parent_id }),
        )
        .await;
    assert_eq!(r.data()["person"]["keyPersonNotifications"]["totalCount"], 1);
}

/// Relay's `node(id)`: any record by its id, under the same scope as every read; another
/// organisation's record is `NOT_FOUND` with `node: null`, an id Kinbridge never gives out
/// is `BAD_USER_INPUT`, and `nodes` answers each id at its index.
#[tokio::test]
async fn node_reads_any_record_by_its_id_within_the_callers_scope() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = placement_at(&app, &aarhus, &family, &site).await;
    let plan = plan(&app, &aarhus, &placement).await;
    let q = "query($id: ID!) { node(id: $id) { __typename id ... on Family { name } ... on Person { givenName } ... on Placement { setting } ... on ParentActionPlan { goals { totalCount } } ... on Organization { name } } }";

    for (id, typename) in [
        (family.id.as_str(), "Family"),
        (family.child_id.as_str(), "Person"),
        (placement.as_str(), "Placement"),
        (plan.as_str(), "ParentActionPlan"),
    ] {
        let r = app.gql(&aarhus.token, q, json!({ "id": id })).await;
        assert_eq!(r.data()["node"]["__typename"], typename, "{}", r.body);
        assert_eq!(r.data()["node"]["id"], id);
    }
    let r = app.gql(&aarhus.token, q, json!({ "id": family.id })).await;
    assert_eq!(r.data()["node"]["name"], "Hansen");

    // Another municipality, and the provider without consent, are refused as if the
    // record did not exist; the provider reaches its own placement.
    let r = app.gql(&randers.token, q, json!({ "id": family.id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    assert_eq!(r.body["data"]["node"], Value::Null);
    assert_eq!(app.gql(&site.token, q, json!({ "id": plan })).await.code(), "NOT_FOUND");
    assert_eq!(app.gql(&site.token, q, json!({ "id": placement })).await.data()["node"]["setting"], "FOSTER_FAMILY");
    assert_eq!(
        app.gql(&site.token, q, json!({ "id": site.id.to_string() })).await.data()["node"]["name"],
        "Skovbrynet"
    );

    for bad in ["fam_nothex", "zzz_0190f4c2", "", "fam"] {
        let r = app.gql(&aarhus.token, q, json!({ "id": bad })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{bad}: {}", r.body);
        assert_eq!(r.field(), "id");
    }

    let many = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";
    let r = app.gql(&randers.token, many, json!({ "ids": [randers.id.to_string(), family.id] })).await;
    assert_eq!(r.body["data"]["nodes"][0]["__typename"], "Organization");
    assert_eq!(r.body["data"]["nodes"][1], Value::Null, "another's family is null at its index");
    assert_eq!(r.code(), "NOT_FOUND");
}
