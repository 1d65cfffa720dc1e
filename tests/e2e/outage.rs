//! An outage of the database is answered as an outage: 503 `UNAVAILABLE` within the
//! database timeout, never 401; readiness says so in under a second; service resumes as
//! soon as the database is back; a read-only database refuses writes clearly and writes
//! nothing. On PostgreSQL, through a TCP proxy the test cuts and restores (the server
//! itself is shared by the tests running beside this one).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::support::{TestApp, spawn_app_configured};

/// Forwards TCP connections to `upstream` until cut: then every open connection is
/// closed and new ones are closed as soon as they are accepted.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        // Connections held unanswered while stalled; they live as long as the accept loop.
        let hold: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, stall, open) = (Arc::clone(&cut), Arc::clone(&stalled), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if stall.load(Ordering::SeqCst) {
                    // Accepted and never answered: a database that hangs.
                    hold.lock().await.push(client);
                    continue;
                }
                let upstream = upstream.clone();
                open.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { port, cut, stalled, links }
    }

    /// Closes the open connections and holds new ones unanswered.
    async fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
    }
}

/// The test's app on PostgreSQL behind a proxy, with a one-second database timeout; `None`
/// on SQLite, which has no server to lose.
async fn behind_a_proxy() -> Option<(TestApp, Proxy)> {
    behind_a_proxy_with(Duration::from_secs(1), Duration::from_secs(10)).await
}

async fn behind_a_proxy_with(database_timeout: Duration, request_timeout: Duration) -> Option<(TestApp, Proxy)> {
    let admin = std::env::var("KINBRIDGE_TEST_POSTGRES_URL").ok()?;
    let server = admin.split_once('@').unwrap().1.split_once('/').unwrap().0.to_owned();
    let proxy = Proxy::start(server.clone()).await;
    let port = proxy.port;
    let app = spawn_app_configured(move |c| {
        let url = c.database_url.expose().replacen(&server, &format!("127.0.0.1:{port}"), 1);
        c.database_url = kinbridge_server::config::Secret::new(url);
        c.store.database_timeout = database_timeout;
        c.request_timeout = request_timeout;
    })
    .await;
    Some((app, proxy))
}

const VIEWER: &str = "{ viewer { subject } families { totalCount } }";
const CREATE: &str = "mutation { createFamily(input: { name: \"Hansen\" }) { family { id } } }";
const FEED: &str = "{ changes(first: 50) { totalCount } }";

#[tokio::test]
async fn an_outage_is_answered_503_unavailable_in_time_and_service_resumes_when_the_database_returns() {
    let Some((app, proxy)) = behind_a_proxy().await else { return };
    let org = app.municipality("Aarhus").await;
    assert_eq!(app.gql(&org.token, VIEWER, json!({})).await.status, StatusCode::OK);

    proxy.cut().await;
    for query in [VIEWER, CREATE] {
        let started = Instant::now();
        let r = app.gql(&org.token, query, json!({})).await;
        let took = started.elapsed();
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert_eq!(r.code(), "UNAVAILABLE", "an outage, not a bad token: {}", r.body);
        assert!(took < Duration::from_secs(4), "answered after {took:?}, the timeout is 1 s");
    }
    let started = Instant::now();
    let ready = app.client.get(format!("http://{}/health/ready", app.addr)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(1), "readiness answered after {:?}", started.elapsed());
    let live = app.client.get(format!("http://{}/health/live", app.addr)).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK, "the process itself is alive");

    proxy.restore();
    let restored = Instant::now();
    loop {
        let r = app.gql(&org.token, VIEWER, json!({})).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(restored.elapsed() < Duration::from_secs(5), "still {} after {:?}", r.status, restored.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("service resumed {:?} after the database returned", restored.elapsed());
    assert_eq!(app.family_count(&org).await, 0, "the write refused during the outage left nothing");
    assert_eq!(app.errors_logged(), 0, "an outage is a warning, not an error of the service");
}

/// A superuser's connection to the test cluster, and the name of `app`'s database: what an
/// operator does to the database, the tests do through these.
async fn operator(app: &TestApp) -> (sea_orm::DatabaseConnection, String) {
    let database = app.database_url.rsplit_once('/').unwrap().1.to_owned();
    let admin = sea_orm::Database::connect(std::env::var("KINBRIDGE_TEST_POSTGRES_URL").unwrap()).await.unwrap();
    (admin, database)
}

/// Ends every session of `database` (as `pg_terminate_backend` does for an operator), and
/// says how many there were.
async fn end_sessions(admin: &sea_orm::DatabaseConnection, database: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let end = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    );
    let row = admin.query_one_raw(sea_orm::Statement::from_string(admin.get_database_backend(), end)).await;
    row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn a_read_only_database_refuses_writes_clearly_and_writes_nothing() {
    use sea_orm::ConnectionTrait;
    let Some((app, _proxy)) = behind_a_proxy().await else { return };
    let org = app.municipality("Aarhus").await;
    let (admin, database) = operator(&app).await;
    admin
        .execute_unprepared(&format!("ALTER DATABASE {database} SET default_transaction_read_only = on"))
        .await
        .unwrap();
    end_sessions(&admin, &database).await;

    let mut refused = None;
    for _ in 0..20 {
        let r = app.gql(&org.token, CREATE, json!({})).await;
        if r.code() == "UNAVAILABLE" {
            refused = Some(r);
            break;
        }
        // The first request after the connections were ended may find one of them dead.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = refused.expect("the write is refused as UNAVAILABLE");
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.message().contains("read-only"), "{}", refused.message());
    let read = app.gql(&org.token, VIEWER, json!({})).await;
    assert_eq!(read.status, StatusCode::OK, "reads go on: {}", read.body);

    admin.execute_unprepared(&format!("ALTER DATABASE {database} RESET default_transaction_read_only")).await.unwrap();
    end_sessions(&admin, &database).await;
    admin.close().await.unwrap();
    let mut count = None;
    for _ in 0..20 {
        let r = app.gql(&org.token, VIEWER, json!({})).await;
        if r.status == StatusCode::OK {
            count = r.data()["families"]["totalCount"].as_i64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count, Some(0), "the refused write left nothing behind");
}

/// A connection that sat idle in the pool for less than a second is handed out without
/// the pool's ping. Ended by the database meanwhile (here every session at once, as an
/// operator would), it fails the first statement sent on it, and that statement takes
/// another connection: no request fails for it, whether its first statement is a read,
/// the audit writer's insert of its reads, or a write's `BEGIN`.
#[tokio::test]
async fn connections_the_database_ended_are_replaced_and_no_request_fails_for_them() {
    let Some((app, _proxy)) = behind_a_proxy().await else { return };
    let org = app.municipality("Aarhus").await;
    let (admin, database) = operator(&app).await;
    let reads = || async {
        let answers = futures_util::future::join_all((0..4).map(|_| app.gql(&org.token, VIEWER, json!({})))).await;
        for r in answers {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(r.body.get("errors").is_none(), "{}", r.body);
        }
    };

    for round in 0..3 {
        // Connections in use a moment ago, idle in the pool now: the next requests take
        // them untested.
        reads().await;
        assert!(end_sessions(&admin, &database).await > 0, "the app's sessions were ended");
        reads().await;
        let created = app.gql(&org.token, CREATE, json!({})).await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert!(created.body.get("errors").is_none(), "{}", created.body);
        assert_eq!(app.family_count(&org).await, round + 1, "each write is stored once");
    }
    admin.close().await.unwrap();
}

/// Readiness and the change feed take connections from the pool outside any request: the
/// probe's ping, and the feed's relay, which gives new changes their positions in a
/// transaction of its own before every feed read. A connection the database ended while
/// it sat idle is replaced there too: the probe stays ready and the feed answers.
#[tokio::test]
async fn readiness_and_the_change_feed_replace_connections_the_database_ended() {
    let Some((app, _proxy)) = behind_a_proxy().await else { return };
    let org = app.municipality("Aarhus").await;
    let (admin, database) = operator(&app).await;
    let ready = || async { app.client.get(format!("http://{}/health/ready", app.addr)).send().await.unwrap().status() };
    for round in 0..3 {
        // A write leaves a change for the relay to sequence; reads at once leave idle
        // connections in the pool, which the next users take untested.
        let created = app.gql(&org.token, CREATE, json!({})).await;
        assert!(created.body.get("errors").is_none(), "{}", created.body);
        futures_util::future::join_all((0..4).map(|_| app.gql(&org.token, VIEWER, json!({})))).await;
        assert!(end_sessions(&admin, &database).await > 0, "the app's sessions were ended");
        assert_eq!(ready().await, StatusCode::OK, "ready after the sessions were ended, round {round}");
        assert!(end_sessions(&admin, &database).await > 0, "the app's sessions were ended");
        let feed = app.gql(&org.token, FEED, json!({})).await;
        assert!(feed.body.get("errors").is_none(), "{}", feed.body);
        assert_eq!(feed.data()["changes"]["totalCount"], round + 1, "each write's change, in the feed");
    }
    admin.close().await.unwrap();
}

#[tokio::test]
async fn a_request_past_its_deadline_is_answered_timeout_and_writes_nothing() {
    let Some((app, proxy)) = behind_a_proxy_with(Duration::from_secs(30), Duration::from_millis(500)).await else {
        return;
    };
    let org = app.municipality("Aarhus").await;
    assert_eq!(app.gql(&org.token, VIEWER, json!({})).await.status, StatusCode::OK);
    proxy.stall().await;
    let started = Instant::now();
    let r = app.gql(&org.token, CREATE, json!({})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.code(), "TIMEOUT", "{}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());
    assert!(r.message().contains("500 ms"), "{}", r.message());
    let live = app.client.get(format!("http://{}/health/live", app.addr)).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    proxy.restore();
    let mut families = None;
    for _ in 0..100 {
        let r = app.gql(&org.token, VIEWER, json!({})).await;
        if r.status == StatusCode::OK {
            families = r.data()["families"]["totalCount"].as_i64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(families, Some(0), "the stopped write left nothing");
}
