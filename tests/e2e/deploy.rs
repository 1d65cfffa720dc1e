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

/// The compose stack as it is: the sample organisation file imported with `kinbridge
/// organizations import`, the production service with the sample identity provider's
/// public key, issuer and algorithm from the compose file, and a token from
/// `deploy/sample-token` (openssl) is a caseworker of Aarhus Kommune.
#[tokio::test]
async fn a_token_of_the_compose_stacks_sample_identity_provider_is_accepted_in_production() {
    let compose = repository_file("docker-compose.yml");
    for default in ["https://idp.example/sample", ":-EdDSA}", "./deploy/sample-idp/public.pem"] {
        assert!(compose.contains(default), "the compose file defaults to the sample identity provider: {default}");
    }
    let (url, _database) = crate::support::fresh_database().await;
    let csv = format!("{}/deploy/organizations.csv", env!("CARGO_MANIFEST_DIR"));
    let import = ["kinbridge", "organizations", "--database-url", url.as_str(), "import", csv.as_str()];
    kinbridge_server::run(Cli::try_parse_from(import).unwrap()).await.unwrap();

    let mut config = crate::support::test_config(url);
    config.auth = kinbridge_server::config::AuthConfig {
        issuer: "https://idp.example/sample".into(),
        audience: "kinbridge".into(),
        keys: vec![kinbridge_api::auth::KeySource::PublicKeyPem {
            algorithm: jsonwebtoken::Algorithm::EdDSA,
            pem: repository_file("deploy/sample-idp/public.pem").into_bytes(),
            kid: None,
        }],
        leeway_secs: 30,
        claims: kinbridge_api::auth::ClaimNames::default(),
    };
    config.exposure = kinbridge_api::Exposure::CLOSED;
    let app = kinbridge_server::app::Application::build(&config).await.unwrap();
    let addr = app.local_addr();
    tokio::spawn(app.run(std::future::pending()));

    let script = format!("{}/deploy/sample-token", env!("CARGO_MANIFEST_DIR"));
    let minted = std::process::Command::new(script).args(["MUNICIPALITY:0751", "CASEWORKER"]).output().unwrap();
    assert!(minted.status.success(), "{}", String::from_utf8_lossy(&minted.stderr));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let answer: serde_json::Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ viewer { roles organization { name kind } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["viewer"]["organization"]["name"], "Aarhus Kommune", "{answer}");
    assert_eq!(answer["data"]["viewer"]["roles"], serde_json::json!(["CASEWORKER"]));
    // Another key's token is refused: the sample key is the only one trusted.
    let forged = format!("{}.{}", token.rsplit_once('.').unwrap().0, "AAAA");
    let refused = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&forged)
        .json(&serde_json::json!({ "query": "{ viewer { roles } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}
