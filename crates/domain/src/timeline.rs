//! A family's timeline: what happened to the family across agencies, in one chronological
//! list (000, 001: support starts with the decision, offers are repeated, visits are
//! followed up, plans are reviewed).

use crate::string_enum;

string_enum!(
    /// What happened. Events on the same moment are listed in this order.
    TimelineKind {
        /// The placing municipality decided the placement.
        PlacementDecided => "PLACEMENT_DECIDED",
        /// The child moved to the placement.
        PlacementStarted => "PLACEMENT_STARTED",
        /// The family was referred to a family services provider.
        ReferralStarted => "REFERRAL_STARTED",
        /// A person gave a consent.
        ConsentGiven => "CONSENT_GIVEN",
        /// Support was offered to the parents.
        SupportOffered => "SUPPORT_OFFERED",
        /// Support of a kind the parents declined before was offered again.
        SupportReoffered => "SUPPORT_REOFFERED",
        /// The parents accepted an offer.
        SupportAccepted => "SUPPORT_ACCEPTED",
        /// The parents declined an offer.
        SupportDeclined => "SUPPORT_DECLINED",
        /// A contact visit was planned (when it was recorded, or at the latest when it
        /// was to begin).
        VisitPlanned => "VISIT_PLANNED",
        /// A contact visit took place (when it was to begin).
        VisitHeld => "VISIT_HELD",
        /// A visitor did not come (when the visit was to begin).
        VisitNoShow => "VISIT_NO_SHOW",
        /// A contact visit was cancelled (when, and by whom).
        VisitCancelled => "VISIT_CANCELLED",
        /// A plan meeting or status meeting was held.
        ReviewHeld => "REVIEW_HELD",
        /// A family partner served a caregiver of the family (002).
        FamilyPartnerServiceDelivered => "FAMILY_PARTNER_SERVICE_DELIVERED",
        /// A consent was revoked.
        ConsentRevoked => "CONSENT_REVOKED",
        /// A referral ended.
        ReferralEnded => "REFERRAL_ENDED",
        /// The placement ended.
        PlacementEnded => "PLACEMENT_ENDED",
    }
);

impl TimelineKind {
    /// Where events of this kind go among events of the same moment.
    pub fn rank(self) -> i32 {
        Self::ALL.iter().position(|k| *k == self).and_then(|i| i32::try_from(i).ok()).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_one_moment_follow_the_course_of_a_case() {
        assert!(TimelineKind::PlacementDecided.rank() < TimelineKind::PlacementStarted.rank());
        assert!(TimelineKind::SupportOffered.rank() < TimelineKind::SupportDeclined.rank());
        assert!(TimelineKind::VisitPlanned.rank() < TimelineKind::VisitCancelled.rank());
        assert!(TimelineKind::ConsentGiven.rank() < TimelineKind::ConsentRevoked.rank());
        assert_eq!(TimelineKind::PlacementEnded.rank(), i32::try_from(TimelineKind::ALL.len()).unwrap() - 1);
    }
}
