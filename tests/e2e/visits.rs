//! Contact visits: planned, then held, cancelled (who, when, why) or no-show.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::{Org, TestApp, spawn_app};

const PLAN: &str = "mutation($input: PlanContactVisitInput!) { planContactVisit(input: $input) { contactVisit {
    id status version supervision supervisorName participants { givenName } placement { id } } } }";
const HELD: &str = "mutation($input: RecordContactVisitHeldInput!) { recordContactVisitHeld(input: $input) { contactVisit { id status observations version outcomeRecordedAt } } }";
const CANCEL: &str = "mutation($input: CancelContactVisitInput!) { cancelContactVisit(input: $input) { contactVisit { id status cancellation { cancelledBy cancelledAt reason } } } }";
const NO_SHOW: &str = "mutation($input: RecordContactVisitNoShowInput!) { recordContactVisitNoShow(input: $input) { contactVisit { id status } } }";

struct Setup {
    app: TestApp,
    org: Org,
    placement: String,
    parent: String,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let start = (Utc::now() - Duration::days(60)).date_naive().to_string();
    let placement = app.seed_placement(&org, &family, &start).await;
    Setup { app, org, placement, parent: family.parent_id }
}

fn visit(s: &Setup, starts_in_hours: i64) -> Value {
    let start = Utc::now() + Duration::hours(starts_in_hours);
    json!({ "input": {
        "placementId": s.placement, "plannedStart": start.to_rfc3339(), "plannedEnd": (start + Duration::hours(2)).to_rfc3339(),
        "location": "Familiecenter", "supervision": "SUPERVISED", "supervisorName": "Lone Berg", "participantIds": [s.parent],
    }})
}

async fn plan(s: &Setup, starts_in_hours: i64) -> String {
    let r = s.app.gql(&s.org.token, PLAN, visit(s, starts_in_hours)).await;
    let v = &r.data()["planContactVisit"]["contactVisit"];
    assert_eq!(v["status"], "PLANNED");
    assert_eq!(v["participants"], json!([{ "givenName": "Mette" }]));
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_planned_visit_is_recorded_as_held_with_observations() {
    let s = setup().await;
    let id = plan(&s, -3).await;
    let r = s
        .app
        .gql(
            &s.org.token,
            HELD,
            json!({ "input": { "id": id, "observations": "Calm goodbye.", "expectedVersion": 1 } }),
        )
        .await;
    let v = &r.data()["recordContactVisitHeld"]["contactVisit"];
    assert_eq!(v["status"], "HELD");
    assert_eq!(v["observations"], "Calm goodbye.");
    assert_eq!(v["version"], 2);
    assert!(v["outcomeRecordedAt"].is_string());
}

#[tokio::test]
async fn a_cancellation_records_who_cancelled_when_and_why() {
    let s = setup().await;
    let id = plan(&s, 48).await;
    let r = s
        .app
        .gql(&s.org.token, CANCEL, json!({ "input": { "id": id, "cancelledBy": "PARENT", "reason": "Ill", "cancelledAt": "2026-11-20T08:30:00Z" } }))
        .await;
    let v = &r.data()["cancelContactVisit"]["contactVisit"];
    assert_eq!(v["status"], "CANCELLED");
    assert_eq!(v["cancellation"]["cancelledBy"], "PARENT");
    assert_eq!(v["cancellation"]["reason"], "Ill");
    assert_eq!(v["cancellation"]["cancelledAt"], "2026-11-20T08:30:00Z");
}

#[tokio::test]
async fn a_time_sent_with_an_offset_is_answered_as_the_same_instant_in_utc() {
    let s = setup().await;
    let id = plan(&s, 48).await;
    let r = s
        .app
        .gql(&s.org.token, CANCEL, json!({ "input": { "id": id, "cancelledBy": "PARENT", "reason": "Ill", "cancelledAt": "2026-11-20T08:30:00+01:00" } }))
        .await;
    let v = &r.data()["cancelContactVisit"]["contactVisit"];
    assert_eq!(v["cancellation"]["cancelledAt"], "2026-11-20T07:30:00Z", "no offset, no fraction of zeros");
}

#[tokio::test]
async fn a_cancellation_without_a_reason_is_refused_and_the_visit_stays_planned() {
    let s = setup().await;
    let id = plan(&s, 48).await;
    let r =
        s.app.gql(&s.org.token, CANCEL, json!({ "input": { "id": id, "cancelledBy": "CHILD", "reason": "  " } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.reason"));
    let r = s.app.gql(&s.org.token, CANCEL, json!({ "input": { "id": id, "reason": "Ill" } })).await;
    assert_eq!(r.code(), "BAD_USER_INPUT", "who cancelled is required: {}", r.body);
    let r = s
        .app
        .gql(&s.org.token, "query($id: ID!) { contactVisit(id: $id) { status version } }", json!({ "id": id }))
        .await;
    assert_eq!(r.data()["contactVisit"], json!({ "status": "PLANNED", "version": 1 }));
}

#[tokio::test]
async fn a_visit_already_held_cannot_be_cancelled_or_missed() {
    let s = setup().await;
    let id = plan(&s, -3).await;
    s.app.gql(&s.org.token, HELD, json!({ "input": { "id": id } })).await.data();
    let r = s
        .app
        .gql(&s.org.token, CANCEL, json!({ "input": { "id": id, "cancelledBy": "PARENT", "reason": "Late" } }))
        .await;
    assert_eq!(r.code(), "CONFLICT");
    assert!(r.message().contains("already HELD"), "{}", r.message());
    let r = s.app.gql(&s.org.token, NO_SHOW, json!({ "input": { "id": id } })).await;
    assert_eq!(r.code(), "CONFLICT");
}

#[tokio::test]
async fn a_visit_cannot_be_recorded_as_held_or_missed_before_it_starts() {
    let s = setup().await;
    let id = plan(&s, 24).await;
    let r = s.app.gql(&s.org.token, HELD, json!({ "input": { "id": id } })).await;
    assert_eq!(r.code(), "CONFLICT");
    let r = s.app.gql(&s.org.token, NO_SHOW, json!({ "input": { "id": id } })).await;
    assert_eq!(r.code(), "CONFLICT");
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict() {
    let s = setup().await;
    let id = plan(&s, -3).await;
    let r = s.app.gql(&s.org.token, NO_SHOW, json!({ "input": { "id": id, "expectedVersion": 7 } })).await;
    assert_eq!(r.code(), "CONFLICT");
    let r = s.app.gql(&s.org.token, NO_SHOW, json!({ "input": { "id": id, "expectedVersion": 1 } })).await;
    assert_eq!(r.data()["recordContactVisitNoShow"]["contactVisit"]["status"], "NO_SHOW");
}

#[tokio::test]
async fn a_visit_ending_before_it_starts_or_outside_the_placement_is_refused() {
    let s = setup().await;
    let mut v = visit(&s, 5);
    v["input"]["plannedEnd"] = v["input"]["plannedStart"].clone();
    let r = s.app.gql(&s.org.token, PLAN, v).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.plannedEnd"));
    let r = s.app.gql(&s.org.token, PLAN, visit(&s, -24 * 90)).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.plannedStart"));
    let mut v = visit(&s, 5);
    v["input"]["supervisorName"] = Value::Null;
    let r = s.app.gql(&s.org.token, PLAN, v).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.supervisorName"));
    let r = s
        .app
        .gql(
            &s.org.token,
            "query($id: ID!) { placement(id: $id) { contactVisits { totalCount } } }",
            json!({ "id": s.placement }),
        )
        .await;
    assert_eq!(r.data()["placement"]["contactVisits"]["totalCount"], 0);
}

#[tokio::test]
async fn a_participant_outside_the_family_is_refused() {
    let s = setup().await;
    let other = s.app.seed_family(&s.org, None).await;
    let mut v = visit(&s, 5);
    v["input"]["participantIds"] = json!([s.parent, other.parent_id]);
    let r = s.app.gql(&s.org.token, PLAN, v).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.participantIds.1"));
}

#[tokio::test]
async fn another_organisations_visit_is_not_found_and_cannot_be_cancelled() {
    let s = setup().await;
    let id = plan(&s, 24).await;
    let randers = s.app.municipality("Randers").await;
    let r =
        s.app.gql(&randers.token, "query($id: ID!) { contactVisit(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
    let r = s
        .app
        .gql(&randers.token, CANCEL, json!({ "input": { "id": id, "cancelledBy": "OTHER", "reason": "x" } }))
        .await;
    assert_eq!(r.code(), "NOT_FOUND");
}

const UPSERT: &str = "mutation($input: UpsertContactVisitInput!) { upsertContactVisit(input: $input) { created changed contactVisit { id status version plannedStart location externalId } } }";

/// A case system sends its visits on every sync: the first plans the visit, a repeat
/// changes nothing, a new time moves it while it is planned, and once it was held only
/// the same input is accepted.
#[tokio::test]
async fn a_case_system_upserts_a_visit_by_its_case_id_without_duplicates() {
    let s = setup().await;
    let base = Utc::now();
    let input = |hours: i64, location: &str| {
        let start = base + Duration::hours(hours);
        let mut v = visit(&s, 0);
        v["input"]["plannedStart"] = json!(start.to_rfc3339());
        v["input"]["plannedEnd"] = json!((start + Duration::hours(2)).to_rfc3339());
        v["input"]["externalId"] = json!("SAM-1");
        v["input"]["location"] = json!(location);
        v
    };
    let first = s.app.gql(&s.org.token, UPSERT, input(-3, "Familiecenter")).await;
    let first = &first.data()["upsertContactVisit"];
    assert_eq!((first["created"].as_bool(), first["changed"].as_bool()), (Some(true), Some(true)));
    let id = first["contactVisit"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["contactVisit"]["externalId"], "SAM-1");

    let again = s.app.gql(&s.org.token, UPSERT, input(-3, "Familiecenter")).await;
    let again = &again.data()["upsertContactVisit"];
    assert_eq!((again["created"].as_bool(), again["changed"].as_bool()), (Some(false), Some(false)));
    assert_eq!(again["contactVisit"]["version"], 1, "nothing written");

    let moved = s.app.gql(&s.org.token, UPSERT, input(-3, "Biblioteket")).await;
    let moved = &moved.data()["upsertContactVisit"];
    assert_eq!((moved["created"].as_bool(), moved["changed"].as_bool()), (Some(false), Some(true)));
    assert_eq!(
        (moved["contactVisit"]["id"].as_str(), moved["contactVisit"]["version"].as_i64()),
        (Some(id.as_str()), Some(2))
    );
    assert_eq!(moved["contactVisit"]["location"], "Biblioteket");

    s.app.gql(&s.org.token, HELD, json!({ "input": { "id": id } })).await.data();
    let after_held = s.app.gql(&s.org.token, UPSERT, input(-3, "Biblioteket")).await;
    assert_eq!(after_held.data()["upsertContactVisit"]["changed"], false, "the same input is still accepted");
    let refused = s.app.gql(&s.org.token, UPSERT, input(-2, "Biblioteket")).await;
    assert_eq!(refused.code(), "CONFLICT", "a held visit is not moved: {}", refused.body);

    // The feed: planned once, updated once.
    let feed =
        s.app.gql(&s.org.token, "{ changes(first: 100) { edges { node { recordId event } } } }", json!({})).await;
    let events: Vec<String> = feed.data()["changes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["recordId"] == id.as_str())
        .map(|e| e["node"]["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["contact_visit.planned", "contact_visit.updated", "contact_visit.held"]);

    // The case id names one visit of one placement; a blank one is refused.
    let family = s.app.seed_family(&s.org, None).await;
    let start = (Utc::now() - Duration::days(60)).date_naive().to_string();
    let other = s.app.seed_placement(&s.org, &family, &start).await;
    let mut elsewhere = input(-3, "Biblioteket");
    elsewhere["input"]["placementId"] = json!(other);
    let r = s.app.gql(&s.org.token, UPSERT, elsewhere).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.placementId"));
    let mut blank = input(-3, "Biblioteket");
    blank["input"]["externalId"] = json!("  ");
    let r = s.app.gql(&s.org.token, UPSERT, blank).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.externalId"));
}
