//! The end-to-end harness: the real application on port 0 over a fresh database, and
//! typed helpers for tokens, organisations, seeded records and GraphQL calls.
//!
//! The database is SQLite in a temporary directory, or, when
//! `KINBRIDGE_TEST_POSTGRES_URL` names a PostgreSQL server, a new database created on it
//! for this test alone, dropped when the test's app is. The test command runs every test
//! once on each.
//!
//! `TEST_LOG=1` (or a filter such as `TEST_LOG=kinbridge=debug`) shows the server's log
//! lines beside a failing test's output.

use std::net::SocketAddr;

use kinbridge_api::auth::{KeySource, TokenClaims, mint_hs256};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use kinbridge_persistence::Store;
use kinbridge_server::app::Application;
use kinbridge_server::config::{AuthConfig, ServeConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ISSUER: &str = "kinbridge-test";
pub const AUDIENCE: &str = "kinbridge";

/// A running application with its own database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub client: reqwest::Client,
    pub secret: Vec<u8>,
    /// The app's database, for a test that must reach past the API (to damage a row).
    pub database_url: String,
    /// Distinguishes this app's request ids from those of tests running beside it.
    tag: u64,
    requests: std::sync::atomic::AtomicU64,
    _database: TestDatabase,
}

/// A test's database, removed when it is dropped: the SQLite file's directory, or the
/// PostgreSQL database created for the test.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Self::Postgres { admin_url, name } = self else { return };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own with a runtime of its own drops the database, closing the app's connections.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                use sea_orm::ConnectionTrait;
                let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

/// The request ids of the `ERROR` lines the server logged, in this test binary: a test
/// asks for those of its own app's requests (`TestApp::errors_logged`).
static ERRORS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Keeps, for every span, the `request.id` it was opened with, and records the request id
/// of every `ERROR` event.
struct ErrorLines;

struct RequestId(String);

impl<S> tracing_subscriber::Layer<S> for ErrorLines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit(Option<String>);
        impl tracing::field::Visit for Visit {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "request.id" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut visit = Visit(None);
        attrs.record(&mut visit);
        if let (Some(request), Some(span)) = (visit.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() != tracing::Level::ERROR {
            return;
        }
        let request = ctx
            .event_scope(event)
            .and_then(|scope| scope.from_root().find_map(|s| s.extensions().get::<RequestId>().map(|r| r.0.clone())))
            .unwrap_or_default();
        if let Ok(mut errors) = ERRORS.lock() {
            errors.push(request);
        }
    }
}

/// Records the server's `ERROR` lines, and shows its log when `TEST_LOG` is set; once per
/// test binary.
pub fn init_test_log() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let shown = std::env::var("TEST_LOG").ok().map(|filter| {
            let filter = if filter == "1" || filter.is_empty() { "info".to_owned() } else { filter };
            tracing_subscriber::fmt::layer().with_test_writer().with_filter(tracing_subscriber::EnvFilter::new(filter))
        });
        // Every line the service logs, as JSON at debug level for Kinbridge's crates, kept
        // for the test that no line holds personal data or a token (tests/e2e/logs.rs).
        let kept = tracing_subscriber::fmt::layer().json().with_writer(|| KeptLog).with_filter(
            tracing_subscriber::EnvFilter::new(
                "warn,kinbridge=debug,kinbridge_api=debug,kinbridge_persistence=debug,kinbridge_server=debug",
            ),
        );
        let _ = tracing_subscriber::registry().with(shown).with(ErrorLines).with(kept).try_init();
    });
}

/// Every log line of this test process so far (see `init_test_log`).
pub static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct KeptLog;

impl std::io::Write for KeptLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = LOG.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log so far, as text.
pub fn kept_log() -> String {
    LOG.lock().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default()
}

/// An organisation and a token for one of its people.
#[derive(Clone, Debug)]
pub struct Org {
    pub id: OrganizationId,
    pub token: String,
}

/// A GraphQL response with its HTTP status and the request id it names.
#[derive(Debug)]
pub struct Gql {
    pub status: StatusCode,
    pub body: Value,
    /// The response's `x-request-id`; empty if it had none.
    pub request_id: String,
}

impl Gql {
    /// The `data`, failing the test if there are errors.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    /// The first error's `extensions.code`, failing the test if there is no error.
    #[track_caller]
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got {}", self.body))
    }

    /// The first error's `extensions.field`.
    #[track_caller]
    pub fn field(&self) -> &str {
        self.body["errors"][0]["extensions"]["field"]
            .as_str()
            .unwrap_or_else(|| panic!("expected a field, got {}", self.body))
    }

    #[track_caller]
    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or_default()
    }
}

/// Starts the application on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(false).await
}

/// Starts the application, with the demo data set when `demo` is true.
pub async fn spawn_app_with(demo: bool) -> TestApp {
    spawn_app_configured(|config| config.demo = demo).await
}

/// Starts the application with its configuration changed by `edit`.
/// The configuration every test app starts from: a random HS256 key, the tests' issuer
/// and audience, development's openness.
pub fn test_config(database_url: String) -> ServeConfig {
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret).expect("randomness for the test signing key");
    let auth = AuthConfig {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        keys: vec![KeySource::SharedSecret(secret)],
        leeway_secs: 0,
        claims: kinbridge_api::auth::ClaimNames::default(),
    };
    ServeConfig { max_concurrent_requests: 16, ..ServeConfig::embedded(database_url, auth) }
}

/// Migrates the database at `url` and registers a municipality in it, as an operator
/// would before the first start: for the tests that start a server themselves.
pub async fn registered_municipality(url: &str) -> OrganizationId {
    let store = Store::connect(
        url,
        &kinbridge_persistence::StoreOptions { max_connections: 1, ..kinbridge_persistence::StoreOptions::default() },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let org = store
        .create_organization(&NewOrganization::parse(OrganizationKind::Municipality, "Aarhus", "0751").unwrap())
        .await
        .unwrap();
    store.close().await.unwrap();
    org
}

/// A caseworker's token for `org`, signed with `secret`, valid for ten minutes.
pub fn caseworker_token(secret: &[u8], org: OrganizationId) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = TokenClaims {
        sub: "integration".into(),
        org: org.to_string(),
        roles: vec!["CASEWORKER".into()],
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        exp: now + 600,
        nbf: None,
        iat: None,
    };
    mint_hs256(secret, &claims).unwrap()
}

/// What a server in a process of its own is started with (see [`start_child`]): its
/// database, port and token key, as JSON in one environment variable.
pub fn child_spec(database_url: &str, port: u16, secret: &[u8]) -> String {
    json!({ "database_url": database_url, "port": port,
        "secret": secret.iter().map(|b| format!("{b:02x}")).collect::<String>() })
    .to_string()
}

/// The configuration a child server builds from its [`child_spec`].
pub fn child_config(spec: &str) -> ServeConfig {
    let spec: Value = serde_json::from_str(spec).unwrap();
    let secret = spec["secret"].as_str().unwrap();
    let secret = (0..secret.len()).step_by(2).map(|i| u8::from_str_radix(&secret[i..i + 2], 16).unwrap()).collect();
    let mut config = test_config(spec["database_url"].as_str().unwrap().to_owned());
    config.auth.keys = vec![KeySource::SharedSecret(secret)];
    config.listen = format!("127.0.0.1:{}", spec["port"]).parse().unwrap();
    config
}

/// Starts a server in a process of its own, for a test that kills it or needs its global
/// state (the tracing subscriber). The suite has no binary to start, so this is the test
/// executable itself, running only `test`, which serves when `variable` holds the spec and
/// returns at once otherwise.
pub fn start_child(test: &str, variable: &str, spec: &str, env: &[(&str, String)]) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        .env(variable, spec)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the server on `port` answers its readiness check (a minute at most).
pub async fn wait_ready(client: &reqwest::Client, port: u16) {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not become ready");
}

pub async fn spawn_app_configured(edit: impl FnOnce(&mut ServeConfig)) -> TestApp {
    init_test_log();
    let (database_url, database) = fresh_database().await;
    let url = database_url.clone();
    let mut config = test_config(database_url);
    // The key `app.token` signs with, even when the test replaces the keys it verifies.
    let secret = match config.auth.keys.first() {
        Some(KeySource::SharedSecret(secret)) => secret.clone(),
        _ => unreachable!("test_config starts with its shared secret"),
    };
    edit(&mut config);
    let app = Application::build(&config).await.expect("the application starts");
    let addr = app.local_addr();
    let store = app.store().clone();
    tokio::spawn(app.run(std::future::pending()));
    // On PostgreSQL the server remembers the organisations tokens name once it listens for
    // changes to the registry; the tests that count statements start from there.
    if store.backend() == sea_orm::DbBackend::Postgres {
        let started = std::time::Instant::now();
        while !store.hears_registry() {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "the registry listener did not listen");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    static APPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let tag = APPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    TestApp {
        addr,
        store,
        client: reqwest::Client::new(),
        secret,
        database_url: url,
        tag,
        requests: Default::default(),
        _database: database,
    }
}

pub async fn fresh_database() -> (String, TestDatabase) {
    match std::env::var("KINBRIDGE_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            use sea_orm::ConnectionTrait;
            let name = format!("kb_test_{}", uuid::Uuid::now_v7().simple());
            let admin = sea_orm::Database::connect(&admin_url).await.expect("the test PostgreSQL server answers");
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("a test database is created");
            admin.close().await.expect("the admin connection closes");
            let (base, _) = admin_url.rsplit_once('/').expect("the PostgreSQL URL names a database");
            (format!("{base}/{name}"), TestDatabase::Postgres { admin_url: admin_url.clone(), name })
        }
        Err(_) => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("kinbridge.db").display());
            (url, TestDatabase::Sqlite { _dir: dir })
        }
    }
}

impl TestApp {
    pub fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// Registers an organisation, as an operator does, with a token for `roles`.
    pub async fn org(&self, kind: OrganizationKind, name: &str, roles: &[&str]) -> Org {
        let code = format!("T-{}", uuid::Uuid::now_v7().simple());
        let id = self.store.create_organization(&NewOrganization::parse(kind, name, &code).unwrap()).await.unwrap();
        Org { id, token: self.token(id, roles) }
    }

    /// The id of the registered organisation of `kind` with `code` (of the demo data, say).
    pub async fn org_by_code(&self, kind: OrganizationKind, code: &str) -> OrganizationId {
        self.store.organization_by_code(kind, code).await.unwrap().unwrap().id
    }

    pub async fn municipality(&self, name: &str) -> Org {
        self.org(OrganizationKind::Municipality, name, &["CASEWORKER"]).await
    }

    /// A valid token for `org` with `roles`, for an hour.
    pub fn token(&self, org: OrganizationId, roles: &[&str]) -> String {
        self.token_with(|c| {
            c.org = org.to_string();
            c.roles = roles.iter().map(|r| (*r).to_owned()).collect();
        })
    }

    /// A token whose claims `edit` has changed, signed with the application's key.
    pub fn token_with(&self, edit: impl FnOnce(&mut TokenClaims)) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = TokenClaims {
            sub: "test-caseworker".into(),
            org: OrganizationId::new().to_string(),
            roles: vec!["CASEWORKER".into()],
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + 3600,
            nbf: Some(now - 1),
            iat: Some(now - 1),
        };
        edit(&mut claims);
        mint_hs256(&self.secret, &claims).unwrap()
    }

    /// The `ERROR` lines the server logged while handling this app's requests.
    pub fn errors_logged(&self) -> usize {
        let prefix = format!("t{}-", self.tag);
        ERRORS.lock().map(|e| e.iter().filter(|r| r.starts_with(&prefix)).count()).unwrap_or(usize::MAX)
    }

    /// Posts a GraphQL request with a bearer token, under a request id of this app's.
    /// Sends a request with `token` that reads nothing, so that the server knows the
    /// token's organisation: on PostgreSQL it is remembered, and a later request with the
    /// token does not look it up (see `TokenOrganizations`). For the tests that count a
    /// request's statements.
    pub async fn warm(&self, token: &str) {
        // An announcement of an earlier change (the test's own organisations) heard after
        // this request would make the server forget what it remembered.
        if self.store.backend() == sea_orm::DbBackend::Postgres {
            assert!(self.store.hear_registry_changes().await, "the server heard the registry's changes");
        }
        assert_eq!(self.gql(token, "{ __typename }", json!({})).await.data()["__typename"], "Query");
    }

    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Gql {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.gql_as(token, &format!("t{}-{n}", self.tag), query, variables).await
    }

    /// Posts a GraphQL request with a bearer token under `request_id`, the id its reads
    /// are audited under.
    pub async fn gql_as(&self, token: &str, request_id: &str, query: &str, variables: Value) -> Gql {
        let response = self
            .client
            .post(self.url())
            .header("x-request-id", request_id)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("the request is sent");
        let status = response.status();
        let request_id =
            response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = response.json().await.expect("the response is JSON");
        Gql { status, body, request_id }
    }

    /// Creates a family with a child and a parent living in `residence` (or the
    /// municipality itself).
    pub async fn seed_family(&self, org: &Org, residence: Option<OrganizationId>) -> SeededFamily {
        let residence = residence.unwrap_or(org.id).to_string();
        let data = self
            .gql(
                &org.token,
                "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id
                    members { edges { node { role person { id } } } } } } }",
                json!({ "input": {
                    "name": "Hansen",
                    "members": [
                        { "person": { "givenName": "Emma", "familyName": "Hansen", "birthDate": "2016-04-12" }, "role": "CHILD" },
                        { "person": { "givenName": "Mette", "familyName": "Hansen" }, "role": "PARENT", "residenceMunicipalityId": residence },
                    ]
                }}),
            )
            .await;
        let family = &data.data()["createFamily"]["family"];
        let member = |role: &str| {
            family["members"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["role"] == role)
                .map(|e| e["node"]["person"]["id"].as_str().unwrap().to_owned())
                .unwrap()
        };
        SeededFamily {
            id: family["id"].as_str().unwrap().to_owned(),
            child_id: member("CHILD"),
            parent_id: member("PARENT"),
        }
    }

    /// Records a placement of the family's child from `start` (open-ended).
    pub async fn seed_placement(&self, org: &Org, family: &SeededFamily, start: &str) -> String {
        let r = self
            .gql(
                &org.token,
                "mutation($input: CreatePlacementInput!) { createPlacement(input: $input) { placement { id } } }",
                json!({ "input": {
                    "familyId": family.id, "childId": family.child_id, "setting": "FOSTER_FAMILY",
                    "voluntary": false, "decisionDate": start, "startDate": start,
                }}),
            )
            .await;
        r.data()["createPlacement"]["placement"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates a family with a placement from 2026-01-05 and a draft parent action plan
    /// for it, reviewed every 30 days; returns the plan's id.
    pub async fn seed_plan(&self, org: &Org) -> String {
        let family = self.seed_family(org, None).await;
        let placement = self.seed_placement(org, &family, "2026-01-05").await;
        let r = self
            .gql(
                &org.token,
                "mutation($p: ID!) { createParentActionPlan(input: { placementId: $p, reviewIntervalDays: 30 }) { parentActionPlan { id } } }",
                json!({ "p": placement }),
            )
            .await;
        r.data()["createParentActionPlan"]["parentActionPlan"]["id"].as_str().unwrap().to_owned()
    }

    /// How many families `org` sees.
    pub async fn family_count(&self, org: &Org) -> i64 {
        self.gql(&org.token, "{ families { totalCount } }", json!({})).await.data()["families"]["totalCount"]
            .as_i64()
            .unwrap()
    }

    /// How many rows the change feed holds.
    pub async fn outbox_len(&self) -> usize {
        self.store.outbox_after(0, 100_000).await.unwrap().len()
    }
}

/// Ids of a family made by [`TestApp::seed_family`].
#[derive(Debug, Clone)]
pub struct SeededFamily {
    pub id: String,
    pub child_id: String,
    pub parent_id: String,
}

/// Extracts the uuid from a public id (`fam_…`).
pub fn uuid_of(public_id: &str) -> uuid::Uuid {
    uuid::Uuid::try_parse(public_id.split_once('_').unwrap().1).unwrap()
}

/// Polls `check` until it gives something, for at most 30 seconds: for what the server
/// learns asynchronously, such as a change another process made.
pub async fn until<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "nothing came within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
