//! Retention and erasure (GDPR art. 5(1)(e) and 17): what the retention policy makes due,
//! and the erasure of a family or a person.
//!
//! Erasing pseudonymises: the records stay, with their ids, dates, kinds and statuses (so
//! the audit trail, the statistics and other agencies' references still hold), and every
//! field that says something about a person is replaced by [`ERASED`] or emptied: names,
//! birth dates, identifiers (deleted), case ids, the parents' goals in their own words, notes,
//! observations, reasons, places, relationships. An [`erasure`] row tells what was erased,
//! when, on which basis and who decided it, and each erased person or family is a write
//! in the audit trail and an event (`person.erased`, `family.erased`) in the owner's change
//! feed, so that connected systems erase their copies too.
//!
//! The policy ([`RetentionPolicy`]): a family's records are kept for `family_years` after
//! its last placement ended (while a placement is open, they are kept); a family that never
//! had a placement, for `family_years` after it last changed. A person of a mental health
//! authority who is in no family is kept for `authority_years` after their last
//! eligibility and family partner assignment ended.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Months, NaiveDate, Utc};
use kinbridge_domain::ids::{FamilyId, OrganizationId, PersonId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::text::FreeText;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::Store;
use crate::entities::*;
use crate::error::StoreError;
use crate::write::{WriteMeta, WriteTx, system_actor};

/// What an erased text field reads.
pub const ERASED: &str = "[erased]";

/// How long records are kept. See the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub family_years: u32,
    pub authority_years: u32,
}

impl Default for RetentionPolicy {
    /// Five years for both, the period of the Danish rules on keeping case records after
    /// a case has ended; an organisation with another duty configures its own.
    fn default() -> Self {
        Self { family_years: 5, authority_years: 5 }
    }
}

/// A family or person the policy makes due for erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// `Family` or `Person`.
    pub record_type: &'static str,
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// The day the retention period ended.
    pub since: NaiveDate,
}

impl Due {
    pub fn public_id(&self) -> String {
        match self.record_type {
            "Family" => FamilyId::from_uuid(self.id).to_string(),
            _ => PersonId::from_uuid(self.id).to_string(),
        }
    }
}

/// Until when a record is kept: the day its retention ends, or `None` while what it is
/// about is open (a placement, an eligibility, an assignment).
type KeptUntil = Option<NaiveDate>;

fn years_after(day: NaiveDate, years: u32) -> NaiveDate {
    day.checked_add_months(Months::new(years.saturating_mul(12))).unwrap_or(NaiveDate::MAX)
}

/// When each family's retention ends, or `Open` while a placement is open: for every
/// family not erased yet.
async fn family_retention(
    store: &Store,
    policy: &RetentionPolicy,
) -> Result<BTreeMap<Uuid, (OrganizationId, KeptUntil)>, StoreError> {
    let erased = erased_ids(store, "Family").await?;
    let families: Vec<(Uuid, Uuid, DateTime<Utc>)> = family::Entity::find()
        .select_only()
        .columns([family::Column::Id, family::Column::OrganizationId, family::Column::UpdatedAt])
        .into_tuple()
        .all(store.conn())
        .await?;
    let placements: Vec<(Uuid, Option<NaiveDate>)> = placement::Entity::find()
        .select_only()
        .columns([placement::Column::FamilyId, placement::Column::EndDate])
        .into_tuple()
        .all(store.conn())
        .await?;
    // Per family: whether a placement is open, and the last end.
    let mut ends: BTreeMap<Uuid, (bool, Option<NaiveDate>)> = BTreeMap::new();
    for (family, end) in placements {
        let entry = ends.entry(family).or_insert((false, None));
        match end {
            None => entry.0 = true,
            Some(end) => entry.1 = std::cmp::max(entry.1, Some(end)),
        }
    }
    Ok(families
        .into_iter()
        .filter(|(id, _, _)| !erased.contains(id))
        .map(|(id, org, updated)| {
            let until = match ends.get(&id) {
                Some((true, _)) => None,
                Some((false, Some(last))) => Some(years_after(*last, policy.family_years)),
                _ => Some(years_after(updated.date_naive(), policy.family_years)),
            };
            (id, (OrganizationId::from_uuid(org), until))
        })
        .collect())
}

/// When the retention of each authority person (a child or caregiver of an eligibility
/// record, in no family) ends, or `Open` while an eligibility or assignment is open.
async fn authority_retention(
    store: &Store,
    policy: &RetentionPolicy,
    in_families: &BTreeSet<Uuid>,
) -> Result<BTreeMap<Uuid, (OrganizationId, KeptUntil)>, StoreError> {
    let erased = erased_ids(store, "Person").await?;
    let eligibilities: Vec<(Uuid, Uuid, Uuid, Option<NaiveDate>)> = service_eligibility::Entity::find()
        .select_only()
        .columns([
            service_eligibility::Column::OrganizationId,
            service_eligibility::Column::ChildId,
            service_eligibility::Column::CaregiverId,
            service_eligibility::Column::EligibleTo,
        ])
        .into_tuple()
        .all(store.conn())
        .await?;
    let assignments: Vec<(Uuid, Uuid, Option<NaiveDate>)> = family_partner_assignment::Entity::find()
        .select_only()
        .columns([
            family_partner_assignment::Column::OrganizationId,
            family_partner_assignment::Column::CaregiverId,
            family_partner_assignment::Column::EndDate,
        ])
        .into_tuple()
        .all(store.conn())
        .await?;
    let mut out: BTreeMap<Uuid, (OrganizationId, KeptUntil)> = BTreeMap::new();
    let mut note = |org: Uuid, person: Uuid, end: Option<NaiveDate>| {
        if in_families.contains(&person) || erased.contains(&person) {
            return;
        }
        let entry = out.entry(person).or_insert((OrganizationId::from_uuid(org), Some(NaiveDate::MIN)));
        entry.1 = match (entry.1, end) {
            (None, _) | (_, None) => None,
            (Some(so_far), Some(end)) => Some(std::cmp::max(so_far, years_after(end, policy.authority_years))),
        };
    };
    for (org, child, caregiver, to) in eligibilities {
        note(org, child, to);
        note(org, caregiver, to);
    }
    for (org, caregiver, end) in assignments {
        note(org, caregiver, end);
    }
    Ok(out)
}

async fn erased_ids(store: &Store, record_type: &str) -> Result<BTreeSet<Uuid>, StoreError> {
    let ids: Vec<Uuid> = erasure::Entity::find()
        .select_only()
        .column(erasure::Column::RecordId)
        .filter(erasure::Column::RecordType.eq(record_type))
        .into_tuple()
        .all(store.conn())
        .await?;
    Ok(ids.into_iter().collect())
}

/// The persons named by families: their members and the helpers on their network maps.
async fn family_people(store: &Store) -> Result<BTreeMap<Uuid, BTreeSet<Uuid>>, StoreError> {
    let members: Vec<(Uuid, Uuid)> = family_member::Entity::find()
        .select_only()
        .columns([family_member::Column::PersonId, family_member::Column::FamilyId])
        .into_tuple()
        .all(store.conn())
        .await?;
    let helpers: Vec<(Uuid, Uuid)> = network_map_entry::Entity::find()
        .select_only()
        .columns([network_map_entry::Column::PersonId, network_map_entry::Column::FamilyId])
        .into_tuple()
        .all(store.conn())
        .await?;
    let mut families: BTreeMap<Uuid, BTreeSet<Uuid>> = BTreeMap::new();
    for (person, family) in members.into_iter().chain(helpers) {
        families.entry(person).or_default().insert(family);
    }
    Ok(families)
}

impl Store {
    /// The families and persons the policy makes due for erasure on `today`, oldest
    /// first. Reads only.
    pub async fn retention_due(&self, policy: &RetentionPolicy, today: NaiveDate) -> Result<Vec<Due>, StoreError> {
        let people = family_people(self).await?;
        let in_families: BTreeSet<Uuid> = people.keys().copied().collect();
        let mut due = Vec::new();
        for (id, (org, until)) in family_retention(self, policy).await? {
            if let Some(since) = until
                && since <= today
            {
                due.push(Due { record_type: "Family", id, organization_id: org, since });
            }
        }
        for (id, (org, until)) in authority_retention(self, policy, &in_families).await? {
            if let Some(since) = until
                && since <= today
            {
                due.push(Due { record_type: "Person", id, organization_id: org, since });
            }
        }
        due.sort_by_key(|d| (d.since, d.id));
        Ok(due)
    }

    /// Erases what the policy makes due on `today`, each family or person in its own
    /// write, in Kinbridge's name (`decided_by` names the operator's run). Returns what
    /// it erased; what another run erased first, even at the same moment, is skipped.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        today: NaiveDate,
        decided_by: &str,
    ) -> Result<Vec<Due>, StoreError> {
        let due = self.retention_due(policy, today).await?;
        let people = family_people(self).await?;
        // A person goes with their families only if every family naming them is erased
        // in this run or was before.
        let erased_families = erased_ids(self, "Family").await?;
        let going: BTreeSet<Uuid> = due.iter().filter(|d| d.record_type == "Family").map(|d| d.id).collect();
        let mut done = Vec::new();
        for d in &due {
            let kind =
                self.organization(d.organization_id).await.map(|o| o.kind).unwrap_or(OrganizationKind::Municipality);
            let actor = system_actor(d.organization_id, kind);
            let meta =
                WriteMeta { actor: &actor, request_id: "retention", operation: "applyRetention", idempotency: None };
            let tx = self.begin_write(&meta).await?;
            if is_erased(&tx, d.id).await? {
                continue;
            }
            let reason = format!("retention: due since {}", d.since);
            let erased = async {
                if d.record_type == "Family" {
                    let persons: Vec<Uuid> = people
                        .iter()
                        .filter(|(_, fams)| fams.contains(&d.id))
                        .filter(|(_, fams)| fams.iter().all(|f| going.contains(f) || erased_families.contains(f)))
                        .map(|(p, _)| *p)
                        .collect();
                    erase_family_rows(&tx, d.id).await?;
                    note_erasure(&tx, "Family", d.id, "RETENTION", decided_by, Some(&reason)).await?;
                    tx.record_for(d.organization_id.as_uuid(), "Family", d.id, &d.public_id(), "family.erased").await?;
                    for p in persons {
                        if !is_erased(&tx, p).await? {
                            erase_person(&tx, p, "RETENTION", decided_by, Some(&reason)).await?;
                        }
                    }
                    Ok(())
                } else {
                    erase_person(&tx, d.id, "RETENTION", decided_by, Some(&reason)).await
                }
            };
            match erased.await {
                Ok(()) => tx.commit(d.id).await?,
                // Another run (a second replica's scheduler) erased it, or a person of it,
                // meanwhile: this write rolls back, and what is still due is the next run's.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
            done.push(d.clone());
        }
        Ok(done)
    }

    /// Erases one person at their request, as the data-protection officer `meta.actor`
    /// decided, unless a retention duty stands against it: a family naming them (as a
    /// member or a helper) whose placement is open or ended less than the policy's years
    /// ago, or an open or recent eligibility or assignment. Refused as `CONFLICT` naming
    /// the duty; a person already erased is `CONFLICT` too.
    pub async fn erase_person_on_request(
        &self,
        meta: &WriteMeta<'_>,
        person_id: PersonId,
        reason: &FreeText,
        policy: &RetentionPolicy,
    ) -> Result<PersonId, StoreError> {
        let today = Utc::now().date_naive();
        let p = person_id.as_uuid();
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(PersonId::from_uuid(id));
        }
        person::Entity::find_by_id(p)
            .filter(crate::scope::owned_by(person::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Person"))?;
        if is_erased(&tx, p).await? {
            return Err(StoreError::conflict("the person is erased already"));
        }
        let people = family_people(self).await?;
        let families = family_retention(self, policy).await?;
        for family in people.get(&p).into_iter().flatten() {
            match families.get(family) {
                Some((_, None)) => {
                    return Err(StoreError::conflict(format!(
                        "a retention duty stands: a placement of family {} is open; the records are kept for {} years after it ends",
                        FamilyId::from_uuid(*family),
                        policy.family_years
                    )));
                }
                Some((_, Some(until))) if *until > today => {
                    return Err(StoreError::conflict(format!(
                        "a retention duty stands until {until}: the records of family {} are kept for {} years",
                        FamilyId::from_uuid(*family),
                        policy.family_years
                    )));
                }
                _ => {}
            }
        }
        let in_families: BTreeSet<Uuid> = people.keys().copied().collect();
        match authority_retention(self, policy, &in_families).await?.get(&p) {
            Some((_, None)) => {
                return Err(StoreError::conflict(
                    "a retention duty stands: an eligibility or family partner assignment of the person is open",
                ));
            }
            Some((_, Some(until))) if *until > today => {
                return Err(StoreError::conflict(format!(
                    "a retention duty stands until {until}: the authority's records are kept for {} years",
                    policy.authority_years
                )));
            }
            _ => {}
        }
        erase_person(&tx, p, "REQUEST", &tx.actor().subject.clone(), Some(reason.as_str())).await?;
        tx.commit(p).await?;
        Ok(person_id)
    }

    /// When the person was erased, if they were.
    pub async fn erased_at(&self, id: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(erasure::Entity::find()
            .filter(erasure::Column::RecordId.eq(id))
            .one(self.conn())
            .await?
            .map(|e| e.created_at))
    }
}

async fn is_erased(tx: &WriteTx<'_>, id: Uuid) -> Result<bool, StoreError> {
    Ok(erasure::Entity::find().filter(erasure::Column::RecordId.eq(id)).one(&tx.reads()).await?.is_some())
}

async fn note_erasure(
    tx: &WriteTx<'_>,
    record_type: &str,
    id: Uuid,
    basis: &str,
    decided_by: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    tx.insert(erasure::ActiveModel {
        id: Set(Uuid::now_v7()),
        organization_id: Set(tx.organization_id()),
        created_at: Set(tx.now),
        record_type: Set(record_type.to_owned()),
        record_id: Set(id),
        basis: Set(basis.to_owned()),
        decided_by: Set(decided_by.chars().take(256).collect()),
        reason: Set(reason.map(str::to_owned)),
    })
    .await
}

/// Erases what is recorded about the person themself, in every organisation: their name
/// and birth date, identifiers, and the texts of the records that name them (support
/// notes, interviews, pillar and other-parent notes, notifications, network map entries).
async fn erase_person(
    tx: &WriteTx<'_>,
    p: Uuid,
    basis: &str,
    decided_by: &str,
    reason: Option<&str>,
) -> Result<(), StoreError> {
    let owner: Option<Uuid> = person::Entity::find_by_id(p)
        .select_only()
        .column(person::Column::OrganizationId)
        .into_tuple()
        .one(&tx.reads())
        .await?;
    let owner = owner.ok_or(StoreError::not_found("Person"))?;
    tx.update_where(
        person::Entity::update_many()
            .col_expr(person::Column::GivenName, Expr::value(ERASED))
            .col_expr(person::Column::FamilyName, Expr::value(ERASED))
            .col_expr(person::Column::BirthDate, Expr::value(Option::<NaiveDate>::None))
            .col_expr(person::Column::Version, Expr::col(person::Column::Version).add(1))
            .col_expr(person::Column::UpdatedAt, Expr::value(tx.now))
            .filter(person::Column::Id.eq(p)),
    )
    .await?;
    tx.delete_where(person_identifier::Entity::delete_many().filter(person_identifier::Column::PersonId.eq(p))).await?;
    tx.update_where(
        parental_support_note::Entity::update_many()
            .col_expr(parental_support_note::Column::Text, Expr::value(ERASED))
            .filter(parental_support_note::Column::ClientId.eq(p)),
    )
    .await?;
    tx.update_where(
        kopp_interview::Entity::update_many()
            .col_expr(kopp_interview::Column::Note, Expr::value(Option::<String>::None))
            .filter(kopp_interview::Column::ClientId.eq(p)),
    )
    .await?;
    tx.update_where(
        resilience_pillar_record::Entity::update_many()
            .col_expr(resilience_pillar_record::Column::Note, Expr::value(Option::<String>::None))
            .filter(resilience_pillar_record::Column::ClientId.eq(p)),
    )
    .await?;
    tx.update_where(
        other_parent_support::Entity::update_many()
            .col_expr(other_parent_support::Column::Note, Expr::value(Option::<String>::None))
            .filter(
                sea_orm::Condition::any()
                    .add(other_parent_support::Column::ClientId.eq(p))
                    .add(other_parent_support::Column::OtherParentId.eq(p)),
            ),
    )
    .await?;
    tx.update_where(
        key_person_notification::Entity::update_many()
            .col_expr(key_person_notification::Column::Note, Expr::value(Option::<String>::None))
            .filter(
                sea_orm::Condition::any()
                    .add(key_person_notification::Column::ClientId.eq(p))
                    .add(key_person_notification::Column::KeyPersonId.eq(p)),
            ),
    )
    .await?;
    erase_network_entries(tx, network_map_entry::Column::PersonId.eq(p)).await?;
    note_erasure(tx, "Person", p, basis, decided_by, reason).await?;
    tx.record_for(owner, "Person", p, &PersonId::from_uuid(p).to_string(), "person.erased").await
}

async fn erase_network_entries(
    tx: &WriteTx<'_>,
    which: impl sea_orm::sea_query::IntoCondition,
) -> Result<(), StoreError> {
    tx.update_where(
        network_map_entry::Entity::update_many()
            .col_expr(network_map_entry::Column::Description, Expr::value(ERASED))
            .col_expr(network_map_entry::Column::Relationship, Expr::value(Option::<String>::None))
            .col_expr(network_map_entry::Column::Version, Expr::col(network_map_entry::Column::Version).add(1))
            .col_expr(network_map_entry::Column::UpdatedAt, Expr::value(tx.now))
            .filter(which),
    )
    .await?;
    Ok(())
}

/// Erases what is recorded about the family as a whole: its name, the case ids of the
/// family, its placements and visits (pseudonyms of the persons, in the municipality's
/// case system), the texts of its visits, the parents' goals and sub-goals in their own words, review notes, the link to
/// the child's plan, and its network map. Its persons are erased separately.
async fn erase_family_rows(tx: &WriteTx<'_>, f: Uuid) -> Result<(), StoreError> {
    use sea_orm::sea_query::Query;
    let placements = Query::select()
        .column(placement::Column::Id)
        .from(placement::Entity)
        .and_where(placement::Column::FamilyId.eq(f))
        .take();
    let plans = Query::select()
        .column(parent_action_plan::Column::Id)
        .from(parent_action_plan::Entity)
        .and_where(parent_action_plan::Column::FamilyId.eq(f))
        .take();
    let goals = Query::select()
        .column(plan_goal::Column::Id)
        .from(plan_goal::Entity)
        .and_where(plan_goal::Column::PlanId.in_subquery(plans.clone()))
        .take();
    let reviews = Query::select()
        .column(plan_review::Column::Id)
        .from(plan_review::Entity)
        .and_where(plan_review::Column::PlanId.in_subquery(plans.clone()))
        .take();
    tx.update_where(
        family::Entity::update_many()
            .col_expr(family::Column::Name, Expr::value(ERASED))
            .col_expr(family::Column::ExternalId, Expr::value(Option::<String>::None))
            .col_expr(family::Column::Version, Expr::col(family::Column::Version).add(1))
            .col_expr(family::Column::UpdatedAt, Expr::value(tx.now))
            .filter(family::Column::Id.eq(f)),
    )
    .await?;
    tx.update_where(
        placement::Entity::update_many()
            .col_expr(placement::Column::ExternalId, Expr::value(Option::<String>::None))
            .col_expr(placement::Column::Version, Expr::col(placement::Column::Version).add(1))
            .col_expr(placement::Column::UpdatedAt, Expr::value(tx.now))
            .filter(placement::Column::FamilyId.eq(f)),
    )
    .await?;
    tx.update_where(
        contact_visit::Entity::update_many()
            .col_expr(contact_visit::Column::Location, Expr::value(Option::<String>::None))
            .col_expr(contact_visit::Column::ExternalId, Expr::value(Option::<String>::None))
            .col_expr(contact_visit::Column::CancellationReason, Expr::value(Option::<String>::None))
            .col_expr(contact_visit::Column::Observations, Expr::value(Option::<String>::None))
            .col_expr(contact_visit::Column::Version, Expr::col(contact_visit::Column::Version).add(1))
            .col_expr(contact_visit::Column::UpdatedAt, Expr::value(tx.now))
            .filter(contact_visit::Column::PlacementId.in_subquery(placements)),
    )
    .await?;
    tx.update_where(
        parent_action_plan::Entity::update_many()
            .col_expr(parent_action_plan::Column::ChildPlanReference, Expr::value(Option::<String>::None))
            .col_expr(parent_action_plan::Column::Version, Expr::col(parent_action_plan::Column::Version).add(1))
            .col_expr(parent_action_plan::Column::UpdatedAt, Expr::value(tx.now))
            .filter(parent_action_plan::Column::FamilyId.eq(f)),
    )
    .await?;
    tx.update_where(
        plan_goal::Entity::update_many()
            .col_expr(plan_goal::Column::Description, Expr::value(ERASED))
            .filter(plan_goal::Column::PlanId.in_subquery(plans.clone())),
    )
    .await?;
    tx.update_where(
        sub_goal::Entity::update_many()
            .col_expr(sub_goal::Column::Description, Expr::value(ERASED))
            .col_expr(sub_goal::Column::Version, Expr::col(sub_goal::Column::Version).add(1))
            .col_expr(sub_goal::Column::UpdatedAt, Expr::value(tx.now))
            .filter(sub_goal::Column::GoalId.in_subquery(goals)),
    )
    .await?;
    tx.update_where(
        plan_review::Entity::update_many()
            .col_expr(plan_review::Column::Note, Expr::value(Option::<String>::None))
            .col_expr(plan_review::Column::Adjustments, Expr::value(Option::<String>::None))
            .filter(plan_review::Column::PlanId.in_subquery(plans)),
    )
    .await?;
    tx.update_where(
        plan_review_progress::Entity::update_many()
            .col_expr(plan_review_progress::Column::Note, Expr::value(Option::<String>::None))
            .filter(plan_review_progress::Column::ReviewId.in_subquery(reviews)),
    )
    .await?;
    erase_network_entries(tx, network_map_entry::Column::FamilyId.eq(f)).await
}
