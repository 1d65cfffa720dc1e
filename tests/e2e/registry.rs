//! The organisation registry, kept by an operator with `kinbridge organizations`: a fresh
//! database becomes usable with one import, and an import repeated changes nothing.

use clap::Parser;
use kinbridge_server::registry::{self, ImportReport};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_app, until};

/// Runs `kinbridge organizations <args…>` against the app's database, as an operator would.
async fn kinbridge(app: &TestApp, args: &[&str]) {
    let mut argv = vec!["kinbridge", "organizations", "--database-url", &app.database_url];
    argv.extend_from_slice(args);
    kinbridge_server::run(kinbridge_server::Cli::try_parse_from(argv).unwrap()).await.unwrap();
}

async fn viewer(app: &TestApp, org: &str) -> (StatusCode, Value) {
    let token = app.token_with(|c| c.org = org.to_owned());
    let r = app.gql(&token, "{ viewer { organization { name kind } } }", json!({})).await;
    (r.status, r.body)
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    f
}

#[tokio::test]
async fn a_fresh_database_becomes_usable_with_one_import_and_a_repeated_import_changes_nothing() {
    let app = spawn_app().await;
    let (status, body) = viewer(&app, "MUNICIPALITY:0751").await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["reason"]),
        (StatusCode::UNAUTHORIZED, &json!("UNKNOWN_ORGANIZATION"))
    );

    let list = file(
        "kind,code,name\nMUNICIPALITY,0751,Aarhus Kommune\nPLACEMENT_PROVIDER,P-17,\"Solhaven, foster family agency\"\n\
         MENTAL_HEALTH_AUTHORITY,MHA-1,North Authority\n",
    );
    kinbridge(&app, &["import", list.path().to_str().unwrap()]).await;
    let (status, body) = viewer(&app, "MUNICIPALITY:0751").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["organization"], json!({ "name": "Aarhus Kommune", "kind": "MUNICIPALITY" }));
    assert_eq!(
        viewer(&app, "PLACEMENT_PROVIDER:P-17").await.1["data"]["viewer"]["organization"]["name"],
        "Solhaven, foster family agency"
    );

    let entries = registry::read_file(list.path()).unwrap();
    let again = registry::import(&app.store, &entries, false).await.unwrap();
    assert_eq!(again, ImportReport { dry_run: false, added: vec![], changed: vec![], left: 3 });

    // A renamed organisation and a new one: a dry run tells and writes nothing.
    let renamed = file(
        "[{\"kind\": \"MUNICIPALITY\", \"code\": \"0751\", \"name\": \"Aarhus Municipality\"},\n \
         {\"kind\": \"MUNICIPALITY\", \"code\": \"0101\", \"name\": \"Copenhagen\"}]",
    );
    let entries = registry::read_file(renamed.path()).unwrap();
    let dry = registry::import(&app.store, &entries, true).await.unwrap();
    assert_eq!((dry.added.len(), dry.changed.len(), dry.left), (1, 1, 0), "{dry}");
    assert!(
        dry.to_string().contains("would be changed: MUNICIPALITY 0751 Aarhus Municipality (was Aarhus Kommune)"),
        "{dry}"
    );
    assert_eq!(viewer(&app, "MUNICIPALITY:0751").await.1["data"]["viewer"]["organization"]["name"], "Aarhus Kommune");
    assert_eq!(viewer(&app, "0101").await.0, StatusCode::UNAUTHORIZED);
    kinbridge(&app, &["import", renamed.path().to_str().unwrap()]).await;
    assert_eq!(
        viewer(&app, "MUNICIPALITY:0751").await.1["data"]["viewer"]["organization"]["name"],
        "Aarhus Municipality"
    );
    assert_eq!(viewer(&app, "0101").await.0, StatusCode::OK);

    // Each change is audited in Kinbridge's name.
    let aarhus = app
        .store
        .organization_by_code(kinbridge_domain::organization::OrganizationKind::Municipality, "0751")
        .await
        .unwrap()
        .unwrap();
    let events = app.store.audit_events_for_record(aarhus.id.as_uuid()).await.unwrap();
    let operations: Vec<&str> = events.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(operations, ["registerOrganization", "renameOrganization"]);

    // Disabled by KIND:CODE: its tokens are refused; enabled again, accepted.
    // The command is another process: the server hears of the change from PostgreSQL's
    // notification (SQLite's server looks every token's organisation up).
    kinbridge(&app, &["disable", "MUNICIPALITY:0751"]).await;
    let (status, body) = until(|| async {
        let answer = viewer(&app, "MUNICIPALITY:0751").await;
        (answer.0 != StatusCode::OK).then_some(answer)
    })
    .await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["reason"]),
        (StatusCode::UNAUTHORIZED, &json!("DISABLED_ORGANIZATION"))
    );
    kinbridge(&app, &["enable", &aarhus.id.to_string()]).await;
    assert_eq!(viewer(&app, "MUNICIPALITY:0751").await.0, StatusCode::OK);
    kinbridge(&app, &["list", "--kind", "municipality"]).await;
    kinbridge(&app, &["add", "--kind", "FAMILY_SERVICES_PROVIDER", "--code", "F-3", "--name", "Family Help"]).await;
    assert_eq!(viewer(&app, "F-3").await.1["data"]["viewer"]["organization"]["kind"], "FAMILY_SERVICES_PROVIDER");
}

#[tokio::test]
async fn a_file_with_a_problem_is_refused_whole() {
    let app = spawn_app().await;
    let list = file("kind,code,name\nMUNICIPALITY,0751,Aarhus\nMUNICIPALITY,0752,\n");
    let argv =
        ["kinbridge", "organizations", "--database-url", &app.database_url, "import", list.path().to_str().unwrap()];
    let err = kinbridge_server::run(kinbridge_server::Cli::try_parse_from(argv).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("line 3: name"), "{err}");
    assert_eq!(app.store.count_all_organizations().await.unwrap(), 0, "nothing was imported");
}

#[tokio::test]
async fn concurrent_imports_of_one_file_register_each_organisation_once() {
    let app = spawn_app().await;
    let list =
        file("kind,code,name\nMUNICIPALITY,0751,Aarhus\nMUNICIPALITY,0730,Randers\nPLACEMENT_PROVIDER,P-17,Solhaven\n");
    let entries = registry::read_file(list.path()).unwrap();
    let imports = (0..8).map(|_| registry::import(&app.store, &entries, false));
    let reports: Vec<ImportReport> =
        futures_util::future::join_all(imports).await.into_iter().map(Result::unwrap).collect();
    let added: usize = reports.iter().map(|r| r.added.len()).sum();
    let left: usize = reports.iter().map(|r| r.left).sum();
    assert_eq!((added, left), (3, 21), "each added once, left by the other seven: {reports:?}");
    assert_eq!(app.store.count_all_organizations().await.unwrap(), 3);
    // Concurrent renames of one organisation: each import renames or finds it renamed.
    let renamed = file("kind,code,name\nMUNICIPALITY,0751,Aarhus Kommune\n");
    let entries = registry::read_file(renamed.path()).unwrap();
    let imports = (0..8).map(|_| registry::import(&app.store, &entries, false));
    let reports: Vec<ImportReport> =
        futures_util::future::join_all(imports).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(reports.iter().map(|r| r.changed.len()).sum::<usize>(), 1, "{reports:?}");
    assert_eq!(app.errors_logged(), 0);
}

/// A reference to an organisation (a family's `responsibleMunicipality`) is answered from
/// what the server remembers while it hears of every change to the registry, as the
/// organisations of tokens are: on PostgreSQL the second request reads it without a
/// statement, and a rename made outside the server (`psql`, another replica) is shown once
/// the server hears of it. SQLite's server reads it every time.
#[tokio::test]
async fn organisations_named_by_references_are_remembered_until_the_registry_changes() {
    use kinbridge_persistence::entities::organization;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    app.warm(&org.token).await;
    let query = "query($id: ID!) { family(id: $id) { name responsibleMunicipality { name } } }";
    let read = || async {
        let before = app.store.statements_sent();
        let data = app.gql(&org.token, query, json!({ "id": family.id })).await.data().clone();
        let name = data["family"]["responsibleMunicipality"]["name"].as_str().unwrap().to_owned();
        (name, app.store.statements_sent() - before)
    };
    let (name, first) = read().await;
    let (again, second) = read().await;
    assert_eq!(again, name);
    let postgres = app.store.backend() == sea_orm::DbBackend::Postgres;
    if postgres {
        assert_eq!(second, first - 1, "the second request reads the organisation from memory");
    } else {
        assert_eq!(second, first, "SQLite's server reads it every time");
    }
    let by_hand = sea_orm::Database::connect(&app.database_url).await.unwrap();
    organization::Entity::update_many()
        .col_expr(organization::Column::Name, Expr::value("Aarhus Kommune (renamed)"))
        .filter(organization::Column::Id.eq(org.id.as_uuid()))
        .exec(&by_hand)
        .await
        .unwrap();
    let renamed = until(|| async {
        let (name, _) = read().await;
        (name == "Aarhus Kommune (renamed)").then_some(name)
    })
    .await;
    assert_eq!(renamed, "Aarhus Kommune (renamed)");
    if postgres {
        // Read once more after the last announcement (the token's organisation was
        // forgotten too), then remembered again: the cost of the second request above.
        assert!(app.store.hear_registry_changes().await);
        read().await;
        let (name, cost) = read().await;
        assert_eq!((name.as_str(), cost), ("Aarhus Kommune (renamed)", second), "remembered again");
    }
}
