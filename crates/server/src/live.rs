//! GraphQL subscriptions over WebSocket, in the `graphql-transport-ws` protocol (the
//! `graphql-ws` library's; Apollo Client's `GraphQLWsLink` speaks it).
//!
//! `GET /graphql` with `Upgrade: websocket` and the subprotocol `graphql-transport-ws`.
//! The client's `connection_init` carries the token (`{"Authorization": "Bearer …"}`, or
//! `{"token": "…"}`) within [`INIT_TIMEOUT`]; it is verified as a request's token is, and
//! again every [`RECHECK`] (a disabled organisation ends the connection), and the
//! connection is closed `4403` when the token expires. Only subscriptions run here;
//! queries and mutations go over HTTP, where their reads and writes are audited per
//! request. Each event's reads are written to the audit trail before it is sent.
//!
//! Close codes are the protocol's: `4400` a message that is not the protocol's, `4401` a
//! subscribe before the connection was acknowledged, `4403` a token refused or expired,
//! `4406` no `graphql-transport-ws` subprotocol, `4408` no `connection_init` in time,
//! `4409` a subscription id already in use, `4429` a second `connection_init`; `1001` when
//! the server shuts down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use kinbridge_api::RequestContext;
use kinbridge_api::auth::{AuthFailure, authenticate_until};
use kinbridge_domain::access::Actor;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::http::AppState;

pub const PROTOCOL: &str = "graphql-transport-ws";

/// How long a client has to send `connection_init` after the upgrade.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open connection's token is verified again.
pub const RECHECK: Duration = Duration::from_secs(30);
/// How many subscription connections one process holds at once; more are `503`.
pub const MAX_CONNECTIONS: usize = 1024;
/// How many subscriptions one connection may hold at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;

/// Upgrades the request to a subscription connection, if a slot is free.
pub fn upgrade(state: AppState, ws: WebSocketUpgrade, request_id: String) -> Response {
    let Ok(slot) = Arc::clone(&state.live_connections).try_acquire_owned() else {
        return crate::http::unavailable("too many subscription connections are open; retry later");
    };
    let offered = ws.protocols([PROTOCOL]);
    let accepted = offered.selected_protocol().is_some();
    offered
        .max_message_size(state.max_message_bytes)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            if accepted {
                Connection::new(state, socket, request_id).run().await;
            } else {
                let mut socket = socket;
                let _ = socket.send(close(4406, "Subprotocol not acceptable: use graphql-transport-ws")).await;
            }
        })
        .into_response()
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

/// One subscriber's connection.
struct Connection {
    state: AppState,
    socket: WebSocket,
    request_id: String,
    /// Messages from the connection's subscriptions, to send.
    outgoing: mpsc::Sender<Message>,
    incoming: mpsc::Receiver<Message>,
    subscriptions: HashMap<String, tokio::task::AbortHandle>,
}

/// What ends a connection: a close frame to send, or nothing when the client left.
type End = Option<Message>;

impl Connection {
    fn new(state: AppState, socket: WebSocket, request_id: String) -> Self {
        let (outgoing, incoming) = mpsc::channel(64);
        Self { state, socket, request_id, outgoing, incoming, subscriptions: HashMap::new() }
    }

    async fn run(mut self) {
        let end = self.serve().await;
        for (_, task) in self.subscriptions.drain() {
            task.abort();
        }
        if let Some(frame) = end {
            let _ = self.socket.send(frame).await;
        }
        tracing::info!(request.id = %self.request_id, "subscription connection closed");
    }

    async fn serve(&mut self) -> End {
        let (token, (actor, expires_at)) = match self.init().await {
            Ok(session) => session,
            Err(end) => return end,
        };
        if self.socket.send(text(&json!({ "type": "connection_ack" }))).await.is_err() {
            return None;
        }
        let mut closing = self.state.closing.clone();
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        let mut actor = actor;
        let mut expiry = Box::pin(tokio::time::sleep_until(until(expires_at)));
        loop {
            tokio::select! {
                message = self.socket.recv() => {
                    let Some(Ok(message)) = message else { return None };
                    if let Some(end) = self.on_message(message, &actor).await {
                        return end;
                    }
                }
                Some(message) = self.incoming.recv() => {
                    if self.socket.send(message).await.is_err() {
                        return None;
                    }
                }
                () = &mut expiry => {
                    tracing::info!(request.id = %self.request_id, "subscription connection closed: the token expired");
                    return Some(close(4403, "Forbidden: the token has expired"));
                }
                _ = recheck.tick() => {
                    match authenticate_until(&self.state.store, &self.state.verifier, Some(&token)).await {
                        Ok((now, expires_at)) => {
                            actor = now;
                            expiry = Box::pin(tokio::time::sleep_until(until(expires_at)));
                        }
                        Err(AuthFailure::Unavailable) => {}
                        Err(failure) => {
                            tracing::info!(request.id = %self.request_id, reason = %failure, "subscription connection closed: the token is no longer accepted");
                            return Some(close(4403, &forbidden(&failure)));
                        }
                    }
                }
                _ = closing.changed() => return Some(close(1001, "the server is shutting down")),
            }
        }
    }

    /// Waits for `connection_init` and authenticates its token.
    async fn init(&mut self) -> Result<(String, (Actor, i64)), End> {
        let first = tokio::time::timeout(INIT_TIMEOUT, async {
            loop {
                match self.socket.recv().await {
                    Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    _ => return None,
                }
            }
        })
        .await;
        let message = match first {
            Err(_) => return Err(Some(close(4408, "Connection initialisation timeout"))),
            Ok(None) => return Err(None),
            Ok(Some(message)) => message,
        };
        let Ok(message) = serde_json::from_str::<Value>(&message) else {
            return Err(Some(close(4400, "a message must be a JSON object with a type")));
        };
        match message["type"].as_str() {
            Some("connection_init") => {}
            Some("subscribe") => return Err(Some(close(4401, "Unauthorized"))),
            _ => return Err(Some(close(4400, "the first message must be connection_init"))),
        }
        let payload = &message["payload"];
        let header = ["Authorization", "authorization"]
            .iter()
            .find_map(|k| payload[*k].as_str().map(str::to_owned))
            .or_else(|| payload["token"].as_str().map(|t| format!("Bearer {t}")));
        let Some(header) = header else {
            return Err(Some(close(4403, "Forbidden: connection_init carries no token")));
        };
        match authenticate_until(&self.state.store, &self.state.verifier, Some(&header)).await {
            Ok(session) => Ok((header, session)),
            Err(AuthFailure::Unavailable) => Err(Some(close(1011, "the database is unavailable; retry later"))),
            Err(failure) => {
                tracing::info!(request.id = %self.request_id, reason = %failure, "subscription connection refused: not authenticated");
                Err(Some(close(4403, &forbidden(&failure))))
            }
        }
    }

    async fn on_message(&mut self, message: Message, actor: &Actor) -> Option<End> {
        let message = match message {
            Message::Text(t) => t,
            Message::Close(_) => return Some(None),
            Message::Ping(_) | Message::Pong(_) => return None,
            Message::Binary(_) => return Some(Some(close(4400, "messages are JSON text"))),
        };
        let Ok(message) = serde_json::from_str::<Value>(&message) else {
            return Some(Some(close(4400, "a message must be a JSON object with a type")));
        };
        match message["type"].as_str() {
            Some("ping") => {
                let pong = text(&json!({ "type": "pong" }));
                self.socket.send(pong).await.err().map(|_| None)
            }
            Some("pong") => None,
            Some("connection_init") => Some(Some(close(4429, "Too many initialisation requests"))),
            Some("complete") => {
                if let Some(task) = message["id"].as_str().and_then(|id| self.subscriptions.remove(id)) {
                    task.abort();
                }
                None
            }
            Some("subscribe") => {
                let Some(id) = message["id"].as_str().filter(|id| !id.is_empty()).map(str::to_owned) else {
                    return Some(Some(close(4400, "subscribe needs an id")));
                };
                self.subscriptions.retain(|_, task| !task.is_finished());
                if self.subscriptions.contains_key(&id) {
                    return Some(Some(close(4409, &format!("Subscriber for {id} already exists"))));
                }
                let Ok(request) = serde_json::from_value::<async_graphql::Request>(message["payload"].clone()) else {
                    return Some(Some(close(4400, "subscribe needs a payload with a query")));
                };
                if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                    let error = bad_input(&format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"));
                    return self.send_error(&id, error).await;
                }
                if let Err(exceeded) = kinbridge_api::limits::check(&request.query, &self.state.limits) {
                    let error = json!({ "message": exceeded.message(),
                        "extensions": { "code": exceeded.code, "limit": exceeded.limit, "found": exceeded.found } });
                    return self.send_error(&id, error).await;
                }
                if !is_subscription(&request) {
                    let error =
                        bad_input("only subscriptions run over WebSocket; send queries and mutations over HTTP");
                    return self.send_error(&id, error).await;
                }
                let task = tokio::spawn(subscription(
                    self.state.clone(),
                    actor.clone(),
                    format!("{}/{id}", self.request_id),
                    id.clone(),
                    request,
                    self.outgoing.clone(),
                ));
                self.subscriptions.insert(id, task.abort_handle());
                None
            }
            _ => Some(Some(close(4400, "unknown message type"))),
        }
    }

    async fn send_error(&mut self, id: &str, error: Value) -> Option<End> {
        let message = text(&json!({ "type": "error", "id": id, "payload": [error] }));
        self.socket.send(message).await.err().map(|_| None)
    }
}

fn forbidden(failure: &AuthFailure) -> String {
    format!("Forbidden: {}", failure.reason().map_or("the token was refused", |(_, why)| why))
}

fn bad_input(message: &str) -> Value {
    json!({ "message": message, "extensions": { "code": "BAD_USER_INPUT" } })
}

/// The instant a token that expires at `expires_at` (seconds since the epoch) runs out.
fn until(expires_at: i64) -> tokio::time::Instant {
    let left = expires_at.saturating_sub(chrono::Utc::now().timestamp());
    tokio::time::Instant::now() + Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

fn is_subscription(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        // Not parsed: let execution answer with the parser's error.
        return true;
    };
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Subscription,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops.iter().any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Subscription),
            None => false,
        },
    }
}

/// Runs one subscription, sending its events as `next`, a failure to start as `error`,
/// and its end as `complete`. Each event's reads are audited before it is sent.
async fn subscription(
    state: AppState,
    actor: Actor,
    request_id: String,
    id: String,
    request: async_graphql::Request,
    outgoing: mpsc::Sender<Message>,
) {
    let context = RequestContext::new(actor.clone(), request_id.clone());
    let reads = Arc::clone(&context.reads);
    let query = request.query.clone();
    let operation = request.operation_name.clone();
    let mut events = state.schema.execute_stream(request.data(context));
    let mut first = true;
    while let Some(mut response) = events.next().await {
        crate::http::code_errors(&mut response, &state.limits);
        kinbridge_api::shape::reshape(&query, operation.as_deref(), &mut response);
        let never_ran = first && response.data == async_graphql::Value::Null && !response.errors.is_empty();
        first = false;
        if never_ran {
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            let _ = outgoing.send(text(&json!({ "type": "error", "id": id, "payload": errors }))).await;
            return;
        }
        let shown = reads.take();
        if let Err(e) = state.store.record_reads(&actor, &request_id, &shown).await {
            tracing::warn!(request.id = %request_id, error = %e, "subscription ended: an event's reads could not be audited");
            let error = json!({ "message": "the event could not be recorded in the audit trail; subscribe again from your last cursor",
                "extensions": { "code": "UNAVAILABLE" } });
            let _ = outgoing.send(text(&json!({ "type": "error", "id": id, "payload": [error] }))).await;
            return;
        }
        let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
        if outgoing.send(text(&json!({ "type": "next", "id": id, "payload": payload }))).await.is_err() {
            return;
        }
    }
    let _ = outgoing.send(text(&json!({ "type": "complete", "id": id }))).await;
}
