//! Placements of a child out of home.

use kinbridge_domain::TransitionError;
use kinbridge_domain::ValidationError;
use kinbridge_domain::access::Actor;
use kinbridge_domain::ids::{FamilyId, PersonId, PlacementId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::placement::{NewPlacement, Period, PlacementEnd, ensure_no_overlap};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::Store;
use crate::entities::{person, placement};
use crate::error::StoreError;
use crate::families::{family_owned, is_child_of};
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{Outcome, WriteMeta, WriteTx, case_id, expect_version, unique_to_conflict};

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
        let id = insert_placement(&tx, family_id, child_id, new).await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records the placement with the caller's case id, or brings its provider, setting,
    /// voluntariness and dates up to date if it exists: what a case system sends on every
    /// sync, without duplicates. An upsert of what is stored writes nothing and feeds
    /// nothing. The case id names one placement of one child; a placement's end is
    /// recorded with `endPlacement`, not changed by an upsert. Concurrent upserts of one
    /// new case id: one records it, the others wait (a lock on the case id) and find it.
    pub async fn upsert_placement(
        &self,
        meta: &WriteMeta<'_>,
        family_id: FamilyId,
        child_id: PersonId,
        new: &NewPlacement,
    ) -> Result<(PlacementId, Outcome), StoreError> {
        let external_id = case_id(new.external_id.as_ref())?;
        let tx = self.begin_write(meta).await?;
        if let Some(replay) = tx.replay().await? {
            return Ok((PlacementId::from_uuid(replay.record_id), replay.outcome));
        }
        let existing = tx
            .find_case::<placement::Entity>(
                "placement",
                placement::Column::OrganizationId,
                placement::Column::ExternalId,
                external_id,
            )
            .await?;
        let Some(row) = existing else {
            let id = insert_placement(&tx, family_id, child_id, new).await?;
            tx.commit_as(id.as_uuid(), Outcome::Created).await?;
            return Ok((id, Outcome::Created));
        };
        let id = PlacementId::from_uuid(row.id);
        if row.family_id != family_id.as_uuid() || row.child_id != child_id.as_uuid() {
            return Err(ValidationError::new(
                "childId",
                format!("the placement with this case id ({id}) is another child's"),
            )
            .into());
        }
        let stored_end = match (row.end_date, row.end_reason.as_deref()) {
            (Some(date), Some(reason)) => Some(PlacementEnd { date, reason: reason.parse()? }),
            _ => None,
        };
        if new.end != stored_end {
            return Err(ValidationError::new(
                "endDate",
                "an upsert does not change a placement's end; record it with endPlacement",
            )
            .into());
        }
        let provider = new.provider_id.map(|p| p.as_uuid());
        let same = row.provider_id == provider
            && row.setting == new.setting.as_str()
            && row.voluntary == new.voluntary
            && row.decision_date == new.decision_date
            && row.start_date == new.start_date;
        if same {
            tx.commit_as(row.id, Outcome::Unchanged).await?;
            return Ok((id, Outcome::Unchanged));
        }
        if let Some(provider) = new.provider_id {
            Store::expect_organization_kind(&tx.reads(), provider, OrganizationKind::PlacementProvider, "providerId")
                .await?;
        }
        tx.lock::<person::Entity>(row.child_id).await?;
        ensure_no_overlap(&new.period(), &other_placements_of(&tx, row.child_id, Some(row.id)).await?)?;
        tx.update::<placement::Entity>("placement", row.id, row.version, |u| {
            u.col_expr(placement::Column::ProviderId, Expr::value(provider))
                .col_expr(placement::Column::Setting, Expr::value(new.setting.as_str()))
                .col_expr(placement::Column::Voluntary, Expr::value(new.voluntary))
                .col_expr(placement::Column::DecisionDate, Expr::value(new.decision_date))
                .col_expr(placement::Column::StartDate, Expr::value(new.start_date))
        })
        .await?;
        tx.record("Placement", row.id, &id.to_string(), "placement.updated").await?;
        tx.commit_as(row.id, Outcome::Updated).await?;
        Ok((id, Outcome::Updated))
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

/// Records a placement within `tx`: the checks and the row of [`Store::create_placement`],
/// without the commit. The child's row is locked while its placements are compared.
async fn insert_placement(
    tx: &WriteTx<'_>,
    family_id: FamilyId,
    child_id: PersonId,
    new: &NewPlacement,
) -> Result<PlacementId, StoreError> {
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

    tx.lock::<person::Entity>(child_id.as_uuid()).await?;
    ensure_no_overlap(&new.period(), &other_placements_of(tx, child_id.as_uuid(), None).await?)?;

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
    Ok(id)
}

/// The child's placements other than `except`, with their periods: what a new or changed
/// placement must not overlap. Read under the lock on the child's row.
pub(crate) async fn other_placements_of(
    tx: &WriteTx<'_>,
    child: uuid::Uuid,
    except: Option<uuid::Uuid>,
) -> Result<Vec<(PlacementId, Period)>, StoreError> {
    let mut q = placement::Entity::find().filter(placement::Column::ChildId.eq(child));
    if let Some(except) = except {
        q = q.filter(placement::Column::Id.ne(except));
    }
    Ok(q.all(&tx.reads())
        .await?
        .into_iter()
        .map(|p| (PlacementId::from_uuid(p.id), Period { start: p.start_date, end: p.end_date }))
        .collect())
}
