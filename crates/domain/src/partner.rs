//! Family partners of mental health authorities, who serve the primary caregiver of a
//! child eligible for services there (002).

use chrono::NaiveDate;

use crate::error::{InvalidValue, ValidationError};
use crate::ids::PersonId;
use crate::placement::Period;
use crate::string_enum;

string_enum!(
    /// Whether a family partner has completed certified family partner training.
    CertificationStatus {
        Certified => "CERTIFIED",
        /// Waiting to complete approved training, by a deadline.
        PendingCertification => "PENDING_CERTIFICATION",
    }
);

string_enum!(
    /// What a family partner service was.
    ServiceActivity {
        /// Introducing the family to the mental health treatment process.
        OrientationToTreatment => "ORIENTATION_TO_TREATMENT",
        /// Modelling advocacy skills.
        AdvocacyModeling => "ADVOCACY_MODELING",
        /// Providing information.
        Information => "INFORMATION",
        /// Making referrals.
        Referral => "REFERRAL",
        /// Providing skills training.
        SkillsTraining => "SKILLS_TRAINING",
        /// Helping to identify supports for the child and family.
        IdentifySupports => "IDENTIFY_SUPPORTS",
    }
);

/// A family partner's certification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certification {
    Certified { certified_on: NaiveDate, renewal_due: NaiveDate },
    Pending { training_deadline: NaiveDate },
}

impl Certification {
    pub fn parse(
        status: CertificationStatus,
        certified_on: Option<NaiveDate>,
        renewal_due: Option<NaiveDate>,
        training_deadline: Option<NaiveDate>,
    ) -> Result<Self, ValidationError> {
        match status {
            CertificationStatus::Certified => {
                let certified_on = certified_on.ok_or_else(|| {
                    ValidationError::new("certifiedOn", "a certified partner needs a certification date")
                })?;
                let renewal_due = renewal_due
                    .ok_or_else(|| ValidationError::new("renewalDue", "a certified partner needs a renewal date"))?;
                if renewal_due <= certified_on {
                    return Err(ValidationError::new("renewalDue", "renewal falls after certification"));
                }
                Ok(Self::Certified { certified_on, renewal_due })
            }
            CertificationStatus::PendingCertification => {
                let training_deadline = training_deadline.ok_or_else(|| {
                    ValidationError::new(
                        "trainingDeadline",
                        "a partner pending certification needs a training deadline",
                    )
                })?;
                Ok(Self::Pending { training_deadline })
            }
        }
    }

    pub fn status(&self) -> CertificationStatus {
        match self {
            Self::Certified { .. } => CertificationStatus::Certified,
            Self::Pending { .. } => CertificationStatus::PendingCertification,
        }
    }

    /// The date that matters next: the renewal for a certified partner, the training
    /// deadline for one pending certification.
    pub fn deadline(&self) -> NaiveDate {
        match self {
            Self::Certified { renewal_due, .. } => *renewal_due,
            Self::Pending { training_deadline } => *training_deadline,
        }
    }

    /// A partner past the training deadline without certification gets no new
    /// assignment (002: services are provided by a certified family partner or one
    /// waiting to complete approved training). The deadline is judged by today, and by the
    /// assignment's start when that is later: a start date backdated to before the
    /// deadline does not make a partner who is past it eligible.
    pub fn ensure_may_take_assignment(&self, today: NaiveDate, starts_on: NaiveDate) -> Result<(), ValidationError> {
        let on = today.max(starts_on);
        match self {
            Self::Certified { .. } => Ok(()),
            Self::Pending { training_deadline } if on <= *training_deadline => Ok(()),
            Self::Pending { training_deadline } => Err(ValidationError::new(
                "familyPartnerId",
                format!(
                    "the family partner's deadline to complete approved training was {training_deadline} and they are not \
                     certified; they can take no new assignment"
                ),
            )),
        }
    }
}

/// The days a child is eligible for services at an authority.
pub fn eligibility_period(from: NaiveDate, to: Option<NaiveDate>) -> Result<Period, ValidationError> {
    if to.is_some_and(|to| to < from) {
        return Err(ValidationError::new("to", "eligibility cannot end before it starts"));
    }
    // Stored as inclusive `to`; the period is half-open, so it ends the day after.
    Ok(Period { start: from, end: to.and_then(|t| t.succ_opt()) })
}

/// Service minutes in one record: at least one, at most a working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceMinutes(u16);

impl ServiceMinutes {
    pub const MAX: u16 = 720;

    pub fn new(minutes: i64) -> Result<Self, InvalidValue> {
        u16::try_from(minutes)
            .ok()
            .filter(|m| (1..=Self::MAX).contains(m))
            .map(Self)
            .ok_or_else(|| InvalidValue(format!("must be from 1 to {} minutes", Self::MAX)))
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whole 15-minute units, the unit services are counted in.
    pub const fn whole_units(self) -> u16 {
        self.0 / 15
    }
}

/// The half-year (January to June, or July to December) that `day` falls in, as its
/// first day and the first day after it.
pub fn half_year_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    use chrono::Datelike;
    let (start_month, next) = if day.month() <= 6 { (1, (day.year(), 7)) } else { (7, (day.year() + 1, 1)) };
    let start = NaiveDate::from_ymd_opt(day.year(), start_month, 1).unwrap_or(day);
    let end = NaiveDate::from_ymd_opt(next.0, next.1, 1).unwrap_or(day);
    (start, end)
}

/// Service delivered to a caregiver in one half-year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HalfYearTotal {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub minutes: u32,
    /// Whole 15-minute units, counted per service record.
    pub units: u32,
}

/// Totals of service per half-year, oldest first.
pub fn totals_by_half_year(services: &[(NaiveDate, ServiceMinutes)]) -> Vec<HalfYearTotal> {
    let mut totals: Vec<HalfYearTotal> = Vec::new();
    for (day, minutes) in services {
        let (from, to) = half_year_of(*day);
        let total = match totals.iter_mut().find(|t| t.from == from) {
            Some(t) => t,
            None => {
                totals.push(HalfYearTotal { from, to, minutes: 0, units: 0 });
                totals.last_mut().expect("BUG: a total was just pushed")
            }
        };
        total.minutes += u32::from(minutes.get());
        total.units += u32::from(minutes.whole_units());
    }
    totals.sort_by_key(|t| t.from);
    totals
}

/// Family partner services go to the primary caregiver and are never provided directly to
/// the child (002). Refuses any recipient but the assignment's caregiver.
pub fn ensure_service_recipient(
    recipient: PersonId,
    caregiver: PersonId,
    child: PersonId,
) -> Result<(), ValidationError> {
    if recipient == child {
        return Err(ValidationError::new(
            "recipientId",
            "family partner services are delivered to the primary caregiver, never directly to the child",
        ));
    }
    if recipient != caregiver {
        return Err(ValidationError::new("recipientId", "services go to the primary caregiver of the assignment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_partner_past_the_training_deadline_without_certification_gets_no_new_assignment() {
        let pending =
            Certification::parse(CertificationStatus::PendingCertification, None, None, Some(d("2026-06-30"))).unwrap();
        assert!(pending.ensure_may_take_assignment(d("2026-06-01"), d("2026-06-30")).is_ok());
        let err = pending.ensure_may_take_assignment(d("2026-06-01"), d("2026-07-01")).unwrap_err();
        assert_eq!(err.field, "familyPartnerId");
    }

    #[test]
    fn the_training_deadline_is_judged_by_today_not_by_a_backdated_start() {
        let pending =
            Certification::parse(CertificationStatus::PendingCertification, None, None, Some(d("2026-06-30"))).unwrap();
        let err = pending.ensure_may_take_assignment(d("2026-11-22"), d("2026-03-01")).unwrap_err();
        assert_eq!(err.field, "familyPartnerId");
    }

    #[test]
    fn a_certified_partner_may_take_assignments() {
        let c =
            Certification::parse(CertificationStatus::Certified, Some(d("2025-01-01")), Some(d("2027-01-01")), None)
                .unwrap();
        assert!(c.ensure_may_take_assignment(d("2026-11-22"), d("2026-11-22")).is_ok());
    }

    #[test]
    fn a_certification_states_its_dates() {
        assert_eq!(
            Certification::parse(CertificationStatus::Certified, None, Some(d("2027-01-01")), None).unwrap_err().field,
            "certifiedOn"
        );
        assert_eq!(
            Certification::parse(CertificationStatus::Certified, Some(d("2027-01-01")), Some(d("2026-01-01")), None)
                .unwrap_err()
                .field,
            "renewalDue"
        );
        assert_eq!(
            Certification::parse(CertificationStatus::PendingCertification, None, None, None).unwrap_err().field,
            "trainingDeadline"
        );
    }

    #[test]
    fn a_family_partner_service_is_always_delivered_to_the_caregiver() {
        let caregiver = PersonId::new();
        let child = PersonId::new();
        assert!(ensure_service_recipient(caregiver, caregiver, child).is_ok());
        let err = ensure_service_recipient(child, caregiver, child).unwrap_err();
        assert!(err.message.contains("never directly to the child"));
        assert!(ensure_service_recipient(PersonId::new(), caregiver, child).is_err());
    }

    #[test]
    fn service_minutes_count_whole_fifteen_minute_units() {
        assert_eq!(ServiceMinutes::new(44).unwrap().whole_units(), 2);
        assert_eq!(ServiceMinutes::new(45).unwrap().whole_units(), 3);
        assert!(ServiceMinutes::new(0).is_err());
        assert!(ServiceMinutes::new(721).is_err());
    }

    #[test]
    fn service_hours_are_totalled_per_caregiver_per_six_months() {
        let m = |n| ServiceMinutes::new(n).unwrap();
        let totals = totals_by_half_year(&[
            (d("2026-07-02"), m(50)),
            (d("2026-02-10"), m(60)),
            (d("2026-06-30"), m(44)),
            (d("2026-12-31"), m(15)),
        ]);
        assert_eq!(
            totals,
            vec![
                HalfYearTotal { from: d("2026-01-01"), to: d("2026-07-01"), minutes: 104, units: 6 },
                HalfYearTotal { from: d("2026-07-01"), to: d("2027-01-01"), minutes: 65, units: 4 },
            ]
        );
    }

    #[test]
    fn a_partners_deadline_is_the_renewal_or_the_training_deadline() {
        let c =
            Certification::parse(CertificationStatus::Certified, Some(d("2025-01-01")), Some(d("2027-01-01")), None)
                .unwrap();
        assert_eq!(c.deadline(), d("2027-01-01"));
        let p =
            Certification::parse(CertificationStatus::PendingCertification, None, None, Some(d("2026-12-15"))).unwrap();
        assert_eq!(p.deadline(), d("2026-12-15"));
    }

    #[test]
    fn eligibility_includes_its_last_day() {
        let p = eligibility_period(d("2026-01-01"), Some(d("2026-12-31"))).unwrap();
        assert!(p.contains(d("2026-12-31")));
        assert!(!p.contains(d("2027-01-01")));
        assert!(eligibility_period(d("2026-01-01"), Some(d("2025-12-31"))).is_err());
    }
}
