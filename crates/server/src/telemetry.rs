//! Logging. Messages read on their own; fields are dotted and carry units
//! (`duration_ms`); personal data is never logged.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber: human-readable lines, or JSON lines, filtered by
/// `filter` (`RUST_LOG`'s syntax; `info` when it does not parse).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Whatever RUST_LOG asks: sea-orm and sqlx print statements with their values below
    // warn, and values are personal data.
    let filter = ["sqlx=warn", "sea_orm=warn"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, tracing_subscriber::EnvFilter::add_directive);
    // Colour only for a person at a terminal: never ANSI codes in files and pipes.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let result =
        if format == LogFormat::Json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    // Already installed (a second call in one process) is fine.
    drop(result);
}
