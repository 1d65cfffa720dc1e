//! Nested data loads in batches: one SQL statement per level of the query, whatever the
//! page size, on a generated data set.

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app};

/// A caseworker's page: families with members, placements with the child, the provider
/// and their five latest visits, and plans with goals, with every `totalCount`.
const PAGE: &str = "query($n: Int!) { families(first: $n) { totalCount edges { node { name
    members(first: 6) { totalCount edges { node { role person { givenName } } } }
    placements(first: 3) { totalCount edges { node { setting child { givenName } provider { name }
        contactVisits(last: 5) { totalCount edges { node { plannedStart status } } } } } }
    parentActionPlans(first: 2) { edges { node { status goals(first: 5) { totalCount edges { node { description } } } } } } } } } }";

async fn seeded() -> (TestApp, String) {
    let app = spawn_app().await;
    kinbridge_server::seed::generate(&app.store, 220, 7, false).await.expect("the generated data set");
    let first = app.store.organization_by_code(OrganizationKind::Municipality, "0101").await.unwrap().unwrap();
    let token = app.token(first.id, &["CASEWORKER"]);
    app.warm(&token).await;
    (app, token)
}

/// Sends `query` and returns its data with the number of statements it cost.
async fn counted(app: &TestApp, token: &str, n: i64) -> (Value, u64) {
    let before = app.store.statements_sent();
    let data = app.gql(token, PAGE, json!({ "n": n })).await.data().clone();
    (data, app.store.statements_sent() - before)
}

#[tokio::test]
async fn a_page_of_100_families_costs_the_same_statements_as_a_page_of_10() {
    let (app, token) = seeded().await;
    let (ten, ten_cost) = counted(&app, &token, 10).await;
    let (hundred, hundred_cost) = counted(&app, &token, 100).await;
    assert_eq!(ten["families"]["edges"].as_array().unwrap().len(), 10);
    assert_eq!(hundred["families"]["edges"].as_array().unwrap().len(), 100);
    eprintln!("statements for a page of 10 families: {ten_cost}, of 100: {hundred_cost}");
    assert_eq!(ten_cost, hundred_cost, "statements for 10 families and for 100");
    // The organisation lookup of the token (on SQLite; PostgreSQL remembers it), one
    // statement for the families' page and count, then per level a page and a count: members and their persons, placements,
    // their children, providers, visits, plans and goals; and the audit insert.
    assert!(hundred_cost <= 20, "{hundred_cost} statements for one page");
}

/// The same page with every computed field of its objects: each reads in one statement
/// for the level, like the connections around it.
const COMPUTED: &str = "query($n: Int!) { families(first: $n) { edges { node {
    members(first: 6) { edges { node { person { identifiers { value } resiliencePillars { pillar status } } } } }
    placements(first: 3) { edges { node { isCrossMunicipality daysFromDecisionToFirstOffer
        visitArrangement { intervalDays } visitStatistics(from: \"2020-01-01\", to: \"2030-01-01\") { planned held cancelled noShow }
        contactVisits(last: 5) { edges { node { participants { givenName } } } } } } }
    parentActionPlans(first: 2) { edges { node { isReviewOverdue
        reviews(first: 3) { edges { node { progress { score goal { description } } } } }
        goals(first: 5) { edges { node { subGoals(first: 3) { totalCount } } } } } } } } } } }";

#[tokio::test]
async fn the_computed_fields_of_a_page_of_100_cost_the_same_statements_as_of_10() {
    let (app, token) = seeded().await;
    let mut costs = Vec::new();
    for n in [10, 100] {
        let before = app.store.statements_sent();
        let data = app.gql(&token, COMPUTED, json!({ "n": n })).await.data().clone();
        costs.push(app.store.statements_sent() - before);
        let families = data["families"]["edges"].as_array().unwrap();
        assert_eq!(families.len(), n as usize);
        let statistics: i64 = families
            .iter()
            .flat_map(|f| f["node"]["placements"]["edges"].as_array().unwrap())
            .map(|p| {
                ["planned", "held", "cancelled", "noShow"]
                    .iter()
                    .map(|k| p["node"]["visitStatistics"][k].as_i64().unwrap())
                    .sum::<i64>()
            })
            .sum();
        assert!(statistics > 0, "the seeded visits are counted per placement");
    }
    eprintln!("statements for the computed fields of 10 families: {}, of 100: {}", costs[0], costs[1]);
    assert_eq!(costs[0], costs[1], "statements for 10 families and for 100");
}

#[tokio::test]
async fn the_latest_visits_are_the_last_in_date_order() {
    let (app, token) = seeded().await;
    let (data, _) = counted(&app, &token, 3).await;
    for family in data["families"]["edges"].as_array().unwrap() {
        for placement in family["node"]["placements"]["edges"].as_array().unwrap() {
            let visits = &placement["node"]["contactVisits"];
            let starts: Vec<&str> = visits["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["node"]["plannedStart"].as_str().unwrap())
                .collect();
            assert_eq!(starts.len(), 5, "{visits}");
            assert!(starts.windows(2).all(|w| w[0] <= w[1]), "in date order: {starts:?}");
            assert_eq!(visits["totalCount"], 42);
        }
    }
}

#[tokio::test]
async fn every_record_of_a_batched_page_is_audited() {
    let (app, token) = seeded().await;
    let body = app.gql_as(&token, "batched-page", PAGE, json!({ "n": 20 })).await.body;
    let events = app.store.audit_events_for_request("batched-page").await.unwrap();
    let shown = |t: &str| events.iter().filter(|e| e.record_type == t).count();
    let families = body["data"]["families"]["edges"].as_array().unwrap();
    assert_eq!(shown("Family"), families.len());
    let visits: usize = families
        .iter()
        .flat_map(|f| f["node"]["placements"]["edges"].as_array().unwrap())
        .map(|p| p["node"]["contactVisits"]["edges"].as_array().unwrap().len())
        .sum();
    assert_eq!(shown("ContactVisit"), visits);
    assert!(shown("Person") > families.len() * 2, "members and children");
}

#[tokio::test]
async fn paging_a_nested_connection_by_cursor_walks_the_whole_order_both_ways() {
    let (app, token) = seeded().await;
    let q = "query($a: String, $b: String, $f: Int, $l: Int) { families(first: 2) { edges { node { placements(first: 1) { edges { node {
        contactVisits(after: $a, before: $b, first: $f, last: $l) { pageInfo { hasNextPage hasPreviousPage } edges { cursor node { plannedStart } } } } } } } } } }";
    let visits = |data: &Value| -> (Vec<String>, Value) {
        let conn = &data["families"]["edges"][0]["node"]["placements"]["edges"][0]["node"]["contactVisits"];
        (
            conn["edges"].as_array().unwrap().iter().map(|e| e["cursor"].as_str().unwrap().to_owned()).collect(),
            conn["pageInfo"].clone(),
        )
    };
    let all = visits(app.gql(&token, q, json!({ "f": 42 })).await.data()).0;
    assert_eq!(all.len(), 42);
    // Forwards, ten at a time.
    let (mut walked, mut after) = (Vec::new(), Value::Null);
    loop {
        let (page, info) = visits(app.gql(&token, q, json!({ "a": after, "f": 10 })).await.data());
        walked.extend(page.iter().cloned());
        if info["hasNextPage"] != true {
            break;
        }
        after = json!(page.last().unwrap());
    }
    assert_eq!(walked, all, "forwards");
    // Backwards, seven at a time: each page in the connection's order.
    let (mut walked, mut before) = (Vec::new(), Value::Null);
    loop {
        let (page, info) = visits(app.gql(&token, q, json!({ "b": before, "l": 7 })).await.data());
        walked.splice(0..0, page.iter().cloned());
        if info["hasPreviousPage"] != true {
            break;
        }
        before = json!(page.first().unwrap());
    }
    assert_eq!(walked, all, "backwards");
    let (between, _) = visits(app.gql(&token, q, json!({ "a": all[3], "b": all[9], "f": 100 })).await.data());
    assert_eq!(between, all[4..9], "between two cursors");
}

#[tokio::test]
async fn the_coordination_view_costs_the_same_statements_for_3_placements_as_for_all() {
    let (app, _) = seeded().await;
    let second = app.store.organization_by_code(OrganizationKind::Municipality, "0102").await.unwrap().unwrap();
    let token = app.token(second.id, &["CASEWORKER"]);
    app.warm(&token).await;
    let q = "query($n: Int!) { crossMunicipalityPlacements(first: $n) { totalCount edges { node { id setting
        child { givenName } placingMunicipality { name } caseworkerContact planStatus nextReviewDue
        goals { description } } } } }";
    // On PostgreSQL the server remembers the placing municipalities it has read
    // (`Reference::remembered`): read them all once, so that both measured requests find
    // them remembered rather than the second finding only some.
    app.gql(&token, q, json!({ "n": 100 })).await.data();
    let mut costs = Vec::new();
    for n in [3, 100] {
        let before = app.store.statements_sent();
        let data = app.gql(&token, q, json!({ "n": n })).await.data().clone();
        costs.push(app.store.statements_sent() - before);
        let shown = data["crossMunicipalityPlacements"]["edges"].as_array().unwrap().len() as i64;
        let total = data["crossMunicipalityPlacements"]["totalCount"].as_i64().unwrap();
        assert!(total > 3, "the seeded set has cross-municipality placements: {total}");
        assert_eq!(shown, n.min(total));
    }
    assert_eq!(costs[0], costs[1], "statements for 3 placements and for all");
}

/// A root connection's page and its `totalCount` are read by one statement (the count a
/// scalar subquery of the page's); a page past the last record, whose rows cannot carry
/// the count, still counts them all. For `families` and `crossMunicipalityPlacements`.
#[tokio::test]
async fn a_root_page_and_its_total_count_are_one_statement() {
    let (app, token) = seeded().await;
    let second = app.store.organization_by_code(OrganizationKind::Municipality, "0102").await.unwrap().unwrap();
    let coordinator = app.token(second.id, &["CASEWORKER"]);
    app.warm(&coordinator).await;
    for (root, token, node) in
        [("families", &token, "id name"), ("crossMunicipalityPlacements", &coordinator, "id setting")]
    {
        let cost = |query: String| {
            let (app, token) = (&app, token.clone());
            async move {
                let before = app.store.statements_sent();
                let data = app.gql(&token, &query, json!({})).await.data()[root].clone();
                (data, app.store.statements_sent() - before)
            }
        };
        let (counted, with_count) =
            cost(format!("{{ {root}(first: 3) {{ totalCount edges {{ cursor node {{ {node} }} }} }} }}")).await;
        let (_, without_count) = cost(format!("{{ {root}(first: 3) {{ edges {{ node {{ {node} }} }} }} }}")).await;
        assert_eq!(with_count, without_count, "{root}: statements with and without totalCount");
        let total = counted["totalCount"].as_i64().unwrap();
        assert!(total > 3, "{root}: the seeded set has more than a page: {total}");
        let (end, _) = cost(format!("{{ {root}(last: 1) {{ totalCount edges {{ cursor }} }} }}")).await;
        assert_eq!(end["totalCount"].as_i64(), Some(total), "{root}");
        let last = end["edges"][0]["cursor"].as_str().unwrap();
        let (past, _) =
            cost(format!("{{ {root}(first: 3, after: \"{last}\") {{ totalCount edges {{ cursor }} }} }}")).await;
        assert_eq!((past["edges"].as_array().unwrap().len(), past["totalCount"].as_i64()), (0, Some(total)), "{root}");
    }
}

/// A reference under a page's nodes (a member's `person`, a placement's `child` and
/// `provider`) is read in the page's own statement: selecting it costs no statement, and
/// every record it shows is a read of the request, as when it is read alone.
#[tokio::test]
async fn the_references_under_a_page_are_read_in_the_pages_statement() {
    let (app, token) = seeded().await;
    let with = PAGE
        .replace("person { givenName }", "person { id givenName }")
        .replace("child { givenName }", "child { id givenName }");
    let without = PAGE.replace(" person { givenName }", "").replace(" child { givenName } provider { name }", "");
    assert!(with != PAGE && without != PAGE);
    let cost = |query: String, request: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let before = app.store.statements_sent();
            let body = app.gql_as(&token, request, &query, json!({ "n": 20 })).await.body;
            assert!(body["errors"].is_null(), "{body}");
            (body, app.store.statements_sent() - before)
        }
    };
    let (_, without_cost) = cost(without, "page-without-references").await;
    let (body, with_cost) = cost(with, "page-with-references").await;
    assert_eq!(with_cost, without_cost, "statements with the references and without");
    let families = body["data"]["families"]["edges"].as_array().unwrap();
    let placements: Vec<&Value> = families
        .iter()
        .flat_map(|f| f["node"]["placements"]["edges"].as_array().unwrap())
        .map(|p| &p["node"])
        .collect();
    let persons: std::collections::BTreeSet<uuid::Uuid> = families
        .iter()
        .flat_map(|f| f["node"]["members"]["edges"].as_array().unwrap())
        .map(|m| &m["node"]["person"])
        .chain(placements.iter().map(|p| &p["child"]))
        .map(|p| crate::support::uuid_of(p["id"].as_str().expect("every member's person and placement's child")))
        .collect();
    assert!(!placements.is_empty(), "the seeded page has placements");
    assert!(placements.iter().any(|p| p["provider"]["name"].is_string()), "the providers");
    let events = app.store.audit_events_for_request("page-with-references").await.unwrap();
    let audited: std::collections::BTreeSet<uuid::Uuid> =
        events.iter().filter(|e| e.record_type == "Person").map(|e| e.record_id).collect();
    assert_eq!(audited, persons, "the persons shown and the persons audited");
}
