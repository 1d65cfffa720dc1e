//! Every rule of the guidance is checked on input: each refusal is `BAD_USER_INPUT` naming
//! the field, and writes nothing.

use chrono::{Days, Duration, Utc};
use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, TestApp, spawn_app};

fn day(offset: i64) -> String {
    let today = Utc::now().date_naive();
    (if offset < 0 { today - Days::new(offset.unsigned_abs()) } else { today + Days::new(offset.unsigned_abs()) })
        .to_string()
}

/// Sends `query` and checks that it is refused on `field` and changed nothing.
async fn refused(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) {
    let changes = app.outbox_len().await;
    let r = app.gql(token, query, variables).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", field), "{}", r.body);
    assert_eq!(app.outbox_len().await, changes, "a refused write writes nothing");
}

#[tokio::test]
async fn an_offer_of_support_follows_the_decision_and_has_been_made() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, &day(-30)).await;
    let offer = "mutation($p: ID!, $on: Date!) { offerSupport(input: { placementId: $p, kind: PMTO, offeredOn: $on }) { supportOffer { id } } }";
    refused(&app, &aarhus.token, offer, json!({ "p": placement, "on": day(-31) }), "input.offeredOn").await;
    refused(&app, &aarhus.token, offer, json!({ "p": placement, "on": day(1) }), "input.offeredOn").await;
    app.gql(&aarhus.token, offer, json!({ "p": placement, "on": day(-30) })).await.data();
}

#[tokio::test]
async fn a_cancellation_is_not_dated_in_the_future() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, &day(-30)).await;
    let start = Utc::now() + Duration::days(3);
    let visit = app
        .gql(
            &aarhus.token,
            "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id } } }",
            json!({ "p": placement, "s": start.to_rfc3339(), "e": (start + Duration::hours(1)).to_rfc3339() }),
        )
        .await;
    let visit = visit.data()["planContactVisit"]["contactVisit"]["id"].clone();
    let cancel = "mutation($v: ID!, $at: DateTime!) { cancelContactVisit(input: { id: $v, cancelledBy: PARENT, reason: \"Ill\", cancelledAt: $at }) { contactVisit { id } } }";
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();
    refused(&app, &aarhus.token, cancel, json!({ "v": visit, "at": tomorrow }), "input.cancelledAt").await;
}

#[tokio::test]
async fn a_pillar_record_is_not_dated_in_the_future() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let pillar = "mutation($c: ID!, $on: Date!) { recordResiliencePillar(input: { clientId: $c, pillar: INFORM_CHILDREN, status: DISCUSSED, recordedOn: $on }) { client { id } } }";
    refused(&app, &aarhus.token, pillar, json!({ "c": family.parent_id, "on": day(1) }), "input.recordedOn").await;
}

#[tokio::test]
async fn only_a_key_person_of_the_family_is_notified_as_one() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    app.gql(
        &aarhus.token,
        "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: \"2026-01-01\" }) { consent { id } } }",
        json!({ "p": family.parent_id, "r": aarhus.id.to_string() }),
    )
    .await
    .data();
    let notify = "mutation($c: ID!, $k: ID!, $on: Date!) { notifyKeyPerson(input: { clientId: $c, keyPersonId: $k, notifiedOn: $on }) { notification { id } } }";
    refused(
        &app,
        &aarhus.token,
        notify,
        json!({ "c": family.parent_id, "k": family.child_id, "on": day(0) }),
        "input.keyPersonId",
    )
    .await;
}

struct Authority {
    mha: Org,
    eligibility: String,
    caregiver: String,
}

async fn authority(app: &TestApp) -> Authority {
    let mha = app.org(OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let person = async |name: &str| {
        let v = app
            .gql(&mha.token, "mutation($n: String!) { createPerson(input: { person: { givenName: $n, familyName: \"J\" } }) { person { id } } }", json!({ "n": name }))
            .await;
        v.data()["createPerson"]["person"]["id"].as_str().unwrap().to_owned()
    };
    let (child, caregiver) = (person("Oliver").await, person("Maria").await);
    let e = app
        .gql(&mha.token, "mutation($c: ID!, $g: ID!) { recordServiceEligibility(input: { childId: $c, primaryCaregiverId: $g, eligibleFrom: \"2026-01-01\" }) { eligibility { id } } }", json!({ "c": child, "g": caregiver }))
        .await;
    let eligibility = e.data()["recordServiceEligibility"]["eligibility"]["id"].as_str().unwrap().to_owned();
    Authority { mha, eligibility, caregiver }
}

const PARTNER: &str =
    "mutation($i: CreateFamilyPartnerInput!) { createFamilyPartner(input: $i) { familyPartner { id } } }";

#[tokio::test]
async fn a_certification_is_not_dated_in_the_future() {
    let app = spawn_app().await;
    let a = authority(&app).await;
    let input = json!({ "i": { "givenName": "H", "familyName": "P", "certificationStatus": "CERTIFIED", "certifiedOn": day(1), "renewalDue": day(400) } });
    refused(&app, &a.mha.token, PARTNER, input, "input.certifiedOn").await;
}

#[tokio::test]
async fn a_partner_past_the_training_deadline_is_not_assigned_by_backdating_the_start() {
    let app = spawn_app().await;
    let a = authority(&app).await;
    let late = app
        .gql(&a.mha.token, PARTNER, json!({ "i": { "givenName": "H", "familyName": "P", "certificationStatus": "PENDING_CERTIFICATION", "trainingDeadline": day(-10) } }))
        .await;
    let late = late.data()["createFamilyPartner"]["familyPartner"]["id"].clone();
    let assign = "mutation($p: ID!, $e: ID!, $s: Date!) { assignFamilyPartner(input: { familyPartnerId: $p, eligibilityId: $e, startDate: $s }) { assignment { id } } }";
    refused(
        &app,
        &a.mha.token,
        assign,
        json!({ "p": late, "e": a.eligibility, "s": day(-20) }),
        "input.familyPartnerId",
    )
    .await;
}

#[tokio::test]
async fn a_family_partner_service_is_not_dated_in_the_future() {
    let app = spawn_app().await;
    let a = authority(&app).await;
    let partner = app
        .gql(&a.mha.token, PARTNER, json!({ "i": { "givenName": "H", "familyName": "P", "certificationStatus": "CERTIFIED", "certifiedOn": "2025-01-01", "renewalDue": day(400) } }))
        .await;
    let partner = partner.data()["createFamilyPartner"]["familyPartner"]["id"].clone();
    let assignment = app
        .gql(&a.mha.token, "mutation($p: ID!, $e: ID!) { assignFamilyPartner(input: { familyPartnerId: $p, eligibilityId: $e, startDate: \"2026-02-01\" }) { assignment { id } } }", json!({ "p": partner, "e": a.eligibility }))
        .await;
    let assignment = assignment.data()["assignFamilyPartner"]["assignment"]["id"].clone();
    let service = "mutation($a: ID!, $r: ID!, $d: Date!) { recordFamilyPartnerService(input: { assignmentId: $a, recipientId: $r, date: $d, minutes: 30, activity: INFORMATION }) { service { id } } }";
    refused(&app, &a.mha.token, service, json!({ "a": assignment, "r": a.caregiver, "d": day(1) }), "input.date").await;
}

#[tokio::test]
async fn coercion_errors_name_the_field() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let create = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id } } }";
    let king = json!({ "input": { "name": "H", "members": [{ "person": { "givenName": "A", "familyName": "B" }, "role": "KING" }] } });
    refused(&app, &aarhus.token, create, king, "input.members.0.role").await;
    let feb30 = json!({ "input": { "name": "H", "members": [{ "person": { "givenName": "A", "familyName": "B", "birthDate": "2023-02-30" }, "role": "CHILD" }] } });
    refused(&app, &aarhus.token, create, feb30, "input.members.0.person.birthDate").await;
    let placement = app.seed_placement(&aarhus, &app.seed_family(&aarhus, None).await, &day(-30)).await;
    let plan = "mutation($i: PlanContactVisitInput!) { planContactVisit(input: $i) { contactVisit { id } } }";
    let feb30 = json!({ "i": { "placementId": placement, "plannedStart": "2027-02-30T10:00:00Z", "plannedEnd": "2027-03-01T10:00:00Z", "supervision": "UNSUPERVISED" } });
    refused(&app, &aarhus.token, plan, feb30, "input.plannedStart").await;
    let arrangement = "mutation($p: ID!, $d: Int!) { setVisitArrangement(input: { placementId: $p, intervalDays: $d, supervision: UNSUPERVISED }) { visitArrangement { id } } }";
    refused(&app, &aarhus.token, arrangement, json!({ "p": placement, "d": 3_000_000_000_i64 }), "input.intervalDays")
        .await;
    let r = app.gql(&aarhus.token, "{ families(first: 3000000000) { totalCount } }", json!({})).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "first"));
}

/// A date `years` years before today (the same day of the year).
fn years_ago(years: i32) -> String {
    let today = Utc::now().date_naive();
    chrono::Datelike::with_year(&today, chrono::Datelike::year(&today) - years)
        .unwrap_or_else(|| today - Days::new(365 * u64::try_from(years).unwrap()))
        .to_string()
}

const GIVE_CONSENT: &str = "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: \"2026-01-01\" }) { consent { id } } }";

async fn consent_on(app: &TestApp, org: &Org, person: &str, given_on: &str) -> crate::support::Gql {
    let q = "mutation($p: ID!, $r: ID!, $on: Date!) { giveConsent(input: { personId: $p, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: $on }) { consent { id } } }";
    app.gql(&org.token, q, json!({ "p": person, "r": org.id.to_string(), "on": given_on })).await
}

#[tokio::test]
async fn a_consent_is_given_by_an_adult_with_parental_responsibility_or_a_young_person_old_enough() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let today = day(0);
    let create = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family {
        members { edges { node { role person { givenName id } } } } } } }";
    let members = [
        ("Sofie", years_ago(16), "CHILD"),
        ("Noah", years_ago(13), "CHILD"),
        ("Liva", years_ago(17), "PARENT"),
        ("Anders", years_ago(40), "OTHER_PARENT"),
        ("Birthe", years_ago(70), "GRANDPARENT"),
        ("Lise", years_ago(35), "KEY_PERSON"),
    ];
    let input = json!({ "name": "Holm", "members": members.iter().map(|(name, born, role)| {
        let mut m = json!({ "person": { "givenName": name, "familyName": "Holm", "birthDate": born }, "role": role });
        if role.contains("PARENT") { m["residenceMunicipalityId"] = json!(aarhus.id.to_string()); }
        m
    }).collect::<Vec<_>>() });
    let r = app.gql(&aarhus.token, create, json!({ "input": input })).await;
    let id = |name: &str| {
        r.data()["createFamily"]["family"]["members"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["person"]["givenName"] == name)
            .map(|e| e["node"]["person"]["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let org = aarhus.id.to_string();

    // An adult parent, and a young person from the organisation's age (15 by default).
    for name in ["Anders", "Sofie"] {
        assert!(
            consent_on(&app, &aarhus, &id(name), &today).await.body["data"]["giveConsent"]["consent"]["id"].is_string(),
            "{name}"
        );
    }
    // A parent under 18, a young person under the age, a grandparent and a key person are refused.
    for name in ["Liva", "Noah", "Birthe", "Lise"] {
        let changes = app.outbox_len().await;
        let r = consent_on(&app, &aarhus, &id(name), &today).await;
        assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.personId"), "{name}: {}", r.body);
        assert_eq!(app.outbox_len().await, changes, "a refused consent writes nothing");
    }
    // Sofie's consent dated before she turned 15 is refused too: age is judged on the day given.
    let r = consent_on(&app, &aarhus, &id("Sofie"), &years_ago(2)).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.personId"), "{}", r.body);

    // The organisation lowers the age to 12: Noah, 13, now gives consent himself.
    let viewer = "{ viewer { organization { youngPersonConsentAge } } }";
    assert_eq!(
        app.gql(&aarhus.token, viewer, json!({})).await.data()["viewer"]["organization"]["youngPersonConsentAge"],
        15
    );
    let mut argv = vec!["kinbridge", "organizations", "--database-url", &app.database_url];
    argv.extend_from_slice(&["configure", &org, "--young-person-consent-age", "12"]);
    kinbridge_server::run(<kinbridge_server::Cli as clap::Parser>::try_parse_from(argv).unwrap()).await.unwrap();
    assert_eq!(
        app.gql(&aarhus.token, viewer, json!({})).await.data()["viewer"]["organization"]["youngPersonConsentAge"],
        12
    );
    assert!(
        consent_on(&app, &aarhus, &id("Noah"), &today).await.body["data"]["giveConsent"]["consent"]["id"].is_string()
    );
    refused(&app, &aarhus.token, GIVE_CONSENT, json!({ "p": id("Lise"), "r": org }), "input.personId").await;

    // An age outside 12 to 18 is refused by the command, naming the setting.
    let argv = [
        "kinbridge",
        "organizations",
        "--database-url",
        &app.database_url,
        "configure",
        &org,
        "--young-person-consent-age",
        "19",
    ];
    let e = kinbridge_server::run(<kinbridge_server::Cli as clap::Parser>::try_parse_from(argv).unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--young-person-consent-age"), "{e}");
}

#[tokio::test]
async fn at_a_mental_health_authority_the_primary_caregiver_gives_consent_and_a_stranger_does_not() {
    let app = spawn_app().await;
    let mha = app.org(OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let person = async |given: &str| {
        let r = app
            .gql(
                &mha.token,
                "mutation($input: CreatePersonInput!) { createPerson(input: $input) { person { id } } }",
                json!({ "input": { "person": { "givenName": given, "familyName": "Jensen", "birthDate": "1985-03-01" } } }),
            )
            .await;
        r.data()["createPerson"]["person"]["id"].as_str().unwrap().to_owned()
    };
    let (child, caregiver, stranger) = (person("Oliver").await, person("Maria").await, person("Ole").await);
    app.gql(
        &mha.token,
        "mutation($c: ID!, $g: ID!) { recordServiceEligibility(input: { childId: $c, primaryCaregiverId: $g, eligibleFrom: \"2026-01-01\" }) { eligibility { id } } }",
        json!({ "c": child, "g": caregiver }),
    )
    .await
    .data();
    let give = "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: SHARE_WITH_FAMILY_PARTNER, recipientId: $r, givenOn: \"2026-02-01\" }) { consent { id } } }";
    let r = app.gql(&mha.token, give, json!({ "p": caregiver, "r": mha.id.to_string() })).await;
    assert!(r.data()["giveConsent"]["consent"]["id"].is_string(), "{}", r.body);
    refused(&app, &mha.token, give, json!({ "p": stranger, "r": mha.id.to_string() }), "input.personId").await;
}
