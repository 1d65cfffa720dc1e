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
