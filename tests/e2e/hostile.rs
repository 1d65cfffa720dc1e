//! Hostile queries are refused before they cost anything, each limit with its own code
//! and the limit it hit, while the health endpoints keep answering; production shows an
//! attacker neither the schema nor suggestions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app, spawn_app_configured};

async fn post(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url())
        .bearer_auth(token)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Fragments that each spread the previous one twice: 2^levels times the base's fields.
fn fragment_bomb(levels: usize) -> String {
    let mut fragments = String::from("fragment F0 on Query { viewer { subject roles } }");
    for i in 1..=levels {
        fragments.push_str(&format!(" fragment F{i} on Query {{ ...F{} ...F{} }}", i - 1, i - 1));
    }
    format!("query {{ ...F{levels} }} {fragments}")
}

#[tokio::test]
async fn every_hostile_query_is_refused_with_its_own_code_and_the_limit_it_hit() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let aliases: String = (0..500).map(|i| format!(" a{i}: viewer {{ subject }}")).collect();
    let spreads: String = (0..300).map(|_| " ...V").collect();
    let directives: String = (0..150).map(|_| " @include(if: true)").collect();
    let nested_connections = "{ families(first: 100) { edges { node { placements(first: 100) { edges { node {
        contactVisits(first: 100) { edges { node { participants { givenName } } } } } } } } } } }";
    let hostile: Vec<(&str, String, &str)> = vec![
        ("a fragment bomb of 2^40 fields in 1.3 KB", fragment_bomb(40), "TOO_MANY_FIELDS"),
        ("500 aliases", format!("{{{aliases} }}"), "TOO_MANY_ALIASES"),
        (
            "300 fragment spreads",
            format!("{{{spreads} }} fragment V on Query {{ viewer {{ subject }} }}"),
            "TOO_MANY_FRAGMENT_SPREADS",
        ),
        ("150 directives", format!("{{ viewer{directives} {{ subject }} }}"), "TOO_MANY_DIRECTIVES"),
        ("a 100 KB document", format!("{{ viewer {{ subject }} }} #{}", "x".repeat(100_000)), "DOCUMENT_TOO_LARGE"),
        ("3,000 nested braces", format!("{}{}", "{ a ".repeat(3_000), "}".repeat(3_000)), "TOO_DEEP"),
        (
            "selections 20 deep",
            format!(
                "{{ {}subject{} }}",
                "viewer { organization { ".repeat(0)
                    + &"families { edges { node { members { edges { node { person { ".repeat(3),
                " } } } } } } }".repeat(3)
            ),
            "TOO_DEEP",
        ),
        ("a million visits asked for", nested_connections.to_owned(), "TOO_COMPLEX"),
    ];
    for (name, query, code) in &hostile {
        let started = Instant::now();
        let (status, body) = post(&app, &org.token, query).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], *code, "{name}: {body}");
        assert!(error["extensions"]["limit"].as_u64().is_some(), "{name}: the limit it hit: {body}");
        assert!(body.get("data").is_none() || body["data"].is_null(), "{name}: nothing ran");
        assert!(took < Duration::from_secs(2), "{name}: refused after {took:?}");
    }
    // The connection cost follows the page size: ten visits per placement is allowed.
    let (status, body) = post(
        &app,
        &org.token,
        &nested_connections
            .replace("first: 100) { edges { node { participants", "first: 10) { edges { node { participants")
            .replace("families(first: 100)", "families(first: 10)")
            .replace("placements(first: 100)", "placements(first: 10)"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn health_answers_while_hostile_queries_arrive() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let bomb = fragment_bomb(50);
    let attacks: Vec<_> = (0..20).map(|_| post(&app, &org.token, &bomb)).collect();
    let attack = futures_util::future::join_all(attacks);
    let health = async {
        let started = Instant::now();
        let live = app.client.get(format!("http://{}/health/live", app.addr)).send().await.unwrap();
        (live.status(), started.elapsed())
    };
    let (answers, (status, took)) = tokio::join!(attack, health);
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(1), "/health/live took {took:?}");
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == StatusCode::BAD_REQUEST && b["errors"][0]["extensions"]["code"] == "TOO_MANY_FIELDS")
    );
}

#[tokio::test]
async fn production_shows_neither_the_schema_nor_suggestions() {
    let app = spawn_app_configured(|c| c.exposure = kinbridge_api::Exposure::CLOSED).await;
    let org = app.municipality("Aarhus").await;
    let (_, body) =
        post(&app, &org.token, "{ __schema { types { name } } __type(name: \"Family\") { fields { name } } }").await;
    assert_eq!(body["data"], json!({ "__schema": null, "__type": null }), "{body}");
    let (_, body) = post(&app, &org.token, "{ familes { totalCount } }").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    // Development (the tests' default) suggests.
    let open = spawn_app().await;
    let org = open.municipality("Aarhus").await;
    let (_, body) = post(&open, &org.token, "{ familes { totalCount } }").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Did you mean"), "{body}");
}

#[tokio::test]
async fn a_20_mb_body_is_answered_413_not_reset() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let body = vec![b'a'; 20 * 1024 * 1024];
    let r = app
        .client
        .post(app.url())
        .bearer_auth(&org.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer, not a reset");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BODY_TOO_LARGE");
}

/// Text arguments that could never have been stored (a NUL, which PostgreSQL refuses in
/// text, or another control character) are refused naming the argument, not sent to the
/// database and answered `INTERNAL`.
#[tokio::test]
async fn control_characters_in_lookup_arguments_are_bad_input_naming_the_argument() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let lookup =
        "query($s: String!, $v: String!) { personByIdentifier(kind: NATIONAL_ID, system: $s, value: $v) { id } }";
    for (system, value, field) in
        [("DK\u{0}CPR", "0101", "system"), ("DK-CPR", "01\u{0}01", "value"), ("DK\u{7}", "1", "system")]
    {
        let r = app.gql(&aarhus.token, lookup, json!({ "s": system, "v": value })).await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.body);
        assert_eq!(r.field(), field);
    }
    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let trail = "query($s: String) { auditEvents(filter: { subject: $s }, first: 5) { totalCount } }";
    let r = app.gql(&auditor, trail, json!({ "s": "alice\u{0}" })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "{}", r.body);
    assert_eq!(r.field(), "filter.subject");
    assert_eq!(app.gql(&auditor, trail, json!({ "s": "alice" })).await.data()["auditEvents"]["totalCount"], 0);
}
