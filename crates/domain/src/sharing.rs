//! Sharing between agencies: referrals and consents (001, 000, 002).

use chrono::NaiveDate;

use crate::error::ValidationError;
use crate::family::FamilyRole;
use crate::organization::OrganizationKind;
use crate::string_enum;

string_enum!(
    /// What a consent allows. The parents decide what is shared beyond the responsible
    /// municipality; consent is checked when data is read, so a revocation takes effect
    /// on the next request.
    ConsentPurpose {
        /// The placement provider may see the parents' plan goals (001: the placement site
        /// is informed of the parents' goals with their consent).
        SharePlanGoalsWithPlacementProvider => "SHARE_PLAN_GOALS_WITH_PLACEMENT_PROVIDER",
        /// Key people around the child may be notified (000: ask the client's permission first).
        NotifyKeyPeople => "NOTIFY_KEY_PEOPLE",
        /// The municipality where the parents live may see the plan goals (001: coordination
        /// across municipalities).
        ShareWithResidenceMunicipality => "SHARE_WITH_RESIDENCE_MUNICIPALITY",
        /// A family partner may be told about the family (002).
        ShareWithFamilyPartner => "SHARE_WITH_FAMILY_PARTNER",
        /// The responsible municipality may read the parental-role support that the
        /// professional treating the client (at a family services provider or a mental
        /// health authority) records as that organisation's own (000).
        ShareParentalSupportWithMunicipality => "SHARE_PARENTAL_SUPPORT_WITH_MUNICIPALITY",
    }
);

impl ConsentPurpose {
    /// The kind of organisation a consent for this purpose goes to; `None` when the
    /// recipient is the organisation that records the consent itself.
    pub const fn recipient_kind(self) -> Option<OrganizationKind> {
        match self {
            Self::SharePlanGoalsWithPlacementProvider => Some(OrganizationKind::PlacementProvider),
            Self::NotifyKeyPeople => None,
            Self::ShareWithResidenceMunicipality => Some(OrganizationKind::Municipality),
            Self::ShareWithFamilyPartner => Some(OrganizationKind::MentalHealthAuthority),
            Self::ShareParentalSupportWithMunicipality => Some(OrganizationKind::Municipality),
        }
    }

    /// Whether an organisation that treats the client but does not own their record (a
    /// family services provider the family is referred to) records consents for this
    /// purpose: those about its own records. The others are the responsible
    /// municipality's to record.
    pub const fn recorded_by_the_treating_provider(self) -> bool {
        matches!(self, Self::ShareParentalSupportWithMunicipality | Self::NotifyKeyPeople)
    }
}

/// When a referral gives a family services provider access: from `starts_on` up to, not
/// including, `ends_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralPeriod {
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

impl ReferralPeriod {
    pub fn new(starts_on: NaiveDate, ends_on: Option<NaiveDate>) -> Result<Self, ValidationError> {
        if ends_on.is_some_and(|end| end <= starts_on) {
            return Err(ValidationError::new("endsOn", "a referral ends after it starts"));
        }
        Ok(Self { starts_on, ends_on })
    }

    /// Whether the provider has access on `day`. Access ends with the referral.
    pub fn is_active(&self, day: NaiveDate) -> bool {
        self.starts_on <= day && self.ends_on.is_none_or(|end| day < end)
    }
}

/// A consent as recorded: when it was given and, if so, when revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentRecord {
    pub purpose: ConsentPurpose,
    pub given_on: NaiveDate,
    pub revoked_on: Option<NaiveDate>,
}

impl ConsentRecord {
    /// Whether the consent stands on `day`: given by then, and not revoked by then.
    pub fn stands_on(&self, day: NaiveDate) -> bool {
        self.given_on <= day && self.revoked_on.is_none_or(|revoked| day < revoked)
    }
}

/// Key people are notified only with the client's permission, asked first (000: "However,
/// ask for the client's permission first"). Refuses a notification on `day` unless one of
/// the client's consents to notify key people stands then.
pub fn ensure_may_notify_key_people(consents: &[ConsentRecord], day: NaiveDate) -> Result<(), ValidationError> {
    if consents.iter().any(|c| c.purpose == ConsentPurpose::NotifyKeyPeople && c.stands_on(day)) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "clientId",
            "the client has not given permission to notify key people; ask the client first and record the consent",
        ))
    }
}

/// The age from which a young person gives consent about their own case, as their
/// organisation configures it (`kinbridge organizations configure`). Below it, an adult
/// with parental responsibility gives consent for the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentAge(u8);

impl ConsentAge {
    /// Unless the organisation says otherwise: from 15, when a young person in Denmark
    /// becomes a party to their own case.
    pub const DEFAULT: Self = Self(15);
    /// Adulthood: from here everyone gives consent on their own behalf.
    pub const ADULT: u8 = 18;

    /// An age from 12 to 18.
    pub fn new(years: i64) -> Result<Self, ValidationError> {
        match u8::try_from(years) {
            Ok(y) if (12..=Self::ADULT).contains(&y) => Ok(Self(y)),
            _ => Err(ValidationError::new("youngPersonConsentAge", "is an age from 12 to 18")),
        }
    }

    pub const fn years(self) -> u8 {
        self.0
    }
}

/// Who may give a consent (001, 002: the parents decide what is shared): an adult member
/// of the family with parental responsibility (a parent, the other parent or the primary
/// caregiver, or the caregiver named on a mental health authority's eligibility record),
/// or the young person themself from the age the organisation configures. `roles` are the
/// roles the person holds in the organisation's families and eligibility records; a
/// parent whose birth date is not recorded is taken to be an adult, a young person's age
/// must be known. Anyone else is refused on `personId`.
pub fn ensure_may_give_consent(
    roles: &[FamilyRole],
    birth_date: Option<NaiveDate>,
    given_on: NaiveDate,
    young_person_age: ConsentAge,
) -> Result<(), ValidationError> {
    let age = birth_date.map(|born| given_on.years_since(born).unwrap_or(0));
    let refuse = |message: String| Err(ValidationError::new("personId", message));
    if roles.iter().any(|r| r.is_parent()) {
        return match age {
            Some(years) if years < u32::from(ConsentAge::ADULT) => refuse(format!(
                "is {years} on {given_on}; a parent gives consent for the family from the age of {}",
                ConsentAge::ADULT
            )),
            _ => Ok(()),
        };
    }
    if roles.contains(&FamilyRole::Child) {
        let from = young_person_age.years();
        return match age {
            Some(years) if years >= u32::from(from) => Ok(()),
            Some(years) => refuse(format!(
                "is {years} on {given_on}; a young person gives consent from the age of {from} \
                 (the organisation's setting), before that a parent with parental responsibility does"
            )),
            None => refuse(format!(
                "has no birth date; a young person gives consent from the age of {from}, so their age must be recorded"
            )),
        };
    }
    refuse(
        "is neither a parent with parental responsibility nor a young person of the organisation's families; \
         a consent is given by one of them"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn access_by_referral_ends_with_the_referral() {
        let r = ReferralPeriod::new(d("2026-01-01"), Some(d("2026-07-01"))).unwrap();
        assert!(!r.is_active(d("2025-12-31")));
        assert!(r.is_active(d("2026-01-01")));
        assert!(r.is_active(d("2026-06-30")));
        assert!(!r.is_active(d("2026-07-01")));
    }

    #[test]
    fn a_referral_ends_after_it_starts() {
        assert_eq!(ReferralPeriod::new(d("2026-01-01"), Some(d("2026-01-01"))).unwrap_err().field, "endsOn");
        assert!(ReferralPeriod::new(d("2026-01-01"), None).unwrap().is_active(d("2030-01-01")));
    }

    #[test]
    fn a_key_person_is_notified_only_with_the_clients_consent_asked_first() {
        let day = d("2026-05-01");
        assert!(ensure_may_notify_key_people(&[], day).is_err());
        let given =
            ConsentRecord { purpose: ConsentPurpose::NotifyKeyPeople, given_on: d("2026-04-01"), revoked_on: None };
        assert!(ensure_may_notify_key_people(&[given], day).is_ok());
        let later = ConsentRecord { given_on: d("2026-05-02"), ..given };
        assert!(ensure_may_notify_key_people(&[later], day).is_err(), "permission comes before the notification");
        let revoked = ConsentRecord { revoked_on: Some(d("2026-04-15")), ..given };
        assert!(ensure_may_notify_key_people(&[revoked], day).is_err());
        let other = ConsentRecord { purpose: ConsentPurpose::ShareWithResidenceMunicipality, ..given };
        assert!(ensure_may_notify_key_people(&[other], day).is_err());
    }

    #[test]
    fn a_consent_goes_to_the_kind_of_organisation_its_purpose_names() {
        assert_eq!(
            ConsentPurpose::SharePlanGoalsWithPlacementProvider.recipient_kind(),
            Some(OrganizationKind::PlacementProvider)
        );
        assert_eq!(
            ConsentPurpose::ShareWithResidenceMunicipality.recipient_kind(),
            Some(OrganizationKind::Municipality)
        );
        assert_eq!(ConsentPurpose::NotifyKeyPeople.recipient_kind(), None);
    }

    #[test]
    fn a_consent_is_given_by_an_adult_with_parental_responsibility_or_a_young_person_old_enough() {
        use FamilyRole::*;
        let on = d("2026-06-01");
        let age = ConsentAge::DEFAULT;
        for parent in [Parent, OtherParent, PrimaryCaregiver] {
            assert!(ensure_may_give_consent(&[parent], None, on, age).is_ok(), "{parent:?} without a birth date");
            assert!(ensure_may_give_consent(&[parent], Some(d("2008-06-01")), on, age).is_ok(), "18 that day");
            let minor = ensure_may_give_consent(&[parent], Some(d("2008-06-02")), on, age).unwrap_err();
            assert_eq!(minor.field, "personId", "a parent of 17 does not consent for the family");
        }
        assert!(ensure_may_give_consent(&[Child], Some(d("2011-06-01")), on, age).is_ok(), "15 that day");
        assert!(ensure_may_give_consent(&[Child], Some(d("2011-06-02")), on, age).is_err(), "14");
        assert!(ensure_may_give_consent(&[Child], None, on, age).is_err(), "a young person's age must be known");
        let younger = ConsentAge::new(12).unwrap();
        assert!(ensure_may_give_consent(&[Child], Some(d("2014-01-01")), on, younger).is_ok());
        for other in [Partner, Sibling, Grandparent, KeyPerson] {
            let e = ensure_may_give_consent(&[other], Some(d("1970-01-01")), on, age).unwrap_err();
            assert_eq!(e.field, "personId", "{other:?} has no parental responsibility");
        }
        assert!(ensure_may_give_consent(&[], None, on, age).is_err(), "not a member of any family");
        assert!(ensure_may_give_consent(&[KeyPerson, Parent], None, on, age).is_ok(), "any role that allows it");
    }

    #[test]
    fn the_consent_age_is_from_12_to_18() {
        assert!(ConsentAge::new(11).is_err());
        assert_eq!(ConsentAge::new(12).unwrap().years(), 12);
        assert_eq!(ConsentAge::new(18).unwrap().years(), 18);
        assert!(ConsentAge::new(19).is_err());
        assert!(ConsentAge::new(-1).is_err());
        assert!(ConsentAge::new(i64::MAX).is_err());
    }
}
