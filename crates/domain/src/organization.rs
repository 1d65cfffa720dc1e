//! Organisations: the only records that are not owned by another organisation.

use crate::error::{AtField, ValidationError};
use crate::string_enum;
use crate::text::{ExternalId, Name};

string_enum!(
    /// What an organisation is; it decides what the organisation may see.
    OrganizationKind {
        /// Places children and owns their cases; is also where parents live.
        Municipality => "MUNICIPALITY",
        /// Foster family agency or institution where a child lives.
        PlacementProvider => "PLACEMENT_PROVIDER",
        /// Partner agency: family therapists, visit supervisors, support persons.
        FamilyServicesProvider => "FAMILY_SERVICES_PROVIDER",
        /// Local mental (behavioural) health authority employing family partners.
        MentalHealthAuthority => "MENTAL_HEALTH_AUTHORITY",
    }
);

/// An organisation to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    pub kind: OrganizationKind,
    pub name: Name,
    /// Official code, such as a municipality number; unique within a kind.
    pub code: ExternalId,
}

impl NewOrganization {
    pub fn parse(kind: OrganizationKind, name: &str, code: &str) -> Result<Self, ValidationError> {
        Ok(Self { kind, name: Name::parse(name).at("name")?, code: ExternalId::parse(code).at("code")? })
    }
}
