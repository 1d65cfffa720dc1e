//! The family's network map (000, 001): who in the parents' network can help, how, and
//! since when. A helper is a member of the family (a grandmother, a key person) or
//! someone outside it (a neighbour), registered as a person of the municipality.

use chrono::NaiveDate;

use crate::error::ValidationError;
use crate::ids::{FamilyMemberId, PersonId};
use crate::person::NewPerson;
use crate::string_enum;
use crate::text::{FreeText, Name};

string_enum!(
    /// The kind of help a person in the parents' network gives.
    NetworkHelp {
        /// Everyday tasks: shopping, a meal, a lift, collecting the child from school.
        Practical => "PRACTICAL",
        /// Looks after the child, or the child's siblings.
        Childcare => "CHILDCARE",
        /// Someone the parents can talk to.
        Emotional => "EMOTIONAL",
        /// Takes part in contact visits, or brings the child or the parents to them.
        ContactVisits => "CONTACT_VISITS",
        /// A confidant of the child.
        ChildConfidant => "CHILD_CONFIDANT",
        /// Helps with letters, money, housing or appointments.
        Administrative => "ADMINISTRATIVE",
        Other => "OTHER",
    }
);

/// Who the helper is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Helper {
    /// A member of the family the map belongs to.
    Member(FamilyMemberId),
    /// A person the municipality already knows, outside the family.
    Person(PersonId),
    /// Someone outside the family, registered as the entry is recorded.
    NewPerson(NewPerson),
}

/// One entry to add to a family's network map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNetworkEntry {
    pub helper: Helper,
    /// How the helper relates to the family, in words ("neighbour", "the mother's aunt").
    pub relationship: Option<Name>,
    pub help: NetworkHelp,
    /// The help, as it is agreed: "collects the child from school on Thursdays".
    pub description: FreeText,
    pub since: NaiveDate,
}

/// What [`NewNetworkEntry::parse`] reads.
#[derive(Debug, Clone, Copy)]
pub struct NetworkEntryInput<'a> {
    pub relationship: Option<&'a str>,
    pub help: NetworkHelp,
    pub description: &'a str,
    pub since: NaiveDate,
}

impl NewNetworkEntry {
    /// Checks an entry. The help is what is in place: it started on or before `today`.
    pub fn parse(helper: Helper, input: NetworkEntryInput<'_>, today: NaiveDate) -> Result<Self, ValidationError> {
        let relationship = input.relationship.map(Name::parse).transpose().map_err(|e| e.at("relationship"))?;
        let description = FreeText::parse(input.description).map_err(|e| e.at("description"))?;
        if input.since > today {
            return Err(ValidationError::new(
                "since",
                format!("help the network gives has started: {} is after today ({today})", input.since),
            ));
        }
        Ok(Self { helper, relationship, help: input.help, description, since: input.since })
    }
}

/// Checks the day an entry's help ended: not before it started, not in the future.
pub fn ensure_ends(since: NaiveDate, until: NaiveDate, today: NaiveDate) -> Result<(), ValidationError> {
    if until < since {
        return Err(ValidationError::new("until", format!("the help started on {since}, so it cannot end on {until}")));
    }
    if until > today {
        return Err(ValidationError::new("until", format!("record an end when it has come: {until} is after today")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn input(description: &'static str, since: &str) -> NetworkEntryInput<'static> {
        NetworkEntryInput {
            relationship: Some("neighbour"),
            help: NetworkHelp::Practical,
            description,
            since: day(since),
        }
    }

    #[test]
    fn an_entry_says_how_and_since_when_someone_helps() {
        let helper = Helper::Member(FamilyMemberId::new());
        let entry = NewNetworkEntry::parse(
            helper,
            input(" collects the child from school on Thursdays ", "2026-09-01"),
            day("2026-12-01"),
        )
        .unwrap();
        assert_eq!(entry.description.as_str(), "collects the child from school on Thursdays");
        assert_eq!(entry.relationship.unwrap().as_str(), "neighbour");
    }

    #[test]
    fn an_entry_needs_a_description_and_help_already_under_way() {
        let helper = || Helper::Person(PersonId::new());
        let today = day("2026-12-01");
        assert_eq!(
            NewNetworkEntry::parse(helper(), input("  ", "2026-09-01"), today).unwrap_err().field,
            "description"
        );
        assert_eq!(NewNetworkEntry::parse(helper(), input("lifts", "2026-12-02"), today).unwrap_err().field, "since");
        let mut blank = input("lifts", "2026-09-01");
        blank.relationship = Some("");
        assert_eq!(NewNetworkEntry::parse(helper(), blank, today).unwrap_err().field, "relationship");
    }

    #[test]
    fn help_ends_after_it_starts_and_not_in_the_future() {
        let today = day("2026-12-01");
        assert!(ensure_ends(day("2026-09-01"), day("2026-09-01"), today).is_ok());
        assert_eq!(ensure_ends(day("2026-09-01"), day("2026-08-31"), today).unwrap_err().field, "until");
        assert_eq!(ensure_ends(day("2026-09-01"), day("2026-12-02"), today).unwrap_err().field, "until");
    }
}
