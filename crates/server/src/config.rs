//! Configuration: a typed struct built once at start from flags and environment. A bad
//! value stops the start with a message naming the setting and why; secrets never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jsonwebtoken::Algorithm;
use kinbridge_api::Limits;
use kinbridge_api::auth::{ClaimNames, KeySource};

/// A value that must never reach a log: a database URL with a password, a key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Whether this is a development or a production deployment. Production never falls
/// back to a generated key or a shared secret, and serves no GraphiQL page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

/// Everything `kinbridge serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database_url: Secret<String>,
    pub listen: SocketAddr,
    /// Load the demo data set into an empty database.
    pub demo: bool,
    pub auth: AuthConfig,
    /// Serve GraphiQL on `GET /graphql` to browsers.
    pub graphiql: bool,
    /// Open GraphiQL with a development token for a caseworker of the first demo
    /// municipality in its headers. Only with a shared-secret (development) key.
    pub graphiql_dev_token: bool,
    pub limits: Limits,
    /// Whether introspection and field suggestions answer (off in production unless asked).
    pub exposure: kinbridge_api::Exposure,
    /// How long a request may take before it is answered `TIMEOUT`.
    pub request_timeout: std::time::Duration,
    /// The most connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, also between requests on a
    /// kept-alive connection.
    pub header_read_timeout: std::time::Duration,
    /// On shutdown, how long requests under way may take to finish.
    pub shutdown_timeout: std::time::Duration,
    /// The browser origins (`https://app.example`) allowed to call the API; none by default.
    pub cors_origins: Vec<String>,
    pub alerts: kinbridge_api::alerts::AlertSettings,
    /// How long records are kept before they are due for erasure; an erasure on request
    /// is refused while it runs.
    pub retention: kinbridge_persistence::erasure::RetentionPolicy,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How many GraphQL requests execute at once; more wait their turn in arrival order.
    /// Measured on 2 cores with a caseworker's page of 50 families: 32 at once answered
    /// 114 requests/s with a peak of 113 MiB, 8 at once 136 requests/s with 66 MiB.
    pub max_concurrent_requests: usize,
    /// Connection pool and change feed settings.
    pub store: kinbridge_persistence::StoreOptions,
}

impl ServeConfig {
    /// A configuration with the command line's defaults, serving `database_url` on a free
    /// local port and verifying tokens as `auth` says: what an embedding (the end-to-end
    /// tests, the in-process benchmark) starts from before it changes what it needs.
    pub fn embedded(database_url: String, auth: AuthConfig) -> Self {
        use std::time::Duration;
        Self {
            database_url: Secret::new(database_url),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            demo: false,
            auth,
            graphiql: true,
            graphiql_dev_token: false,
            limits: Limits::default(),
            exposure: kinbridge_api::Exposure::OPEN,
            request_timeout: Duration::from_secs(10),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            cors_origins: Vec::new(),
            alerts: kinbridge_api::alerts::AlertSettings::default(),
            retention: kinbridge_persistence::erasure::RetentionPolicy::default(),
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 8,
            store: kinbridge_persistence::StoreOptions::default(),
        }
    }
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// The keys tokens may be signed with.
    pub keys: Vec<KeySource>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Which claims carry the organisation and the roles.
    pub claims: ClaimNames,
}

/// `text` with every password it holds masked: the password of a URL's user
/// (`postgres://kb:***@db/kb`) and `password=` parameters. Applied to every message the
/// command line prints, since database errors quote the URL they were given.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, '/' | '\'' | '"' | '?')).unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@').and_then(|user_end| authority[..user_end].find(':').map(|colon| (colon, user_end))) {
            Some((colon, user_end)) => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    let mut masked = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let (head, tail) = rest.split_at(at + "password=".len());
        masked.push_str(head);
        masked.push_str("***");
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, '&' | '\'' | '"')).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    masked.push_str(rest);
    masked
}

/// The command line with the settings of a `--config` (or `KINBRIDGE_CONFIG`) TOML file
/// added as flags, where neither the command line nor the environment gives them: flags win
/// over the environment, the environment over the file. Keys are flag names, with `_` or
/// `-`; a key the command does not take is refused, naming the file and the key.
pub fn with_settings_file(args: Vec<std::ffi::OsString>) -> Result<Vec<std::ffi::OsString>, String> {
    use clap::CommandFactory;
    let given: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let named = given.iter().position(|a| a == "--config").and_then(|i| given.get(i + 1).cloned());
    let named = named.or_else(|| given.iter().find_map(|a| a.strip_prefix("--config=").map(str::to_owned)));
    let Some(path) = named.or_else(|| std::env::var("KINBRIDGE_CONFIG").ok()) else { return Ok(args) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read the settings file {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("the settings file {path} is not TOML: {e}"))?;
    let cli = crate::Cli::command();
    let Some(command) = given.iter().skip(1).find_map(|a| cli.find_subcommand(a)) else { return Ok(args) };
    let mut extended = args;
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = command
            .get_arguments()
            .chain(cli.get_arguments())
            .find(|a| a.get_long() == Some(long.as_str()))
            .ok_or_else(|| {
                format!("the settings file {path}: `{key}` is not a setting of `kinbridge {}`", command.get_name())
            })?;
        let on_command_line = given.iter().any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
        let in_environment = arg.get_env().is_some_and(|env| std::env::var_os(env).is_some());
        if on_command_line || in_environment || long == "config" {
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(true) => {
                extended.push(format!("--{long}").into());
                continue;
            }
            toml::Value::Boolean(false) => continue,
            toml::Value::Array(items) => {
                let mut texts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(s) => texts.push(s.clone()),
                        toml::Value::Integer(n) => texts.push(n.to_string()),
                        _ => return Err(format!("the settings file {path}: `{key}` lists something other than text")),
                    }
                }
                texts.join(",")
            }
            _ => {
                return Err(format!(
                    "the settings file {path}: `{key}` is neither text, a number, true/false nor a list"
                ));
            }
        };
        extended.push(format!("--{long}={text}").into());
    }
    Ok(extended)
}

/// A configuration that cannot start the service.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{setting} is not set: {why}")]
    Missing { setting: &'static str, why: &'static str },
    #[error("{setting} is invalid: {why}")]
    Invalid { setting: &'static str, why: String },
}

/// The token settings as given on the command line or in the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// `development` generates a signing key for local use; `production` requires the
    /// identity provider's public key, issuer and audience.
    #[arg(long = "env", env = "KINBRIDGE_ENV", value_enum, default_value = "development")]
    pub environment: Environment,
    /// The `iss` every token must carry.
    #[arg(long, env = "KINBRIDGE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` every token must carry.
    #[arg(long, env = "KINBRIDGE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The identity provider's public key, PEM.
    #[arg(long, env = "KINBRIDGE_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// The algorithm of the PEM public key: RS256, ES256 or EdDSA.
    #[arg(long, env = "KINBRIDGE_JWT_ALGORITHM", default_value = "RS256")]
    pub jwt_algorithm: String,
    /// The `kid` of the PEM public key, when the identity provider names its keys.
    #[arg(long, env = "KINBRIDGE_JWT_KEY_ID")]
    pub jwt_key_id: Option<String>,
    /// The identity provider's keys as a JWKS document: several keys, each with its
    /// `kid`, so that a new signing key can be added before the old one is retired.
    #[arg(long, env = "KINBRIDGE_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// Development only: a file holding an HS256 shared secret. Without it (and
    /// without a public key), development creates one next to the SQLite file.
    #[arg(long, env = "KINBRIDGE_DEV_KEY_FILE")]
    pub dev_key_file: Option<PathBuf>,
    /// Clock skew tolerated on token expiry and not-before, in seconds.
    #[arg(long, env = "KINBRIDGE_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
    /// The claim holding the caller's organisation: its id (`org_…`), `KIND:CODE` or a
    /// code. A dotted path reaches into nested claims.
    #[arg(long, env = "KINBRIDGE_JWT_ORGANIZATION_CLAIM", default_value = "org")]
    pub jwt_organization_claim: String,
    /// The claim holding the caller's roles (a list, or names separated by spaces or
    /// commas), such as `realm_access.roles`.
    #[arg(long, env = "KINBRIDGE_JWT_ROLES_CLAIM", default_value = "roles")]
    pub jwt_roles_claim: String,
    /// Only roles with this prefix are Kinbridge's (`kinbridge-caseworker` is
    /// CASEWORKER); the identity provider's other roles are ignored.
    #[arg(long, env = "KINBRIDGE_JWT_ROLE_PREFIX")]
    pub jwt_role_prefix: Option<String>,
}

/// The issuer and audience of development tokens.
pub const DEV_ISSUER: &str = "kinbridge-dev";
pub const DEV_AUDIENCE: &str = "kinbridge";

impl AuthArgs {
    /// Resolves the token settings. In development without public keys, a signing key
    /// is created (see [`dev_key_path`]); in production every setting must be given.
    pub fn resolve(&self, database_url: &str) -> Result<AuthConfig, ConfigError> {
        let public = self.public_keys()?;
        match self.environment {
            Environment::Production => {
                let issuer = self.jwt_issuer.clone().ok_or(ConfigError::Missing {
                    setting: "KINBRIDGE_JWT_ISSUER",
                    why: "production verifies the issuer of every token",
                })?;
                let audience = self.jwt_audience.clone().ok_or(ConfigError::Missing {
                    setting: "KINBRIDGE_JWT_AUDIENCE",
                    why: "production verifies the audience of every token",
                })?;
                if public.is_empty() {
                    return Err(ConfigError::Missing {
                        setting: "KINBRIDGE_JWT_PUBLIC_KEY_FILE or KINBRIDGE_JWT_JWKS_FILE",
                        why: "production needs the identity provider's public keys; shared secrets are for development only",
                    });
                }
                Ok(AuthConfig {
                    issuer,
                    audience,
                    keys: public,
                    leeway_secs: self.jwt_leeway_secs,
                    claims: self.claim_names()?,
                })
            }
            Environment::Development => {
                let keys = if public.is_empty() {
                    let secret = load_or_create_dev_key(&self.dev_key_path(database_url))?;
                    vec![KeySource::SharedSecret(secret.expose().clone())]
                } else {
                    public
                };
                Ok(AuthConfig {
                    issuer: self.jwt_issuer.clone().unwrap_or_else(|| DEV_ISSUER.to_owned()),
                    audience: self.jwt_audience.clone().unwrap_or_else(|| DEV_AUDIENCE.to_owned()),
                    keys,
                    leeway_secs: self.jwt_leeway_secs,
                    claims: self.claim_names()?,
                })
            }
        }
    }

    fn claim_names(&self) -> Result<ClaimNames, ConfigError> {
        let path = |setting: &'static str, value: &str| {
            if value.is_empty() || value.split('.').any(str::is_empty) {
                Err(ConfigError::Invalid { setting, why: format!("`{value}` is not a claim name or dotted path") })
            } else {
                Ok(value.to_owned())
            }
        };
        Ok(ClaimNames {
            organization: path("KINBRIDGE_JWT_ORGANIZATION_CLAIM", &self.jwt_organization_claim)?,
            roles: path("KINBRIDGE_JWT_ROLES_CLAIM", &self.jwt_roles_claim)?,
            role_prefix: self.jwt_role_prefix.clone().filter(|p| !p.is_empty()),
        })
    }

    pub fn dev_key_path(&self, database_url: &str) -> PathBuf {
        self.dev_key_file.clone().unwrap_or_else(|| dev_key_path(database_url))
    }

    /// The identity provider's keys, from the PEM file and the JWKS file, if given.
    fn public_keys(&self) -> Result<Vec<KeySource>, ConfigError> {
        let mut keys = Vec::new();
        if let Some(path) = &self.jwt_public_key_file {
            let algorithm = match self.jwt_algorithm.as_str() {
                "RS256" => Algorithm::RS256,
                "ES256" => Algorithm::ES256,
                "EdDSA" => Algorithm::EdDSA,
                other => {
                    return Err(ConfigError::Invalid {
                        setting: "KINBRIDGE_JWT_ALGORITHM",
                        why: format!("`{other}` is not one of RS256, ES256, EdDSA"),
                    });
                }
            };
            let pem = read(path, "KINBRIDGE_JWT_PUBLIC_KEY_FILE")?;
            keys.push(KeySource::PublicKeyPem { algorithm, pem, kid: self.jwt_key_id.clone() });
        }
        if let Some(path) = &self.jwt_jwks_file {
            let document =
                String::from_utf8(read(path, "KINBRIDGE_JWT_JWKS_FILE")?).map_err(|_| ConfigError::Invalid {
                    setting: "KINBRIDGE_JWT_JWKS_FILE",
                    why: format!("{} is not UTF-8 text", path.display()),
                })?;
            keys.push(KeySource::Jwks(document));
        }
        Ok(keys)
    }
}

fn read(path: &Path, setting: &'static str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::Invalid { setting, why: format!("cannot read {}: {e}", path.display()) })
}

/// Where development keeps its signing key: next to the SQLite file, or in the working
/// directory for other databases.
pub fn dev_key_path(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|p| !p.is_empty() && !p.contains(":memory:"));
    match file.map(Path::new).and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("kinbridge-dev.key"),
        _ => PathBuf::from("kinbridge-dev.key"),
    }
}

/// Reads the development signing key, creating a random one (32 bytes, hex) on first use.
/// The file is readable by its owner only.
pub fn load_or_create_dev_key(path: &Path) -> Result<Secret<Vec<u8>>, ConfigError> {
    let invalid = |why: String| ConfigError::Invalid { setting: "KINBRIDGE_DEV_KEY_FILE", why };
    match std::fs::read_to_string(path) {
        Ok(text) => decode_hex(text.trim())
            .filter(|k| k.len() >= 32)
            .map(Secret::new)
            .ok_or_else(|| invalid(format!("{} does not hold a key of at least 32 bytes in hex", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; 32];
            getrandom::fill(&mut key).map_err(|e| invalid(format!("no randomness for a new key: {e}")))?;
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            write_private(path, &hex).map_err(|e| invalid(format!("cannot create {}: {e}", path.display())))?;
            tracing::info!(path = %path.display(), "created a development signing key");
            Ok(Secret::new(key))
        }
        Err(e) => Err(invalid(format!("cannot read {}: {e}", path.display()))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_key_lives_next_to_the_sqlite_file() {
        assert_eq!(dev_key_path("sqlite://kinbridge.db?mode=rwc"), PathBuf::from("kinbridge-dev.key"));
        assert_eq!(
            dev_key_path("sqlite:///var/lib/kb/data.db?mode=rwc"),
            PathBuf::from("/var/lib/kb/kinbridge-dev.key")
        );
        assert_eq!(dev_key_path("postgres://u:p@localhost/kb"), PathBuf::from("kinbridge-dev.key"));
    }

    fn with_file(text: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("kinbridge.toml");
        std::fs::write(&path, text).expect("the settings file");
        let mut argv: Vec<std::ffi::OsString> = vec!["kinbridge".into()];
        argv.extend(args.iter().map(Into::into));
        argv.push("--config".into());
        argv.push(path.clone().into_os_string());
        with_settings_file(argv).map(|a| a.iter().map(|s| s.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn a_settings_file_adds_its_settings_as_flags_below_the_command_line() {
        let args = with_file(
            "listen = \"0.0.0.0:9000\"\njwt_issuer = \"https://idp.example\"\nmax-concurrent-requests = 8\n\
             cors_origins = [\"https://a.example\", \"https://b.example\"]\nintrospection = true\ndemo = false\n",
            &["serve", "--listen", "127.0.0.1:7000"],
        )
        .unwrap();
        assert!(args.contains(&"--jwt-issuer=https://idp.example".to_owned()), "{args:?}");
        assert!(args.contains(&"--max-concurrent-requests=8".to_owned()), "{args:?}");
        assert!(args.contains(&"--cors-origins=https://a.example,https://b.example".to_owned()), "{args:?}");
        assert!(args.contains(&"--introspection".to_owned()), "{args:?}");
        assert!(!args.iter().any(|a| a.starts_with("--listen=")), "the command line wins: {args:?}");
        assert!(!args.iter().any(|a| a.starts_with("--demo")), "false leaves a switch off: {args:?}");
        let cli = <crate::Cli as clap::Parser>::try_parse_from(&args).expect("the result parses");
        let crate::Command::Serve(serve) = cli.command else { panic!("serve") };
        assert_eq!(serve.max_concurrent_requests, Some(8));
        assert_eq!(serve.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(serve.cors_origins, ["https://a.example", "https://b.example"]);
    }

    #[test]
    fn a_settings_file_with_an_unknown_setting_or_bad_toml_is_refused_by_name() {
        let err = with_file("jwt_isuer = \"x\"\n", &["serve"]).unwrap_err();
        assert!(err.contains("`jwt_isuer` is not a setting of `kinbridge serve`"), "{err}");
        let err = with_file("listen = \n", &["serve"]).unwrap_err();
        assert!(err.contains("is not TOML"), "{err}");
        let err = with_file("listen = { a = 1 }\n", &["serve"]).unwrap_err();
        assert!(err.contains("`listen`"), "{err}");
    }

    #[test]
    fn passwords_are_masked_in_every_message() {
        assert_eq!(
            redact_secrets("The connection string 'postgres://kb:hunter2@127.0.0.1:notaport/db' cannot be parsed."),
            "The connection string 'postgres://kb:***@127.0.0.1:notaport/db' cannot be parsed."
        );
        assert_eq!(redact_secrets("postgres://kb:p@ss@[::1/db"), "postgres://kb:***@[::1/db");
        assert_eq!(redact_secrets("postgres://kb@db/kb and sqlite://x.db"), "postgres://kb@db/kb and sqlite://x.db");
        assert_eq!(
            redact_secrets("postgres://db/kb?user=kb&password=hunter2&sslmode=require"),
            "postgres://db/kb?user=kb&password=***&sslmode=require"
        );
        assert_eq!(redact_secrets("no url here"), "no url here");
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("postgres://user:hunter2@db/kb".to_owned());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    fn prod_args() -> AuthArgs {
        AuthArgs {
            environment: Environment::Production,
            jwt_issuer: Some("https://idp.example".into()),
            jwt_audience: Some("kinbridge".into()),
            jwt_public_key_file: None,
            jwt_algorithm: "RS256".into(),
            jwt_key_id: None,
            jwt_jwks_file: None,
            dev_key_file: None,
            jwt_leeway_secs: 30,
            jwt_organization_claim: "org".into(),
            jwt_roles_claim: "roles".into(),
            jwt_role_prefix: None,
        }
    }

    #[test]
    fn a_claim_path_with_an_empty_name_is_refused_and_names_the_setting() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut args = prod_args();
        args.environment = Environment::Development;
        args.dev_key_file = Some(dir.path().join("dev.key"));
        args.jwt_roles_claim = "realm_access..roles".into();
        let err = args.resolve("sqlite::memory:").unwrap_err();
        assert!(err.to_string().contains("KINBRIDGE_JWT_ROLES_CLAIM"), "{err}");
        args.jwt_roles_claim = "realm_access.roles".into();
        args.jwt_role_prefix = Some("kinbridge-".into());
        let claims = args.resolve("sqlite::memory:").unwrap().claims;
        assert_eq!((claims.roles.as_str(), claims.role_prefix.as_deref()), ("realm_access.roles", Some("kinbridge-")));
    }

    #[test]
    fn production_without_a_public_key_refuses_to_start_and_names_the_setting() {
        let err = prod_args().resolve("postgres://db/kb").unwrap_err();
        assert!(err.to_string().contains("KINBRIDGE_JWT_PUBLIC_KEY_FILE"), "{err}");
        let mut args = prod_args();
        args.jwt_issuer = None;
        assert!(args.resolve("postgres://db/kb").unwrap_err().to_string().contains("KINBRIDGE_JWT_ISSUER"));
    }

    #[test]
    fn development_creates_a_key_once_and_reuses_it() {
        let dir = std::env::temp_dir().join(format!("kb-key-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.key");
        let first = load_or_create_dev_key(&path).unwrap();
        let second = load_or_create_dev_key(&path).unwrap();
        assert_eq!(first.expose(), second.expose());
        assert_eq!(first.expose().len(), 32);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
