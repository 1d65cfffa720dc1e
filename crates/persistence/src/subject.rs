//! The subject access report (GDPR art. 15): everything an organisation holds about one
//! person, and who has seen or changed it, as one JSON document.
//!
//! The document's shape is versioned ([`SUBJECT_REPORT_VERSION`]) and described in
//! `docs/subject-report.md`: `records` has one list per kind of record, each record an
//! object of its fields under their API names (see [`records::ToJson`]), and `accessLog`
//! is the person's access log, oldest first.

use chrono::{SecondsFormat, Utc};
use kinbridge_domain::ids::PersonId;
use sea_orm::sea_query::{SelectStatement, ValueType};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Store;
use crate::entities::*;
use crate::error::StoreError;
use crate::records::{self, Readable, ToJson};
use crate::scope::Reader;
use crate::trail::Related;

/// The version of the report's shape. A change that removes or renames a field is a new
/// version; a field added keeps it.
pub const SUBJECT_REPORT_VERSION: u32 = 1;

impl Store {
    /// The subject access report of `person`, for the organisation that owns them, or for
    /// one that holds records about them (then only those, and its own part of the access
    /// log); to anyone else `NotFound`, as for a person that does not exist. Every record listed is
    /// logged as shown to the caller, and the report itself as a `SubjectReport` read of
    /// the person, so the person's access log lists who asked for it.
    pub async fn subject_report(&self, r: &Reader<'_>, person_id: PersonId) -> Result<Value, StoreError> {
        let db = self.conn();
        let org = r.actor.organization_id.as_uuid();
        let person =
            person::Entity::find_by_id(person_id.as_uuid()).one(db).await?.ok_or(StoreError::not_found("Person"))?;
        let person = records::Person::try_from(person)?;
        let owner = person.organization_id.as_uuid() == org;
        let organization = self.organization(r.actor.organization_id).await?;
        let rel = Related::of(person_id);

        macro_rules! held {
            ($($section:literal => $entity:ident as $record_type:literal from $ids:ident),+ $(,)?) => {{
                let mut sections = Map::new();
                $(sections.insert(
                    $section.to_owned(),
                    Value::Array(
                        held::<$entity::Entity>(
                            db, r, $record_type, $entity::Column::Id, $entity::Column::OrganizationId, &rel.$ids, org,
                        )
                        .await?,
                    ),
                );)+
                sections
            }};
        }
        let records = held! {
            "identifiers" => person_identifier as "PersonIdentifier" from identifiers,
            "families" => family as "Family" from families,
            "familyMemberships" => family_member as "FamilyMember" from memberships,
            "placements" => placement as "Placement" from placements,
            "contactVisits" => contact_visit as "ContactVisit" from visits,
            "visitArrangements" => visit_arrangement as "VisitArrangement" from arrangements,
            "supportOffers" => support_offer as "SupportOffer" from offers,
            "parentActionPlans" => parent_action_plan as "ParentActionPlan" from plans,
            "goals" => plan_goal as "Goal" from goals,
            "subGoals" => sub_goal as "SubGoal" from sub_goals,
            "planReviews" => plan_review as "PlanReview" from reviews,
            "referrals" => referral as "Referral" from referrals,
            "networkMapEntries" => network_map_entry as "NetworkMapEntry" from network,
            "consents" => consent as "Consent" from consents,
            "keyPersonNotifications" => key_person_notification as "KeyPersonNotification" from notifications,
            "parentalSupportNotes" => parental_support_note as "ParentalSupportNote" from notes,
            "koppInterviews" => kopp_interview as "KoppInterview" from interviews,
            "resiliencePillarRecords" => resilience_pillar_record as "PillarRecord" from pillars,
            "otherParentSupport" => other_parent_support as "OtherParentSupport" from other_parent,
            "serviceEligibilities" => service_eligibility as "ServiceEligibility" from eligibilities,
            "familyPartnerAssignments" => family_partner_assignment as "FamilyPartnerAssignment" from assignments,
            "familyPartnerServices" => family_partner_service as "FamilyPartnerService" from services,
        };
        // An organisation that holds records about someone else's person (a provider's
        // parental-role support of a referred parent) reports what it holds, and its own
        // reads and writes of them; to anyone else the person does not exist.
        if !owner && records.values().all(|list| list.as_array().is_none_or(Vec::is_empty)) {
            return Err(StoreError::not_found("Person"));
        }
        r.saw("Person", person_id.as_uuid());
        r.saw("SubjectReport", person_id.as_uuid());
        let mut access_log = self.full_access_log(person_id).await?;
        if !owner {
            access_log.retain(|event| event.organization_id.as_uuid() == org);
        }
        let mut names = std::collections::BTreeMap::new();
        for event in &access_log {
            if let std::collections::btree_map::Entry::Vacant(slot) = names.entry(event.organization_id) {
                slot.insert(self.organization(event.organization_id).await?.name);
            }
        }
        let access_log: Vec<Value> = access_log
            .iter()
            .map(|event| {
                let mut entry = event.to_json();
                // The event's id as the API gives it, and whose organisation it was.
                entry["id"] = json!(format!("aud_{}", event.id.simple()));
                entry["organizationName"] = json!(names.get(&event.organization_id));
                entry
            })
            .collect();
        Ok(json!({
            "version": SUBJECT_REPORT_VERSION,
            "generatedAt": Utc::now().to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "organization": {
                "id": organization.id.to_string(),
                "kind": organization.kind.as_str(),
                "code": organization.code,
                "name": organization.name,
            },
            "person": person.to_json(),
            "records": records,
            "accessLog": access_log,
        }))
    }
}

impl Store {
    /// The organisation that owns `person`, if the person exists.
    pub async fn person_owner(&self, person_id: PersonId) -> Result<Option<records::Organization>, StoreError> {
        let Some(found) = person::Entity::find_by_id(person_id.as_uuid()).one(self.conn()).await? else {
            return Ok(None);
        };
        Ok(Some(self.organization(kinbridge_domain::ids::OrganizationId::from_uuid(found.organization_id)).await?))
    }
}

/// The records of `E` that `org` holds among `ids`, oldest first, as JSON; each logged
/// as shown under `record_type`.
async fn held<E>(
    db: &impl ConnectionTrait,
    r: &Reader<'_>,
    record_type: &'static str,
    id: E::Column,
    owner: E::Column,
    ids: &SelectStatement,
    org: Uuid,
) -> Result<Vec<Value>, StoreError>
where
    E: Readable,
    E::Record: ToJson,
{
    let rows = E::find().filter(id.in_subquery(ids.clone())).filter(owner.eq(org)).order_by_asc(id).all(db).await?;
    rows.into_iter()
        .map(|row| {
            let record_id = <Uuid as ValueType>::try_from(row.get(id))
                .map_err(|_| StoreError::Corrupt(format!("{record_type}: an id that is not a UUID")))?;
            r.saw(record_type, record_id);
            Ok(E::read(row)?.to_json())
        })
        .collect()
}
