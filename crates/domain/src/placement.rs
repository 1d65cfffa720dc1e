//! Placements of a child out of home (001).

use chrono::NaiveDate;

use crate::error::{AtField, ValidationError};
use crate::ids::{OrganizationId, PlacementId};
use crate::string_enum;
use crate::text::ExternalId;

string_enum!(
    /// Where the child lives.
    PlacementSetting {
        FosterFamily => "FOSTER_FAMILY",
        KinshipCare => "KINSHIP_CARE",
        ResidentialInstitution => "RESIDENTIAL_INSTITUTION",
        OwnRoom => "OWN_ROOM",
        Other => "OTHER",
    }
);

string_enum!(
    /// Why a placement ended.
    PlacementEndReason {
        /// The child returned home (hjemgivelse).
        ReturnedHome => "RETURNED_HOME",
        /// The child moved to another placement.
        Moved => "MOVED",
        /// The child came of age.
        AgedOut => "AGED_OUT",
        Other => "OTHER",
    }
);

/// The days a child lives at a placement: from `start` up to, but not including, `end`.
/// A placement that ends on the day the next one starts does not overlap it, so that a
/// move within one day is recorded as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

impl Period {
    /// Whether the two periods share a day.
    pub fn overlaps(&self, other: &Period) -> bool {
        let starts_before_other_ends = other.end.is_none_or(|end| self.start < end);
        let other_starts_before_this_ends = self.end.is_none_or(|end| other.start < end);
        starts_before_other_ends && other_starts_before_this_ends && !self.is_empty() && !other.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.end == Some(self.start)
    }

    /// Whether `day` falls within the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && self.end.is_none_or(|end| day < end)
    }
}

/// How a placement ended. End date and reason always come together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementEnd {
    pub date: NaiveDate,
    pub reason: PlacementEndReason,
}

/// A placement to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlacement {
    pub external_id: Option<ExternalId>,
    pub provider_id: Option<OrganizationId>,
    pub setting: PlacementSetting,
    pub voluntary: bool,
    pub decision_date: NaiveDate,
    pub start_date: NaiveDate,
    pub end: Option<PlacementEnd>,
}

/// The raw parts of a placement, as received.
#[derive(Debug, Clone, Copy)]
pub struct PlacementInput<'a> {
    pub external_id: Option<&'a str>,
    pub provider_id: Option<OrganizationId>,
    pub setting: PlacementSetting,
    pub voluntary: bool,
    pub decision_date: NaiveDate,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub end_reason: Option<PlacementEndReason>,
}

impl NewPlacement {
    /// Validates the dates: the decision comes no later than the start, the end (with its
    /// reason) no earlier than the start.
    pub fn parse(input: PlacementInput<'_>) -> Result<Self, ValidationError> {
        let external_id = input.external_id.map(ExternalId::parse).transpose().at("externalId")?;
        if input.decision_date > input.start_date {
            return Err(ValidationError::new("startDate", "a placement cannot start before it was decided"));
        }
        let end = match (input.end_date, input.end_reason) {
            (None, None) => None,
            (Some(date), Some(reason)) => {
                if date < input.start_date {
                    return Err(ValidationError::new("endDate", "a placement cannot end before it starts"));
                }
                Some(PlacementEnd { date, reason })
            }
            (Some(_), None) => return Err(ValidationError::new("endReason", "an ended placement needs an end reason")),
            (None, Some(_)) => return Err(ValidationError::new("endDate", "an end reason needs an end date")),
        };
        Ok(Self {
            external_id,
            provider_id: input.provider_id,
            setting: input.setting,
            voluntary: input.voluntary,
            decision_date: input.decision_date,
            start_date: input.start_date,
            end,
        })
    }

    pub fn period(&self) -> Period {
        Period { start: self.start_date, end: self.end.map(|e| e.date) }
    }
}

/// A child's placements never overlap in time: refuses `new` if it shares a day with any
/// of the child's `existing` placements, naming the one it collides with.
pub fn ensure_no_overlap(new: &Period, existing: &[(PlacementId, Period)]) -> Result<(), ValidationError> {
    match existing.iter().find(|(_, p)| p.overlaps(new)) {
        Some((id, p)) => Err(ValidationError::new(
            "startDate",
            format!(
                "the child is already placed from {} {} (placement {id}); a child's placements never overlap",
                p.start,
                p.end.map_or_else(|| "with no end date".to_owned(), |e| format!("until {e}"))
            ),
        )),
        None => Ok(()),
    }
}

/// A placement is a cross-municipality placement when a parent lives in another
/// municipality than the placing one (001: coordination across municipalities).
pub fn is_cross_municipality(placing: OrganizationId, parent_residences: &[OrganizationId]) -> bool {
    parent_residences.iter().any(|r| *r != placing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn input() -> PlacementInput<'static> {
        PlacementInput {
            external_id: None,
            provider_id: None,
            setting: PlacementSetting::FosterFamily,
            voluntary: true,
            decision_date: d("2026-01-10"),
            start_date: d("2026-01-15"),
            end_date: None,
            end_reason: None,
        }
    }

    #[test]
    fn a_placement_cannot_start_before_it_was_decided() {
        let mut i = input();
        i.start_date = d("2026-01-09");
        assert_eq!(NewPlacement::parse(i).unwrap_err().field, "startDate");
    }

    #[test]
    fn a_placement_cannot_end_before_it_starts() {
        let mut i = input();
        i.end_date = Some(d("2026-01-14"));
        i.end_reason = Some(PlacementEndReason::Moved);
        assert_eq!(NewPlacement::parse(i).unwrap_err().field, "endDate");
    }

    #[test]
    fn an_end_date_and_an_end_reason_come_together() {
        let mut i = input();
        i.end_date = Some(d("2026-03-01"));
        assert_eq!(NewPlacement::parse(i).unwrap_err().field, "endReason");
        let mut i = input();
        i.end_reason = Some(PlacementEndReason::ReturnedHome);
        assert_eq!(NewPlacement::parse(i).unwrap_err().field, "endDate");
    }

    #[test]
    fn placements_of_one_child_never_overlap() {
        let open = Period { start: d("2026-01-15"), end: None };
        let later = Period { start: d("2026-06-01"), end: Some(d("2026-07-01")) };
        let err = ensure_no_overlap(&later, &[(PlacementId::new(), open)]).unwrap_err();
        assert_eq!(err.field, "startDate");
        assert!(err.message.contains("never overlap"));

        let earlier = Period { start: d("2025-01-01"), end: Some(d("2025-12-31")) };
        assert!(ensure_no_overlap(&earlier, &[(PlacementId::new(), open)]).is_ok());
    }

    #[test]
    fn a_move_on_the_day_one_placement_ends_is_not_an_overlap() {
        let first = Period { start: d("2026-01-15"), end: Some(d("2026-05-01")) };
        let second = Period { start: d("2026-05-01"), end: None };
        assert!(!first.overlaps(&second));
        assert!(!second.overlaps(&first));
        let day_before = Period { start: d("2026-04-30"), end: None };
        assert!(first.overlaps(&day_before));
    }

    #[test]
    fn a_placement_is_cross_municipality_when_a_parent_lives_elsewhere() {
        let placing = OrganizationId::new();
        let other = OrganizationId::new();
        assert!(!is_cross_municipality(placing, &[placing]));
        assert!(is_cross_municipality(placing, &[placing, other]));
        assert!(!is_cross_municipality(placing, &[]));
    }
}
