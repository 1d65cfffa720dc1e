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

/// What a token is verified with.
#[derive(Clone)]
pub enum VerificationKey {
    /// A shared secret (HS256). For development and tests only; never a silent default.
    SharedSecret(Vec<u8>),
    /// The identity provider's public key, as PEM, with its algorithm (RS256, ES256 or
    /// EdDSA).
    PublicKey { algorithm: Algorithm, pem: Vec<u8> },
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SharedSecret(_) => f.write_str("SharedSecret(<redacted>)"),
            Self::PublicKey { algorithm, .. } => write!(f, "PublicKey({algorithm:?})"),
        }
    }
}

/// Verifies tokens. Built once at start; cheap to share.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
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
}

impl TokenVerifier {
    /// A verifier accepting only tokens signed with `key`, issued by `issuer` for
    /// `audience`, within their validity, allowing `leeway_secs` of clock skew.
    pub fn new(key: &VerificationKey, issuer: &str, audience: &str, leeway_secs: u64) -> Result<Self, KeyError> {
        let (algorithm, key) = match key {
            VerificationKey::SharedSecret(secret) => {
                if secret.len() < 32 {
                    return Err(KeyError::ShortSecret);
                }
                (Algorithm::HS256, DecodingKey::from_secret(secret))
            }
            VerificationKey::PublicKey { algorithm, pem } => {
                let decoded = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
                    Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                    other => return Err(KeyError::Unsupported(*other)),
                };
                (*algorithm, decoded.map_err(|source| KeyError::BadPem { algorithm: *algorithm, source })?)
            }
        };
        // One algorithm per key: a token naming any other (`none`, or HS256 signed with
        // the public key) is refused before its signature is looked at.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = leeway_secs;
        Ok(Self { key, validation })
    }

    /// The token's claims, if it is valid.
    pub fn verify(&self, token: &str) -> Result<TokenClaims, AuthFailure> {
        jsonwebtoken::decode::<TokenClaims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| AuthFailure::Invalid(format!("{:?}", e.kind())))
    }
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
    let organization_kind = organization.kind.parse().map_err(|_| AuthFailure::UnknownOrganization)?;
    Ok(Actor { subject: claims.sub, organization_id, organization_kind, roles })
}

/// Signs development claims with a shared secret (HS256). Used by `kinbridge token` and
/// by the tests; production tokens come from the identity provider.
pub fn mint_hs256(secret: &[u8], claims: &TokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
}
