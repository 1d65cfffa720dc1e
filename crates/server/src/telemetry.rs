//! Logging and tracing. Messages read on their own; fields are dotted and carry units
//! (`duration_ms`); personal data is never logged.
//!
//! One `tracing` subscriber carries three layers, each with its own filter:
//!
//! - the log lines (text or JSON), filtered by `--log`;
//! - the database driver's pool events (`sqlx::pool::acquire`), which feed
//!   `kinbridge_database_acquire_duration_seconds` in `/metrics` and are never printed;
//! - when `--otlp-endpoint` is set, Kinbridge's spans exported over OTLP/HTTP, each
//!   request's root span continuing the trace of the caller's W3C `traceparent`
//!   ([`continue_trace`]).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where spans go, when they are exported.
#[derive(Debug, Clone)]
pub struct TraceExport {
    /// The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` gives it
    /// (`http://collector:4318`); spans are posted to `/v1/traces` under it.
    pub endpoint: String,
    /// The runtime that sends the batches.
    pub runtime: tokio::runtime::Handle,
}

/// What must be flushed before the process exits.
#[derive(Debug, Default)]
#[must_use = "call shutdown before exiting, or queued spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued and stops the exporter. Call it from outside the
    /// runtime's tasks, while the runtime still runs: the last batch is sent on it.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
        {
            eprintln!("kinbridge: the last spans could not be exported: {e}");
        }
    }
}

/// The crates whose spans are exported.
const TRACED: [&str; 3] = ["kinbridge_server", "kinbridge_api", "kinbridge_persistence"];

/// The driver's event for every connection taken from the pool, with `acquired_after_secs`.
const POOL_ACQUIRE: &str = "sqlx::pool::acquire";

/// Installs the global subscriber: log lines filtered by `filter` (`RUST_LOG`'s syntax;
/// `info` when it does not parse), the pool metric, and span export when `traces` says
/// where. An endpoint that is not a URL is an error naming the setting.
pub fn init(filter: &str, format: LogFormat, traces: Option<TraceExport>) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Whatever RUST_LOG asks: sea-orm and sqlx print statements with their values below
    // warn, and values are personal data.
    let filter = ["sqlx=warn", "sea_orm=warn"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, tracing_subscriber::EnvFilter::add_directive);
    // Colour only for a person at a terminal: never ANSI codes in files and pipes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let lines: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => lines.json().flatten_event(true).with_filter(filter).boxed(),
        LogFormat::Text => lines.with_filter(filter).boxed(),
    };
    let pool = PoolAcquire.with_filter(Targets::new().with_target(POOL_ACQUIRE, LevelFilter::DEBUG));
    let (provider, spans) = match traces {
        None => (None, None),
        Some(export) => {
            let provider = tracer_provider(&export)?;
            let targets =
                TRACED.iter().fold(Targets::new(), |t, crate_name| t.with_target(*crate_name, LevelFilter::INFO));
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("kinbridge")).with_filter(targets);
            (Some(provider), Some(layer))
        }
    };
    // Already installed (a second call in one process) is fine.
    drop(tracing_subscriber::registry().with(lines).with(pool).with(spans).try_init());
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    }
    Ok(Telemetry { traces: provider })
}

fn tracer_provider(export: &TraceExport) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let base = export.endpoint.trim_end_matches('/');
    let url: hyper::Uri = format!("{base}/v1/traces").parse().map_err(|_| not_a_collector(&export.endpoint))?;
    if url.scheme_str() != Some("http") || url.host().is_none() {
        return Err(not_a_collector(&export.endpoint));
    }
    let timeout = Duration::from_secs(10);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.to_string())
        .with_timeout(timeout)
        .with_http_client(Collector::new(export.runtime.clone(), timeout))
        .build()
        .map_err(|e| format!("--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): {e}"))?;
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, are read by the builder.
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("kinbridge");
    }
    let resource = resource.with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

fn not_a_collector(endpoint: &str) -> String {
    format!(
        "--otlp-endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): `{}` is not a collector's base URL such as http://collector:4318",
        crate::config::redact_secrets(endpoint)
    )
}

/// Makes `span` continue the trace that the caller's `traceparent` (and `tracestate`)
/// header names; without one, or without export, the span starts a trace of its own.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    // Fails only when the span is not exported, which needs nothing done.
    drop(span.set_parent(parent));
}

/// Feeds the pool metric from the driver's events; prints nothing.
struct PoolAcquire;

impl<S: tracing::Subscriber> Layer<S> for PoolAcquire {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Waited(Option<f64>);
        impl tracing::field::Visit for Waited {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "acquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut waited = Waited(None);
        event.record(&mut waited);
        if let Some(seconds) = waited.0 {
            crate::metrics::database_acquired(seconds);
        }
    }
}

/// The exporter's HTTP client: hyper, on the service's runtime. The SDK's batch processor
/// runs on a thread of its own and waits for each send, which runs as a task of the
/// runtime, so it needs no reactor of its own.
#[derive(Debug, Clone)]
struct Collector {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

/// The most of a collector's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl Collector {
    fn new(runtime: tokio::runtime::Handle, timeout: Duration) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        let client = {
            let _entered = runtime.enter();
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector)
        };
        Self { client, runtime, timeout }
    }
}

#[async_trait::async_trait]
impl HttpClient for Collector {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        use http_body_util::BodyExt;
        let (client, timeout) = (self.client.clone(), self.timeout);
        let send = async move {
            let answer = client.request(request.map(http_body_util::Full::new)).await?;
            let (parts, body) = answer.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        // The timer is made inside the task: the processor's thread has no runtime.
        match self.runtime.spawn(async move { tokio::time::timeout(timeout, send).await }).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(format!("the collector did not answer within {} s", timeout.as_secs()).into()),
            Err(e) => Err(Box::new(e)),
        }
    }
}
