//! The family's network map (000, 001): who in the parents' network helps and how,
//! recorded by the family's municipality, shown with the family, audited like the rest.

use futures_util::future::join_all;
use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, SeededFamily, TestApp, spawn_app};

const ADD: &str = "mutation($input: AddNetworkMapEntryInput!) { addNetworkMapEntry(input: $input) {
    networkMapEntry { id relationship help description since until isActive person { givenName } member { role } family { id } } } }";
const END: &str = "mutation($input: EndNetworkMapEntryInput!) { endNetworkMapEntry(input: $input) {
    networkMapEntry { id until isActive } } }";
const MAP: &str = "query($f: ID!) { family(id: $f) { networkMap { totalCount edges { node {
    id help description since until person { givenName } member { role } } } } } }";

fn neighbour(family: &SeededFamily, key: Option<&str>) -> Value {
    json!({ "input": {
        "familyId": family.id,
        "person": { "givenName": "Grethe", "familyName": "Larsen" },
        "relationship": "neighbour",
        "help": "CONTACT_VISITS",
        "description": "Drives Mette to the contact visits on Thursdays.",
        "since": "2026-09-01",
        "idempotencyKey": key,
    }})
}

/// Adds a grandmother to the family, and returns her person id.
async fn grandmother(app: &TestApp, aarhus: &Org, family: &SeededFamily) -> String {
    let r = app
        .gql(
            &aarhus.token,
            "mutation($f: ID!) { addFamilyMember(input: { familyId: $f, member: { role: GRANDPARENT,
                person: { givenName: \"Birthe\", familyName: \"Hansen\" } } }) { member { person { id } } } }",
            json!({ "f": family.id }),
        )
        .await;
    r.data()["addFamilyMember"]["member"]["person"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_municipality_maps_who_helps_and_a_referred_provider_reads_the_map() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let birthe = grandmother(&app, &aarhus, &family).await;

    // A member, named by her person id: the entry knows her place in the family.
    let r = app
        .gql(
            &aarhus.token,
            ADD,
            json!({ "input": { "familyId": family.id, "personId": birthe, "help": "CHILDCARE",
                "description": "Collects Emma from school on Thursdays.", "since": "2026-08-15" } }),
        )
        .await;
    let entry = &r.data()["addNetworkMapEntry"]["networkMapEntry"];
    assert_eq!(entry["member"]["role"], "GRANDPARENT");
    assert_eq!(entry["person"]["givenName"], "Birthe");
    assert_eq!(entry["since"], "2026-08-15");
    assert_eq!(entry["isActive"], true);
    assert_eq!(entry["family"]["id"], family.id.as_str());
    // Someone outside the family, registered with the entry.
    let r = app.gql(&aarhus.token, ADD, neighbour(&family, None)).await;
    let entry = &r.data()["addNetworkMapEntry"]["networkMapEntry"];
    assert_eq!(entry["member"], Value::Null);
    assert_eq!(entry["relationship"], "neighbour");
    let neighbour_entry = entry["id"].as_str().unwrap().to_owned();
    assert!(neighbour_entry.starts_with("net_"));

    let map = app.gql(&aarhus.token, MAP, json!({ "f": family.id })).await;
    let map = &map.data()["family"]["networkMap"];
    assert_eq!(map["totalCount"], 2);
    let helpers: Vec<_> =
        map["edges"].as_array().unwrap().iter().map(|e| e["node"]["person"]["givenName"].clone()).collect();
    assert_eq!(helpers, [json!("Birthe"), json!("Grethe")], "in the order recorded");

    // A provider the family is referred to sees the map, the neighbour included.
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    app.gql(
        &aarhus.token,
        "mutation($f: ID!, $p: ID!) { createReferral(input: { familyId: $f, providerId: $p, startsOn: \"2026-01-01\" }) { referral { id } } }",
        json!({ "f": family.id, "p": fsp.id.to_string() }),
    )
    .await
    .data();
    let seen = app.gql(&fsp.token, MAP, json!({ "f": family.id })).await;
    assert_eq!(seen.data()["family"]["networkMap"]["totalCount"], 2);
    assert_eq!(seen.data()["family"]["networkMap"]["edges"][1]["node"]["person"]["givenName"], "Grethe");
    let node = app
        .gql(
            &fsp.token,
            "query($id: ID!) { node(id: $id) { ... on NetworkMapEntry { description } } }",
            json!({ "id": neighbour_entry }),
        )
        .await;
    assert_eq!(node.data()["node"]["description"], "Drives Mette to the contact visits on Thursdays.");

    // The provider records nothing on it; others see nothing of it.
    let r = app.gql(&fsp.token, ADD, neighbour(&family, None)).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let odder = app.municipality("Odder").await;
    for outsider in [&site, &odder] {
        let r = app
            .gql(&outsider.token, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": neighbour_entry }))
            .await;
        assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
    }
}

#[tokio::test]
async fn ended_help_stays_on_the_map_with_its_end() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app.gql(&aarhus.token, ADD, neighbour(&family, None)).await;
    let id = r.data()["addNetworkMapEntry"]["networkMapEntry"]["id"].as_str().unwrap().to_owned();

    let r = app.gql(&aarhus.token, END, json!({ "input": { "id": id, "until": "2026-08-31" } })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "it started on 2026-09-01");
    assert_eq!(r.field(), "input.until");
    let r = app.gql(&aarhus.token, END, json!({ "input": { "id": id, "until": "2026-10-31" } })).await;
    let ended = &r.data()["endNetworkMapEntry"]["networkMapEntry"];
    assert_eq!(ended["until"], "2026-10-31");
    assert_eq!(ended["isActive"], false);
    let r = app.gql(&aarhus.token, END, json!({ "input": { "id": id, "until": "2026-11-01" } })).await;
    assert_eq!(r.code(), "CONFLICT", "it has ended already: {}", r.body);

    let map = app.gql(&aarhus.token, MAP, json!({ "f": family.id })).await;
    assert_eq!(map.data()["family"]["networkMap"]["totalCount"], 1);
    assert_eq!(map.data()["family"]["networkMap"]["edges"][0]["node"]["until"], "2026-10-31");
}

#[tokio::test]
async fn bad_input_names_its_field_and_records_nothing() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let other = app.seed_family(&aarhus, None).await;
    let members = app
        .gql(
            &aarhus.token,
            "query($f: ID!) { family(id: $f) { members { edges { node { id } } } } }",
            json!({ "f": other.id }),
        )
        .await;
    let stranger = members.data()["family"]["members"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let feed_before = app.outbox_len().await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string();
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "personId": family.parent_id, "memberId": stranger }), "input.memberId"),
        (json!({}), "input.memberId"),
        (json!({ "memberId": stranger }), "input.memberId"),
        (json!({ "memberId": "per_0190f4c2a1b2c3d4e5f6a7b8c9d0e1f2" }), "input.memberId"),
        (json!({ "personId": "per_01900000000070008000000000000000" }), "input.personId"),
        (json!({ "personId": family.parent_id, "since": tomorrow }), "input.since"),
        (json!({ "personId": family.parent_id, "description": " \n " }), "input.description"),
        (json!({ "personId": family.parent_id, "relationship": "x".repeat(201) }), "input.relationship"),
        (json!({ "person": { "givenName": "", "familyName": "L" } }), "input.person.givenName"),
    ];
    for (helper, field) in cases {
        let mut input = json!({ "familyId": family.id, "help": "PRACTICAL", "description": "Shops on Mondays", "since": "2026-09-01" });
        input.as_object_mut().unwrap().extend(helper.as_object().unwrap().clone());
        let r = app.gql(&aarhus.token, ADD, json!({ "input": input })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{input}: {}", r.body);
        assert_eq!(r.field(), field, "{input}");
    }
    assert_eq!(app.outbox_len().await, feed_before, "nothing was written");
    let map = app.gql(&aarhus.token, MAP, json!({ "f": family.id })).await;
    assert_eq!(map.data()["family"]["networkMap"]["totalCount"], 0);
}

#[tokio::test]
async fn the_helpers_access_log_lists_who_read_the_map() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app.gql(&aarhus.token, ADD, neighbour(&family, None)).await;
    let grethe = app
        .gql(
            &aarhus.token,
            "query($id: ID!) { node(id: $id) { ... on NetworkMapEntry { person { id } } } }",
            json!({ "id": r.data()["addNetworkMapEntry"]["networkMapEntry"]["id"] }),
        )
        .await;
    let grethe = grethe.data()["node"]["person"]["id"].as_str().unwrap().to_owned();
    app.gql(&aarhus.token, MAP, json!({ "f": family.id })).await.data();

    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let q = "query($p: ID!) { accessLog(personId: $p) { edges { node { operation recordType } } } }";
    for person in [&grethe, &family.parent_id] {
        let log = app.gql(&auditor, q, json!({ "p": person })).await;
        let log = log.data()["accessLog"]["edges"].as_array().unwrap().clone();
        let has = |operation: &str, record_type: &str| {
            log.iter().any(|e| e["node"]["operation"] == operation && e["node"]["recordType"] == record_type)
        };
        assert!(has("addNetworkMapEntry", "NetworkMapEntry"), "{person}: {log:?}");
        assert!(has("read", "NetworkMapEntry"), "{person}: {log:?}");
    }
}

#[tokio::test]
async fn concurrent_retries_record_one_entry_and_concurrent_ends_one_end() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let input = neighbour(&family, Some("network-1"));
    let results = join_all((0..12).map(|_| app.gql(&aarhus.token, ADD, input.clone()))).await;
    let first = results[0].data().clone();
    for r in &results {
        assert_eq!(r.data(), &first, "every retry gets the first answer");
    }
    let map = app.gql(&aarhus.token, MAP, json!({ "f": family.id })).await;
    assert_eq!(map.data()["family"]["networkMap"]["totalCount"], 1);

    let id = first["addNetworkMapEntry"]["networkMapEntry"]["id"].clone();
    let ends = join_all((0..8).map(|i| {
        let until = format!("2026-10-{:02}", i + 1);
        app.gql(&aarhus.token, END, json!({ "input": { "id": id, "until": until } }))
    }))
    .await;
    let ended = ends.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(ended, 1, "one end wins: {:?}", ends.iter().map(|r| &r.body).collect::<Vec<_>>());
    for r in ends.iter().filter(|r| r.body.get("errors").is_some()) {
        assert_eq!(r.code(), "CONFLICT", "{}", r.body);
    }
}
