//! The caseworkers' alerts and the managers' queries: what needs doing, within what the
//! caller may see.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::Days;
use kinbridge_domain::ids::PersonId;
use kinbridge_domain::partner::totals_by_half_year;
use kinbridge_domain::visit::VisitStatistics as DomainStatistics;
use kinbridge_persistence::assoc::catalogue;

use crate::connection::{self, Conn, cost};
use crate::context::caller;
use crate::error::{ApiError, ApiResult, IntoApi, id_arg};
use crate::offers::SupportOffer;
use crate::organizations::Organization;
use crate::partners::FamilyPartner;
use crate::placements::Placement;
use crate::plans::ParentActionPlan;
use crate::scalars::Date;
use crate::visits::{VisitStatistics, add_counts, period};

/// Settings of the alerts, from the service's configuration.
#[derive(Debug, Clone, Copy)]
pub struct AlertSettings {
    /// Days after a placement decision without a support offer before it is flagged.
    pub support_offer_days: u16,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self { support_offer_days: 14 }
    }
}

/// Visit statistics of the placements at one placement provider.
#[derive(SimpleObject, Debug, Clone)]
pub struct ProviderVisitStatistics {
    /// The placement provider; null for placements without one.
    pub provider: Option<Organization>,
    pub statistics: VisitStatistics,
}

/// Family partner service to one caregiver in one half-year.
#[derive(SimpleObject, Debug, Clone)]
pub struct ServiceHours {
    /// The half-year's first day (1 January or 1 July).
    pub from: Date,
    /// The first day after it.
    pub to: Date,
    pub minutes: i32,
    pub hours: f64,
    /// Whole 15-minute units, counted per service.
    pub units: i32,
}

#[derive(Default, Debug)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// Active parent action plans past their next review date.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn plans_overdue_for_review(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ParentActionPlan>> {
        let c = caller(ctx)?;
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.plans_overdue_for_review(&c.reader(), req).await,
            async || c.store.count_plans_overdue_for_review(&c.reader()).await,
            |p| p.id.to_string(),
            ParentActionPlan,
        )
        .await
    }

    /// Current placements with no support offered `afterDays` days after the decision
    /// (by default as configured, 14): support should start in immediate connection with
    /// the decision.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn placements_awaiting_support_offer(
        &self,
        ctx: &Context<'_>,
        after_days: Option<i64>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Placement>> {
        let c = caller(ctx)?;
        let default = ctx.data_opt::<AlertSettings>().copied().unwrap_or_default().support_offer_days;
        let days = match after_days {
            None => u64::from(default),
            Some(d) => u64::try_from(d)
                .ok()
                .filter(|d| *d <= 3650)
                .ok_or_else(|| ApiError::bad_input("afterDays", "must be from 0 to 3650"))?,
        };
        let decided_by = c.today().checked_sub_days(Days::new(days)).unwrap_or(chrono::NaiveDate::MIN);
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.placements_awaiting_offer(&c.reader(), decided_by, req).await,
            async || c.store.count_placements_awaiting_offer(&c.reader(), decided_by).await,
            |p| p.id.to_string(),
            Placement,
        )
        .await
    }

    /// Declined offers whose date to offer again has come, not yet offered again.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn support_offers_due_for_reoffer(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<SupportOffer>> {
        let c = caller(ctx)?;
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.offers_due_for_reoffer(&c.reader(), req).await,
            async || c.store.count_offers_due_for_reoffer(&c.reader()).await,
            |o| o.id.to_string(),
            SupportOffer,
        )
        .await
    }

    /// Family partners whose training deadline or certification renewal falls within
    /// `withinDays` (default 30), or has passed.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn family_partners_due_for_certification(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] within_days: i64,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<FamilyPartner>> {
        let c = caller(ctx)?;
        let days = u64::try_from(within_days)
            .ok()
            .filter(|d| *d <= 3650)
            .ok_or_else(|| ApiError::bad_input("withinDays", "must be from 0 to 3650"))?;
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.partners_due_for_certification(&c.reader(), days, req).await,
            async || c.store.count_partners_due_for_certification(&c.reader(), days).await,
            |p| p.id.to_string(),
            FamilyPartner,
        )
        .await
    }

    /// Visit statistics per placement provider, for the visits the caller may see planned
    /// from `from` up to, not including, `to`.
    async fn cancellation_rates_by_provider(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
    ) -> ApiResult<Vec<ProviderVisitStatistics>> {
        let c = caller(ctx)?;
        let (start, end) = period(from, to)?;
        let rows = c.store.visit_counts(&c.reader(), None, start, end).await.api()?;
        let placements: Vec<uuid::Uuid> = rows.iter().map(|count| count.placement_id.as_uuid()).collect();
        let providers = c.store.providers_of(&c.reader(), &placements).await.api()?;
        let mut by_provider: Vec<(Option<uuid::Uuid>, DomainStatistics)> = Vec::new();
        for count in &rows {
            let placement = count.placement_id.as_uuid();
            let provider = providers.iter().find(|(p, _)| *p == placement).and_then(|(_, provider)| *provider);
            let stats = match by_provider.iter_mut().find(|(p, _)| *p == provider) {
                Some((_, s)) => s,
                None => {
                    by_provider.push((provider, DomainStatistics::default()));
                    &mut by_provider.last_mut().expect("BUG: an entry was just pushed").1
                }
            };
            add_counts(stats, count);
        }
        let mut out = Vec::with_capacity(by_provider.len());
        for (provider, stats) in by_provider {
            let provider = match provider {
                None => None,
                Some(id) => Some(Organization(c.reference(ctx, &catalogue::ORGANIZATION, id).await?)),
            };
            out.push(ProviderVisitStatistics { provider, statistics: VisitStatistics::new(from.0, to.0, &stats) });
        }
        out.sort_by(|a, b| {
            a.provider.as_ref().map(|p| p.0.name.clone()).cmp(&b.provider.as_ref().map(|p| p.0.name.clone()))
        });
        Ok(out)
    }

    /// Family partner service delivered to one caregiver, per half-year.
    async fn caregiver_service_hours(&self, ctx: &Context<'_>, caregiver_id: ID) -> ApiResult<Vec<ServiceHours>> {
        let c = caller(ctx)?;
        let caregiver: PersonId = id_arg("caregiverId", &caregiver_id)?;
        let services = c.store.caregiver_services(&c.reader(), caregiver).await.api()?;
        let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(totals_by_half_year(&services)
            .into_iter()
            .map(|t| ServiceHours {
                from: Date(t.from),
                to: Date(t.to),
                minutes: n(t.minutes),
                hours: f64::from(t.minutes) / 60.0,
                units: n(t.units),
            })
            .collect())
    }
}
