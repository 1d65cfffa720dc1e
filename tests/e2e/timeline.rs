//! A family's timeline across agencies: one chronological connection, each entry shown
//! only if the caller may see the record behind it, counted and audited like every read.

use std::collections::BTreeSet;

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::audit::traced;
use crate::support::{TestApp, spawn_app, spawn_app_with};

const FAMILY: &str = "query($id: ID!, $first: Int, $last: Int, $after: String, $before: String, $from: DateTime, $until: DateTime, $kinds: [TimelineKind!]) {
    family(id: $id) { timeline(first: $first, last: $last, after: $after, before: $before, from: $from, until: $until, kinds: $kinds) {
        totalCount pageInfo { hasNextPage hasPreviousPage }
        edges { cursor node { occurredAt kind recordType recordId familyId placementId personId detail averageScore } } } } }";

const PLACEMENT: &str = "query($id: ID!) { placement(id: $id) { timeline(first: 100) { totalCount
    edges { node { occurredAt kind recordType recordId familyId placementId personId detail averageScore } } } } }";

fn entries(conn: &Value) -> Vec<Value> {
    conn["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn kinds(entries: &[Value]) -> BTreeSet<String> {
    entries.iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

/// The Hansens of the demo data, as Aarhus's caseworker sees them.
async fn hansen(app: &TestApp, token: &str) -> String {
    let r = app
        .gql(token, "{ families(filter: { externalId: \"AAR-2026-0001\" }) { edges { node { id } } } }", json!({}))
        .await;
    r.data()["families"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_municipality_sees_the_whole_story_in_order_and_a_placement_provider_its_placement_only() {
    let app = spawn_app_with(true).await;
    let aarhus = app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["CASEWORKER"]);
    let site =
        app.token(app.org_by_code(OrganizationKind::PlacementProvider, "PP-0751-01").await, &["PLACEMENT_STAFF"]);
    let family = hansen(&app, &aarhus).await;

    let body = traced(&app, &aarhus, "timeline-read", FAMILY, json!({ "id": family, "first": 100 })).await;
    let conn = &body["data"]["family"]["timeline"];
    let all = entries(conn);
    assert_eq!(conn["totalCount"].as_u64().unwrap() as usize, all.len(), "the count counts what is shown");
    let seen = kinds(&all);
    for kind in [
        "PLACEMENT_DECIDED",
        "PLACEMENT_STARTED",
        "REFERRAL_STARTED",
        "CONSENT_GIVEN",
        "SUPPORT_OFFERED",
        "SUPPORT_DECLINED",
        "VISIT_PLANNED",
        "VISIT_HELD",
        "VISIT_CANCELLED",
        "REVIEW_HELD",
    ] {
        assert!(seen.contains(kind), "the Hansens' timeline has {kind}: {seen:?}");
    }
    let times: Vec<&str> = all.iter().map(|e| e["occurredAt"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
    assert_eq!(times, sorted, "oldest first");
    let decided = all.iter().position(|e| e["kind"] == "PLACEMENT_DECIDED").unwrap();
    let started = all.iter().position(|e| e["kind"] == "PLACEMENT_STARTED").unwrap();
    assert!(decided < started, "a placement is decided before it starts");
    let cancelled = all.iter().find(|e| e["kind"] == "VISIT_CANCELLED").unwrap();
    assert!(
        ["PARENT", "CHILD", "PLACEMENT_PROVIDER", "MUNICIPALITY", "OTHER"]
            .contains(&cancelled["detail"].as_str().unwrap())
    );
    let review = all.iter().find(|e| e["kind"] == "REVIEW_HELD").unwrap();
    assert!(review["averageScore"].as_f64().is_some_and(|s| (1.0..=5.0).contains(&s)), "{review}");
    assert!(all.iter().all(|e| e["familyId"] == family.as_str()));
    // The demo's visits were recorded after they took place: each was planned no later
    // than it was held or cancelled, not on the day it was recorded.
    for held in all.iter().filter(|e| e["kind"] == "VISIT_HELD") {
        let planned = all
            .iter()
            .find(|e| e["kind"] == "VISIT_PLANNED" && e["recordId"] == held["recordId"])
            .unwrap_or_else(|| panic!("{held} was planned"));
        let at = |e: &Value| chrono::DateTime::parse_from_rfc3339(e["occurredAt"].as_str().unwrap()).unwrap();
        assert!(at(planned) <= at(held), "{planned} before {held}");
    }

    // Every entry is a read of the record behind it, in the trail.
    let audited: BTreeSet<(String, String)> = app
        .store
        .audit_events_for_request("timeline-read")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.record_type, e.record_id.simple().to_string()))
        .collect();
    for e in &all {
        let id = e["recordId"].as_str().unwrap().split_once('_').unwrap().1.to_owned();
        assert!(audited.contains(&(e["recordType"].as_str().unwrap().to_owned(), id)), "{e} is audited");
    }

    // The placement provider: the same events of its placement, and nothing else.
    let placement =
        all.iter().find(|e| e["kind"] == "PLACEMENT_STARTED").unwrap()["placementId"].as_str().unwrap().to_owned();
    let theirs = entries(
        &traced(&app, &site, "site-timeline", PLACEMENT, json!({ "id": placement })).await["data"]["placement"]["timeline"],
    );
    let expected: Vec<Value> = all
        .iter()
        .filter(|e| {
            e["placementId"] == placement.as_str()
                && ["Placement", "ContactVisit"].contains(&e["recordType"].as_str().unwrap())
        })
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(theirs, expected, "the provider sees its placement's events as the municipality does");
    let r = app.gql(&site, FAMILY, json!({ "id": family, "first": 10 })).await;
    assert_eq!(r.code(), "NOT_FOUND", "the family itself stays hidden from the site: {}", r.body);

    // The municipality's view of the placement holds the offers and reviews as well.
    let ours = entries(&app.gql(&aarhus, PLACEMENT, json!({ "id": placement })).await.data()["placement"]["timeline"]);
    assert!(kinds(&ours).contains("SUPPORT_OFFERED") && kinds(&ours).contains("REVIEW_HELD"), "{:?}", kinds(&ours));
    assert!(ours.len() > theirs.len());
}

#[tokio::test]
async fn the_timeline_pages_by_cursor_both_ways_and_filters_by_period_and_kind() {
    let app = spawn_app_with(true).await;
    let aarhus = app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["CASEWORKER"]);
    let family = hansen(&app, &aarhus).await;
    let read = async |vars: Value| {
        let mut vars = vars;
        vars["id"] = json!(family);
        app.gql(&aarhus, FAMILY, vars).await.data()["family"]["timeline"].clone()
    };
    let whole = read(json!({ "first": 100 })).await;
    let all: Vec<String> =
        whole["edges"].as_array().unwrap().iter().map(|e| e["cursor"].as_str().unwrap().to_owned()).collect();
    assert!(all.len() > 6);

    // Forwards three at a time, then backwards.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = read(json!({ "first": 3, "after": after })).await;
        walked.extend(page["edges"].as_array().unwrap().iter().map(|e| e["cursor"].as_str().unwrap().to_owned()));
        assert_eq!(page["pageInfo"]["hasPreviousPage"], after.is_some());
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = walked.last().cloned();
    }
    assert_eq!(walked, all, "forwards by cursor");
    let mut back: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = read(json!({ "last": 4, "before": before })).await;
        let cursors: Vec<String> =
            page["edges"].as_array().unwrap().iter().map(|e| e["cursor"].as_str().unwrap().to_owned()).collect();
        back.splice(0..0, cursors.clone());
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = cursors.first().cloned();
    }
    assert_eq!(back, all, "backwards by cursor, each page in the timeline's order");

    // Kinds and a period.
    let cancelled = read(json!({ "first": 100, "kinds": ["VISIT_CANCELLED", "VISIT_HELD"] })).await;
    let only = entries(&cancelled);
    assert!(!only.is_empty() && kinds(&only).iter().all(|k| k == "VISIT_CANCELLED" || k == "VISIT_HELD"));
    assert_eq!(cancelled["totalCount"].as_u64().unwrap() as usize, only.len());
    let times: Vec<String> = entries(&whole).iter().map(|e| e["occurredAt"].as_str().unwrap().to_owned()).collect();
    let (from, until) = (&times[2], &times[times.len() - 2]);
    let period = entries(&read(json!({ "first": 100, "from": from, "until": until })).await);
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(!period.is_empty());
    assert!(period.iter().all(|e| {
        let t = parse(e["occurredAt"].as_str().unwrap());
        parse(from) <= t && t < parse(until)
    }));
    let expected = times.iter().filter(|t| parse(from) <= parse(t) && parse(t) < parse(until)).count();
    assert_eq!(period.len(), expected, "the period holds exactly the entries between its ends");

    // Bad input names the argument and shows nothing.
    for (vars, field) in [
        (json!({ "first": 3, "after": "fam_0190f4c2a0b07c3e9d1f2a3b4c5d6e7f" }), "after"),
        (json!({ "last": 3, "before": "tl1.garbage" }), "before"),
        (json!({ "first": 3, "from": until, "until": from }), "until"),
        (json!({ "first": 101 }), "first"),
    ] {
        let mut vars = vars;
        vars["id"] = json!(family);
        let r = app.gql(&aarhus, FAMILY, vars).await;
        assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", field), "{}", r.body);
    }
}

#[tokio::test]
async fn a_referred_provider_sees_the_timeline_while_referred_and_a_revoked_consent_is_an_event() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let family = app.seed_family(&aarhus, None).await;
    app.seed_placement(&aarhus, &family, "2026-01-10").await;
    let give = "mutation($p: ID!, $r: ID!) { giveConsent(input: { personId: $p, purpose: NOTIFY_KEY_PEOPLE, recipientId: $r, givenOn: \"2026-02-01\" }) { consent { id } } }";
    let consent = app.gql(&aarhus.token, give, json!({ "p": family.parent_id, "r": aarhus.id.to_string() })).await;
    let consent = consent.data()["giveConsent"]["consent"]["id"].as_str().unwrap().to_owned();
    app.gql(
        &aarhus.token,
        "mutation($id: ID!) { revokeConsent(input: { id: $id }) { consent { id } } }",
        json!({ "id": consent }),
    )
    .await
    .data();
    let mine = entries(
        &app.gql(&aarhus.token, FAMILY, json!({ "id": family.id, "first": 50 })).await.data()["family"]["timeline"],
    );
    let consents: Vec<&Value> = mine.iter().filter(|e| e["recordId"] == consent.as_str()).collect();
    assert_eq!(
        consents.iter().map(|e| e["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        ["CONSENT_GIVEN", "CONSENT_REVOKED"]
    );
    assert_eq!(consents[0]["personId"], family.parent_id.as_str());
    assert_eq!(consents[0]["detail"], "NOTIFY_KEY_PEOPLE");

    // Before a referral the provider cannot reach the family; while referred it sees the
    // placement's events and the referral, not the municipality's consents.
    let r = app.gql(&fsp.token, FAMILY, json!({ "id": family.id, "first": 50 })).await;
    assert_eq!(r.code(), "NOT_FOUND", "{}", r.body);
    app.gql(
        &aarhus.token,
        "mutation($f: ID!, $p: ID!) { createReferral(input: { familyId: $f, providerId: $p, startsOn: \"2026-03-01\" }) { referral { id } } }",
        json!({ "f": family.id, "p": fsp.id.to_string() }),
    )
    .await
    .data();
    let theirs = entries(
        &app.gql(&fsp.token, FAMILY, json!({ "id": family.id, "first": 50 })).await.data()["family"]["timeline"],
    );
    let seen = kinds(&theirs);
    assert!(seen.contains("PLACEMENT_STARTED") && seen.contains("REFERRAL_STARTED"), "{seen:?}");
    assert!(!seen.contains("CONSENT_GIVEN"), "consents are the municipality's own records: {seen:?}");
}

/// Timelines of a page of families read in one statement for the page and one for the
/// counts, whatever the page size.
#[tokio::test]
async fn the_timelines_of_100_families_cost_the_same_statements_as_of_10() {
    let app = spawn_app().await;
    kinbridge_server::seed::generate(&app.store, 120, 3, false).await.expect("the generated data set");
    let first = app.store.organization_by_code(OrganizationKind::Municipality, "0101").await.unwrap().unwrap();
    let token = app.token(first.id, &["CASEWORKER"]);
    app.warm(&token).await;
    let q = "query($n: Int!) { families(first: $n) { edges { node { timeline(last: 5) { totalCount edges { node { kind occurredAt } } }
        placements(first: 2) { edges { node { timeline(first: 3, kinds: [VISIT_HELD, VISIT_CANCELLED]) { totalCount edges { node { kind } } } } } } } } } }";
    let mut costs = Vec::new();
    for n in [10, 100] {
        let before = app.store.statements_sent();
        let data = app.gql(&token, q, json!({ "n": n })).await.data().clone();
        costs.push(app.store.statements_sent() - before);
        let families = data["families"]["edges"].as_array().unwrap();
        assert!(families.len() >= n.min(20) as usize);
        assert!(families.iter().any(|f| f["node"]["timeline"]["totalCount"].as_u64().unwrap() > 5));
    }
    assert_eq!(costs[0], costs[1], "statements for 10 families' timelines and for 100");
}
