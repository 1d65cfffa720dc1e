//! Latency, throughput and memory of the GraphQL API over HTTP, on the demo data in a
//! SQLite file (or, with KINBRIDGE_BENCH_POSTGRES_URL, a fresh PostgreSQL database).
//! Prints figures only: the machines are shared, so nothing here is asserted.
//!
//!     cargo bench -p kinbridge-server

use std::time::{Duration, Instant};

use kinbridge_api::auth::{KeySource, TokenClaims, mint_hs256};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_server::app::Application;
use kinbridge_server::config::{AuthConfig, ServeConfig};
use serde_json::json;

const REQUESTS: usize = 400;
const CONCURRENCY: usize = 8;

const QUERIES: &[(&str, &str)] = &[
    ("viewer (token check, no personal data)", "{ viewer { subject } }"),
    (
        "caseworker overview (3 families, nested, audited reads)",
        "{ families { edges { node { name members { edges { node { role person { givenName } } } }
            placements { edges { node { setting contactVisits(last: 3) { edges { node { status plannedStart } } } } } }
            parentActionPlans { edges { node { status nextReviewDue goals { edges { node { description } } } } } } } } } }",
    ),
    ("caseworker alerts", "{ plansOverdueForReview { totalCount } placementsAwaitingSupportOffer { totalCount } supportOffersDueForReoffer { totalCount } }"),
];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (database_url, backend) = match std::env::var("KINBRIDGE_BENCH_POSTGRES_URL") {
        Ok(url) => (url, "PostgreSQL"),
        Err(_) => (format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), "SQLite"),
    };
    let secret = vec![7u8; 32];
    let auth = AuthConfig {
        issuer: "bench".into(),
        audience: "kinbridge".into(),
        keys: vec![KeySource::SharedSecret(secret.clone())],
        leeway_secs: 30,
        claims: kinbridge_api::auth::ClaimNames::default(),
    };
    let config = ServeConfig { demo: true, graphiql: false, ..ServeConfig::embedded(database_url, auth) };
    let app = Application::build(&config).await.expect("the application starts");
    let url = format!("http://{}/graphql", app.local_addr());
    let org = app
        .store()
        .organization_by_code(OrganizationKind::Municipality, "0751")
        .await
        .expect("the demo loads")
        .expect("the demo municipality");
    tokio::spawn(app.run(std::future::pending()));
    let now = chrono::Utc::now().timestamp();
    let claims = TokenClaims {
        sub: "bench".into(),
        org: org.id.to_string(),
        roles: vec!["CASEWORKER".into()],
        iss: "bench".into(),
        aud: "kinbridge".into(),
        exp: now + 3600,
        nbf: None,
        iat: None,
    };
    let token = mint_hs256(&secret, &claims).expect("a token");
    let client = reqwest::Client::new();
    let call = |query: &'static str| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let started = Instant::now();
            let r = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("a response");
            let body: serde_json::Value = r.json().await.expect("JSON");
            assert!(body.get("errors").is_none(), "{body}");
            started.elapsed()
        }
    };

    println!("Kinbridge API benchmark: {backend}, demo data, {REQUESTS} requests per query, release build");
    for (name, query) in QUERIES {
        for _ in 0..20 {
            call(query).await;
        }
        let mut sequential = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            sequential.push(call(query).await);
        }
        sequential.sort();
        let started = Instant::now();
        let mut remaining = REQUESTS;
        while remaining > 0 {
            let batch = remaining.min(CONCURRENCY);
            futures_util::future::join_all((0..batch).map(|_| call(query))).await;
            remaining -= batch;
        }
        let throughput = REQUESTS as f64 / started.elapsed().as_secs_f64();
        println!(
            "  {name}\n    one at a time: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms; {CONCURRENCY} at a time: {throughput:.0} requests/s",
            percentile(&sequential, 0.50),
            percentile(&sequential, 0.95),
            percentile(&sequential, 0.99),
        );
    }
    println!(
        "  peak resident memory of the whole process (server and client): {}",
        peak_rss_mib().map_or("unknown".into(), |m| format!("{m:.1} MiB"))
    );
}
