//! Every request needs a valid token; a refused one names the class of its flaw (for
//! the operator connecting an identity provider) and nothing that helps an attacker.

use kinbridge_api::auth::{TokenClaims, mint_hs256};
use kinbridge_domain::organization::OrganizationKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, spawn_app};

const VIEWER: &str = "{ viewer { subject roles organization { name } } }";

async fn assert_refused(app: &TestApp, token: &str, reason: &str) {
    let r = app.gql(token, VIEWER, json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.code(), "UNAUTHENTICATED");
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], reason, "{}", r.body);
    assert!(r.message().starts_with("the token was refused: "), "{}", r.message());
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let app = spawn_app().await;
    let response = app.client.post(app.url()).json(&json!({ "query": VIEWER })).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn viewer_says_who_the_caller_is() {
    let app = spawn_app().await;
    let org = app.org(OrganizationKind::Municipality, "Aarhus Kommune", &["CASEWORKER", "MANAGER"]).await;
    let r = app.gql(&org.token, VIEWER, json!({})).await;
    assert_eq!(
        r.data()["viewer"],
        json!({ "subject": "test-caseworker", "roles": ["CASEWORKER", "MANAGER"], "organization": { "name": "Aarhus Kommune" } })
    );
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let token = app.token_with(|c| {
        c.org = org.id.to_string();
        c.exp = chrono::Utc::now().timestamp() - 60;
    });
    assert_refused(&app, &token, "EXPIRED").await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let token = app.token_with(|c| {
        c.org = org.id.to_string();
        c.nbf = Some(chrono::Utc::now().timestamp() + 600);
    });
    assert_refused(&app, &token, "NOT_YET_VALID").await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let now = chrono::Utc::now().timestamp();
    let claims = TokenClaims {
        sub: "intruder".into(),
        org: org.id.to_string(),
        roles: vec!["CASEWORKER".into()],
        iss: crate::support::ISSUER.into(),
        aud: crate::support::AUDIENCE.into(),
        exp: now + 600,
        nbf: None,
        iat: None,
    };
    let token = mint_hs256(&[7u8; 32], &claims).unwrap();
    assert_refused(&app, &token, "BAD_SIGNATURE").await;
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let other_issuer = app.token_with(|c| {
        c.org = org.id.to_string();
        c.iss = "https://someone-else.example".into();
    });
    assert_refused(&app, &other_issuer, "WRONG_ISSUER").await;
    let other_audience = app.token_with(|c| {
        c.org = org.id.to_string();
        c.aud = "another-service".into();
    });
    assert_refused(&app, &other_audience, "WRONG_AUDIENCE").await;
}

#[tokio::test]
async fn a_token_naming_an_unknown_organisation_or_role_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    assert_refused(
        &app,
        &app.token(kinbridge_domain::ids::OrganizationId::new(), &["CASEWORKER"]),
        "UNKNOWN_ORGANIZATION",
    )
    .await;
    assert_refused(&app, &app.token(org.id, &["ADMINISTRATOR"]), "UNKNOWN_ROLE").await;
    assert_refused(&app, &app.token(org.id, &[]), "NO_ROLE").await;
    let no_such_code = app.token_with(|c| c.org = "Aarhus".into());
    assert_refused(&app, &no_such_code, "UNKNOWN_ORGANIZATION").await;
}

#[tokio::test]
async fn an_unsigned_or_malformed_token_is_unauthenticated() {
    let app = spawn_app().await;
    let org = app.municipality("Aarhus").await;
    let valid = app.token(org.id, &["CASEWORKER"]);
    let (header_and_claims, _) = valid.rsplit_once('.').unwrap();
    // `alg: none`, with the signature stripped.
    let claims = header_and_claims.split_once('.').unwrap().1;
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    assert_refused(&app, &format!("{none_header}.{claims}."), "MALFORMED").await;
    assert_refused(&app, &format!("{header_and_claims}."), "BAD_SIGNATURE").await;
    assert_refused(&app, "not-a-jwt", "MALFORMED").await;
    let response = app
        .client
        .post(app.url())
        .header("authorization", format!("Basic {valid}"))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_auditor_reads_no_personal_data() {
    let app = spawn_app().await;
    let org = app.org(OrganizationKind::Municipality, "Aarhus", &["AUDITOR"]).await;
    let r = app.gql(&org.token, "{ families { totalCount } }", json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN");
    // The auditor still learns who it is.
    let r = app.gql(&org.token, "{ viewer { roles } }", json!({})).await;
    assert_eq!(r.data()["viewer"]["roles"], json!(["AUDITOR"]));
}
