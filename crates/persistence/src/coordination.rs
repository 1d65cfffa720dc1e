//! The residence municipality's coordination view of cross-municipality placements (001:
//! coordination across municipalities when the parents live in another municipality than
//! the placing one).
//!
//! The view is narrow by design: who the child is, the placement's dates and setting,
//! the placing municipality and whom to contact there, the plan's status and next review,
//! and the plan goals only while a parent's consent to share them stands. Never notes,
//! observations, cancellation reasons or identifiers.

use kinbridge_domain::family::FamilyRole;
use kinbridge_domain::organization::OrganizationKind;
use sea_orm::QuerySelect;
use sea_orm::sea_query::{Alias, CommonTableExpression, Expr, ExprTrait, JoinType, Query, SelectStatement, WithClause};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, PaginatorTrait, QueryFilter,
    QueryResult, QueryTrait,
};

use crate::Store;
use crate::entities::{FromRow, family, family_member, parent_action_plan, person, placement};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::Reader;
use uuid::Uuid;

/// What the residence municipality is shown of one placement.
#[derive(Debug, Clone)]
pub struct CoordinationRow {
    pub placement: records::Placement,
    pub child: records::Person,
    pub caseworker_contact: Option<String>,
    /// The most recent plan for the placement, if any.
    pub plan: Option<records::ParentActionPlan>,
}

impl Store {
    /// Placements by other municipalities of children whose parents live in the caller's
    /// municipality; current ones only unless `include_ended`. And when `count`, how many
    /// there are in all, read by the same statement ([`page::count_of`]).
    pub async fn cross_municipality_placements(
        &self,
        r: &Reader<'_>,
        include_ended: bool,
        req: PageRequest,
        count: bool,
    ) -> Result<(Page<CoordinationRow>, Option<u64>), StoreError> {
        // The page of placements with their children, their families' contacts and their
        // latest plans, in one statement whatever the page size. The placements' condition
        // is the authorization for all three.
        let order = page::Order::by_id(placement::Column::Id);
        let all = coordination_query(self.backend(), r, include_ended).select_only().column(placement::Column::Id);
        let statement = if count {
            counted(all.into_query(), order, &req)
        } else {
            joined(page::paged(all, order, &req).into_query(), req.backwards())
        };
        let (mut rows, mut total) = (Vec::new(), None);
        for row in self.conn().query_all_raw(self.backend().build(&statement)).await? {
            if count && total.is_none() {
                total = Some(page::total_of(&row)?);
            }
            rows.push(Joined::from_row(&row)?);
        }
        if count && total.is_none() {
            total = Some(self.count_cross_municipality_placements(r, include_ended).await?);
        }
        let page = req.cut(rows);
        let mut rows = Vec::with_capacity(page.items.len());
        for Joined { placement: p, child, caseworker_contact, plan } in page.items {
            r.saw("Placement", p.id);
            r.saw("Person", child.id);
            if let Some(plan) = &plan {
                r.saw("ParentActionPlan", plan.id);
            }
            rows.push(CoordinationRow {
                placement: p.try_into()?,
                child: child.try_into()?,
                caseworker_contact,
                plan: plan.map(TryInto::try_into).transpose()?,
            });
        }
        Ok((Page { items: rows, has_previous: page.has_previous, has_next: page.has_next }, total))
    }

    pub async fn count_cross_municipality_placements(
        &self,
        r: &Reader<'_>,
        include_ended: bool,
    ) -> Result<u64, StoreError> {
        Ok(coordination_query(self.backend(), r, include_ended).count(self.conn()).await?)
    }
}

/// A row of the coordination page: the placement's columns, the child's, the family's
/// contact and the latest plan's, each in its model's field order and read by position
/// (`FromRow`): most placements have no plan, and sea-orm's decoding by name formats an
/// error for every NULL column of the plan before it finds the plan missing.
struct Joined {
    placement: placement::Model,
    child: person::Model,
    caseworker_contact: Option<String>,
    plan: Option<parent_action_plan::Model>,
}

impl Joined {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        let child = placement::Column::iter().count();
        let contact = child + person::Column::iter().count();
        let plan = contact + 1;
        // The plan's first column is its id: NULL when the placement has no plan.
        let has_plan = row.try_get_by_index::<Option<Uuid>>(plan)?.is_some();
        Ok(Self {
            placement: placement::Model::from_row(row, 0)?,
            child: person::Model::from_row(row, child)?,
            caseworker_contact: row.try_get_by_index(contact)?,
            plan: if has_plan { Some(parent_action_plan::Model::from_row(row, plan)?) } else { None },
        })
    }
}

/// The page of [`joined`] and how many placements `all` (their ids) selects in all, from one
/// evaluation of `all`: a materialized `WITH` that the count and the page both read. Most
/// of the statement's work is finding the set (an index probe for each family with a
/// parent living in the municipality: 222 parents, 111 families for a municipality of
/// the 10,000-family data set); as a count's subquery beside the page's, it was found
/// twice.
/// Measured there through `pgbench -M prepared`: 1.31-1.40 ms against 1.61-1.70.
///
/// The page reads the set under the placements' own name (`FROM kb_set AS placements`),
/// so that its order and cursor conditions are the same as on the table.
fn counted(all: SelectStatement, order: page::Order<placement::Column>, req: &PageRequest) -> SelectStatement {
    let set = Alias::new("kb_set");
    let mut ids =
        page::paged(placement::Entity::find().select_only().column(placement::Column::Id), order, req).into_query();
    ids.from_clear().from_as(set.clone(), placement::Entity);
    let mut statement = joined(ids, req.backwards());
    let count = Query::select().expr(Expr::cust("COUNT(*)")).from(set.clone()).take();
    statement.expr_as(Expr::SubQuery(None, Box::new(count.into())), Alias::new(page::TOTAL));
    let mut cte = CommonTableExpression::new();
    cte.table_name(set).materialized(true).query(all);
    // Built in place: `WithClause::cte` returns a reference, and `to_owned` (as sea-query's
    // own `From<CommonTableExpression>`) would clone the whole set's statement.
    let mut with = WithClause::new();
    with.cte(cte);
    statement.with_cte(with);
    statement
}

/// A page of placement ids (`page`, ordered and limited) joined to the placements, their
/// children (every placement has one), their families and each placement's latest plan
/// by id, if any, in the page's order. The page is read first and joined after: with the
/// joins inside it, PostgreSQL's generic plan for a page size given as a parameter walked
/// every placement in id order (19 ms against 1 ms on the 10,000-family data set). It
/// picks ids only, from the placements' covering index (migration m0016), so that the
/// placements that fail the condition are never read from the table. The latest plan's
/// subquery runs the same on SQLite and PostgreSQL, where `LATERAL` would not.
fn joined(page: SelectStatement, backwards: bool) -> SelectStatement {
    let (child, plan, ids) = (Alias::new("kb_child"), Alias::new("kb_plan"), Alias::new("kb_page"));
    let latest_plan = Query::select()
        .column((parent_action_plan::Entity, parent_action_plan::Column::Id))
        .from(parent_action_plan::Entity)
        .and_where(
            Expr::col((parent_action_plan::Entity, parent_action_plan::Column::PlacementId))
                .equals((placement::Entity, placement::Column::Id)),
        )
        .order_by((parent_action_plan::Entity, parent_action_plan::Column::Id), sea_orm::Order::Desc)
        .limit(1)
        .take();
    let mut select = Query::select();
    // The columns in the order `Joined::from_row` reads them.
    select
        .exprs(placement::Column::iter().map(|c| Expr::col((placement::Entity, c))))
        .exprs(person::Column::iter().map(|c| Expr::col((child.clone(), c))))
        .expr(Expr::col((family::Entity, family::Column::CaseworkerContact)))
        .exprs(parent_action_plan::Column::iter().map(|c| Expr::col((plan.clone(), c))))
        .from_subquery(page, ids.clone())
        .join(
            JoinType::InnerJoin,
            placement::Entity,
            Expr::col((placement::Entity, placement::Column::Id)).equals((ids, placement::Column::Id)),
        )
        .join_as(
            JoinType::InnerJoin,
            person::Entity,
            child.clone(),
            Expr::col((child.clone(), person::Column::Id)).equals((placement::Entity, placement::Column::ChildId)),
        )
        .join(
            JoinType::InnerJoin,
            family::Entity,
            Expr::col((family::Entity, family::Column::Id)).equals((placement::Entity, placement::Column::FamilyId)),
        )
        .join_as(
            JoinType::LeftJoin,
            parent_action_plan::Entity,
            plan.clone(),
            Expr::col((plan.clone(), parent_action_plan::Column::Id))
                .eq(Expr::SubQuery(None, Box::new(latest_plan.into()))),
        )
        .order_by(
            (placement::Entity, placement::Column::Id),
            if backwards { sea_orm::Order::Desc } else { sea_orm::Order::Asc },
        );
    select
}

pub(crate) fn coordination_condition(backend: DbBackend, r: &Reader<'_>, include_ended: bool) -> Condition {
    if r.actor.organization_kind != OrganizationKind::Municipality {
        return Condition::all().add(Expr::cust("1 = 0"));
    }
    let org = r.actor.organization_id.as_uuid();
    let parents: Vec<&str> = FamilyRole::ALL.iter().filter(|r| r.is_parent()).map(|r| r.as_str()).collect();
    let families_living_here = Query::select()
        .column(family_member::Column::FamilyId)
        .from(family_member::Entity)
        .and_where(family_member::Column::Role.is_in(parents))
        .and_where(family_member::Column::ResidenceMunicipalityId.eq(org))
        .take();
    // On PostgreSQL the families are gathered first into an array (an InitPlan), and the
    // placements found through their family index. As `IN (subquery)`, the prepared
    // statement's generic plan walked all 12,000 placements in id order probing the
    // members for each (24 ms against 2.5 ms on the 10,000-family data set).
    let living_here = match backend {
        DbBackend::Postgres => Expr::cust_with_exprs(
            r#""placements"."family_id" = ANY(ARRAY($1))"#,
            [Expr::SubQuery(None, Box::new(families_living_here.into()))],
        ),
        _ => placement::Column::FamilyId.in_subquery(families_living_here),
    };
    let mut condition = Condition::all().add(placement::Column::OrganizationId.ne(org)).add(living_here);
    if !include_ended {
        condition = condition.add(
            Condition::any().add(placement::Column::EndDate.is_null()).add(placement::Column::EndDate.gt(r.today)),
        );
    }
    condition
}

fn coordination_query(backend: DbBackend, r: &Reader<'_>, include_ended: bool) -> sea_orm::Select<placement::Entity> {
    placement::Entity::find().filter(coordination_condition(backend, r, include_ended))
}
