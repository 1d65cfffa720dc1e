//! Custom scalars and the GraphQL mirrors of the domain's enums.

use async_graphql::{Enum, InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date(pub NaiveDate);

/// A calendar date without a time zone, written `YYYY-MM-DD` (ISO 8601).
#[Scalar(name = "Date", specified_by_url = "https://www.iso.org/iso-8601-date-and-time-format.html")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a date of the form YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked when the request is validated, so that a date that does not exist
    /// (`2023-02-30`) is refused with the path of the field it was given in.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
    }

    fn to_value(&self) -> Value {
        // `Display` writes `%Y-%m-%d` directly, without parsing a format string each time.
        Value::String(self.0.to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

/// An instant, written in RFC 3339 (`2026-11-20T08:30:00+01:00`); answered in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub chrono::DateTime<chrono::Utc>);

fn parse_instant(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// A date and time with its offset from UTC, written in RFC 3339
/// (`2026-11-20T08:30:00+01:00`, or `Z` for UTC). Kinbridge answers in UTC, with `Z`
/// and a fraction of a second only when the time has one (`2026-11-20T07:30:00Z`).
#[Scalar(name = "DateTime", specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339")]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_instant(s)
                .map(Timestamp)
                .ok_or_else(|| InputValueError::custom(format!("`{s}` is not an RFC 3339 date and time"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked when the request is validated, so that a time that does not exist or is
    /// out of range is refused with the path of the field it was given in.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_instant(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

/// Declares a GraphQL enum mirroring a domain enum, with conversions both ways. The
/// variants must match the domain's one for one; the compiler checks it.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* $name:ident => $remote:literal { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[graphql(remote = $remote)]
        pub enum $name { $($variant),+ }
    };
}

mirror_enum!(/// What an organisation is.
    OrganizationKind => "kinbridge_domain::organization::OrganizationKind" {
    Municipality, PlacementProvider, FamilyServicesProvider, MentalHealthAuthority });
mirror_enum!(/// What happened, in a family's or a placement's timeline. Events of the same
    /// moment are listed in this order.
    TimelineKind => "kinbridge_domain::timeline::TimelineKind" {
    PlacementDecided, PlacementStarted, ReferralStarted, ConsentGiven, SupportOffered, SupportReoffered,
    SupportAccepted, SupportDeclined, VisitPlanned, VisitHeld, VisitNoShow, VisitCancelled, ReviewHeld,
    FamilyPartnerServiceDelivered, ConsentRevoked, ReferralEnded, PlacementEnded });
mirror_enum!(/// A role carried in the caller's token.
    Role => "kinbridge_domain::access::Role" {
    Caseworker, Manager, Integration, FamilyTherapist, VisitSupervisor, SupportPerson, PlacementStaff, FamilyPartner, Auditor,
    DataProtectionOfficer });
mirror_enum!(/// What kind of identifier a person carries. A national id is returned only to
    /// the organisation that owns the person.
    IdentifierKind => "kinbridge_domain::person::IdentifierKind" { NationalId, CaseSystem, Other });
mirror_enum!(/// A member's place in the family. `KEY_PERSON` is a confidant of the child.
    FamilyRole => "kinbridge_domain::family::FamilyRole" {
    Child, Parent, PrimaryCaregiver, OtherParent, Partner, Sibling, Grandparent, KeyPerson });
mirror_enum!(/// Where a placed child lives.
    PlacementSetting => "kinbridge_domain::placement::PlacementSetting" {
    FosterFamily, KinshipCare, ResidentialInstitution, OwnRoom, Other });
mirror_enum!(/// Why a placement ended.
    PlacementEndReason => "kinbridge_domain::placement::PlacementEndReason" { ReturnedHome, Moved, AgedOut, Other });
mirror_enum!(/// How much a professional takes part in a contact visit.
    Supervision => "kinbridge_domain::visit::Supervision" { Unsupervised, Supported, Supervised });
mirror_enum!(/// The kind of help a person in the parents' network gives: `PRACTICAL` (shopping, a
    /// meal, collecting the child from school), `CHILDCARE`, `EMOTIONAL` (someone to talk
    /// to), `CONTACT_VISITS` (takes part in them, or brings the child or the parents),
    /// `CHILD_CONFIDANT`, `ADMINISTRATIVE` (letters, money, housing, appointments), `OTHER`.
    NetworkHelp => "kinbridge_domain::network::NetworkHelp" {
    Practical, Childcare, Emotional, ContactVisits, ChildConfidant, Administrative, Other });
mirror_enum!(/// Where a family stands with its placements today, as far as the caller sees them:
    /// the first that holds of `PLACED` (a placement is under way), `PLACEMENT_DECIDED`
    /// (one starts later), `PLACEMENT_ENDED` (every placement has ended: the follow-up
    /// after a return home) and `NO_PLACEMENT`.
    FamilyStatus => "kinbridge_domain::family::FamilyStatus" { Placed, PlacementDecided, PlacementEnded, NoPlacement });
mirror_enum!(/// Where a contact visit stands.
    VisitStatus => "kinbridge_domain::visit::VisitStatus" { Planned, Held, Cancelled, NoShow });
mirror_enum!(/// Who cancelled a contact visit.
    CancelledBy => "kinbridge_domain::visit::CancelledBy" { Parent, Child, PlacementProvider, Municipality, Other });
mirror_enum!(/// What a goal is for; shown to the parents so they can adjust their expectations.
    GoalPurpose => "kinbridge_domain::plan::GoalPurpose" {
    ImproveContact, ReturnHome, ParentingSkills, ParentWellbeing, CooperationWithPlacement });
mirror_enum!(/// How a plan was followed up: a plan meeting or an informal status meeting.
    ReviewKind => "kinbridge_domain::plan::ReviewKind" { PlanMeeting, StatusMeeting });
mirror_enum!(/// What is offered to the parents: a support person, the plan itself, or a programme.
    SupportOfferKind => "kinbridge_domain::plan::SupportOfferKind" {
    SupportPerson, ParentActionPlan, Pmto, IncredibleYears, SteppingStones, MentalizationBasedTherapy, SignsOfSafety, ParentNetwork });
mirror_enum!(/// The parents' answer to an offer.
    OfferResponse => "kinbridge_domain::plan::OfferResponse" { Pending, Accepted, Declined });
mirror_enum!(/// The four pillars of children's resilience.
    ResiliencePillar => "kinbridge_domain::parental::ResiliencePillar" {
    InformChildren, ChildCentredActivities, ConfidantOutsideFamily, ChildrensEmotions });
mirror_enum!(/// Where a resilience pillar stands. None is mandatory; the order is free.
    PillarStatus => "kinbridge_domain::parental::PillarStatus" { NotDiscussed, Discussed, InPlace, DeclinedByParent });
mirror_enum!(/// Who took part in a KOPP interview: the partner, or a confidant of the child.
    KoppRole => "kinbridge_domain::parental::KoppRole" { Partner, ChildConfidant });
mirror_enum!(/// Where a sub-goal stands.
    SubGoalStatus => "kinbridge_domain::parental::SubGoalStatus" { Open, InProgress, Achieved, Dropped });
mirror_enum!(/// Where a parent action plan stands.
    PlanStatus => "kinbridge_domain::plan::PlanStatus" { Draft, Active, Closed });
mirror_enum!(/// What a consent allows. Checked when data is read: a revocation takes effect on the
    /// next request.
    ConsentPurpose => "kinbridge_domain::sharing::ConsentPurpose" {
    SharePlanGoalsWithPlacementProvider, NotifyKeyPeople, ShareWithResidenceMunicipality, ShareWithFamilyPartner, ShareParentalSupportWithMunicipality });
mirror_enum!(/// Whether a family partner has completed certified family partner training.
    CertificationStatus => "kinbridge_domain::partner::CertificationStatus" { Certified, PendingCertification });
mirror_enum!(/// What a family partner service was.
    ServiceActivity => "kinbridge_domain::partner::ServiceActivity" {
    OrientationToTreatment, AdvocacyModeling, Information, Referral, SkillsTraining, IdentifySupports });
