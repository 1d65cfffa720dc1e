//! The caseworkers' alerts and the managers' queries. Each is an SQL condition added to
//! the caller's scope, so an alert never shows or counts what the caller may not see.

use chrono::{Days, NaiveDate};
use kinbridge_domain::ids::PersonId;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::partner::{CertificationStatus, ServiceMinutes};
use kinbridge_domain::plan::{OfferResponse, PlanStatus};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::Store;
use crate::entities::{family_partner, family_partner_service, parent_action_plan, placement, support_offer};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::{self, Reader};

impl Store {
    /// Active plans past their next review date.
    pub async fn plans_overdue_for_review(
        &self,
        r: &Reader<'_>,
        req: PageRequest,
    ) -> Result<Page<records::ParentActionPlan>, StoreError> {
        let page =
            page::fetch(self.conn(), overdue_query(r), page::Order::by_id(parent_action_plan::Column::Id), req).await?;
        page.items.iter().for_each(|p| r.saw("ParentActionPlan", p.id));
        page.read()
    }

    pub async fn count_plans_overdue_for_review(&self, r: &Reader<'_>) -> Result<u64, StoreError> {
        Ok(overdue_query(r).count(self.conn()).await?)
    }

    /// Current placements decided on or before `decided_by` with no support offered yet:
    /// support should start in immediate connection with the decision (001). For those who
    /// see the parents' support: the responsible municipality and referred providers.
    pub async fn placements_awaiting_offer(
        &self,
        r: &Reader<'_>,
        decided_by: NaiveDate,
        req: PageRequest,
    ) -> Result<Page<records::Placement>, StoreError> {
        let page = page::fetch(
            self.conn(),
            awaiting_offer_query(r, decided_by),
            page::Order::by_id(placement::Column::Id),
            req,
        )
        .await?;
        page.items.iter().for_each(|p| r.saw("Placement", p.id));
        page.read()
    }

    pub async fn count_placements_awaiting_offer(
        &self,
        r: &Reader<'_>,
        decided_by: NaiveDate,
    ) -> Result<u64, StoreError> {
        Ok(awaiting_offer_query(r, decided_by).count(self.conn()).await?)
    }

    /// Declined offers whose re-offer date has come and that have not been offered again.
    pub async fn offers_due_for_reoffer(
        &self,
        r: &Reader<'_>,
        req: PageRequest,
    ) -> Result<Page<records::SupportOffer>, StoreError> {
        let page =
            page::fetch(self.conn(), reoffer_query(r), page::Order::by_id(support_offer::Column::Id), req).await?;
        page.items.iter().for_each(|o| r.saw("SupportOffer", o.id));
        page.read()
    }

    pub async fn count_offers_due_for_reoffer(&self, r: &Reader<'_>) -> Result<u64, StoreError> {
        Ok(reoffer_query(r).count(self.conn()).await?)
    }

    /// Family partners whose training deadline (pending) or renewal (certified) falls
    /// within `within_days`, or has passed.
    pub async fn partners_due_for_certification(
        &self,
        r: &Reader<'_>,
        within_days: u64,
        req: PageRequest,
    ) -> Result<Page<records::FamilyPartner>, StoreError> {
        let page = page::fetch(
            self.conn(),
            certification_query(r, within_days),
            page::Order::by_id(family_partner::Column::Id),
            req,
        )
        .await?;
        page.items.iter().for_each(|p| r.saw("FamilyPartner", p.id));
        page.read()
    }

    pub async fn count_partners_due_for_certification(
        &self,
        r: &Reader<'_>,
        within_days: u64,
    ) -> Result<u64, StoreError> {
        Ok(certification_query(r, within_days).count(self.conn()).await?)
    }

    /// The services the caller may see delivered to one caregiver: day and minutes.
    pub async fn caregiver_services(
        &self,
        r: &Reader<'_>,
        caregiver: PersonId,
    ) -> Result<Vec<(NaiveDate, ServiceMinutes)>, StoreError> {
        let rows = family_partner_service::Entity::find()
            .filter(scope::services(r))
            .filter(family_partner_service::Column::RecipientId.eq(caregiver.as_uuid()))
            .order_by_asc(family_partner_service::Column::ServiceDate)
            .all(self.conn())
            .await?;
        rows.iter().for_each(|s| r.saw("FamilyPartnerService", s.id));
        rows.into_iter()
            .map(|s| {
                Ok((s.service_date, ServiceMinutes::new(i64::from(s.minutes)).map_err(|e| StoreError::Corrupt(e.0))?))
            })
            .collect()
    }
}

fn overdue_query(r: &Reader<'_>) -> sea_orm::Select<parent_action_plan::Entity> {
    parent_action_plan::Entity::find()
        .filter(scope::plans(r))
        .filter(parent_action_plan::Column::Status.eq(PlanStatus::Active.as_str()))
        .filter(parent_action_plan::Column::NextReviewDue.lt(r.today))
}

fn awaiting_offer_query(r: &Reader<'_>, decided_by: NaiveDate) -> sea_orm::Select<placement::Entity> {
    let sees_support =
        matches!(r.actor.organization_kind, OrganizationKind::Municipality | OrganizationKind::FamilyServicesProvider);
    let offered = Query::select().column(support_offer::Column::PlacementId).from(support_offer::Entity).take();
    let mut condition = Condition::all()
        .add(scope::placements(r))
        .add(placement::Column::DecisionDate.lte(decided_by))
        .add(Condition::any().add(placement::Column::EndDate.is_null()).add(placement::Column::EndDate.gt(r.today)))
        .add(placement::Column::Id.not_in_subquery(offered));
    if !sees_support {
        condition = condition.add(Expr::cust("1 = 0"));
    }
    placement::Entity::find().filter(condition)
}

/// Declined offers that a later offer of the same kind, for the same placement, superseded.
fn superseded_offers() -> SelectStatement {
    let (a, b) = (Alias::new("a"), Alias::new("b"));
    let col = |t: &Alias, c: support_offer::Column| Expr::col((t.clone(), c));
    Query::select()
        .column((a.clone(), support_offer::Column::Id))
        .from_as(support_offer::Entity, a.clone())
        .join_as(
            JoinType::InnerJoin,
            support_offer::Entity,
            b.clone(),
            Condition::all()
                .add(
                    col(&b, support_offer::Column::PlacementId).equals((a.clone(), support_offer::Column::PlacementId)),
                )
                .add(col(&b, support_offer::Column::Kind).equals((a.clone(), support_offer::Column::Kind)))
                .add(col(&b, support_offer::Column::OfferedOn).gt(col(&a, support_offer::Column::OfferedOn))),
        )
        .take()
}

fn reoffer_query(r: &Reader<'_>) -> sea_orm::Select<support_offer::Entity> {
    support_offer::Entity::find()
        .filter(scope::offers(r))
        .filter(support_offer::Column::Response.eq(OfferResponse::Declined.as_str()))
        .filter(support_offer::Column::ReofferOn.lte(r.today))
        .filter(support_offer::Column::Id.not_in_subquery(superseded_offers()))
}

fn certification_query(r: &Reader<'_>, within_days: u64) -> sea_orm::Select<family_partner::Entity> {
    let horizon = r.today.checked_add_days(Days::new(within_days)).unwrap_or(NaiveDate::MAX);
    family_partner::Entity::find().filter(scope::partners(r)).filter(
        Condition::any()
            .add(
                Condition::all()
                    .add(
                        family_partner::Column::CertificationStatus
                            .eq(CertificationStatus::PendingCertification.as_str()),
                    )
                    .add(family_partner::Column::TrainingDeadline.lte(horizon)),
            )
            .add(
                Condition::all()
                    .add(family_partner::Column::CertificationStatus.eq(CertificationStatus::Certified.as_str()))
                    .add(family_partner::Column::RenewalDue.lte(horizon)),
            ),
    )
}
