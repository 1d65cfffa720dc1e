//! Families and members: created by their municipality, invisible to every other.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::json;

use crate::support::{spawn_app, spawn_app_with, uuid_of};

const CREATE: &str =
    "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id name externalId version } } }";

#[tokio::test]
async fn a_municipality_creates_a_family_with_members_and_reads_it_back() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let r = app
        .gql(
            &aarhus.token,
            CREATE,
            json!({ "input": {
                "externalId": "SAG-1", "name": "Hansen",
                "members": [
                    { "person": { "givenName": "Emma", "familyName": "Hansen", "birthDate": "2016-04-12",
                                  "identifiers": [{ "kind": "NATIONAL_ID", "system": "DK-CPR", "value": "1204161234" }] },
                      "role": "CHILD" },
                    { "person": { "givenName": "Jonas", "familyName": "Berg" }, "role": "OTHER_PARENT",
                      "residenceMunicipalityId": randers.id.to_string() },
                ]
            }}),
        )
        .await;
    let family = &r.data()["createFamily"]["family"];
    assert_eq!(family["name"], "Hansen");
    assert_eq!(family["externalId"], "SAG-1");
    assert_eq!(family["version"], 1);
    let id = family["id"].as_str().unwrap();
    assert!(id.starts_with("fam_"));

    let r = app
        .gql(
            &aarhus.token,
            "query($id: ID!) { family(id: $id) { responsibleMunicipality { name } members { totalCount edges { node {
                role residenceMunicipality { name } person { givenName birthDate identifiers { kind system value } } } } } } }",
            json!({ "id": id }),
        )
        .await;
    let family = &r.data()["family"];
    assert_eq!(family["responsibleMunicipality"]["name"], "Aarhus");
    assert_eq!(family["members"]["totalCount"], 2);
    let child = &family["members"]["edges"][0]["node"];
    assert_eq!(child["role"], "CHILD");
    assert_eq!(child["person"]["birthDate"], "2016-04-12");
    assert_eq!(
        child["person"]["identifiers"],
        json!([{ "kind": "NATIONAL_ID", "system": "DK-CPR", "value": "1204161234" }])
    );
    assert_eq!(family["members"]["edges"][1]["node"]["residenceMunicipality"]["name"], "Randers");
}

#[tokio::test]
async fn another_organisations_family_is_not_found_and_never_counted() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let family = app.seed_family(&aarhus, None).await;

    let r =
        app.gql(&randers.token, "query($id: ID!) { family(id: $id) { id name } }", json!({ "id": family.id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    assert_eq!(r.body["data"]["family"], serde_json::Value::Null);
    assert_eq!(app.family_count(&randers).await, 0);
    assert_eq!(app.family_count(&aarhus).await, 1);

    let r = app
        .gql(&randers.token, "query($id: ID!) { person(id: $id) { givenName } }", json!({ "id": family.child_id }))
        .await;
    assert_eq!(r.code(), "NOT_FOUND");
}

#[tokio::test]
async fn a_not_found_on_one_field_leaves_the_others_answered() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let r = app
        .gql(
            &aarhus.token,
            "query($id: ID!) { family(id: $id) { id } viewer { subject } }",
            json!({ "id": kinbridge_domain::ids::FamilyId::new().to_string() }),
        )
        .await;
    assert_eq!(r.code(), "NOT_FOUND");
    assert_eq!(r.body["data"]["viewer"]["subject"], "test-caseworker");
}

#[tokio::test]
async fn a_parent_without_a_residence_municipality_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let outbox_before = app.outbox_len().await;
    let r = app
        .gql(
            &aarhus.token,
            CREATE,
            json!({ "input": { "name": "Hansen", "members": [
                { "person": { "givenName": "Emma", "familyName": "Hansen" }, "role": "CHILD" },
                { "person": { "givenName": "Mette", "familyName": "Hansen" }, "role": "PARENT" },
            ]}}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field(), "input.members.1.residenceMunicipalityId");
    assert_eq!(app.family_count(&aarhus).await, 0);
    assert_eq!(app.outbox_len().await, outbox_before);
}

#[tokio::test]
async fn a_residence_municipality_that_is_not_a_municipality_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let provider = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let outbox_before = app.outbox_len().await;
    let r = app
        .gql(
            &aarhus.token,
            CREATE,
            json!({ "input": { "name": "Hansen", "members": [
                { "person": { "givenName": "Emma", "familyName": "Hansen" }, "role": "CHILD" },
                { "person": { "givenName": "Mette", "familyName": "Hansen" }, "role": "PARENT", "residenceMunicipalityId": provider.id.to_string() },
            ]}}),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field(), "input.members.1.residenceMunicipalityId");
    // The family and the first member were inserted before the check failed; the
    // transaction took them back.
    assert_eq!(app.family_count(&aarhus).await, 0);
    assert_eq!(app.outbox_len().await, outbox_before);
}

#[tokio::test]
async fn blank_and_overlong_names_are_refused_with_the_field() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "   " } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.name"));
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "x".repeat(201) } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.name"));
    let r = app
        .gql(&aarhus.token, CREATE, json!({ "input": { "name": "Hansen", "members": [{ "role": "CHILD" }] } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.members.0.person"));
    let r = app
        .gql(
            &aarhus.token,
            CREATE,
            json!({ "input": { "name": "Hansen", "members": [{ "role": "CHILD", "person": { "givenName": "A", "familyName": "B", "birthDate": "2999-01-01" } }] } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.members.0.person.birthDate"));
    assert_eq!(app.family_count(&aarhus).await, 0);
}

#[tokio::test]
async fn a_second_family_with_the_same_external_id_is_a_conflict_naming_the_first() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let first = app.gql(&aarhus.token, CREATE, json!({ "input": { "externalId": "SAG-7", "name": "Hansen" } })).await;
    let first_id = first.data()["createFamily"]["family"]["id"].as_str().unwrap().to_owned();
    let again = app.gql(&aarhus.token, CREATE, json!({ "input": { "externalId": "SAG-7", "name": "Hansen" } })).await;
    assert_eq!(again.code(), "CONFLICT");
    assert_eq!(again.body["errors"][0]["extensions"]["existingId"], first_id);
    assert_eq!(app.family_count(&aarhus).await, 1);
    // Another municipality may use the same case id.
    let randers = app.municipality("Randers").await;
    app.gql(&randers.token, CREATE, json!({ "input": { "externalId": "SAG-7", "name": "Berg" } })).await.data();
}

#[tokio::test]
async fn only_a_municipality_registers_families() {
    let app = spawn_app().await;
    let provider = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let r = app.gql(&provider.token, CREATE, json!({ "input": { "name": "Hansen" } })).await;
    assert_eq!(r.code(), "FORBIDDEN");
}

#[tokio::test]
async fn a_member_is_added_to_a_family_and_twice_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let add = "mutation($input: AddFamilyMemberInput!) { addFamilyMember(input: $input) { member { role person { givenName } } family { members { totalCount } } } }";
    let r = app
        .gql(&aarhus.token, add, json!({ "input": { "familyId": family.id, "member": { "role": "KEY_PERSON", "person": { "givenName": "Lise", "familyName": "Holm" } } } }))
        .await;
    assert_eq!(r.data()["addFamilyMember"]["member"]["person"]["givenName"], "Lise");
    assert_eq!(r.data()["addFamilyMember"]["family"]["members"]["totalCount"], 3);
    let r = app
        .gql(
            &aarhus.token,
            add,
            json!({ "input": { "familyId": family.id, "member": { "role": "SIBLING", "personId": family.child_id } } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.member.personId"));
}

#[tokio::test]
async fn families_are_paged_by_cursor_forwards_and_backwards() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": format!("Family {i}") } })).await;
        ids.push(r.data()["createFamily"]["family"]["id"].as_str().unwrap().to_owned());
    }
    let page = "query($first: Int, $after: String, $last: Int, $before: String) {
        families(first: $first, after: $after, last: $last, before: $before) {
            totalCount pageInfo { hasNextPage hasPreviousPage endCursor startCursor } edges { node { id } } } }";
    let r = app.gql(&aarhus.token, page, json!({ "first": 2 })).await;
    let f = &r.data()["families"];
    assert_eq!(f["totalCount"], 5);
    assert_eq!(f["pageInfo"]["hasNextPage"], true);
    assert_eq!(
        f["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect::<Vec<_>>(),
        ids[..2]
    );
    let r = app.gql(&aarhus.token, page, json!({ "first": 10, "after": f["pageInfo"]["endCursor"] })).await;
    let f = &r.data()["families"];
    assert_eq!(f["pageInfo"]["hasNextPage"], false);
    assert_eq!(f["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(f["edges"].as_array().unwrap().len(), 3);
    let r = app.gql(&aarhus.token, page, json!({ "last": 2, "before": ids[4] })).await;
    let f = &r.data()["families"];
    assert_eq!(
        f["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect::<Vec<_>>(),
        ids[2..4]
    );
    assert_eq!(f["pageInfo"]["hasPreviousPage"], true);
    let r = app.gql(&aarhus.token, page, json!({ "first": 1, "last": 1 })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "last"));
    let r = app.gql(&aarhus.token, page, json!({ "first": 101 })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "first"));
}

#[tokio::test]
async fn a_write_leaves_an_audit_event_and_a_change_feed_row() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let events = app.store.audit_events_for_record(uuid_of(&family.id)).await.unwrap();
    let writes: Vec<_> = events.iter().filter(|e| e.operation != "read").collect();
    assert_eq!(writes.len(), 1);
    let events = writes;
    assert_eq!(events[0].operation, "createFamily");
    assert_eq!(events[0].subject, "test-caseworker");
    assert_eq!(events[0].organization_id, aarhus.id);
    assert_eq!(events[0].roles, "CASEWORKER");
    let feed = app.store.outbox_after(0, 100).await.unwrap();
    let row = feed.iter().find(|r| r.aggregate_id == uuid_of(&family.id)).expect("the family's change is in the feed");
    assert_eq!(row.event_type, "family.created");
    assert!(!row.payload.to_string().contains("Hansen"), "the change feed carries no personal data: {}", row.payload);
}

#[tokio::test]
async fn the_demo_data_answers_the_first_query() {
    let app = spawn_app_with(true).await;
    let first = app
        .store
        .organization_by_code(OrganizationKind::Municipality, kinbridge_server::demo::FIRST_MUNICIPALITY_CODE)
        .await
        .unwrap()
        .unwrap();
    let token = app.token(first.id, &["CASEWORKER"]);
    let r = app
        .gql(&token, "{ families { totalCount edges { node { name placements { edges { node { isCrossMunicipality contactVisits { totalCount } } } } } } } }", json!({}))
        .await;
    let families = &r.data()["families"];
    assert_eq!(families["totalCount"], 3);
    let hansen = &families["edges"][0]["node"];
    assert_eq!(hansen["name"], "Hansen");
    assert_eq!(hansen["placements"]["edges"][0]["node"]["isCrossMunicipality"], true);
    assert_eq!(hansen["placements"]["edges"][0]["node"]["contactVisits"]["totalCount"], 4);
}

#[tokio::test]
async fn the_readme_query_answers_from_the_demo_data() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let body = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("-d '").and_then(|rest| rest.strip_suffix('\'')))
        .expect("the README shows a first query as `-d '{...}'`");
    let request: serde_json::Value = serde_json::from_str(body).expect("the README's query is JSON");
    let app = spawn_app_with(true).await;
    let first = app
        .store
        .organization_by_code(OrganizationKind::Municipality, kinbridge_server::demo::FIRST_MUNICIPALITY_CODE)
        .await
        .unwrap()
        .unwrap();
    let token = app.token(first.id, &["CASEWORKER"]);
    let r = app.gql(&token, request["query"].as_str().unwrap(), json!({})).await;
    assert_eq!(r.data()["families"]["totalCount"], 3);
    assert_eq!(r.data()["viewer"]["organization"]["name"], "Aarhus Kommune");
}

#[tokio::test]
async fn a_national_id_is_found_by_exact_match_only_and_only_by_the_owning_organisation() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let r = app
        .gql(
            &aarhus.token,
            "mutation { createPerson(input: { person: { givenName: \"Mette\", familyName: \"Hansen\", identifiers: [{ kind: NATIONAL_ID, system: \"DK-CPR\", value: \"1204891234\" }] } }) { person { id } } }",
            json!({}),
        )
        .await;
    let id = r.data()["createPerson"]["person"]["id"].clone();
    let q = "query($v: String!) { personByIdentifier(kind: NATIONAL_ID, system: \"DK-CPR\", value: $v) { id } }";
    assert_eq!(app.gql(&aarhus.token, q, json!({ "v": "1204891234" })).await.data()["personByIdentifier"]["id"], id);
    for partial in ["120489", "1204891234%", "%1234", "120489123", "12048912345"] {
        assert_eq!(app.gql(&aarhus.token, q, json!({ "v": partial })).await.code(), "NOT_FOUND", "{partial}");
    }
    let randers = app.municipality("Randers").await;
    assert_eq!(app.gql(&randers.token, q, json!({ "v": "1204891234" })).await.code(), "NOT_FOUND");
}

#[tokio::test]
async fn a_referred_provider_sees_the_parent_but_not_the_national_id() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let r = app
        .gql(
            &aarhus.token,
            CREATE,
            json!({ "input": { "name": "Hansen", "members": [{ "role": "PARENT", "residenceMunicipalityId": aarhus.id.to_string(),
                "person": { "givenName": "Mette", "familyName": "Hansen", "identifiers": [{ "kind": "NATIONAL_ID", "system": "DK-CPR", "value": "1204891234" }] } }] } }),
        )
        .await;
    let family = r.data()["createFamily"]["family"]["id"].clone();
    app.gql(&aarhus.token, "mutation($f: ID!, $p: ID!) { createReferral(input: { familyId: $f, providerId: $p, startsOn: \"2020-01-01\" }) { referral { id } } }", json!({ "f": family, "p": fsp.id.to_string() }))
        .await
        .data();
    let q = "query($f: ID!) { family(id: $f) { members { edges { node { person { givenName identifiers { value } } } } } } }";
    let r = app.gql(&fsp.token, q, json!({ "f": family })).await;
    assert_eq!(
        r.data()["family"]["members"]["edges"][0]["node"]["person"],
        json!({ "givenName": "Mette", "identifiers": [] })
    );
    let r = app.gql(&aarhus.token, q, json!({ "f": family })).await;
    assert_eq!(
        r.data()["family"]["members"]["edges"][0]["node"]["person"]["identifiers"],
        json!([{ "value": "1204891234" }])
    );
}

/// A case system finds its own records by the case ids it gave them, and only its own.
#[tokio::test]
async fn a_case_system_finds_its_family_placement_and_visit_by_case_id() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let site = app
        .org(kinbridge_domain::organization::OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"])
        .await;
    let family = app
        .gql(&aarhus.token, "mutation { createFamily(input: { name: \"Hansen\", externalId: \"SAG-7\", members: [{ role: CHILD, person: { givenName: \"Emma\", familyName: \"Hansen\" } }] }) { family { id members { edges { node { person { id } } } } } } }", json!({}))
        .await;
    let family_id = family.data()["createFamily"]["family"]["id"].as_str().unwrap().to_owned();
    let child = family.data()["createFamily"]["family"]["members"]["edges"][0]["node"]["person"]["id"].clone();
    let placement = app
        .gql(&aarhus.token, "mutation($f: ID!, $c: ID!, $p: ID!) { createPlacement(input: { familyId: $f, childId: $c, providerId: $p, externalId: \"ANB-7\", setting: FOSTER_FAMILY, voluntary: true, decisionDate: \"2026-01-01\", startDate: \"2026-01-02\" }) { placement { id } } }",
            json!({ "f": family_id, "c": child, "p": site.id.to_string() }))
        .await;
    let placement_id = placement.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned();
    let visit = app
        .gql(&aarhus.token, "mutation($p: ID!) { planContactVisit(input: { placementId: $p, externalId: \"SAM-7\", plannedStart: \"2026-12-20T10:00:00Z\", plannedEnd: \"2026-12-20T11:00:00Z\", supervision: UNSUPERVISED }) { contactVisit { id } } }",
            json!({ "p": placement_id }))
        .await;
    let visit_id = visit.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned();

    let lookups = "query($f: String!, $p: String!, $v: String!) { familyByExternalId(externalId: $f) { id externalId } placementByExternalId(externalId: $p) { id } contactVisitByExternalId(externalId: $v) { id } }";
    let r = app.gql(&aarhus.token, lookups, json!({ "f": "SAG-7", "p": "ANB-7", "v": "SAM-7" })).await;
    assert_eq!(r.data()["familyByExternalId"]["id"], family_id.as_str());
    assert_eq!(r.data()["familyByExternalId"]["externalId"], "SAG-7");
    assert_eq!(r.data()["placementByExternalId"]["id"], placement_id.as_str());
    assert_eq!(r.data()["contactVisitByExternalId"]["id"], visit_id.as_str());

    // Another municipality's case ids are not the caller's: not found, as unknown ones are.
    let r = app.gql(&randers.token, lookups, json!({ "f": "SAG-7", "p": "ANB-7", "v": "SAM-7" })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    assert_eq!(
        r.body["data"],
        json!({ "familyByExternalId": null, "placementByExternalId": null, "contactVisitByExternalId": null })
    );
    let r = app.gql(&aarhus.token, "{ familyByExternalId(externalId: \"SAG-8\") { id } }", json!({})).await;
    assert_eq!(r.code(), "NOT_FOUND");
    // What could never be a case id is named.
    let r = app
        .gql(
            &aarhus.token,
            "query($f: String!) { familyByExternalId(externalId: $f) { id } }",
            json!({ "f": "SAG\u{0}7" }),
        )
        .await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(r.field(), "externalId");
}
