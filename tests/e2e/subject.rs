//! The subject access report (GDPR art. 15): everything the organisation holds about a
//! person and who has seen it, for its auditors and data-protection officer, through the
//! API and `kinbridge subject-report`.

use std::collections::BTreeSet;

use kinbridge_domain::organization::OrganizationKind;
use serde_json::{Value, json};

use crate::audit::traced;
use crate::support::{TestApp, spawn_app_with};

const REPORT: &str = "query($p: ID!) { subjectReport(personId: $p) }";

/// Every `id` string anywhere in `value`.
fn ids(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                match (k.as_str(), v) {
                    ("id", Value::String(id)) => {
                        into.insert(id.clone());
                    }
                    _ => ids(v, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| ids(v, into)),
        _ => {}
    }
}

/// Mette Hansen of the demo data, and what Aarhus's caseworkers see about her and her
/// family through the API (each request traced under its own id).
async fn mette(app: &TestApp, caseworker: &str) -> (String, BTreeSet<String>) {
    let family = traced(
        app,
        caseworker,
        "report-family",
        "{ families(first: 1, filter: { externalId: \"AAR-2026-0001\" }) { edges { node { id
            members(first: 10) { edges { node { id role person { id } } } }
            referrals(first: 10) { edges { node { id } } } networkMap(first: 10) { edges { node { id } } }
            placements(first: 5) { edges { node { id contactVisits(first: 50) { edges { node { id } } }
                supportOffers(first: 10) { edges { node { id } } } visitArrangement { id } } } }
            parentActionPlans(first: 3) { edges { node { id goals(first: 10) { edges { node { id
                subGoals(first: 10) { edges { node { id } } } } } } reviews(first: 10) { edges { node { id } } } } } } } } } }",
        json!({}),
    )
    .await;
    let members = family["data"]["families"]["edges"][0]["node"]["members"]["edges"].as_array().unwrap().clone();
    let mette = members
        .iter()
        .find(|e| e["node"]["role"] == "PARENT")
        .map(|e| e["node"]["person"]["id"].as_str().unwrap().to_owned())
        .unwrap();
    let about = traced(
        app,
        caseworker,
        "report-person",
        "query($p: ID!) { person(id: $p) { id consents { edges { node { id } } }
            keyPersonNotifications { edges { node { id } } } koppInterviews { edges { node { id } } }
            parentalSupportNotes { edges { node { id } } } otherParentSupport { edges { node { id } } } } }",
        json!({ "p": mette }),
    )
    .await;
    let mut shown = BTreeSet::new();
    ids(&about["data"], &mut shown);
    // Her family's record, her own membership, and everything under the family; not the
    // other members' memberships or persons, which are about them.
    let mut family_ids = BTreeSet::new();
    let mut node = family["data"]["families"]["edges"][0]["node"].clone();
    node["members"] = Value::Null;
    ids(&node, &mut family_ids);
    shown.extend(family_ids);
    let own = members.iter().find(|e| e["node"]["person"]["id"] == mette.as_str()).unwrap();
    shown.insert(own["node"]["id"].as_str().unwrap().to_owned());
    (mette, shown)
}

#[tokio::test]
async fn the_subject_report_holds_every_record_about_the_person_and_every_read_of_them() {
    let app = spawn_app_with(true).await;
    let aarhus = app.org_by_code(OrganizationKind::Municipality, "0751").await;
    let caseworker = app.token(aarhus, &["CASEWORKER"]);
    let (mette, shown) = mette(&app, &caseworker).await;
    assert!(shown.len() > 20, "the demo family shows a good deal: {shown:?}");

    let dpo = app.token_with(|c| {
        c.org = aarhus.to_string();
        c.roles = vec!["DATA_PROTECTION_OFFICER".into()];
        c.sub = "dpo-anne".into();
    });
    let body = traced(&app, &dpo, "dpo-report", REPORT, json!({ "p": mette })).await;
    let report = &body["data"]["subjectReport"];
    assert_eq!(report["version"], 1);
    assert_eq!(report["organization"]["code"], "0751");
    assert_eq!(report["person"]["id"], mette.as_str());
    assert_eq!(report["person"]["givenName"], "Mette");
    let mut held = BTreeSet::new();
    ids(&report["records"], &mut held);
    ids(&report["person"], &mut held);
    let missing: Vec<_> = shown.difference(&held).collect();
    assert!(missing.is_empty(), "records about her that the API shows but the report misses: {missing:?}");
    for section in ["consents", "keyPersonNotifications", "koppInterviews", "parentalSupportNotes", "placements"] {
        assert!(!report["records"][section].as_array().unwrap().is_empty(), "{section} of the demo mother");
    }
    assert!(report["records"]["identifiers"].is_array());

    // Every read of her is in its access log, with who, from which organisation and role.
    let log = report["accessLog"].as_array().unwrap();
    for request in ["report-family", "report-person"] {
        let read = log.iter().find(|e| e["requestId"] == request).unwrap_or_else(|| panic!("{request} in {log:?}"));
        assert_eq!(read["organizationId"], aarhus.to_string());
        assert_eq!(read["roles"], "CASEWORKER");
        assert_eq!(read["operation"], "read");
        assert!(read["occurredAt"].as_str().unwrap().ends_with('Z'));
    }

    // Asking for the report is itself in her log, and so is every record it listed.
    let auditor = app.token(aarhus, &["AUDITOR"]);
    let again = traced(&app, &auditor, "auditor-report", REPORT, json!({ "p": mette })).await;
    let later = again["data"]["subjectReport"]["accessLog"].as_array().unwrap();
    assert!(
        later.iter().any(|e| e["requestId"] == "dpo-report"
            && e["recordType"] == "SubjectReport"
            && e["subject"] == "dpo-anne"),
        "the report asked for by the DPO is in her log"
    );
    let audited: BTreeSet<String> =
        app.store.audit_events_for_request("dpo-report").await.unwrap().into_iter().map(|e| e.record_type).collect();
    for t in ["SubjectReport", "Person", "Consent", "Placement", "ContactVisit", "ParentalSupportNote"] {
        assert!(audited.contains(t), "the report's {t} records are audited as shown: {audited:?}");
    }

    // The CLI prints the same report, in the name of whoever asked, and is audited too.
    let args = kinbridge_server::SubjectReportArgs {
        database: kinbridge_server::DatabaseArgs { database_url: app.database_url.clone() },
        person: mette.clone(),
        requested_by: "dpo@aarhus.example".into(),
    };
    let printed = kinbridge_server::subject_report(args).await.unwrap();
    assert_eq!(printed["version"], 1);
    assert_eq!(printed["person"], report["person"]);
    assert_eq!(printed["records"], report["records"]);
    let log = app.store.full_access_log(mette.parse().unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.subject == "dpo@aarhus.example" && e.record_type == "SubjectReport"));
}

#[tokio::test]
async fn only_the_owning_organisations_auditors_and_data_protection_officer_get_the_report() {
    let app = spawn_app_with(true).await;
    let aarhus = app.org_by_code(OrganizationKind::Municipality, "0751").await;
    let randers = app.org_by_code(OrganizationKind::Municipality, "0730").await;
    let (mette, _) = mette(&app, &app.token(aarhus, &["CASEWORKER"])).await;
    for (token, code) in [
        (app.token(aarhus, &["CASEWORKER"]), "FORBIDDEN"),
        (app.token(aarhus, &["MANAGER"]), "FORBIDDEN"),
        (app.token(randers, &["DATA_PROTECTION_OFFICER"]), "NOT_FOUND"),
    ] {
        let r = app.gql(&token, REPORT, json!({ "p": mette })).await;
        assert_eq!(r.code(), code, "{}", r.body);
    }
    let dpo = app.token(aarhus, &["DATA_PROTECTION_OFFICER"]);
    let r = app.gql(&dpo, REPORT, json!({ "p": "fam_0190f4c2a0b07c3e9d1f2a3b4c5d6e7f" })).await;
    assert_eq!((r.code(), r.field()), ("BAD_USER_INPUT", "personId"), "{}", r.body);
    // A data-protection officer reads the trail, not the cases.
    let r = app.gql(&dpo, "{ families { totalCount } }", json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN", "{}", r.body);
    let r = app.gql(&dpo, "{ auditEvents(first: 1) { totalCount } }", json!({})).await;
    assert!(r.body["data"]["auditEvents"]["totalCount"].as_u64().unwrap() > 0, "{}", r.body);

    let args = |person: &str, by: &str| kinbridge_server::SubjectReportArgs {
        database: kinbridge_server::DatabaseArgs { database_url: app.database_url.clone() },
        person: person.into(),
        requested_by: by.into(),
    };
    let e = kinbridge_server::subject_report(args("nobody", "dpo")).await.unwrap_err();
    assert!(e.to_string().contains("--person"), "{e}");
    let e = kinbridge_server::subject_report(args(&mette, " ")).await.unwrap_err();
    assert!(e.to_string().contains("--requested-by"), "{e}");
}
