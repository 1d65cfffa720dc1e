//! The level renderer (`kinbridge_api::level`) answers exactly what async-graphql's field by
//! field resolution answers, and logs exactly the same reads.
//!
//! Each query is sent twice. As written, its tree is rendered a level at a time. With a
//! fragment on the `Node` interface added to its families (`... on Node { kbPerField: id }`,
//! which the renderer leaves to async-graphql), the whole tree is resolved field by field,
//! as it was before the renderer existed. The answers, with that one field taken out, and the records each
//! request logged as shown must be the same, for every kind of caller of the demo data.
//! `/metrics` tells which path each request took, so the test cannot compare a path with
//! itself.

use std::collections::BTreeSet;

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app_with};

/// Where a query's families select the field that makes them per-field.
const MARK: &str = "__PER_FIELD__";

/// What a family shows, with every kind of selection the renderer handles: plain fields,
/// aliases, fragments (named and inline), `__typename` at every level, connections with
/// `edges`, `nodes`, `pageInfo` and `totalCount`, page arguments from variables, and
/// references (nullable and not).
const FAMILY: &str = "__PER_FIELD__ __typename ...F id externalId caseworkerContact version createdAt updatedAt status
    networkMap(first: 3) { totalCount edges { node { id } } }
    responsibleMunicipality { __typename id name kind code youngPersonConsentAge }
    m: members(first: 2) { __typename totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }
        edges { __typename cursor node { id role residenceMunicipality { name }
            person { ... on Person { id givenName familyName birthDate version identifiers { value } } } } } }
    members(last: $last) { nodes { id role ... { person { givenName } } } }
    placements { nodes { id externalId setting voluntary decisionDate startDate endDate endReason version createdAt updatedAt
        isCrossMunicipality visitArrangement { intervalDays } daysFromDecisionToFirstOffer
        child { givenName } placingMunicipality { name } provider { name } family { name }
        contactVisits(last: $last) { totalCount edges { node { id plannedStart plannedEnd location supervision
            supervisorName status cancellation { cancelledBy reason cancelledAt } observations outcomeRecordedAt
            version createdAt updatedAt placement { id } } } }
        parentActionPlans { totalCount } } }
    parentActionPlans(first: 2) { edges { node { id status reviewIntervalDays activatedOn closedOn nextReviewDue
        isReviewOverdue childPlanReference version createdAt updatedAt family { id } placement { id setting }
        goals(last: 2) { pageInfo { hasPreviousPage startCursor } edges { cursor node { id description purpose position } } }
        g: goals(first: 1, after: null) { totalCount } } } }";

const FRAGMENT: &str = "fragment F on Family { name }";

/// Sends `query` as `caller` under `request_id`; returns the body and the reads logged.
async fn ask(
    app: &TestApp,
    token: &str,
    request_id: &str,
    query: &str,
    variables: &Value,
) -> (Value, BTreeSet<(String, String)>) {
    let body = app.gql_as(token, request_id, query, variables.clone()).await.body;
    let reads = app
        .store
        .audit_events_for_request(request_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.operation == "read")
        .map(|e| (e.record_type, e.record_id.to_string()))
        .collect();
    (body, reads)
}

/// `value` without the marker field.
fn unmarked(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| *k != "kbPerField").map(|(k, v)| (k.clone(), unmarked(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unmarked).collect()),
        other => other.clone(),
    }
}

/// The errors of `body` without their locations.
fn errors(body: &Value) -> Value {
    let mut errors = body["errors"].clone();
    for e in errors.as_array_mut().into_iter().flatten() {
        e.as_object_mut().map(|e| e.remove("locations"));
    }
    errors
}

async fn read_trees(app: &TestApp, path: &str) -> u64 {
    let text = app.client.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    let series = format!("kinbridge_read_trees_total{{path=\"{path}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).map_or(0, |n| n.trim().parse().unwrap())
}

/// One query sent both ways: as written, and with `MARK` replaced by `marker`, which
/// makes the renderer leave the tree to async-graphql.
struct Ways {
    fast: Value,
    fast_reads: BTreeSet<(String, String)>,
    slow: Value,
    slow_reads: BTreeSet<(String, String)>,
    /// Trees the first request rendered a level at a time, and both requests field by field.
    level_taken: u64,
    field_taken: u64,
}

async fn both_ways(app: &TestApp, token: &str, name: &str, query: &str, marker: &str, variables: &Value) -> Ways {
    let (level_before, per_field_before) = (read_trees(app, "level").await, read_trees(app, "per_field").await);
    let (fast, fast_reads) = ask(app, token, &format!("level-{name}"), &query.replace(MARK, ""), variables).await;
    let level_taken = read_trees(app, "level").await - level_before;
    let (slow, slow_reads) = ask(app, token, &format!("field-{name}"), &query.replace(MARK, marker), variables).await;
    assert_eq!(read_trees(app, "level").await - level_before, level_taken, "the marked query is per field");
    let field_taken = read_trees(app, "per_field").await - per_field_before;
    Ways { fast, fast_reads, slow, slow_reads, level_taken, field_taken }
}

#[tokio::test]
async fn a_tree_rendered_a_level_at_a_time_answers_and_logs_what_field_by_field_resolution_does() {
    let app = spawn_app_with(true).await;
    let callers = [
        (
            "aarhus",
            app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["CASEWORKER", "MANAGER"]),
        ),
        ("randers", app.token(app.org_by_code(OrganizationKind::Municipality, "0730").await, &["CASEWORKER"])),
        (
            "site",
            app.token(app.org_by_code(OrganizationKind::PlacementProvider, "PP-0751-01").await, &["PLACEMENT_STAFF"]),
        ),
        (
            "fsp",
            app.token(
                app.org_by_code(OrganizationKind::FamilyServicesProvider, "FSP-0751-01").await,
                &["FAMILY_THERAPIST"],
            ),
        ),
        ("mha", app.token(app.org_by_code(OrganizationKind::MentalHealthAuthority, "MHA-MIDT").await, &["MANAGER"])),
    ];
    let aarhus = &callers[0].1;
    let ids: Vec<String> = app.gql(aarhus, "{ families(first: 10) { edges { node { id } } } }", json!({})).await.data()
        ["families"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 2, "the demo data has families");
    let cursor = format!("\"{}\"", ids[0]);

    let queries = [
        format!(
            "query($n: Int, $last: Int) {{ families(first: $n) {{ totalCount edges {{ node {{ {FAMILY} }} }} }} }} {FRAGMENT}"
        ),
        format!(
            "query($last: Int) {{ families(last: 2) {{ pageInfo {{ hasPreviousPage startCursor }} nodes {{ {FAMILY} }} }} }} {FRAGMENT}"
        ),
        format!(
            "query($last: Int) {{ families(first: 1, after: {cursor}) {{ edges {{ cursor node {{ {FAMILY} }} }} }} }} {FRAGMENT}"
        ),
        format!("query($id: ID!, $last: Int) {{ family(id: $id) {{ {FAMILY} }} }} {FRAGMENT}"),
        format!("query($id: ID!, $last: Int) {{ f: family(id: $id) {{ ... on Family {{ {FAMILY} }} }} }} {FRAGMENT}"),
        // The caseworker's page of the benchmark.
        "{ families(first: 50) { totalCount edges { node { __PER_FIELD__ name
            members { edges { node { role person { givenName } } } }
            placements { edges { node { setting contactVisits(last: 5) { edges { node { plannedStart status } } } } } }
            parentActionPlans { edges { node { status goals { edges { node { description } } } } } } } } } }"
            .to_owned(),
        "{ families(first: 0) { totalCount pageInfo { hasNextPage } edges { node { __PER_FIELD__ id } } } }".to_owned(),
        // Page arguments that are refused, and a cursor from elsewhere: left to
        // async-graphql, which answers with its error.
        "{ families(first: 2) { edges { node { __PER_FIELD__ members(first: 500) { totalCount } } } } }".to_owned(),
        "{ families(first: 2) { edges { node { __PER_FIELD__ goals: placements(after: \"nope\") { totalCount } } } } }"
            .to_owned(),
    ];
    let (mut rendered, mut per_field) = (0, 0);
    for (q, query) in queries.iter().enumerate() {
        for (who, token) in &callers {
            for (v, variables) in
                [json!({ "n": 5, "last": 1, "id": ids[1] }), json!({ "n": 2, "last": 3, "id": ids[0] })]
                    .iter()
                    .enumerate()
            {
                let ways = both_ways(
                    &app,
                    token,
                    &format!("{q}-{who}-{v}"),
                    query,
                    "... on Node { kbPerField: id }",
                    variables,
                )
                .await;
                let Ways { fast, fast_reads, slow, slow_reads, level_taken, field_taken } = ways;
                if fast.get("errors").is_none() {
                    assert_eq!(
                        unmarked(&slow),
                        fast,
                        "query {q} as {who} with {variables}: field by field (left) and a level at a time (right)"
                    );
                } else {
                    // Both went field by field; the marker field itself changes where the
                    // nulls of an error stop and the columns its location names.
                    assert_eq!(errors(&slow), errors(&fast), "query {q} as {who} with {variables}: the errors");
                }
                assert_eq!(slow_reads, fast_reads, "query {q} as {who} with {variables}: the reads logged");
                rendered += level_taken;
                per_field += field_taken;
                // The last two queries ask for pages that are refused: they are never
                // rendered here, even when there is no family to ask them of.
                if fast.get("errors").is_some() {
                    assert_eq!(level_taken, 0, "query {q} as {who}: an error is async-graphql's: {fast}");
                } else if q < queries.len() - 2 {
                    assert_eq!((level_taken, field_taken), (1, 1), "query {q} as {who}: {fast}");
                } else {
                    assert_eq!((level_taken, field_taken), (0, 2), "query {q} as {who}: left to async-graphql: {fast}");
                }
            }
        }
    }
    eprintln!("{rendered} trees rendered a level at a time, {per_field} field by field");
    assert!(rendered >= 40, "{rendered} trees rendered a level at a time");
}

/// The residence municipality's coordination query, rendered a level at a time, answers
/// and logs what it did field by field. The marker selects a key twice, which the
/// renderer leaves to async-graphql.
#[tokio::test]
async fn the_coordination_query_rendered_a_level_at_a_time_answers_and_logs_the_same() {
    let app = spawn_app_with(true).await;
    let callers = [
        ("aarhus", app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["CASEWORKER"])),
        (
            "randers",
            app.token(app.org_by_code(OrganizationKind::Municipality, "0730").await, &["CASEWORKER", "MANAGER"]),
        ),
        (
            "site",
            app.token(app.org_by_code(OrganizationKind::PlacementProvider, "PP-0751-01").await, &["PLACEMENT_STAFF"]),
        ),
    ];
    let queries = [
        // The benchmark's query (c).
        "{ crossMunicipalityPlacements(first: 50) { totalCount edges { node { __PER_FIELD__ id setting startDate
            child { givenName } placingMunicipality { name } caseworkerContact planStatus nextReviewDue } } } }",
        "query($n: Int) { c: crossMunicipalityPlacements(includeEnded: true, last: $n) { __typename totalCount
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { __PER_FIELD__ __typename
            ... on CoordinationPlacement { id decisionDate endDate } setting startDate child { givenName familyName birthDate }
            pm: placingMunicipality { __typename id name kind code } caseworkerContact planStatus nextReviewDue
            goals { id description purpose } } } } }",
    ];
    let mut shown = 0;
    for (q, query) in queries.iter().enumerate() {
        for (who, token) in &callers {
            for n in [1, 5] {
                let variables = json!({ "n": n });
                let ways = both_ways(
                    &app,
                    token,
                    &format!("c{q}-{who}-{n}"),
                    query,
                    "kbPerField: id kbPerField: id",
                    &variables,
                )
                .await;
                let Ways { fast, fast_reads, slow, slow_reads, level_taken, field_taken } = ways;
                if *who == "site" {
                    assert_eq!(errors(&slow), errors(&fast), "query {q} as {who}: the errors");
                    assert_eq!(fast["errors"][0]["extensions"]["code"], "FORBIDDEN", "{fast}");
                    continue;
                }
                assert!(fast.get("errors").is_none(), "query {q} as {who}: {fast}");
                assert_eq!(
                    unmarked(&slow),
                    fast,
                    "query {q} as {who} with {variables}: field by field (left) and a level at a time (right)"
                );
                assert_eq!(slow_reads, fast_reads, "query {q} as {who} with {variables}: the reads logged");
                assert_eq!((level_taken, field_taken), (1, 1), "query {q} as {who}: {fast}");
                let root =
                    fast.pointer("/data/crossMunicipalityPlacements").or_else(|| fast.pointer("/data/c")).unwrap();
                shown += root["edges"].as_array().unwrap().len();
            }
        }
    }
    assert!(shown >= 4, "the demo data has placements across municipalities: {shown} shown");
}
