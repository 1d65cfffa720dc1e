//! Placements of a child out of home.

use kinbridge_domain::TransitionError;
use kinbridge_domain::ValidationError;
use kinbridge_domain::access::Actor;
use kinbridge_domain::ids::{FamilyId, PersonId, PlacementId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::placement::{NewPlacement, Period, PlacementEnd, ensure_no_overlap};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::Store;
use crate::entities::{person, placement};
use crate::error::StoreError;
use crate::families::{family_owned, is_child_of};
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{WriteMeta, expect_version, supports_row_locks, unique_to_conflict};

impl Store {
    /// Records a placement of a child of one of the caller's families. The child's
    /// placements never overlap: the child's row is locked while they are compared, so two
    /// concurrent writes cannot both pass the check.
    pub async fn create_placement(
        &self,
        meta: &WriteMeta<'_>,
        family_id: FamilyId,
        child_id: PersonId,
        new: &NewPlacement,
    ) -> Result<PlacementId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(PlacementId::from_uuid(id));
        }
        let family = family_owned(&tx.reads(), tx.actor(), family_id).await?;
        if !is_child_of(&tx.reads(), family.id, child_id.as_uuid()).await? {
            return Err(ValidationError::new("childId", "is not a member of this family with the role CHILD").into());
        }
        if let Some(provider) = new.provider_id {
            Store::expect_organization_kind(&tx.reads(), provider, OrganizationKind::PlacementProvider, "providerId")
                .await?;
        }
        tx.ensure_external_id_free::<placement::Entity>(
            new.external_id.as_ref(),
            placement::Column::OrganizationId,
            placement::Column::ExternalId,
            "placement",
            |e| PlacementId::from_uuid(e.id).to_string(),
        )
        .await?;

        let mut lock = person::Entity::find_by_id(child_id.as_uuid());
        if supports_row_locks(tx.backend()) {
            lock = lock.lock_exclusive();
        }
        lock.one(&tx.reads()).await?;
        let existing: Vec<(PlacementId, Period)> = placement::Entity::find()
            .filter(placement::Column::ChildId.eq(child_id.as_uuid()))
            .all(&tx.reads())
            .await?
            .into_iter()
            .map(|p| (PlacementId::from_uuid(p.id), Period { start: p.start_date, end: p.end_date }))
            .collect();
        ensure_no_overlap(&new.period(), &existing)?;

        let id = PlacementId::new();
        let inserted = tx
            .insert(placement::ActiveModel {
                id: Set(id.as_uuid()),
                organization_id: Set(tx.organization_id()),
                created_at: Set(tx.now),
                updated_at: Set(tx.now),
                version: Set(1),
                family_id: Set(family.id),
                child_id: Set(child_id.as_uuid()),
                provider_id: Set(new.provider_id.map(|p| p.as_uuid())),
                external_id: Set(new.external_id.as_ref().map(|e| e.as_str().to_owned())),
                setting: Set(new.setting.as_str().to_owned()),
                voluntary: Set(new.voluntary),
                decision_date: Set(new.decision_date),
                start_date: Set(new.start_date),
                end_date: Set(new.end.map(|e| e.date)),
                end_reason: Set(new.end.map(|e| e.reason.as_str().to_owned())),
            })
            .await;
        unique_to_conflict(inserted, "a placement with this external id was created concurrently")?;
        tx.record("Placement", id.as_uuid(), &id.to_string(), "placement.created").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    pub async fn placement(&self, r: &Reader<'_>, id: PlacementId) -> Result<records::Placement, StoreError> {
        let found = placement::Entity::find_by_id(id.as_uuid())
            .filter(scope::placements(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Placement"))?;
        r.saw("Placement", found.id);
        found.try_into()
    }
}

/// The placement, if the caller's organisation placed the child (the rule for writes);
/// otherwise not found, whether or not it exists.
pub(crate) async fn placement_owned<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: PlacementId,
) -> Result<placement::Model, StoreError> {
    placement::Entity::find_by_id(id.as_uuid())
        .filter(owned_by(placement::Column::OrganizationId, actor))
        .one(db)
        .await?
        .ok_or(StoreError::not_found("Placement"))
}

impl Store {
    /// Ends one of the caller's placements: the child returned home, moved, or aged out.
    pub async fn end_placement(
        &self,
        meta: &WriteMeta<'_>,
        id: PlacementId,
        end: PlacementEnd,
        expected_version: Option<i32>,
    ) -> Result<PlacementId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(PlacementId::from_uuid(id));
        }
        let row = placement_owned(&tx.reads(), tx.actor(), id).await?;
        expect_version("placement", expected_version, row.version)?;
        if let Some(ended) = row.end_date {
            return Err(TransitionError(format!("the placement already ended on {ended}")).into());
        }
        if end.date < row.start_date {
            return Err(ValidationError::new("endDate", "a placement cannot end before it starts").into());
        }
        tx.update::<placement::Entity>("placement", row.id, row.version, |u| {
            u.col_expr(placement::Column::EndDate, Expr::value(end.date))
                .col_expr(placement::Column::EndReason, Expr::value(end.reason.as_str()))
        })
        .await?;
        tx.record("Placement", row.id, &id.to_string(), "placement.ended").await?;
        tx.commit(row.id).await?;
        Ok(id)
    }
}
