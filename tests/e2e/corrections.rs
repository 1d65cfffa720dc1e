//! Case systems correct what they sent: versioned, checked again, audited, in the change
//! feed, and a correction that changes nothing writes nothing.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::{Org, SeededFamily, TestApp, spawn_app, uuid_of};

async fn person_version(app: &TestApp, org: &Org, id: &str) -> Value {
    app.gql(&org.token, "query($id: ID!) { person(id: $id) { givenName version } }", json!({ "id": id })).await.data()
        ["person"]
        .clone()
}

const PERSON: &str = "mutation($i: CorrectPersonInput!) { correctPerson(input: $i) { changed person { givenName familyName version } } }";

#[tokio::test]
async fn a_person_is_corrected_against_the_version_read() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let before = person_version(&app, &aarhus, &family.parent_id).await;
    let version = before["version"].as_i64().unwrap();
    let changes = app.outbox_len().await;

    let r = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version, "givenName": "Mette Marie" } }),
        )
        .await;
    let p = &r.data()["correctPerson"];
    assert_eq!((&p["changed"], &p["person"]["givenName"]), (&json!(true), &json!("Mette Marie")));
    assert_eq!(p["person"]["version"], version + 1);
    assert_eq!(app.outbox_len().await, changes + 1, "in the change feed");
    let events = app.store.audit_events_for_record(uuid_of(&family.parent_id)).await.unwrap();
    assert!(events.iter().any(|e| e.operation == "correctPerson"), "audited");

    // The version read before is stale now: refused, with the version it is at.
    let stale = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version, "givenName": "M" } }),
        )
        .await;
    assert_eq!(stale.code(), "CONFLICT");
    assert!(stale.message().contains(&format!("version {}", version + 1)), "{}", stale.message());

    // The same again changes nothing and writes nothing.
    let changes = app.outbox_len().await;
    let same = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version + 1, "givenName": "Mette Marie" } }),
        )
        .await;
    assert_eq!(same.data()["correctPerson"]["changed"], false);
    assert_eq!(same.data()["correctPerson"]["person"]["version"], version + 1);
    assert_eq!(app.outbox_len().await, changes);

    let blank = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version + 1, "familyName": "  " } }),
        )
        .await;
    assert_eq!((blank.code(), blank.field()), ("BAD_USER_INPUT", "input.familyName"));
    let future = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version + 1, "birthDate": "2999-01-01" } }),
        )
        .await;
    assert_eq!((future.code(), future.field()), ("BAD_USER_INPUT", "input.birthDate"));
}

#[tokio::test]
async fn concurrent_corrections_of_one_version_one_wins_the_others_conflict() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let version = person_version(&app, &aarhus, &family.parent_id).await["version"].as_i64().unwrap();
    let results = futures_util::future::join_all((0..8).map(|i| {
        app.gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": family.parent_id, "expectedVersion": version, "givenName": format!("Name {i}") } }),
        )
    }))
    .await;
    let won = results.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(won, 1, "one correction of the version read");
    for r in results.iter().filter(|r| r.body.get("errors").is_some()) {
        assert_eq!(r.code(), "CONFLICT", "{}", r.body);
    }
}

async fn placed(app: &TestApp, org: &Org) -> (SeededFamily, String) {
    let family = app.seed_family(org, None).await;
    let placement = app.seed_placement(org, &family, "2026-03-01").await;
    (family, placement)
}

const PLACEMENT: &str = "mutation($i: CorrectPlacementInput!) { correctPlacement(input: $i) { changed placement { setting startDate version } } }";

#[tokio::test]
async fn a_placement_is_corrected_and_still_never_overlaps_another() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let (family, first) = placed(&app, &aarhus).await;
    app.gql(&aarhus.token, "mutation($p: ID!) { endPlacement(input: { id: $p, endDate: \"2026-05-01\", endReason: MOVED }) { placement { id } } }", json!({ "p": first }))
        .await
        .data();
    let second = app
        .gql(&aarhus.token, "mutation($f: ID!, $c: ID!) { createPlacement(input: { familyId: $f, childId: $c, setting: KINSHIP_CARE, voluntary: true, decisionDate: \"2026-05-01\", startDate: \"2026-06-01\" }) { placement { id version } } }", json!({ "f": family.id, "c": family.child_id }))
        .await;
    let second_id = second.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned();
    let version = second.data()["createPlacement"]["placement"]["version"].as_i64().unwrap();

    let r = app.gql(&aarhus.token, PLACEMENT, json!({ "i": { "id": second_id, "expectedVersion": version, "setting": "FOSTER_FAMILY", "startDate": "2026-05-15" } })).await;
    let p = &r.data()["correctPlacement"];
    assert_eq!(
        p["placement"],
        json!({ "setting": "FOSTER_FAMILY", "startDate": "2026-05-15", "version": version + 1 })
    );

    // Moving the start into the first placement is refused on the field, and writes nothing.
    let changes = app.outbox_len().await;
    let overlap = app.gql(&aarhus.token, PLACEMENT, json!({ "i": { "id": second_id, "expectedVersion": version + 1, "decisionDate": "2026-03-01", "startDate": "2026-04-01" } })).await;
    assert_eq!(overlap.code(), "BAD_USER_INPUT", "{}", overlap.body);
    assert_eq!(app.outbox_len().await, changes);
    let before_decision = app
        .gql(
            &aarhus.token,
            PLACEMENT,
            json!({ "i": { "id": second_id, "expectedVersion": version + 1, "startDate": "2026-04-30" } }),
        )
        .await;
    assert_eq!((before_decision.code(), before_decision.field()), ("BAD_USER_INPUT", "input.startDate"));
}

const VISIT: &str = "mutation($i: CorrectContactVisitInput!) { correctContactVisit(input: $i) { changed contactVisit { plannedStart location supervision version } } }";

#[tokio::test]
async fn a_planned_visit_is_corrected_a_held_one_is_history() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let (_, placement) = placed(&app, &aarhus).await;
    let start = (Utc::now() + Duration::days(7)).date_naive().and_hms_opt(14, 0, 0).unwrap().and_utc();
    let v = app
        .gql(&aarhus.token, "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id version } } }",
            json!({ "p": placement, "s": start.to_rfc3339(), "e": (start + Duration::hours(2)).to_rfc3339() }))
        .await;
    let id = v.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned();
    let version = v.data()["planContactVisit"]["contactVisit"]["version"].as_i64().unwrap();

    let later = start + Duration::hours(1);
    let r = app.gql(&aarhus.token, VISIT, json!({ "i": { "id": id, "expectedVersion": version, "plannedStart": later.to_rfc3339(), "location": "Familiecentret" } })).await;
    let c = &r.data()["correctContactVisit"]["contactVisit"];
    assert_eq!((c["location"].as_str(), c["version"].as_i64()), (Some("Familiecentret"), Some(version + 1)));

    let unsupported = app
        .gql(
            &aarhus.token,
            VISIT,
            json!({ "i": { "id": id, "expectedVersion": version + 1, "supervision": "SUPERVISED" } }),
        )
        .await;
    assert_eq!(
        (unsupported.code(), unsupported.field()),
        ("BAD_USER_INPUT", "input.supervisorName"),
        "a supervised visit names its supervisor"
    );
    let backwards = app
        .gql(
            &aarhus.token,
            VISIT,
            json!({ "i": { "id": id, "expectedVersion": version + 1, "plannedEnd": start.to_rfc3339() } }),
        )
        .await;
    assert_eq!((backwards.code(), backwards.field()), ("BAD_USER_INPUT", "input.plannedEnd"));

    // A visit that has taken place is not corrected.
    let past = Utc::now() - Duration::hours(3);
    let held = app
        .gql(&aarhus.token, "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id } } }",
            json!({ "p": placement, "s": past.to_rfc3339(), "e": (past + Duration::hours(1)).to_rfc3339() }))
        .await;
    let held = held.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned();
    let r = app
        .gql(
            &aarhus.token,
            "mutation($v: ID!) { recordContactVisitHeld(input: { id: $v }) { contactVisit { version } } }",
            json!({ "v": held }),
        )
        .await;
    let held_version = r.data()["recordContactVisitHeld"]["contactVisit"]["version"].as_i64().unwrap();
    let r = app
        .gql(&aarhus.token, VISIT, json!({ "i": { "id": held, "expectedVersion": held_version, "location": "X" } }))
        .await;
    assert_eq!(r.code(), "CONFLICT");
}

#[tokio::test]
async fn a_goal_is_corrected_against_its_plans_version() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let (_, placement) = placed(&app, &aarhus).await;
    let plan = app
        .gql(&aarhus.token, "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 30, goals: [{ description: \"Come to visits\", purpose: IMPROVE_CONTACT }] }) { parentActionPlan { id version goals { edges { node { id } } } } } }", json!({ "p": placement }))
        .await;
    let plan = &plan.data()["createParentActionPlan"]["parentActionPlan"];
    let (goal, version) = (plan["goals"]["edges"][0]["node"]["id"].clone(), plan["version"].as_i64().unwrap());
    let correct = "mutation($i: CorrectGoalInput!) { correctGoal(input: $i) { changed goal { description purpose } } }";
    let r = app.gql(&aarhus.token, correct, json!({ "i": { "id": goal, "expectedPlanVersion": version, "description": "Come to every visit, on time" } })).await;
    assert_eq!(
        r.data()["correctGoal"]["goal"],
        json!({ "description": "Come to every visit, on time", "purpose": "IMPROVE_CONTACT" })
    );
    let stale = app
        .gql(
            &aarhus.token,
            correct,
            json!({ "i": { "id": goal, "expectedPlanVersion": version, "purpose": "RETURN_HOME" } }),
        )
        .await;
    assert_eq!(stale.code(), "CONFLICT", "the plan moved on to version {}", version + 1);
    let blank = app
        .gql(
            &aarhus.token,
            correct,
            json!({ "i": { "id": goal, "expectedPlanVersion": version + 1, "description": " " } }),
        )
        .await;
    assert_eq!((blank.code(), blank.field()), ("BAD_USER_INPUT", "input.description"));
}

const MEMBER: &str = "mutation($i: CorrectFamilyMemberInput!) { correctFamilyMember(input: $i) { changed member { role residenceMunicipality { name } } } }";

#[tokio::test]
async fn a_member_is_corrected_against_the_familys_version_and_the_placed_child_stays_the_child() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let (family, _) = placed(&app, &aarhus).await;
    let read = async || {
        let r = app
            .gql(
                &aarhus.token,
                "query($f: ID!) { family(id: $f) { version members { edges { node { id role } } } } }",
                json!({ "f": family.id }),
            )
            .await;
        let f = r.data()["family"].clone();
        let id = |role: &str| {
            f["members"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["role"] == role).unwrap()["node"]["id"]
                .clone()
        };
        (f["version"].as_i64().unwrap(), id("PARENT"), id("CHILD"))
    };
    let (version, parent, child) = read().await;
    let r = app.gql(&aarhus.token, MEMBER, json!({ "i": { "id": parent, "expectedFamilyVersion": version, "residenceMunicipalityId": randers.id.to_string() } })).await;
    assert_eq!(
        r.data()["correctFamilyMember"]["member"],
        json!({ "role": "PARENT", "residenceMunicipality": { "name": "Randers" } })
    );
    let (after, _, _) = read().await;
    assert_eq!(after, version + 1, "the family's version moves on");
    let r = app
        .gql(&aarhus.token, MEMBER, json!({ "i": { "id": child, "expectedFamilyVersion": after, "role": "SIBLING" } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.role"));
    let r = app
        .gql(
            &aarhus.token,
            MEMBER,
            json!({ "i": { "id": parent, "expectedFamilyVersion": version, "role": "PARTNER" } }),
        )
        .await;
    assert_eq!(r.code(), "CONFLICT");
}

#[tokio::test]
async fn a_persons_identifiers_are_replaced_and_a_national_id_stays_one_persons() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let create = "mutation($n: String!, $v: String!) { createPerson(input: { person: { givenName: $n, familyName: \"Hansen\", identifiers: [{ kind: NATIONAL_ID, system: \"DK-CPR\", value: $v }] } }) { person { id version } } }";
    let a = app.gql(&aarhus.token, create, json!({ "n": "A", "v": "0101901111" })).await;
    let a = a.data()["createPerson"]["person"].clone();
    let b = app.gql(&aarhus.token, create, json!({ "n": "B", "v": "0101902222" })).await;
    let b = b.data()["createPerson"]["person"].clone();
    let ids = |v: &str| json!([{ "kind": "NATIONAL_ID", "system": "DK-CPR", "value": v }, { "kind": "CASE_SYSTEM", "system": "Sag", "value": "P-17" }]);
    let r = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": a["id"], "expectedVersion": a["version"], "identifiers": ids("0101903333") } }),
        )
        .await;
    assert_eq!(r.data()["correctPerson"]["changed"], true);
    let found = app
        .gql(
            &aarhus.token,
            "{ personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101903333\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(found.data()["personByIdentifier"]["id"], a["id"]);
    let gone = app
        .gql(
            &aarhus.token,
            "{ personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101901111\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(gone.code(), "NOT_FOUND", "the old one is replaced");
    let taken = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": b["id"], "expectedVersion": b["version"], "identifiers": ids("0101903333") } }),
        )
        .await;
    assert_eq!(taken.code(), "CONFLICT");
    assert_eq!(taken.body["errors"][0]["extensions"]["existingId"], a["id"]);
    let twice =
        json!([{ "kind": "OTHER", "system": "X", "value": "1" }, { "kind": "OTHER", "system": "X", "value": "2" }]);
    let r = app
        .gql(
            &aarhus.token,
            PERSON,
            json!({ "i": { "id": b["id"], "expectedVersion": b["version"], "identifiers": twice } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.identifiers.1"));
}
