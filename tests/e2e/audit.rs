//! The audit trail: every read of personal data and every write, recorded before the
//! response leaves; readable by the organisation's auditors; "who has seen this person?".

use std::collections::BTreeSet;

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app, spawn_app_with, uuid_of};

/// Posts a query with a request id of our choosing, and returns the body.
pub(crate) async fn traced(app: &TestApp, token: &str, request_id: &str, query: &str, variables: Value) -> Value {
    let r = app.gql_as(token, request_id, query, variables).await;
    assert_eq!(r.request_id, request_id);
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    r.body
}

pub(crate) async fn record_types(app: &TestApp, request_id: &str) -> BTreeSet<String> {
    app.store.audit_events_for_request(request_id).await.unwrap().into_iter().map(|e| e.record_type).collect()
}

#[tokio::test]
async fn every_read_of_personal_data_is_recorded_with_who_what_and_which_request() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    traced(
        &app,
        &aarhus.token,
        "req-read-1",
        "query($id: ID!) { family(id: $id) { members { edges { node { person { givenName } } } } } }",
        json!({ "id": family.id }),
    )
    .await;
    let events = app.store.audit_events_for_request("req-read-1").await.unwrap();
    let seen: BTreeSet<(String, uuid::Uuid)> = events.iter().map(|e| (e.record_type.clone(), e.record_id)).collect();
    assert!(seen.contains(&("Family".into(), uuid_of(&family.id))));
    assert!(seen.contains(&("Person".into(), uuid_of(&family.child_id))));
    assert!(seen.contains(&("Person".into(), uuid_of(&family.parent_id))));
    for e in &events {
        assert_eq!(e.operation, "read");
        assert_eq!(e.subject, "test-caseworker");
        assert_eq!(e.organization_id, aarhus.id);
        assert_eq!(e.roles, "CASEWORKER");
    }
    // A query that shows no personal data leaves nothing.
    traced(&app, &aarhus.token, "req-read-2", "{ viewer { subject } families { totalCount } }", json!({})).await;
    assert!(app.store.audit_events_for_request("req-read-2").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_auditor_reads_the_trail_of_its_own_organisation_and_no_one_else_does() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let q = "query($r: ID) { auditEvents(filter: { recordId: $r }) { totalCount edges { node { operation subject recordType requestId } } } }";
    let r = app.gql(&auditor, q, json!({ "r": family.id })).await;
    let events = &r.data()["auditEvents"];
    assert!(events["totalCount"].as_i64().unwrap() >= 2, "the write and the read back: {events}");
    assert_eq!(events["edges"][0]["node"]["operation"], "createFamily");

    assert_eq!(
        app.gql(&aarhus.token, q, json!({ "r": family.id })).await.code(),
        "FORBIDDEN",
        "a caseworker is no auditor"
    );
    let randers = app.municipality("Randers").await;
    let randers_auditor = app.token(randers.id, &["AUDITOR"]);
    assert_eq!(app.gql(&randers_auditor, q, json!({ "r": family.id })).await.data()["auditEvents"]["totalCount"], 0);
}

#[tokio::test]
async fn the_access_log_says_who_has_seen_a_person_in_any_organisation() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let fsp = app.org(OrganizationKind::FamilyServicesProvider, "Familiecenter", &["FAMILY_THERAPIST"]).await;
    let family = app.seed_family(&aarhus, None).await;
    app.gql(
        &aarhus.token,
        "mutation($f: ID!, $p: ID!) { createReferral(input: { familyId: $f, providerId: $p, startsOn: \"2020-01-01\" }) { referral { id } } }",
        json!({ "f": family.id, "p": fsp.id.to_string() }),
    )
    .await
    .data();
    traced(
        &app,
        &fsp.token,
        "fsp-looks",
        "query($id: ID!) { person(id: $id) { givenName } }",
        json!({ "id": family.parent_id }),
    )
    .await;

    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let q = "query($p: ID!) { accessLog(personId: $p) { totalCount edges { node { organizationId subject operation recordType requestId } } } }";
    let r = app.gql(&auditor, q, json!({ "p": family.parent_id })).await;
    let log = r.data()["accessLog"]["edges"].as_array().unwrap().clone();
    assert!(
        log.iter().any(|e| e["node"]["requestId"] == "fsp-looks" && e["node"]["organizationId"] == fsp.id.to_string()),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e["node"]["operation"] == "createFamily"), "the family's creation concerns the parent");

    let randers = app.municipality("Randers").await;
    let r = app.gql(&app.token(randers.id, &["AUDITOR"]), q, json!({ "p": family.parent_id })).await;
    assert_eq!(r.code(), "NOT_FOUND", "another organisation's auditor learns nothing of the person");
}

#[tokio::test]
async fn no_mutation_edits_or_deletes_the_audit_trail() {
    let sdl = kinbridge_api::sdl();
    let start = sdl.find("type Mutation {").unwrap();
    let mutations = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
    assert!(!mutations.to_lowercase().contains("audit"), "the audit trail is append-only");
}

/// Every object type of the schema, classified: the record type its reads are audited
/// under, or why it holds no personal data. A new type fails this test until it is
/// classified here, and a personal one until a query shows its read is audited.
pub(crate) const CLASSIFIED: &[(&str, Option<&str>)] = &[
    ("Family", Some("Family")),
    ("FamilyMember", Some("FamilyMember")),
    ("Person", Some("Person")),
    ("PersonIdentifier", Some("PersonIdentifier")),
    ("Placement", Some("Placement")),
    ("ContactVisit", Some("ContactVisit")),
    ("VisitCancellation", Some("ContactVisit")),
    ("ParentActionPlan", Some("ParentActionPlan")),
    ("Goal", Some("Goal")),
    ("FamilyPartner", Some("FamilyPartner")),
    ("ServiceEligibility", Some("ServiceEligibility")),
    ("FamilyPartnerAssignment", Some("FamilyPartnerAssignment")),
    ("FamilyPartnerService", Some("FamilyPartnerService")),
    ("Referral", Some("Referral")),
    ("Consent", Some("Consent")),
    ("KeyPersonNotification", Some("KeyPersonNotification")),
    ("PlanReview", Some("PlanReview")),
    ("GoalProgress", Some("Goal")),
    ("SupportOffer", Some("SupportOffer")),
    ("VisitArrangement", Some("VisitArrangement")),
    ("SubGoal", Some("SubGoal")),
    ("ParentalSupportNote", Some("ParentalSupportNote")),
    ("KoppInterview", Some("KoppInterview")),
    ("KoppParticipant", Some("Person")),
    ("PillarRecord", Some("PillarRecord")),
    ("PillarState", Some("PillarRecord")),
    ("OtherParentSupportRecord", Some("OtherParentSupport")),
    ("NetworkMapEntry", Some("NetworkMapEntry")),
    // A timeline entry shows the record behind it (a placement, visit, offer, review,
    // consent, referral or service) and is audited as a read of it.
    ("TimelineEntry", Some("PlanReview")),
    // Counts and totals: no record of a person.
    ("VisitStatistics", None),
    ("CancellationCount", None),
    ("ProviderVisitStatistics", None),
    ("ServiceHours", None),
    // The change feed names records by id and event, never their content.
    ("Change", None),
    ("CoordinationPlacement", Some("Placement")),
    ("CoordinationChild", Some("Person")),
    ("SharedGoal", Some("Goal")),
    // No personal data: the directory, the caller itself, paging, the audit trail (whose
    // reading is itself restricted to auditors), and payload wrappers of the types above.
    ("Query", None),
    ("Mutation", None),
    ("Subscription", None),
    ("Organization", None),
    ("Viewer", None),
    ("PageInfo", None),
    ("ConnectionFields", None),
    ("AuditEvent", None),
];

fn object_types(sdl: &str) -> Vec<String> {
    sdl.lines()
        .filter_map(|l| l.strip_prefix("type "))
        .map(|l| l.split([' ', '{']).next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_type_holding_personal_data_is_covered_by_the_audit() {
    let sdl = kinbridge_api::sdl();
    for name in object_types(&sdl) {
        let wrapper = ["Connection", "Edge", "Payload"].iter().any(|suffix| name.ends_with(suffix));
        assert!(wrapper || CLASSIFIED.iter().any(|(t, _)| *t == name), "type {name} is not classified in CLASSIFIED");
    }

    // Read every personal type from the demo data, as a caller who may, and check that
    // the request's audit events name each record type.
    let app = spawn_app_with(true).await;
    let org = |kind, code: &str| {
        let store = app.store.clone();
        let code = code.to_owned();
        async move { store.organization_by_code(kind, &code).await.unwrap().unwrap().id }
    };
    let aarhus = app.token(org(OrganizationKind::Municipality, "0751").await, &["CASEWORKER"]);
    let randers = app.token(org(OrganizationKind::Municipality, "0730").await, &["CASEWORKER"]);
    let authority = app.token(org(OrganizationKind::MentalHealthAuthority, "MHA-MIDT").await, &["MANAGER"]);
    let reads = [
        (&aarhus, "{ families(first: 3) { edges { node { networkMap(first: 5) { edges { node { description person { givenName } member { role } } } } } } } }"),
        (&aarhus, "{ families(first: 3) { edges { node { referrals(first: 5) { edges { node { id } } } members(first: 5) { edges { node { role person {
            identifiers { value } consents(first: 5) { edges { node { purpose } } }
            keyPersonNotifications(first: 5) { edges { node { note } } } } } } } } } } }"),
        (&aarhus, "{ families(first: 3) { edges { node { members(first: 5) { edges { node { person {
            parentalSupportNotes(first: 5) { edges { node { text } } } koppInterviews(first: 5) { edges { node { participants { role person { givenName } } } } }
            resiliencePillars { status history { status } } otherParentSupport(first: 5) { edges { node { wellbeingAsked } } } } } } } } } } }"),
        (&aarhus, "{ families(first: 3) { edges { node { placements(first: 5) { edges { node {
            contactVisits(first: 10) { edges { node { cancellation { reason } } } }
            supportOffers(first: 5) { edges { node { kind response } } } visitArrangement { intervalDays } } } } } } } }"),
        (&aarhus, "{ families(first: 3) { edges { node { parentActionPlans(first: 3) { edges { node {
            goals(first: 5) { edges { node { description subGoals(first: 5) { edges { node { ownerName status } } } } } }
            reviews(first: 5) { edges { node { progress { score goal { description } } } } } } } } } } } }"),
        (&aarhus, "{ families(first: 3) { edges { node { timeline(first: 50, kinds: [REVIEW_HELD]) { edges { node { kind recordId } } } } } } }"),
        (&randers, "{ crossMunicipalityPlacements { edges { node { child { givenName } goals { description } } } } }"),
        (&authority, "{ familyPartners { edges { node { assignments { edges { node { eligibility { child { givenName } }
            services { edges { node { minutes recipient { givenName } } } } } } } } } } }"),
    ];
    let mut audited = BTreeSet::new();
    for (i, (token, query)) in reads.iter().enumerate() {
        let request_id = format!("coverage-{i}");
        traced(&app, token, &request_id, query, json!({})).await;
        audited.extend(record_types(&app, &request_id).await);
    }
    for (name, record_type) in CLASSIFIED {
        if let Some(record_type) = record_type {
            assert!(
                audited.contains(*record_type),
                "reading {name} left no {record_type} audit event; audited: {audited:?}"
            );
        }
    }
}

#[tokio::test]
async fn on_postgresql_the_audit_trail_is_partitioned_by_month_ahead_of_time() {
    use chrono::Datelike;
    let app = spawn_app().await;
    let partitions = app.store.audit_partitions().await.unwrap();
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        assert!(partitions.is_empty(), "SQLite keeps one table");
        return;
    }
    let month = |d: chrono::NaiveDate| format!("audit_events_y{:04}m{:02}", d.year(), d.month());
    let today = chrono::Utc::now().date_naive();
    let in_two_months = today.checked_add_months(chrono::Months::new(2)).unwrap();
    for expected in [month(today), month(in_two_months), "audit_events_default".to_owned()] {
        assert!(partitions.contains(&expected), "{expected} missing from {partitions:?}");
    }
    // Making them again, as every replica does at start, is harmless.
    assert!(app.store.ensure_audit_partitions(today).await.unwrap().is_empty());
    // Every partition's record index lets its pending list grow to the limit the merges
    // are timed for, the default partition's too.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let limits = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT c.relname AS name, array_to_string(c.reloptions, ',') AS options FROM pg_index x \
             JOIN pg_inherits h ON h.inhrelid = x.indrelid JOIN pg_class p ON p.oid = h.inhparent \
             JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_am a ON a.oid = c.relam \
             WHERE p.relname = 'audit_reads' AND a.amname = 'gin'",
        ))
        .await
        .unwrap();
    assert!(limits.len() >= 4, "the default partition and three months: {}", limits.len());
    let wanted = format!("gin_pending_list_limit={}", kinbridge_persistence::trail::AUDIT_PENDING_LIST_KB);
    for row in &limits {
        let name: String = row.try_get("", "name").unwrap();
        let options: Option<String> = row.try_get("", "options").unwrap();
        assert!(options.is_some_and(|o| o.contains(&wanted)), "{name} has no {wanted}");
    }
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    assert!(!app.store.audit_events_for_record(uuid_of(&family.id)).await.unwrap().is_empty());
}

#[tokio::test]
async fn read_events_of_the_old_layout_move_into_one_row_per_request_and_read_as_before() {
    use kinbridge_migrations::MigratorTrait;
    use kinbridge_persistence::entities::audit_event;
    use sea_orm::{ActiveValue::Set, EntityTrait};

    let (url, _dir) = crate::support::fresh_database().await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    kinbridge_migrations::Migrator::up(&db, Some(7)).await.unwrap();
    let (org, family, person) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let event = |operation: &str, record_type: &str, record_id| audit_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        occurred_at: Set(chrono::Utc::now()),
        request_id: Set("old-request".into()),
        subject: Set("old-caseworker".into()),
        organization_id: Set(org),
        roles: Set("CASEWORKER".into()),
        operation: Set(operation.into()),
        record_type: Set(record_type.into()),
        record_id: Set(record_id),
    };
    let rows =
        [event("createFamily", "Family", family), event("read", "Family", family), event("read", "Person", person)];
    audit_event::Entity::insert_many(rows).exec_without_returning(&db).await.unwrap();
    kinbridge_migrations::Migrator::up(&db, None).await.unwrap();

    assert_eq!(audit_event::Entity::find().all(&db).await.unwrap().len(), 1, "only the write stays a row of its own");
    let store = kinbridge_persistence::Store::connect(&url, &Default::default()).await.unwrap();
    let events = store.audit_events_for_request("old-request").await.unwrap();
    let seen: Vec<(String, String, uuid::Uuid)> =
        events.iter().map(|e| (e.operation.clone(), e.record_type.clone(), e.record_id)).collect();
    assert_eq!(
        seen,
        [
            ("createFamily".into(), "Family".into(), family),
            ("read".into(), "Family".into(), family),
            ("read".into(), "Person".into(), person)
        ],
        "the same events, in the same order"
    );
    assert!(events.iter().all(|e| e.subject == "old-caseworker" && e.organization_id.as_uuid() == org));
    assert_eq!(store.audit_events_for_record(person).await.unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_requests_share_commits_yet_each_answer_waits_for_its_own_audit() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let q = "query($id: ID!) { family(id: $id) { members { edges { node { person { givenName } } } } } }";
    let requests = (0..24).map(|i| {
        let (app, token, id) = (&app, aarhus.token.clone(), family.id.clone());
        async move {
            let request_id = format!("concurrent-{i}");
            traced(app, &token, &request_id, q, json!({ "id": id })).await;
            // The answer has arrived: its audit rows must already be committed.
            app.store.audit_events_for_request(&request_id).await.unwrap()
        }
    });
    let written = futures_util::future::join_all(requests).await;
    let first: BTreeSet<(String, uuid::Uuid)> =
        written[0].iter().map(|e| (e.record_type.clone(), e.record_id)).collect();
    assert!(first.contains(&("Family".into(), uuid_of(&family.id))), "{first:?}");
    for (i, events) in written.iter().enumerate() {
        let seen: BTreeSet<(String, uuid::Uuid)> =
            events.iter().map(|e| (e.record_type.clone(), e.record_id)).collect();
        assert_eq!(seen, first, "request {i} recorded what it was shown, no more, no less");
        assert!(events.iter().all(|e| e.request_id == format!("concurrent-{i}") && e.operation == "read"));
    }
}

#[tokio::test]
async fn registering_an_organisation_is_an_audited_write() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let events = app.store.audit_events_for_record(aarhus.id.as_uuid()).await.unwrap();
    assert!(
        events.iter().any(|e| e.operation == "registerOrganization" && e.subject == kinbridge_persistence::write::SYSTEM_SUBJECT),
        "{events:?}"
    );
}

/// What is most about a parent, her consents, notifications, KOPP interviews, notes,
/// pillars and the support of the other parent, and the guidance's queries that show her
/// family's offers and sub-goals: each read is in her access log, and a key person's
/// log lists the records that name her.
#[tokio::test]
async fn a_parents_access_log_lists_every_read_of_what_is_recorded_about_her() {
    let app = spawn_app_with(true).await;
    let org = |kind, code: &str| {
        let store = app.store.clone();
        let code = code.to_owned();
        async move { store.organization_by_code(kind, &code).await.unwrap().unwrap().id }
    };
    let aarhus_id = org(OrganizationKind::Municipality, "0751").await;
    let aarhus = app.token(aarhus_id, &["CASEWORKER"]);
    let fsp_id = org(OrganizationKind::FamilyServicesProvider, "FSP-0751-01").await;
    let fsp = app.token(fsp_id, &["FAMILY_THERAPIST"]);
    let members = traced(
        &app,
        &aarhus,
        "find-hansen",
        "{ families(filter: { externalId: \"AAR-2026-0001\" }) { edges { node { members { edges { node { role person { id } } } } } } } }",
        json!({}),
    )
    .await;
    let person = |role: &str| {
        members["data"]["families"]["edges"][0]["node"]["members"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["role"] == role)
            .map(|e| e["node"]["person"]["id"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {role} in {members}"))
    };
    let (mette, lise) = (person("PARENT"), person("KEY_PERSON"));
    let about = |field: &str| format!("query($p: ID!) {{ person(id: $p) {{ {field} }} }}");
    // Each read, and the record type her log must name for it.
    let reads = [
        ("consents", about("consents { edges { node { purpose } } }"), &aarhus, "Consent"),
        (
            "notifications",
            about("keyPersonNotifications { edges { node { note } } }"),
            &aarhus,
            "KeyPersonNotification",
        ),
        ("kopp", about("koppInterviews { edges { node { heldOn } } }"), &aarhus, "KoppInterview"),
        ("notes", about("parentalSupportNotes { edges { node { text } } }"), &aarhus, "ParentalSupportNote"),
        ("pillars", about("resiliencePillars { status history { status } }"), &aarhus, "PillarRecord"),
        (
            "other-parent",
            about("otherParentSupport { edges { node { wellbeingAsked } } }"),
            &aarhus,
            "OtherParentSupport",
        ),
        ("reoffers", "{ supportOffersDueForReoffer { edges { node { kind } } } }".to_owned(), &aarhus, "SupportOffer"),
        ("sub-goals", "{ ownedSubGoals { edges { node { description } } } }".to_owned(), &fsp, "SubGoal"),
    ];
    for (name, query, token, _) in &reads {
        let body = traced(&app, token, &format!("subject-{name}"), query, json!({ "p": mette })).await;
        assert!(!body.to_string().contains("\"edges\":[]"), "{name} shows something: {body}");
    }
    let logged = async |person: &str| -> BTreeSet<(String, String)> {
        let auditor = app.token(aarhus_id, &["AUDITOR"]);
        let q = "query($p: ID!) { accessLog(personId: $p, first: 100) { edges { node { requestId recordType } } } }";
        let log = app.gql(&auditor, q, json!({ "p": person })).await;
        let edges = log.data()["accessLog"]["edges"].as_array().unwrap().clone();
        edges
            .iter()
            .map(|e| {
                (
                    e["node"]["requestId"].as_str().unwrap().to_owned(),
                    e["node"]["recordType"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let mettes = logged(&mette).await;
    for (name, _, _, record_type) in &reads {
        let entry = (format!("subject-{name}"), (*record_type).to_owned());
        assert!(mettes.contains(&entry), "reading her {name} ({record_type}) is missing from her log: {mettes:?}");
    }
    let lises = logged(&lise).await;
    for (name, record_type) in [("notifications", "KeyPersonNotification"), ("kopp", "KoppInterview")] {
        let entry = (format!("subject-{name}"), record_type.to_owned());
        assert!(lises.contains(&entry), "the {name} name Lise: {lises:?}");
    }
}

/// Who read the trail is in the trail: an auditor's reading of a person's access log is
/// in that log, and a reading of the organisation's trail is an event under its id.
#[tokio::test]
async fn reading_the_audit_trail_is_itself_audited() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let auditor = app.token_with(|claims| {
        claims.org = aarhus.id.to_string();
        claims.roles = vec!["AUDITOR".into()];
        claims.sub = "dpo-anne".into();
    });
    let log =
        "query($p: ID!) { accessLog(personId: $p) { edges { node { requestId subject operation recordType } } } }";
    traced(&app, &auditor, "dpo-reads-log", log, json!({ "p": family.parent_id })).await;
    let trail =
        "query($o: ID!) { auditEvents(filter: { recordId: $o }) { edges { node { requestId subject recordType } } } }";
    traced(&app, &auditor, "dpo-reads-trail", trail, json!({ "o": aarhus.id.to_string() })).await;

    let again = traced(&app, &auditor, "dpo-again", log, json!({ "p": family.parent_id })).await;
    let entries = again["data"]["accessLog"]["edges"].as_array().unwrap().clone();
    assert!(
        entries.iter().any(|e| e["node"]
            == json!({ "requestId": "dpo-reads-log", "subject": "dpo-anne", "operation": "read", "recordType": "AccessLog" })),
        "reading her access log is in it: {entries:?}"
    );
    let trail = traced(&app, &auditor, "dpo-trail-again", trail, json!({ "o": aarhus.id.to_string() })).await;
    let events = trail["data"]["auditEvents"]["edges"].as_array().unwrap().clone();
    assert!(
        events.iter().any(|e| e["node"]["requestId"] == "dpo-reads-trail" && e["node"]["recordType"] == "AuditTrail"),
        "reading the trail is an event under the organisation: {events:?}"
    );
    assert_eq!(record_types(&app, "dpo-reads-log").await, BTreeSet::from(["AccessLog".to_owned()]));
}

/// The audit trail's record index is merged off the audit writer's path
/// (`Store::merge_pending_audit_index`), and the access log reads the same after it.
/// ANALYZE leaves the audit trail's id arrays alone, on the parent table, on every
/// partition (those made ahead of time too) and in the record index's expression: their
/// statistics would hash every id of thousands of rows, and nothing needs them.
#[tokio::test]
async fn on_postgresql_analyze_skips_the_audit_trails_id_arrays() {
    let app = spawn_app().await;
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let q = "query($id: ID!) { family(id: $id) { members { edges { node { person { givenName } } } } } }";
    app.gql(&aarhus.token, q, json!({ "id": family.id })).await.data();

    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let targets = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT c.relname::text AS rel, t.attname::text AS col, coalesce(t.attstattarget, -1)::int AS target \
             FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid \
             WHERE t.attnum > 0 AND NOT t.attisdropped AND ( \
               (c.relname LIKE 'audit\\_reads%' AND c.relkind IN ('r', 'p') \
                AND t.attname IN ('record_ids', 'record_types', 'index_ids')) \
               OR c.oid IN (SELECT x.indexrelid FROM pg_index x JOIN pg_class xc ON xc.oid = x.indexrelid \
                            JOIN pg_am a ON a.oid = xc.relam JOIN pg_class tc ON tc.oid = x.indrelid \
                            WHERE a.amname = 'gin' AND tc.relname LIKE 'audit\\_reads%'))",
        ))
        .await
        .unwrap();
    // The parent, the default partition and three months, three columns each, and as many
    // indexes.
    assert!(targets.len() >= 5 * 3 + 5, "{} columns", targets.len());
    for row in &targets {
        let (rel, col): (String, String) = (row.try_get("", "rel").unwrap(), row.try_get("", "col").unwrap());
        let target: i32 = row.try_get("", "target").unwrap();
        assert_eq!(target, 0, "{rel}.{col} keeps statistics");
    }
    db.execute_unprepared("ANALYZE audit_reads").await.unwrap();
    let kept = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FILTER (WHERE attname IN ('record_ids', 'record_types', 'index_ids') \
                                      OR tablename NOT LIKE 'audit\\_reads%') AS arrays, \
                    count(*) FILTER (WHERE attname = 'subject') AS subjects \
             FROM pg_stats WHERE tablename LIKE 'audit\\_reads%' OR tablename IN \
               (SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid \
                JOIN pg_class tc ON tc.oid = x.indrelid WHERE tc.relname LIKE 'audit\\_reads%')",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.try_get::<i64>("", "arrays").unwrap(), 0, "ANALYZE computed statistics of the id arrays");
    // It did analyze the table: the other columns have theirs.
    assert!(kept.try_get::<i64>("", "subjects").unwrap() >= 1, "ANALYZE did not run");
}

/// A read's id arrays are stored out of line as they are, without PostgreSQL's attempt to
/// compress them first (ids do not compress; the attempt cost about half of a large
/// read's insert, migration m0019): on the parent, on every partition, and on a partition
/// made later, which takes the parent's storage.
#[tokio::test]
async fn on_postgresql_the_audit_trails_id_arrays_are_stored_without_compression() {
    let app = spawn_app().await;
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    use chrono::Datelike;
    let next_year = chrono::Utc::now().date_naive().checked_add_months(chrono::Months::new(12)).unwrap();
    assert!(app.store.ensure_audit_partitions(next_year).await.unwrap().is_empty());

    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let columns = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT c.relname::text AS rel, t.attname::text AS col, t.attstorage::text AS storage \
             FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid \
             WHERE c.relname LIKE 'audit\\_reads%' AND c.relkind IN ('r', 'p') \
               AND t.attname IN ('record_ids', 'index_ids', 'record_types') AND NOT t.attisdropped",
        ))
        .await
        .unwrap();
    let rel = |row: &sea_orm::QueryResult| row.try_get::<String>("", "rel").unwrap();
    let next = format!("audit_reads_y{:04}m{:02}", next_year.year(), next_year.month());
    assert!(columns.iter().any(|row| rel(row) == next), "{next} was not made");
    // The parent, the default partition, three months from now and three a year ahead.
    assert!(columns.len() >= 8 * 3, "{} columns", columns.len());
    for row in &columns {
        let (col, storage): (String, String) = (row.try_get("", "col").unwrap(), row.try_get("", "storage").unwrap());
        let expected = if col == "record_types" { "x" } else { "e" };
        assert_eq!(storage, expected, "{}.{col}", rel(row));
    }
}

#[tokio::test]
async fn the_audit_index_is_merged_off_the_writers_path_and_the_access_log_reads_the_same() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let q = "query($id: ID!) { family(id: $id) { members { edges { node { person { givenName } } } } } }";
    for _ in 0..30 {
        app.gql(&aarhus.token, q, json!({ "id": family.id })).await.data();
    }
    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let log = "query($p: ID!) { accessLog(personId: $p) { totalCount } }";
    let before =
        app.gql(&auditor, log, json!({ "p": family.parent_id })).await.data()["accessLog"]["totalCount"].clone();
    assert!(before.as_i64().unwrap() >= 30, "{before}");

    let merged = app.store.merge_pending_audit_index().await.unwrap();
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        assert_eq!(merged, 0, "SQLite has no GIN index to merge");
    }
    // Nothing was read since: nothing is left pending.
    assert_eq!(app.store.merge_pending_audit_index().await.unwrap(), 0);
    let after =
        app.gql(&auditor, log, json!({ "p": family.parent_id })).await.data()["accessLog"]["totalCount"].clone();
    // The auditor's first question is in the log too.
    assert_eq!(after.as_i64().unwrap(), before.as_i64().unwrap() + 1, "the access log after merging");
}

/// The visits and goals a request was shown, nested under a placement and its plan, are
/// in the access log of the child and of the parent.
#[tokio::test]
async fn visits_and_goals_shown_under_a_placement_are_in_the_family_members_access_logs() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let family = app.seed_family(&aarhus, None).await;
    let placement = app.seed_placement(&aarhus, &family, "2026-01-05").await;
    let plan_visit = "mutation($i: PlanContactVisitInput!) { planContactVisit(input: $i) { contactVisit { id } } }";
    let mut visits = Vec::new();
    for day in [10, 17] {
        let input = json!({ "placementId": placement, "plannedStart": format!("2027-01-{day}T14:00:00Z"),
            "plannedEnd": format!("2027-01-{day}T16:00:00Z"), "supervision": "UNSUPERVISED" });
        let r = app.gql(&aarhus.token, plan_visit, json!({ "i": input })).await;
        visits.push(r.data()["planContactVisit"]["contactVisit"]["id"].as_str().unwrap().to_owned());
    }
    let plan = app
        .gql(
            &aarhus.token,
            "mutation($i: CreateParentActionPlanInput!) { createParentActionPlan(input: $i) {
                parentActionPlan { goals { edges { node { id } } } } } }",
            json!({ "i": { "placementId": placement, "reviewIntervalDays": 30,
                "goals": [{ "description": "Faste besøg", "purpose": "IMPROVE_CONTACT" }] } }),
        )
        .await;
    let goal = plan.data()["createParentActionPlan"]["parentActionPlan"]["goals"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let read =
        "query($id: ID!) { family(id: $id) { placements { edges { node { contactVisits { edges { node { status } } }
        parentActionPlans { edges { node { goals { edges { node { description } } } } } } } } } } }";
    let request_id = "reads-under-parents";
    traced(&app, &aarhus.token, request_id, read, json!({ "id": family.id })).await;
    let uuid = |id: &str| id.split_once('_').unwrap().1.parse::<uuid::Uuid>().unwrap();

    let auditor = app.token(aarhus.id, &["AUDITOR"]);
    let log =
        "query($p: ID!) { accessLog(personId: $p, first: 100) { edges { node { recordType recordId requestId } } } }";
    for person in [&family.child_id, &family.parent_id] {
        let entries = app.gql(&auditor, log, json!({ "p": person })).await.data()["accessLog"]["edges"].clone();
        let shown: Vec<(String, String)> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["requestId"] == request_id)
            .map(|e| {
                (
                    e["node"]["recordType"].as_str().unwrap().to_owned(),
                    e["node"]["recordId"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for visit in &visits {
            assert!(
                shown.contains(&("ContactVisit".to_owned(), uuid(visit).simple().to_string())),
                "{person}: {shown:?}"
            );
        }
        assert!(shown.contains(&("Goal".to_owned(), uuid(&goal).simple().to_string())), "{person}: {shown:?}");
    }

    // On PostgreSQL the access log found them through their parents: the request's row
    // indexes the placement, not its visits, and the plan, not its goal.
    if app.store.backend() == sea_orm::DbBackend::Postgres {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT array_to_string(record_ids, ',') AS shown, array_to_string(index_ids, ',') AS indexed \
                 FROM audit_reads WHERE request_id = $1",
                [request_id.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        let (shown, indexed): (String, String) =
            (row.try_get("", "shown").unwrap(), row.try_get("", "indexed").unwrap());
        for visit in &visits {
            assert!(shown.contains(&uuid(visit).to_string()) && !indexed.contains(&uuid(visit).to_string()));
        }
        assert!(shown.contains(&uuid(&goal).to_string()) && !indexed.contains(&uuid(&goal).to_string()));
        assert!(indexed.contains(&uuid(&placement).to_string()), "{indexed}");
    }
}

#[tokio::test]
async fn reads_recorded_before_the_trail_was_indexed_by_parents_are_still_in_the_access_log() {
    use kinbridge_migrations::MigratorTrait;
    use sea_orm::ConnectionTrait;

    let (url, _dir) = crate::support::fresh_database().await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    kinbridge_migrations::Migrator::up(&db, Some(17)).await.unwrap();
    let (person, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite's trail has no index, and m0018 leaves it as it is.
    }
    let insert = format!(
        "INSERT INTO audit_reads (id, occurred_at, request_id, subject, organization_id, roles, record_types, record_ids) \
         VALUES ('{}', now(), 'before-m0018', 'old-caseworker', '{}', 'CASEWORKER', '{{Person,Person}}', '{{{person},{other}}}')",
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7()
    );
    db.execute_unprepared(&insert).await.unwrap();
    kinbridge_migrations::Migrator::up(&db, None).await.unwrap();

    let store = kinbridge_persistence::Store::connect(&url, &Default::default()).await.unwrap();
    let person_id = kinbridge_domain::ids::PersonId::from_uuid(person);
    let log = store.full_access_log(person_id).await.unwrap();
    let found: Vec<(&str, uuid::Uuid)> = log.iter().map(|e| (e.request_id.as_str(), e.record_id)).collect();
    assert_eq!(found, [("before-m0018", person)], "the old row, and of it only the person's read");
}
