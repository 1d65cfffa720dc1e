//! The deployment files agree with the binary: every setting the compose file and the
//! Dockerfile give is one `kinbridge` accepts, every command they run parses, and the
//! health check command reports readiness.

use clap::{CommandFactory, Parser};
use kinbridge_server::Cli;
use reqwest::StatusCode;

use crate::support::spawn_app;

fn repository_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The environment variables `kinbridge <command>` reads through its flags.
fn settings_of(command: &str) -> Vec<String> {
    let cli = Cli::command();
    let sub = cli.find_subcommand(command).unwrap();
    sub.get_arguments().filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned())).collect()
}

/// Settings read outside the flags: the log filter and format (telemetry.rs).
const LOGGING: [&str; 2] = ["RUST_LOG", "KINBRIDGE_LOG_FORMAT"];

/// The `KEY: value` lines under each service's `environment:`, by service.
fn compose_environment(compose: &str) -> Vec<(String, String)> {
    let (mut service, mut in_environment, mut found) = (String::new(), false, Vec::new());
    for line in compose.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent == 2 && text.ends_with(':') {
            service = text.trim_end_matches(':').to_owned();
            in_environment = false;
        } else if indent == 4 {
            in_environment = text == "environment:";
        } else if indent == 6
            && in_environment
            && let Some((key, _)) = text.split_once(':')
        {
            found.push((service.clone(), key.to_owned()));
        }
    }
    found
}

/// The JSON-array `command:` and healthcheck `test:` lines of the compose file.
fn compose_commands(compose: &str) -> Vec<Vec<String>> {
    compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: ").or_else(|| l.trim().strip_prefix("test: ")))
        .filter_map(|list| serde_json::from_str::<Vec<String>>(list).ok())
        .collect()
}

#[test]
fn every_setting_of_the_compose_file_is_one_the_service_accepts() {
    let compose = repository_file("docker-compose.yml");
    let environment = compose_environment(&compose);
    assert!(environment.iter().any(|(s, k)| s == "kinbridge" && k == "KINBRIDGE_ENV"), "{environment:?}");
    let serve = settings_of("serve");
    let organizations = settings_of("organizations");
    for (service, key) in &environment {
        let known = match service.as_str() {
            "kinbridge" => serve.contains(key),
            "registry" => organizations.contains(key) || key == "DATABASE_URL",
            _ => continue,
        };
        assert!(known || LOGGING.contains(&key.as_str()), "{service}: {key} is not a setting of kinbridge");
    }
}

#[test]
fn every_command_of_the_deployment_files_parses() {
    let compose = repository_file("docker-compose.yml");
    let commands = compose_commands(&compose);
    // Everything but PostgreSQL's own `CMD-SHELL pg_isready` runs the kinbridge binary.
    let kinbridge: Vec<&Vec<String>> =
        commands.iter().filter(|c| c.first().is_some_and(|w| w != "CMD-SHELL")).collect();
    assert!(kinbridge.len() >= 2, "the registry import and the health check: {commands:?}");
    for command in kinbridge {
        let words: Vec<&str> =
            command.iter().map(String::as_str).skip_while(|w| *w == "CMD" || *w == "kinbridge").collect();
        Cli::try_parse_from(std::iter::once("kinbridge").chain(words.iter().copied()))
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    }
    let dockerfile = repository_file("Dockerfile");
    let cmd = dockerfile.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap();
    let words: Vec<String> = serde_json::from_str(cmd).unwrap();
    Cli::try_parse_from(std::iter::once("kinbridge".to_owned()).chain(words)).unwrap();
    assert!(dockerfile.contains("ENTRYPOINT [\"kinbridge\"]"));
}

#[tokio::test]
async fn the_health_check_command_reports_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/health/live", "/health/ready"] {
        let r = app.client.get(format!("http://{}{path}", app.addr)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let check = |url: String| async move {
        kinbridge_server::run(Cli::try_parse_from(["kinbridge", "healthcheck", "--url", &url]).unwrap()).await
    };
    check(format!("http://{}/health/ready", app.addr)).await.unwrap();
    assert!(check(format!("http://{}/no-such-route", app.addr)).await.is_err(), "404 is not ready");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert!(check(format!("http://{closed}/health/ready")).await.is_err(), "nothing listens");
}

#[test]
fn the_readme_table_lists_every_setting_of_serve() {
    let readme = repository_file("README.md");
    let cli = Cli::command();
    let mut settings = settings_of("serve");
    settings.extend(cli.get_arguments().filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned())));
    let missing: Vec<&String> = settings.iter().filter(|env| !readme.contains(&format!("| `{env}` |"))).collect();
    assert!(missing.is_empty(), "not in the README's configuration table: {missing:?}");
}
