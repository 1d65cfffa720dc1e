//! Placements: a child's placements never overlap; cross-municipality placements are known.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{Org, SeededFamily, TestApp, spawn_app};

const CREATE: &str = "mutation($input: CreatePlacementInput!) { createPlacement(input: $input) { placement {
    id setting voluntary decisionDate startDate endDate endReason isCrossMunicipality
    child { givenName } placingMunicipality { name } provider { name } family { name } } } }";

fn input(family: &SeededFamily, start: &str, end: Option<&str>) -> Value {
    let mut input = json!({
        "familyId": family.id, "childId": family.child_id, "setting": "KINSHIP_CARE",
        "voluntary": true, "decisionDate": start, "startDate": start,
    });
    if let Some(end) = end {
        input["endDate"] = json!(end);
        input["endReason"] = json!("MOVED");
    }
    input
}

async fn placements_of(app: &TestApp, org: &Org, family: &SeededFamily) -> i64 {
    let r = app
        .gql(
            &org.token,
            "query($id: ID!) { family(id: $id) { placements { totalCount } } }",
            json!({ "id": family.id }),
        )
        .await;
    r.data()["family"]["placements"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn a_placement_is_recorded_for_a_child_of_the_family() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let provider = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let family = app.seed_family(&aarhus, None).await;
    let mut i = input(&family, "2026-01-15", Some("2026-06-01"));
    i["providerId"] = json!(provider.id.to_string());
    i["decisionDate"] = json!("2026-01-10");
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    let p = &r.data()["createPlacement"]["placement"];
    assert_eq!(p["setting"], "KINSHIP_CARE");
    assert_eq!(p["decisionDate"], "2026-01-10");
    assert_eq!(p["endDate"], "2026-06-01");
    assert_eq!(p["endReason"], "MOVED");
    assert_eq!(p["child"]["givenName"], "Emma");
    assert_eq!(p["placingMunicipality"]["name"], "Aarhus");
    assert_eq!(p["provider"]["name"], "Skovbrynet");
    assert_eq!(p["family"]["name"], "Hansen");
    assert_eq!(p["isCrossMunicipality"], false);
}

#[tokio::test]
async fn placements_of_one_child_never_overlap() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    app.gql(&aarhus.token, CREATE, json!({ "input": input(&family, "2026-01-15", Some("2026-06-01")) })).await.data();

    let r = app.gql(&aarhus.token, CREATE, json!({ "input": input(&family, "2026-05-01", None) })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.startDate"));
    assert!(r.message().contains("never overlap"), "{}", r.message());
    assert_eq!(placements_of(&app, &aarhus, &family).await, 1, "nothing was written");

    // A move on the day the first placement ends is no overlap.
    app.gql(&aarhus.token, CREATE, json!({ "input": input(&family, "2026-06-01", None) })).await.data();
    assert_eq!(placements_of(&app, &aarhus, &family).await, 2);
}

#[tokio::test]
async fn concurrent_overlapping_placements_of_one_child_are_never_both_recorded() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let attempts = (0..6).map(|i| {
        let body = json!({ "input": input(&family, &format!("2026-0{}-01", i + 1), None) });
        app.gql(&aarhus.token, CREATE, body)
    });
    let results = futures_util::future::join_all(attempts).await;
    let succeeded = results.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(succeeded, 1, "{:?}", results.iter().map(|r| &r.body).collect::<Vec<_>>());
    assert_eq!(placements_of(&app, &aarhus, &family).await, 1);
}

#[tokio::test]
async fn a_placement_of_someone_who_is_not_a_child_of_the_family_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let mut i = input(&family, "2026-01-15", None);
    i["childId"] = json!(family.parent_id);
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.childId"));
}

#[tokio::test]
async fn placement_dates_out_of_order_are_refused_with_the_field() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let mut i = input(&family, "2026-01-15", None);
    i["decisionDate"] = json!("2026-02-01");
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.startDate"));
    let mut i = input(&family, "2026-01-15", None);
    i["endDate"] = json!("2026-03-01");
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.endReason"));
    let mut i = input(&family, "2026-01-15", None);
    i["startDate"] = json!("2026-02-30");
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT");
    assert_eq!(placements_of(&app, &aarhus, &family).await, 0);
}

#[tokio::test]
async fn a_provider_that_is_not_a_placement_provider_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let family = app.seed_family(&aarhus, None).await;
    let mut i = input(&family, "2026-01-15", None);
    i["providerId"] = json!(randers.id.to_string());
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": i })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.providerId"));
}

#[tokio::test]
async fn a_placement_is_cross_municipality_when_a_parent_lives_in_another_municipality() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let family = app.seed_family(&aarhus, Some(randers.id)).await;
    let id = app.seed_placement(&aarhus, &family, "2026-03-01").await;
    let r = app
        .gql(&aarhus.token, "query($id: ID!) { placement(id: $id) { isCrossMunicipality } }", json!({ "id": id }))
        .await;
    assert_eq!(r.data()["placement"]["isCrossMunicipality"], true);
}

#[tokio::test]
async fn another_organisations_placement_is_not_found_and_cannot_be_written_to() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let family = app.seed_family(&aarhus, None).await;
    let id = app.seed_placement(&aarhus, &family, "2026-03-01").await;
    let r = app.gql(&randers.token, "query($id: ID!) { placement(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = app.gql(&randers.token, CREATE, json!({ "input": input(&family, "2027-01-01", None) })).await;
    assert_eq!(r.code(), "NOT_FOUND");
}

const UPSERT_PLACEMENT: &str = "mutation($input: UpsertPlacementInput!) { upsertPlacement(input: $input) { created changed placement { id version setting externalId } } }";

/// A case system sends its placements on every sync: the first records the placement, a
/// repeat changes nothing, a new setting updates it, and the case id stays one child's.
#[tokio::test]
async fn a_case_system_upserts_a_placement_by_its_case_id_without_duplicates() {
    let app = crate::support::spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let input = |setting: &str| {
        serde_json::json!({ "input": { "externalId": "ANB-1", "familyId": family.id, "childId": family.child_id,
            "setting": setting, "voluntary": true, "decisionDate": "2026-01-01", "startDate": "2026-01-05" } })
    };
    let outcome = |r: &crate::support::Gql| {
        let p = &r.data()["upsertPlacement"];
        (p["created"].as_bool().unwrap(), p["changed"].as_bool().unwrap(), p["placement"]["version"].as_i64().unwrap())
    };
    let first = app.gql(&aarhus.token, UPSERT_PLACEMENT, input("FOSTER_FAMILY")).await;
    assert_eq!(outcome(&first), (true, true, 1));
    let id = first.data()["upsertPlacement"]["placement"]["id"].clone();
    let again = app.gql(&aarhus.token, UPSERT_PLACEMENT, input("FOSTER_FAMILY")).await;
    assert_eq!(outcome(&again), (false, false, 1), "nothing written");
    let changed = app.gql(&aarhus.token, UPSERT_PLACEMENT, input("KINSHIP_CARE")).await;
    assert_eq!(outcome(&changed), (false, true, 2));
    assert_eq!(changed.data()["upsertPlacement"]["placement"]["id"], id);
    assert_eq!(changed.data()["upsertPlacement"]["placement"]["setting"], "KINSHIP_CARE");

    let other = app.seed_family(&aarhus, None).await;
    let mut elsewhere = input("KINSHIP_CARE");
    elsewhere["input"]["familyId"] = serde_json::json!(other.id);
    elsewhere["input"]["childId"] = serde_json::json!(other.child_id);
    let r = app.gql(&aarhus.token, UPSERT_PLACEMENT, elsewhere).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.childId"));
    let mut ended = input("KINSHIP_CARE");
    ended["input"]["endDate"] = serde_json::json!("2026-03-01");
    ended["input"]["endReason"] = serde_json::json!("RETURNED_HOME");
    let r = app.gql(&aarhus.token, UPSERT_PLACEMENT, ended).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.endDate"));
    // A second case id for the same child over the same days overlaps.
    let mut overlapping = input("FOSTER_FAMILY");
    overlapping["input"]["externalId"] = serde_json::json!("ANB-2");
    assert_eq!(app.gql(&aarhus.token, UPSERT_PLACEMENT, overlapping).await.code(), "BAD_USER_INPUT");
}
