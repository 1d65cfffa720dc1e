//! Parent action plans (forældrehandleplan), made with the parents (001).

use chrono::NaiveDate;

use crate::error::{AtField, InvalidValue, TransitionError, ValidationError};
use crate::ids::GoalId;
use crate::string_enum;
use crate::text::{ExternalId, FreeText};

string_enum!(
    /// What a goal is for. It is shown to the parents, so that they can adjust their
    /// expectations: a goal for better contact is not a goal for return home.
    GoalPurpose {
        ImproveContact => "IMPROVE_CONTACT",
        /// Ending the placement (hjemgivelse).
        ReturnHome => "RETURN_HOME",
        ParentingSkills => "PARENTING_SKILLS",
        ParentWellbeing => "PARENT_WELLBEING",
        CooperationWithPlacement => "COOPERATION_WITH_PLACEMENT",
    }
);

string_enum!(
    /// Where a plan stands in its life.
    PlanStatus {
        /// Being made with the parents.
        Draft => "DRAFT",
        /// Agreed and followed up.
        Active => "ACTIVE",
        Closed => "CLOSED",
    }
);

impl PlanStatus {
    /// Moves a plan: a draft is agreed (`ACTIVE`) or abandoned (`CLOSED`); an active plan
    /// is closed. A closed plan stays closed: a new situation gets a new plan.
    pub fn transition(self, to: PlanStatus) -> Result<PlanStatus, TransitionError> {
        match (self, to) {
            (PlanStatus::Draft, PlanStatus::Active) | (PlanStatus::Draft | PlanStatus::Active, PlanStatus::Closed) => {
                Ok(to)
            }
            _ => Err(TransitionError(format!("a {} plan cannot become {}", self.as_str(), to.as_str()))),
        }
    }
}

string_enum!(
    /// How a plan was followed up (001: frequent plan meetings or informal status meetings).
    ReviewKind {
        PlanMeeting => "PLAN_MEETING",
        StatusMeeting => "STATUS_MEETING",
    }
);

/// Progress on a goal at a review, from 1 (none yet) to 5 (achieved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProgressScore(u8);

impl ProgressScore {
    pub fn new(score: i64) -> Result<Self, InvalidValue> {
        u8::try_from(score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .map(Self)
            .ok_or_else(|| InvalidValue("must be from 1 (no progress yet) to 5 (achieved)".into()))
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

/// Progress on one goal, recorded at a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalProgress {
    pub goal_id: GoalId,
    pub score: ProgressScore,
    pub note: Option<FreeText>,
}

/// A review of a plan: a meeting, progress per goal, adjustments, and the next review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub kind: ReviewKind,
    pub held_on: NaiveDate,
    pub note: Option<FreeText>,
    /// How the support is adjusted after the review.
    pub adjustments: Option<FreeText>,
    /// When to meet next; without it, one review interval after this review.
    pub next_review_on: Option<NaiveDate>,
    pub progress: Vec<GoalProgress>,
}

impl NewReview {
    /// Validates a review: held by today, the next review after it, each goal scored once.
    pub fn new(
        kind: ReviewKind,
        held_on: NaiveDate,
        note: Option<FreeText>,
        adjustments: Option<FreeText>,
        next_review_on: Option<NaiveDate>,
        progress: Vec<GoalProgress>,
        today: NaiveDate,
    ) -> Result<Self, ValidationError> {
        if held_on > today {
            return Err(ValidationError::new("heldOn", "a review is recorded once it has been held"));
        }
        if next_review_on.is_some_and(|next| next <= held_on) {
            return Err(ValidationError::new("nextReviewOn", "the next review comes after this one"));
        }
        for (i, p) in progress.iter().enumerate() {
            if progress[..i].iter().any(|q| q.goal_id == p.goal_id) {
                return Err(ValidationError::new(format!("progress.{i}.goalId"), "a goal is scored once per review"));
            }
        }
        Ok(Self { kind, held_on, note, adjustments, next_review_on, progress })
    }
}

/// When a plan is next due for review: the date the last review set, or one interval
/// after the last review, or, before any review, one interval after the plan started.
pub fn next_review_due(
    interval: ReviewInterval,
    started_on: NaiveDate,
    last_review: Option<(NaiveDate, Option<NaiveDate>)>,
) -> NaiveDate {
    match last_review {
        Some((_, Some(next))) => next,
        Some((held_on, None)) => interval.next_review_due(held_on),
        None => interval.next_review_due(started_on),
    }
}

/// Whether an active plan's review is overdue on `today`. Drafts and closed plans are
/// never overdue.
pub fn is_review_overdue(status: PlanStatus, due: NaiveDate, today: NaiveDate) -> bool {
    status == PlanStatus::Active && today > due
}

string_enum!(
    /// What is offered to the parents (001: a support person, the plan itself, and parent
    /// programmes).
    SupportOfferKind {
        SupportPerson => "SUPPORT_PERSON",
        ParentActionPlan => "PARENT_ACTION_PLAN",
        Pmto => "PMTO",
        IncredibleYears => "INCREDIBLE_YEARS",
        SteppingStones => "STEPPING_STONES",
        MentalizationBasedTherapy => "MENTALIZATION_BASED_THERAPY",
        SignsOfSafety => "SIGNS_OF_SAFETY",
        ParentNetwork => "PARENT_NETWORK",
    }
);

string_enum!(
    /// The parents' answer to an offer.
    OfferResponse {
        Pending => "PENDING",
        Accepted => "ACCEPTED",
        Declined => "DECLINED",
    }
);

/// The parents' answer to a pending offer. A declined offer gets a date to offer it
/// again, because the guidance says to repeat the offer when the parents are ready.
pub fn respond_to_offer(
    current: OfferResponse,
    offered_on: NaiveDate,
    response: OfferResponse,
    responded_on: NaiveDate,
    reoffer_on: Option<NaiveDate>,
) -> Result<(), ValidationError> {
    if current != OfferResponse::Pending {
        return Err(ValidationError::new("id", format!("the offer was already {}", current.as_str().to_lowercase())));
    }
    if responded_on < offered_on {
        return Err(ValidationError::new("respondedOn", "an answer comes after the offer"));
    }
    match (response, reoffer_on) {
        (OfferResponse::Pending, _) => Err(ValidationError::new("response", "answer ACCEPTED or DECLINED")),
        (OfferResponse::Declined, None) => Err(ValidationError::new(
            "reofferOn",
            "a declined offer needs a date to offer it again, when the parents may be ready",
        )),
        (OfferResponse::Declined, Some(on)) if on <= responded_on => {
            Err(ValidationError::new("reofferOn", "the new offer comes after the answer"))
        }
        (OfferResponse::Accepted, Some(_)) => {
            Err(ValidationError::new("reofferOn", "an accepted offer is not offered again"))
        }
        _ => Ok(()),
    }
}

/// Days from the placement decision to the first support offer: support should start
/// in immediate connection with the decision (001). Negative when offered before it.
pub fn days_from_decision_to_first_offer(decided_on: NaiveDate, first_offered_on: NaiveDate) -> i64 {
    (first_offered_on - decided_on).num_days()
}

/// Days between plan reviews (plan meetings or status meetings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReviewInterval(u16);

impl ReviewInterval {
    pub const MIN_DAYS: u16 = 7;
    pub const MAX_DAYS: u16 = 366;

    pub fn from_days(days: i64) -> Result<Self, InvalidValue> {
        u16::try_from(days)
            .ok()
            .filter(|d| (Self::MIN_DAYS..=Self::MAX_DAYS).contains(d))
            .map(Self)
            .ok_or_else(|| InvalidValue(format!("must be from {} to {} days", Self::MIN_DAYS, Self::MAX_DAYS)))
    }

    pub const fn days(self) -> u16 {
        self.0
    }

    /// When the next review is due, counted from the last review or, before the first,
    /// from the day the plan was made.
    pub fn next_review_due(self, last_review_or_start: NaiveDate) -> NaiveDate {
        last_review_or_start + chrono::Days::new(u64::from(self.0))
    }
}

/// A goal, written in the parents' own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGoal {
    pub description: FreeText,
    pub purpose: GoalPurpose,
}

impl NewGoal {
    pub fn parse(description: &str, purpose: GoalPurpose) -> Result<Self, ValidationError> {
        Ok(Self { description: FreeText::parse(description).at("description")?, purpose })
    }
}

/// A plan to make for the parents of a placed child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPlan {
    pub review_interval: ReviewInterval,
    /// The child's own plan in the municipal case system, so both plans can be
    /// coordinated.
    pub child_plan_reference: Option<ExternalId>,
    pub goals: Vec<NewGoal>,
}

impl NewPlan {
    /// The most goals a plan holds. A plan the parents can own is short.
    pub const MAX_GOALS: usize = 20;

    pub fn parse(
        review_interval_days: i64,
        child_plan_reference: Option<&str>,
        goals: Vec<NewGoal>,
    ) -> Result<Self, ValidationError> {
        if goals.len() > Self::MAX_GOALS {
            return Err(ValidationError::new("goals", format!("a plan has at most {} goals", Self::MAX_GOALS)));
        }
        Ok(Self {
            review_interval: ReviewInterval::from_days(review_interval_days).at("reviewIntervalDays")?,
            child_plan_reference: child_plan_reference.map(ExternalId::parse).transpose().at("childPlanReference")?,
            goals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_plan_goes_from_draft_to_active_to_closed_and_no_other_way() {
        assert_eq!(PlanStatus::Draft.transition(PlanStatus::Active), Ok(PlanStatus::Active));
        assert_eq!(PlanStatus::Active.transition(PlanStatus::Closed), Ok(PlanStatus::Closed));
        assert_eq!(PlanStatus::Draft.transition(PlanStatus::Closed), Ok(PlanStatus::Closed));
        assert!(PlanStatus::Closed.transition(PlanStatus::Active).is_err());
        assert!(PlanStatus::Active.transition(PlanStatus::Draft).is_err());
        assert!(PlanStatus::Active.transition(PlanStatus::Active).is_err());
    }

    #[test]
    fn the_next_review_is_set_by_the_last_review_or_one_interval_on() {
        let i = ReviewInterval::from_days(30).unwrap();
        assert_eq!(next_review_due(i, d("2026-01-01"), None), d("2026-01-31"));
        assert_eq!(next_review_due(i, d("2026-01-01"), Some((d("2026-02-10"), None))), d("2026-03-12"));
        assert_eq!(
            next_review_due(i, d("2026-01-01"), Some((d("2026-02-10"), Some(d("2026-02-24"))))),
            d("2026-02-24")
        );
    }

    #[test]
    fn only_an_active_plan_past_its_review_date_is_overdue() {
        assert!(is_review_overdue(PlanStatus::Active, d("2026-01-31"), d("2026-02-01")));
        assert!(!is_review_overdue(PlanStatus::Active, d("2026-01-31"), d("2026-01-31")));
        assert!(!is_review_overdue(PlanStatus::Draft, d("2026-01-31"), d("2026-03-01")));
        assert!(!is_review_overdue(PlanStatus::Closed, d("2026-01-31"), d("2026-03-01")));
    }

    #[test]
    fn a_review_is_held_before_it_is_recorded_and_scores_each_goal_once() {
        let today = d("2026-05-01");
        let g = GoalId::new();
        let p = |goal| GoalProgress { goal_id: goal, score: ProgressScore::new(3).unwrap(), note: None };
        assert_eq!(
            NewReview::new(ReviewKind::PlanMeeting, d("2026-05-02"), None, None, None, vec![], today)
                .unwrap_err()
                .field,
            "heldOn"
        );
        assert_eq!(
            NewReview::new(ReviewKind::StatusMeeting, today, None, None, Some(today), vec![], today).unwrap_err().field,
            "nextReviewOn"
        );
        assert_eq!(
            NewReview::new(ReviewKind::PlanMeeting, today, None, None, None, vec![p(g), p(g)], today)
                .unwrap_err()
                .field,
            "progress.1.goalId"
        );
        assert!(ProgressScore::new(0).is_err() && ProgressScore::new(6).is_err() && ProgressScore::new(5).is_ok());
    }

    #[test]
    fn a_declined_offer_gets_a_date_to_offer_it_again() {
        let on = d("2026-01-10");
        let declined = respond_to_offer(OfferResponse::Pending, on, OfferResponse::Declined, d("2026-01-12"), None);
        assert_eq!(declined.unwrap_err().field, "reofferOn");
        assert!(
            respond_to_offer(
                OfferResponse::Pending,
                on,
                OfferResponse::Declined,
                d("2026-01-12"),
                Some(d("2026-03-01"))
            )
            .is_ok()
        );
        assert!(respond_to_offer(OfferResponse::Pending, on, OfferResponse::Accepted, d("2026-01-12"), None).is_ok());
        assert_eq!(
            respond_to_offer(
                OfferResponse::Accepted,
                on,
                OfferResponse::Declined,
                d("2026-01-12"),
                Some(d("2026-03-01"))
            )
            .unwrap_err()
            .field,
            "id"
        );
        assert_eq!(
            respond_to_offer(OfferResponse::Pending, on, OfferResponse::Accepted, d("2026-01-09"), None)
                .unwrap_err()
                .field,
            "respondedOn"
        );
    }

    #[test]
    fn support_is_measured_from_the_placement_decision() {
        assert_eq!(days_from_decision_to_first_offer(d("2026-01-10"), d("2026-01-17")), 7);
        assert_eq!(days_from_decision_to_first_offer(d("2026-01-10"), d("2026-01-08")), -2);
    }

    #[test]
    fn a_review_interval_is_between_a_week_and_a_year() {
        assert!(ReviewInterval::from_days(6).is_err());
        assert!(ReviewInterval::from_days(7).is_ok());
        assert!(ReviewInterval::from_days(366).is_ok());
        assert!(ReviewInterval::from_days(367).is_err());
        assert!(ReviewInterval::from_days(-30).is_err());
    }

    #[test]
    fn the_next_review_is_due_one_interval_after_the_last() {
        let interval = ReviewInterval::from_days(42).unwrap();
        let start: NaiveDate = "2026-01-01".parse().unwrap();
        assert_eq!(interval.next_review_due(start), "2026-02-12".parse::<NaiveDate>().unwrap());
    }

    #[test]
    fn a_goal_is_written_in_words() {
        assert_eq!(NewGoal::parse("", GoalPurpose::ReturnHome).unwrap_err().field, "description");
    }

    #[test]
    fn a_plan_names_the_wrong_field() {
        assert_eq!(NewPlan::parse(3, None, vec![]).unwrap_err().field, "reviewIntervalDays");
        let many = vec![NewGoal::parse("x", GoalPurpose::ImproveContact).unwrap(); 21];
        assert_eq!(NewPlan::parse(30, None, many).unwrap_err().field, "goals");
    }
}
