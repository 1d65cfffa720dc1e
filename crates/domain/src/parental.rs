//! Supporting a client in the role as a parent (000): notes, the KOPP (COPMI) prevention
//! interview, the four pillars of the children's resilience, and the other parent.

use crate::error::{TransitionError, ValidationError};
use crate::ids::PersonId;
use crate::string_enum;

string_enum!(
    /// The four pillars of children's resilience (Family Platform).
    ResiliencePillar {
        /// The children are properly informed about what is going on.
        InformChildren => "INFORM_CHILDREN",
        /// The children have room for child-centred activities.
        ChildCentredActivities => "CHILD_CENTRED_ACTIVITIES",
        /// The children can turn to someone outside the family.
        ConfidantOutsideFamily => "CONFIDANT_OUTSIDE_FAMILY",
        /// The parents consider their children's emotions.
        ChildrensEmotions => "CHILDRENS_EMOTIONS",
    }
);

string_enum!(
    /// Where a pillar stands. None is mandatory and the order is free: "don't force
    /// things, but be satisfied with what parents do manage to achieve" (000).
    PillarStatus {
        NotDiscussed => "NOT_DISCUSSED",
        Discussed => "DISCUSSED",
        InPlace => "IN_PLACE",
        DeclinedByParent => "DECLINED_BY_PARENT",
    }
);

string_enum!(
    /// Who took part in a KOPP interview besides the client: ideally the partner; without
    /// one, a confidant of the child.
    KoppRole {
        Partner => "PARTNER",
        ChildConfidant => "CHILD_CONFIDANT",
    }
);

/// Checks a KOPP interview's participants: at least one besides the client, each once.
pub fn check_kopp_participants(client: PersonId, participants: &[(PersonId, KoppRole)]) -> Result<(), ValidationError> {
    if participants.is_empty() {
        return Err(ValidationError::new(
            "participants",
            "a KOPP interview is held with the partner or, without one, a confidant of the child",
        ));
    }
    for (i, (person, _)) in participants.iter().enumerate() {
        if *person == client {
            return Err(ValidationError::new(
                format!("participants.{i}.personId"),
                "the client is not a participant of their own interview",
            ));
        }
        if participants[..i].iter().any(|(p, _)| p == person) {
            return Err(ValidationError::new(format!("participants.{i}.personId"), "is listed twice"));
        }
    }
    Ok(())
}

/// What was done for the other parent (000: ask about their well-being, see whether
/// someone in their network can help, inform them of support options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherParentSupport {
    pub wellbeing_asked: bool,
    pub network_involved: bool,
    pub informed_of_support_options: bool,
}

impl OtherParentSupport {
    /// A record says that at least one of the three was done.
    pub fn new(
        wellbeing_asked: bool,
        network_involved: bool,
        informed_of_support_options: bool,
    ) -> Result<Self, ValidationError> {
        if !(wellbeing_asked || network_involved || informed_of_support_options) {
            return Err(ValidationError::new("wellbeingAsked", "record at least one thing done for the other parent"));
        }
        Ok(Self { wellbeing_asked, network_involved, informed_of_support_options })
    }
}

string_enum!(
    /// Where a sub-goal stands.
    SubGoalStatus {
        Open => "OPEN",
        InProgress => "IN_PROGRESS",
        Achieved => "ACHIEVED",
        Dropped => "DROPPED",
    }
);

impl SubGoalStatus {
    /// A sub-goal moves freely until it is achieved or dropped; then it stays.
    pub fn transition(self, to: SubGoalStatus) -> Result<SubGoalStatus, TransitionError> {
        match self {
            SubGoalStatus::Achieved | SubGoalStatus::Dropped => {
                Err(TransitionError(format!("the sub-goal is already {}; add a new one instead", self.as_str())))
            }
            _ if self == to => Err(TransitionError(format!("the sub-goal is already {}", self.as_str()))),
            _ => Ok(to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kopp_interview_involves_the_partner_or_a_confidant_of_the_child() {
        let client = PersonId::new();
        let partner = PersonId::new();
        assert_eq!(check_kopp_participants(client, &[]).unwrap_err().field, "participants");
        assert!(check_kopp_participants(client, &[(partner, KoppRole::Partner)]).is_ok());
        assert!(check_kopp_participants(client, &[(PersonId::new(), KoppRole::ChildConfidant)]).is_ok());
        assert_eq!(
            check_kopp_participants(client, &[(client, KoppRole::Partner)]).unwrap_err().field,
            "participants.0.personId"
        );
        assert_eq!(
            check_kopp_participants(client, &[(partner, KoppRole::Partner), (partner, KoppRole::ChildConfidant)])
                .unwrap_err()
                .field,
            "participants.1.personId"
        );
    }

    #[test]
    fn a_record_of_support_for_the_other_parent_says_what_was_done() {
        assert!(OtherParentSupport::new(false, false, false).is_err());
        assert!(OtherParentSupport::new(true, false, false).is_ok());
    }

    #[test]
    fn there_are_four_pillars_of_resilience_each_with_four_statuses() {
        assert_eq!(ResiliencePillar::ALL.len(), 4);
        assert_eq!(PillarStatus::ALL.len(), 4);
        for pillar in ResiliencePillar::ALL {
            assert_eq!(pillar.as_str().parse::<ResiliencePillar>(), Ok(*pillar));
        }
    }

    #[test]
    fn an_achieved_or_dropped_sub_goal_stays_so() {
        assert_eq!(SubGoalStatus::Open.transition(SubGoalStatus::InProgress), Ok(SubGoalStatus::InProgress));
        assert_eq!(SubGoalStatus::InProgress.transition(SubGoalStatus::Achieved), Ok(SubGoalStatus::Achieved));
        assert!(SubGoalStatus::Achieved.transition(SubGoalStatus::Open).is_err());
        assert!(SubGoalStatus::Dropped.transition(SubGoalStatus::InProgress).is_err());
        assert!(SubGoalStatus::Open.transition(SubGoalStatus::Open).is_err());
    }
}
