//! The guidance as behaviour (001): the plan's lifecycle and reviews, and support offers.

use chrono::{Days, Utc};
use serde_json::{Value, json};

use crate::support::{Org, TestApp, spawn_app};

fn day(offset: i64) -> String {
    let today = Utc::now().date_naive();
    (if offset < 0 { today - Days::new(offset.unsigned_abs()) } else { today + Days::new(offset.unsigned_abs()) })
        .to_string()
}

struct Setup {
    app: TestApp,
    org: Org,
    placement: String,
    plan: String,
    goals: Vec<String>,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let placement = app.seed_placement(&org, &family, &day(-50)).await;
    let r = app
        .gql(
            &org.token,
            "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 30, goals: [
                { description: \"Come to every visit\", purpose: IMPROVE_CONTACT }, { description: \"A calm home\", purpose: RETURN_HOME }] }) {
                parentActionPlan { id goals { edges { node { id } } } } } }",
            json!({ "p": placement }),
        )
        .await;
    let plan = &r.data()["createParentActionPlan"]["parentActionPlan"];
    let goals = plan["goals"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    Setup { plan: plan["id"].as_str().unwrap().to_owned(), app, org, placement, goals }
}

const PLAN: &str = "query($id: ID!) { parentActionPlan(id: $id) { status activatedOn closedOn nextReviewDue isReviewOverdue version
    reviews { totalCount edges { node { kind heldOn note adjustments nextReviewOn progress { score goal { description } } } } } } }";
const REVIEW: &str = "mutation($input: RecordPlanReviewInput!) { recordPlanReview(input: $input) { review { id } parentActionPlan { isReviewOverdue } } }";

async fn plan(s: &Setup) -> Value {
    s.app.gql(&s.org.token, PLAN, json!({ "id": s.plan })).await.data()["parentActionPlan"].clone()
}

#[tokio::test]
async fn a_plan_is_agreed_reviewed_and_closed_and_its_next_review_is_derived() {
    let s = setup().await;
    let draft = plan(&s).await;
    assert_eq!((draft["status"].as_str(), draft["isReviewOverdue"].as_bool()), (Some("DRAFT"), Some(false)));

    let r = s.app.gql(&s.org.token, "mutation($id: ID!) { activateParentActionPlan(input: { id: $id, expectedVersion: 1 }) { parentActionPlan { status } } }", json!({ "id": s.plan })).await;
    assert_eq!(r.data()["activateParentActionPlan"]["parentActionPlan"]["status"], "ACTIVE");
    let active = plan(&s).await;
    assert_eq!(active["activatedOn"], day(0));
    assert_eq!(active["nextReviewDue"], day(30), "one review interval after the plan was agreed");

    // A meeting 40 days ago set the next one for 5 days ago, which was not held: overdue.
    let r = s
        .app
        .gql(
            &s.org.token,
            REVIEW,
            json!({ "input": { "planId": s.plan, "kind": "PLAN_MEETING", "heldOn": day(-40), "nextReviewOn": day(-5),
                "note": "Visits went well.", "adjustments": "More visits.",
                "progress": [{ "goalId": s.goals[0], "score": 4 }, { "goalId": s.goals[1], "score": 2, "note": "Early days." }] } }),
        )
        .await;
    assert_eq!(r.data()["recordPlanReview"]["parentActionPlan"]["isReviewOverdue"], true);
    let reviewed = plan(&s).await;
    assert_eq!(reviewed["nextReviewDue"], day(-5));
    let review = &reviewed["reviews"]["edges"][0]["node"];
    assert_eq!(
        review["progress"],
        json!([{ "score": 4, "goal": { "description": "Come to every visit" } }, { "score": 2, "goal": { "description": "A calm home" } }])
    );

    // A status meeting today without a date: the next review is one interval on.
    s.app
        .gql(&s.org.token, REVIEW, json!({ "input": { "planId": s.plan, "kind": "STATUS_MEETING", "heldOn": day(0) } }))
        .await
        .data();
    let reviewed = plan(&s).await;
    assert_eq!(
        (reviewed["nextReviewDue"].as_str(), reviewed["isReviewOverdue"].as_bool()),
        (Some(day(30).as_str()), Some(false))
    );

    let r = s.app.gql(&s.org.token, "mutation($id: ID!) { closeParentActionPlan(input: { id: $id }) { parentActionPlan { status closedOn nextReviewDue } } }", json!({ "id": s.plan })).await;
    assert_eq!(
        r.data()["closeParentActionPlan"]["parentActionPlan"],
        json!({ "status": "CLOSED", "closedOn": day(0), "nextReviewDue": null })
    );
    let r = s
        .app
        .gql(&s.org.token, REVIEW, json!({ "input": { "planId": s.plan, "kind": "STATUS_MEETING", "heldOn": day(0) } }))
        .await;
    assert_eq!(r.code(), "CONFLICT", "a closed plan is not reviewed");
    let r = s
        .app
        .gql(
            &s.org.token,
            "mutation($id: ID!) { activateParentActionPlan(input: { id: $id }) { parentActionPlan { status } } }",
            json!({ "id": s.plan }),
        )
        .await;
    assert_eq!(r.code(), "CONFLICT", "a closed plan stays closed");
}

#[tokio::test]
async fn only_an_active_plan_is_reviewed() {
    let s = setup().await;
    let r = s
        .app
        .gql(&s.org.token, REVIEW, json!({ "input": { "planId": s.plan, "kind": "STATUS_MEETING", "heldOn": day(0) } }))
        .await;
    assert_eq!(r.code(), "CONFLICT");
    assert_eq!(plan(&s).await["reviews"]["totalCount"], 0);
}

#[tokio::test]
async fn a_review_scores_goals_of_its_own_plan_once_each_and_is_held_before_it_is_recorded() {
    let s = setup().await;
    s.app
        .gql(
            &s.org.token,
            "mutation($id: ID!) { activateParentActionPlan(input: { id: $id }) { parentActionPlan { id } } }",
            json!({ "id": s.plan }),
        )
        .await
        .data();
    let other = setup().await;
    let bad = [
        (
            json!({ "progress": [{ "goalId": other.goals[0], "score": 3 }] }),
            "BAD_USER_INPUT",
            "input.progress.0.goalId",
        ),
        (
            json!({ "progress": [{ "goalId": s.goals[0], "score": 3 }, { "goalId": s.goals[0], "score": 4 }] }),
            "BAD_USER_INPUT",
            "input.progress.1.goalId",
        ),
        (json!({ "progress": [{ "goalId": s.goals[0], "score": 9 }] }), "BAD_USER_INPUT", "input.progress.0.score"),
        (json!({ "heldOn": day(3) }), "BAD_USER_INPUT", "input.heldOn"),
        (json!({ "nextReviewOn": day(-1) }), "BAD_USER_INPUT", "input.nextReviewOn"),
    ];
    for (extra, code, field) in bad {
        let mut input = json!({ "planId": s.plan, "kind": "PLAN_MEETING", "heldOn": day(0) });
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        let r = s.app.gql(&s.org.token, REVIEW, json!({ "input": input })).await;
        assert_eq!((r.code(), r.field()), (code, field), "{input}");
    }
    assert_eq!(plan(&s).await["reviews"]["totalCount"], 0, "nothing was written");
}

const OFFER: &str =
    "mutation($input: OfferSupportInput!) { offerSupport(input: $input) { supportOffer { id response } } }";
const ANSWER: &str = "mutation($input: AnswerSupportOfferInput!) { answerSupportOffer(input: $input) { supportOffer { response respondedOn reofferOn version } } }";

#[tokio::test]
async fn a_declined_offer_gets_a_date_to_offer_it_again() {
    let s = setup().await;
    let r = s
        .app
        .gql(
            &s.org.token,
            OFFER,
            json!({ "input": { "placementId": s.placement, "kind": "SUPPORT_PERSON", "offeredOn": day(-45) } }),
        )
        .await;
    let offer = r.data()["offerSupport"]["supportOffer"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.data()["offerSupport"]["supportOffer"]["response"], "PENDING");

    let r = s
        .app
        .gql(&s.org.token, ANSWER, json!({ "input": { "id": offer, "response": "DECLINED", "respondedOn": day(-44) } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.reofferOn"));
    assert!(r.message().contains("ready"), "{}", r.message());
    let r = s
        .app
        .gql(
            &s.org.token,
            ANSWER,
            json!({ "input": { "id": offer, "response": "DECLINED", "respondedOn": day(-44), "reofferOn": day(-10) } }),
        )
        .await;
    assert_eq!(
        r.data()["answerSupportOffer"]["supportOffer"],
        json!({ "response": "DECLINED", "respondedOn": day(-44), "reofferOn": day(-10), "version": 2 })
    );
    let r = s
        .app
        .gql(&s.org.token, ANSWER, json!({ "input": { "id": offer, "response": "ACCEPTED", "respondedOn": day(-9) } }))
        .await;
    assert_eq!(
        (r.code(), r.field()),
        ("BAD_USER_INPUT", "input.id"),
        "an answered offer is offered anew, not answered again"
    );
}

#[tokio::test]
async fn the_days_from_decision_to_first_offer_show_how_soon_support_started() {
    let s = setup().await;
    let q = "query($p: ID!) { placement(id: $p) { daysFromDecisionToFirstOffer supportOffers { totalCount } } }";
    assert_eq!(
        s.app.gql(&s.org.token, q, json!({ "p": s.placement })).await.data()["placement"]["daysFromDecisionToFirstOffer"],
        Value::Null
    );
    for (kind, on) in [("PMTO", day(-40)), ("SUPPORT_PERSON", day(-47))] {
        s.app
            .gql(&s.org.token, OFFER, json!({ "input": { "placementId": s.placement, "kind": kind, "offeredOn": on } }))
            .await
            .data();
    }
    let r = s.app.gql(&s.org.token, q, json!({ "p": s.placement })).await;
    assert_eq!(
        r.data()["placement"],
        json!({ "daysFromDecisionToFirstOffer": 3, "supportOffers": { "totalCount": 2 } })
    );
}

async fn visit(s: &Setup, placement: &str, days_from_now: i64, outcome: Option<(&str, Value)>) {
    let start = Utc::now() + chrono::Duration::days(days_from_now);
    let r = s
        .app
        .gql(
            &s.org.token,
            "mutation($p: ID!, $s: DateTime!, $e: DateTime!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: UNSUPERVISED }) { contactVisit { id } } }",
            json!({ "p": placement, "s": start.to_rfc3339(), "e": (start + chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await;
    let id = r.data()["planContactVisit"]["contactVisit"]["id"].clone();
    if let Some((mutation, mut input)) = outcome {
        input["id"] = id;
        let q = format!(
            "mutation($input: {}Input!) {{ {}(input: $input) {{ contactVisit {{ status }} }} }}",
            capitalise(mutation),
            mutation
        );
        s.app.gql(&s.org.token, &q, json!({ "input": input })).await.data();
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

#[tokio::test]
async fn visit_statistics_count_each_outcome_and_the_cancellation_rate() {
    let s = setup().await;
    let p = s.placement.clone();
    visit(&s, &p, -20, Some(("recordContactVisitHeld", json!({})))).await;
    visit(&s, &p, -13, Some(("recordContactVisitHeld", json!({})))).await;
    visit(&s, &p, -6, Some(("cancelContactVisit", json!({ "cancelledBy": "PARENT", "reason": "Ill" })))).await;
    visit(&s, &p, -2, Some(("recordContactVisitNoShow", json!({})))).await;
    visit(&s, &p, 5, None).await;
    visit(
        &s,
        &p,
        -40,
        Some(("cancelContactVisit", json!({ "cancelledBy": "PLACEMENT_PROVIDER", "reason": "Outing" }))),
    )
    .await;
    let q = "query($p: ID!, $from: Date!, $to: Date!) { placement(id: $p) { visitStatistics(from: $from, to: $to) {
        planned held cancelled noShow cancellationRate cancellationsBy { cancelledBy count } } } }";
    let r = s.app.gql(&s.org.token, q, json!({ "p": p, "from": day(-30), "to": day(30) })).await;
    assert_eq!(
        r.data()["placement"]["visitStatistics"],
        json!({ "planned": 1, "held": 2, "cancelled": 1, "noShow": 1, "cancellationRate": 0.25, "cancellationsBy": [{ "cancelledBy": "PARENT", "count": 1 }] })
    );
    let r = s.app.gql(&s.org.token, q, json!({ "p": p, "from": day(-60), "to": day(0) })).await;
    assert_eq!(r.data()["placement"]["visitStatistics"]["cancelled"], 2);
    let r = s.app.gql(&s.org.token, q, json!({ "p": p, "from": day(0), "to": day(-1) })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "to"));

    let r = s
        .app
        .gql(&s.org.token, "query($from: Date!, $to: Date!) { cancellationRatesByProvider(from: $from, to: $to) { provider { name } statistics { held cancelled cancellationRate } } }", json!({ "from": day(-60), "to": day(30) }))
        .await;
    assert_eq!(
        r.data()["cancellationRatesByProvider"],
        json!([{ "provider": null, "statistics": { "held": 2, "cancelled": 2, "cancellationRate": 0.4 } }])
    );
}

#[tokio::test]
async fn a_visit_arrangement_says_how_often_and_with_what_supervision_and_is_replaced_whole() {
    let s = setup().await;
    let m = "mutation($input: SetVisitArrangementInput!) { setVisitArrangement(input: $input) { visitArrangement { intervalDays supervision supervisorName version } } }";
    let r = s
        .app
        .gql(
            &s.org.token,
            m,
            json!({ "input": { "placementId": s.placement, "intervalDays": 14, "supervision": "SUPERVISED" } }),
        )
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.supervisorName"));
    let r = s.app.gql(&s.org.token, m, json!({ "input": { "placementId": s.placement, "intervalDays": 14, "supervision": "SUPERVISED", "supervisorName": "Lone Berg" } })).await;
    assert_eq!(
        r.data()["setVisitArrangement"]["visitArrangement"],
        json!({ "intervalDays": 14, "supervision": "SUPERVISED", "supervisorName": "Lone Berg", "version": 1 })
    );
    let r = s
        .app
        .gql(
            &s.org.token,
            m,
            json!({ "input": { "placementId": s.placement, "intervalDays": 7, "supervision": "UNSUPERVISED" } }),
        )
        .await;
    assert_eq!(
        r.data()["setVisitArrangement"]["visitArrangement"],
        json!({ "intervalDays": 7, "supervision": "UNSUPERVISED", "supervisorName": null, "version": 2 })
    );
}

const AWAITING: &str =
    "query($n: Int) { placementsAwaitingSupportOffer(afterDays: $n) { totalCount edges { node { id } } } }";

#[tokio::test]
async fn a_placement_without_a_support_offer_days_after_the_decision_is_flagged() {
    let s = setup().await;
    let count = async |n: Option<i64>| {
        s.app.gql(&s.org.token, AWAITING, json!({ "n": n })).await.data()["placementsAwaitingSupportOffer"]["totalCount"].clone()
    };
    assert_eq!(count(None).await, 1, "decided 50 days ago, nothing offered, default 14 days");
    assert_eq!(count(Some(60)).await, 0, "not yet 60 days");
    s.app
        .gql(
            &s.org.token,
            OFFER,
            json!({ "input": { "placementId": s.placement, "kind": "SUPPORT_PERSON", "offeredOn": day(0) } }),
        )
        .await
        .data();
    assert_eq!(count(None).await, 0, "an offer, even late, clears the alert");
    let r = s.app.gql(&s.org.token, AWAITING, json!({ "n": -1 })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "afterDays"));
}

#[tokio::test]
async fn a_declined_offer_is_flagged_when_its_reoffer_date_comes_until_it_is_offered_again() {
    let s = setup().await;
    let due = async || {
        s.app
            .gql(
                &s.org.token,
                "{ supportOffersDueForReoffer { totalCount edges { node { kind reofferOn } } } }",
                json!({}),
            )
            .await
            .data()["supportOffersDueForReoffer"]
            .clone()
    };
    let offer = async |kind: &str, on: String| {
        let r = s
            .app
            .gql(&s.org.token, OFFER, json!({ "input": { "placementId": s.placement, "kind": kind, "offeredOn": on } }))
            .await;
        r.data()["offerSupport"]["supportOffer"]["id"].as_str().unwrap().to_owned()
    };
    let later = offer("PMTO", day(-40)).await;
    s.app
        .gql(
            &s.org.token,
            ANSWER,
            json!({ "input": { "id": later, "response": "DECLINED", "respondedOn": day(-39), "reofferOn": day(10) } }),
        )
        .await
        .data();
    let now = offer("SUPPORT_PERSON", day(-40)).await;
    s.app
        .gql(
            &s.org.token,
            ANSWER,
            json!({ "input": { "id": now, "response": "DECLINED", "respondedOn": day(-39), "reofferOn": day(-1) } }),
        )
        .await
        .data();
    assert_eq!(
        due().await,
        json!({ "totalCount": 1, "edges": [{ "node": { "kind": "SUPPORT_PERSON", "reofferOn": day(-1) } }] })
    );
    offer("SUPPORT_PERSON", day(0)).await;
    assert_eq!(due().await["totalCount"], 0, "offered again");
}

#[tokio::test]
async fn a_plan_past_its_review_date_is_flagged_as_overdue() {
    let s = setup().await;
    let overdue = async || {
        s.app.gql(&s.org.token, "{ plansOverdueForReview { totalCount } }", json!({})).await.data()["plansOverdueForReview"]["totalCount"].clone()
    };
    s.app
        .gql(
            &s.org.token,
            "mutation($id: ID!) { activateParentActionPlan(input: { id: $id }) { parentActionPlan { id } } }",
            json!({ "id": s.plan }),
        )
        .await
        .data();
    assert_eq!(overdue().await, 0);
    s.app.gql(&s.org.token, REVIEW, json!({ "input": { "planId": s.plan, "kind": "PLAN_MEETING", "heldOn": day(-30), "nextReviewOn": day(-1) } })).await.data();
    assert_eq!(overdue().await, 1);
    let other = s.app.municipality("Randers").await;
    assert_eq!(
        s.app.gql(&other.token, "{ plansOverdueForReview { totalCount } }", json!({})).await.data()["plansOverdueForReview"]
            ["totalCount"],
        0
    );
}
