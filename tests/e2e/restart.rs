//! PostgreSQL itself stopped and started under a steady write load: while it is down,
//! every request is answered 503 `UNAVAILABLE` within the database timeout and readiness
//! says so in under a second; once it is back, service resumes by itself, and every write
//! that was acknowledged is there once, including those retried with their idempotency
//! key across the outage.
//!
//! The test stops a cluster of its own, made for it with the PostgreSQL binaries that
//! `scripts/test` names in `KINBRIDGE_TEST_PG_BINDIR` (the shared cluster serves the tests
//! running beside this one). Without that variable, as on the SQLite leg, there is no
//! PostgreSQL to stop and the test returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{caseworker_token, registered_municipality, test_config};

/// A PostgreSQL cluster in a temporary directory, run as the `postgres` user when the
/// tests run as root (initdb refuses root), removed when dropped.
struct Cluster {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create(bindir: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { bindir: bindir.to_owned(), dir, port };
        if is_root() {
            assert!(Command::new("chown").arg("postgres").arg(cluster.dir.path()).status().unwrap().success());
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]);
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"]);
    }

    /// Stops the server the way an operator's restart does: connections are closed at once.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bindir.join(program).display().to_string();
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &program]);
            c
        } else {
            Command::new(&program)
        };
        let output = command.args(args).output().unwrap();
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bindir.join("pg_ctl").display().to_string();
        let args = ["-D", &self.data(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--", &program]).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

const CREATE: &str = "mutation($i: CreateFamilyInput!) { createFamily(input: $i) { family { id name } } }";

#[tokio::test]
async fn postgresql_stopped_and_started_under_load_answers_unavailable_then_resumes_and_loses_nothing() {
    let Some(bindir) = std::env::var_os("KINBRIDGE_TEST_PG_BINDIR") else { return };
    crate::support::init_test_log();
    let cluster = Cluster::create(Path::new(&bindir));
    let org = registered_municipality(&cluster.url()).await;
    // The default database timeout, 2 s: what an operator gets.
    let mut config = test_config(cluster.url());
    config.store.database_timeout = Duration::from_secs(2);
    let secret = match config.auth.keys.first() {
        Some(kinbridge_api::auth::KeySource::SharedSecret(s)) => s.clone(),
        _ => unreachable!("test_config signs with a shared secret"),
    };
    let app = kinbridge_server::app::Application::build(&config).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run(std::future::pending()));
    let token = caseworker_token(&secret, org);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let url = format!("http://{addr}/graphql");

    // Four integrations writing steadily; each retries a refused write with its key, as
    // an integration does, until it is acknowledged.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let outage_answers: Arc<Mutex<Vec<(StatusCode, String, Duration)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            let (acknowledged, outage_answers, stop) =
                (Arc::clone(&acknowledged), Arc::clone(&outage_answers), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut i = 0;
                // At most 90 writes in all, so that one page of families holds them.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && acknowledged.lock().unwrap().len() < 90 {
                    let key = format!("restart-{w}-{i}");
                    let body = json!({ "query": CREATE, "variables": { "i": { "name": key, "idempotencyKey": key } } });
                    let started = Instant::now();
                    let r = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                    let status = r.status();
                    let answer: Value = r.json().await.unwrap();
                    if let Some(id) = answer["data"]["createFamily"]["family"]["id"].as_str() {
                        acknowledged.lock().unwrap().push((key, id.to_owned()));
                        i += 1;
                    } else {
                        let code = answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("").to_owned();
                        outage_answers.lock().unwrap().push((status, code, started.elapsed()));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.stop();
    let before_outage = acknowledged.lock().unwrap().len();
    let started = Instant::now();
    let ready = client.get(format!("http://{addr}/health/ready")).send().await.unwrap();
    let readiness_took = started.elapsed();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(readiness_took < Duration::from_secs(1), "readiness answered after {readiness_took:?}");
    // Down for a while, under load.
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.start();
    let restarted = Instant::now();
    let resumed = loop {
        let len = acknowledged.lock().unwrap().len();
        if len > before_outage {
            break restarted.elapsed();
        }
        assert!(restarted.elapsed() < Duration::from_secs(10), "service did not resume");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    while acknowledged.lock().unwrap().len() < before_outage + 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    let refused = outage_answers.lock().unwrap().clone();
    assert!(!refused.is_empty(), "the writers met the outage");
    for (status, code, took) in &refused {
        assert_eq!(
            (*status, code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            "an outage, nothing else"
        );
        assert!(*took < Duration::from_secs(3), "answered after {took:?}; the database timeout is 2 s");
    }
    let slowest = refused.iter().map(|(_, _, t)| *t).max().unwrap();
    eprintln!(
        "{} requests refused UNAVAILABLE while PostgreSQL was down (slowest answer {slowest:?}); readiness said 503 in {readiness_took:?}; the first write after the restart was acknowledged {resumed:?} after pg_ctl start returned",
        refused.len()
    );

    let acknowledged = acknowledged.lock().unwrap().clone();
    let rows: Value = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({ "query": "{ families(first: 100) { totalCount edges { node { id name } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Vec<(String, String)> = rows["data"]["families"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["name"].as_str().unwrap().to_owned(), e["node"]["id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rows["data"]["families"]["totalCount"], json!(stored.len()), "all on one page");
    for pair in &acknowledged {
        assert!(stored.contains(pair), "acknowledged {pair:?} is missing");
    }
    let mut names: Vec<&String> = stored.iter().map(|(name, _)| name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), stored.len(), "no write is there twice, however often it was retried");
}
