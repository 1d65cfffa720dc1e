//! The domain's errors. Each says, in words a caseworker understands, what is wrong.

/// Input that breaks a rule. `field` names the input field (as the API spells it) so
/// that a client can point at it; `message` reads on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error, with its field placed under `prefix` (`goals.0` + `description`).
    #[must_use]
    pub fn under(self, prefix: &str) -> Self {
        Self { field: format!("{prefix}.{}", self.field), message: self.message }
    }
}

/// A value that failed to parse, before the caller says which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    /// Names the field this value came from.
    pub fn at(self, field: &str) -> ValidationError {
        ValidationError::new(field, self.0)
    }
}

/// Attaches a field name to a parse result.
pub trait AtField<T> {
    fn at(self, field: &str) -> Result<T, ValidationError>;
}

impl<T> AtField<T> for Result<T, InvalidValue> {
    fn at(self, field: &str) -> Result<T, ValidationError> {
        self.map_err(|e| e.at(field))
    }
}

/// A stored string that names no value of a closed set: a corrupted row or an unknown
/// enum value from outside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a known {type_name}")]
pub struct UnknownValue {
    pub type_name: &'static str,
    pub value: String,
}

/// A record in a state that does not allow the requested change, such as cancelling a
/// visit that was already held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransitionError(pub String);
