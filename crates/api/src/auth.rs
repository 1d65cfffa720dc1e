//! Token verification: from an `Authorization: Bearer …` header to an [`Actor`].
//!
//! Kinbridge logs no one in. It verifies JWTs issued by the agencies' identity provider:
//! signature, issuer, audience, expiry and not-before, then checks that the organisation
//! exists and every role is known. A refused token is answered `UNAUTHENTICATED` with no
//! reason; the reason is logged, the token never.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kinbridge_domain::access::{Actor, Role};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_persistence::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The claims Kinbridge reads and, for development tokens, writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenClaims {
    /// The subject: a person or a system at the organisation.
    pub sub: String,
    /// The organisation's public id (`org_…`).
    pub org: String,
    /// Role names, such as `CASEWORKER`.
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Where verification keys come from. A verifier holds any number of them, so that an
/// identity provider can roll to a new signing key while tokens signed with the old one
/// are still in use: configure both, and each token names its key by `kid`.
#[derive(Clone)]
pub enum KeySource {
    /// A shared secret (HS256). For development and tests only; never a silent default.
    SharedSecret(Vec<u8>),
    /// A public key in PEM form with its algorithm (RS256, ES256 or EdDSA), and the `kid`
    /// tokens signed with it carry, if any.
    PublicKeyPem { algorithm: Algorithm, pem: Vec<u8>, kid: Option<String> },
    /// A JWKS document (`{"keys": [...]}`), as an identity provider publishes it. Every
    /// key needs a `kid`; its algorithm comes from `alg` or, without one, from the key type.
    Jwks(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedSecret(_) => f.write_str("SharedSecret(<redacted>)"),
            Self::PublicKeyPem { algorithm, kid, .. } => write!(f, "PublicKeyPem({algorithm:?}, kid {kid:?})"),
            Self::Jwks(_) => f.write_str("Jwks"),
        }
    }
}

/// One key a token may be signed with.
#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens. Built once at start; cheap to share.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self.keys.iter().map(|k| (k.algorithm, k.kid.as_deref())).collect();
        f.debug_struct("TokenVerifier").field("keys", &keys).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// Why a verifier could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not a valid {algorithm:?} public key in PEM form: {source}")]
    BadPem { algorithm: Algorithm, source: jsonwebtoken::errors::Error },
    #[error("{0:?} is not supported; use RS256, ES256 or EdDSA")]
    Unsupported(Algorithm),
    #[error("the shared secret must be at least 32 bytes")]
    ShortSecret,
    #[error("the JWKS document is not valid: {0}")]
    BadJwks(String),
    #[error("two keys have the kid `{0}`")]
    DuplicateKid(String),
    #[error("no verification key is configured")]
    NoKeys,
}

/// The algorithms Kinbridge accepts from an identity provider.
const PUBLIC_KEY_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

impl TokenVerifier {
    /// A verifier accepting only tokens signed with one of the keys from `sources`,
    /// issued by `issuer` for `audience`, within their validity, allowing `leeway_secs` of
    /// clock skew.
    pub fn new(sources: &[KeySource], issuer: &str, audience: &str, leeway_secs: u64) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for source in sources {
            match source {
                KeySource::SharedSecret(secret) => {
                    if secret.len() < 32 {
                        return Err(KeyError::ShortSecret);
                    }
                    keys.push(VerifyingKey {
                        kid: None,
                        algorithm: Algorithm::HS256,
                        key: DecodingKey::from_secret(secret),
                    });
                }
                KeySource::PublicKeyPem { algorithm, pem, kid } => {
                    let decoded = match algorithm {
                        Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
                        Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
                        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                        other => return Err(KeyError::Unsupported(*other)),
                    };
                    let key = decoded.map_err(|source| KeyError::BadPem { algorithm: *algorithm, source })?;
                    keys.push(VerifyingKey { kid: kid.clone(), algorithm: *algorithm, key });
                }
                KeySource::Jwks(document) => keys.extend(jwks_keys(document)?),
            }
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = key.kid.as_ref().filter(|kid| keys[..i].iter().any(|k| k.kid.as_ref() == Some(*kid))) {
                return Err(KeyError::DuplicateKid(kid.clone()));
            }
        }
        Ok(Self { keys, issuer: issuer.to_owned(), audience: audience.to_owned(), leeway_secs })
    }

    /// The token's claims, if it is valid.
    ///
    /// The key is chosen by the token's header: its `kid` when it has one, otherwise the
    /// only key of its `alg`. The algorithm is then pinned to that key's, so a token naming
    /// another (`none`, or HS256 "signed" with a public key) is refused before its
    /// signature is looked at.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthFailure::Invalid("malformed header".into()))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                .ok_or_else(|| AuthFailure::Invalid("unknown kid".into()))?,
            None => {
                let mut of_alg = self.keys.iter().filter(|k| k.algorithm == header.alg);
                match (of_alg.next(), of_alg.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(AuthFailure::Invalid(format!("no key for {:?}", header.alg))),
                    (Some(_), Some(_)) => {
                        return Err(AuthFailure::Invalid("several keys match; the token needs a kid".into()));
                    }
                }
            }
        };
        if header.alg != key.algorithm {
            return Err(AuthFailure::Invalid(format!("{:?} token for a {:?} key", header.alg, key.algorithm)));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        jsonwebtoken::decode::<TokenClaims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthFailure::Invalid(format!("{:?}", e.kind())))
    }
}

fn jwks_keys(document: &str) -> Result<Vec<VerifyingKey>, KeyError> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
    let set: JwkSet = serde_json::from_str(document).map_err(|e| KeyError::BadJwks(e.to_string()))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let kid = jwk.common.key_id.clone().ok_or_else(|| KeyError::BadJwks("a key has no kid".into()))?;
        let algorithm = match (jwk.common.key_algorithm, &jwk.algorithm) {
            (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
            (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
            (Some(KeyAlgorithm::EdDSA), _) => Algorithm::EdDSA,
            (Some(other), _) => return Err(KeyError::BadJwks(format!("key {kid}: {other:?} is not supported"))),
            (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
            (None, AlgorithmParameters::EllipticCurve(p)) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
            (None, AlgorithmParameters::OctetKeyPair(p)) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
            (None, _) => return Err(KeyError::BadJwks(format!("key {kid}: give its alg"))),
        };
        if !PUBLIC_KEY_ALGORITHMS.contains(&algorithm) {
            return Err(KeyError::Unsupported(algorithm));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::BadJwks(format!("key {kid}: {e}")))?;
        keys.push(VerifyingKey { kid: Some(kid), algorithm, key });
    }
    Ok(keys)
}

/// Why a request was not authenticated. Logged, never returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no bearer token")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("token refused: {0}")]
    Invalid(String),
    #[error("the token's organisation is not registered")]
    UnknownOrganization,
    #[error("the token names an unknown role")]
    UnknownRole,
    #[error("the token names no role")]
    NoRole,
    #[error("the organisation could not be looked up")]
    Unavailable,
}

/// Authenticates a request from its `Authorization` header value.
pub async fn authenticate(
    store: &Store,
    verifier: &TokenVerifier,
    authorization: Option<&str>,
) -> Result<Actor, AuthFailure> {
    let header = authorization.ok_or(AuthFailure::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthFailure::Malformed)?;
    let claims = verifier.verify(token)?;
    let organization_id: OrganizationId = claims.org.parse().map_err(|_| AuthFailure::UnknownOrganization)?;
    let roles = claims
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AuthFailure::UnknownRole)?;
    if roles.is_empty() {
        return Err(AuthFailure::NoRole);
    }
    let organization = match store.organization(organization_id).await {
        Ok(org) => org,
        Err(StoreError::NotFound { .. }) => return Err(AuthFailure::UnknownOrganization),
        Err(e) => {
            tracing::error!(error = %e, "organisation look-up failed during authentication");
            return Err(AuthFailure::Unavailable);
        }
    };
    Ok(Actor { subject: claims.sub, organization_id, organization_kind: organization.kind, roles })
}

/// Signs development claims with a shared secret (HS256). Used by `kinbridge token` and
/// by the tests; production tokens come from the identity provider.
pub fn mint_hs256(secret: &[u8], claims: &TokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
}
