//! TLS to PostgreSQL: `sslmode=require`, and `verify-full` against the CA that signed the
//! server's certificate, as a managed PostgreSQL needs. `scripts/test` starts the suite's
//! cluster with TLS and a CA of its own (`KINBRIDGE_TEST_POSTGRES_CA`); without them (the
//! SQLite leg) there is nothing to test.

use kinbridge_persistence::{Store, StoreOptions};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

use crate::support::{fresh_database, spawn_app_configured};

struct Tls {
    ca: String,
    other_ca: String,
}

fn tls() -> Option<Tls> {
    std::env::var("KINBRIDGE_TEST_POSTGRES_URL").ok()?;
    Some(Tls {
        ca: std::env::var("KINBRIDGE_TEST_POSTGRES_CA").ok()?,
        other_ca: std::env::var("KINBRIDGE_TEST_POSTGRES_OTHER_CA").ok()?,
    })
}

/// Whether the connection `url` opens is encrypted, as the server sees it.
async fn encrypted(url: &str) -> bool {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    let ssl: bool = row.try_get("", "ssl").unwrap();
    db.close().await.unwrap();
    ssl
}

#[tokio::test]
async fn the_store_connects_over_tls_with_require_and_verify_full_and_refuses_a_wrong_ca() {
    let Some(tls) = tls() else { return };
    let (url, _database) = fresh_database().await;
    let options = StoreOptions { max_connections: 1, ..StoreOptions::default() };
    for params in [
        "sslmode=require".to_owned(),
        format!("sslmode=verify-ca&sslrootcert={}", tls.ca),
        format!("sslmode=verify-full&sslrootcert={}", tls.ca),
    ] {
        let with = format!("{url}?{params}");
        let store = Store::connect(&with, &options).await.unwrap_or_else(|e| panic!("{params}: {e}"));
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert!(encrypted(&with).await, "{params}: the server sees TLS");
    }
    // The certificate names 127.0.0.1 and localhost: verify-full holds for both.
    let localhost = url.replacen("127.0.0.1", "localhost", 1);
    let with = format!("{localhost}?sslmode=verify-full&sslrootcert={}", tls.ca);
    assert!(Store::connect(&with, &options).await.is_ok(), "localhost is in the certificate");
    // A CA that signed nothing of the server's: refused before any query.
    let wrong = format!("{url}?sslmode=verify-full&sslrootcert={}", tls.other_ca);
    assert!(Store::connect(&wrong, &options).await.is_err(), "a certificate from another CA is refused");
    assert!(!encrypted(&format!("{url}?sslmode=disable")).await, "without TLS when asked");
}

#[tokio::test]
async fn the_service_serves_over_a_verified_tls_connection() {
    let Some(tls) = tls() else { return };
    let app = spawn_app_configured(move |c| {
        let url = format!("{}?sslmode=verify-full&sslrootcert={}", c.database_url.expose(), tls.ca);
        c.database_url = kinbridge_server::config::Secret::new(url);
    })
    .await;
    let org = app.municipality("Aarhus").await;
    let r = app
        .gql(&org.token, "mutation { createFamily(input: { name: \"Hansen\" }) { family { name } } }", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.data()["createFamily"]["family"]["name"], "Hansen");
}
