//! The API's one error type, and how each storage and domain error reaches a client.
//!
//! Policy: every error a client receives carries `extensions.code`; a database error or
//! a damaged row is logged once, here, with its detail, and the client gets `INTERNAL`
//! and a request id to quote, never the detail.

use async_graphql::ErrorExtensions;
use kinbridge_domain::{TransitionError, ValidationError};
use kinbridge_persistence::StoreError;

///
/// Deliberately not `Display`: async-graphql converts any `Display` type into an error
/// without extensions, so the only way from an `ApiError` to a client is
/// [`From<ApiError> for async_graphql::Error`], which always sets `extensions.code`.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// `UNAUTHENTICATED`: no token, or one that failed verification. The message never
    /// says which check failed.
    Unauthenticated,
    /// `FORBIDDEN`: the caller is known but its role or organisation may not do this.
    Forbidden(String),
    /// `NOT_FOUND`: no such record is visible to the caller (it may exist for others).
    NotFound { record_type: &'static str },
    /// `BAD_USER_INPUT`, with `extensions.field` naming the input field.
    BadUserInput { field: String, message: String },
    /// `CONFLICT`: the record's state or a concurrent write forbids the change;
    /// `extensions.existingId` names the record already there, when there is one.
    Conflict { message: String, existing_id: Option<String> },
    /// `UNAVAILABLE`: the database cannot serve the request now; nothing was written.
    /// Answered with HTTP 503: retry later.
    Unavailable(&'static str),
    /// `INTERNAL`: a failure of Kinbridge itself; details are in the server log only.
    Internal,
}

impl ApiError {
    /// What the client reads in `message`.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "a valid bearer token is required".to_owned(),
            Self::Forbidden(message) => message.clone(),
            Self::NotFound { record_type } => format!("{record_type} not found"),
            Self::BadUserInput { field, message } => format!("{field}: {message}"),
            Self::Conflict { message, .. } => message.clone(),
            Self::Unavailable(why) => format!("{why}; nothing was written, retry later"),
            Self::Internal => "internal error; quote the request id to the operator".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput { field: field.into(), message: message.into() }
    }

    /// Logs an internal failure once, with its detail, and answers `INTERNAL`.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed on an internal error");
        Self::Internal
    }
}

impl ApiError {
    fn extend(&self) -> async_graphql::Error {
        async_graphql::Error::new(self.message()).extend_with(|_, e| {
            e.set("code", self.code());
            match self {
                Self::BadUserInput { field, .. } => e.set("field", field.as_str()),
                Self::Conflict { existing_id: Some(id), .. } => e.set("existingId", id.as_str()),
                Self::NotFound { record_type } => e.set("recordType", *record_type),
                _ => {}
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        e.extend()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::BadUserInput { field: e.field, message: e.message }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        Self::Conflict { message: e.0, existing_id: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { record_type } => Self::NotFound { record_type },
            StoreError::Invalid(v) => v.into(),
            StoreError::Transition(t) => t.into(),
            StoreError::Conflict { message, existing_id } => Self::Conflict { message, existing_id },
            StoreError::Unavailable(why) => Self::Unavailable(why),
            e @ (StoreError::Database(_) | StoreError::Corrupt(_)) => Self::internal(&e),
        }
    }
}

impl From<kinbridge_domain::error::UnknownValue> for ApiError {
    fn from(e: kinbridge_domain::error::UnknownValue) -> Self {
        Self::internal(&e)
    }
}

/// The result of a resolver.
pub type ApiResult<T> = Result<T, async_graphql::Error>;

/// Puts the field of a validation error under the argument it came in, so that a client
/// reads `input.plannedEnd`.
pub(crate) fn in_input(e: ValidationError) -> ApiError {
    e.under("input").into()
}

/// Converts storage results at the resolver boundary.
pub(crate) trait IntoApi<T> {
    fn api(self) -> Result<T, ApiError>;
}

impl<T> IntoApi<T> for Result<T, StoreError> {
    fn api(self) -> Result<T, ApiError> {
        self.map_err(ApiError::from)
    }
}

/// Parses an opaque id argument of the expected kind; any other string is
/// `BAD_USER_INPUT` on `field`.
pub(crate) fn id_arg<T>(field: &str, id: &async_graphql::ID) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = kinbridge_domain::error::InvalidValue>,
{
    id.as_str().parse::<T>().map_err(|e| ApiError::bad_input(field, e.0))
}

/// A case id (`externalId`) as a lookup's argument: checked as a stored one is, so that
/// what could never have been stored is `BAD_USER_INPUT` on `field`, not a lookup.
pub(crate) fn case_id_arg(field: &str, value: &str) -> Result<kinbridge_domain::text::ExternalId, ApiError> {
    use kinbridge_domain::error::AtField;
    Ok(kinbridge_domain::text::ExternalId::parse(value).at(field)?)
}

/// A version the client read: one Kinbridge could have given out (a positive 32-bit
/// number), or `BAD_USER_INPUT` on `field`.
pub(crate) fn version_arg(field: &str, v: i64) -> Result<i32, ApiError> {
    i32::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::bad_input(field, "is not a version of this record"))
}

/// The optional `expectedVersion` of an input; see [`version_arg`].
pub(crate) fn expected_version(v: Option<i64>) -> Result<Option<i32>, ApiError> {
    v.map(|v| version_arg("input.expectedVersion", v)).transpose()
}

/// Converts a storage error, placing the field it names under `prefix`: storage names
/// fields relative to the input it was given.
pub(crate) fn under(prefix: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match ApiError::from(e) {
        ApiError::BadUserInput { field, message } => {
            ApiError::BadUserInput { field: format!("{prefix}.{field}"), message }
        }
        other => other,
    }
}
