//! Parental-role support by the professional who treats the parent (000): a family
//! services provider records it for the parents of a family referred to it, as its own
//! records; the responsible municipality reads them only with the client's consent for
//! that purpose; all of it is in the access log and the provider's subject report.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, SeededFamily, TestApp, spawn_app};

const SUPPORT: &str = "query($p: ID!) { person(id: $p) { parentalSupportNotes { totalCount edges { node { text } } }
    koppInterviews { totalCount } otherParentSupport { totalCount } keyPersonNotifications { totalCount }
    resiliencePillars { pillar status } } }";

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.gql(token, query, variables).await.data().clone()
}

/// A family of the municipality with a parent, the other parent and a key person, and a
/// provider it is referred to.
async fn referred(app: &TestApp) -> (Org, Org, SeededFamily, String, String) {
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let add = "mutation($f: ID!, $role: FamilyRole!, $name: String!, $res: ID) { addFamilyMember(input: { familyId: $f,
        member: { role: $role, residenceMunicipalityId: $res, person: { givenName: $name, familyName: \"Hansen\" } } }) { member { person { id } } } }";
    let other = ok(
        app,
        &aarhus.token,
        add,
        json!({ "f": family.id, "role": "OTHER_PARENT", "name": "Jonas", "res": aarhus.id.to_string() }),
    )
    .await;
    let other = other["addFamilyMember"]["member"]["person"]["id"].as_str().unwrap().to_owned();
    let key = ok(app, &aarhus.token, add, json!({ "f": family.id, "role": "KEY_PERSON", "name": "Lise" })).await;
    let key = key["addFamilyMember"]["member"]["person"]["id"].as_str().unwrap().to_owned();
    ok(
        app,
        &aarhus.token,
        "mutation($f: ID!, $p: ID!) { createReferral(input: { familyId: $f, providerId: $p, startsOn: \"2026-01-01\" }) { referral { id } } }",
        json!({ "f": family.id, "p": fsp.id.to_string() }),
    )
    .await;
    (aarhus, fsp, family, other, key)
}

#[tokio::test]
async fn the_treating_provider_records_parental_support_as_its_own_and_the_municipality_reads_it_with_consent() {
    let app = spawn_app().await;
    let (aarhus, fsp, family, other, key) = referred(&app).await;
    let mother = json!({ "c": family.parent_id, "o": other, "k": key });

    // The provider records every kind of parental-role support for the mother.
    for (query, what) in [
        (
            "mutation($c: ID!) { recordParentalSupportNote(input: { clientId: $c, notedOn: \"2026-02-01\", text: \"Practised bedtime routines\" }) { client { id } } }",
            "note",
        ),
        (
            "mutation($c: ID!, $k: ID!) { recordKoppInterview(input: { clientId: $c, heldOn: \"2026-02-02\", participants: [{ personId: $k, role: CHILD_CONFIDANT }] }) { client { id } } }",
            "KOPP",
        ),
        (
            "mutation($c: ID!) { recordResiliencePillar(input: { clientId: $c, pillar: CHILDRENS_EMOTIONS, status: DISCUSSED, recordedOn: \"2026-02-03\" }) { client { id } } }",
            "pillar",
        ),
        (
            "mutation($c: ID!, $o: ID!) { recordOtherParentSupport(input: { clientId: $c, otherParentId: $o, recordedOn: \"2026-02-04\", wellbeingAsked: true, networkInvolved: false, informedOfSupportOptions: true }) { client { id } } }",
            "other parent",
        ),
        (
            "mutation($c: ID!, $r: ID!) { giveConsent(input: { personId: $c, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: \"2026-02-05\" }) { consent { id } } }",
            "consent to notify",
        ),
        (
            "mutation($c: ID!, $k: ID!) { notifyKeyPerson(input: { clientId: $c, keyPersonId: $k, notifiedOn: \"2026-02-06\" }) { notification { id } } }",
            "notification",
        ),
    ] {
        let mut vars = mother.clone();
        vars["r"] = json!(fsp.id.to_string());
        let r = app.gql(&fsp.token, query, vars).await;
        assert!(r.body.get("errors").is_none(), "the provider records the {what}: {}", r.body);
    }
    let theirs = ok(&app, &fsp.token, SUPPORT, json!({ "p": family.parent_id })).await;
    assert_eq!(theirs["person"]["parentalSupportNotes"]["totalCount"], 1);
    assert_eq!(theirs["person"]["koppInterviews"]["totalCount"], 1);
    assert_eq!(theirs["person"]["otherParentSupport"]["totalCount"], 1);
    assert_eq!(theirs["person"]["keyPersonNotifications"]["totalCount"], 1);
    assert!(theirs["person"]["resiliencePillars"].to_string().contains("\"DISCUSSED\""), "{theirs}");

    // The municipality does not see them without the mother's consent.
    let ours = ok(&app, &aarhus.token, SUPPORT, json!({ "p": family.parent_id })).await;
    assert_eq!(ours["person"]["parentalSupportNotes"]["totalCount"], 0, "{ours}");
    assert_eq!(ours["person"]["koppInterviews"]["totalCount"], 0);
    assert!(!ours["person"]["resiliencePillars"].to_string().contains("\"DISCUSSED\""), "{ours}");

    // She consents, and the provider records it: the municipality reads them; revoked, not.
    let consent = ok(
        &app,
        &fsp.token,
        "mutation($c: ID!, $r: ID!) { giveConsent(input: { personId: $c, purpose: SHARE_PARENTAL_SUPPORT_WITH_MUNICIPALITY, recipientId: $r, givenOn: \"2026-02-10\" }) { consent { id } } }",
        json!({ "c": family.parent_id, "r": aarhus.id.to_string() }),
    )
    .await["giveConsent"]["consent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared = ok(&app, &aarhus.token, SUPPORT, json!({ "p": family.parent_id })).await;
    assert_eq!(shared["person"]["parentalSupportNotes"]["edges"][0]["node"]["text"], "Practised bedtime routines");
    assert_eq!(shared["person"]["koppInterviews"]["totalCount"], 1);
    assert_eq!(shared["person"]["otherParentSupport"]["totalCount"], 1);
    assert_eq!(shared["person"]["keyPersonNotifications"]["totalCount"], 1);
    assert!(shared["person"]["resiliencePillars"].to_string().contains("\"DISCUSSED\""), "{shared}");
    ok(
        &app,
        &fsp.token,
        "mutation($id: ID!) { revokeConsent(input: { id: $id }) { consent { id } } }",
        json!({ "id": consent }),
    )
    .await;
    let revoked = ok(&app, &aarhus.token, SUPPORT, json!({ "p": family.parent_id })).await;
    assert_eq!(
        revoked["person"]["parentalSupportNotes"]["totalCount"], 0,
        "a revocation takes effect on the next request"
    );

    // A provider records consent only about its own records.
    let r = app
        .gql(
            &fsp.token,
            "mutation($c: ID!, $r: ID!) { giveConsent(input: { personId: $c, purpose: SHARE_WITH_RESIDENCE_MUNICIPALITY, recipientId: $r, givenOn: \"2026-02-10\" }) { consent { id } } }",
            json!({ "c": family.parent_id, "r": aarhus.id.to_string() }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.purpose"), "{}", r.body);

    // Every write and read is in her access log, and in the provider's subject report.
    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let log = ok(&app, &auditor, "query($p: ID!) { accessLog(personId: $p, first: 100) { edges { node { organizationId operation recordType } } } }", json!({ "p": family.parent_id })).await;
    let entries = log["accessLog"]["edges"].as_array().unwrap();
    for op in [
        "recordParentalSupportNote",
        "recordKoppInterview",
        "recordResiliencePillar",
        "recordOtherParentSupport",
        "notifyKeyPerson",
    ] {
        assert!(
            entries.iter().any(|e| e["node"]["operation"] == op && e["node"]["organizationId"] == fsp.id.to_string()),
            "{op} in {log}"
        );
    }
    assert!(
        entries.iter().any(|e| e["node"]["recordType"] == "ParentalSupportNote"
            && e["node"]["organizationId"] == aarhus.id.to_string()),
        "the municipality's read under consent"
    );
    let dpo = app.token(fsp.id, &["DATA_PROTECTION_OFFICER"]);
    let report =
        ok(&app, &dpo, "query($p: ID!) { subjectReport(personId: $p) }", json!({ "p": family.parent_id })).await;
    let records = &report["subjectReport"]["records"];
    for section in [
        "parentalSupportNotes",
        "koppInterviews",
        "resiliencePillarRecords",
        "otherParentSupport",
        "keyPersonNotifications",
        "consents",
    ] {
        assert_eq!(
            records[section].as_array().unwrap().len(),
            if section == "consents" { 2 } else { 1 },
            "{section}: {records}"
        );
    }
    assert!(
        records["placements"].as_array().unwrap().is_empty(),
        "the provider reports what it holds, not the municipality's"
    );
    assert!(
        report["subjectReport"]["accessLog"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["organizationId"] == fsp.id.to_string())
    );
}

#[tokio::test]
async fn a_provider_without_an_active_referral_records_nothing_and_sees_nothing() {
    let app = spawn_app().await;
    let (aarhus, fsp, family, _, _) = referred(&app).await;
    let never = app.org(OrganizationKind::FamilyServicesProvider, "Andet center", &["FAMILY_THERAPIST"]).await;
    let note = "mutation($c: ID!) { recordParentalSupportNote(input: { clientId: $c, notedOn: \"2026-02-01\", text: \"T\" }) { client { id } } }";
    let changes = app.outbox_len().await;
    let r = app.gql(&never.token, note, json!({ "c": family.parent_id })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
    // The child is no client of the provider's: it supports parents.
    let r = app.gql(&fsp.token, note, json!({ "c": family.child_id })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
    assert_eq!(app.outbox_len().await, changes, "refused writes write nothing");
    // The referral ends: the provider's access, and its writes, end with it.
    let referral = ok(
        &app,
        &aarhus.token,
        "query($f: ID!) { family(id: $f) { referrals { edges { node { id } } } } }",
        json!({ "f": family.id }),
    )
    .await;
    let referral = referral["family"]["referrals"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let today = chrono::Utc::now().date_naive().to_string();
    ok(
        &app,
        &aarhus.token,
        "mutation($id: ID!, $on: Date!) { endReferral(input: { id: $id, endsOn: $on }) { referral { id } } }",
        json!({ "id": referral, "on": today }),
    )
    .await;
    let r = app.gql(&fsp.token, note, json!({ "c": family.parent_id })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
}

/// Simultaneous notes by the provider and the municipality for one client: each is its own
/// record, none lost, no INTERNAL.
#[tokio::test]
async fn simultaneous_notes_by_both_organisations_are_each_kept() {
    let app = spawn_app().await;
    let (aarhus, fsp, family, _, _) = referred(&app).await;
    let note = "mutation($c: ID!, $k: String!) { recordParentalSupportNote(input: { clientId: $c, notedOn: \"2026-02-01\", text: \"T\", idempotencyKey: $k }) { client { id } } }";
    let answers = futures_util::future::join_all((0..12).map(|i| {
        let token = if i % 2 == 0 { &aarhus.token } else { &fsp.token };
        app.gql(token, note, json!({ "c": family.parent_id, "k": format!("note-{}", i / 4) }))
    }))
    .await;
    for r in &answers {
        assert!(r.body.get("errors").is_none(), "{}", r.body);
    }
    // Keys are per organisation: three keys each, so three notes each.
    let count = |token: &str| {
        let token = token.to_owned();
        let app = &app;
        let p = family.parent_id.clone();
        async move {
            ok(
                app,
                &token,
                "query($p: ID!) { person(id: $p) { parentalSupportNotes { totalCount } } }",
                json!({ "p": p }),
            )
            .await["person"]["parentalSupportNotes"]["totalCount"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count(&fsp.token).await, 3);
    assert_eq!(count(&aarhus.token).await, 3);
}
