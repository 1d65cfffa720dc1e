//! Support offered to the parents of a placed child (001).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::ids::{PlacementId, SupportOfferId};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;
use serde::Serialize;

use crate::context::{Caller, caller};
use crate::error::{ApiResult, IntoApi, id_arg, under};
use crate::placements::Placement;
use crate::scalars::{Date, OfferResponse, SupportOfferKind};

/// Support offered to the parents: a support person, the plan itself, or a parent
/// programme, with the parents' answer.
#[derive(Debug, Clone)]
pub struct SupportOffer(pub(crate) records::SupportOffer);

#[Object]
impl SupportOffer {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn placement(&self, ctx: &Context<'_>) -> ApiResult<Placement> {
        let c = caller(ctx)?;
        Ok(Placement(c.reference(ctx, &catalogue::PLACEMENT, self.0.placement_id).await?))
    }

    async fn kind(&self) -> ApiResult<SupportOfferKind> {
        Ok(self.0.kind.into())
    }

    async fn offered_on(&self) -> Date {
        Date(self.0.offered_on)
    }

    async fn response(&self) -> ApiResult<OfferResponse> {
        Ok(self.0.response.into())
    }

    async fn responded_on(&self) -> Option<Date> {
        self.0.responded_on.map(Date)
    }

    /// For a declined offer: when to offer it again, as the parents may then be ready.
    async fn reoffer_on(&self) -> Option<Date> {
        self.0.reoffer_on.map(Date)
    }

    async fn version(&self) -> i32 {
        self.0.version
    }
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct OfferSupportInput {
    pub placement_id: ID,
    pub kind: SupportOfferKind,
    pub offered_on: Date,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AnswerSupportOfferInput {
    pub id: ID,
    /// `ACCEPTED` or `DECLINED`.
    pub response: OfferResponse,
    pub responded_on: Date,
    /// Required when declined: when to offer again.
    pub reoffer_on: Option<Date>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SupportOfferPayload {
    pub support_offer: SupportOffer,
}

#[derive(Default, Debug)]
pub struct OfferMutation;

#[Object]
impl OfferMutation {
    /// Records support offered to the parents of a child in one of the caller's placements.
    async fn offer_support(&self, ctx: &Context<'_>, input: OfferSupportInput) -> ApiResult<SupportOfferPayload> {
        let c = caller(ctx)?;
        let placement: PlacementId = id_arg("input.placementId", &input.placement_id)?;
        let meta = c.write("offerSupport", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .offer_support(&meta, placement, input.kind.into(), input.offered_on.0)
            .await
            .map_err(under("input"))?;
        payload(c, id).await
    }

    /// Records the parents' answer to an offer. A declined offer needs a date to offer it
    /// again.
    async fn answer_support_offer(
        &self,
        ctx: &Context<'_>,
        input: AnswerSupportOfferInput,
    ) -> ApiResult<SupportOfferPayload> {
        let c = caller(ctx)?;
        let id: SupportOfferId = id_arg("input.id", &input.id)?;
        let meta = c.write("answerSupportOffer", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .answer_offer(&meta, id, input.response.into(), input.responded_on.0, input.reoffer_on.map(|d| d.0))
            .await
            .map_err(under("input"))?;
        payload(c, id).await
    }
}

async fn payload(c: Caller<'_>, id: SupportOfferId) -> ApiResult<SupportOfferPayload> {
    Ok(SupportOfferPayload { support_offer: SupportOffer(c.store.support_offer(&c.reader(), id).await.api()?) })
}
