//! Read records: the rows the repositories return, with every field a domain type.
//!
//! A row is parsed once, where it is read: ids become typed ids, stored enum names become
//! the domain's enums, and a change-feed payload becomes JSON. Above this module nothing
//! parses a stored string, and a value that does not parse (a damaged row, or a bug that
//! wrote one) fails the read as [`StoreError::Corrupt`], answered `INTERNAL`.
//!
//! Each record mirrors its table's columns, field for field and in the same names, so a
//! record is declared by its fields' types alone (the [`records!`] table below) and the
//! conversion from the sea-orm `Model` is generated: `TryFrom<Model>` for the record and
//! [`Readable`] for the entity, which is what the batched reads of [`assoc`](crate::assoc)
//! are generic over. Records may hold personal data: never log one.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use kinbridge_domain::access::Role;
use kinbridge_domain::family::FamilyRole;
use kinbridge_domain::ids::*;
use kinbridge_domain::network::NetworkHelp;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::parental::{KoppRole, PillarStatus, ResiliencePillar, SubGoalStatus};
use kinbridge_domain::partner::{CertificationStatus, ServiceActivity};
use kinbridge_domain::person::IdentifierKind;
use kinbridge_domain::placement::{PlacementEndReason, PlacementSetting};
use kinbridge_domain::plan::{GoalPurpose, OfferResponse, PlanStatus, ReviewKind, SupportOfferKind};
use kinbridge_domain::sharing::{ConsentAge, ConsentPurpose};
use kinbridge_domain::visit::{CancelledBy, Supervision, VisitStatus};

use crate::entities;
use crate::error::StoreError;

/// An entity whose rows are read as [`Readable::Record`]s.
pub trait Readable: sea_orm::EntityTrait<Model: crate::entities::FromRow> {
    type Record: Clone + Send + Sync + 'static;

    /// The row as its record.
    fn read(row: Self::Model) -> Result<Self::Record, StoreError>;
}

/// A stored column value turned into the domain type its record field has.
pub trait FromStored<S>: Sized {
    fn from_stored(stored: S) -> Result<Self, StoreError>;
}

impl<S, T: FromStored<S>> FromStored<Option<S>> for Option<T> {
    fn from_stored(stored: Option<S>) -> Result<Self, StoreError> {
        stored.map(T::from_stored).transpose()
    }
}

/// A record field as it appears in JSON (the subject access report): ids in their public
/// form (`per_…`), the domain's enums by their API names, dates as ISO 8601 and times as
/// RFC 3339 in UTC.
pub trait ToJson {
    fn to_json(&self) -> serde_json::Value;
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> serde_json::Value {
        self.as_ref().map_or(serde_json::Value::Null, ToJson::to_json)
    }
}

macro_rules! json_as_is {
    ($($t:ty),+) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> serde_json::Value {
                serde_json::json!(self)
            }
        }
    )+};
}
json_as_is!(bool, i32, i64, String, serde_json::Value);

macro_rules! json_as_text {
    ($($t:ty),+ $(,)?) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::String(self.to_string())
            }
        }
    )+};
}
json_as_text!(NaiveDate);

impl ToJson for Uuid {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.simple().to_string())
    }
}

impl ToJson for DateTime<Utc> {
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(self.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

impl ToJson for ConsentAge {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!(self.years())
    }
}

/// `snake_case` as `camelCase`, the API's spelling of a field.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! as_stored {
    ($($t:ty),+) => {$(
        impl FromStored<$t> for $t {
            fn from_stored(stored: $t) -> Result<Self, StoreError> {
                Ok(stored)
            }
        }
    )+};
}
as_stored!(bool, i32, i64, String, Uuid, NaiveDate, DateTime<Utc>);

macro_rules! ids {
    ($($t:ty),+ $(,)?) => {$(
        impl FromStored<Uuid> for $t {
            fn from_stored(stored: Uuid) -> Result<Self, StoreError> {
                Ok(<$t>::from_uuid(stored))
            }
        }
        json_as_text!($t);
    )+};
}
ids!(
    OrganizationId,
    PersonId,
    FamilyId,
    FamilyMemberId,
    PlacementId,
    ContactVisitId,
    ParentActionPlanId,
    GoalId,
    FamilyPartnerId,
    ServiceEligibilityId,
    FamilyPartnerAssignmentId,
    FamilyPartnerServiceId,
    ReferralId,
    ConsentId,
    KeyPersonNotificationId,
    PlanReviewId,
    SupportOfferId,
    SubGoalId,
    VisitArrangementId,
    ParentalSupportNoteId,
    KoppInterviewId,
    PillarRecordId,
    OtherParentSupportId,
    NetworkMapEntryId,
);

macro_rules! names {
    ($($t:ty),+ $(,)?) => {$(
        impl FromStored<String> for $t {
            fn from_stored(stored: String) -> Result<Self, StoreError> {
                Ok(stored.parse::<$t>()?)
            }
        }
        json_as_text!($t);
    )+};
}
names!(
    OrganizationKind,
    Role,
    IdentifierKind,
    FamilyRole,
    PlacementSetting,
    PlacementEndReason,
    Supervision,
    VisitStatus,
    CancelledBy,
    GoalPurpose,
    ReviewKind,
    SupportOfferKind,
    OfferResponse,
    ResiliencePillar,
    PillarStatus,
    KoppRole,
    SubGoalStatus,
    PlanStatus,
    ConsentPurpose,
    CertificationStatus,
    ServiceActivity,
    NetworkHelp,
);

impl FromStored<i32> for ConsentAge {
    fn from_stored(stored: i32) -> Result<Self, StoreError> {
        ConsentAge::new(stored.into()).map_err(|e| StoreError::Corrupt(format!("consent age: {}", e.message)))
    }
}

/// A change-feed payload, stored as JSON text.
impl FromStored<String> for serde_json::Value {
    fn from_stored(stored: String) -> Result<Self, StoreError> {
        serde_json::from_str(&stored).map_err(|e| StoreError::Corrupt(format!("change payload: {e}")))
    }
}

macro_rules! records {
    ($($(#[$meta:meta])* $module:ident => $record:ident { $($field:ident : $ty:ty),+ $(,)? })+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $record {
            $(pub $field: $ty,)+
        }

        impl TryFrom<entities::$module::Model> for $record {
            type Error = StoreError;
            fn try_from(row: entities::$module::Model) -> Result<Self, StoreError> {
                Ok(Self { $($field: FromStored::from_stored(row.$field)?,)+ })
            }
        }

        /// The record as a JSON object: each field under its camelCase name.
        impl ToJson for $record {
            fn to_json(&self) -> serde_json::Value {
                let mut fields = serde_json::Map::new();
                $(fields.insert(camel(stringify!($field)), ToJson::to_json(&self.$field));)+
                serde_json::Value::Object(fields)
            }
        }

        impl Readable for entities::$module::Entity {
            type Record = $record;

            fn read(row: entities::$module::Model) -> Result<$record, StoreError> {
                row.try_into()
            }
        }
    )+};
}

type Time = DateTime<Utc>;

records! {
    /// An organisation of the registry.
    organization => Organization {
        id: OrganizationId, kind: OrganizationKind, name: String, code: String, created_at: Time,
        disabled_at: Option<Time>, young_person_consent_age: ConsentAge,
    }

    /// A person, known to the organisation that recorded them.
    person => Person {
        id: PersonId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        given_name: String, family_name: String, birth_date: Option<NaiveDate>,
    }

    /// One identifier a person carries (a national id, a case system's number).
    person_identifier => PersonIdentifier {
        id: Uuid, organization_id: OrganizationId, created_at: Time, person_id: PersonId, kind: IdentifierKind,
        system: String, value: String,
    }

    /// A family, owned by its responsible municipality.
    family => Family {
        id: FamilyId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        external_id: Option<String>, name: String, caseworker_contact: Option<String>,
    }

    /// One person's membership of one family.
    family_member => FamilyMember {
        id: FamilyMemberId, organization_id: OrganizationId, created_at: Time, family_id: FamilyId,
        person_id: PersonId, role: FamilyRole, residence_municipality_id: Option<OrganizationId>,
    }

    /// One helper on a family's network map.
    network_map_entry => NetworkMapEntry {
        id: NetworkMapEntryId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        family_id: FamilyId, person_id: PersonId, member_id: Option<FamilyMemberId>, relationship: Option<String>,
        help: NetworkHelp, description: String, since: NaiveDate, until: Option<NaiveDate>,
    }

    /// A child's placement out of home.
    placement => Placement {
        id: PlacementId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        family_id: FamilyId, child_id: PersonId, provider_id: Option<OrganizationId>, external_id: Option<String>,
        setting: PlacementSetting, voluntary: bool, decision_date: NaiveDate, start_date: NaiveDate,
        end_date: Option<NaiveDate>, end_reason: Option<PlacementEndReason>,
    }

    /// A contact visit between a placed child and relatives.
    contact_visit => ContactVisit {
        id: ContactVisitId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        placement_id: PlacementId, external_id: Option<String>, planned_start: Time, planned_end: Time,
        location: Option<String>, supervision: Supervision, supervisor_name: Option<String>, status: VisitStatus,
        cancelled_by: Option<CancelledBy>, cancelled_at: Option<Time>, cancellation_reason: Option<String>,
        observations: Option<String>, outcome_recorded_at: Option<Time>,
    }

    /// Who took part in a contact visit.
    contact_visit_participant => ContactVisitParticipant { visit_id: ContactVisitId, person_id: PersonId }

    /// A parent action plan.
    parent_action_plan => ParentActionPlan {
        id: ParentActionPlanId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        family_id: FamilyId, placement_id: PlacementId, status: PlanStatus, review_interval_days: i32,
        child_plan_reference: Option<String>, activated_on: Option<NaiveDate>, closed_on: Option<NaiveDate>,
        next_review_due: Option<NaiveDate>,
    }

    /// A plan meeting or status meeting.
    plan_review => PlanReview {
        id: PlanReviewId, organization_id: OrganizationId, created_at: Time, plan_id: ParentActionPlanId,
        kind: ReviewKind, held_on: NaiveDate, note: Option<String>, adjustments: Option<String>,
        next_review_on: Option<NaiveDate>,
    }

    /// Progress on one goal at one review.
    plan_review_progress => PlanReviewProgress {
        id: Uuid, review_id: PlanReviewId, goal_id: GoalId, score: i32, note: Option<String>,
    }

    /// A goal of a parent action plan.
    plan_goal => Goal {
        id: GoalId, organization_id: OrganizationId, created_at: Time, plan_id: ParentActionPlanId, position: i32,
        description: String, purpose: GoalPurpose,
    }

    /// Support offered to the parents of a placed child.
    support_offer => SupportOffer {
        id: SupportOfferId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        placement_id: PlacementId, kind: SupportOfferKind, offered_on: NaiveDate, response: OfferResponse,
        responded_on: Option<NaiveDate>, reoffer_on: Option<NaiveDate>,
    }

    /// A concrete step under a goal, owned by a family therapist or support person.
    sub_goal => SubGoal {
        id: SubGoalId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        goal_id: GoalId, description: String, owner_organization_id: OrganizationId, owner_name: String,
        status: SubGoalStatus,
    }

    /// How often and how the contact visits of a placement take place.
    visit_arrangement => VisitArrangement {
        id: VisitArrangementId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        placement_id: PlacementId, interval_days: i32, supervision: Supervision, supervisor_name: Option<String>,
    }

    /// A dated note of how a client was supported in the role as a parent.
    parental_support_note => ParentalSupportNote {
        id: ParentalSupportNoteId, organization_id: OrganizationId, created_at: Time, client_id: PersonId,
        noted_on: NaiveDate, text: String,
    }

    /// A KOPP (COPMI) prevention interview with a client.
    kopp_interview => KoppInterview {
        id: KoppInterviewId, organization_id: OrganizationId, created_at: Time, client_id: PersonId,
        held_on: NaiveDate, note: Option<String>,
    }

    /// Who took part in a KOPP interview besides the client.
    kopp_participant => KoppParticipant { interview_id: KoppInterviewId, person_id: PersonId, role: KoppRole }

    /// The status of one pillar of the children's resilience, as recorded on a day.
    resilience_pillar_record => PillarRecord {
        id: PillarRecordId, organization_id: OrganizationId, created_at: Time, client_id: PersonId,
        pillar: ResiliencePillar, status: PillarStatus, recorded_on: NaiveDate, note: Option<String>,
    }

    /// Support given to the other parent.
    other_parent_support => OtherParentSupport {
        id: OtherParentSupportId, organization_id: OrganizationId, created_at: Time, client_id: PersonId,
        other_parent_id: PersonId, recorded_on: NaiveDate, wellbeing_asked: bool, network_involved: bool,
        informed_of_support_options: bool, note: Option<String>,
    }

    /// A family partner of a mental health authority.
    family_partner => FamilyPartner {
        id: FamilyPartnerId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        given_name: String, family_name: String, certification_status: CertificationStatus,
        certified_on: Option<NaiveDate>, renewal_due: Option<NaiveDate>, training_deadline: Option<NaiveDate>,
        subject: Option<String>,
    }

    /// A municipality's referral of a family to a family services provider.
    referral => Referral {
        id: ReferralId, organization_id: OrganizationId, created_at: Time, updated_at: Time, version: i32,
        family_id: FamilyId, provider_id: OrganizationId, starts_on: NaiveDate, ends_on: Option<NaiveDate>,
    }

    /// A record that a key person around a child was notified, with the client's consent.
    key_person_notification => KeyPersonNotification {
        id: KeyPersonNotificationId, organization_id: OrganizationId, created_at: Time, client_id: PersonId,
        key_person_id: PersonId, notified_on: NaiveDate, note: Option<String>,
    }

    /// A person's consent, for a purpose, to a recipient organisation.
    consent => Consent {
        id: ConsentId, organization_id: OrganizationId, created_at: Time, person_id: PersonId,
        purpose: ConsentPurpose, recipient_id: OrganizationId, given_on: NaiveDate, revoked_at: Option<Time>,
    }

    /// A child's eligibility for services at a mental health authority.
    service_eligibility => ServiceEligibility {
        id: ServiceEligibilityId, organization_id: OrganizationId, created_at: Time, child_id: PersonId,
        caregiver_id: PersonId, eligible_from: NaiveDate, eligible_to: Option<NaiveDate>,
    }

    /// A family partner's assignment to a primary caregiver.
    family_partner_assignment => FamilyPartnerAssignment {
        id: FamilyPartnerAssignmentId, organization_id: OrganizationId, created_at: Time, updated_at: Time,
        version: i32, family_partner_id: FamilyPartnerId, eligibility_id: ServiceEligibilityId,
        caregiver_id: PersonId, start_date: NaiveDate, end_date: Option<NaiveDate>,
    }

    /// One family partner service delivered to a caregiver.
    family_partner_service => FamilyPartnerService {
        id: FamilyPartnerServiceId, organization_id: OrganizationId, created_at: Time,
        assignment_id: FamilyPartnerAssignmentId, recipient_id: PersonId, service_date: NaiveDate, minutes: i32,
        activity: ServiceActivity,
    }

    /// One event of the audit trail: a write, or one record a request was shown.
    audit_trail => AuditEvent {
        id: Uuid, occurred_at: Time, request_id: String, subject: String, organization_id: OrganizationId,
        roles: String, operation: String, record_type: String, record_id: Uuid,
    }

    /// One committed change, as the change feed lists it.
    outbox => Change {
        id: i64, occurred_at: Time, organization_id: OrganizationId, aggregate_type: String, aggregate_id: Uuid,
        event_type: String, payload: serde_json::Value, position: Option<i64>,
    }
}

/// Reads each row of a list as its record.
pub fn all<M, R>(rows: Vec<M>) -> Result<Vec<R>, StoreError>
where
    R: TryFrom<M, Error = StoreError>,
{
    rows.into_iter().map(R::try_from).collect()
}

/// Reads each row as its record and groups the records by `key` (their parent's id), in
/// the rows' order.
pub fn grouped<M, R>(
    rows: Vec<M>,
    key: impl Fn(&R) -> Uuid,
) -> Result<std::collections::HashMap<Uuid, Vec<R>>, StoreError>
where
    R: TryFrom<M, Error = StoreError>,
{
    let mut groups: std::collections::HashMap<Uuid, Vec<R>> = std::collections::HashMap::new();
    for row in rows {
        let record = R::try_from(row)?;
        groups.entry(key(&record)).or_default().push(record);
    }
    Ok(groups)
}

impl<M> crate::page::Page<M> {
    /// Reads each row of the page as its record.
    pub fn read<R>(self) -> Result<crate::page::Page<R>, StoreError>
    where
        R: TryFrom<M, Error = StoreError>,
    {
        Ok(crate::page::Page { items: all(self.items)?, has_previous: self.has_previous, has_next: self.has_next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement_row() -> entities::placement::Model {
        let now = Utc::now();
        let today = now.date_naive();
        entities::placement::Model {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            created_at: now,
            updated_at: now,
            version: 3,
            family_id: Uuid::now_v7(),
            child_id: Uuid::now_v7(),
            provider_id: None,
            external_id: Some("P-1".into()),
            setting: "FOSTER_FAMILY".into(),
            voluntary: true,
            decision_date: today,
            start_date: today,
            end_date: None,
            end_reason: None,
        }
    }

    #[test]
    fn a_row_reads_as_its_record_with_typed_fields() {
        let row = placement_row();
        let record = Placement::try_from(row.clone()).expect("a well-formed row");
        assert_eq!(record.id, PlacementId::from_uuid(row.id));
        assert_eq!(record.child_id, PersonId::from_uuid(row.child_id));
        assert_eq!(record.setting, PlacementSetting::FosterFamily);
        assert_eq!((record.provider_id, record.end_reason), (None, None));
        assert_eq!(record.version, 3);
    }

    #[test]
    fn a_stored_value_that_does_not_parse_fails_the_read_as_corrupt() {
        let damaged = entities::placement::Model { setting: "ORPHANAGE".into(), ..placement_row() };
        assert!(matches!(Placement::try_from(damaged), Err(StoreError::Corrupt(m)) if m.contains("ORPHANAGE")));
        let damaged = entities::placement::Model { end_reason: Some(String::new()), ..placement_row() };
        assert!(matches!(Placement::try_from(damaged), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_change_payload_is_parsed_once_and_damage_is_corrupt() {
        let row = entities::outbox::Model {
            id: 7,
            occurred_at: Utc::now(),
            organization_id: Uuid::now_v7(),
            aggregate_type: "Family".into(),
            aggregate_id: Uuid::now_v7(),
            event_type: "family.created".into(),
            payload: r#"{"id":"fam_1"}"#.into(),
            position: Some(7),
        };
        let change = Change::try_from(row.clone()).expect("a well-formed row");
        assert_eq!(change.payload["id"], "fam_1");
        let damaged = entities::outbox::Model { payload: "{".into(), ..row };
        assert!(matches!(Change::try_from(damaged), Err(StoreError::Corrupt(_))));
    }
}
