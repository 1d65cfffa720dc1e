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
async fn a_blank_idempotency_key_is_refused() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let r = app.gql(&aarhus.token, CREATE, json!({ "input": { "name": "Hansen", "idempotencyKey": " " } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.idempotencyKey"));
}

const CHANGES: &str = "query($after: String) { changes(after: $after, first: 50) { totalCount pageInfo { endCursor hasNextPage } edges { cursor node { recordType recordId event } } } }";

#[tokio::test]
async fn an_integration_reads_what_changed_since_its_last_sync() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let site = app
        .org(kinbridge_domain::organization::OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"])
        .await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app.gql(&aarhus.token, CHANGES, json!({})).await;
    let feed = &r.data()["changes"];
    let events: Vec<(&str, &str)> = feed["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["recordType"].as_str().unwrap(), e["node"]["event"].as_str().unwrap()))
        .collect();
    assert!(events.contains(&("Family", "family.created")), "{events:?}");
    assert!(feed["edges"].as_array().unwrap().iter().any(|e| e["node"]["recordId"] == family.id.as_str()));
    assert_eq!(feed["totalCount"].as_i64().unwrap() as usize, events.len());
    let last = feed["pageInfo"]["endCursor"].clone();
    assert_eq!(
        app.gql(&aarhus.token, CHANGES, json!({ "after": last })).await.data()["changes"]["edges"],
        json!([]),
        "nothing new since"
    );

    // A provider records the outcome of the municipality's visit: the municipality's feed
    // shows it, the provider's does not.
    let start = chrono::Utc::now() - chrono::Duration::days(2);
    let placement = app
        .gql(&aarhus.token, "mutation($f: ID!, $c: ID!, $p: ID!) { createPlacement(input: { familyId: $f, childId: $c, providerId: $p, setting: FOSTER_FAMILY, voluntary: true, decisionDate: \"2026-01-01\", startDate: \"2026-01-01\" }) { placement { id } } }",
            json!({ "f": family.id, "c": family.child_id, "p": site.id.to_string() }))
        .await;
    let placement = placement.data()["createPlacement"]["placement"]["id"].clone();
    let visit = app
        .gql(&aarhus.token, "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id } } }",
            json!({ "p": placement, "s": start.to_rfc3339(), "e": (start + chrono::Duration::hours(1)).to_rfc3339() }))
        .await;
    let visit = visit.data()["planContactVisit"]["contactVisit"]["id"].clone();
    app.gql(
        &site.token,
        "mutation($v: ID!) { recordContactVisitHeld(input: { id: $v }) { contactVisit { id } } }",
        json!({ "v": visit }),
    )
    .await
    .data();
    let r = app.gql(&aarhus.token, CHANGES, json!({ "after": last })).await;
    let events: Vec<String> = r.data()["changes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["placement.created", "contact_visit.planned", "contact_visit.held"]);
    assert_eq!(app.gql(&site.token, CHANGES, json!({})).await.data()["changes"]["totalCount"], 0);

    let r = app.gql(&aarhus.token, CHANGES, json!({ "after": "yesterday" })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "after"));
}

#[tokio::test]
async fn a_case_system_upserts_a_family_by_its_case_id_again_and_again_without_duplicates() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let upsert = "mutation($input: UpsertFamilyInput!) { upsertFamily(input: $input) { created family { id name caseworkerContact version } } }";
    let first = app.gql(&aarhus.token, upsert, json!({ "input": { "externalId": "SAG-9", "name": "Hansen" } })).await;
    assert_eq!(first.data()["upsertFamily"]["created"], true);
    let id = first.data()["upsertFamily"]["family"]["id"].clone();
    let second = app
        .gql(
            &aarhus.token,
            upsert,
            json!({ "input": { "externalId": "SAG-9", "name": "Hansen-Berg", "caseworkerContact": "Sofie" } }),
        )
        .await;
    assert_eq!(
        second.data()["upsertFamily"],
        json!({ "created": false, "family": { "id": id, "name": "Hansen-Berg", "caseworkerContact": "Sofie", "version": 2 } })
    );
    assert_eq!(app.family_count(&aarhus).await, 1);
    let r = app.gql(&aarhus.token, upsert, json!({ "input": { "externalId": " ", "name": "X" } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.externalId"));
}

#[tokio::test]
async fn an_ended_placement_says_when_and_why_and_ends_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, "2026-01-10").await;
    let end = "mutation($id: ID!, $on: Date!) { endPlacement(input: { id: $id, endDate: $on, endReason: RETURNED_HOME }) { placement { endDate endReason version } } }";
    let r = app.gql(&aarhus.token, end, json!({ "id": placement, "on": "2026-01-09" })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.endDate"));
    let r = app.gql(&aarhus.token, end, json!({ "id": placement, "on": "2026-06-01" })).await;
    assert_eq!(
        r.data()["endPlacement"]["placement"],
        json!({ "endDate": "2026-06-01", "endReason": "RETURNED_HOME", "version": 2 })
    );
    assert_eq!(app.gql(&aarhus.token, end, json!({ "id": placement, "on": "2026-07-01" })).await.code(), "CONFLICT");
    // Once ended, a new placement of the child may start on the day it ended.
    app.seed_placement(&aarhus, &family, "2026-06-01").await;
}

/// A write whose transaction stays open while others commit and are read must still
/// reach a reader who resumes from the cursor it was given: its outbox id is smaller than
/// theirs, but its feed position is assigned once it is committed, after theirs.
#[tokio::test]
async fn a_change_committed_after_a_long_transaction_is_not_skipped_by_the_feed() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        // SQLite writes one transaction at a time: no write can commit past an open one.
        return;
    }
    let aarhus = app.municipality("Aarhus").await;
    let first = app.seed_family(&aarhus, None).await;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let held = db.begin().await.unwrap();
    held.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "INSERT INTO outbox (occurred_at, organization_id, aggregate_type, aggregate_id, event_type, payload) \
         VALUES (now(), $1, 'Family', $2, 'family.updated', $3)",
        [
            aarhus.id.as_uuid().into(),
            uuid_of(&first.id).into(),
            json!({ "event": "family.updated", "id": first.id }).to_string().into(),
        ],
    ))
    .await
    .unwrap();

    // Others commit and are read while that transaction is open.
    let second = app.seed_family(&aarhus, None).await;
    let read = app.gql(&aarhus.token, CHANGES, json!({})).await;
    let feed = &read.data()["changes"];
    let seen: Vec<&str> =
        feed["edges"].as_array().unwrap().iter().map(|e| e["node"]["event"].as_str().unwrap()).collect();
    assert!(!seen.contains(&"family.updated"), "the open transaction's change is not visible yet: {seen:?}");
    assert!(feed["edges"].as_array().unwrap().iter().any(|e| e["node"]["recordId"] == second.id.as_str()));
    let cursor = feed["pageInfo"]["endCursor"].clone();

    held.commit().await.unwrap();
    let next = app.gql(&aarhus.token, CHANGES, json!({ "after": cursor })).await;
    let edges = next.data()["changes"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 1, "the late commit comes after the cursor, once: {edges:?}");
    assert_eq!(edges[0]["node"]["event"], "family.updated");
    assert_eq!(edges[0]["node"]["recordId"], first.id.as_str());
    let end = next.data()["changes"]["pageInfo"]["endCursor"].clone();
    assert_eq!(app.gql(&aarhus.token, CHANGES, json!({ "after": end })).await.data()["changes"]["edges"], json!([]));
    db.close().await.unwrap();
}

/// A reader that asks right after a write commits sees it: there is no settle delay.
#[tokio::test]
async fn a_change_is_in_the_feed_as_soon_as_it_is_committed() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let r = app.gql(&aarhus.token, CHANGES, json!({})).await;
    assert!(
        r.data()["changes"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["recordId"] == family.id.as_str())
    );
}

/// A write's trail (its audit events, its change-feed rows and its idempotency key's
/// answer) is one statement on PostgreSQL, sent with its commit; SQLite, which has no
/// data-modifying `WITH` and no round trips to save, sends one statement each.
#[tokio::test]
async fn a_writes_trail_is_one_statement_on_postgresql() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    app.warm(&aarhus.token).await;
    let outbox_before = app.outbox_len().await;
    let (mut costs, mut ids) = (Vec::new(), Vec::new());
    for input in [json!({ "name": "Hansen" }), json!({ "name": "Berg", "idempotencyKey": "trail-1" })] {
        let before = app.store.statements_sent();
        let r = app.gql(&aarhus.token, CREATE, json!({ "input": input })).await;
        costs.push(app.store.statements_sent() - before);
        ids.push(r.data()["createFamily"]["family"]["id"].clone());
    }
    // The key costs its claim, and on SQLite its answer too; on PostgreSQL the answer goes
    // with the audit event and the change-feed row.
    let postgres = app.store.backend() == sea_orm::DbBackend::Postgres;
    assert_eq!(costs[1] - costs[0], if postgres { 1 } else { 2 }, "statements without and with a key: {costs:?}");
    // All of it was written: each family's audit event and change-feed row, and the key's
    // answer, which its retry gets.
    for id in &ids {
        let events = app.store.audit_events_for_record(uuid_of(id.as_str().unwrap())).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.operation == "createFamily").count(), 1, "{id}");
    }
    assert_eq!(app.outbox_len().await - outbox_before, 2, "one change-feed row per family");
    let input = json!({ "input": { "name": "Berg", "idempotencyKey": "trail-1" } });
    assert_eq!(app.gql(&aarhus.token, CREATE, input).await.data()["createFamily"]["family"]["id"], ids[1]);
    assert_eq!(app.family_count(&aarhus).await, 2, "the retry wrote nothing");
}

#[tokio::test]
async fn a_mutation_commits_with_the_audit_of_its_answer_on_postgresql() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite commits the write first and audits the answer after, as reads.
    }
    let aarhus = app.municipality("Aarhus").await;
    let input = json!({ "input": { "name": "Hansen", "idempotencyKey": "one-flush" } });
    let id = app.gql_as(&aarhus.token, "one-flush", CREATE, input.clone()).await.data()["createFamily"]["family"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The family, its audit event and the audit of the answer that showed it were written
    // by one transaction: one WAL flush for the write and its answer's audit.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let xmin = |sql: String| {
        let db = &db;
        async move {
            let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
            row.try_get_by_index::<String>(0).unwrap()
        }
    };
    let family = xmin(format!("SELECT xmin::text FROM families WHERE id = '{}'", uuid_of(&id))).await;
    let event = xmin("SELECT xmin::text FROM audit_events WHERE operation = 'createFamily'".to_owned()).await;
    let read = xmin("SELECT xmin::text FROM audit_reads WHERE request_id = 'one-flush'".to_owned()).await;
    assert_eq!((&event, &read), (&family, &family), "the transactions of the family, its event and the answer's audit");
    // The retry is answered from the key, and its answer is audited too.
    let retried = app.gql_as(&aarhus.token, "one-flush-retry", CREATE, input).await;
    assert_eq!(retried.data()["createFamily"]["family"]["id"], id.as_str());
    let reads = app.store.audit_events_for_request("one-flush-retry").await.unwrap();
    assert!(reads.iter().any(|e| e.record_type == "Family" && e.record_id == uuid_of(&id)), "{reads:?}");
}

/// On PostgreSQL the audit of a mutation's answer is sent in the statement of its write's
/// trail, so a mutation costs its reads, its writes and one statement for both of its
/// audits. SQLite sends the audit event, the change-feed row and, after the commit, the
/// audit of the answer, one statement each.
#[tokio::test]
async fn the_audit_of_a_mutations_answer_rides_with_its_trail_on_postgresql() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    app.warm(&aarhus.token).await;
    let before = app.store.statements_sent();
    let r = app.gql_as(&aarhus.token, "rides", CREATE, json!({ "input": { "name": "Hansen" } })).await;
    let cost = app.store.statements_sent() - before;
    let id = uuid_of(r.data()["createFamily"]["family"]["id"].as_str().unwrap());
    // The family's insert, the answer's read of it, and then the trail (audit event,
    // change-feed row) with the answer's audit on PostgreSQL. SQLite looks the token's
    // organisation up, and sends the trail and the answer's audit one statement each.
    let postgres = app.store.backend() == sea_orm::DbBackend::Postgres;
    assert_eq!(cost, if postgres { 3 } else { 6 }, "statements of one createFamily");
    // Both audits were written.
    let events = app.store.audit_events_for_request("rides").await.unwrap();
    assert!(events.iter().any(|e| e.operation == "createFamily" && e.record_id == id), "{events:?}");
    assert!(events.iter().any(|e| e.operation == "read" && e.record_id == id), "{events:?}");
}

#[tokio::test]
async fn two_mutations_in_one_request_both_commit_and_their_answers_are_audited() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let two = "mutation { a: createFamily(input: { name: \"Hansen\" }) { family { id } } \
               b: createFamily(input: { name: \"Berg\" }) { family { id } } }";
    let response = app.gql_as(&aarhus.token, "two-writes", two, json!({})).await;
    let data = response.data();
    let ids: Vec<_> = ["a", "b"].iter().map(|k| uuid_of(data[*k]["family"]["id"].as_str().unwrap())).collect();
    assert_eq!(app.family_count(&aarhus).await, 2);
    let reads = app.store.audit_events_for_request("two-writes").await.unwrap();
    for id in &ids {
        assert!(reads.iter().any(|e| e.record_type == "Family" && e.record_id == *id), "{id} in {reads:?}");
        let events = app.store.audit_events_for_record(*id).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.operation == "createFamily").count(), 1, "{id}");
    }
}

/// A planned visit, a visit's outcome and a plan review answer with the row their write
/// stored (on PostgreSQL through `RETURNING`, in the write's own statement) instead of
/// reading it again: the answer is what a read shows afterwards, to the microsecond, and
/// it is audited as shown. A review's answer reads its plan only when it shows it.
#[tokio::test]
async fn a_write_answers_with_the_row_it_stored_and_audits_it_as_shown() {
    let app = spawn_app().await;
    let postgres = app.store.backend() == sea_orm::DbBackend::Postgres;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, "2026-01-05").await;
    const VISIT: &str = "id version status createdAt updatedAt plannedStart plannedEnd supervision supervisorName \
                         observations outcomeRecordedAt";
    let read_visit = |id: &str| {
        let query = format!("query($id: ID!) {{ contactVisit(id: $id) {{ {VISIT} }} }}");
        let (app, token, id) = (&app, aarhus.token.clone(), id.to_owned());
        async move { app.gql(&token, &query, json!({ "id": id })).await.data()["contactVisit"].clone() }
    };

    let plan_visit = format!(
        "mutation($i: PlanContactVisitInput!) {{ planContactVisit(input: $i) {{ contactVisit {{ {VISIT} }} }} }}"
    );
    let input = json!({ "i": { "placementId": placement, "plannedStart": "2026-02-01T14:00:00.123456Z",
        "plannedEnd": "2026-02-01T16:00:00Z", "supervision": "SUPPORTED", "supervisorName": "Kari Nordmann" } });
    let before = app.store.statements_sent();
    let planned =
        app.gql_as(&aarhus.token, "answered-plan", &plan_visit, input).await.data()["planContactVisit"]["contactVisit"]
            .clone();
    let cost = app.store.statements_sent() - before;
    // The placement, the insert that returns the visit, and the trail with the answer's
    // audit (on SQLite: the token's organisation, which PostgreSQL remembers, and the
    // audit event, the change-feed row and the answer's audit, one statement each). No
    // read of the visit.
    assert_eq!(cost, if postgres { 3 } else { 6 }, "statements of one planContactVisit");
    let id = planned["id"].as_str().unwrap().to_owned();
    assert_eq!(planned, read_visit(&id).await, "the answer is the visit as stored");
    assert_eq!(planned["status"], "PLANNED");

    let held = format!(
        "mutation($i: RecordContactVisitHeldInput!) {{ recordContactVisitHeld(input: $i) {{ contactVisit {{ {VISIT} }} }} }}"
    );
    let input = json!({ "i": { "id": id, "observations": "Godt samvær" } });
    let before = app.store.statements_sent();
    let recorded =
        app.gql_as(&aarhus.token, "answered-held", &held, input).await.data()["recordContactVisitHeld"]["contactVisit"]
            .clone();
    let cost = app.store.statements_sent() - before;
    // The update, whose condition is the rule (no read of the visit before it), and the
    // trail with the answer's audit; on SQLite the token's organisation, and the audit
    // event, the change-feed row and the answer's audit one statement each.
    assert_eq!(cost, if postgres { 2 } else { 5 }, "statements of one recordContactVisitHeld");
    assert_eq!(recorded, read_visit(&id).await, "the answer is the visit as the update left it");
    assert_eq!((&recorded["status"], &recorded["version"]), (&json!("HELD"), &json!(2)));

    let plan = app.seed_plan(&aarhus).await;
    let activate =
        "mutation($id: ID!) { activateParentActionPlan(input: { id: $id }) { parentActionPlan { status } } }";
    app.gql(&aarhus.token, activate, json!({ "id": plan })).await.data();
    let review = "mutation($p: ID!) { recordPlanReview(input: { planId: $p, kind: STATUS_MEETING, heldOn: \"2026-02-05\", \
                  note: \"Opfølgning\" }) { review { id kind heldOn note nextReviewOn progress { score } } } }";
    let answered = app.gql_as(&aarhus.token, "answered-review", review, json!({ "p": plan })).await.data()
        ["recordPlanReview"]["review"]
        .clone();
    let reviews = "query($p: ID!) { parentActionPlan(id: $p) { reviews { edges { node { id kind heldOn note nextReviewOn progress { score } } } } } }";
    let read = app.gql(&aarhus.token, reviews, json!({ "p": plan })).await.data()["parentActionPlan"]["reviews"]["edges"]
        [0]["node"]
        .clone();
    assert_eq!(answered, read, "the answer is the review as stored");

    // Each answer was audited as shown; the review's answer showed the review and not its
    // plan, which it did not ask for.
    let shown = |request: &'static str| {
        let app = &app;
        async move {
            let events = app.store.audit_events_for_request(request).await.unwrap();
            let mut reads: Vec<_> =
                events.iter().filter(|e| e.operation == "read").map(|e| (e.record_type.clone(), e.record_id)).collect();
            reads.sort();
            reads
        }
    };
    for request in ["answered-plan", "answered-held"] {
        assert_eq!(shown(request).await, vec![("ContactVisit".to_owned(), uuid_of(&id))], "{request}");
    }
    let review_id = uuid_of(answered["id"].as_str().unwrap());
    assert_eq!(shown("answered-review").await, vec![("PlanReview".to_owned(), review_id)]);
    let with_plan = "mutation($p: ID!) { recordPlanReview(input: { planId: $p, kind: STATUS_MEETING, heldOn: \"2026-02-06\" }) \
                     { review { id } parentActionPlan { id } } }";
    let both =
        app.gql_as(&aarhus.token, "answered-both", with_plan, json!({ "p": plan })).await.data()["recordPlanReview"]
            .clone();
    let mut expected = vec![
        ("ParentActionPlan".to_owned(), uuid_of(&plan)),
        ("PlanReview".to_owned(), uuid_of(both["review"]["id"].as_str().unwrap())),
    ];
    expected.sort();
    assert_eq!(both["parentActionPlan"]["id"], plan.as_str());
    assert_eq!(shown("answered-both").await, expected);
}
