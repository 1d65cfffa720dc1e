//! Rules about when things happen.
//!
//! Kinbridge records what was done: a visit cancelled, a service delivered, a note taken,
//! a pillar discussed, a partner certified, an offer made. None of these can be dated after
//! the day it is recorded, and an offer of support follows the decision to place the child
//! (000: the municipality offers the parents support from the decision on). Rules take
//! "today" (or "now") as an argument, like every rule of this crate.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ValidationError;

/// Something that has happened is dated today or earlier.
pub fn has_happened(field: &str, on: NaiveDate, today: NaiveDate) -> Result<NaiveDate, ValidationError> {
    if on > today {
        return Err(ValidationError::new(field, format!("records what has happened: {on} is after today ({today})")));
    }
    Ok(on)
}

/// Something that has happened is timed now or earlier. A minute of grace covers the
/// difference between the sender's clock and Kinbridge's.
pub fn has_happened_at(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, ValidationError> {
    if at > now + chrono::TimeDelta::minutes(1) {
        return Err(ValidationError::new(field, "records what has happened: the time is in the future"));
    }
    Ok(at)
}

/// An offer of support is made on or after the placement decision, and has been made.
pub fn offer_made_on(
    offered_on: NaiveDate,
    decided_on: NaiveDate,
    today: NaiveDate,
) -> Result<NaiveDate, ValidationError> {
    if offered_on < decided_on {
        return Err(ValidationError::new(
            "offeredOn",
            format!("support is offered from the placement decision on ({decided_on}), not before"),
        ));
    }
    has_happened("offeredOn", offered_on, today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn events_that_have_happened_are_not_dated_in_the_future() {
        let today = d("2026-12-01");
        assert_eq!(has_happened("notedOn", today, today).unwrap(), today);
        assert_eq!(has_happened("notedOn", d("2026-11-30"), today).unwrap(), d("2026-11-30"));
        assert_eq!(has_happened("notedOn", d("2026-12-02"), today).unwrap_err().field, "notedOn");
    }

    #[test]
    fn a_cancellation_is_not_timed_in_the_future() {
        let now = Utc::now();
        assert!(has_happened_at("cancelledAt", now, now).is_ok());
        assert!(has_happened_at("cancelledAt", now + chrono::TimeDelta::seconds(30), now).is_ok(), "clock skew");
        assert_eq!(
            has_happened_at("cancelledAt", now + chrono::TimeDelta::hours(2), now).unwrap_err().field,
            "cancelledAt"
        );
    }

    #[test]
    fn an_offer_is_not_made_before_the_decision_or_in_the_future() {
        let (decided, today) = (d("2026-10-01"), d("2026-12-01"));
        assert!(offer_made_on(decided, decided, today).is_ok());
        assert_eq!(offer_made_on(d("2026-09-30"), decided, today).unwrap_err().field, "offeredOn");
        assert_eq!(offer_made_on(d("2026-12-02"), decided, today).unwrap_err().field, "offeredOn");
    }
}
