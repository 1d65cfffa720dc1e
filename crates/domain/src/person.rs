//! Persons and their external identifiers.

use std::fmt;

use chrono::NaiveDate;

use crate::error::{AtField, InvalidValue, ValidationError};
use crate::string_enum;
use crate::text::{ExternalId, Name};

string_enum!(
    /// What kind of identifier a person carries.
    IdentifierKind {
        /// A national identity number: personal data of the highest class. Never logged,
        /// never returned to a caller that does not need it, found by exact match only.
        NationalId => "NATIONAL_ID",
        /// The id of the person in an organisation's case system.
        CaseSystem => "CASE_SYSTEM",
        /// Any other identifier.
        Other => "OTHER",
    }
);

/// The value of an identifier. Its `Debug` form never shows the value, whatever the kind.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdentifierValue(String);

impl IdentifierValue {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        ExternalId::parse(value).map(|v| Self(v.into_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdentifierValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentifierValue(<redacted>)")
    }
}

/// An identifier `{system, value}` of a person, with its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonIdentifier {
    pub kind: IdentifierKind,
    /// Who issues the identifier, such as `DK-CPR` or the name of a case system.
    pub system: ExternalId,
    pub value: IdentifierValue,
}

/// A person to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub given_name: Name,
    pub family_name: Name,
    pub birth_date: Option<NaiveDate>,
    pub identifiers: Vec<PersonIdentifier>,
}

/// The raw parts of a person, as received.
#[derive(Debug, Clone, Copy)]
pub struct PersonInput<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub birth_date: Option<NaiveDate>,
    pub identifiers: &'a [(IdentifierKind, &'a str, &'a str)],
}

impl NewPerson {
    /// Validates a person: names present, birth date not after `today`, at most one
    /// identifier per kind and system.
    pub fn parse(input: PersonInput<'_>, today: NaiveDate) -> Result<Self, ValidationError> {
        let given_name = Name::parse(input.given_name).at("givenName")?;
        let family_name = Name::parse(input.family_name).at("familyName")?;
        if input.birth_date.is_some_and(|born| born > today) {
            return Err(ValidationError::new("birthDate", "must not be in the future"));
        }
        let identifiers = parse_identifiers(input.identifiers)?;
        Ok(Self { given_name, family_name, birth_date: input.birth_date, identifiers })
    }
}

/// Validates a person's identifiers: at most one per kind and system. Fields are named
/// `identifiers.N.system` and `identifiers.N.value`.
pub fn parse_identifiers(input: &[(IdentifierKind, &str, &str)]) -> Result<Vec<PersonIdentifier>, ValidationError> {
    let mut identifiers: Vec<PersonIdentifier> = Vec::with_capacity(input.len());
    for (i, (kind, system, value)) in input.iter().enumerate() {
        let field = format!("identifiers.{i}");
        let identifier = PersonIdentifier {
            kind: *kind,
            system: ExternalId::parse(system).at(&format!("{field}.system"))?,
            value: IdentifierValue::parse(value).at(&format!("{field}.value"))?,
        };
        if identifiers.iter().any(|x| x.kind == identifier.kind && x.system == identifier.system) {
            return Err(ValidationError::new(field, "a person has at most one identifier per kind and system"));
        }
        identifiers.push(identifier);
    }
    Ok(identifiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn input<'a>(ids: &'a [(IdentifierKind, &'a str, &'a str)]) -> PersonInput<'a> {
        PersonInput { given_name: "Mette", family_name: "Hansen", birth_date: None, identifiers: ids }
    }

    #[test]
    fn a_person_is_valid_with_names_only() {
        let p = NewPerson::parse(input(&[]), today()).unwrap();
        assert_eq!(p.given_name.as_str(), "Mette");
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused() {
        let mut i = input(&[]);
        i.birth_date = Some(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(NewPerson::parse(i, today()).unwrap_err().field, "birthDate");
    }

    #[test]
    fn a_person_has_at_most_one_identifier_per_kind_and_system() {
        let ids = [
            (IdentifierKind::NationalId, "DK-CPR", "0101901234"),
            (IdentifierKind::NationalId, "DK-CPR", "0202902345"),
        ];
        assert_eq!(NewPerson::parse(input(&ids), today()).unwrap_err().field, "identifiers.1");
    }

    #[test]
    fn a_national_id_never_shows_in_debug_output() {
        let ids = [(IdentifierKind::NationalId, "DK-CPR", "0101901234")];
        let p = NewPerson::parse(input(&ids), today()).unwrap();
        let printed = format!("{p:?}");
        assert!(!printed.contains("0101901234"), "{printed}");
        assert!(!printed.contains("Mette"), "{printed}");
    }
}
