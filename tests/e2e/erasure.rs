//! Retention and erasure: what the policy makes due is listed, then erased; an erased
//! person's data reads nowhere, while the records, the audit trail and the change feed
//! keep their references; a person's own request is honoured unless a retention duty
//! stands against it.

use serde_json::{Value, json};

use crate::support::{Org, TestApp, spawn_app};

/// Words that appear only in the personal fields of the aged family.
const SECRETS: &[&str] = &[
    "Sekretsen",
    "Ingrid",
    "Lucas",
    "0101709999",
    "Kastanjevej",
    "influenza",
    "depression",
    "Sundays",
    "Solvej",
    "moster",
    "CASE-OLD-77",
];

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.gql(token, query, variables).await.data().clone()
}

/// A family whose only placement ended in 2019, with something personal in every field
/// that can hold it; returns the family's and the parent's ids.
async fn aged_family(app: &TestApp, aarhus: &Org) -> (String, String) {
    let family = ok(
        app,
        &aarhus.token,
        "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id members { edges { node { role person { id } } } } } } }",
        json!({ "input": { "name": "Sekretsen", "members": [
            { "person": { "givenName": "Lucas", "familyName": "Sekretsen", "birthDate": "2008-03-01" }, "role": "CHILD" },
            { "person": { "givenName": "Ingrid", "familyName": "Sekretsen", "birthDate": "1980-05-05",
                "identifiers": [{ "kind": "NATIONAL_ID", "system": "DK-CPR", "value": "0101709999" }] },
              "role": "PARENT", "residenceMunicipalityId": aarhus.id.to_string() },
        ] } }),
    )
    .await;
    let f = &family["createFamily"]["family"];
    let id = f["id"].as_str().unwrap().to_owned();
    let member = |role: &str| {
        f["members"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["role"] == role).unwrap()["node"]["person"]
            ["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (child, parent) = (member("CHILD"), member("PARENT"));
    let placement = ok(
        app,
        &aarhus.token,
        "mutation($f: ID!, $c: ID!) { createPlacement(input: { familyId: $f, childId: $c, externalId: \"CASE-OLD-77\", setting: FOSTER_FAMILY, voluntary: true,
            decisionDate: \"2015-01-05\", startDate: \"2015-02-01\", endDate: \"2019-06-30\", endReason: RETURNED_HOME }) { placement { id } } }",
        json!({ "f": id, "c": child }),
    )
    .await["createPlacement"]["placement"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let visit = ok(
        app,
        &aarhus.token,
        "mutation($p: ID!) { planContactVisit(input: { placementId: $p, plannedStart: \"2016-05-01T10:00:00Z\", plannedEnd: \"2016-05-01T12:00:00Z\",
            location: \"Kastanjevej 7\", supervision: UNSUPERVISED }) { contactVisit { id version } } }",
        json!({ "p": placement }),
    )
    .await["planContactVisit"]["contactVisit"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        app,
        &aarhus.token,
        "mutation($v: ID!) { cancelContactVisit(input: { id: $v, cancelledBy: PARENT, reason: \"Mother has influenza\", cancelledAt: \"2016-04-30T08:00:00Z\" }) { contactVisit { id } } }",
        json!({ "v": visit }),
    )
    .await;
    ok(
        app,
        &aarhus.token,
        "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 90,
            goals: [{ description: \"See Lucas on Sundays\", purpose: IMPROVE_CONTACT }] }) { parentActionPlan { id } } }",
        json!({ "p": placement }),
    )
    .await;
    ok(
        app,
        &aarhus.token,
        "mutation($c: ID!) { recordParentalSupportNote(input: { clientId: $c, notedOn: \"2016-06-01\", text: \"Talked about her depression\" }) { client { id } } }",
        json!({ "c": parent }),
    )
    .await;
    ok(
        app,
        &aarhus.token,
        "mutation($f: ID!) { addNetworkMapEntry(input: { familyId: $f, person: { givenName: \"Solvej\", familyName: \"Berg\" }, relationship: \"moster\",
            help: CHILDCARE, description: \"Solvej takes the boy on Fridays\", since: \"2016-01-01\" }) { networkMapEntry { id } } }",
        json!({ "f": id }),
    )
    .await;
    (id, parent)
}

/// Everything a caseworker can read about a family, and the parent's subject report.
async fn everything(app: &TestApp, aarhus: &Org, family: &str, parent: &str) -> String {
    let family_q = "query($f: ID!) { family(id: $f) { name externalId members { edges { node { role person { givenName familyName birthDate
        identifiers { kind system value } parentalSupportNotes { edges { node { text } } } } } } }
        networkMap { edges { node { relationship description person { givenName familyName } } } }
        placements { edges { node { externalId child { givenName familyName } contactVisits { edges { node { location cancellation { reason } observations } } }
            parentActionPlans { edges { node { childPlanReference goals { edges { node { description } } } } } } } } }
        timeline(first: 100) { edges { node { kind detail } } } } }";
    let mut out = app.gql(&aarhus.token, family_q, json!({ "f": family })).await.body.to_string();
    let lists = "{ families(first: 100) { edges { node { name } } } placements(first: 100) { edges { node { externalId child { givenName } } } }
        contactVisits(first: 100) { edges { node { location cancellation { reason } } } } }";
    out.push_str(&app.gql(&aarhus.token, lists, json!({})).await.body.to_string());
    let by_id = "{ personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101709999\") { givenName } }";
    out.push_str(&app.gql(&aarhus.token, by_id, json!({})).await.body.to_string());
    let dpo = app.token(aarhus.id, &["DATA_PROTECTION_OFFICER"]);
    out.push_str(
        &app.gql(&dpo, "query($p: ID!) { subjectReport(personId: $p) }", json!({ "p": parent })).await.body.to_string(),
    );
    out
}

async fn retention(app: &TestApp, mode: &str) -> String {
    let argv =
        ["kinbridge", "retention", "--database-url", &app.database_url, mode, "--decided-by", "ops@aarhus.example"];
    let clap::error::Result::Ok(cli) = <kinbridge_server::Cli as clap::Parser>::try_parse_from(argv) else {
        panic!("kinbridge retention {mode} parses");
    };
    let kinbridge_server::Command::Retention(args) = cli.command else { panic!("the retention command") };
    kinbridge_server::retention(args).await.unwrap()
}

#[tokio::test]
async fn retention_erases_an_aged_family_so_that_nothing_personal_reads_and_the_trail_stays() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let (family, parent) = aged_family(&app, &aarhus).await;
    let current = app.seed_family(&aarhus, None).await;
    app.seed_placement(&aarhus, &current, "2026-01-10").await;

    let before = everything(&app, &aarhus, &family, &parent).await;
    for secret in SECRETS {
        assert!(before.contains(secret), "the aged family shows {secret} before: {before}");
    }
    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let log = "query($p: ID!) { accessLog(personId: $p) { totalCount } }";
    let reads_before =
        app.gql(&auditor, log, json!({ "p": parent })).await.data()["accessLog"]["totalCount"].as_u64().unwrap();

    // The walk of the whole schema (below) finds them before.
    let dpo = app.token(aarhus.id, &["DATA_PROTECTION_OFFICER"]);
    let callers = [("aarhus", aarhus.token.clone()), ("aarhus-dpo", dpo)];
    let (_, answers, _) = crate::walk::walk(&app, &callers, 4).await;
    let shown: String = answers.iter().map(|(_, data)| data.to_string()).collect();
    for secret in ["Sekretsen", "Kastanjevej", "influenza", "depression", "Sundays", "Solvej", "CASE-OLD-77"] {
        assert!(shown.contains(secret), "the walk shows {secret} before erasure");
    }

    // A dry run lists the aged family, not the current one, and changes nothing.
    let changes = app.outbox_len().await;
    let listed = retention(&app, "--dry-run").await;
    assert!(listed.contains(&format!("due: Family {family}")), "{listed}");
    assert!(!listed.contains(&current.id), "a family with an open placement is kept: {listed}");
    assert!(listed.contains("1 due"), "{listed}");
    assert_eq!(app.outbox_len().await, changes, "a dry run writes nothing");
    assert!(everything(&app, &aarhus, &family, &parent).await.contains("Sekretsen"));

    let applied = retention(&app, "--apply").await;
    assert!(applied.contains(&format!("erased: Family {family}")), "{applied}");
    let after = everything(&app, &aarhus, &family, &parent).await;
    for secret in SECRETS {
        assert!(!after.contains(secret), "{secret} still reads after erasure: {after}");
    }
    assert!(after.contains("[erased]"), "{after}");
    // The records and their shape stay: the placement, its dates, the visit's status.
    let shape = ok(
        &app,
        &aarhus.token,
        "query($f: ID!) { family(id: $f) { placements { edges { node { startDate endDate contactVisits { edges { node { status } } } } } } } }",
        json!({ "f": family }),
    )
    .await;
    assert_eq!(shape["family"]["placements"]["edges"][0]["node"]["endDate"], "2019-06-30");
    assert_eq!(
        shape["family"]["placements"]["edges"][0]["node"]["contactVisits"]["edges"][0]["node"]["status"],
        "CANCELLED"
    );

    // The trail is intact: every earlier read is still in the parent's log, and the
    // erasure is in it too; the feed tells connected systems.
    let reads_after =
        app.gql(&auditor, log, json!({ "p": parent })).await.data()["accessLog"]["totalCount"].as_u64().unwrap();
    assert!(reads_after > reads_before, "{reads_after} events after, {reads_before} before");
    let events: Vec<String> =
        app.store.outbox_after(0, 10_000).await.unwrap().into_iter().map(|c| c.event_type).collect();
    assert!(
        events.contains(&"family.erased".to_owned()) && events.iter().filter(|e| *e == "person.erased").count() >= 3,
        "{events:?}"
    );

    // Nothing of it reads through any query of the schema either: the walk asks every
    // root field, with everything below it, as the caseworker and the DPO.
    let (_, answers, _) = crate::walk::walk(&app, &callers, 4).await;
    assert!(answers.len() > 100, "{} queries", answers.len());
    for (request, data) in &answers {
        let text = data.to_string();
        for secret in SECRETS {
            assert!(!text.contains(secret), "{request} shows {secret} after erasure: {text}");
        }
    }

    // Run again: nothing more is due.
    assert!(retention(&app, "--apply").await.contains("0 erased"));
    assert!(retention(&app, "--dry-run").await.contains("0 due"));
}

const ERASE: &str = "mutation($p: ID!, $k: String) { erasePerson(input: { personId: $p, reason: \"Asked in writing, 2026-11-30\", idempotencyKey: $k }) { personId erasedAt } }";

#[tokio::test]
async fn a_person_is_erased_on_request_unless_a_retention_duty_stands() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let dpo = app.token(aarhus.id, &["DATA_PROTECTION_OFFICER"]);
    let current = app.seed_family(&aarhus, None).await;
    app.seed_placement(&aarhus, &current, "2026-01-10").await;

    // The parent of a family with an open placement: the records must be kept.
    let changes = app.outbox_len().await;
    let r = app.gql(&dpo, ERASE, json!({ "p": current.parent_id })).await;
    assert_eq!(r.code(), "CONFLICT", "{}", r.body);
    assert!(r.body.to_string().contains("retention duty"), "{}", r.body);
    assert_eq!(app.outbox_len().await, changes, "a refused erasure writes nothing");

    // Only the data-protection officer decides, and a reason is recorded.
    let person = ok(
        &app,
        &aarhus.token,
        "mutation { createPerson(input: { person: { givenName: \"Bodil\", familyName: \"Hemmelig\", birthDate: \"1970-01-01\",
            identifiers: [{ kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101701111\" }] } }) { person { id } } }",
        json!({}),
    )
    .await["createPerson"]["person"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [&aarhus.token, &app.token(aarhus.id, &["AUDITOR"])] {
        let r = app.gql(token, ERASE, json!({ "p": person })).await;
        assert_eq!(r.code(), "FORBIDDEN", "{}", r.body);
    }
    let r = app
        .gql(
            &dpo,
            "mutation($p: ID!) { erasePerson(input: { personId: $p, reason: \" \" }) { personId } }",
            json!({ "p": person }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.reason"), "{}", r.body);
    let other = app.municipality("Odder").await;
    let r = app.gql(&app.token(other.id, &["DATA_PROTECTION_OFFICER"]), ERASE, json!({ "p": person })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);

    // A person in no family: erased, and a retry with the key answers the same.
    let first = ok(&app, &dpo, ERASE, json!({ "p": person, "k": "erase-bodil" })).await;
    assert_eq!(first["erasePerson"]["personId"], person.as_str());
    assert_eq!(ok(&app, &dpo, ERASE, json!({ "p": person, "k": "erase-bodil" })).await, first);
    let read = ok(
        &app,
        &aarhus.token,
        "query($p: ID!) { person(id: $p) { givenName familyName birthDate identifiers { value } } }",
        json!({ "p": person }),
    )
    .await;
    assert_eq!(
        read["person"],
        json!({ "givenName": "[erased]", "familyName": "[erased]", "birthDate": null, "identifiers": [] })
    );
    let r = app
        .gql(
            &aarhus.token,
            "{ personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101701111\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
    let r = app.gql(&dpo, ERASE, json!({ "p": person, "k": "erase-bodil-again" })).await;
    assert_eq!(r.code(), "CONFLICT", "erased already: {}", r.body);
    let log = app.store.full_access_log(person.parse().unwrap()).await.unwrap();
    assert!(
        log.iter().any(|e| e.operation == "erasePerson" && e.roles == "DATA_PROTECTION_OFFICER"),
        "who decided is in the trail"
    );
}

#[tokio::test]
async fn simultaneous_erasures_of_one_person_erase_once_and_the_rest_are_conflicts() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let dpo = app.token(aarhus.id, &["DATA_PROTECTION_OFFICER"]);
    let person = ok(
        &app,
        &aarhus.token,
        "mutation { createPerson(input: { person: { givenName: \"A\", familyName: \"B\" } }) { person { id } } }",
        json!({}),
    )
    .await["createPerson"]["person"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = futures_util::future::join_all(
        (0..8).map(|i| app.gql(&dpo, ERASE, json!({ "p": person, "k": format!("erase-{i}") }))),
    )
    .await;
    let codes: Vec<&str> =
        answers.iter().map(|r| if r.body.get("errors").is_some() { r.code() } else { "ok" }).collect();
    assert_eq!(codes.iter().filter(|c| **c == "ok").count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == "ok" || *c == "CONFLICT"), "{codes:?}");
    // A retry of the request that erased, with its key, gets its answer; a refused
    // request stored nothing under its key, so its retry is judged anew (and refused).
    let winner = codes.iter().position(|c| *c == "ok").unwrap();
    let key = format!("erase-{winner}");
    let retries =
        futures_util::future::join_all((0..6).map(|_| app.gql(&dpo, ERASE, json!({ "p": person, "k": key })))).await;
    for r in retries {
        assert_eq!(r.body, answers[winner].body, "a retry gets the first answer");
    }
}

/// Two retention runs at once (two replicas' schedulers): each due family is erased once,
/// neither run fails.
#[tokio::test]
async fn simultaneous_retention_runs_erase_each_family_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let (family, _) = aged_family(&app, &aarhus).await;
    let runs = futures_util::future::join_all((0..4).map(|_| retention(&app, "--apply"))).await;
    let erased = runs.iter().filter(|out| out.contains(&format!("erased: Family {family}"))).count();
    assert_eq!(erased, 1, "{runs:?}");
    let events: Vec<String> =
        app.store.outbox_after(0, 10_000).await.unwrap().into_iter().map(|c| c.event_type).collect();
    assert_eq!(events.iter().filter(|e| *e == "family.erased").count(), 1, "{events:?}");
}
