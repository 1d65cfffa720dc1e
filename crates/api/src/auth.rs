//! Token verification: from an `Authorization: Bearer …` header to an [`Actor`].
//!
//! Kinbridge logs no one in. It verifies JWTs issued by the agencies' identity provider:
//! signature, issuer, audience, expiry and not-before, then reads the organisation and the
//! roles from the claims an operator configured ([`ClaimNames`]) and checks that the
//! organisation is registered and enabled and every role is known. A refused token is
//! answered `UNAUTHENTICATED` with the class of the reason ([`AuthFailure::reason`]: expired,
//! wrong audience, unknown organisation, …) so that an operator connecting an identity
//! provider can act on it; claims are only looked at once the signature holds, so the
//! reason tells a forger nothing. The token itself is never logged.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kinbridge_domain::access::{Actor, Role};
use kinbridge_persistence::Store;
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

/// Which claims carry the organisation and the roles. Identity providers differ: some
/// put roles in a top-level `roles`, Keycloak in `realm_access.roles`; a dotted path
/// reaches into nested objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The claim holding the organisation: its id (`org_…`), `KIND:CODE` (such as
    /// `MUNICIPALITY:0101`) or a code that only one kind of organisation has.
    pub organization: String,
    /// The claim holding the roles: a list of names, or one string of names separated by
    /// spaces or commas.
    pub roles: String,
    /// When set, only roles starting with this prefix are Kinbridge's (the prefix is
    /// removed), and the identity provider's other roles are ignored. Without it every
    /// role must be one of Kinbridge's.
    pub role_prefix: Option<String>,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self { organization: "org".into(), roles: "roles".into(), role_prefix: None }
    }
}

/// What a verified token says about its caller, before the organisation is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    pub subject: String,
    pub organization: String,
    pub roles: Vec<String>,
    /// The token's `exp`: seconds since the epoch.
    pub expires_at: i64,
}

/// Verifies tokens. Built once at start; cheap to share.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Vec<VerifyingKey>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    claims: ClaimNames,
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
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_secs,
            claims: ClaimNames::default(),
        })
    }

    /// The same verifier, reading the organisation and roles from `claims`.
    #[must_use]
    pub fn with_claims(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// The token's claims, if it is valid.
    ///
    /// The key is chosen by the token's header: its `kid` when it has one, otherwise the
    /// only key of its `alg`. The algorithm is then pinned to that key's, so a token naming
    /// another (`none`, or HS256 "signed" with a public key) is refused before its
    /// signature is looked at.
    pub fn verify(&self, token: &str) -> Result<VerifiedClaims, AuthFailure> {
        use TokenProblem::{Malformed, UnknownKey};
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthFailure::Invalid(Malformed, "malformed header".into()))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                .ok_or_else(|| AuthFailure::Invalid(UnknownKey, "unknown kid".into()))?,
            None => {
                let mut of_alg = self.keys.iter().filter(|k| k.algorithm == header.alg);
                match (of_alg.next(), of_alg.next()) {
                    (Some(only), None) => only,
                    (None, _) => return Err(AuthFailure::Invalid(UnknownKey, format!("no key for {:?}", header.alg))),
                    (Some(_), Some(_)) => {
                        return Err(AuthFailure::Invalid(
                            UnknownKey,
                            "several keys match; the token needs a kid".into(),
                        ));
                    }
                }
            }
        };
        if header.alg != key.algorithm {
            return Err(AuthFailure::Invalid(
                UnknownKey,
                format!("{:?} token for a {:?} key", header.alg, key.algorithm),
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        // Decoded as JSON: the issuer's token may carry its claims anywhere, and `aud` may
        // be a string or a list (the validation above accepts both).
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthFailure::Invalid(TokenProblem::of(e.kind()), format!("{:?}", e.kind())))?;
        self.read_claims(&claims)
    }

    fn read_claims(&self, claims: &serde_json::Value) -> Result<VerifiedClaims, AuthFailure> {
        let subject = claims["sub"]
            .as_str()
            .ok_or_else(|| AuthFailure::Invalid(TokenProblem::MissingClaim, "sub is not a string".into()))?;
        let organization =
            claim(claims, &self.claims.organization).and_then(serde_json::Value::as_str).ok_or_else(|| {
                AuthFailure::Invalid(
                    TokenProblem::MissingClaim,
                    format!("no organisation in `{}`", self.claims.organization),
                )
            })?;
        let names: Vec<String> = match claim(claims, &self.claims.roles) {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect()
            }
            Some(serde_json::Value::String(names)) => {
                names.split([' ', ',']).filter(|r| !r.is_empty()).map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        let roles = match &self.claims.role_prefix {
            None => names,
            Some(prefix) => names.iter().filter_map(|r| r.strip_prefix(prefix.as_str())).map(str::to_owned).collect(),
        };
        // Required and validated by `verify`; a float is cut to whole seconds.
        let expires_at = claims["exp"].as_i64().or_else(|| claims["exp"].as_f64().map(|f| f as i64)).unwrap_or(0);
        Ok(VerifiedClaims { subject: subject.to_owned(), organization: organization.to_owned(), roles, expires_at })
    }
}

/// The claim at a dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |value, name| value.get(name))
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

/// What is wrong with a token that did not verify, as an operator can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// Signed with a key (or an algorithm) Kinbridge is not configured with.
    UnknownKey,
    BadSignature,
    MissingClaim,
    Malformed,
}

impl TokenProblem {
    fn of(kind: &jsonwebtoken::errors::ErrorKind) -> Self {
        use jsonwebtoken::errors::ErrorKind;
        match kind {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Self::UnknownKey,
            ErrorKind::MissingRequiredClaim(_) => Self::MissingClaim,
            _ => Self::Malformed,
        }
    }
}

/// Why a request was not authenticated. The detail is logged; the client receives the
/// class ([`AuthFailure::reason`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no bearer token")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("token refused: {1}")]
    Invalid(TokenProblem, String),
    #[error("the token's organisation is not registered")]
    UnknownOrganization,
    #[error("the token's organisation is disabled")]
    DisabledOrganization,
    #[error("the token names an unknown role")]
    UnknownRole,
    #[error("the token names no role")]
    NoRole,
    /// Not a refusal: the database did not answer, so the token could not be checked.
    #[error("the organisation could not be looked up")]
    Unavailable,
}

impl AuthFailure {
    /// The reason class a client receives (`extensions.reason`) and its wording for the
    /// `WWW-Authenticate` header; `None` when no token was sent, which RFC 6750 answers
    /// without an error.
    pub fn reason(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::Missing | Self::Unavailable => return None,
            Self::Malformed | Self::Invalid(TokenProblem::Malformed, _) => ("MALFORMED", "the token is malformed"),
            Self::Invalid(TokenProblem::Expired, _) => ("EXPIRED", "the token has expired"),
            Self::Invalid(TokenProblem::NotYetValid, _) => ("NOT_YET_VALID", "the token is not valid yet"),
            Self::Invalid(TokenProblem::WrongIssuer, _) => ("WRONG_ISSUER", "the token is from another issuer"),
            Self::Invalid(TokenProblem::WrongAudience, _) => ("WRONG_AUDIENCE", "the token is for another audience"),
            Self::Invalid(TokenProblem::UnknownKey, _) => ("UNKNOWN_KEY", "the token is signed with an unknown key"),
            Self::Invalid(TokenProblem::BadSignature, _) => ("BAD_SIGNATURE", "the token's signature does not verify"),
            Self::Invalid(TokenProblem::MissingClaim, _) => ("MISSING_CLAIM", "the token lacks a required claim"),
            Self::UnknownOrganization => ("UNKNOWN_ORGANIZATION", "the token's organisation is not registered"),
            Self::DisabledOrganization => ("DISABLED_ORGANIZATION", "the token's organisation is disabled"),
            Self::UnknownRole => ("UNKNOWN_ROLE", "the token names a role Kinbridge does not know"),
            Self::NoRole => ("NO_ROLE", "the token names no Kinbridge role"),
        })
    }
}

/// Authenticates a request from its `Authorization` header value.
pub async fn authenticate(
    store: &Store,
    verifier: &TokenVerifier,
    authorization: Option<&str>,
) -> Result<Actor, AuthFailure> {
    authenticate_until(store, verifier, authorization).await.map(|(actor, _)| actor)
}

/// [`authenticate`], with the time the token expires (seconds since the epoch): for a
/// connection that outlives a request, such as a subscription.
pub async fn authenticate_until(
    store: &Store,
    verifier: &TokenVerifier,
    authorization: Option<&str>,
) -> Result<(Actor, i64), AuthFailure> {
    let header = authorization.ok_or(AuthFailure::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthFailure::Malformed)?;
    let claims = verifier.verify(token)?;
    let roles = claims
        .roles
        .iter()
        .map(|r| r.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AuthFailure::UnknownRole)?;
    if roles.is_empty() {
        return Err(AuthFailure::NoRole);
    }
    let organization = match store.token_organization(&claims.organization).await {
        Ok(Some(org)) => org,
        Ok(None) => return Err(AuthFailure::UnknownOrganization),
        Err(e) => {
            tracing::warn!(error = %e, "organisation look-up failed during authentication");
            return Err(AuthFailure::Unavailable);
        }
    };
    if organization.disabled_at.is_some() {
        return Err(AuthFailure::DisabledOrganization);
    }
    let actor = Actor {
        subject: claims.subject,
        organization_id: organization.id,
        organization_kind: organization.kind,
        roles,
    };
    Ok((actor, claims.expires_at))
}

/// Signs development claims with a shared secret (HS256). Used by `kinbridge token` and
/// by the tests; production tokens come from the identity provider.
pub fn mint_hs256(secret: &[u8], claims: &TokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
}
