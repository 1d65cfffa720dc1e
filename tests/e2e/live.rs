//! Subscriptions over WebSocket (`graphql-transport-ws`): the change feed pushed as it is
//! committed, resumable from a cursor with nothing missed and nothing twice, the token
//! checked at `connection_init` and the connection closed when it expires, and the
//! protocol's close codes. On PostgreSQL, a subscriber on one `kinbridge serve` process
//! receives what is committed through another.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{
    TestApp, caseworker_token, child_config, child_spec, fresh_database, registered_municipality, spawn_app,
    start_child, wait_ready,
};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SUBSCRIBE: &str =
    "subscription($after: String) { changes(after: $after) { cursor recordType recordId event occurredAt } }";
const CREATE: &str = "mutation($i: CreateFamilyInput!) { createFamily(input: $i) { family { id } } }";

/// How long a test waits for a message it expects.
const PATIENCE: Duration = Duration::from_secs(15);

async fn open(port: u16, protocol: Option<&str>) -> Socket {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.expect("the WebSocket upgrade succeeds").0
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.unwrap();
}

/// The next protocol message, or the close frame's code and reason as
/// `{"close": code, "reason": …}`.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message in time");
        match message {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) =
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                return json!({ "close": code, "reason": reason });
            }
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

/// A connection acknowledged for `token`.
async fn connect(port: u16, token: &str) -> Socket {
    let mut socket = open(port, Some("graphql-transport-ws")).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket
}

async fn subscribe(socket: &mut Socket, id: &str, after: Option<&str>) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": SUBSCRIBE, "variables": { "after": after } } }),
    )
    .await;
}

/// The next change event of subscription `id`.
async fn event(socket: &mut Socket, id: &str) -> Value {
    let message = next(socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id);
    assert!(message["payload"].get("errors").is_none(), "{message}");
    message["payload"]["data"]["changes"].clone()
}

async fn create_family(app: &TestApp, token: &str, name: &str) -> String {
    let r = app.gql(token, CREATE, json!({ "i": { "name": name } })).await;
    r.data()["createFamily"]["family"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_subscriber_receives_changes_as_they_commit_and_resumes_from_its_cursor() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let randers = app.municipality("Randers").await;
    let before = create_family(&app, &aarhus.token, "Before").await;
    let mut socket = connect(app.addr.port(), &aarhus.token).await;
    subscribe(&mut socket, "1", None).await;
    let mut other = connect(app.addr.port(), &randers.token).await;
    subscribe(&mut other, "r", None).await;
    // Give the subscriptions a moment to take their starting position.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let first = create_family(&app, &aarhus.token, "Hansen").await;
    let change = event(&mut socket, "1").await;
    assert_eq!(change["recordId"], first.as_str(), "without a cursor, from now on: {before} is not sent");
    assert_eq!(change["event"], "family.created");
    let cursor = change["cursor"].as_str().unwrap().to_owned();

    // The client goes away; a change commits meanwhile; it resumes from its cursor.
    socket.close(None).await.unwrap();
    let missed = create_family(&app, &aarhus.token, "Jensen").await;
    let mut socket = connect(app.addr.port(), &aarhus.token).await;
    subscribe(&mut socket, "2", Some(&cursor)).await;
    let resumed = event(&mut socket, "2").await;
    assert_eq!(resumed["recordId"], missed.as_str(), "the change made while away, and not {first} again");
    let live = create_family(&app, &aarhus.token, "Nielsen").await;
    assert_eq!(event(&mut socket, "2").await["recordId"], live.as_str());

    // Another organisation's subscriber was sent none of it; its own change reaches it.
    let theirs = create_family(&app, &randers.token, "Randers family").await;
    assert_eq!(event(&mut other, "r").await["recordId"], theirs.as_str());

    // `complete` ends the subscription; nothing more arrives for it.
    send(&mut socket, json!({ "type": "complete", "id": "2" })).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong");
    create_family(&app, &aarhus.token, "After").await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong", "no event after complete");
}

#[tokio::test]
async fn an_expired_token_ends_the_connection_with_4403() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let token = app.token_with(|c| {
        c.org = aarhus.id.to_string();
        c.exp = chrono::Utc::now().timestamp() + 2;
    });
    let mut socket = connect(app.addr.port(), &token).await;
    subscribe(&mut socket, "1", None).await;
    let closed = next(&mut socket).await;
    assert_eq!(closed["close"], 4403, "{closed}");
    assert!(closed["reason"].as_str().unwrap().contains("expired"), "{closed}");
}

#[tokio::test]
async fn the_protocols_close_codes_and_errors() {
    let app = spawn_app().await;
    let aarhus = app.municipality("Aarhus").await;
    let port = app.addr.port();

    // A refused token.
    let mut socket = open(port, Some("graphql-transport-ws")).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } })).await;
    assert_eq!(next(&mut socket).await["close"], 4403);
    // No token at all.
    let mut socket = open(port, Some("graphql-transport-ws")).await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await["close"], 4403);
    // A subscribe before the connection is acknowledged.
    let mut socket = open(port, Some("graphql-transport-ws")).await;
    subscribe(&mut socket, "1", None).await;
    assert_eq!(next(&mut socket).await["close"], 4401);
    // Not the protocol.
    let mut socket = open(port, Some("graphql-transport-ws")).await;
    socket.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut socket).await["close"], 4400);
    // No subprotocol offered.
    let mut socket = open(port, None).await;
    assert_eq!(next(&mut socket).await["close"], 4406);

    let mut socket = connect(port, &aarhus.token).await;
    // A second connection_init.
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await["close"], 4429);

    let mut socket = connect(port, &aarhus.token).await;
    // A query belongs on HTTP; a bad cursor is named; a document that does not parse is
    // an error, not a closed connection.
    send(&mut socket, json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ viewer { subject } }" } }))
        .await;
    let error = next(&mut socket).await;
    assert_eq!((error["type"].as_str(), error["id"].as_str()), (Some("error"), Some("q")), "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    subscribe(&mut socket, "c", Some("yesterday")).await;
    let error = next(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["field"], "after");
    send(&mut socket, json!({ "type": "subscribe", "id": "p", "payload": { "query": "subscription {" } })).await;
    let error = next(&mut socket).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Two subscriptions under one id.
    subscribe(&mut socket, "1", None).await;
    subscribe(&mut socket, "1", None).await;
    assert_eq!(next(&mut socket).await["close"], 4409);

    // And no connection_init at all within the time allowed is 4408: not waited for here
    // (ten seconds), but the HTTP side is unaffected by any of the above.
    let r = app.gql(&aarhus.token, "{ viewer { subject } }", json!({})).await;
    assert_eq!(r.data()["viewer"]["subject"], "test-caseworker");
}

const CHILD: &str = "KINBRIDGE_LIVE_CHILD";

/// Entry point of the server processes of the two-process test.
#[tokio::test]
async fn live_child_server() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let mut config = child_config(&spec);
    // Readers never look again by themselves: only a notification can wake them.
    config.store.feed_poll = Duration::from_secs(24 * 3600);
    let app = kinbridge_server::app::Application::build(&config).await.unwrap();
    app.run(std::future::pending()).await.unwrap();
}

/// Two `kinbridge serve` processes on one PostgreSQL database: what is committed through
/// one reaches a subscriber of the other. The readers' own poll is set to a day, so the
/// event can only have come through LISTEN/NOTIFY.
#[tokio::test]
async fn a_subscriber_on_one_process_receives_what_another_process_commits() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let (database_url, _database) = fresh_database().await;
    if !database_url.starts_with("postgres") {
        // One SQLite file is one process's: the PostgreSQL leg runs this test.
        return;
    }
    let org = registered_municipality(&database_url).await;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let token = caseworker_token(&secret, org);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (a, b) = (free_port(), free_port());
    let mut servers = [
        start_child("live::live_child_server", CHILD, &child_spec(&database_url, a, &secret), &[]),
        start_child("live::live_child_server", CHILD, &child_spec(&database_url, b, &secret), &[]),
    ];
    wait_ready(&client, a).await;
    wait_ready(&client, b).await;

    let mut socket = connect(a, &token).await;
    subscribe(&mut socket, "1", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = json!({ "query": CREATE, "variables": { "i": { "name": "Written through B" } } });
    let answer: Value = client
        .post(format!("http://127.0.0.1:{b}/graphql"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let family = answer["data"]["createFamily"]["family"]["id"].as_str().unwrap().to_owned();
    let change = event(&mut socket, "1").await;
    assert_eq!(change["recordId"], family.as_str());
    for server in &mut servers {
        server.kill().unwrap();
        server.wait().unwrap();
    }
}
