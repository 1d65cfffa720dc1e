//! Concurrency is input too: simultaneous requests, as integrations that retry and sync
//! in parallel send them. Retries get the first answer; races are `CONFLICT` or the
//! domain's own refusal, never `INTERNAL`. Run on SQLite and on PostgreSQL.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::support::{Gql, Org, TestApp, spawn_app};

const UPSERT: &str = "mutation($input: UpsertFamilyInput!) { upsertFamily(input: $input) { created changed family { id name version } } }";

fn no_internal(results: &[Gql]) {
    for r in results {
        if r.body.get("errors").is_some() {
            assert_ne!(r.code(), "INTERNAL", "{}", r.body);
        }
    }
}

/// Races are answered, not failures of the service: nothing was logged as an error.
fn no_error_lines(app: &TestApp) {
    assert_eq!(app.errors_logged(), 0, "the server logged ERROR lines for this test's requests");
}

async fn burst(app: &TestApp, token: &str, n: usize, query: &str, variables: impl Fn(usize) -> Value) -> Vec<Gql> {
    join_all((0..n).map(|i| app.gql(token, query, variables(i)))).await
}

#[tokio::test]
async fn twenty_concurrent_retries_with_one_key_all_get_the_first_answer() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let create = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id name } } }";
    let input = json!({ "input": { "name": "Hansen", "idempotencyKey": "burst" } });
    let results = burst(&app, &aarhus.token, 20, create, |_| input.clone()).await;
    let first = results[0].data().clone();
    for r in &results {
        assert_eq!(r.data(), &first, "every retry gets the first answer");
    }
    assert_eq!(app.family_count(&aarhus).await, 1);
    no_error_lines(&app);
}

#[tokio::test]
async fn a_retried_upsert_answers_created_as_the_first_did() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let input = json!({ "input": { "externalId": "SAG-1", "name": "Hansen", "idempotencyKey": "sync-1" } });
    let results = burst(&app, &aarhus.token, 20, UPSERT, |_| input.clone()).await;
    for r in &results {
        assert_eq!(r.data()["upsertFamily"]["created"], true, "{}", r.body);
        assert_eq!(r.data()["upsertFamily"]["changed"], true);
    }
    let ids: std::collections::BTreeSet<_> =
        results.iter().map(|r| r.data()["upsertFamily"]["family"]["id"].clone().to_string()).collect();
    assert_eq!(ids.len(), 1);
    no_error_lines(&app);
}

#[tokio::test]
async fn concurrent_upserts_of_one_new_case_id_create_it_once_and_never_conflict() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let results = burst(
        &app,
        &aarhus.token,
        10,
        UPSERT,
        |i| json!({ "input": { "externalId": "SAG-2", "name": format!("Hansen {}", i % 2) } }),
    )
    .await;
    let created = results.iter().filter(|r| r.data()["upsertFamily"]["created"] == true).count();
    assert_eq!(created, 1, "exactly one creates");
    assert_eq!(app.family_count(&aarhus).await, 1);
    no_error_lines(&app);
}

#[tokio::test]
async fn an_upsert_of_what_is_stored_changes_nothing() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let input = json!({ "input": { "externalId": "SAG-3", "name": "Hansen", "caseworkerContact": "Lone, 8940 0000" } });
    let first = app.gql(&aarhus.token, UPSERT, input.clone()).await;
    let changes = app.outbox_len().await;
    let again = app.gql(&aarhus.token, UPSERT, input).await;
    let payload = &again.data()["upsertFamily"];
    assert_eq!((&payload["created"], &payload["changed"]), (&json!(false), &json!(false)));
    assert_eq!(payload["family"]["version"], first.data()["upsertFamily"]["family"]["version"]);
    assert_eq!(app.outbox_len().await, changes, "nothing in the change feed");
    let renamed = json!({ "input": { "externalId": "SAG-3", "name": "Berg", "caseworkerContact": "Lone, 8940 0000" } });
    let changed = app.gql(&aarhus.token, UPSERT, renamed).await;
    assert_eq!(changed.data()["upsertFamily"]["changed"], true);
    assert_eq!(changed.data()["upsertFamily"]["family"]["version"], 2);
    no_error_lines(&app);
}

#[tokio::test]
async fn eight_concurrent_goals_of_one_plan_take_the_next_positions_in_turn() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let plan = app.seed_plan(&aarhus).await;
    let add = "mutation($p: ID!, $d: String!) { addGoal(input: { planId: $p, goal: { description: $d, purpose: PARENT_WELLBEING } }) { goal { id } } }";
    let results = burst(&app, &aarhus.token, 8, add, |i| json!({ "p": plan, "d": format!("Goal {i}") })).await;
    no_internal(&results);
    for r in &results {
        r.data();
    }
    let goals = app
        .gql(
            &aarhus.token,
            "query($p: ID!) { parentActionPlan(id: $p) { goals { totalCount } } }",
            json!({ "p": plan }),
        )
        .await;
    assert_eq!(goals.data()["parentActionPlan"]["goals"]["totalCount"], 8);
    no_error_lines(&app);
}

#[tokio::test]
async fn the_same_person_added_eight_times_at_once_is_a_member_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let other = app.seed_family(&aarhus, None).await;
    let add = "mutation($f: ID!, $p: ID!) { addFamilyMember(input: { familyId: $f, member: { role: GRANDPARENT, personId: $p } }) { member { id } } }";
    let results = burst(&app, &aarhus.token, 8, add, |_| json!({ "f": family.id, "p": other.parent_id })).await;
    no_internal(&results);
    let added = results.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(added, 1, "one adds the person");
    for r in results.iter().filter(|r| r.body.get("errors").is_some()) {
        assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.member.personId"), "{}", r.body);
    }
    no_error_lines(&app);
}

#[tokio::test]
async fn concurrent_visit_arrangements_of_one_placement_take_turns() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, "2026-01-05").await;
    let set = "mutation($p: ID!, $d: Int!) { setVisitArrangement(input: { placementId: $p, intervalDays: $d, supervision: UNSUPERVISED }) { visitArrangement { id } } }";
    let results = burst(&app, &aarhus.token, 8, set, |i| json!({ "p": placement, "d": 7 + i })).await;
    no_internal(&results);
    let ids: std::collections::BTreeSet<String> =
        results.iter().map(|r| r.data()["setVisitArrangement"]["visitArrangement"]["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one arrangement per placement");
    // Setting it again as it now is changes nothing.
    let now = app
        .gql(
            &aarhus.token,
            "query($p: ID!) { placement(id: $p) { visitArrangement { intervalDays } } }",
            json!({ "p": placement }),
        )
        .await;
    let days = now.data()["placement"]["visitArrangement"]["intervalDays"].clone();
    let changes = app.outbox_len().await;
    let again = "mutation($p: ID!, $d: Int!) { setVisitArrangement(input: { placementId: $p, intervalDays: $d, supervision: UNSUPERVISED }) { changed } }";
    let r = app.gql(&aarhus.token, again, json!({ "p": placement, "d": days })).await;
    assert_eq!(r.data()["setVisitArrangement"]["changed"], false);
    assert_eq!(app.outbox_len().await, changes);
    no_error_lines(&app);
}

#[tokio::test]
async fn a_national_id_is_registered_once_per_organisation() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let create = "mutation($n: String!) { createPerson(input: { person: { givenName: $n, familyName: \"Hansen\",
        identifiers: [{ kind: NATIONAL_ID, system: \"DK-CPR\", value: \"0101901234\" }] } }) { person { id } } }";
    let first = app.gql(&aarhus.token, create, json!({ "n": "Mette" })).await;
    let id = first.data()["createPerson"]["person"]["id"].clone();
    let again = app.gql(&aarhus.token, create, json!({ "n": "Mette" })).await;
    assert_eq!(again.code(), "CONFLICT");
    assert_eq!(again.body["errors"][0]["extensions"]["existingId"], id);
    // Another municipality keeps its own register.
    randers_ok(&app, &randers, create).await;
    // A new national id sent eight times at once: one registers it, the others are told
    // of the duplicate.
    let other = create.replace("0101901234", "0202901234");
    let results = burst(&app, &aarhus.token, 8, &other, |i| json!({ "n": format!("M{i}") })).await;
    no_internal(&results);
    assert_eq!(results.iter().filter(|r| r.body.get("errors").is_none()).count(), 1);
    assert!(results.iter().filter(|r| r.body.get("errors").is_some()).all(|r| r.code() == "CONFLICT"));
    no_error_lines(&app);
}

async fn randers_ok(app: &TestApp, randers: &Org, create: &str) {
    app.gql(&randers.token, create, json!({ "n": "Mette" })).await.data();
}

#[tokio::test]
async fn a_token_subject_is_one_family_partner() {
    let app = spawn_app().await;
    let mha =
        app.org(kinbridge_domain::organization::OrganizationKind::MentalHealthAuthority, "LMHA", &["MANAGER"]).await;
    let create = "mutation($n: String!) { createFamilyPartner(input: { givenName: $n, familyName: \"P\", certificationStatus: CERTIFIED,
        certifiedOn: \"2025-01-01\", renewalDue: \"2027-01-01\", subject: \"hanne\" }) { familyPartner { id } } }";
    let results = burst(&app, &mha.token, 8, create, |i| json!({ "n": format!("Hanne {i}") })).await;
    no_internal(&results);
    let created: Vec<&Gql> = results.iter().filter(|r| r.body.get("errors").is_none()).collect();
    assert_eq!(created.len(), 1, "one partner per subject");
    let id = created[0].data()["createFamilyPartner"]["familyPartner"]["id"].clone();
    let again = app.gql(&mha.token, create, json!({ "n": "Hanne" })).await;
    assert_eq!(again.code(), "CONFLICT");
    assert_eq!(again.body["errors"][0]["extensions"]["existingId"], id);
    no_error_lines(&app);
}

/// Writers commit while feed readers follow their cursors: each reader ends up with every
/// change exactly once, in one order shared by all readers.
#[tokio::test]
async fn feed_readers_beside_concurrent_writers_see_every_change_once_in_one_order() {
    const FEED: &str = "query($after: String) { changes(after: $after, first: 100) { pageInfo { endCursor } edges { node { recordId event } } } }";
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let create = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id } } }";
    let done = std::sync::atomic::AtomicBool::new(false);
    let follow = || async {
        let mut cursor = Value::Null;
        let mut seen = Vec::new();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let r = app.gql(&aarhus.token, FEED, json!({ "after": cursor })).await;
            let page = &r.data()["changes"];
            for edge in page["edges"].as_array().unwrap() {
                seen.push(format!("{}/{}", edge["node"]["event"], edge["node"]["recordId"]));
            }
            if !page["pageInfo"]["endCursor"].is_null() {
                cursor = page["pageInfo"]["endCursor"].clone();
            }
            if finished && page["edges"].as_array().unwrap().is_empty() {
                return seen;
            }
        }
    };
    let write = async {
        let results = join_all(
            (0..24).map(|i| app.gql(&aarhus.token, create, json!({ "input": { "name": format!("Family {i}") } }))),
        )
        .await;
        no_internal(&results);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let ((), first, second, third) = tokio::join!(write, follow(), follow(), follow());
    assert_eq!(first.len(), 24, "every change once: {first:?}");
    assert_eq!(first.iter().collect::<std::collections::BTreeSet<_>>().len(), 24);
    assert_eq!(first, second, "one order for every reader");
    assert_eq!(first, third);
    no_error_lines(&app);
}

/// Twenty integrations upsert one new visit case id at once: one visit is planned, every
/// answer names it, and exactly one says it created it.
#[tokio::test]
async fn concurrent_upserts_of_one_new_visit_case_id_plan_it_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let start = (chrono::Utc::now() - chrono::Duration::days(30)).date_naive().to_string();
    let placement = app.seed_placement(&aarhus, &family, &start).await;
    let upsert = "mutation($input: UpsertContactVisitInput!) { upsertContactVisit(input: $input) { created contactVisit { id } } }";
    let at = chrono::Utc::now() + chrono::Duration::days(2);
    let input = json!({ "input": { "externalId": "SAM-RACE", "placementId": placement, "plannedStart": at.to_rfc3339(),
        "plannedEnd": (at + chrono::Duration::hours(1)).to_rfc3339(), "supervision": "UNSUPERVISED" } });
    let results = burst(&app, &aarhus.token, 20, upsert, |_| input.clone()).await;
    no_internal(&results);
    let ids: std::collections::BTreeSet<String> =
        results.iter().map(|r| r.data()["upsertContactVisit"]["contactVisit"]["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one visit: {ids:?}");
    let created = results.iter().filter(|r| r.data()["upsertContactVisit"]["created"] == true).count();
    assert_eq!(created, 1);
    no_error_lines(&app);
}

/// Twenty integrations upsert one new placement case id at once: one placement.
#[tokio::test]
async fn concurrent_upserts_of_one_new_placement_case_id_record_it_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let upsert =
        "mutation($input: UpsertPlacementInput!) { upsertPlacement(input: $input) { created placement { id } } }";
    let input = json!({ "input": { "externalId": "ANB-RACE", "familyId": family.id, "childId": family.child_id,
        "setting": "FOSTER_FAMILY", "voluntary": false, "decisionDate": "2026-02-01", "startDate": "2026-02-02" } });
    let results = burst(&app, &aarhus.token, 20, upsert, |_| input.clone()).await;
    no_internal(&results);
    let ids: std::collections::BTreeSet<String> =
        results.iter().map(|r| r.data()["upsertPlacement"]["placement"]["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "one placement: {ids:?}");
    assert_eq!(results.iter().filter(|r| r.data()["upsertPlacement"]["created"] == true).count(), 1);
    no_error_lines(&app);
}

/// Reviews of one plan at once take turns on the plan (each locks and reads it in one
/// statement, then moves its next review date): all are recorded, none is INTERNAL, and
/// eight retries of one review with one key record it once.
#[tokio::test]
async fn concurrent_reviews_of_one_plan_are_each_recorded_and_a_retried_one_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let plan = app.seed_plan(&aarhus).await;
    let goal = "mutation($p: ID!) { addGoal(input: { planId: $p, goal: { description: \"Weekly visits\", purpose: PARENT_WELLBEING } }) { goal { id } } }";
    app.gql(&aarhus.token, goal, json!({ "p": plan })).await.data();
    let activate =
        "mutation($id: ID!) { activateParentActionPlan(input: { id: $id }) { parentActionPlan { status } } }";
    app.gql(&aarhus.token, activate, json!({ "id": plan })).await.data();
    let review = "mutation($p: ID!, $k: String) { recordPlanReview(input: { planId: $p, kind: STATUS_MEETING, heldOn: \"2026-02-05\", idempotencyKey: $k }) { review { id } } }";
    let distinct = burst(&app, &aarhus.token, 8, review, |i| json!({ "p": plan, "k": format!("review-{i}") })).await;
    no_internal(&distinct);
    let retried = burst(&app, &aarhus.token, 8, review, |_| json!({ "p": plan, "k": "review-once" })).await;
    no_internal(&retried);
    let first = retried[0].data()["recordPlanReview"]["review"]["id"].clone();
    for r in distinct.iter().chain(&retried) {
        r.data();
    }
    assert!(retried.iter().all(|r| r.data()["recordPlanReview"]["review"]["id"] == first), "one review for one key");
    let reviews = app
        .gql(
            &aarhus.token,
            "query($p: ID!) { parentActionPlan(id: $p) { reviews { totalCount } } }",
            json!({ "p": plan }),
        )
        .await;
    assert_eq!(reviews.data()["parentActionPlan"]["reviews"]["totalCount"], 9, "eight reviews and the retried one");
    no_error_lines(&app);
}

/// A planned visit retried twelve times at once with one key is planned once, and every
/// retry gets the first answer: the first is the row the insert returned, the others a
/// read of it, and they agree to the microsecond. Then eight outcomes of that visit at
/// once: one is recorded, the others are refused (never INTERNAL), and eight retries of
/// the recorded one with its key all get its answer.
#[tokio::test]
async fn a_visit_planned_and_recorded_at_once_is_planned_once_and_held_once() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let start = (chrono::Utc::now() - chrono::Duration::days(30)).date_naive().to_string();
    let placement = app.seed_placement(&aarhus, &family, &start).await;
    let plan = "mutation($i: PlanContactVisitInput!) { planContactVisit(input: $i) { contactVisit { id status version createdAt updatedAt } } }";
    let at = chrono::Utc::now() - chrono::Duration::days(2);
    let input = json!({ "i": { "placementId": placement, "plannedStart": at.to_rfc3339(),
        "plannedEnd": (at + chrono::Duration::hours(1)).to_rfc3339(), "supervision": "UNSUPERVISED",
        "idempotencyKey": "plan-once" } });
    let planned = burst(&app, &aarhus.token, 12, plan, |_| input.clone()).await;
    no_internal(&planned);
    let first = planned[0].data()["planContactVisit"]["contactVisit"].clone();
    assert!(planned.iter().all(|r| r.data()["planContactVisit"]["contactVisit"] == first), "every retry: {first}");
    let count = "query($p: ID!) { placement(id: $p) { contactVisits { totalCount } } }";
    let visits = app.gql(&aarhus.token, count, json!({ "p": placement })).await;
    assert_eq!(visits.data()["placement"]["contactVisits"]["totalCount"], 1, "planned once");

    let held = "mutation($id: ID!, $k: String) { recordContactVisitHeld(input: { id: $id, idempotencyKey: $k }) { contactVisit { id status version } } }";
    let id = first["id"].clone();
    let raced = burst(&app, &aarhus.token, 8, held, |i| json!({ "id": id, "k": format!("held-{i}") })).await;
    no_internal(&raced);
    let recorded: Vec<usize> = (0..raced.len()).filter(|i| raced[*i].body.get("errors").is_none()).collect();
    assert_eq!(recorded.len(), 1, "one outcome recorded: {:?}", raced.iter().map(|r| &r.body).collect::<Vec<_>>());
    let winner = &raced[recorded[0]];
    assert_eq!(winner.data()["recordContactVisitHeld"]["contactVisit"]["version"], 2);
    let key = format!("held-{}", recorded[0]);
    let retried = burst(&app, &aarhus.token, 8, held, |_| json!({ "id": id, "k": key })).await;
    for r in &retried {
        assert_eq!(r.body, winner.body, "a retry of the recorded outcome gets its answer");
    }
    no_error_lines(&app);
}
