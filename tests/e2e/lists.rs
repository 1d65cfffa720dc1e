//! The root lists integrations page through (`placements`, `contactVisits`, `families`)
//! and their filters.

use serde_json::{Value, json};

/// The root lists a case system syncs with: each filter narrows the scoped query itself,
/// so `totalCount` counts what it leaves, and a provider never sees more than its own.
#[tokio::test]
async fn placements_and_visits_filter_by_provider_day_period_status_and_supervisor() {
    use kinbridge_domain::organization::OrganizationKind;
    let app = crate::support::spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let other = app.org(OrganizationKind::PlacementProvider, "Elsewhere", &["PLACEMENT_STAFF"]).await;
    let first = app.seed_family(&aarhus, None).await;
    let second = app.seed_family(&aarhus, None).await;
    let place = async |family: &crate::support::SeededFamily, provider: &crate::support::Org, start: &str| {
        let r = app
            .gql(&aarhus.token, "mutation($f: ID!, $c: ID!, $p: ID!, $s: Date!) { createPlacement(input: { familyId: $f, childId: $c, providerId: $p, setting: FOSTER_FAMILY, voluntary: true, decisionDate: $s, startDate: $s }) { placement { id } } }",
                json!({ "f": family.id, "c": family.child_id, "p": provider.id.to_string(), "s": start }))
            .await;
        r.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned()
    };
    let at_site = place(&first, &site, "2026-01-01").await;
    let elsewhere = place(&second, &other, "2026-03-01").await;
    let end = "mutation($id: ID!) { endPlacement(input: { id: $id, endDate: \"2026-06-01\", endReason: RETURNED_HOME }) { placement { id } } }";
    app.gql(&aarhus.token, end, json!({ "id": elsewhere })).await.data();

    let q = "query($f: PlacementFilter) { placements(filter: $f) { totalCount edges { node { id } } } }";
    let ids = |r: &crate::support::Gql| -> Vec<String> {
        r.data()["placements"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = async |token: &str, filter: Value| app.gql(token, q, json!({ "f": filter })).await;
    assert_eq!(ids(&list(&aarhus.token, Value::Null).await), [at_site.clone(), elsewhere.clone()]);
    let by_provider = list(&aarhus.token, json!({ "providerId": site.id.to_string() })).await;
    assert_eq!(
        (ids(&by_provider), by_provider.data()["placements"]["totalCount"].clone()),
        (vec![at_site.clone()], json!(1))
    );
    assert_eq!(ids(&list(&aarhus.token, json!({ "activeOn": "2026-02-01" })).await), vec![at_site.clone()]);
    assert_eq!(
        ids(&list(&aarhus.token, json!({ "activeOn": "2026-05-31" })).await),
        [at_site.clone(), elsewhere.clone()]
    );
    assert_eq!(
        ids(&list(&aarhus.token, json!({ "activeOn": "2026-06-01" })).await),
        vec![at_site.clone()],
        "ended that day"
    );
    assert_eq!(ids(&list(&aarhus.token, json!({ "activeOn": "2025-12-31" })).await), Vec::<String>::new());
    // A provider sees its own placements only, whatever it filters by.
    assert_eq!(ids(&list(&site.token, Value::Null).await), vec![at_site.clone()]);
    assert_eq!(
        list(&site.token, json!({ "providerId": other.id.to_string() })).await.data()["placements"]["totalCount"],
        0
    );
    let bad = list(&aarhus.token, json!({ "providerId": "fam_0190f4c2" })).await;
    assert_eq!((bad.code(), bad.field()), ("BAD_USER_INPUT", "filter.providerId"));

    // Visits: three at the site, one of them cancelled and one supervised.
    let plan = async |start: &str, supervisor: Option<&str>| {
        let r = app
            .gql(&aarhus.token, "mutation($p: ID!, $s: DateTime!, $e: DateTime!, $n: String, $v: Supervision!) { planContactVisit(input: { placementId: $p, plannedStart: $s, plannedEnd: $e, supervision: $v, supervisorName: $n }) { contactVisit { id version } } }",
                json!({ "p": at_site, "s": format!("{start}T10:00:00Z"), "e": format!("{start}T11:00:00Z"), "n": supervisor,
                        "v": if supervisor.is_some() { "SUPERVISED" } else { "UNSUPERVISED" } }))
            .await;
        r.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned()
    };
    let late = plan("2026-12-21", None).await;
    let early = plan("2026-12-07", Some("Lene Holm")).await;
    let middle = plan("2026-12-14", None).await;
    app.gql(&aarhus.token, "mutation($id: ID!) { cancelContactVisit(input: { id: $id, cancelledBy: PARENT, reason: \"ill\" }) { contactVisit { id } } }", json!({ "id": middle }))
        .await
        .data();
    let vq = "query($f: ContactVisitFilter, $last: Int) { contactVisits(filter: $f, last: $last) { totalCount edges { node { id } } } }";
    let visits = async |filter: Value, last: Option<i64>| {
        let r = app.gql(&aarhus.token, vq, json!({ "f": filter, "last": last })).await;
        let ids: Vec<String> = r.data()["contactVisits"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, r.data()["contactVisits"]["totalCount"].as_i64().unwrap())
    };
    assert_eq!(
        visits(Value::Null, None).await,
        (vec![early.clone(), middle.clone(), late.clone()], 3),
        "by planned start"
    );
    assert_eq!(visits(Value::Null, Some(1)).await, (vec![late.clone()], 3), "last: 1 is the latest");
    let week = json!({ "from": "2026-12-14T00:00:00Z", "until": "2026-12-21T00:00:00Z" });
    assert_eq!(visits(week, None).await, (vec![middle.clone()], 1), "this week, its end excluded");
    assert_eq!(visits(json!({ "status": "CANCELLED" }), None).await, (vec![middle.clone()], 1));
    assert_eq!(
        visits(json!({ "status": "PLANNED", "supervisorName": "Lene Holm" }), None).await,
        (vec![early.clone()], 1)
    );
    assert_eq!(visits(json!({ "placementId": elsewhere }), None).await, (vec![], 0));
    let unnamed = app.gql(&aarhus.token, vq, json!({ "f": { "supervisorName": "Lene\u{0}" } })).await;
    assert_eq!((unnamed.code(), unnamed.field()), ("BAD_USER_INPUT", "filter.supervisorName"));
    let backwards = app
        .gql(&aarhus.token, vq, json!({ "f": { "from": "2026-12-21T00:00:00Z", "until": "2026-12-14T00:00:00Z" } }))
        .await;
    assert_eq!((backwards.code(), backwards.field()), ("BAD_USER_INPUT", "filter.until"));

    // Families changed since a time.
    let fq = "query($t: DateTime!) { families(filter: { updatedSince: $t }) { totalCount } }";
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    assert_eq!(app.gql(&aarhus.token, fq, json!({ "t": past })).await.data()["families"]["totalCount"], 2);
    assert_eq!(app.gql(&aarhus.token, fq, json!({ "t": future })).await.data()["families"]["totalCount"], 0);
}

/// Families by where they stand with their placements and by case id, placements by
/// whether the parents live elsewhere, plans by when their review is due: each a filter
/// of the scoped query, agreeing with the field it filters by.
#[tokio::test]
async fn families_filter_by_status_and_case_id_placements_by_crossing_and_plans_by_review_due() {
    use chrono::{Days, Utc};
    use kinbridge_domain::organization::OrganizationKind;
    let app = crate::support::spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let site = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let today = Utc::now().date_naive();
    let day = |offset: i64| {
        if offset < 0 { today - Days::new(offset.unsigned_abs()) } else { today + Days::new(offset as u64) }.to_string()
    };
    let placed = app.seed_family(&aarhus, Some(randers.id)).await;
    let decided = app.seed_family(&aarhus, None).await;
    let ended = app.seed_family(&aarhus, None).await;
    let place = async |family: &crate::support::SeededFamily, start: String| {
        let r = app
            .gql(&aarhus.token, "mutation($f: ID!, $c: ID!, $p: ID!, $s: Date!) { createPlacement(input: { familyId: $f, childId: $c, providerId: $p, setting: FOSTER_FAMILY, voluntary: true, decisionDate: $s, startDate: $s }) { placement { id } } }",
                json!({ "f": family.id, "c": family.child_id, "p": site.id.to_string(), "s": start }))
            .await;
        r.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned()
    };
    let crossing = place(&placed, day(-30)).await;
    let later = place(&decided, day(10)).await;
    let over = place(&ended, day(-100)).await;
    app.gql(
        &aarhus.token,
        "mutation($id: ID!, $on: Date!) { endPlacement(input: { id: $id, endDate: $on, endReason: RETURNED_HOME }) { placement { id } } }",
        json!({ "id": over, "on": day(-1) }),
    )
    .await
    .data();
    let none = app
        .gql(
            &aarhus.token,
            "mutation { createFamily(input: { name: \"Berg\", externalId: \"SAG-77\" }) { family { id } } }",
            json!({}),
        )
        .await;
    let none = none.data()["createFamily"]["family"]["id"].as_str().unwrap().to_owned();

    let families = "query($f: FamilyFilter) { families(filter: $f) { totalCount edges { node { id status } } } }";
    let all = app.gql(&aarhus.token, families, json!({ "f": null })).await;
    let statuses: Vec<(String, String)> = all.data()["families"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["id"].as_str().unwrap().to_owned(), e["node"]["status"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        (placed.id.clone(), "PLACED"),
        (decided.id.clone(), "PLACEMENT_DECIDED"),
        (ended.id.clone(), "PLACEMENT_ENDED"),
        (none.clone(), "NO_PLACEMENT"),
    ];
    assert_eq!(statuses, expected.iter().map(|(id, s)| (id.clone(), (*s).to_owned())).collect::<Vec<_>>());
    for (id, status) in &expected {
        let r = app.gql(&aarhus.token, families, json!({ "f": { "status": status } })).await;
        assert_eq!(r.data()["families"]["totalCount"], 1, "{status}: {}", r.body);
        assert_eq!(r.data()["families"]["edges"][0]["node"]["id"], id.as_str(), "{status}");
    }
    let r = app.gql(&aarhus.token, families, json!({ "f": { "externalId": "SAG-77" } })).await;
    assert_eq!(
        (r.data()["families"]["totalCount"].clone(), r.data()["families"]["edges"][0]["node"]["id"].clone()),
        (json!(1), json!(none))
    );
    let r = app.gql(&aarhus.token, families, json!({ "f": { "externalId": "SAG-77", "status": "PLACED" } })).await;
    assert_eq!(r.data()["families"]["totalCount"], 0, "every filter given must hold");
    let r = app.gql(&aarhus.token, families, json!({ "f": { "externalId": " " } })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "filter.externalId"));

    let placements = "query($f: PlacementFilter) { placements(filter: $f) { totalCount edges { node { id isCrossMunicipality } } } }";
    let r = app.gql(&aarhus.token, placements, json!({ "f": { "crossMunicipality": true } })).await;
    assert_eq!(r.data()["placements"]["totalCount"], 1);
    assert_eq!(r.data()["placements"]["edges"][0]["node"], json!({ "id": crossing, "isCrossMunicipality": true }));
    let r = app.gql(&aarhus.token, placements, json!({ "f": { "crossMunicipality": false } })).await;
    let ids: Vec<_> =
        r.data()["placements"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect();
    assert_eq!(ids, [json!(later), json!(over)]);
    // The provider does not see where the parents live, so to it no placement crosses.
    let r = app.gql(&site.token, placements, json!({ "f": { "crossMunicipality": true } })).await;
    assert_eq!(r.data()["placements"]["totalCount"], 0);
    let r = app.gql(&site.token, placements, json!({ "f": { "crossMunicipality": false } })).await;
    assert_eq!(r.data()["placements"]["totalCount"], 3);

    let plan = async |placement: &str, days: i64| {
        let r = app
            .gql(&aarhus.token, "mutation($p: ID!, $d: Int!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: $d }) { parentActionPlan { id nextReviewDue } } }",
                json!({ "p": placement, "d": days }))
            .await;
        r.data()["createParentActionPlan"]["parentActionPlan"]["id"].as_str().unwrap().to_owned()
    };
    let soon = plan(&crossing, 14).await;
    let far = plan(&later, 60).await;
    app.gql(
        &aarhus.token,
        "mutation($p: ID!) { activateParentActionPlan(input: { id: $p }) { parentActionPlan { id } } }",
        json!({ "p": far }),
    )
    .await
    .data();
    let plans = "query($f: PlanFilter) { parentActionPlans(filter: $f) { totalCount edges { node { id } } } }";
    let ids = async |filter: Value| -> Vec<Value> {
        let r = app.gql(&aarhus.token, plans, json!({ "f": filter })).await;
        let edges = r.data()["parentActionPlans"]["edges"].as_array().unwrap().clone();
        assert_eq!(r.data()["parentActionPlans"]["totalCount"], edges.len());
        edges.iter().map(|e| e["node"]["id"].clone()).collect()
    };
    assert_eq!(ids(Value::Null).await, [json!(soon), json!(far)]);
    assert_eq!(ids(json!({ "reviewDueFrom": day(0), "reviewDueUntil": day(30) })).await, [json!(soon)]);
    assert_eq!(ids(json!({ "reviewDueFrom": day(30) })).await, [json!(far)]);
    assert_eq!(ids(json!({ "status": "ACTIVE" })).await, [json!(far)]);
    assert_eq!(ids(json!({ "status": "DRAFT", "reviewDueFrom": day(30) })).await, Vec::<Value>::new());
    // Another municipality sees none of them.
    let r = app.gql(&randers.token, plans, json!({ "f": null })).await;
    assert_eq!(r.data()["parentActionPlans"]["totalCount"], 0);
}
