//! Persons, families and family members.

use kinbridge_domain::ValidationError;
use kinbridge_domain::access::Actor;
use kinbridge_domain::family::{FamilyRole, Membership, NewFamily};
use kinbridge_domain::ids::{FamilyId, FamilyMemberId, OrganizationId, PersonId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::person::{IdentifierKind, NewPerson, PersonIdentifier};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::Store;
use crate::entities::{family, family_member, person, person_identifier};
use crate::error::StoreError;
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{Outcome, WriteMeta, WriteTx, case_id, unique_to_conflict};

/// The person a new member is: one the organisation already knows, or a new one.
#[derive(Debug, Clone)]
pub enum MemberPerson {
    Existing(PersonId),
    New(NewPerson),
}

/// A member to add to a family.
#[derive(Debug, Clone)]
pub struct NewMember {
    pub person: MemberPerson,
    pub membership: Membership,
}

impl Store {
    /// Creates a family owned by the caller's municipality, with its first members.
    pub async fn create_family(
        &self,
        meta: &WriteMeta<'_>,
        new: &NewFamily,
        members: &[NewMember],
    ) -> Result<FamilyId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(FamilyId::from_uuid(id));
        }
        tx.ensure_external_id_free::<family::Entity>(
            new.external_id.as_ref(),
            family::Column::OrganizationId,
            family::Column::ExternalId,
            "family",
            |e| FamilyId::from_uuid(e.id).to_string(),
        )
        .await?;
        let id = FamilyId::new();
        let inserted = tx
            .insert(family::ActiveModel {
                id: Set(id.as_uuid()),
                organization_id: Set(tx.organization_id()),
                created_at: Set(tx.now),
                updated_at: Set(tx.now),
                version: Set(1),
                external_id: Set(new.external_id.as_ref().map(|e| e.as_str().to_owned())),
                name: Set(new.name.as_str().to_owned()),
                caseworker_contact: Set(new.caseworker_contact.as_ref().map(|c| c.as_str().to_owned())),
            })
            .await;
        unique_to_conflict(inserted, "a family with this external id was created concurrently")?;
        tx.record("Family", id.as_uuid(), &id.to_string(), "family.created").await?;
        for (i, member) in members.iter().enumerate() {
            insert_member(&tx, id, member).await.map_err(|e| prefix_field(e, &format!("members.{i}")))?;
        }
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Adds a member to one of the caller's families.
    pub async fn add_family_member(
        &self,
        meta: &WriteMeta<'_>,
        family_id: FamilyId,
        member: &NewMember,
    ) -> Result<FamilyMemberId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(FamilyMemberId::from_uuid(id));
        }
        let family = family_owned(&tx.reads(), tx.actor(), family_id).await?;
        // Concurrent additions to one family take turns, so that the same person added
        // twice at once is "already a member" for all but the first.
        tx.lock::<family::Entity>(family.id).await?;
        let id = insert_member(&tx, FamilyId::from_uuid(family.id), member).await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Registers a person under the caller's organisation.
    pub async fn create_person(&self, meta: &WriteMeta<'_>, new: &NewPerson) -> Result<PersonId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(PersonId::from_uuid(id));
        }
        let id = insert_person(&tx, new).await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    pub async fn family(&self, r: &Reader<'_>, id: FamilyId) -> Result<records::Family, StoreError> {
        let found = family::Entity::find_by_id(id.as_uuid())
            .filter(scope::families(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Family"))?;
        r.saw("Family", found.id);
        found.try_into()
    }

    pub async fn person(&self, r: &Reader<'_>, id: PersonId) -> Result<records::Person, StoreError> {
        let found = person::Entity::find_by_id(id.as_uuid())
            .filter(scope::persons(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Person"))?;
        r.saw("Person", found.id);
        found.try_into()
    }

    /// One member of a family the caller may see.
    pub async fn family_member(&self, r: &Reader<'_>, id: FamilyMemberId) -> Result<records::FamilyMember, StoreError> {
        let member = family_member::Entity::find_by_id(id.as_uuid())
            .filter(scope::members(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("FamilyMember"))?;
        r.saw("FamilyMember", member.id);
        member.try_into()
    }
}

impl Store {
    /// Whether the person belongs to the caller's organisation.
    pub async fn owns_person(&self, actor: &Actor, id: PersonId) -> Result<bool, StoreError> {
        Ok(person::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(person::Column::OrganizationId, actor))
            .count(self.conn())
            .await?
            > 0)
    }
}

/// The family, if the caller's organisation owns it (the rule for writes); otherwise not
/// found, whether or not it exists.
pub(crate) async fn family_owned<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: FamilyId,
) -> Result<family::Model, StoreError> {
    family::Entity::find_by_id(id.as_uuid())
        .filter(owned_by(family::Column::OrganizationId, actor))
        .one(db)
        .await?
        .ok_or(StoreError::not_found("Family"))
}

/// The member of `family_id` who is `person_id`, if any.
pub(crate) async fn membership<C: ConnectionTrait>(
    db: &C,
    family_id: Uuid,
    person_id: Uuid,
) -> Result<Option<family_member::Model>, StoreError> {
    Ok(family_member::Entity::find()
        .filter(family_member::Column::FamilyId.eq(family_id))
        .filter(family_member::Column::PersonId.eq(person_id))
        .one(db)
        .await?)
}

/// Refuses `person` unless they hold one of the `needed` roles in a family `client`
/// belongs to (see `kinbridge_domain::family::beside`).
pub(crate) async fn ensure_role_beside(
    tx: &WriteTx<'_>,
    client: PersonId,
    person: PersonId,
    field: &str,
    needed: &[FamilyRole],
    what: &str,
) -> Result<(), StoreError> {
    let clients_families = sea_orm::sea_query::Query::select()
        .column(family_member::Column::FamilyId)
        .from(family_member::Entity)
        .and_where(family_member::Column::PersonId.eq(client.as_uuid()))
        .take();
    let held = family_member::Entity::find()
        .filter(family_member::Column::PersonId.eq(person.as_uuid()))
        .filter(family_member::Column::FamilyId.in_subquery(clients_families))
        .all(&tx.reads())
        .await?
        .into_iter()
        .map(|m| m.role.parse::<FamilyRole>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(kinbridge_domain::family::ensure_role_beside(field, &held, needed, what)?)
}

/// A national id names one person: refuses `identifiers` if one of their national ids is
/// already held by a person of the caller's organisation other than `except`, naming that
/// person (the unique index of m0010 backs this under races).
pub(crate) async fn ensure_national_ids_free(
    tx: &WriteTx<'_>,
    identifiers: &[PersonIdentifier],
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    for identifier in identifiers.iter().filter(|i| i.kind == IdentifierKind::NationalId) {
        let mut holder = person_identifier::Entity::find()
            .filter(person_identifier::Column::OrganizationId.eq(tx.organization_id()))
            .filter(person_identifier::Column::Kind.eq(IdentifierKind::NationalId.as_str()))
            .filter(person_identifier::Column::System.eq(identifier.system.as_str()))
            .filter(person_identifier::Column::Value.eq(identifier.value.as_str()));
        if let Some(except) = except {
            holder = holder.filter(person_identifier::Column::PersonId.ne(except));
        }
        if let Some(existing) = holder.one(&tx.reads()).await? {
            return Err(StoreError::Conflict {
                message: "a person with this national id is already registered".into(),
                existing_id: Some(PersonId::from_uuid(existing.person_id).to_string()),
            });
        }
    }
    Ok(())
}

pub(crate) async fn insert_person(tx: &WriteTx<'_>, new: &NewPerson) -> Result<PersonId, StoreError> {
    ensure_national_ids_free(tx, &new.identifiers, None).await?;
    let id = PersonId::new();
    tx.insert(person::ActiveModel {
        id: Set(id.as_uuid()),
        organization_id: Set(tx.organization_id()),
        created_at: Set(tx.now),
        updated_at: Set(tx.now),
        version: Set(1),
        given_name: Set(new.given_name.as_str().to_owned()),
        family_name: Set(new.family_name.as_str().to_owned()),
        birth_date: Set(new.birth_date),
    })
    .await?;
    tx.insert_all(
        new.identifiers
            .iter()
            .map(|identifier| person_identifier::ActiveModel {
                id: Set(Uuid::now_v7()),
                organization_id: Set(tx.organization_id()),
                created_at: Set(tx.now),
                person_id: Set(id.as_uuid()),
                kind: Set(identifier.kind.as_str().to_owned()),
                system: Set(identifier.system.as_str().to_owned()),
                value: Set(identifier.value.as_str().to_owned()),
            })
            .collect(),
    )
    .await?;
    tx.record("Person", id.as_uuid(), &id.to_string(), "person.created").await?;
    Ok(id)
}

async fn insert_member(
    tx: &WriteTx<'_>,
    family_id: FamilyId,
    member: &NewMember,
) -> Result<FamilyMemberId, StoreError> {
    if let Some(residence) = member.membership.residence_municipality_id {
        Store::expect_organization_kind(
            &tx.reads(),
            residence,
            OrganizationKind::Municipality,
            "residenceMunicipalityId",
        )
        .await?;
    }
    let person_id = match &member.person {
        MemberPerson::New(new) => insert_person(tx, new).await.map_err(|e| prefix_field(e, "person"))?,
        MemberPerson::Existing(id) => {
            let found = person::Entity::find_by_id(id.as_uuid())
                .filter(owned_by(person::Column::OrganizationId, tx.actor()))
                .one(&tx.reads())
                .await?;
            if found.is_none() {
                return Err(ValidationError::new("personId", "no such person").into());
            }
            *id
        }
    };
    if membership(&tx.reads(), family_id.as_uuid(), person_id.as_uuid()).await?.is_some() {
        return Err(ValidationError::new("personId", "the person is already a member of this family").into());
    }
    let id = FamilyMemberId::new();
    tx.insert(family_member::ActiveModel {
        id: Set(id.as_uuid()),
        organization_id: Set(tx.organization_id()),
        created_at: Set(tx.now),
        family_id: Set(family_id.as_uuid()),
        person_id: Set(person_id.as_uuid()),
        role: Set(member.membership.role.as_str().to_owned()),
        residence_municipality_id: Set(member
            .membership
            .residence_municipality_id
            .map(|o: OrganizationId| o.as_uuid())),
    })
    .await?;
    tx.record("FamilyMember", id.as_uuid(), &id.to_string(), "family.member_added").await?;
    Ok(id)
}

/// Places a validation error's field under `prefix`, so that an error in the third member
/// names `members.2.…`.
pub(crate) fn prefix_field(err: StoreError, prefix: &str) -> StoreError {
    match err {
        StoreError::Invalid(v) => StoreError::Invalid(v.under(prefix)),
        other => other,
    }
}

/// Whether the person is a child of the family.
pub(crate) async fn is_child_of<C: ConnectionTrait>(
    db: &C,
    family_id: Uuid,
    person_id: Uuid,
) -> Result<bool, StoreError> {
    Ok(membership(db, family_id, person_id).await?.is_some_and(|m| m.role == FamilyRole::Child.as_str()))
}

impl Store {
    /// Creates the family with the caller's case id, or updates its name and contact if
    /// it exists: what a case system does on every sync, without duplicates. Returns the
    /// family and what was done: an upsert of what is already stored writes nothing and
    /// puts nothing in the change feed. Concurrent upserts of one new case id: one
    /// creates, the others wait for it (a lock on the case id) and update or return it.
    pub async fn upsert_family(
        &self,
        meta: &WriteMeta<'_>,
        new: &NewFamily,
    ) -> Result<(FamilyId, Outcome), StoreError> {
        let external_id = case_id(new.external_id.as_ref())?;
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok((FamilyId::from_uuid(replay.record_id), replay.outcome));
        }
        let existing = tx
            .find_case::<family::Entity>(
                "family",
                family::Column::OrganizationId,
                family::Column::ExternalId,
                external_id,
            )
            .await?;
        let contact = new.caseworker_contact.as_ref().map(|c| c.as_str().to_owned());
        let (id, outcome) = match existing {
            Some(row) if row.name == new.name.as_str() && row.caseworker_contact == contact => {
                (FamilyId::from_uuid(row.id), Outcome::Unchanged)
            }
            Some(row) => {
                tx.update::<family::Entity>("family", row.id, row.version, |u| {
                    u.col_expr(family::Column::Name, Expr::value(new.name.as_str()))
                        .col_expr(family::Column::CaseworkerContact, Expr::value(contact))
                })
                .await?;
                tx.record("Family", row.id, &FamilyId::from_uuid(row.id).to_string(), "family.updated").await?;
                (FamilyId::from_uuid(row.id), Outcome::Updated)
            }
            None => {
                let id = FamilyId::new();
                tx.insert(family::ActiveModel {
                    id: Set(id.as_uuid()),
                    organization_id: Set(tx.organization_id()),
                    created_at: Set(tx.now),
                    updated_at: Set(tx.now),
                    version: Set(1),
                    external_id: Set(Some(external_id.as_str().to_owned())),
                    name: Set(new.name.as_str().to_owned()),
                    caseworker_contact: Set(contact),
                })
                .await?;
                tx.record("Family", id.as_uuid(), &id.to_string(), "family.created").await?;
                (id, Outcome::Created)
            }
        };
        tx.commit_as(id.as_uuid(), outcome).await?;
        Ok((id, outcome))
    }
}

impl Store {
    /// The caller's person carrying exactly this identifier. Identifiers, national ids
    /// among them, are found by exact match only, and only among the caller's own persons.
    pub async fn person_by_identifier(
        &self,
        r: &Reader<'_>,
        kind: IdentifierKind,
        system: &str,
        value: &str,
    ) -> Result<records::Person, StoreError> {
        let found = person_identifier::Entity::find()
            .filter(scope::person_identifiers(r))
            .filter(person_identifier::Column::Kind.eq(kind.as_str()))
            .filter(person_identifier::Column::System.eq(system))
            .filter(person_identifier::Column::Value.eq(value))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Person"))?;
        r.saw("PersonIdentifier", found.person_id);
        self.person(r, PersonId::from_uuid(found.person_id)).await
    }
}
