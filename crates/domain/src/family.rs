//! Families and their members.

use chrono::NaiveDate;

use crate::error::{AtField, ValidationError};
use crate::ids::OrganizationId;
use crate::string_enum;
use crate::text::{ExternalId, Name};

string_enum!(
    /// A member's place in the family.
    FamilyRole {
        Child => "CHILD",
        Parent => "PARENT",
        PrimaryCaregiver => "PRIMARY_CAREGIVER",
        OtherParent => "OTHER_PARENT",
        Partner => "PARTNER",
        Sibling => "SIBLING",
        Grandparent => "GRANDPARENT",
        /// A confidant of the child: teacher, neighbour, youth worker, friend.
        KeyPerson => "KEY_PERSON",
    }
);

impl FamilyRole {
    /// The parents whose support Kinbridge exists for. Their residence municipality
    /// decides whether a placement crosses municipalities, so it is always recorded.
    pub const fn is_parent(self) -> bool {
        matches!(self, FamilyRole::Parent | FamilyRole::PrimaryCaregiver | FamilyRole::OtherParent)
    }
}

/// The family roles a person must hold beside a client, in a family the client belongs
/// to, to take part as each rule says: a KOPP interview's partner is the client's partner
/// or the child's other parent, its confidant is a key person of the child (000, 001); the
/// other parent supported is a parent of the child, never the child; a notified key person
/// is a key person of the family.
pub mod beside {
    use super::FamilyRole::{self, *};

    pub const KOPP_PARTNER: &[FamilyRole] = &[Partner, Parent, OtherParent, PrimaryCaregiver];
    pub const CHILD_CONFIDANT: &[FamilyRole] = &[KeyPerson];
    pub const OTHER_PARENT: &[FamilyRole] = &[Parent, OtherParent, PrimaryCaregiver];
    pub const KEY_PERSON: &[FamilyRole] = &[KeyPerson];
}

/// Checks that a person holds one of the `needed` roles among `held`, the roles they have
/// in the client's families; `what` names the part they are to play.
pub fn ensure_role_beside(
    field: &str,
    held: &[FamilyRole],
    needed: &[FamilyRole],
    what: &str,
) -> Result<(), ValidationError> {
    if held.iter().any(|r| needed.contains(r)) {
        return Ok(());
    }
    let needed: Vec<&str> = needed.iter().map(|r| r.as_str()).collect();
    let message = if held.is_empty() {
        format!("is not a member of the client's family; {what} is one of its members ({})", needed.join(", "))
    } else {
        format!("{what} is a member of the client's family as {}", needed.join(", "))
    };
    Err(ValidationError::new(field, message))
}

/// A family to register under the caller's municipality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFamily {
    /// The municipality's own case id, unique within the municipality.
    pub external_id: Option<ExternalId>,
    /// How caseworkers refer to the family, such as "Hansen".
    pub name: Name,
    /// Whom other agencies contact about the family: the responsible caseworker's name
    /// and phone or e-mail.
    pub caseworker_contact: Option<Name>,
}

impl NewFamily {
    pub fn parse(external_id: Option<&str>, name: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            external_id: external_id.map(ExternalId::parse).transpose().at("externalId")?,
            name: Name::parse(name).at("name")?,
            caseworker_contact: None,
        })
    }

    /// The same family, with the caseworker to contact.
    pub fn with_contact(self, contact: Option<&str>) -> Result<Self, ValidationError> {
        Ok(Self { caseworker_contact: contact.map(Name::parse).transpose().at("caseworkerContact")?, ..self })
    }
}

/// A person's membership of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub role: FamilyRole,
    /// Where the member lives, for adults. Required for parents.
    pub residence_municipality_id: Option<OrganizationId>,
}

impl Membership {
    pub fn new(role: FamilyRole, residence_municipality_id: Option<OrganizationId>) -> Result<Self, ValidationError> {
        if role.is_parent() && residence_municipality_id.is_none() {
            return Err(ValidationError::new(
                "residenceMunicipalityId",
                "a parent's residence municipality is required, so that cross-municipality placements are known",
            ));
        }
        Ok(Self { role, residence_municipality_id })
    }
}

string_enum!(
    /// Where a family stands with its placements, as of today: the first that holds of
    /// `PLACED` (a placement is under way), `PLACEMENT_DECIDED` (one starts later),
    /// `PLACEMENT_ENDED` (every placement has ended: the follow-up after a return home)
    /// and `NO_PLACEMENT` (support without a placement, or before one).
    FamilyStatus {
        Placed => "PLACED",
        PlacementDecided => "PLACEMENT_DECIDED",
        PlacementEnded => "PLACEMENT_ENDED",
        NoPlacement => "NO_PLACEMENT",
    }
);

impl FamilyStatus {
    /// The status of a family whose placements run over these `(start, end)` dates. A
    /// placement ends at the start of its end date.
    pub fn of(placements: impl IntoIterator<Item = (NaiveDate, Option<NaiveDate>)>, today: NaiveDate) -> Self {
        let (mut any, mut later) = (false, false);
        for (start, end) in placements {
            any = true;
            let ended = end.is_some_and(|end| end <= today);
            if start <= today && !ended {
                return Self::Placed;
            }
            later |= start > today && !ended;
        }
        match (any, later) {
            (_, true) => Self::PlacementDecided,
            (true, false) => Self::PlacementEnded,
            (false, false) => Self::NoPlacement,
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_family_is_placed_while_a_placement_is_under_way() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = d("2026-12-01");
        let of = |p: &[(&str, Option<&str>)]| FamilyStatus::of(p.iter().map(|(s, e)| (d(s), e.map(d))), today);
        assert_eq!(of(&[]), FamilyStatus::NoPlacement);
        assert_eq!(of(&[("2026-01-01", None)]), FamilyStatus::Placed);
        assert_eq!(of(&[("2026-12-01", Some("2026-12-02"))]), FamilyStatus::Placed);
        assert_eq!(of(&[("2026-01-01", Some("2026-12-01"))]), FamilyStatus::PlacementEnded, "it ended this morning");
        assert_eq!(of(&[("2026-01-01", Some("2026-06-01")), ("2027-01-01", None)]), FamilyStatus::PlacementDecided);
        assert_eq!(of(&[("2027-01-01", None), ("2026-01-01", None)]), FamilyStatus::Placed);
    }

    use super::*;

    #[test]
    fn a_parent_without_a_residence_municipality_is_refused() {
        for role in FamilyRole::ALL.iter().filter(|r| r.is_parent()) {
            assert_eq!(Membership::new(*role, None).unwrap_err().field, "residenceMunicipalityId");
            assert!(Membership::new(*role, Some(OrganizationId::new())).is_ok());
        }
    }

    #[test]
    fn a_child_or_key_person_needs_no_residence_municipality() {
        assert!(Membership::new(FamilyRole::Child, None).is_ok());
        assert!(Membership::new(FamilyRole::KeyPerson, None).is_ok());
    }

    #[test]
    fn a_family_names_the_field_that_is_wrong() {
        assert_eq!(NewFamily::parse(Some(""), "Hansen").unwrap_err().field, "externalId");
        assert_eq!(NewFamily::parse(None, " ").unwrap_err().field, "name");
        assert!(NewFamily::parse(Some("SAG-1"), "Hansen").is_ok());
    }

    #[test]
    fn a_participant_holds_the_role_the_rule_needs_in_the_clients_family() {
        use super::beside;
        assert!(ensure_role_beside("x", &[FamilyRole::KeyPerson], beside::CHILD_CONFIDANT, "a confidant").is_ok());
        let child = ensure_role_beside("otherParentId", &[FamilyRole::Child], beside::OTHER_PARENT, "the other parent");
        assert_eq!(child.unwrap_err().field, "otherParentId", "the child is never the other parent");
        let stranger = ensure_role_beside("keyPersonId", &[], beside::KEY_PERSON, "a key person").unwrap_err();
        assert!(stranger.message.contains("not a member"), "{}", stranger.message);
        assert!(ensure_role_beside("x", &[FamilyRole::OtherParent], beside::KOPP_PARTNER, "the partner").is_ok());
    }
}
