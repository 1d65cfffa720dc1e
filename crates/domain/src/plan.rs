//! Parent action plans (forældrehandleplan), made with the parents (001).

use chrono::NaiveDate;

use crate::error::{AtField, InvalidValue, ValidationError};
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
