//! Batched loading: every nested field of a level of the query reads in one statement.
//!
//! A connection or reference field under a list (each family's `placements`, each
//! placement's `child`) asks its [`Batches`] for its parent's key. The first field to ask
//! for a given association and page opens a batch, then yields to the executor so that its
//! siblings can join; once a yield adds no key, it closes the batch, reads every key with
//! one statement (`Store::association_pages`, `association_counts`, `references`) and hands
//! each sibling its share.
//!
//! Why not a timer, as async-graphql's `DataLoader` (1 ms by default) does: one request's
//! resolvers all run in one task, which async-graphql polls level by level, so every
//! sibling that exists has asked for its key by the time the task is polled again. A
//! yield waits exactly as long as that takes (microseconds) and a timer always waits its
//! full delay, once per level: with four levels and the default delay, a page gained about
//! 4 ms of idle time per request. The statement-count test (`tests/e2e/batching.rs`)
//! checks that the batches are whole: the same statements for 10 families as for 100.
//!
//! Batches live in the request's [`RequestContext`](crate::RequestContext): they carry the
//! caller's scope, and nothing is shared between requests.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, OutputType};
use kinbridge_persistence::assoc::{Association, Reference};
use kinbridge_persistence::records::Readable;
use kinbridge_persistence::{Page, PageRequest};
use tokio::sync::watch;
use uuid::Uuid;

use crate::connection::{self, Conn, PageArgs, wants_page, wants_total};
use crate::context::{Caller, caller};
use crate::error::{ApiError, ApiResult, IntoApi};
use kinbridge_persistence::StoreError;

/// What a batch reads: which association or reference (by the address of its static
/// declaration), with which page, and for which field of the query (its path without list
/// indices, hashed). Keying by the field keeps the batches the same from one request to
/// the next: two fields that read the same table at the same depth (a member's `person`
/// and a placement's `child`) are two statements, never sometimes one and sometimes two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BatchKey {
    Pages(usize, u64, PageRequest),
    Counts(usize, u64),
    References(usize, u64),
    Lookups(&'static str, u64),
}

/// The field being resolved, as the hash of its path's names (`families.edges.node.members…`).
fn site(ctx: &Context<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut node = ctx.path_node.as_ref();
    while let Some(n) = node {
        if let async_graphql::QueryPathSegment::Name(name) = n.segment {
            name.hash(&mut hasher);
        }
        node = n.parent;
    }
    hasher.finish()
}

type Outcome<V> = Option<Result<Arc<HashMap<Uuid, V>>, ApiError>>;

/// The keys gathered for one statement, and the way its result reaches them.
struct Batch<V> {
    keys: Mutex<Vec<Uuid>>,
    done: watch::Sender<Outcome<V>>,
}

/// The open batches of one request.
#[derive(Default)]
pub struct Batches {
    open: Mutex<HashMap<BatchKey, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

/// Removes a batch from the open ones when its leader stops, whether it finished or was
/// dropped, so that no key joins a batch that will never be read.
struct Close<'a> {
    batches: &'a Batches,
    key: BatchKey,
}

impl Drop for Close<'_> {
    fn drop(&mut self) {
        if let Ok(mut open) = self.batches.open.lock() {
            open.remove(&self.key);
        }
    }
}

impl Batches {
    /// The value for `id` from the batch of `key`, read by `fetch` together with every
    /// sibling's id.
    async fn load<V>(
        &self,
        key: BatchKey,
        id: Uuid,
        fetch: impl AsyncFnOnce(Vec<Uuid>) -> Result<HashMap<Uuid, V>, ApiError>,
    ) -> Result<Option<V>, ApiError>
    where
        V: Clone + Send + Sync + 'static,
    {
        let (batch, leader) = {
            let mut open = self.open.lock().map_err(|_| ApiError::internal(&"a batch lock was poisoned"))?;
            let joined = open.get(&key).and_then(|b| Arc::clone(b).downcast::<Batch<V>>().ok());
            match joined {
                Some(batch) => {
                    batch.keys.lock().map_err(|_| ApiError::internal(&"a batch lock was poisoned"))?.push(id);
                    (batch, false)
                }
                None => {
                    let (done, _) = watch::channel(None);
                    let batch = Arc::new(Batch { keys: Mutex::new(vec![id]), done });
                    open.insert(key, Arc::clone(&batch) as Arc<dyn Any + Send + Sync>);
                    (batch, true)
                }
            }
        };
        if !leader {
            let mut done = batch.done.subscribe();
            drop(batch);
            let outcome = done.wait_for(Option::is_some).await.map(|o| o.clone()).ok().flatten();
            return match outcome {
                Some(result) => result.map(|values| values.get(&id).cloned()),
                // The leader was dropped before it read (its part of the response failed):
                // read this key alone rather than fail a sibling that did nothing wrong.
                None => fetch(vec![id]).await.map(|mut values| values.remove(&id)),
            };
        }
        let close = Close { batches: self, key };
        // Siblings reach their first poll in rounds: async-graphql joins a list's items in a
        // FuturesUnordered, which polls at most 32 of them before it yields. The batch closes
        // once two passes in a row brought no new key, so that a pass which happened to
        // poll none of the siblings still waiting does not close it early.
        let (mut seen, mut quiet) = (0, 0);
        while quiet < 2 {
            let gathered = batch.keys.lock().map(|k| k.len()).unwrap_or(seen);
            quiet = if gathered == seen { quiet + 1 } else { 0 };
            seen = gathered;
            tokio::task::yield_now().await;
        }
        drop(close);
        let mut keys = batch.keys.lock().map(|mut k| std::mem::take(&mut *k)).unwrap_or_default();
        keys.sort_unstable();
        keys.dedup();
        let result = fetch(keys).await.map(Arc::new);
        batch.done.send_replace(Some(result.clone()));
        // The siblings continue when the task is next polled; so does the leader, so that
        // all of them reach the next level in the same pass and share its batches.
        tokio::task::yield_now().await;
        result.map(|values| values.get(&id).cloned())
    }
}

fn address<T>(declaration: &'static T) -> usize {
    std::ptr::from_ref(declaration) as usize
}

impl Caller<'_> {
    /// One page of `assoc` under `parent`, read with the pages of its siblings.
    pub(crate) async fn page<E>(
        &self,
        ctx: &Context<'_>,
        assoc: &'static Association<E>,
        parent: Uuid,
        req: PageRequest,
    ) -> Result<Page<E::Record>, ApiError>
    where
        E: Readable,
    {
        let key = BatchKey::Pages(address(assoc), site(ctx), req);
        let page = self
            .batches
            .load(key, parent, async |parents| {
                self.store.association_pages(&self.reader(), assoc, &parents, req).await.api()
            })
            .await?;
        Ok(page.unwrap_or_else(Page::empty))
    }

    /// How many records of `assoc` the caller may see under `parent`.
    pub(crate) async fn count<E>(
        &self,
        ctx: &Context<'_>,
        assoc: &'static Association<E>,
        parent: Uuid,
    ) -> Result<u64, ApiError>
    where
        E: Readable,
    {
        let key = BatchKey::Counts(address(assoc), site(ctx));
        let n = self
            .batches
            .load(key, parent, async |parents| {
                self.store.association_counts(&self.reader(), assoc, &parents).await.api()
            })
            .await?;
        Ok(n.unwrap_or(0))
    }

    /// The record `id` of `reference`, if the caller may see it.
    pub(crate) async fn reference<E>(
        &self,
        ctx: &Context<'_>,
        reference: &'static Reference<E>,
        id: impl Into<Uuid>,
    ) -> Result<E::Record, ApiError>
    where
        E: Readable,
    {
        let key = BatchKey::References(address(reference), site(ctx));
        self.batches
            .load(key, id.into(), async |ids| self.store.references(&self.reader(), reference, &ids).await.api())
            .await?
            .ok_or(ApiError::NotFound { record_type: reference.name })
    }
}

impl Caller<'_> {
    /// The value of a computed field for the object `id`, read with the same field of the
    /// object's siblings by `fetch`, one statement for the level. `what` names the lookup
    /// (`Store` method); an object missing from the answer has `None`.
    pub(crate) async fn lookup<V>(
        &self,
        ctx: &Context<'_>,
        what: &'static str,
        id: impl Into<Uuid>,
        fetch: impl AsyncFnOnce(Vec<Uuid>) -> Result<HashMap<Uuid, V>, StoreError>,
    ) -> Result<Option<V>, ApiError>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.batches.load(BatchKey::Lookups(what, site(ctx)), id.into(), async |ids| fetch(ids).await.api()).await
    }

    /// The records `ids` of `reference` that the caller may see, in the order of `ids`,
    /// read in the same batch as every sibling's: all of an object's references join the
    /// level's one statement, however many the object has.
    pub(crate) async fn references<E>(
        &self,
        ctx: &Context<'_>,
        reference: &'static Reference<E>,
        ids: impl IntoIterator<Item = impl Into<Uuid>>,
    ) -> Result<Vec<E::Record>, ApiError>
    where
        E: Readable,
    {
        futures_util::future::try_join_all(ids.into_iter().map(|id| self.reference(ctx, reference, id))).await
    }
}

/// Resolves a nested connection field: `assoc` under `parent`, its page and its count
/// each read with those of the field's siblings, and only what the client selected.
pub(crate) async fn nested<E, N>(
    ctx: &Context<'_>,
    args: PageArgs,
    assoc: &'static Association<E>,
    parent: impl Into<Uuid>,
    id: impl Fn(&E::Record) -> String,
    node: impl Fn(E::Record) -> N,
) -> ApiResult<Conn<N>>
where
    E: Readable,
    N: OutputType,
{
    let parent = parent.into();
    let c = caller(ctx)?;
    let (after, before, first, last) = args;
    let req = connection::page_request(after, before, first, last)?;
    // A client that asks only for `totalCount` is shown no record: none is read, none is
    // logged as seen.
    let page = async { if wants_page(ctx) { c.page(ctx, assoc, parent, req).await } else { Ok(Page::empty()) } };
    let total = async { if wants_total(ctx) { c.count(ctx, assoc, parent).await } else { Ok(0) } };
    let (page, total) = tokio::join!(page, total);
    Ok(connection::build(page?, total?, id, node))
}
