//! Retries are safe: the same idempotency key and input return the first result and write
//! once; the same key with other input is refused.

use serde_json::json;

use crate::support::{spawn_app, uuid_of};

const CREATE: &str = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id } } }";

#[tokio::test]
async fn a_retried_create_with_the_same_key_returns_the_first_result_and_writes_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let input = json!({ "input": { "name": "Hansen", "idempotencyKey": "case-system-req-1" } });
    let first = app.gql(&aarhus.token, CREATE, input.clone()).await;
    let outbox_after_first = app.outbox_len().await;
    let second = app.gql(&aarhus.token, CREATE, input).await;
    assert_eq!(first.data(), second.data());
    assert_eq!(app.family_count(&aarhus).await, 1);
    assert_eq!(app.outbox_len().await, outbox_after_first, "the retry wrote nothing");
    let id = first.data()["createFamily"]["family"]["id"].as_str().unwrap();
    let events = app.store.audit_events_for_record(uuid_of(id)).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.operation == "createFamily").count(), 1, "one write, however often retried");
}

#[tokio::test]
async fn the_same_key_with_other_input_is_a_conflict() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "Hansen", "idempotencyKey": "k-1" } })).await.data();
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "Berg", "idempotencyKey": "k-1" } })).await;
    assert_eq!(r.code(), "CONFLICT");
    assert_eq!(app.family_count(&aarhus).await, 1);
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_organisation() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let input = json!({ "input": { "name": "Hansen", "idempotencyKey": "shared-key" } });
    let a = app.gql(&aarhus.token, CREATE, input.clone()).await;
    let b = app.gql(&randers.token, CREATE, input).await;
    assert_ne!(a.data()["createFamily"]["family"]["id"], b.data()["createFamily"]["family"]["id"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_write_one_family() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let input = json!({ "input": { "name": "Hansen", "idempotencyKey": "burst" } });
    let results = futures_util::future::join_all((0..5).map(|_| app.gql(&aarhus.token, CREATE, input.clone()))).await;
    for r in &results {
        // Each attempt either returns the family or asks to retry; none writes another.
        if r.body.get("errors").is_some() {
            assert_eq!(r.code(), "CONFLICT", "{}", r.body);
        }
    }
    assert_eq!(app.family_count(&aarhus).await, 1);
}

#[tokio::test]
async fn a_blank_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "Hansen", "idempotencyKey": " " } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.idempotencyKey"));
}
