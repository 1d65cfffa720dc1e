//! Keyset pagination over time-ordered ids, for Relay connections.
//!
//! Pages are cut by `id > after` / `id < before` rather than by offset, so a page is as
//! cheap on the ten-thousandth page as on the first, and rows written meanwhile never
//! shift a page. Ids are UUIDv7, so id order is creation order.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

/// A validated page request. At most one of `first` and `last` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub before: Option<Uuid>,
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    First(u64),
    Last(u64),
}

/// One page of rows, in ascending id order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_previous: self.has_previous,
            has_next: self.has_next,
        }
    }
}

/// Reads one page of `query`, ordered by `id`.
pub async fn fetch<E, C>(
    db: &C,
    query: Select<E>,
    id: E::Column,
    req: PageRequest,
) -> Result<Page<E::Model>, sea_orm::DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut query = query;
    if let Some(after) = req.after {
        query = query.filter(id.gt(after));
    }
    if let Some(before) = req.before {
        query = query.filter(id.lt(before));
    }
    match req.limit {
        Limit::First(n) => {
            let mut items = query.order_by_asc(id).limit(n + 1).all(db).await?;
            let has_next = items.len() as u64 > n;
            items.truncate(n as usize);
            // Rows before `after` exist (the cursor row itself, at least) when a cursor is given.
            Ok(Page { items, has_previous: req.after.is_some(), has_next })
        }
        Limit::Last(n) => {
            let mut items = query.order_by_desc(id).limit(n + 1).all(db).await?;
            let has_previous = items.len() as u64 > n;
            items.truncate(n as usize);
            items.reverse();
            Ok(Page { items, has_previous, has_next: req.before.is_some() })
        }
    }
}
