//! Slow and idle clients are let go, connections are capped, and a shutdown finishes the
//! requests under way and then exits whatever the clients do.

use std::time::{Duration, Instant};

use kinbridge_server::app::Application;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{fresh_database, spawn_app_configured, test_config};

/// Whether the server closes `stream` within `within`, reading whatever it sends first.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn connections_that_send_nothing_or_trickle_their_headers_are_closed() {
    let app = spawn_app_configured(|c| c.header_read_timeout = Duration::from_millis(500)).await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let mut trickling = TcpStream::connect(app.addr).await.unwrap();
    trickling.write_all(b"POST /graphql HTTP/1.1\r\nHost: kinbridge\r\n").await.unwrap();
    let trickle = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if trickling.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closed_within(&mut trickling, Duration::from_secs(1)).await
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(6), trickle).await.unwrap_or(false),
        "the trickling client is let go"
    );
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(3)).await, "an idle connection is closed");
    }
    // The service itself goes on.
    let org = app.municipality("Aarhus").await;
    assert_eq!(app.gql(&org.token, "{ viewer { subject } }", json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_configured(|c| {
        c.max_connections = 2;
        c.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let org = app.municipality("Aarhus").await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let ask = || {
        client
            .post(app.url())
            .bearer_auth(&org.token)
            .json(&json!({ "query": "{ viewer { subject } }" }))
            .timeout(Duration::from_millis(700))
            .send()
    };
    assert_eq!(ask().await.unwrap().status(), StatusCode::OK);
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(ask().await.is_err(), "a third connection waits while two are open");
    drop(first);
    let mut answered = false;
    for _ in 0..20 {
        if ask().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            answered = true;
            break;
        }
    }
    assert!(answered, "served once a slot is free");
}

#[tokio::test]
async fn a_shutdown_finishes_requests_under_way_and_exits_despite_a_stalled_client() {
    let (database_url, _database) = fresh_database().await;
    let mut config = test_config(database_url);
    config.shutdown_timeout = Duration::from_millis(800);
    config.request_timeout = Duration::from_secs(30);
    let app = Application::build(&config).await.unwrap();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    // A client that sends half of its body and stalls.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: kinbridge\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(exited.is_ok(), "the server exits although a client stalls");
    assert!(started.elapsed() >= Duration::from_millis(700), "it gave the request under way its time");
    assert!(TcpStream::connect(addr).await.is_err(), "and no longer listens");
}
