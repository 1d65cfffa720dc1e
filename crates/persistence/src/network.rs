//! The family's network map (000, 001): recorded by the family's municipality, shown with
//! the family (`scope::network_map`), in the access log of the family's members and of the
//! helper (`trail.rs`).

use chrono::NaiveDate;
use kinbridge_domain::TransitionError;
use kinbridge_domain::ValidationError;
use kinbridge_domain::ids::{FamilyId, NetworkMapEntryId, PersonId};
use kinbridge_domain::network::{Helper, NewNetworkEntry, ensure_ends};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::Store;
use crate::entities::{family_member, network_map_entry, person};
use crate::error::StoreError;
use crate::families::{family_owned, insert_person, prefix_field};
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{WriteMeta, WriteTx};

impl Store {
    /// Adds a helper to the network map of one of the caller's families.
    pub async fn add_network_entry(
        &self,
        meta: &WriteMeta<'_>,
        family_id: FamilyId,
        entry: &NewNetworkEntry,
    ) -> Result<NetworkMapEntryId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(NetworkMapEntryId::from_uuid(id));
        }
        let family = family_owned(&tx.reads(), tx.actor(), family_id).await?;
        let (person_id, member_id) = helper(&tx, family.id, &entry.helper).await?;
        let id = NetworkMapEntryId::new();
        tx.insert(network_map_entry::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            family_id: Set(family.id),
            person_id: Set(person_id.as_uuid()),
            member_id: Set(member_id),
            relationship: Set(entry.relationship.as_ref().map(|r| r.as_str().to_owned())),
            help: Set(entry.help.as_str().to_owned()),
            description: Set(entry.description.as_str().to_owned()),
            since: Set(entry.since),
            until: Set(None),
        })
        .await?;
        tx.record("NetworkMapEntry", id.as_uuid(), &id.to_string(), "network_map.entry_added").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records that a helper's help ended on `until` (on or before `today`).
    pub async fn end_network_entry(
        &self,
        meta: &WriteMeta<'_>,
        id: NetworkMapEntryId,
        until: NaiveDate,
        today: NaiveDate,
    ) -> Result<NetworkMapEntryId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(NetworkMapEntryId::from_uuid(id));
        }
        let row = network_map_entry::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(network_map_entry::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("NetworkMapEntry"))?;
        if let Some(ended) = row.until {
            return Err(TransitionError(format!("the help already ended on {ended}")).into());
        }
        ensure_ends(row.since, until, today)?;
        tx.update::<network_map_entry::Entity>("network map entry", row.id, row.version, |u| {
            u.col_expr(network_map_entry::Column::Until, Expr::value(until))
        })
        .await?;
        tx.record("NetworkMapEntry", row.id, &id.to_string(), "network_map.entry_ended").await?;
        tx.commit(row.id).await?;
        Ok(id)
    }

    /// One entry of a network map the caller may see.
    pub async fn network_entry(
        &self,
        r: &Reader<'_>,
        id: NetworkMapEntryId,
    ) -> Result<records::NetworkMapEntry, StoreError> {
        let found = network_map_entry::Entity::find_by_id(id.as_uuid())
            .filter(scope::network_map(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("NetworkMapEntry"))?;
        r.saw("NetworkMapEntry", found.id);
        found.try_into()
    }
}

/// The person who helps, and their membership when they are a member of the family.
async fn helper(
    tx: &WriteTx<'_>,
    family_id: uuid::Uuid,
    helper: &Helper,
) -> Result<(PersonId, Option<uuid::Uuid>), StoreError> {
    match helper {
        Helper::Member(member) => {
            let found = family_member::Entity::find_by_id(member.as_uuid())
                .filter(family_member::Column::FamilyId.eq(family_id))
                .one(&tx.reads())
                .await?
                .ok_or_else(|| ValidationError::new("memberId", "is not a member of this family"))?;
            Ok((PersonId::from_uuid(found.person_id), Some(found.id)))
        }
        Helper::Person(id) => {
            let known = person::Entity::find_by_id(id.as_uuid())
                .filter(owned_by(person::Column::OrganizationId, tx.actor()))
                .one(&tx.reads())
                .await?
                .ok_or_else(|| ValidationError::new("personId", "no such person"))?;
            // A member is named as one, so that the map shows their place in the family.
            let membership = family_member::Entity::find()
                .filter(family_member::Column::FamilyId.eq(family_id))
                .filter(family_member::Column::PersonId.eq(known.id))
                .one(&tx.reads())
                .await?;
            Ok((*id, membership.map(|m| m.id)))
        }
        Helper::NewPerson(new) => Ok((insert_person(tx, new).await.map_err(|e| prefix_field(e, "person"))?, None)),
    }
}
