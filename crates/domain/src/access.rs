//! Who is calling: the verified identity the API acts for.

use crate::ids::OrganizationId;
use crate::organization::OrganizationKind;
use crate::string_enum;

string_enum!(
    /// A role carried in the caller's token.
    Role {
        /// The municipality's case owner.
        Caseworker => "CASEWORKER",
        /// A manager of the municipality or agency.
        Manager => "MANAGER",
        /// A system-to-system integration, such as a municipal case system.
        Integration => "INTEGRATION",
        /// Works with the parents on their plan.
        FamilyTherapist => "FAMILY_THERAPIST",
        /// Supports or supervises contact visits.
        VisitSupervisor => "VISIT_SUPERVISOR",
        /// An independent support person offered to the parents.
        SupportPerson => "SUPPORT_PERSON",
        /// Staff of a placement provider.
        PlacementStaff => "PLACEMENT_STAFF",
        /// A family partner of a mental health authority.
        FamilyPartner => "FAMILY_PARTNER",
        /// Reads the audit trail of its own organisation, and no personal data.
        Auditor => "AUDITOR",
        /// The organisation's data-protection officer: reads the audit trail and answers
        /// a person's request for what the organisation holds about them (the subject
        /// access report), and no case data otherwise.
        DataProtectionOfficer => "DATA_PROTECTION_OFFICER",
    }
);

/// The caller of one request, established from a verified token and an organisation that
/// exists. Nothing in Kinbridge acts without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's subject: a person or a system at the organisation.
    pub subject: String,
    pub organization_id: OrganizationId,
    pub organization_kind: OrganizationKind,
    pub roles: Vec<Role>,
}

impl Actor {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller acts only as a family partner, and so sees only the
    /// assignments given to them (their token subject), not their authority's others.
    pub fn is_family_partner_only(&self) -> bool {
        self.has_role(Role::FamilyPartner)
            && self.roles.iter().all(|r| matches!(r, Role::FamilyPartner | Role::Auditor | Role::DataProtectionOfficer))
    }

    /// Whether this caller may read and write its organisation's personal data. An
    /// auditor reads the audit trail only; a data-protection officer the trail and the
    /// subject access report.
    pub fn handles_personal_data(&self) -> bool {
        self.roles.iter().any(|r| !r.oversees())
    }

    /// Whether the caller may read the audit trail and subject access reports of its
    /// organisation.
    pub fn oversees(&self) -> bool {
        self.roles.iter().any(|r| r.oversees())
    }
}

impl Role {
    /// The roles that oversee the organisation's handling of personal data rather than
    /// take part in it: they read the audit trail, not the cases.
    pub const fn oversees(self) -> bool {
        matches!(self, Role::Auditor | Role::DataProtectionOfficer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: Vec<Role>) -> Actor {
        Actor {
            subject: "s".into(),
            organization_id: OrganizationId::new(),
            organization_kind: OrganizationKind::Municipality,
            roles,
        }
    }

    #[test]
    fn an_auditor_alone_handles_no_personal_data() {
        assert!(!actor(vec![Role::Auditor]).handles_personal_data());
        assert!(!actor(vec![]).handles_personal_data());
        assert!(actor(vec![Role::Auditor, Role::Caseworker]).handles_personal_data());
        assert!(!actor(vec![Role::DataProtectionOfficer]).handles_personal_data());
        assert!(actor(vec![Role::DataProtectionOfficer]).oversees());
        assert!(!actor(vec![Role::Caseworker]).oversees());
    }

    #[test]
    fn roles_read_back_from_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        assert!("ADMIN".parse::<Role>().is_err());
    }
}
