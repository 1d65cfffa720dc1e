//! Relay cursor connections over keyset pages.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, OutputType, SimpleObject};
use kinbridge_persistence::page::Limit;
use kinbridge_persistence::{Page, PageRequest, StoreError};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult, IntoApi};

/// The page size when a client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Fields every connection has besides its edges.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct ConnectionFields {
    /// How many records the connection holds in all, across every page. Counts only
    /// what the caller may see.
    pub total_count: i32,
}

/// A connection of `Node`s with `String` cursors.
pub type Conn<Node> = Connection<String, Node, ConnectionFields>;

/// The cost of a connection field for query complexity: the page size times the cost
/// of what is asked of each node, so that `first` drives the cost.
pub fn cost(first: Option<i64>, last: Option<i64>, child_complexity: usize) -> usize {
    let n = first.or(last).unwrap_or(i64::from(DEFAULT_PAGE_SIZE)).clamp(0, i64::from(MAX_PAGE_SIZE));
    1 + usize::try_from(n).unwrap_or(0) * child_complexity
}

/// Validates pagination arguments into a page request.
pub fn page_request(
    after: Option<String>,
    before: Option<String>,
    first: Option<i64>,
    last: Option<i64>,
) -> Result<PageRequest, ApiError> {
    let check = |name: &str, n: i64| {
        if (0..=i64::from(MAX_PAGE_SIZE)).contains(&n) {
            Ok(u64::try_from(n).unwrap_or(0))
        } else {
            Err(ApiError::bad_input(name, format!("must be from 0 to {MAX_PAGE_SIZE}")))
        }
    };
    let limit = match (first, last) {
        (Some(_), Some(_)) => return Err(ApiError::bad_input("last", "give either first or last, not both")),
        (Some(n), None) => Limit::First(check("first", n)?),
        (None, Some(n)) => Limit::Last(check("last", n)?),
        (None, None) => Limit::First(u64::try_from(DEFAULT_PAGE_SIZE).unwrap_or(20)),
    };
    Ok(PageRequest {
        after: after.map(|c| cursor("after", &c)).transpose()?,
        before: before.map(|c| cursor("before", &c)).transpose()?,
        limit,
    })
}

/// A cursor is the public id of the edge's record: `prefix_` and 32 hex digits.
fn cursor(name: &str, value: &str) -> Result<Uuid, ApiError> {
    value
        .split_once('_')
        .filter(|(_, hex)| hex.len() == 32)
        .and_then(|(_, hex)| Uuid::try_parse(hex).ok())
        .ok_or_else(|| ApiError::bad_input(name, "is not a cursor returned by this connection"))
}

/// Whether the client asked for the page itself, not only its count.
pub(crate) fn wants_page(ctx: &Context<'_>) -> bool {
    let look = ctx.look_ahead();
    look.field("edges").exists() || look.field("nodes").exists() || look.field("pageInfo").exists()
}

/// Whether the client asked for `totalCount`, so that the count query runs only then.
pub fn wants_total(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// The four Relay pagination arguments of a connection field.
pub type PageArgs = (Option<String>, Option<String>, Option<i64>, Option<i64>);

/// Resolves a connection field: validates the page arguments, fetches one page, and
/// counts the total only when the client asked for `totalCount`.
pub async fn resolve<M, N: OutputType>(
    ctx: &Context<'_>,
    (after, before, first, last): PageArgs,
    fetch: impl AsyncFnOnce(PageRequest) -> Result<Page<M>, StoreError>,
    count: impl AsyncFnOnce() -> Result<u64, StoreError>,
    id: impl Fn(&M) -> String,
    node: impl Fn(M) -> N,
) -> ApiResult<Conn<N>> {
    let req = page_request(after, before, first, last)?;
    // A client that asks only for `totalCount` is shown no record: none is read, none
    // is logged as seen.
    let page = if wants_page(ctx) {
        fetch(req).await.api()?
    } else {
        Page { items: Vec::new(), has_previous: false, has_next: false }
    };
    let total = if wants_total(ctx) { count().await.api()? } else { 0 };
    Ok(build(page, total, id, node))
}

/// Builds a connection from a page. `id` gives each node's public id, which is its cursor.
pub fn build<M, N: OutputType>(page: Page<M>, total: u64, id: impl Fn(&M) -> String, node: impl Fn(M) -> N) -> Conn<N> {
    let total_count = i32::try_from(total).unwrap_or(i32::MAX);
    let mut conn =
        Connection::with_additional_fields(page.has_previous, page.has_next, ConnectionFields { total_count });
    conn.edges.extend(page.items.into_iter().map(|m| Edge::new(id(&m), node(m))));
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_together_are_refused() {
        assert!(
            matches!(page_request(None, None, Some(1), Some(1)), Err(ApiError::BadUserInput { field, .. }) if field == "last")
        );
    }

    #[test]
    fn a_page_larger_than_the_maximum_is_refused() {
        assert!(page_request(None, None, Some(i64::from(MAX_PAGE_SIZE) + 1), None).is_err());
        assert!(page_request(None, None, Some(-1), None).is_err());
    }

    #[test]
    fn a_cursor_that_is_not_an_id_is_refused() {
        assert!(page_request(Some("abc".into()), None, None, None).is_err());
    }

    #[test]
    fn the_page_size_drives_the_cost() {
        assert!(cost(Some(100), None, 10) > cost(Some(10), None, 10));
        assert_eq!(cost(Some(1000), None, 1), cost(Some(i64::from(MAX_PAGE_SIZE)), None, 1));
    }
}
