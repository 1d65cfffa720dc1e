//! Keyset pagination for Relay connections, in the connection's own order.
//!
//! Pages are cut by position rather than by offset, so a page is as cheap on the
//! ten-thousandth page as on the first, and rows written meanwhile never shift a page.
//! Every connection has an [`Order`]: its natural sort key (goals by position, visits by
//! planned start) followed by the id, which breaks ties; a connection without a natural
//! order sorts by id alone, which is creation order (ids are UUIDv7).
//!
//! **The pager owns the ordering.** The queries handed to it carry no `ORDER BY` of their
//! own; `first: n` is the first n in that order, `last: n` the last n, returned in the
//! same order, and a cursor (the id of an edge's record) marks the position of that record
//! in the order: `(sort key, id) > (the cursor row's sort key, id)`.

use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

/// A validated page request. At most one of `first` and `last` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub before: Option<Uuid>,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    First(u64),
    Last(u64),
}

impl PageRequest {
    /// The first `n` rows.
    pub fn first(n: u64) -> Self {
        Self { after: None, before: None, limit: Limit::First(n) }
    }

    /// The last `n` rows.
    pub fn last(n: u64) -> Self {
        Self { after: None, before: None, limit: Limit::Last(n) }
    }

    /// How many rows to read: one more than asked, which tells whether there are more.
    pub(crate) fn fetch_size(&self) -> u64 {
        match self.limit {
            Limit::First(n) | Limit::Last(n) => n + 1,
        }
    }

    /// Whether rows are read from the end of the order backwards.
    pub(crate) fn backwards(&self) -> bool {
        matches!(self.limit, Limit::Last(_))
    }

    /// Turns up to `n + 1` rows, read in the direction of the request, into a page in the
    /// connection's order.
    pub(crate) fn cut<T>(&self, rows: Vec<T>) -> Page<T> {
        cut(self.limit, self.after.is_some(), self.before.is_some(), rows)
    }
}

/// Turns up to `n + 1` rows, read in the direction of `limit`, into a page in the
/// connection's order; `after` and `before` tell whether those cursors were given.
pub(crate) fn cut<T>(limit: Limit, after: bool, before: bool, mut rows: Vec<T>) -> Page<T> {
    let (Limit::First(n) | Limit::Last(n)) = limit;
    let more = rows.len() as u64 > n;
    rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    match limit {
        // Rows before `after` exist (the cursor row itself, at least) when a cursor is given.
        Limit::First(_) => Page { items: rows, has_previous: after, has_next: more },
        Limit::Last(_) => {
            rows.reverse();
            Page { items: rows, has_previous: more, has_next: before }
        }
    }
}

/// One page of rows, in the connection's order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self { items: Vec::new(), has_previous: false, has_next: false }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_previous: self.has_previous,
            has_next: self.has_next,
        }
    }
}

/// The order of a connection: an optional sort key, then the id. Both ascend; "the
/// latest" of a connection in date order are its `last` n.
#[derive(Debug, Clone, Copy)]
pub struct Order<C> {
    pub sort: Option<C>,
    pub id: C,
}

impl<C: ColumnTrait> Order<C> {
    /// Creation order: by id alone.
    pub const fn by_id(id: C) -> Self {
        Self { sort: None, id }
    }

    /// By `sort`, ties broken by id.
    pub const fn by(sort: C, id: C) -> Self {
        Self { sort: Some(sort), id }
    }

    /// The order's columns, qualified by their table.
    pub(crate) fn columns(&self) -> Vec<C> {
        self.sort.into_iter().chain(std::iter::once(self.id)).collect()
    }

    /// The keyset conditions of `req`: rows after the `after` cursor's row and before the
    /// `before` cursor's row, in this order. A cursor whose row does not exist (or is
    /// another table's) matches nothing, so its page is empty.
    pub(crate) fn keyset(&self, req: &PageRequest) -> Vec<Expr> {
        let mut conditions = Vec::new();
        for (cursor, after) in [(req.after, true), (req.before, false)] {
            let Some(cursor) = cursor else { continue };
            let here = Expr::tuple(self.columns().into_iter().map(|c| Expr::col((c.entity_name(), c))));
            let there = self.cursor_row(cursor);
            conditions.push(if after { here.gt(there) } else { here.lt(there) });
        }
        conditions
    }

    /// `(SELECT sort, id FROM table WHERE id = cursor)`: the cursor's position.
    fn cursor_row(&self, cursor: Uuid) -> Expr {
        let mut select: SelectStatement = Query::select();
        for c in self.columns() {
            select.column((c.entity_name(), c));
        }
        select.from(self.id.entity_name()).and_where(Expr::col((self.id.entity_name(), self.id)).eq(cursor));
        Expr::SubQuery(None, Box::new(select.into()))
    }
}

/// Reads one page of `query` in `order`.
pub async fn fetch<E, C>(
    db: &C,
    query: Select<E>,
    order: Order<E::Column>,
    req: PageRequest,
) -> Result<Page<E::Model>, sea_orm::DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let rows = paged(query, order, &req).all(db).await?;
    Ok(req.cut(rows))
}

/// [`fetch`], and how many rows `query` selects in all (a connection's `totalCount`),
/// counted in the same statement: a scalar subquery the database evaluates once, so a page
/// and its count cost one round trip. A page without rows carries no count; it is
/// counted by a statement of its own.
pub async fn fetch_counted<E, C>(
    db: &C,
    query: Select<E>,
    order: Order<E::Column>,
    req: PageRequest,
) -> Result<(Page<E::Model>, u64), sea_orm::DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    use sea_orm::{FromQueryResult, QueryTrait};
    let backend = db.get_database_backend();
    let all = query.clone().into_query();
    let statement = paged(query, order, &req).expr_as(count_of(all.clone()), TOTAL).into_query();
    let rows = db.query_all_raw(backend.build(&statement)).await?;
    let Some(first) = rows.first() else {
        let count = Query::select().expr_as(count_of(all), sea_orm::sea_query::Alias::new(TOTAL)).take();
        let row = db.query_one_raw(backend.build(&count)).await?;
        return Ok((req.cut(Vec::new()), row.as_ref().map(total_of).transpose()?.unwrap_or(0)));
    };
    let total = total_of(first)?;
    let models = rows.iter().map(|row| E::Model::from_query_result(row, "")).collect::<Result<Vec<_>, _>>()?;
    Ok((req.cut(models), total))
}

/// The column [`count_of`] is selected as.
pub(crate) const TOTAL: &str = "kb_total";

/// How many rows `query` selects, as a scalar subquery: `(SELECT COUNT(*) FROM (query))`,
/// the count sea-orm's `count` sends.
pub(crate) fn count_of(query: SelectStatement) -> Expr {
    let count = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(query, sea_orm::sea_query::Alias::new("kb_counted"))
        .take();
    Expr::SubQuery(None, Box::new(count.into()))
}

/// The [`count_of`] a row carries.
pub(crate) fn total_of(row: &sea_orm::QueryResult) -> Result<u64, sea_orm::DbErr> {
    let total: i64 = row.try_get("", TOTAL)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// `query` limited to the rows of one page, in the direction it is read: [`fetch`]
/// reads it, and a query that joins other tables to a page wraps it.
pub(crate) fn paged<E: EntityTrait>(query: Select<E>, order: Order<E::Column>, req: &PageRequest) -> Select<E> {
    let mut query = query;
    for condition in order.keyset(req) {
        query = query.filter(condition);
    }
    for c in order.columns() {
        query = if req.backwards() { query.order_by_desc(c) } else { query.order_by_asc(c) };
    }
    query.limit(req.fetch_size())
}

#[cfg(test)]
mod tests;
