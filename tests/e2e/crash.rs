//! Nothing acknowledged is lost when the process dies: writes under a steady load, the
//! server killed with SIGKILL, restarted on the same database, and every write that was
//! answered is there, once, and its idempotency key still answers it.
//!
//! The server must be a process of its own to be killed, and the end-to-end suite has no
//! binary to start, so the test starts this same test executable, running only
//! [`crash_child_server`], which serves until it is killed when `KINBRIDGE_CRASH_CHILD`
//! names the database and port (and returns at once otherwise).

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    caseworker_token, child_config, child_spec, fresh_database, registered_municipality, start_child, wait_ready,
};

const CHILD: &str = "KINBRIDGE_CRASH_CHILD";

/// Entry point of the server process the crash test kills (see the module's comment).
#[tokio::test]
async fn crash_child_server() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let app = kinbridge_server::app::Application::build(&child_config(&spec)).await.unwrap();
    app.run(std::future::pending()).await.unwrap();
}

fn start(spec: &str) -> Child {
    start_child("crash::crash_child_server", CHILD, spec, &[])
}

const CREATE: &str = "mutation($i: CreateFamilyInput!) { createFamily(input: $i) { family { id name } } }";

#[tokio::test]
async fn every_acknowledged_write_survives_a_kill_9_and_a_restart() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let (database_url, _database) = fresh_database().await;
    let org = registered_municipality(&database_url).await;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spec = child_spec(&database_url, port, &secret);
    let token = caseworker_token(&secret, org);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let url = format!("http://127.0.0.1:{port}/graphql");

    let mut server = start(&spec);
    wait_ready(&client, port).await;
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, token, acknowledged) =
                (client.clone(), url.clone(), token.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("crash-{w}-{i}");
                    let body = json!({ "query": CREATE, "variables": { "i": { "name": key, "idempotencyKey": key } } });
                    let Ok(r) = client.post(&url).bearer_auth(&token).json(&body).send().await else { break };
                    let Ok(answer) = r.json::<Value>().await else { break };
                    if let Some(id) = answer["data"]["createFamily"]["family"]["id"].as_str() {
                        acknowledged.lock().unwrap().push((key, id.to_owned()));
                    }
                }
            })
        })
        .collect();
    // Under load, then killed without warning.
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let mut server = start(&spec);
    wait_ready(&client, port).await;
    let ask = |query: &str, variables: Value| {
        let body = json!({ "query": query, "variables": variables });
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move { client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let all = ask("{ families(first: 100) { totalCount edges { node { id name } } } }", json!({})).await;
    let stored: Vec<(String, String)> = all["data"]["families"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["name"].as_str().unwrap().to_owned(), e["node"]["id"].as_str().unwrap().to_owned()))
        .collect();
    for (key, id) in &acknowledged {
        assert!(stored.contains(&(key.clone(), id.clone())), "acknowledged {key} ({id}) was lost");
    }
    let mut names: Vec<&String> = stored.iter().map(|(name, _)| name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), stored.len(), "no write is there twice");
    // A retry of an acknowledged write is answered with the record written before the kill.
    let (key, id) = &acknowledged[0];
    let again = ask(CREATE, json!({ "i": { "name": key, "idempotencyKey": key } })).await;
    assert_eq!(again["data"]["createFamily"]["family"]["id"], json!(id), "{again}");
    eprintln!("{} writes acknowledged before the kill, {} stored", acknowledged.len(), stored.len());
    server.kill().unwrap();
    server.wait().unwrap();
}
