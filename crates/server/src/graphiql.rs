//! The GraphiQL page a browser gets on `GET /graphql` outside production, and the files
//! it loads. GraphiQL, React and ReactDOM are the npm builds pinned in
//! `clients/node/package.json`, copied into `assets/graphiql/` by `scripts/vendor-graphiql`
//! and embedded in the binary: the page loads nothing from anywhere but Kinbridge, so it
//! works offline and behind a strict Content-Security-Policy (no inline script; the
//! page's settings travel as a JSON data block).
//!
//! In development the page opens with a token in its headers (a caseworker of the first
//! demo municipality, signed with the development key), so that a new user's first query
//! runs with one click.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kinbridge_api::auth::{TokenClaims, mint_hs256};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_persistence::Store;
use serde_json::json;

use crate::http::AppState;

/// What the page is served with.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The files the page loads from `graphiql/` beside the endpoint, with their media types.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.css")),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    ),
    ("kinbridge.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/kinbridge.js")),
    ("LICENSES.txt", "text/plain; charset=utf-8", include_bytes!("../assets/graphiql/LICENSES.txt")),
];

const PAGE: &str = include_str!("../assets/graphiql/kinbridge.html");

/// The query the page opens with, on a browser that has none stored.
const FIRST_QUERY: &str = "\
# Kinbridge answers for the organisation and roles of the token in the headers below.
# Run this with the ▶ button (or Ctrl-Enter); the docs and the schema are on the left.
query MyFamilies {
  viewer {
    subject
    roles
    organization { name }
  }
  families(first: 5) {
    totalCount
    edges {
      node {
        id
        name
        placements {
          edges { node { setting startDate provider { name } } }
        }
      }
    }
  }
}
";

/// The roles, subject and lifetime of the development token the page opens with: those
/// `kinbridge token` gives by default.
pub const DEV_ROLES: &[&str] = &["CASEWORKER"];
pub const DEV_SUBJECT: &str = "dev-caseworker";
pub const DEV_TTL_SECS: i64 = 8 * 3600;

/// Signs development tokens for the page; only built from a development key.
#[derive(Clone)]
pub struct DevTokens {
    secret: Arc<[u8]>,
    issuer: String,
    audience: String,
}

impl DevTokens {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self { secret: secret.into(), issuer: issuer.to_owned(), audience: audience.to_owned() }
    }

    /// A token for `org` with `roles`, valid from now for `ttl_secs`.
    pub fn mint(
        &self,
        org: &str,
        roles: &[String],
        subject: &str,
        ttl_secs: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = TokenClaims {
            sub: subject.to_owned(),
            org: org.to_owned(),
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl_secs,
            nbf: Some(now),
            iat: Some(now),
        };
        mint_hs256(&self.secret, &claims)
    }
}

impl std::fmt::Debug for DevTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevTokens").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// Whether the page is served, and with which token.
#[derive(Clone, Debug, Default)]
pub enum Graphiql {
    #[default]
    Off,
    On {
        dev_tokens: Option<DevTokens>,
    },
}

/// The page, with its headers filled in.
pub async fn page(state: &AppState) -> Response {
    let Graphiql::On { dev_tokens } = &state.graphiql else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let token = match dev_tokens {
        Some(tokens) => dev_token(&state.store, tokens).await,
        None => None,
    };
    let authorization = match (&token, dev_tokens) {
        (Some(token), _) => format!("Bearer {token}"),
        (None, Some(_)) => "Bearer <a token: `kinbridge token` prints one>".to_owned(),
        (None, None) => "Bearer <a token from your identity provider>".to_owned(),
    };
    let headers = json!({ "Authorization": authorization });
    let settings = json!({
        "headers": serde_json::to_string_pretty(&headers).unwrap_or_default(),
        // GraphiQL fetches the schema before its headers editor exists: a real token
        // also goes to the fetcher, under the headers the user edits.
        "fetcherHeaders": if token.is_some() { headers } else { json!({}) },
        "query": FIRST_QUERY,
    })
    .to_string();
    // A JSON data block ends at the first `</script`; escaping `<` keeps any value inside.
    let html = PAGE.replace("{{SETTINGS}}", &settings.replace('<', "\\u003c"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        html,
    )
        .into_response()
}

/// A token for the first demo municipality's caseworker, if that municipality exists.
async fn dev_token(store: &Store, tokens: &DevTokens) -> Option<String> {
    let found = store
        .organization_by_code(OrganizationKind::Municipality, crate::demo::FIRST_MUNICIPALITY_CODE)
        .await
        .inspect_err(|error| tracing::warn!(%error, "GraphiQL: looking up the demo municipality failed"))
        .ok()??;
    let roles: Vec<String> = DEV_ROLES.iter().map(|r| (*r).to_owned()).collect();
    tokens
        .mint(&found.id.to_string(), &roles, DEV_SUBJECT, DEV_TTL_SECS)
        .inspect_err(|error| tracing::warn!(%error, "GraphiQL: signing a development token failed"))
        .ok()
}

/// `GET /graphiql/{file}`: one of the embedded files, or 404.
pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let found = ASSETS.iter().find(|(file, _, _)| *file == name);
    match (&state.graphiql, found) {
        (Graphiql::On { .. }, Some((_, media_type, bytes))) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            *bytes,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
