//! `/metrics`, in the Prometheus text format: what an operator watches.
//!
//! - `kinbridge_graphql_requests_total{operation, outcome}` and
//!   `kinbridge_graphql_request_duration_seconds{operation}`: every GraphQL request by its
//!   operation name and its outcome (`ok`, or the first error's `extensions.code`);
//! - `kinbridge_limits_hit_total{code}`: queries refused over a limit, by the limit;
//! - `kinbridge_audit_write_duration_seconds`: how long a request waits for its reads to
//!   be committed to the audit trail;
//! - `kinbridge_requests_executing`, `kinbridge_requests_waiting`: GraphQL requests
//!   executing and waiting for their turn (`--max-concurrent-requests`);
//! - `kinbridge_database_connections{state}`: the pool's connections, `idle`, `in_use`
//!   and `max`;
//! - `kinbridge_database_acquire_duration_seconds`: how long each statement or
//!   transaction waited for a connection from the pool. The driver tells how long each
//!   wait was, not how many are waiting now, but by Little's law
//!   `rate(kinbridge_database_acquire_duration_seconds_sum[1m])` is the average number
//!   waiting over the minute; a wait that reaches the database timeout is an
//!   `UNAVAILABLE` request;
//! - `kinbridge_read_trees_total{path}`: root fields that read a tree of records
//!   (`family`, `families`, `crossMunicipalityPlacements`) by how they were answered:
//!   `level`, a level at a time (`kinbridge_api::level`), or `per_field`, by
//!   async-graphql field by field because the
//!   query asked for something the level renderer leaves to it (a fragment on another
//!   type, a key selected twice). A high share of `per_field` says which queries of an
//!   integration are the expensive kind;
//! - `kinbridge_change_feed_lag_seconds`: at each read of the change feed, how far behind
//!   the reader is: the age of the oldest change it has not yet read, 0 when it has read
//!   them all.
//!
//! Operation names come from clients, so at most [`MAX_OPERATIONS`] distinct ones are
//! kept as labels; the rest count as `other`. Nothing personal is in any series.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use kinbridge_persistence::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How many distinct operation names are kept as labels.
pub const MAX_OPERATIONS: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadPath {
    path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionState {
    state: &'static str,
}

fn latency_buckets() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Waits for a pool connection, in this process: fed from the driver's events by the
/// subscriber (`telemetry.rs`), which is global, so the histogram is too.
static DATABASE_ACQUIRE: std::sync::LazyLock<Histogram> =
    std::sync::LazyLock::new(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 18)));

/// Records one wait for a pool connection.
pub fn database_acquired(seconds: f64) {
    DATABASE_ACQUIRE.observe(seconds);
}

fn lag_buckets() -> Histogram {
    // 0 (caught up), then 1 s to about 9 h.
    Histogram::new(std::iter::once(0.0).chain(exponential_buckets(1.0, 2.0, 16)))
}

/// The service's metrics. Cheap to update from every request.
pub struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    durations: Family<Operation, Histogram, fn() -> Histogram>,
    limits: Family<Code, Counter>,
    audit: Histogram,
    executing: Gauge<i64, AtomicI64>,
    waiting: Gauge<i64, AtomicI64>,
    connections: Family<ConnectionState, Gauge<i64, AtomicI64>>,
    feed_lag: Histogram,
    read_trees: Family<ReadPath, Counter>,
    operations: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kinbridge");
        let requests = Family::<Outcome, Counter>::default();
        let durations = Family::<Operation, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
        let limits = Family::<Code, Counter>::default();
        let audit = latency_buckets();
        let executing = Gauge::<i64, AtomicI64>::default();
        let waiting = Gauge::<i64, AtomicI64>::default();
        let connections = Family::<ConnectionState, Gauge<i64, AtomicI64>>::default();
        let feed_lag = lag_buckets();
        let read_trees = Family::<ReadPath, Counter>::default();
        registry.register("graphql_requests", "GraphQL requests by operation name and outcome", requests.clone());
        registry.register(
            "graphql_request_duration_seconds",
            "GraphQL request duration by operation name",
            durations.clone(),
        );
        registry.register("limits_hit", "Queries refused over a limit, by the limit's code", limits.clone());
        registry.register(
            "audit_write_duration_seconds",
            "Time a request waits for its reads to be audited",
            audit.clone(),
        );
        registry.register("requests_executing", "GraphQL requests executing now", executing.clone());
        registry.register("requests_waiting", "GraphQL requests waiting for their turn", waiting.clone());
        registry.register("database_connections", "Database pool connections by state", connections.clone());
        registry.register(
            "database_acquire_duration_seconds",
            "Time a statement or transaction waited for a database connection",
            DATABASE_ACQUIRE.clone(),
        );
        registry.register(
            "change_feed_lag_seconds",
            "At each change-feed read, the age of the oldest change the reader has not read yet",
            feed_lag.clone(),
        );
        registry.register(
            "read_trees",
            "Root fields reading a tree of records, by how they were answered: level or per_field",
            read_trees.clone(),
        );
        Self {
            registry,
            requests,
            durations,
            limits,
            audit,
            executing,
            waiting,
            connections,
            feed_lag,
            read_trees,
            operations: Mutex::new(HashSet::new()),
        }
    }
}

impl Metrics {
    /// The label for a client's operation name: its name while few are known, `other`
    /// beyond, `anonymous` without one.
    fn operation(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        else {
            return if name.is_some() { "other".into() } else { "anonymous".into() };
        };
        let Ok(mut known) = self.operations.lock() else { return "other".into() };
        if known.contains(name) || known.len() < MAX_OPERATIONS {
            known.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".into()
        }
    }

    /// Counts a request that was answered, with its outcome and how long it took.
    pub fn request(&self, operation: Option<&str>, outcome: &str, took: Duration) {
        let operation = self.operation(operation);
        self.requests.get_or_create(&Outcome { operation: operation.clone(), outcome: outcome.to_owned() }).inc();
        self.durations.get_or_create(&Operation { operation }).observe(took.as_secs_f64());
    }

    pub fn limit_hit(&self, code: &str) {
        self.limits.get_or_create(&Code { code: code.to_owned() }).inc();
    }

    /// Records how far behind a reader of the change feed is after a read.
    pub fn feed_read(&self, lag: Duration) {
        self.feed_lag.observe(lag.as_secs_f64());
    }

    /// Counts a request's trees of records by how they were answered.
    pub fn read_trees(&self, (level, per_field): (u32, u32)) {
        for (path, n) in [("level", level), ("per_field", per_field)] {
            if n > 0 {
                self.read_trees.get_or_create(&ReadPath { path }).inc_by(u64::from(n));
            }
        }
    }

    pub fn audit_written(&self, took: Duration) {
        self.audit.observe(took.as_secs_f64());
    }

    /// Marks a request waiting for its turn until the returned guard is dropped.
    pub fn waiting(&self) -> Tracked<'_> {
        Tracked::new(&self.waiting)
    }

    /// Marks a request executing until the returned guard is dropped.
    pub fn executing(&self) -> Tracked<'_> {
        Tracked::new(&self.executing)
    }

    /// The metrics as Prometheus text, with the pool's state as of now.
    pub fn render(&self, store: &Store) -> String {
        let (open, idle, max) = store.pool_usage();
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.connections.get_or_create(&ConnectionState { state: "idle" }).set(idle);
        self.connections.get_or_create(&ConnectionState { state: "in_use" }).set(i64::from(open) - idle);
        self.connections.get_or_create(&ConnectionState { state: "max" }).set(i64::from(max));
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("the metrics could not be encoded");
        }
        text
    }
}

/// A gauge raised for as long as this lives.
#[derive(Debug)]
pub struct Tracked<'a>(&'a Gauge<i64, AtomicI64>);

impl<'a> Tracked<'a> {
    fn new(gauge: &'a Gauge<i64, AtomicI64>) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded_labels() {
        let metrics = Metrics::default();
        assert_eq!(metrics.operation(None), "anonymous");
        assert_eq!(metrics.operation(Some("Page")), "Page");
        assert_eq!(metrics.operation(Some("has space")), "other");
        assert_eq!(metrics.operation(Some(&"x".repeat(65))), "other");
        for i in 0..MAX_OPERATIONS {
            metrics.operation(Some(&format!("Op{i}")));
        }
        assert_eq!(metrics.operation(Some("OneTooMany")), "other", "beyond the cap");
        assert_eq!(metrics.operation(Some("Page")), "Page", "known names stay");
    }
}
