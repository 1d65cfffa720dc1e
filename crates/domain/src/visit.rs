//! Contact visits between a placed child and parents or other relatives (001).

use chrono::{DateTime, Utc};

use crate::error::{AtField, TransitionError, ValidationError};
use crate::string_enum;
use crate::text::{ExternalId, FreeText, Name};

string_enum!(
    /// How much a professional takes part in a visit.
    Supervision {
        Unsupervised => "UNSUPERVISED",
        /// A visit supervisor supports the parents during the visit.
        Supported => "SUPPORTED",
        /// A visit supervisor is present and supervises.
        Supervised => "SUPERVISED",
    }
);

string_enum!(
    /// Where a visit stands: `PLANNED`, then exactly one of the others.
    VisitStatus {
        Planned => "PLANNED",
        Held => "HELD",
        Cancelled => "CANCELLED",
        NoShow => "NO_SHOW",
    }
);

string_enum!(
    /// Who cancelled a visit.
    CancelledBy {
        Parent => "PARENT",
        Child => "CHILD",
        PlacementProvider => "PLACEMENT_PROVIDER",
        Municipality => "MUNICIPALITY",
        Other => "OTHER",
    }
);

/// A visit to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisit {
    pub external_id: Option<ExternalId>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub location: Option<FreeText>,
    pub supervision: Supervision,
    pub supervisor_name: Option<Name>,
}

/// The raw parts of a visit, as received.
#[derive(Debug, Clone, Copy)]
pub struct VisitInput<'a> {
    pub external_id: Option<&'a str>,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub location: Option<&'a str>,
    pub supervision: Supervision,
    pub supervisor_name: Option<&'a str>,
}

impl NewVisit {
    /// Validates a visit: it ends after it starts, lasts at most a day, and a supported
    /// or supervised visit names its supervisor.
    pub fn parse(input: VisitInput<'_>) -> Result<Self, ValidationError> {
        use chrono::SubsecRound;
        // Kept to the microsecond, the precision both databases store, so that what is
        // stored is exactly what was given and an upsert of it compares equal.
        let (planned_start, planned_end) = (input.planned_start.trunc_subsecs(6), input.planned_end.trunc_subsecs(6));
        let input = VisitInput { planned_start, planned_end, ..input };
        if input.planned_end <= input.planned_start {
            return Err(ValidationError::new("plannedEnd", "a visit must end after it starts"));
        }
        if input.planned_end - input.planned_start > chrono::Duration::hours(24) {
            return Err(ValidationError::new("plannedEnd", "a visit lasts at most 24 hours"));
        }
        let supervisor_name = input.supervisor_name.map(Name::parse).transpose().at("supervisorName")?;
        if input.supervision != Supervision::Unsupervised && supervisor_name.is_none() {
            return Err(ValidationError::new(
                "supervisorName",
                format!("a {} visit needs a supervisor", input.supervision.as_str().to_lowercase()),
            ));
        }
        Ok(Self {
            external_id: input.external_id.map(ExternalId::parse).transpose().at("externalId")?,
            planned_start: input.planned_start,
            planned_end: input.planned_end,
            location: input.location.map(FreeText::parse).transpose().at("location")?,
            supervision: input.supervision,
            supervisor_name,
        })
    }
}

/// Who cancelled a visit, when and why. A cancellation always says all three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub by: CancelledBy,
    pub at: DateTime<Utc>,
    pub reason: FreeText,
}

impl Cancellation {
    pub fn parse(by: CancelledBy, at: DateTime<Utc>, reason: &str) -> Result<Self, ValidationError> {
        Ok(Self { by, at, reason: FreeText::parse(reason).at("reason")? })
    }
}

/// What became of a planned visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitOutcome {
    Held { observations: Option<FreeText> },
    Cancelled(Cancellation),
    NoShow,
}

impl VisitOutcome {
    pub fn status(&self) -> VisitStatus {
        match self {
            VisitOutcome::Held { .. } => VisitStatus::Held,
            VisitOutcome::Cancelled(_) => VisitStatus::Cancelled,
            VisitOutcome::NoShow => VisitStatus::NoShow,
        }
    }
}

/// Moves a visit from `PLANNED` to its outcome. Only a planned visit changes; a visit
/// cannot be recorded as held or as a no-show before it has started.
pub fn record_outcome(
    current: VisitStatus,
    planned_start: DateTime<Utc>,
    outcome: &VisitOutcome,
    now: DateTime<Utc>,
) -> Result<VisitStatus, TransitionError> {
    if current != VisitStatus::Planned {
        return Err(TransitionError(format!(
            "the visit is already {}; only a planned visit can be recorded as {}",
            current.as_str(),
            outcome.status().as_str()
        )));
    }
    if matches!(outcome, VisitOutcome::Held { .. } | VisitOutcome::NoShow) && now < planned_start {
        return Err(TransitionError(format!(
            "the visit starts at {planned_start}; it can be recorded as {} only once it has started",
            outcome.status().as_str()
        )));
    }
    Ok(outcome.status())
}

/// How a placement's contact visits are arranged: how often, with how much supervision,
/// and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitArrangement {
    /// Days between visits: 7 for weekly, 14 for every other week.
    pub interval_days: u16,
    pub supervision: Supervision,
    pub supervisor_name: Option<Name>,
}

impl VisitArrangement {
    pub fn parse(
        interval_days: i64,
        supervision: Supervision,
        supervisor_name: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let interval_days = u16::try_from(interval_days)
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or_else(|| ValidationError::new("intervalDays", "must be from 1 to 365 days"))?;
        let supervisor_name = supervisor_name.map(Name::parse).transpose().at("supervisorName")?;
        if supervision != Supervision::Unsupervised && supervisor_name.is_none() {
            return Err(ValidationError::new(
                "supervisorName",
                format!("{} visits need a supervisor", supervision.as_str().to_lowercase()),
            ));
        }
        Ok(Self { interval_days, supervision, supervisor_name })
    }
}

/// What happened to the visits of a period. Fewer cancellations is an outcome the guidance
/// names (001).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VisitStatistics {
    /// Visits still planned (their outcome not yet recorded).
    pub planned: u32,
    pub held: u32,
    pub cancelled: u32,
    pub no_show: u32,
    /// Cancelled visits per who cancelled, in the order of `CancelledBy::ALL`.
    pub cancelled_by: Vec<(CancelledBy, u32)>,
}

impl VisitStatistics {
    /// Adds `count` visits of `status`, cancelled by `by` when cancelled.
    pub fn add(&mut self, status: VisitStatus, by: Option<CancelledBy>, count: u32) {
        match status {
            VisitStatus::Planned => self.planned += count,
            VisitStatus::Held => self.held += count,
            VisitStatus::NoShow => self.no_show += count,
            VisitStatus::Cancelled => {
                self.cancelled += count;
                let by = by.unwrap_or(CancelledBy::Other);
                match self.cancelled_by.iter_mut().find(|(b, _)| *b == by) {
                    Some((_, n)) => *n += count,
                    None => {
                        self.cancelled_by.push((by, count));
                        self.cancelled_by.sort_by_key(|(b, _)| CancelledBy::ALL.iter().position(|x| x == b));
                    }
                }
            }
        }
    }

    /// Cancelled visits as a share of the visits that have an outcome (held, cancelled,
    /// no-show); visits still planned do not count. `None` while no visit has an outcome.
    pub fn cancellation_rate(&self) -> Option<f64> {
        let decided = self.held + self.cancelled + self.no_show;
        (decided > 0).then(|| f64::from(self.cancelled) / f64::from(decided))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn input() -> VisitInput<'static> {
        VisitInput {
            external_id: None,
            planned_start: t("2026-11-01T10:00:00Z"),
            planned_end: t("2026-11-01T12:00:00Z"),
            location: Some("Family room"),
            supervision: Supervision::Unsupervised,
            supervisor_name: None,
        }
    }

    #[test]
    fn a_visits_times_are_kept_to_the_microsecond_both_databases_store() {
        let visit = NewVisit::parse(VisitInput {
            planned_start: t("2026-11-01T10:00:00.123456789Z"),
            planned_end: t("2026-11-01T12:00:00.000000999Z"),
            ..input()
        })
        .unwrap();
        assert_eq!(visit.planned_start, t("2026-11-01T10:00:00.123456Z"));
        assert_eq!(visit.planned_end, t("2026-11-01T12:00:00Z"));
    }

    #[test]
    fn the_cancellation_rate_counts_visits_with_an_outcome_only() {
        let mut stats = VisitStatistics::default();
        assert_eq!(stats.cancellation_rate(), None);
        stats.add(VisitStatus::Held, None, 6);
        stats.add(VisitStatus::Cancelled, Some(CancelledBy::Parent), 2);
        stats.add(VisitStatus::Cancelled, Some(CancelledBy::PlacementProvider), 1);
        stats.add(VisitStatus::NoShow, None, 1);
        stats.add(VisitStatus::Planned, None, 5);
        assert_eq!(stats.cancellation_rate(), Some(0.3));
        assert_eq!(stats.cancelled_by, vec![(CancelledBy::Parent, 2), (CancelledBy::PlacementProvider, 1)]);
        assert_eq!((stats.planned, stats.held, stats.cancelled, stats.no_show), (5, 6, 3, 1));
    }

    #[test]
    fn a_visit_arrangement_names_its_supervisor_and_a_sensible_frequency() {
        assert!(VisitArrangement::parse(14, Supervision::Unsupervised, None).is_ok());
        assert_eq!(VisitArrangement::parse(0, Supervision::Unsupervised, None).unwrap_err().field, "intervalDays");
        assert_eq!(VisitArrangement::parse(14, Supervision::Supported, None).unwrap_err().field, "supervisorName");
    }

    #[test]
    fn a_visit_must_end_after_it_starts() {
        let mut i = input();
        i.planned_end = i.planned_start;
        assert_eq!(NewVisit::parse(i).unwrap_err().field, "plannedEnd");
    }

    #[test]
    fn a_supervised_visit_names_its_supervisor() {
        let mut i = input();
        i.supervision = Supervision::Supervised;
        assert_eq!(NewVisit::parse(i).unwrap_err().field, "supervisorName");
        i.supervisor_name = Some("Lone Berg");
        assert!(NewVisit::parse(i).is_ok());
    }

    #[test]
    fn a_cancellation_always_says_who_cancelled_and_why() {
        let err = Cancellation::parse(CancelledBy::Parent, t("2026-10-30T08:00:00Z"), "  ").unwrap_err();
        assert_eq!(err.field, "reason");
        let c = Cancellation::parse(CancelledBy::Parent, t("2026-10-30T08:00:00Z"), "Ill").unwrap();
        assert_eq!(c.by, CancelledBy::Parent);
    }

    #[test]
    fn only_a_planned_visit_gets_an_outcome() {
        let start = t("2026-11-01T10:00:00Z");
        let now = t("2026-11-01T13:00:00Z");
        let held = VisitOutcome::Held { observations: None };
        assert_eq!(record_outcome(VisitStatus::Planned, start, &held, now), Ok(VisitStatus::Held));
        for status in [VisitStatus::Held, VisitStatus::Cancelled, VisitStatus::NoShow] {
            assert!(record_outcome(status, start, &VisitOutcome::NoShow, now).is_err());
        }
    }

    #[test]
    fn a_visit_is_held_or_missed_only_once_it_has_started_but_may_be_cancelled_before() {
        let start = t("2026-11-01T10:00:00Z");
        let before = t("2026-11-01T09:00:00Z");
        assert!(
            record_outcome(VisitStatus::Planned, start, &VisitOutcome::Held { observations: None }, before).is_err()
        );
        assert!(record_outcome(VisitStatus::Planned, start, &VisitOutcome::NoShow, before).is_err());
        let cancel = VisitOutcome::Cancelled(Cancellation::parse(CancelledBy::Child, before, "Sick").unwrap());
        assert_eq!(record_outcome(VisitStatus::Planned, start, &cancel, before), Ok(VisitStatus::Cancelled));
    }
}
