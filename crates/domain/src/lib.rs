//! Kinbridge's domain: the types and rules of support to parents whose children are placed
//! out of home or receive mental-health services.
//!
//! **Invariant:** this crate does no I/O. It knows nothing of databases, HTTP or GraphQL;
//! every value that exists here is valid, so the layers above never check it again.
//! Rules that need "today" take it as an argument rather than reading the clock.

pub mod access;
pub mod error;
pub mod family;
pub mod ids;
pub mod macros;
pub mod organization;
pub mod parental;
pub mod partner;
pub mod person;
pub mod placement;
pub mod plan;
pub mod sharing;
pub mod text;
pub mod visit;
pub mod when;

pub use error::{TransitionError, ValidationError};
