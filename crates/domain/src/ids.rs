//! Typed identifiers. Each is a UUID (version 7, so that new rows sort by creation time
//! and B-tree indexes stay compact) with a short prefix in its public form, such as
//! `fam_0190f4c2…`. The public form is opaque to callers; the prefix lets the API refuse
//! a placement id given where a family id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::InvalidValue;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// The prefix of the public form.
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered identifier.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }
    };
}

fn parse_prefixed(s: &str, prefix: &str) -> Result<Uuid, InvalidValue> {
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| InvalidValue(format!("is not an id of the expected kind (`{prefix}_…`)")))?;
    // Only the 32-digit simple form is accepted, so that every record has one public id.
    if rest.len() != 32 {
        return Err(InvalidValue(format!("is not a well-formed `{prefix}_…` id")));
    }
    Uuid::try_parse(rest).map_err(|_| InvalidValue(format!("is not a well-formed `{prefix}_…` id")))
}

id_type!(/// An organisation: municipality, provider or authority.
    OrganizationId, "org");
id_type!(/// A person known to one organisation.
    PersonId, "per");
id_type!(/// A family, owned by its responsible municipality.
    FamilyId, "fam");
id_type!(/// One person's membership of one family.
    FamilyMemberId, "mem");
id_type!(/// A placement of a child out of home.
    PlacementId, "plc");
id_type!(/// A contact visit between a placed child and relatives.
    ContactVisitId, "vis");
id_type!(/// A parent action plan.
    ParentActionPlanId, "pln");
id_type!(/// A goal of a parent action plan.
    GoalId, "gol");
id_type!(/// A family partner of a mental health authority.
    FamilyPartnerId, "fpt");
id_type!(/// A child's eligibility for services at a mental health authority.
    ServiceEligibilityId, "elg");
id_type!(/// A family partner's assignment to a primary caregiver.
    FamilyPartnerAssignmentId, "fpa");
id_type!(/// One family partner service delivered to a caregiver.
    FamilyPartnerServiceId, "fps");
id_type!(/// A municipality's referral of a family to a family services provider.
    ReferralId, "ref");
id_type!(/// A person's consent to share, for a purpose, with an organisation.
    ConsentId, "con");
id_type!(/// A record that a key person around a child was notified.
    KeyPersonNotificationId, "kpn");
id_type!(/// A plan meeting or status meeting.
    PlanReviewId, "rev");
id_type!(/// Support offered to the parents of a placed child.
    SupportOfferId, "off");
id_type!(/// A concrete step under a goal.
    SubGoalId, "sgl");
id_type!(/// How often and how a placement's contact visits take place.
    VisitArrangementId, "arr");
id_type!(/// A dated note of how a client was supported as a parent.
    ParentalSupportNoteId, "psn");
id_type!(/// A KOPP (COPMI) prevention interview.
    KoppInterviewId, "kop");
id_type!(/// A record of one resilience pillar's status.
    PillarRecordId, "plr");
id_type!(/// A record of support given to the other parent.
    OtherParentSupportId, "ops");
id_type!(/// One helper on a family's network map.
    NetworkMapEntryId, "net");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_from_its_public_form() {
        let id = FamilyId::new();
        let text = id.to_string();
        assert!(text.starts_with("fam_"));
        assert_eq!(text.parse::<FamilyId>(), Ok(id));
    }

    #[test]
    fn an_id_of_another_kind_is_refused() {
        let placement = PlacementId::new().to_string();
        let err = placement.parse::<FamilyId>().unwrap_err();
        assert!(err.0.contains("fam_"), "{err}");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "fam", "fam_", "fam_xyz", "fam-0190f4c2", "FAM_0190f4c2a1b2c3d4e5f6a7b8c9d0e1f2"] {
            assert!(bad.parse::<FamilyId>().is_err(), "{bad}");
        }
        let hyphenated = format!("fam_{}", FamilyId::new().as_uuid().hyphenated());
        assert!(hyphenated.parse::<FamilyId>().is_err());
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let a = FamilyId::new();
        let b = FamilyId::new();
        assert!(a < b);
    }
}
