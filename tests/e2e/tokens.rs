//! Production token verification: public keys chosen by `kid`, a corpus of tokens that
//! must all be refused with `UNAUTHENTICATED` and the class of their flaw only, claims
//! mapped from where an identity provider puts them, and disabled organisations.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kinbridge_api::auth::{ClaimNames, KeySource};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{AUDIENCE, ISSUER, TestApp, spawn_app_configured, until};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn encoding_key(alg: Algorithm, name: &str) -> EncodingKey {
    let pem = fixture(&format!("{name}.private.pem"));
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        other => panic!("no fixture for {other:?}"),
    }
    .unwrap()
}

fn sign(alg: Algorithm, key: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &encoding_key(alg, key)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A production-like application: no shared secret; an RSA and an EC key from a JWKS
/// document and an Ed25519 key from PEM, each with its kid; 30 seconds of leeway.
async fn production_like() -> (TestApp, OrganizationId) {
    let jwk = |alg, name, kid: &str| {
        let mut jwk = Jwk::from_encoding_key(&encoding_key(alg, name), alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        jwk
    };
    let jwks =
        JwkSet { keys: vec![jwk(Algorithm::RS256, "rsa-a", "rsa-2026"), jwk(Algorithm::ES256, "ec-a", "ec-2026")] };
    let app = spawn_app_configured(|c| {
        c.auth.keys = vec![
            KeySource::Jwks(serde_json::to_string(&jwks).unwrap()),
            KeySource::PublicKeyPem {
                algorithm: Algorithm::EdDSA,
                pem: fixture("ed-a.pub.pem"),
                kid: Some("ed-2026".into()),
            },
        ];
        c.auth.leeway_secs = 30;
    })
    .await;
    let org = app.municipality("Aarhus").await;
    (app, org.id)
}

fn claims(org: OrganizationId) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": "caseworker-17", "org": org.to_string(), "roles": ["CASEWORKER"], "iss": ISSUER, "aud": AUDIENCE,
            "exp": now + 600, "nbf": now - 5, "iat": now - 5 })
}

fn with(org: OrganizationId, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims(org);
    edit(c.as_object_mut().unwrap());
    c
}

async fn status_of(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let (status, _, body) = answer_of(app, token).await;
    (status, body)
}

/// The status, the `WWW-Authenticate` header and the body of a request with `token`.
async fn answer_of(app: &TestApp, token: &str) -> (StatusCode, Option<String>, Value) {
    let r = app
        .client
        .post(app.url())
        .bearer_auth(token)
        .json(&json!({ "query": "{ viewer { subject organization { name } roles } }" }))
        .send()
        .await
        .unwrap();
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (r.status(), challenge, r.json().await.unwrap())
}

#[tokio::test]
async fn tokens_signed_with_any_configured_key_are_accepted_by_kid() {
    let (app, org) = production_like().await;
    for (alg, key, kid) in [
        (Algorithm::RS256, "rsa-a", "rsa-2026"),
        (Algorithm::ES256, "ec-a", "ec-2026"),
        (Algorithm::EdDSA, "ed-a", "ed-2026"),
    ] {
        let (status, body) = status_of(&app, &sign(alg, key, Some(kid), &claims(org))).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
        assert_eq!(body["data"]["viewer"]["subject"], "caseworker-17");
    }
    // One key per algorithm: a token without kid finds it by its alg.
    let (status, _) = status_of(&app, &sign(Algorithm::EdDSA, "ed-a", None, &claims(org))).await;
    assert_eq!(status, StatusCode::OK);
    // Within the leeway, a just-expired token still passes.
    let just_expired = with(org, |c| c["exp"] = json!(chrono::Utc::now().timestamp() - 10));
    assert_eq!(
        status_of(&app, &sign(Algorithm::RS256, "rsa-a", Some("rsa-2026"), &just_expired)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_new_signing_key_is_accepted_beside_the_old_one_during_rotation() {
    let app = spawn_app_configured(|c| {
        c.auth.keys = vec![
            KeySource::PublicKeyPem {
                algorithm: Algorithm::RS256,
                pem: fixture("rsa-a.pub.pem"),
                kid: Some("2026-a".into()),
            },
            KeySource::PublicKeyPem {
                algorithm: Algorithm::RS256,
                pem: fixture("rsa-b.pub.pem"),
                kid: Some("2026-b".into()),
            },
        ];
    })
    .await;
    let org = app.municipality("Aarhus").await;
    assert_eq!(
        status_of(&app, &sign(Algorithm::RS256, "rsa-a", Some("2026-a"), &claims(org.id))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status_of(&app, &sign(Algorithm::RS256, "rsa-b", Some("2026-b"), &claims(org.id))).await.0,
        StatusCode::OK
    );
    // With two RSA keys, a token must say which.
    let (status, _) = status_of(&app, &sign(Algorithm::RS256, "rsa-a", None, &claims(org.id))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_token_of_the_corpus_is_refused_with_the_class_of_its_flaw_only() {
    let (app, org) = production_like().await;
    let now = chrono::Utc::now().timestamp();
    let rs = |c: &Value| sign(Algorithm::RS256, "rsa-a", Some("rsa-2026"), c);
    let hs256_with_public_key = |kid: Option<&str>| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims(org), &EncodingKey::from_secret(&fixture("rsa-a.pub.pem"))).unwrap()
    };
    let valid = rs(&claims(org));
    let (head, rest) = valid.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let other_payload = b64(with(org, |c| c["roles"] = json!(["MANAGER"])).to_string().as_bytes());

    let corpus: Vec<(&str, &str, String)> = vec![
        (
            "alg none",
            "MALFORMED",
            format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims(org).to_string().as_bytes())),
        ),
        (
            "alg confusion: HS256 signed with the RSA public key, with kid",
            "UNKNOWN_KEY",
            hs256_with_public_key(Some("rsa-2026")),
        ),
        ("alg confusion: HS256 signed with the RSA public key, no kid", "UNKNOWN_KEY", hs256_with_public_key(None)),
        ("unknown kid", "UNKNOWN_KEY", sign(Algorithm::RS256, "rsa-a", Some("rsa-1999"), &claims(org))),
        (
            "signed with another key under a known kid",
            "BAD_SIGNATURE",
            sign(Algorithm::RS256, "rsa-b", Some("rsa-2026"), &claims(org)),
        ),
        (
            "ES256 token naming the RSA key's kid",
            "UNKNOWN_KEY",
            sign(Algorithm::ES256, "ec-a", Some("rsa-2026"), &claims(org)),
        ),
        ("tampered payload", "BAD_SIGNATURE", format!("{head}.{other_payload}.{signature}")),
        ("wrong issuer", "WRONG_ISSUER", rs(&with(org, |c| c["iss"] = json!("https://evil.example")))),
        ("wrong audience", "WRONG_AUDIENCE", rs(&with(org, |c| c["aud"] = json!("another-service")))),
        ("wrong audiences", "WRONG_AUDIENCE", rs(&with(org, |c| c["aud"] = json!(["another-service", "a-third"])))),
        ("expired beyond the leeway", "EXPIRED", rs(&with(org, |c| c["exp"] = json!(now - 120)))),
        ("not yet valid", "NOT_YET_VALID", rs(&with(org, |c| c["nbf"] = json!(now + 600)))),
        ("no exp", "MISSING_CLAIM", rs(&with(org, |c| drop(c.remove("exp"))))),
        ("no sub", "MISSING_CLAIM", rs(&with(org, |c| drop(c.remove("sub"))))),
        ("no iss", "MISSING_CLAIM", rs(&with(org, |c| drop(c.remove("iss"))))),
        ("no aud", "MISSING_CLAIM", rs(&with(org, |c| drop(c.remove("aud"))))),
        ("no org", "MISSING_CLAIM", rs(&with(org, |c| drop(c.remove("org"))))),
        ("no roles", "NO_ROLE", rs(&with(org, |c| drop(c.remove("roles"))))),
        ("roles neither a list nor names", "NO_ROLE", rs(&with(org, |c| c["roles"] = json!(7)))),
        ("empty roles", "NO_ROLE", rs(&with(org, |c| c["roles"] = json!([])))),
        ("unknown role", "UNKNOWN_ROLE", rs(&with(org, |c| c["roles"] = json!(["CASEWORKER", "SUPERUSER"])))),
        (
            "unregistered organisation",
            "UNKNOWN_ORGANIZATION",
            rs(&with(org, |c| c["org"] = json!(OrganizationId::new().to_string()))),
        ),
        ("unregistered organisation code", "UNKNOWN_ORGANIZATION", rs(&with(org, |c| c["org"] = json!("0751")))),
        ("unregistered KIND:CODE", "UNKNOWN_ORGANIZATION", rs(&with(org, |c| c["org"] = json!("MUNICIPALITY:0751")))),
        ("not a JWT", "MALFORMED", "abc".into()),
        ("two parts", "MALFORMED", format!("{head}.{}", b64(b"{}"))),
    ];
    assert!(corpus.len() >= 15);
    // The forged parts are well-formed base64url, so each is refused for its flaw alone.
    assert_eq!((b64(b"{}"), b64(b"ab"), b64(b"abc")), ("e30".into(), "YWI".into(), "YWJj".into()));
    let mut misread = Vec::new();
    for (name, reason, token) in &corpus {
        let (status, challenge, body) = answer_of(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{name}");
        if error["extensions"]["reason"] != *reason {
            misread.push(format!("{name}: {} where {reason} was expected", error["extensions"]["reason"]));
        }
        assert_eq!(error["extensions"].as_object().unwrap().len(), 2, "{name}: nothing but the code and the class");
        let challenge = challenge.unwrap_or_default();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""), "{name}: {challenge}");
        let description = error["message"].as_str().unwrap().strip_prefix("the token was refused: ").unwrap();
        assert!(challenge.contains(description), "{name}: the header and the message agree");
    }
    assert!(misread.is_empty(), "{misread:#?}");
    // Without a token there is no error to name (RFC 6750).
    let r = app.client.post(app.url()).json(&json!({ "query": "{ viewer { subject } }" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    // And the valid token the corpus was made from is accepted.
    assert_eq!(status_of(&app, &valid).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_organisation_kind_comes_from_the_registry_not_from_the_token() {
    let (app, _) = production_like().await;
    let provider = app.org(OrganizationKind::PlacementProvider, "Skovbrynet", &["PLACEMENT_STAFF"]).await;
    let token = sign(Algorithm::RS256, "rsa-a", Some("rsa-2026"), &claims(provider.id));
    let r = app.gql(&token, "mutation { createFamily(input: { name: \"X\" }) { family { id } } }", json!({})).await;
    assert_eq!(r.code(), "FORBIDDEN", "the kind comes from the registry, not the token");
}

#[tokio::test]
async fn claims_are_read_where_the_identity_provider_puts_them() {
    let app = spawn_app_configured(|c| {
        c.auth.keys =
            vec![KeySource::PublicKeyPem { algorithm: Algorithm::RS256, pem: fixture("rsa-a.pub.pem"), kid: None }];
        c.auth.claims = ClaimNames {
            organization: "kinbridge.organization".into(),
            roles: "realm_access.roles".into(),
            role_prefix: Some("kinbridge-".into()),
        };
    })
    .await;
    let org = app.municipality("Aarhus").await;
    let code = app.store.organization(org.id).await.unwrap().code;
    let now = chrono::Utc::now().timestamp();
    let token = |organization: Value, roles: Value, aud: Value| {
        sign(
            Algorithm::RS256,
            "rsa-a",
            None,
            &json!({ "sub": "kc-user-1", "iss": ISSUER, "aud": aud, "exp": now + 600,
            "kinbridge": { "organization": organization }, "realm_access": { "roles": roles } }),
        )
    };
    // Keycloak's own roles beside Kinbridge's are ignored; `aud` may be a list.
    let keycloak_roles = json!(["offline_access", "uma_authorization", "kinbridge-CASEWORKER", "kinbridge-MANAGER"]);
    for organization in [json!(org.id.to_string()), json!(format!("MUNICIPALITY:{code}")), json!(code)] {
        let (status, body) =
            status_of(&app, &token(organization.clone(), keycloak_roles.clone(), json!(["account", AUDIENCE]))).await;
        assert_eq!(status, StatusCode::OK, "{organization}: {body}");
        assert_eq!(body["data"]["viewer"]["subject"], "kc-user-1");
        assert_eq!(body["data"]["viewer"]["organization"]["name"], "Aarhus");
        assert_eq!(body["data"]["viewer"]["roles"], json!(["CASEWORKER", "MANAGER"]));
    }
    // Roles as one string of names, as a `scope` claim carries them.
    let (status, body) =
        status_of(&app, &token(json!(code), json!("openid kinbridge-CASEWORKER"), json!(AUDIENCE))).await;
    assert_eq!((status, &body["data"]["viewer"]["roles"]), (StatusCode::OK, &json!(["CASEWORKER"])), "{body}");
    // Only the identity provider's roles: no Kinbridge role.
    let (status, body) = status_of(&app, &token(json!(code), json!(["offline_access"]), json!(AUDIENCE))).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["reason"]), (StatusCode::UNAUTHORIZED, &json!("NO_ROLE")));
    // The claims at the top level are not where this service was told to look.
    let (status, body) = status_of(&app, &sign(Algorithm::RS256, "rsa-a", None, &claims(org.id))).await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["reason"]),
        (StatusCode::UNAUTHORIZED, &json!("MISSING_CLAIM"))
    );
}

#[tokio::test]
async fn a_code_two_kinds_of_organisation_share_names_neither() {
    let app = spawn_app_configured(|_| {}).await;
    for kind in [OrganizationKind::Municipality, OrganizationKind::PlacementProvider] {
        app.store.create_organization(&NewOrganization::parse(kind, "Shared", "S-1").unwrap()).await.unwrap();
    }
    let token = |org: &str| app.token_with(|c| c.org = org.to_owned());
    let (status, body) = status_of(&app, &token("S-1")).await;
    assert_eq!(
        (status, &body["errors"][0]["extensions"]["reason"]),
        (StatusCode::UNAUTHORIZED, &json!("UNKNOWN_ORGANIZATION"))
    );
    let (status, body) = status_of(&app, &token("PLACEMENT_PROVIDER:S-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Disabled outside this server (by an operator's `psql`, another replica or the
/// `kinbridge organizations` command), an organisation that the server remembers is
/// refused as soon as the server hears of it: on PostgreSQL the registry's trigger
/// announces the change and the server forgets what it remembered; SQLite's server looks
/// the organisation up for every request. Enabled again the same way, it is accepted.
#[tokio::test]
async fn an_organisation_disabled_outside_the_server_is_refused_once_the_server_hears_of_it() {
    use kinbridge_persistence::entities::organization;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app_configured(|_| {}).await;
    let org = app.municipality("Aarhus").await;
    app.warm(&org.token).await;
    assert_eq!(status_of(&app, &org.token).await.0, StatusCode::OK);
    let by_hand = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let set_disabled = |at: Option<chrono::DateTime<chrono::Utc>>| {
        organization::Entity::update_many()
            .col_expr(organization::Column::DisabledAt, Expr::value(at))
            .filter(organization::Column::Id.eq(org.id.as_uuid()))
            .exec(&by_hand)
    };
    set_disabled(Some(chrono::Utc::now())).await.unwrap();
    let refused = until(|| async {
        let (status, body) = status_of(&app, &org.token).await;
        (status == StatusCode::UNAUTHORIZED).then_some(body)
    })
    .await;
    assert_eq!(refused["errors"][0]["extensions"]["reason"], "DISABLED_ORGANIZATION");
    for _ in 0..3 {
        assert_eq!(status_of(&app, &org.token).await.0, StatusCode::UNAUTHORIZED, "and from then on");
    }
    set_disabled(None).await.unwrap();
    until(|| async { (status_of(&app, &org.token).await.0 == StatusCode::OK).then_some(()) }).await;
}

#[tokio::test]
async fn a_disabled_organisation_is_refused_from_the_next_request_and_keeps_its_records() {
    let app = spawn_app_configured(|_| {}).await;
    let org = app.municipality("Aarhus").await;
    let created = app
        .gql(&org.token, "mutation { createFamily(input: { name: \"Hansen\" }) { family { id } } }", json!({}))
        .await;
    assert!(created.data()["createFamily"]["family"]["id"].is_string());
    assert!(app.store.set_organization_disabled(org.id, true).await.unwrap());
    assert!(!app.store.set_organization_disabled(org.id, true).await.unwrap(), "disabling twice changes nothing");
    let (status, challenge, body) = answer_of(&app, &org.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "DISABLED_ORGANIZATION");
    assert!(challenge.unwrap().contains("disabled"));
    assert!(app.store.set_organization_disabled(org.id, false).await.unwrap());
    assert_eq!(app.family_count(&org).await, 1, "enabled again, with its records");
    let events = app.store.audit_events_for_record(org.id.as_uuid()).await.unwrap();
    let operations: Vec<&str> = events.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(operations, ["registerOrganization", "disableOrganization", "enableOrganization"]);
    assert!(events.iter().all(|e| e.subject == kinbridge_persistence::write::SYSTEM_SUBJECT));
}
