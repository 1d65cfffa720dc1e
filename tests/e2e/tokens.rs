//! Production token verification: public keys chosen by `kid`, and a corpus of tokens
//! that must all be refused with `UNAUTHENTICATED` and no detail.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kinbridge_api::auth::KeySource;
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::OrganizationKind;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{AUDIENCE, ISSUER, TestApp, spawn_app_configured};

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
    let r = app
        .client
        .post(app.url())
        .bearer_auth(token)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
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
async fn every_token_of_the_corpus_is_refused_without_detail() {
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

    let corpus: Vec<(&str, String)> = vec![
        ("alg none", format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims(org).to_string().as_bytes()))),
        ("alg confusion: HS256 signed with the RSA public key, with kid", hs256_with_public_key(Some("rsa-2026"))),
        ("alg confusion: HS256 signed with the RSA public key, no kid", hs256_with_public_key(None)),
        ("unknown kid", sign(Algorithm::RS256, "rsa-a", Some("rsa-1999"), &claims(org))),
        ("signed with another key under a known kid", sign(Algorithm::RS256, "rsa-b", Some("rsa-2026"), &claims(org))),
        ("ES256 token naming the RSA key's kid", sign(Algorithm::ES256, "ec-a", Some("rsa-2026"), &claims(org))),
        ("tampered payload", format!("{head}.{other_payload}.{signature}")),
        ("wrong issuer", rs(&with(org, |c| c["iss"] = json!("https://evil.example")))),
        ("wrong audience", rs(&with(org, |c| c["aud"] = json!("another-service")))),
        ("expired beyond the leeway", rs(&with(org, |c| c["exp"] = json!(now - 120)))),
        ("not yet valid", rs(&with(org, |c| c["nbf"] = json!(now + 600)))),
        ("no exp", rs(&with(org, |c| drop(c.remove("exp"))))),
        ("no sub", rs(&with(org, |c| drop(c.remove("sub"))))),
        ("no iss", rs(&with(org, |c| drop(c.remove("iss"))))),
        ("no aud", rs(&with(org, |c| drop(c.remove("aud"))))),
        ("no org", rs(&with(org, |c| drop(c.remove("org"))))),
        ("no roles", rs(&with(org, |c| drop(c.remove("roles"))))),
        ("roles not a list", rs(&with(org, |c| c["roles"] = json!("CASEWORKER")))),
        ("empty roles", rs(&with(org, |c| c["roles"] = json!([])))),
        ("unknown role", rs(&with(org, |c| c["roles"] = json!(["CASEWORKER", "SUPERUSER"])))),
        ("unregistered organisation", rs(&with(org, |c| c["org"] = json!(OrganizationId::new().to_string())))),
        ("organisation not an id", rs(&with(org, |c| c["org"] = json!("0751")))),
        ("not a JWT", "abc".into()),
        ("two parts", format!("{head}.{}", b64(b"{}"))),
    ];
    assert!(corpus.len() >= 15);
    // The forged parts are well-formed base64url, so each is refused for its flaw alone.
    assert_eq!((b64(b"{}"), b64(b"ab"), b64(b"abc")), ("e30".into(), "YWI".into(), "YWJj".into()));
    for (name, token) in &corpus {
        let (status, body) = status_of(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{name}");
        assert_eq!(
            body["errors"][0]["message"], "a valid bearer token is required",
            "{name}: the answer says nothing more"
        );
    }
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
