//! Traces leave over OTLP/HTTP and continue the caller's trace: a server started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` posts its spans to a collector, here a stand-in that
//! decodes them with OTLP's own protobuf types, and each request's root span has the
//! caller's `traceparent` as its parent.
//!
//! The subscriber is global to a process, so the server runs in a process of its own
//! ([`traces_child_server`], see `support::start_child`); it installs Kinbridge's
//! telemetry as `kinbridge serve` does. The same process shows the pool's wait histogram
//! in `/metrics`, which that subscriber feeds.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use kinbridge_server::telemetry::{LogFormat, TraceExport};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Attribute;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use crate::support::{
    caseworker_token, child_config, child_spec, fresh_database, registered_municipality, start_child, wait_ready,
};

const CHILD: &str = "KINBRIDGE_TRACES_CHILD";

/// The server process of this module's test (see the module's comment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_child_server() {
    let Ok(spec) = std::env::var(CHILD) else { return };
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap();
    let export = TraceExport { endpoint, runtime: tokio::runtime::Handle::current() };
    let _telemetry = kinbridge_server::telemetry::init("warn", LogFormat::Json, Some(export)).unwrap();
    let app = kinbridge_server::app::Application::build(&child_config(&spec)).await.unwrap();
    app.run(std::future::pending()).await.unwrap();
}

/// A stand-in OTLP/HTTP collector: keeps every span posted to `/v1/traces`, with its
/// resource's `service.name`.
async fn collector() -> (String, Arc<Mutex<Vec<(String, Span)>>>) {
    let spans: Arc<Mutex<Vec<(String, Span)>>> = Arc::default();
    let kept = Arc::clone(&spans);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let kept = Arc::clone(&kept);
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export request");
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|r| &r.attributes)
                        .find(|a| a.key == "service.name")
                        .and_then(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(Attribute::StringValue(s)) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        kept.lock().unwrap().push((service.clone(), span));
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn spans_are_exported_over_otlp_and_continue_the_callers_traceparent() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let (database_url, _database) = fresh_database().await;
    let org = registered_municipality(&database_url).await;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (collector_url, spans) = collector().await;
    let mut server = start_child(
        "traces::traces_child_server",
        CHILD,
        &child_spec(&database_url, port, &secret),
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url), ("OTEL_BSP_SCHEDULE_DELAY", "100".into())],
    );
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    wait_ready(&client, port).await;
    let token = caseworker_token(&secret, org);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let answer: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({ "query": "query Families { families { totalCount } }", "operationName": "Families" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["families"]["totalCount"], 0, "{answer}");
    // A request without traceparent starts a trace of its own.
    client.get(format!("http://127.0.0.1:{port}/health/live")).send().await.unwrap();

    let started = Instant::now();
    let (root, graphql, own) = loop {
        {
            let spans = spans.lock().unwrap();
            let find = |name: &str, trace: Option<&str>| {
                spans.iter().find(|(_, s)| s.name == name && trace.is_none_or(|t| hex(&s.trace_id) == t)).cloned()
            };
            let root = find("http request", Some(trace_id));
            let graphql = find("graphql", Some(trace_id));
            let own = spans.iter().find(|(_, s)| s.name == "http request" && hex(&s.trace_id) != trace_id).cloned();
            if let (Some(root), Some(graphql), Some(own)) = (root, graphql, own) {
                break (root, graphql, own);
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the spans did not reach the collector");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(root.0, "kinbridge", "the service names itself");
    assert_eq!(hex(&root.1.parent_span_id), caller_span, "the root span's parent is the caller's span");
    assert_eq!(graphql.1.parent_span_id, root.1.span_id, "the GraphQL span is inside the request's");
    assert!(own.1.parent_span_id.is_empty(), "without traceparent, a request's span is a root");
    let attribute = |span: &Span, key: &str| {
        span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Attribute::StringValue(s) => Some(s.clone()),
            Attribute::IntValue(i) => Some(i.to_string()),
            _ => None,
        })
    };
    assert_eq!(attribute(&root.1, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(&root.1, "url.path").as_deref(), Some("/graphql"));
    assert_eq!(attribute(&graphql.1, "graphql.operation").as_deref(), Some("Families"));
    let exported = format!("{:?}", spans.lock().unwrap());
    assert!(!exported.contains(&token) && !exported.contains("Aarhus"), "no token or personal data in a span");

    // The subscriber of this process also feeds the pool's wait histogram.
    let metrics = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    let waits: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kinbridge_database_acquire_duration_seconds_count"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pool wait histogram in\n{metrics}"));
    assert!(waits >= 1.0, "every statement waited for a connection, however briefly: {metrics}");
    server.kill().unwrap();
    server.wait().unwrap();
}
