//! Support offered to the parents of a placed child, and their answers (001).

use chrono::NaiveDate;
use kinbridge_domain::ids::{PlacementId, SupportOfferId};
use kinbridge_domain::plan::{OfferResponse, SupportOfferKind, respond_to_offer};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, EntityTrait, QueryFilter};

use crate::Store;
use crate::entities::support_offer;
use crate::error::StoreError;
use crate::placements::placement_owned;
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::WriteMeta;

impl Store {
    /// Records support offered to the parents of a child in one of the caller's placements.
    pub async fn offer_support(
        &self,
        meta: &WriteMeta<'_>,
        placement_id: PlacementId,
        kind: SupportOfferKind,
        offered_on: NaiveDate,
    ) -> Result<SupportOfferId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(SupportOfferId::from_uuid(id));
        }
        let placement = placement_owned(&tx.reads(), tx.actor(), placement_id).await?;
        let offered_on =
            kinbridge_domain::when::offer_made_on(offered_on, placement.decision_date, tx.now.date_naive())?;
        let id = SupportOfferId::new();
        tx.insert(support_offer::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            placement_id: Set(placement.id),
            kind: Set(kind.as_str().to_owned()),
            offered_on: Set(offered_on),
            response: Set(OfferResponse::Pending.as_str().to_owned()),
            responded_on: Set(None),
            reoffer_on: Set(None),
        })
        .await?;
        tx.record("SupportOffer", id.as_uuid(), &id.to_string(), "support_offer.made").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records the parents' answer to a pending offer; a declined one gets its re-offer date.
    pub async fn answer_offer(
        &self,
        meta: &WriteMeta<'_>,
        id: SupportOfferId,
        response: OfferResponse,
        responded_on: NaiveDate,
        reoffer_on: Option<NaiveDate>,
    ) -> Result<SupportOfferId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(SupportOfferId::from_uuid(id));
        }
        let offer = support_offer::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(support_offer::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("SupportOffer"))?;
        respond_to_offer(offer.response.parse()?, offer.offered_on, response, responded_on, reoffer_on)?;
        tx.update::<support_offer::Entity>("offer", offer.id, offer.version, |u| {
            u.col_expr(support_offer::Column::Response, Expr::value(response.as_str()))
                .col_expr(support_offer::Column::RespondedOn, Expr::value(responded_on))
                .col_expr(support_offer::Column::ReofferOn, Expr::value(reoffer_on))
        })
        .await?;
        tx.record("SupportOffer", offer.id, &id.to_string(), "support_offer.answered").await?;
        tx.commit(offer.id).await?;
        Ok(id)
    }

    pub async fn support_offer(&self, r: &Reader<'_>, id: SupportOfferId) -> Result<records::SupportOffer, StoreError> {
        let found = support_offer::Entity::find_by_id(id.as_uuid())
            .filter(scope::offers(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("SupportOffer"))?;
        r.saw("SupportOffer", found.id);
        found.try_into()
    }
}
