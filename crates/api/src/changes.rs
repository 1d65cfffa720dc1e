//! The change feed: what changed in the caller's organisation's records, for
//! integrations that sync ("what changed since my last sync?").

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, SimpleObject, Subscription};
use futures_util::Stream;
use kinbridge_persistence::records;

use crate::connection::{ConnectionFields, MAX_PAGE_SIZE, wants_total};
use crate::context::{RequestContext, caller};
use crate::error::{ApiError, ApiResult, IntoApi};
use crate::scalars::Timestamp;

/// One change to a record the caller's organisation owns. It names the record; read the
/// record itself through the API, which decides what the caller may see.
#[derive(SimpleObject, Debug, Clone)]
pub struct Change {
    /// Where the change stands in the feed: pass it as `after` to read, or to subscribe
    /// to, what comes next.
    pub cursor: String,
    pub occurred_at: Timestamp,
    /// The record's type, such as `Family` or `ContactVisit`.
    pub record_type: String,
    /// The record's id, as the API gives it (`fam_…`).
    pub record_id: String,
    /// What happened, such as `family.created` or `contact_visit.cancelled`.
    pub event: String,
}

impl TryFrom<records::Change> for Change {
    type Error = ApiError;
    fn try_from(row: records::Change) -> Result<Self, ApiError> {
        let record_id =
            row.payload["id"].as_str().ok_or_else(|| ApiError::internal(&"outbox payload without id"))?.to_owned();
        let cursor =
            row.position.ok_or_else(|| ApiError::internal(&"a listed change without a feed position"))?.to_string();
        Ok(Self {
            cursor,
            occurred_at: Timestamp(row.occurred_at),
            record_type: row.aggregate_type,
            record_id,
            event: row.event_type,
        })
    }
}

#[derive(Default, Debug)]
pub struct ChangeQuery;

#[Object]
impl ChangeQuery {
    /// Changes to the caller's organisation's records, in the order they were committed.
    /// Keep the last cursor you processed and pass it as `after` next time: the feed
    /// lists every change committed before you ask, at once, and a change committed
    /// later always comes after that cursor, so none is skipped and none comes twice.
    #[graphql(complexity = "1 + usize::try_from(first.unwrap_or(20).clamp(0, 100)).unwrap_or(0) * child_complexity")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        first: Option<i64>,
    ) -> ApiResult<Connection<String, Change, ConnectionFields>> {
        let c = caller(ctx)?;
        let cursor = match &after {
            None => 0,
            Some(a) => parse_cursor(a)?,
        };
        let first = first.unwrap_or(20);
        if !(0..=i64::from(MAX_PAGE_SIZE)).contains(&first) {
            return Err(ApiError::bad_input("first", format!("must be from 0 to {MAX_PAGE_SIZE}")).into());
        }
        let n = u64::try_from(first).unwrap_or(0);
        let mut rows = c.store.changes(c.actor, cursor, n + 1).await.api()?;
        let has_next = rows.len() as u64 > n;
        rows.truncate(usize::try_from(n).unwrap_or(0) + 1);
        // The row past the page is the oldest change the reader has not read: its age is
        // how far behind the reader is (`/metrics`).
        let unread = if has_next { rows.pop() } else { None };
        let lag = unread.map_or(0, |row| (chrono::Utc::now() - row.occurred_at).num_milliseconds().max(0));
        if let Some(request) = ctx.data_opt::<RequestContext>() {
            request.feed_lag.record(std::time::Duration::from_millis(u64::try_from(lag).unwrap_or(0)));
        }
        let total = if wants_total(ctx) { c.store.count_changes(c.actor).await.api()? } else { 0 };
        let total_count = i32::try_from(total).unwrap_or(i32::MAX);
        let mut conn = Connection::with_additional_fields(cursor > 0, has_next, ConnectionFields { total_count });
        for row in rows {
            let change = Change::try_from(row)?;
            conn.edges.push(Edge::new(change.cursor.clone(), change));
        }
        Ok(conn)
    }
}

fn parse_cursor(after: &str) -> Result<i64, ApiError> {
    after
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad_input("after", "is not a cursor returned by changes"))
}

/// How many changes a live reader reads at a time before it sends them.
const LIVE_BATCH: u64 = 100;

#[derive(Default, Debug)]
pub struct ChangeSubscription;

#[Subscription]
impl ChangeSubscription {
    /// Changes to the caller's organisation's records, pushed as they are committed
    /// (through any Kinbridge process on the database), in the order of the `changes`
    /// feed. Without `after`, from now on; with the `cursor` of the last change you
    /// processed, everything after it first: a reader that reconnects with its last
    /// cursor misses nothing and receives nothing twice. Each change is read from the
    /// feed when it is delivered, under the caller's token as it stands then.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = ApiResult<Change>> + use<>> {
        let c = caller(ctx)?;
        let store = c.store.clone();
        let actor = c.actor.clone();
        let mut wake = store.feed_signal();
        let mut cursor = match &after {
            None => store.last_change_position(&actor).await.api()?,
            Some(a) => parse_cursor(a)?,
        };
        Ok(async_stream::try_stream! {
            loop {
                // Marked seen before the read: a commit during the read wakes the next wait.
                wake.borrow_and_update();
                let rows = store.changes(&actor, cursor, LIVE_BATCH).await.api()?;
                let full = rows.len() as u64 == LIVE_BATCH;
                for row in rows {
                    cursor = row.position.unwrap_or(cursor);
                    yield Change::try_from(row)?;
                }
                if !full {
                    let _ = tokio::time::timeout(store.feed_poll(), wake.changed()).await;
                }
            }
        })
    }
}
