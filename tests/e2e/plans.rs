//! Parent action plans: made with the parents, goals in their own words with a purpose.

use serde_json::json;

use crate::support::spawn_app;

const CREATE: &str = "mutation($input: CreateParentActionPlanInput!) { createParentActionPlan(input: $input) {
    parentActionPlan { id status reviewIntervalDays childPlanReference placement { id } family { name }
    goals { totalCount edges { node { description purpose position } } } } } }";

#[tokio::test]
async fn a_plan_is_made_with_goals_in_the_parents_words_and_read_back_in_order() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let placement = app.seed_placement(&org, &family, "2026-08-10").await;
    let r = app
        .gql(
            &org.token,
            CREATE,
            json!({ "input": {
                "placementId": placement, "reviewIntervalDays": 42, "childPlanReference": "BP-1",
                "goals": [
                    { "description": "I want to come to every visit, prepared.", "purpose": "IMPROVE_CONTACT" },
                    { "description": "A calm home, so Emma can come home.", "purpose": "RETURN_HOME" },
                ]
            }}),
        )
        .await;
    let plan = &r.data()["createParentActionPlan"]["parentActionPlan"];
    assert_eq!(plan["status"], "DRAFT");
    assert_eq!(plan["reviewIntervalDays"], 42);
    assert_eq!(plan["childPlanReference"], "BP-1");
    assert_eq!(plan["placement"]["id"], placement.as_str());
    assert_eq!(plan["family"]["name"], "Hansen");
    assert_eq!(plan["goals"]["totalCount"], 2);
    assert_eq!(
        plan["goals"]["edges"][1]["node"],
        json!({ "description": "A calm home, so Emma can come home.", "purpose": "RETURN_HOME", "position": 1 })
    );

    let add = "mutation($input: AddGoalInput!) { addGoal(input: $input) { goal { position purpose } parentActionPlan { goals { totalCount } } } }";
    let r = app
        .gql(&org.token, add, json!({ "input": { "planId": plan["id"], "goal": { "description": "Sleep better", "purpose": "PARENT_WELLBEING" } } }))
        .await;
    assert_eq!(r.data()["addGoal"]["goal"], json!({ "position": 2, "purpose": "PARENT_WELLBEING" }));
    assert_eq!(r.data()["addGoal"]["parentActionPlan"]["goals"]["totalCount"], 3);

    let r = app
        .gql(
            &org.token,
            "query($id: ID!) { family(id: $id) { parentActionPlans { totalCount } } }",
            json!({ "id": family.id }),
        )
        .await;
    assert_eq!(r.data()["family"]["parentActionPlans"]["totalCount"], 1);
}

#[tokio::test]
async fn a_plan_with_a_review_interval_out_of_range_or_a_blank_goal_is_refused() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let placement = app.seed_placement(&org, &family, "2026-08-10").await;
    let r =
        app.gql(&org.token, CREATE, json!({ "input": { "placementId": placement, "reviewIntervalDays": 3 } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.reviewIntervalDays"));
    let r = app
        .gql(&org.token, CREATE, json!({ "input": { "placementId": placement, "reviewIntervalDays": 30, "goals": [{ "description": "", "purpose": "RETURN_HOME" }] } }))
        .await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "input.goals.0.description"));
    let r = app
        .gql(
            &org.token,
            "query($id: ID!) { family(id: $id) { parentActionPlans { totalCount } } }",
            json!({ "id": family.id }),
        )
        .await;
    assert_eq!(r.data()["family"]["parentActionPlans"]["totalCount"], 0);
}

#[tokio::test]
async fn another_organisations_plan_is_not_found() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let placement = app.seed_placement(&org, &family, "2026-08-10").await;
    let r =
        app.gql(&org.token, CREATE, json!({ "input": { "placementId": placement, "reviewIntervalDays": 30 } })).await;
    let id = r.data()["createParentActionPlan"]["parentActionPlan"]["id"].clone();
    let randers = app.municipality("Randers").await;
    let r = app.gql(&randers.token, "query($id: ID!) { parentActionPlan(id: $id) { id } }", json!({ "id": id })).await;
    assert_eq!(r.code(), "NOT_FOUND");
}
