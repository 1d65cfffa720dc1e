//! GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it, in a thin
//! handler of our own around `async_graphql`:
//!
//! - `POST /graphql` with `application/json`; `GET /graphql` with the query in the URL,
//!   for queries only (a mutation over GET is `405`).
//! - The response is `application/graphql-response+json` when the client accepts it (and
//!   then a request that cannot execute is `400`), otherwise `application/json` and `200`.
//! - One operation per request: a JSON array (a batch) is refused.
//! - Every request needs `Authorization: Bearer <JWT>`; without a valid one the answer is
//!   `401` with `extensions.code = UNAUTHENTICATED`.
//! - Every error carries `extensions.code`; a panic is caught and answered `INTERNAL`.
//! - Automatic persisted queries (`extensions.persistedQuery`, see `persisted.rs`): a hash
//!   this process does not know for the caller's organisation is `PersistedQueryNotFound`
//!   (`404` under `application/graphql-response+json`), and the client sends the query.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::FutureExt;
use kinbridge_api::auth::{AuthFailure, TokenVerifier, authenticate};
use kinbridge_api::{KinbridgeSchema, RequestContext};
use kinbridge_persistence::Store;
use serde_json::json;
use tracing::Instrument;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: KinbridgeSchema,
    pub store: Store,
    pub verifier: Arc<TokenVerifier>,
    pub graphiql: crate::graphiql::Graphiql,
    /// Permits to execute a GraphQL request; see [`ServeConfig::max_concurrent_requests`](crate::config::ServeConfig).
    pub executions: Arc<tokio::sync::Semaphore>,
    /// What a query may ask for, checked before it runs.
    pub limits: kinbridge_api::Limits,
    /// How long a request may take, from its arrival to its answer.
    pub request_timeout: std::time::Duration,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The queries clients registered by hash (automatic persisted queries).
    pub persisted: crate::persisted::PersistedQueries,
    /// The documents of recent query texts, parsed and within the limits.
    pub parsed: crate::parsed::ParsedQueries,
    /// Slots for subscription connections (see `live.rs`); one is held per connection.
    pub live_connections: Arc<tokio::sync::Semaphore>,
    /// The largest WebSocket message a subscriber may send.
    pub max_message_bytes: usize,
    /// Becomes true when the server shuts down: subscription connections close.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The service's routes.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_get).post(graphql_post).fallback(|| async {
                let mut response =
                    plain_error(StatusCode::METHOD_NOT_ALLOWED, "BAD_USER_INPUT", "use POST, or GET for queries");
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
                response
            }),
        )
        .route("/graphiql/{file}", get(crate::graphiql::asset))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        // The names Kubernetes-style probes expect, for the same checks.
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async { plain_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route; the API is at /graphql") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline))
        .with_state(state)
}

/// CORS for the browser front ends of partner agencies: exactly these origins may call
/// `/graphql` with a bearer token (no cookies are involved, so no credentials mode); `None`
/// when no origin is configured, and browsers then refuse cross-origin calls.
pub fn cors(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::with_capacity(origins.len());
    for origin in origins {
        let well_formed = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.trim_start_matches("https://").trim_start_matches("http://").contains('/');
        let value = HeaderValue::from_str(origin).ok().filter(|_| well_formed);
        allowed.push(value.ok_or_else(|| format!("`{origin}` is not an origin such as https://app.example"))?);
    }
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, REQUEST_ID.clone()])
            .expose_headers([REQUEST_ID.clone()])
            .max_age(std::time::Duration::from_secs(600)),
    ))
}

/// The metrics, in the Prometheus text format (see `metrics.rs`).
async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.store);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// Ready when the database answers within [`READY_TIMEOUT`], so that a load balancer
/// hears of an outage at once instead of after the pool's own timeout.
async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ready".into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the database did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// How long `/health/ready` waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// How the response is to be encoded, from the request's `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    GraphQlResponse,
    LegacyJson,
}

impl Encoding {
    fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        if accept.split(',').any(|part| part.trim().starts_with(GRAPHQL_RESPONSE)) {
            Self::GraphQlResponse
        } else {
            Self::LegacyJson
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::GraphQlResponse => GRAPHQL_RESPONSE,
            Self::LegacyJson => JSON,
        }
    }
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = request_id(&headers);
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let (code, message) = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ("BODY_TOO_LARGE", "the request body is larger than 1 MiB"),
                _ => ("BAD_USER_INPUT", "the request body could not be read"),
            };
            return finish(plain_error(rejection.status(), code, message), &request_id);
        }
    };
    let encoding = Encoding::from_headers(&headers);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
    if !is_json {
        return finish(
            plain_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_USER_INPUT",
                "send the request as Content-Type: application/json",
            ),
            &request_id,
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return finish(
                plain_error(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", "the request body is not JSON"),
                &request_id,
            );
        }
    };
    if value.is_array() {
        return finish(
            plain_error(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "batched requests are not supported; send one operation per request",
            ),
            &request_id,
        );
    }
    // A body without a query is a request that cannot run, not an empty document, unless
    // it names a persisted query by its hash.
    let by_hash = value.get("extensions").and_then(|e| e.get("persistedQuery")).is_some();
    if !by_hash && !value.get("query").is_some_and(serde_json::Value::is_string) {
        let body = json!({ "errors": [{ "message": "the body needs a \"query\": the GraphQL document as a string",
            "extensions": { "code": "BAD_USER_INPUT", "field": "query" } }] });
        return finish(
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, encoding.content_type())], body.to_string())
                .into_response(),
            &request_id,
        );
    }
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(_) => {
            return finish(
                plain_error(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "the body must be {\"query\": …, \"variables\": …, \"operationName\": …}",
                ),
                &request_id,
            );
        }
    };
    execute(state, headers, request, encoding, request_id, Method::POST).await
}

async fn graphql_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let request_id = request_id(&headers);
    if let Ok(ws) = ws {
        return finish(crate::live::upgrade(state, ws, request_id.clone()), &request_id);
    }
    let query = query.unwrap_or_default();
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if matches!(state.graphiql, crate::graphiql::Graphiql::On { .. })
        && wants_html
        && !query.split('&').any(|kv| kv.starts_with("query="))
    {
        return crate::graphiql::page(&state).await;
    }
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(r) => r,
        Err(_) => {
            return finish(
                plain_error(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "give the query as ?query=…, with optional variables and operationName",
                ),
                &request_id,
            );
        }
    };
    let encoding = Encoding::from_headers(&headers);
    execute(state, headers, request, encoding, request_id, Method::GET).await
}

async fn execute(
    state: AppState,
    headers: HeaderMap,
    mut request: async_graphql::Request,
    encoding: Encoding,
    request_id: String,
    method: Method,
) -> Response {
    let span = tracing::info_span!("graphql", request.id = %request_id, graphql.operation = tracing::field::Empty);
    async move {
        let started = Instant::now();
        let operation = request.operation_name.clone();
        let count = |outcome: &str| state.metrics.request(operation.as_deref(), outcome, started.elapsed());
        let refused = |status: StatusCode, body: serde_json::Value| {
            let status = if encoding == Encoding::GraphQlResponse { status } else { StatusCode::OK };
            finish((status, [(header::CONTENT_TYPE, encoding.content_type())], body.to_string()).into_response(), &request_id)
        };
        let persisted = match crate::persisted::parse(&mut request) {
            Ok(persisted) => persisted,
            Err(refusal) => {
                count("BAD_USER_INPUT");
                tracing::info!(field = refusal.field, "query refused: a malformed persisted query extension");
                return refused(
                    StatusCode::BAD_REQUEST,
                    json!({ "errors": [{ "message": refusal.message,
                        "extensions": { "code": "BAD_USER_INPUT", "field": refusal.field } }] }),
                );
            }
        };
        // A query that asks for too much is refused before it waits for a turn or a
        // database connection, in time linear in its length (once per text: see parsed.rs).
        let mut document = match state.parsed.check(&request.query, &state.limits) {
            Ok(document) => document,
            Err(exceeded) => {
                state.metrics.limit_hit(exceeded.code);
                count(exceeded.code);
                tracing::info!(
                    http.status = status_for_refusal(encoding),
                    error.codes = exceeded.code,
                    limit = exceeded.limit,
                    found = exceeded.found,
                    "query refused: over a limit"
                );
                return refused(
                    StatusCode::BAD_REQUEST,
                    json!({ "errors": [{ "message": exceeded.message(),
                        "extensions": { "code": exceeded.code, "limit": exceeded.limit, "found": exceeded.found } }] }),
                );
            }
        };
        // Requests beyond the limit wait their turn here, in arrival order, holding nothing
        // but their body: past a few per core, more at once only adds memory and contention.
        let waiting = state.metrics.waiting();
        let Ok(_permit) = state.executions.acquire().await else {
            count("INTERNAL");
            return finish(internal_error(), &request_id);
        };
        drop(waiting);
        let _executing = state.metrics.executing();
        // Whether the operation to run is a mutation: refused over GET, and on PostgreSQL
        // its transaction commits with the audit of what its answer shows (see below).
        let mut mutation = is_mutation(document.as_deref(), &request);
        if method == Method::GET && mutation {
            count("BAD_USER_INPUT");
            return finish(mutation_over_get(), &request_id);
        }
        // A request's statements, the look-up of the caller's organisation first, go
        // through one connection of the pool, given back as soon as the request has run
        // (before its audit event waits for its commit): one ping of the connection per
        // request, not one per statement. A mutation's transaction runs on it too.
        let request_store = state.store.holding_one_connection();
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let actor = match authenticate(&request_store, &state.verifier, authorization).await {
            Ok(actor) => actor,
            Err(AuthFailure::Unavailable) => {
                tracing::warn!(http.status = 503, error.codes = "UNAVAILABLE", "request refused: the token's organisation could not be looked up");
                count("UNAVAILABLE");
                return finish(unavailable("the database is unavailable; nothing was done, retry later"), &request_id);
            }
            Err(failure) => {
                tracing::info!(http.status = 401, error.codes = "UNAUTHENTICATED", reason = %failure, "request refused: not authenticated");
                count("UNAUTHENTICATED");
                return finish(unauthenticated(&failure), &request_id);
            }
        };
        // A persisted query is the caller's organisation's own: found by its hash, or kept
        // under it (its text passed the limits above).
        match persisted {
            None => {}
            Some(crate::persisted::Persisted::Register(hash)) => {
                state.persisted.insert(actor.organization_id, hash, &request.query);
            }
            Some(crate::persisted::Persisted::Lookup(hash)) => {
                let Some(query) = state.persisted.get(actor.organization_id, &hash) else {
                    count("PERSISTED_QUERY_NOT_FOUND");
                    tracing::info!("persisted query not found: the client is asked for the query");
                    return refused(
                        StatusCode::NOT_FOUND,
                        json!({ "errors": [{ "message": "PersistedQueryNotFound",
                            "extensions": { "code": "PERSISTED_QUERY_NOT_FOUND" } }] }),
                    );
                };
                request.query = query.to_string();
                // Its text passed the limits when it was kept.
                document = state.parsed.check(&request.query, &state.limits).ok().flatten();
                mutation = is_mutation(document.as_deref(), &request);
                if method == Method::GET && mutation {
                    count("BAD_USER_INPUT");
                    return finish(mutation_over_get(), &request_id);
                }
            }
        }
        if let Some(name) = &request.operation_name {
            tracing::Span::current().record("graphql.operation", name.as_str());
        }
        let organization = actor.organization_id;
        let context = RequestContext::new(actor.clone(), request_id.clone());
        let reads = Arc::clone(&context.reads);
        let feed_lag = Arc::clone(&context.feed_lag);
        let read_paths = Arc::clone(&context.read_paths);
        // A mutation's transaction commits with the audit of what its answer shows (see
        // below): one WAL flush for both.
        if mutation {
            request_store.defer_write_commits();
        }
        // Parsed once, for the limits: the executor takes a copy (cheaper than parsing
        // again), and the reshaping below reads the original.
        if let Some(document) = &document {
            request.set_parsed_query(ExecutableDocument::clone(document));
        }
        let executed =
            AssertUnwindSafe(state.schema.execute(request.data(request_store.clone()).data(context))).catch_unwind().await;
        // The audit trail records what the caller was shown before the response leaves: a
        // read whose audit event could not be written is never answered. A mutation's
        // write, still open, commits with it; the reads of other requests go to the
        // audit writer below, after the connection is given back.
        let shown = reads.take();
        let auditing = Instant::now();
        let committed = match &executed {
            Ok(_) if mutation => request_store.commit_with_reads(&actor, &request_id, &shown).await,
            _ => Ok(false),
        };
        request_store.release_connection().await;
        let mut response = match executed {
            Ok(response) => response,
            Err(_) => {
                tracing::error!("request failed: a resolver panicked");
                count("INTERNAL");
                return finish(internal_error(), &request_id);
            }
        };
        // Keys in the order the query asked for them, and null where an error left a
        // nullable field out (see kinbridge_api::shape).
        if let Some(document) = &document {
            kinbridge_api::shape::reshape_parsed(document, operation.as_deref(), &mut response);
        }
        let audited = match committed {
            Ok(true) => Ok(()),
            Ok(false) => state.store.record_reads(&actor, &request_id, &shown).await,
            Err(e) => Err(e),
        };
        state.metrics.audit_written(auditing.elapsed());
        if let Some(lag) = feed_lag.get() {
            state.metrics.feed_read(lag);
        }
        state.metrics.read_trees(read_paths.get());
        match audited {
            Ok(()) => {}
            Err(kinbridge_persistence::StoreError::Unavailable(why)) => {
                // The database went away between the answer and its audit: an outage.
                // A write may have committed; its retry with the idempotency key is
                // answered with it, not done twice.
                count("UNAVAILABLE");
                tracing::warn!(http.status = 503, error.codes = "UNAVAILABLE", reason = why, reads = shown.len(), "response withheld: the database became unavailable before its reads were audited");
                let message = "the database became unavailable before the answer could be recorded; retry later (a write retried with its idempotency key is not done twice)";
                return finish(unavailable(message), &request_id);
            }
            Err(e) => {
                count("INTERNAL");
                tracing::error!(error = %e, reads = shown.len(), "response withheld: its reads could not be audited");
                return finish(internal_error(), &request_id);
            }
        }
        code_errors(&mut response, &state.limits);
        let request_failed = response.data == async_graphql::Value::Null && !response.errors.is_empty();
        let outage = response.errors.iter().any(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code")) == Some(&async_graphql::Value::from("UNAVAILABLE"))
        });
        let status = if outage {
            // The database did not serve the request: a client or load balancer retries.
            StatusCode::SERVICE_UNAVAILABLE
        } else if encoding == Encoding::GraphQlResponse && request_failed {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let codes: Vec<String> = response
            .errors
            .iter()
            .filter_map(|e| e.extensions.as_ref().and_then(|x| x.get("code")).map(ToString::to_string))
            .map(|c| c.trim_matches('"').to_owned())
            .collect();
        tracing::info!(
            organization.id = %organization,
            http.status = status.as_u16(),
            errors = response.errors.len(),
            error.codes = %codes.join(","),
            duration_ms = started.elapsed().as_millis() as u64,
            "graphql request handled"
        );
        count(codes.first().map_or("ok", String::as_str));
        // A document that did not parse or validate never ran: under
        // application/graphql-response+json its answer has no `data` entry at all.
        let not_executed = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let encoded = if encoding == Encoding::GraphQlResponse && not_executed {
            serde_json::to_vec(&json!({ "errors": response.errors }))
        } else {
            serde_json::to_vec(&response)
        };
        let body = match encoded {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "response could not be encoded");
                return finish(internal_error(), &request_id);
            }
        };
        finish((status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response(), &request_id)
    }
    .instrument(span)
    .await
}

/// Bounds every request, from its first byte of body to its answer, by the request
/// timeout: a client that stalls its body, or a request that runs too long, is answered
/// 503 `TIMEOUT`. Dropping the request's future rolls back any transaction it had open;
/// a write that had committed is answered again by a retry with its idempotency key.
async fn deadline(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request_id(request.headers());
    let limit = state.request_timeout;
    // Every request's root span, continuing the caller's trace when it sent `traceparent`.
    // The path only: a query string can carry anything.
    let span = tracing::info_span!(
        "http request",
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        request.id = %id,
        http.response.status_code = tracing::field::Empty,
    );
    crate::telemetry::continue_trace(&span, request.headers());
    let answered = tokio::time::timeout(limit, next.run(request)).instrument(span.clone()).await;
    if let Ok(response) = &answered {
        span.record("http.response.status_code", response.status().as_u16());
    }
    match answered {
        Ok(response) => response,
        Err(_) => {
            span.record("http.response.status_code", 503);
            tracing::warn!(request.id = %id, timeout_ms = limit.as_millis() as u64, "request answered TIMEOUT");
            state.metrics.request(None, "TIMEOUT", limit);
            let message = format!("the request took longer than {} ms and was stopped; retry later", limit.as_millis());
            let mut response = plain_error(StatusCode::SERVICE_UNAVAILABLE, "TIMEOUT", &message);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            finish(response, &id)
        }
    }
}

/// Whether the operation the request would run is a mutation. A document that does not
/// parse is left to the executor, which reports it.
/// Gives a code to the errors async-graphql raises itself (syntax, validation, an
/// argument that does not coerce, a query too deep or complex), which carry none: they
/// are all bad input, or over a limit.
pub(crate) fn code_errors(response: &mut async_graphql::Response, limits: &kinbridge_api::Limits) {
    for error in &mut response.errors {
        let field = coercion_field(&error.message);
        let limit = match error.message.as_str() {
            "Query is nested too deep." => Some(("TOO_DEEP", limits.max_depth)),
            "Query is too complex." => Some(("TOO_COMPLEX", limits.max_complexity)),
            _ => None,
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if let Some((code, limit)) = limit {
            extensions.set("code", code);
            extensions.set("limit", limit);
        } else if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
            if let Some(field) = field {
                extensions.set("field", field);
            }
        }
    }
}

/// `405`: a mutation sent over GET, which a cache or a prefetching browser may repeat.
fn mutation_over_get() -> Response {
    let mut response =
        plain_error(StatusCode::METHOD_NOT_ALLOWED, "BAD_USER_INPUT", "mutations must be sent with POST");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

fn is_mutation(document: Option<&ExecutableDocument>, request: &async_graphql::Request) -> bool {
    let Some(document) = document else { return false };
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops.iter().any(|(n, op)| n.as_str() == name && op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

/// The client's `x-request-id` if it is a sane token, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

fn finish(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// `401` for a token that was refused: the reason class in `extensions.reason` and in the
/// `WWW-Authenticate` header (RFC 6750), none when no token was sent.
fn unauthenticated(failure: &AuthFailure) -> Response {
    let (challenge, body) = match failure.reason() {
        None => (
            "Bearer".to_owned(),
            json!({ "errors": [{ "message": "a bearer token is required",
            "extensions": { "code": "UNAUTHENTICATED" } }] }),
        ),
        Some((reason, description)) => (
            format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
            json!({ "errors": [{ "message": format!("the token was refused: {description}"),
                "extensions": { "code": "UNAUTHENTICATED", "reason": reason } }] }),
        ),
    };
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// `503` when the database does not answer: an outage, not a bad token.
pub(crate) fn unavailable(message: &str) -> Response {
    let mut response = plain_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The status of a request refused before it ran: 400 under the GraphQL response media
/// type, 200 under plain JSON (GraphQL over HTTP).
fn status_for_refusal(encoding: Encoding) -> u16 {
    if encoding == Encoding::GraphQlResponse { 400 } else { 200 }
}

fn internal_error() -> Response {
    plain_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error; quote the request id to the operator")
}

/// A response carrying one GraphQL error, for failures before execution.
fn plain_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

/// The input path an argument coercion error names: async-graphql's validation reports
/// `Invalid value for argument "input.members.0.role", enumeration type …`, and the
/// path, as written, is what a client reads in `extensions.field`.
fn coercion_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    let end = rest.find('"')?;
    Some(&rest[..end]).filter(|path| !path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str, name: Option<&str>) -> async_graphql::Request {
        let r = async_graphql::Request::new(query);
        match name {
            Some(n) => r.operation_name(n),
            None => r,
        }
    }

    fn mutation(query: &str, name: Option<&str>) -> bool {
        let document = async_graphql::parser::parse_query(query).ok();
        is_mutation(document.as_ref(), &req(query, name))
    }

    #[test]
    fn mutations_are_recognised_for_the_get_refusal() {
        assert!(mutation("mutation { x }", None));
        assert!(!mutation("{ x }", None));
        assert!(mutation("query A { x } mutation B { y }", Some("B")));
        assert!(!mutation("query A { x } mutation B { y }", Some("A")));
        assert!(!mutation("mutation {", None), "a query that does not parse is the executor's to refuse");
    }

    #[test]
    fn a_client_request_id_is_kept_only_when_sane() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&headers), "abc-123");
        headers.insert(&REQUEST_ID, HeaderValue::from_static("a b"));
        assert_ne!(request_id(&headers), "a b");
    }

    #[test]
    fn a_coercion_error_names_the_input_path() {
        let message = r#"Invalid value for argument "input.members.0.role", enumeration type "FamilyRole" does not contain the value "KING""#;
        assert_eq!(coercion_field(message), Some("input.members.0.role"));
        assert_eq!(coercion_field("Unknown field \"x\""), None);
    }
}
