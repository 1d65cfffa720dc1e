//! Validated text. Once a value of these types exists it is trimmed, non-empty, within its
//! length and free of control characters, so storage and output never check it again.

use std::fmt;

use crate::error::InvalidValue;

fn clean(value: &str, max_chars: usize, allow_newlines: bool) -> Result<String, InvalidValue> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(InvalidValue("must not be empty".into()));
    }
    let count = trimmed.chars().count();
    if count > max_chars {
        return Err(InvalidValue(format!("must be at most {max_chars} characters (got {count})")));
    }
    let bad = |c: char| c.is_control() && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t'));
    if trimmed.chars().any(bad) {
        return Err(InvalidValue("must not contain control characters".into()));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, max = $max:expr, newlines = $nl:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters.
            pub const MAX_CHARS: usize = $max;

            pub fn parse(value: &str) -> Result<Self, InvalidValue> {
                clean(value, $max, $nl).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A name of a person, family or organisation.
    Name, max = 200, newlines = false);
text_type!(
    /// A caller's own identifier for a record (a case-system id), or a code such as a
    /// municipality number.
    ExternalId, max = 128, newlines = false);
text_type!(
    /// Free text written by a professional or in the parents' own words: a goal, a
    /// reason, an observation. Line breaks are kept.
    FreeText, max = 4000, newlines = true);

// Names and free text may carry personal data: their Debug form says only how long they
// are, so that a stray `?value` in a log line leaks nothing.
impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name(<{} chars>)", self.0.chars().count())
    }
}
impl fmt::Debug for FreeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FreeText(<{} chars>)", self.0.chars().count())
    }
}
impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalId({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed() {
        assert_eq!(Name::parse("  Hansen  ").unwrap().as_str(), "Hansen");
    }

    #[test]
    fn empty_or_blank_text_is_refused() {
        assert!(Name::parse("").is_err());
        assert!(Name::parse(" \t ").is_err());
    }

    #[test]
    fn text_longer_than_its_limit_is_refused() {
        assert!(Name::parse(&"a".repeat(Name::MAX_CHARS)).is_ok());
        assert!(Name::parse(&"a".repeat(Name::MAX_CHARS + 1)).is_err());
        // The limit counts characters, not bytes.
        assert!(Name::parse(&"ø".repeat(Name::MAX_CHARS)).is_ok());
    }

    #[test]
    fn names_refuse_control_characters_and_free_text_keeps_line_breaks() {
        assert!(Name::parse("a\nb").is_err());
        assert!(Name::parse("a\u{0}b").is_err());
        assert!(FreeText::parse("first line\nsecond line").is_ok());
        assert!(FreeText::parse("a\u{7}b").is_err());
    }

    #[test]
    fn debug_output_of_personal_text_hides_the_text() {
        let name = Name::parse("Mette Hansen").unwrap();
        assert!(!format!("{name:?}").contains("Mette"));
    }
}
