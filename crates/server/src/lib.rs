//! The `kinbridge` binary's library: configuration, telemetry, the HTTP router, the
//! commands (`serve`, `migrate`, `schema`, `token`) and the demo data set.
//!
//! `main.rs` only calls [`main`]; the end-to-end tests build an [`app::Application`]
//! directly, on port 0 and a fresh database.

pub mod app;
pub mod config;
pub mod demo;
pub mod graphiql;
pub mod http;
pub mod live;
pub mod metrics;
pub mod parsed;
pub mod persisted;
pub mod registry;
pub mod seed;
pub mod telemetry;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kinbridge_api::auth::KeySource;
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_persistence::{Store, StoreOptions};

use crate::config::{AuthArgs, Environment, Secret, ServeConfig};

/// The embedded default: a SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://kinbridge.db?mode=rwc";

/// Kinbridge: the shared system of record for support to parents whose children are
/// placed out of home or receive mental-health services.
#[derive(Debug, Parser)]
#[command(name = "kinbridge", version)]
pub struct Cli {
    /// Which log lines to write: a filter such as `info` or `info,kinbridge_api=debug`.
    /// The database drivers stay at `warn` whatever it says: they print values.
    #[arg(long = "log", env = "RUST_LOG", global = true, default_value = "info")]
    pub log: String,
    /// `text` lines (colour only on a terminal) or `json` lines.
    #[arg(long, env = "KINBRIDGE_LOG_FORMAT", global = true, value_enum, default_value = "text")]
    pub log_format: telemetry::LogFormat,
    /// A TOML file of settings, by their flag names (`jwt_issuer = "…"`,
    /// `cors_origins = ["…"]`). A flag or an environment variable given as well wins.
    #[arg(long, env = "KINBRIDGE_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Export traces over OTLP/HTTP to the collector at this base URL (such as
    /// `http://collector:4318`; spans go to `/v1/traces`), continuing callers' W3C
    /// `traceparent`. No export when unset. `OTEL_SERVICE_NAME` and
    /// `OTEL_BSP_SCHEDULE_DELAY` are honoured.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve the GraphQL API on /graphql.
    Serve(ServeArgs),
    /// Bring the database schema up to date, then exit.
    Migrate(DatabaseArgs),
    /// Print the GraphQL schema (SDL): the contract published as schema.graphql.
    Schema,
    /// Print a development token for calling the API (development only).
    Token(TokenArgs),
    /// Exit 0 when the service at --url answers its readiness check, 1 otherwise: the
    /// health check of a container.
    Healthcheck(HealthcheckArgs),
    /// Keep the organisation registry: import a list, add, list, disable or enable.
    Organizations(registry::OrganizationsArgs),
    /// List (--dry-run) or erase (--apply) what the retention policy makes due: families
    /// whose last placement ended longer ago than the retention period, and persons of a
    /// mental health authority whose eligibility and assignments did. Erasing keeps the
    /// records and the audit trail and pseudonymises every personal field.
    Retention(RetentionCommandArgs),
    /// Print the subject access report of one person (GDPR art. 15) as JSON: everything
    /// the organisation that owns them holds about them, and their access log. The
    /// report is recorded in the audit trail under the person, as asked by --requested-by.
    SubjectReport(SubjectReportArgs),
    /// Fill an empty database with a reproducible, synthetic data set, for benchmarks
    /// and load tests (no audit trail: the data are generated).
    Seed(SeedArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// The readiness endpoint to ask (plain HTTP).
    #[arg(long, env = "KINBRIDGE_HEALTHCHECK_URL", default_value = "http://127.0.0.1:8080/health/ready")]
    pub url: String,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// How many families to generate (about 1.2 placements and 50 contact visits each).
    #[arg(long, default_value_t = 10_000)]
    pub families: usize,
    /// The seed: the same seed and size give the same rows, ids included.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// How long records are kept: the retention policy (`kinbridge_persistence::erasure`).
#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Years a family's records are kept after its last placement ended (after it last
    /// changed, for a family never placed); while a placement is open they are kept.
    #[arg(long, env = "KINBRIDGE_RETENTION_FAMILY_YEARS", default_value_t = 5)]
    pub retention_family_years: u32,
    /// Years a mental health authority keeps a person's records after their last
    /// eligibility and family partner assignment ended.
    #[arg(long, env = "KINBRIDGE_RETENTION_AUTHORITY_YEARS", default_value_t = 5)]
    pub retention_authority_years: u32,
}

impl RetentionArgs {
    pub fn policy(&self) -> kinbridge_persistence::erasure::RetentionPolicy {
        kinbridge_persistence::erasure::RetentionPolicy {
            family_years: self.retention_family_years,
            authority_years: self.retention_authority_years,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["dry_run", "apply"])))]
pub struct RetentionCommandArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// List what is due, erasing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Erase what is due.
    #[arg(long)]
    pub apply: bool,
    /// Judge as of this day (YYYY-MM-DD) rather than today; for a dry run ahead of time.
    #[arg(long)]
    pub today: Option<chrono::NaiveDate>,
    /// Who runs the erasure, recorded with each one (such as the operator's e-mail).
    #[arg(long, default_value = "kinbridge retention")]
    pub decided_by: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SubjectReportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The person, by id (`per_…`).
    #[arg(long)]
    pub person: String,
    /// Who asks for the report, such as the data-protection officer's e-mail: the
    /// subject of its event in the audit trail.
    #[arg(long)]
    pub requested_by: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// `sqlite://path?mode=rwc` or `postgres://user:password@host/database`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The address to listen on.
    #[arg(long, env = "KINBRIDGE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load the demo data set if the database is empty.
    #[arg(long, env = "KINBRIDGE_DEMO")]
    pub demo: bool,
    /// Days after a placement decision without a support offer before the placement is
    /// flagged (placementsAwaitingSupportOffer).
    #[arg(long, env = "KINBRIDGE_SUPPORT_OFFER_DAYS", default_value_t = 14)]
    pub support_offer_days: u16,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// How many GraphQL requests execute at once; more wait their turn. Default: four per
    /// CPU core.
    #[arg(long, env = "KINBRIDGE_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,
    /// How long, in milliseconds, a request waits for the database before it is answered
    /// 503 `UNAVAILABLE`.
    #[arg(long, env = "KINBRIDGE_DATABASE_TIMEOUT_MS", default_value_t = 2000)]
    pub database_timeout_ms: u64,
    /// How long, in milliseconds, a request may take before it is answered 503 `TIMEOUT`.
    #[arg(long, env = "KINBRIDGE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Answer introspection (`__schema`) and suggest field names in errors, also in
    /// production (development always does).
    #[arg(long, env = "KINBRIDGE_INTROSPECTION")]
    pub introspection: bool,
    /// The most client connections open at once; more wait until one closes.
    #[arg(long, env = "KINBRIDGE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// How long, in milliseconds, a client has to send a request's headers (also the idle
    /// time allowed between requests on a kept-alive connection).
    #[arg(long, env = "KINBRIDGE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,
    /// On SIGTERM or Ctrl-C, how long, in milliseconds, requests under way may take to
    /// finish before the process exits anyway.
    #[arg(long, env = "KINBRIDGE_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
    /// Browser origins allowed to call the API, comma-separated, each exactly as the
    /// browser sends it (`https://app.example`). None by default: no CORS.
    #[arg(long, env = "KINBRIDGE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The organisation, by id (`org_…`) or code. Default: the first demo municipality.
    #[arg(long)]
    pub org: Option<String>,
    /// Roles, comma-separated, such as CASEWORKER,MANAGER.
    #[arg(long = "role", value_delimiter = ',', default_value = graphiql::DEV_ROLES[0])]
    pub roles: Vec<String>,
    /// How long the token is valid: a number with s, m, h or d.
    #[arg(long, default_value = "8h")]
    pub ttl: String,
    /// The token's subject.
    #[arg(long, default_value = graphiql::DEV_SUBJECT)]
    pub subject: String,
}

type CommandResult = Result<(), Box<dyn std::error::Error>>;

/// Parses the command line, runs the command, and reports a failure in one line.
pub fn main() -> ExitCode {
    let args = match config::with_settings_file(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("kinbridge: {}", config::redact_secrets(&e));
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse_from(args);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kinbridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let traces = cli.otlp_endpoint.as_deref().filter(|e| !e.trim().is_empty()).map(|endpoint| telemetry::TraceExport {
        endpoint: endpoint.trim().to_owned(),
        runtime: runtime.handle().clone(),
    });
    let telemetry = match telemetry::init(&cli.log, cli.log_format, traces) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("kinbridge: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // The runtime still runs here: the last spans are sent on it.
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kinbridge: {}", config::redact_secrets(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> CommandResult {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => {
            let store = Store::connect(&args.database_url, &StoreOptions::default()).await?;
            store.migrate().await?;
            tracing::info!("the database schema is up to date");
            Ok(())
        }
        Command::Schema => {
            print!("{}", kinbridge_api::sdl());
            Ok(())
        }
        Command::Token(args) => token(args).await,
        Command::Organizations(args) => registry::run(args).await,
        Command::Healthcheck(args) => {
            let timeout = std::time::Duration::from_millis(args.timeout_ms);
            match tokio::time::timeout(timeout, healthcheck(&args.url)).await {
                Ok(Ok(200)) => Ok(()),
                Ok(Ok(status)) => Err(format!("{} answered {status}", args.url).into()),
                Ok(Err(e)) => Err(format!("{}: {e}", args.url).into()),
                Err(_) => Err(format!("{} did not answer within {} ms", args.url, args.timeout_ms).into()),
            }
        }
        Command::Retention(args) => {
            print!("{}", retention(args).await?);
            Ok(())
        }
        Command::SubjectReport(args) => {
            let report = subject_report(args).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Seed(args) => {
            let store = Store::connect(&args.database.database_url, &StoreOptions::default()).await?;
            store.migrate().await?;
            if store.count_organizations(None).await? > 0 {
                return Err("kinbridge seed fills an empty database; this one already has organisations".into());
            }
            let started = std::time::Instant::now();
            let made = seed::generate(&store, args.families, args.seed, true).await?;
            eprintln!(
                "kinbridge: seeded {} organisations, {} families, {} persons, {} placements, {} contact visits, {} plans with {} goals, {} referrals, {} consents and {} family partner assignments in {:.1} s",
                made.organizations,
                made.families,
                made.persons,
                made.placements,
                made.visits,
                made.plans,
                made.goals,
                made.referrals,
                made.consents,
                made.assignments,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

/// What `kinbridge retention` prints: one line per family or person due (a dry run) or
/// erased (`--apply`), then a summary.
pub async fn retention(args: RetentionCommandArgs) -> Result<String, Box<dyn std::error::Error>> {
    use std::fmt::Write as _;
    let policy = args.retention.policy();
    let today = args.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let decided_by = args.decided_by.trim();
    if decided_by.is_empty() || decided_by.chars().any(char::is_control) {
        return Err("--decided-by: name who runs the erasure".into());
    }
    let store = Store::connect(&args.database.database_url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let (verb, done) = if args.apply {
        ("erased", store.apply_retention(&policy, today, decided_by).await?)
    } else {
        ("due", store.retention_due(&policy, today).await?)
    };
    let mut out = String::new();
    for d in &done {
        let _ = writeln!(
            out,
            "{verb}: {} {} of {} (retention ended {})",
            d.record_type,
            d.public_id(),
            d.organization_id,
            d.since
        );
    }
    let _ = writeln!(
        out,
        "{} {verb} as of {today} (families kept {} years after their last placement ended, authority records {} years)",
        done.len(),
        policy.family_years,
        policy.authority_years
    );
    Ok(out)
}

/// The subject access report `kinbridge subject-report` prints, recorded in the audit
/// trail before it is returned: as the data-protection officer of the person's
/// organisation, named by `--requested-by`.
pub async fn subject_report(args: SubjectReportArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    use kinbridge_domain::access::{Actor, Role};
    use kinbridge_persistence::scope::{ReadLog, Reader};
    let person: kinbridge_domain::ids::PersonId =
        args.person.parse().map_err(|_| format!("--person {}: is not a person id (per_…)", args.person))?;
    let requested_by = args.requested_by.trim();
    if requested_by.is_empty() || requested_by.chars().any(char::is_control) {
        return Err("--requested-by: name who asks for the report, such as an e-mail address".into());
    }
    let store = Store::connect(&args.database.database_url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let owner = store.person_owner(person).await?.ok_or_else(|| format!("no person {person}"))?;
    let actor = Actor {
        subject: requested_by.to_owned(),
        organization_id: owner.id,
        organization_kind: owner.kind,
        roles: vec![Role::DataProtectionOfficer],
    };
    let log = ReadLog::default();
    let report = store.subject_report(&Reader::new(&actor, chrono::Utc::now().date_naive(), &log), person).await?;
    let request_id = format!("subject-report-{}", uuid::Uuid::now_v7().simple());
    store.record_reads(&actor, &request_id, &log.take()).await?;
    Ok(report)
}

/// Four GraphQL executions per CPU core: enough to keep the cores busy while others wait
/// on the database, few enough that memory does not grow with the number of clients.
fn default_concurrency() -> usize {
    4 * std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(2)
}

/// The HTTP status `url` (`http://host:port/path`) answers a GET with: a few lines of
/// HTTP/1.1 rather than an HTTP client in the binary.
async fn healthcheck(url: &str) -> std::io::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "give the URL as http://host:port/path");
    let rest = url.strip_prefix("http://").ok_or_else(invalid)?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    if authority.is_empty() {
        return Err(invalid());
    }
    let address = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await?;
    let line = std::str::from_utf8(&head[..n]).unwrap_or_default();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer"))
}

async fn serve(args: ServeArgs) -> CommandResult {
    let auth = args.auth.resolve(&args.database.database_url)?;
    let production = args.auth.environment == Environment::Production;
    if production && args.demo {
        return Err("--demo (KINBRIDGE_DEMO) loads invented families and is refused in production".into());
    }
    if !production {
        tracing::warn!(
            "running in development mode: tokens are signed with a local key; set KINBRIDGE_ENV=production for real use"
        );
    }
    let config = ServeConfig {
        database_url: Secret::new(args.database.database_url),
        listen: args.listen,
        demo: args.demo,
        auth,
        graphiql: !production,
        graphiql_dev_token: !production,
        limits: kinbridge_api::Limits::default(),
        exposure: if production && !args.introspection {
            kinbridge_api::Exposure::CLOSED
        } else {
            kinbridge_api::Exposure::OPEN
        },
        request_timeout: std::time::Duration::from_millis(args.request_timeout_ms.max(1)),
        max_connections: args.max_connections,
        header_read_timeout: std::time::Duration::from_millis(args.header_read_timeout_ms.max(1)),
        shutdown_timeout: std::time::Duration::from_millis(args.shutdown_timeout_ms),
        cors_origins: args.cors_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect(),
        alerts: kinbridge_api::alerts::AlertSettings { support_offer_days: args.support_offer_days },
        retention: args.retention.policy(),
        max_body_bytes: 1024 * 1024,
        max_concurrent_requests: args.max_concurrent_requests.unwrap_or_else(default_concurrency),
        store: StoreOptions {
            database_timeout: std::time::Duration::from_millis(args.database_timeout_ms.max(1)),
            ..StoreOptions::default()
        },
    };
    let app = app::Application::build(&config).await?;
    tracing::info!(address = %app.local_addr(), "Kinbridge is serving GraphQL at http://{}/graphql", app.local_addr());
    app.run(app::shutdown_signal()).await?;
    Ok(())
}

async fn token(args: TokenArgs) -> CommandResult {
    if args.auth.environment == Environment::Production {
        return Err(
            "kinbridge token mints development tokens only; production tokens come from the identity provider".into()
        );
    }
    let auth = args.auth.resolve(&args.database.database_url)?;
    let [KeySource::SharedSecret(secret)] = auth.keys.as_slice() else {
        return Err(
            "a public key is configured: tokens come from the identity provider that holds its private key".into()
        );
    };
    let store =
        Store::connect(&args.database.database_url, &StoreOptions { max_connections: 1, ..StoreOptions::default() })
            .await?;
    store.migrate().await?;
    let org = resolve_org(&store, args.org.as_deref()).await?;
    let ttl = parse_ttl(&args.ttl).ok_or("--ttl must be a positive number with s, m, h or d, such as 8h")?;
    let roles: Vec<String> = args.roles.iter().map(|r| r.trim().to_uppercase()).collect();
    let tokens = graphiql::DevTokens::new(secret, &auth.issuer, &auth.audience);
    println!("{}", tokens.mint(&org.to_string(), &roles, &args.subject, ttl)?);
    Ok(())
}

async fn resolve_org(store: &Store, org: Option<&str>) -> Result<OrganizationId, Box<dyn std::error::Error>> {
    if let Some(id) = org.and_then(|o| o.parse::<OrganizationId>().ok()) {
        return Ok(id);
    }
    let code = org.unwrap_or(demo::FIRST_MUNICIPALITY_CODE);
    for kind in OrganizationKind::ALL {
        if let Some(found) = store.organization_by_code(*kind, code).await? {
            return Ok(found.id);
        }
    }
    Err(format!(
        "no organisation with code {code}: start the service with --demo first, or pass --org with an organisation's id or code"
    )
    .into())
}

/// Seconds in a duration such as `90s`, `30m`, `8h` or `7d`.
fn parse_ttl(s: &str) -> Option<i64> {
    let (number, unit) = s.trim().split_at(s.trim().len().checked_sub(1)?);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_with_their_unit() {
        assert_eq!(parse_ttl("8h"), Some(8 * 3600));
        assert_eq!(parse_ttl("90s"), Some(90));
        assert_eq!(parse_ttl("2d"), Some(172_800));
        assert_eq!(parse_ttl("0h"), None);
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("5w"), None);
        assert_eq!(parse_ttl(""), None);
    }
}
