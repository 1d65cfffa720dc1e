//! Level-at-a-time rendering of the read path's trees: a family, a page of families, and
//! what hangs under them, answered without async-graphql's per-field machinery.
//!
//! async-graphql resolves a response field by field: a boxed future for every field of
//! every object, joined in a `FuturesUnordered`, each value merged into a map by name and
//! every nested read parked on its batch (`loader.rs`) until its siblings join. For a
//! caseworker's page of 50 families that is thousands of futures, and it was most of the
//! service's CPU per request: 14 ms of Kinbridge's CPU against 5 ms of PostgreSQL's
//! (release build, 10,000 families, 8 connections). Here the same answer is built a level
//! at a time:
//!
//! 1. **Plan.** Before anything is read, the field's selection is checked against what
//!    this module knows: an object's plain fields (its `Level::PLAIN`), its nested
//!    connections and references (`Level::nested`), a connection's `totalCount`, `edges`,
//!    `nodes` and `pageInfo`, `__typename`, fragments on the type itself. The page
//!    arguments are read and checked as the resolver would.
//! 2. **Read.** Each nested field of a level is one statement for every object of the
//!    level, through the same store calls as `loader.rs` (`association_pages`,
//!    `association_counts`, `references`): the same scope in SQL, the same records logged
//!    as shown. A reference declared with [`one_via`] (a member's `person`, a placement's
//!    `child`) selected under a connection is read in that connection's page statement
//!    instead (`Planned::join`, `Store::association_pages_joined`), one statement less
//!    per such field, as PostGraphile joins a to-one relation into its parent's query.
//! 3. **Render.** A plain field is answered by the object's own generated resolver
//!    (`ContainerType::resolve_field`), polled once: its value is what async-graphql
//!    would give, by construction. A computed field (one that reads: `status`,
//!    `isCrossMunicipality`, a connection not declared here) is answered by the same
//!    resolvers of every object of the level, run together under the field's own path, so
//!    that their reads join one batch of `loader.rs` as they would under async-graphql.
//!    Keys come in selection order.
//!
//! Anything else leaves the field to async-graphql, which answers it exactly as before:
//! a fragment on another type, a response key selected twice, page arguments it refuses,
//! a resolver that fails, or a reference the caller may not see (which async-graphql
//! answers with its error and its nulls). A tree given up
//! after some of it was read is read again by async-graphql; those reads were logged once
//! (`ReadLog::take` keeps each record once), and only records the caller may see are read.
//!
//! The plan reads the request's fragments and variables from `ContextBase::query_env`,
//! which async-graphql documents as hidden; the version is pinned in `Cargo.lock`, and the
//! equivalence test (`tests/e2e/level.rs`) compares both paths' answers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Mutex;

use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, InputType, Name, OutputType, Positioned, ServerResult, Value, registry,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use kinbridge_persistence::assoc::{Association, EntityTrait, Join, Joined, Reference, Via};
use kinbridge_persistence::records::Readable;
use kinbridge_persistence::{Page, PageRequest, StoreError};
use uuid::Uuid;

use crate::connection::{self, Conn, PageArgs};
use crate::context::{Caller, caller};
use crate::error::{ApiResult, IntoApi};

/// A field's answer: rendered by this module, or the object for async-graphql to resolve
/// field by field. Its GraphQL type is `T`'s, so the schema does not change.
pub enum Rendered<T> {
    Value(Mutex<Option<Value>>),
    Object(T),
}

impl<T> std::fmt::Debug for Rendered<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Value(_) => "Rendered::Value",
            Self::Object(_) => "Rendered::Object",
        })
    }
}

impl<T> Rendered<T> {
    fn value(ctx: &Context<'_>, value: Value) -> Self {
        counted(ctx, true);
        Self::Value(Mutex::new(Some(value)))
    }

    fn object(ctx: &Context<'_>, object: T) -> Self {
        counted(ctx, false);
        Self::Object(object)
    }
}

fn counted(ctx: &Context<'_>, rendered: bool) {
    if let Some(request) = ctx.data_opt::<crate::RequestContext>() {
        request.read_paths.count(rendered);
    }
}

impl<T: OutputType> OutputType for Rendered<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match self {
            // A field is resolved once; the value moves into the response.
            Self::Value(value) => Ok(value.lock().ok().and_then(|mut v| v.take()).unwrap_or_default()),
            Self::Object(object) => object.resolve(ctx, field).await,
        }
    }
}

/// An object type this module renders.
pub trait Level: ContainerType + OutputType + Send + Sync + Sized + 'static {
    /// The fields whose resolver reads nothing: answered from the object alone, at once.
    /// A field in neither this list nor `nested` is computed: its resolver runs for every
    /// object of the level together.
    const PLAIN: &'static [&'static str];

    /// The nested fields read a level at a time: connections and references.
    fn nested(_name: &str) -> Option<&'static dyn Nest<Self>> {
        None
    }
}

/// A record's object: the key its associations hang under and its cursor in a connection
/// (the record's public id, as `connection::build` gives it).
pub trait Keyed {
    fn key(&self) -> Uuid;
    fn cursor(&self) -> String;
}

/// A nested field of objects `P`, read for a whole level at once.
pub trait Nest<P>: Sync {
    /// The plan for `field` below objects `P`; `None` when this module leaves it to
    /// async-graphql.
    fn plan<'q>(
        &'static self,
        sel: &'q ContextSelectionSet<'q>,
        field: &'q Positioned<Field>,
    ) -> Option<Box<dyn Planned<P> + 'q>>;
}

/// A planned nested field: reads it for every parent of the level and renders each
/// parent's value; `None` when the level must be left to async-graphql.
pub trait Planned<P>: Send + Sync {
    fn render<'a>(&'a self, cx: Cx<'a>, parents: &'a [P]) -> BoxFuture<'a, ApiResult<Option<Vec<Value>>>>;

    /// How the page that reads the parents can read this field's records in its own
    /// statement (a reference declared with [`one_via`]).
    fn join(&self) -> Option<&'static dyn Join> {
        None
    }

    /// The records the parents' page read for [`Planned::join`], before `render`.
    fn give(&self, _joined: Joined) {}
}

/// What rendering needs: the caller (store, scope, read log) and a context whose fields
/// the generated resolvers run under (the request's data).
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    caller: Caller<'a>,
    sel: &'a ContextSelectionSet<'a>,
}

impl std::fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx").field("caller", &self.caller).finish_non_exhaustive()
    }
}

/// One selected field of an object `T`.
struct Sel<'q, T> {
    key: Name,
    field: &'q Positioned<Field>,
    kind: Kind<'q, T>,
}

enum Kind<'q, T> {
    Typename,
    Plain,
    Nested(Box<dyn Planned<T> + 'q>),
    /// A field that reads (`status`, `isCrossMunicipality`, …): every object's own
    /// resolver, run together, so that their reads join one batch of the loader.
    Computed,
}

/// The fields of `set` on the type `type_name`, fragments expanded in place; `None` when a
/// fragment is on another type, a response key is selected twice (async-graphql merges
/// those), or a field carries a directive.
fn fields<'q>(
    sel: &'q ContextSelectionSet<'q>,
    set: &'q SelectionSet,
    type_name: &str,
) -> Option<Vec<&'q Positioned<Field>>> {
    fn walk<'q>(
        sel: &'q ContextSelectionSet<'q>,
        set: &'q SelectionSet,
        type_name: &str,
        out: &mut Vec<&'q Positioned<Field>>,
        depth: usize,
    ) -> Option<()> {
        if depth > 16 {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = &field.node.response_key().node;
                    if !field.node.directives.is_empty() || out.iter().any(|f| &f.node.response_key().node == key) {
                        return None;
                    }
                    out.push(field);
                }
                Selection::FragmentSpread(spread) => {
                    let fragment = sel.query_env.fragments.get(&spread.node.fragment_name.node)?;
                    if fragment.node.type_condition.node.on.node != type_name || !spread.node.directives.is_empty() {
                        return None;
                    }
                    walk(sel, &fragment.node.selection_set.node, type_name, out, depth + 1)?;
                }
                Selection::InlineFragment(inline) => {
                    let on_other = inline.node.type_condition.as_ref().is_some_and(|c| c.node.on.node != type_name);
                    if on_other || !inline.node.directives.is_empty() {
                        return None;
                    }
                    walk(sel, &inline.node.selection_set.node, type_name, out, depth + 1)?;
                }
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(sel, set, type_name, &mut out, 0)?;
    Some(out)
}

/// The plan for a selection on objects `T`.
fn plan_object<'q, T: Level>(sel: &'q ContextSelectionSet<'q>, set: &'q SelectionSet) -> Option<Vec<Sel<'q, T>>> {
    let type_name = T::type_name();
    let mut out = Vec::new();
    for field in fields(sel, set, &type_name)? {
        let name = field.node.name.node.as_str();
        let kind = if name == "__typename" {
            Kind::Typename
        } else if T::PLAIN.contains(&name) {
            Kind::Plain
        } else {
            match T::nested(name) {
                Some(nest) => Kind::Nested(nest.plan(sel, field)?),
                None => Kind::Computed,
            }
        };
        out.push(Sel { key: field.node.response_key().node.clone(), field, kind });
    }
    Some(out)
}

/// Renders `sels` for every object of a level: each nested field read once for all of
/// them, then each object's keys in selection order.
async fn render_objects<'a, T: Level>(
    cx: Cx<'a>,
    objects: &'a [T],
    sels: &'a [Sel<'a, T>],
) -> ApiResult<Option<Vec<Value>>> {
    let reads = sels.iter().filter_map(|s| match &s.kind {
        Kind::Nested(planned) => Some(planned.render(cx, objects)),
        Kind::Computed => Some(computed(cx, objects, s.field).boxed()),
        _ => None,
    });
    let Some(mut nested) = futures_util::future::try_join_all(reads).await?.into_iter().collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let type_name = T::type_name();
    let mut out = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        let mut map = IndexMap::with_capacity(sels.len());
        let mut n = 0;
        for s in sels {
            let value = match &s.kind {
                Kind::Typename => Value::String(type_name.to_string()),
                Kind::Plain => match plain(cx, object, s.field) {
                    Some(value) => value,
                    None => return Ok(None),
                },
                Kind::Nested(_) | Kind::Computed => {
                    let value = std::mem::take(&mut nested[n][i]);
                    n += 1;
                    value
                }
            };
            map.insert(s.key.clone(), value);
        }
        out.push(Value::Object(map));
    }
    Ok(Some(out))
}

/// A computed field of every object of a level: each object's resolver, run together so
/// that their reads join one batch (`loader.rs`, keyed by this field's path); `None` if
/// any of them fails (async-graphql then answers it, error and all).
async fn computed<'a, T: Level>(
    cx: Cx<'a>,
    objects: &'a [T],
    field: &'a Positioned<Field>,
) -> ApiResult<Option<Vec<Value>>> {
    let ctx = cx.sel.with_field(field);
    let values = poll_all(objects.iter().map(|o| Box::pin(o.resolve_field(&ctx))).collect()).await;
    Ok(values.into_iter().map(|v| v.ok().flatten()).collect())
}

/// Awaits all of `futures`, polling every one that is not done on every poll. `join_all`
/// past 30 futures polls through a `FuturesUnordered`, which reaches at most 32 of them per
/// poll; the loader's batch leader closes its batch after two polls that brought no new
/// key, so a level of 100 objects could be read in two statements instead of one.
async fn poll_all<F: std::future::Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futures: Vec<futures_util::future::MaybeDone<F>> =
        futures.into_iter().map(futures_util::future::maybe_done).collect();
    std::future::poll_fn(move |task| {
        let mut pending = false;
        for future in &mut futures {
            pending |= Pin::new(&mut *future).poll(task).is_pending();
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(futures.iter_mut().filter_map(|f| Pin::new(f).take_output()).collect())
    })
    .await
}

/// Renders `sels` for `objects` under the connection's `path` (`edges`, `node` or `nodes`),
/// so that what their fields read is keyed by the path async-graphql would give them.
async fn render_below<'a, N: Level>(
    cx: Cx<'a>,
    path: &'a [&'a Positioned<Field>],
    objects: &'a [N],
    sels: &'a [Sel<'a, N>],
) -> ApiResult<Option<Vec<Value>>> {
    match path {
        [f] => {
            let at = cx.sel.with_field(f);
            let sel = at.with_selection_set(&f.node.selection_set);
            render_objects(Cx { caller: cx.caller, sel: &sel }, objects, sels).await
        }
        [f, g] => {
            let at = cx.sel.with_field(f);
            let below = at.with_field(g);
            let sel = below.with_selection_set(&g.node.selection_set);
            render_objects(Cx { caller: cx.caller, sel: &sel }, objects, sels).await
        }
        _ => render_objects(cx, objects, sels).await,
    }
}

/// A plain field, answered by the object's generated resolver; `None` if that resolver
/// would wait or fails (async-graphql then answers it, error and all).
fn plain<T: Level>(cx: Cx<'_>, object: &T, field: &Positioned<Field>) -> Option<Value> {
    let ctx = cx.sel.with_field(field);
    match object.resolve_field(&ctx).now_or_never() {
        Some(Ok(Some(value))) => Some(value),
        _ => None,
    }
}

/// `value` for each of `keys`, moved out for a key's last use and cloned before it (a
/// record shown under two parents, such as one municipality of many families).
fn hand_out(mut values: HashMap<Uuid, Value>, keys: &[Option<Uuid>]) -> Vec<Value> {
    let mut uses: HashMap<Uuid, usize> = HashMap::with_capacity(values.len());
    for key in keys.iter().flatten() {
        *uses.entry(*key).or_default() += 1;
    }
    keys.iter()
        .map(|key| {
            let Some(key) = key else { return Value::Null };
            let left = uses.get_mut(key).map(|n| {
                *n -= 1;
                *n
            });
            match left {
                Some(0) => values.remove(key).unwrap_or_default(),
                _ => values.get(key).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

fn unique(keys: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    let mut keys: Vec<Uuid> = keys.collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// An argument of `field` with the request's variables in it, read as `V`; `None` when it
/// does not read (async-graphql then reports it).
fn argument<V: InputType>(sel: &ContextSelectionSet<'_>, field: &Field, name: &str) -> Option<V> {
    let value = match field.get_argument(name) {
        None => None,
        Some(value) => Some(
            value
                .node
                .clone()
                .into_const_with(|var| {
                    let env = sel.query_env;
                    env.operation
                        .node
                        .variable_definitions
                        .iter()
                        .find(|d| d.node.name.node == var)
                        .and_then(|d| env.variables.get(&d.node.name.node).or_else(|| d.node.default_value()))
                        .cloned()
                        .ok_or(())
                })
                .ok()?,
        ),
    };
    V::parse(value).ok()
}

/// The page a connection field asks for, checked as `connection::page_request` does.
fn page_request(sel: &ContextSelectionSet<'_>, field: &Field) -> Option<PageRequest> {
    connection::page_request(
        argument(sel, field, "after")?,
        argument(sel, field, "before")?,
        argument(sel, field, "first")?,
        argument(sel, field, "last")?,
    )
    .ok()
}

impl Level for PageInfo {
    const PLAIN: &'static [&'static str] = &["hasPreviousPage", "hasNextPage", "startCursor", "endCursor"];
}

/// A node selection of a connection, with the fields above it within the connection.
type Below<'q, N> = (Vec<&'q Positioned<Field>>, Vec<Sel<'q, N>>);

/// The plan for a connection's own selection.
struct ConnPlan<'q, N> {
    items: Vec<ConnItem>,
    /// The node selections under `edges { node }` and `nodes`, by index.
    /// Each with the fields above it within the connection (`edges`, `node`), for the path
    /// its computed fields batch under.
    nodes: Vec<Below<'q, N>>,
    page_infos: Vec<Vec<Sel<'q, PageInfo>>>,
    page: bool,
    total: bool,
}

enum ConnItem {
    Total(Name),
    Typename(Name),
    PageInfo(Name, usize),
    Edges(Name, Vec<EdgeItem>),
    Nodes(Name, usize),
}

enum EdgeItem {
    Cursor(Name),
    Typename(Name),
    Node(Name, usize),
}

fn plan_connection<'q, N: Level + Keyed>(
    sel: &'q ContextSelectionSet<'q>,
    field: &'q Positioned<Field>,
) -> Option<ConnPlan<'q, N>> {
    let field = &field.node;
    let mut plan = ConnPlan { items: Vec::new(), nodes: Vec::new(), page_infos: Vec::new(), page: false, total: false };
    for f in fields(sel, &field.selection_set.node, &Conn::<N>::type_name())? {
        let key = f.node.response_key().node.clone();
        let below = &f.node.selection_set.node;
        let item = match f.node.name.node.as_str() {
            "__typename" => ConnItem::Typename(key),
            "totalCount" => {
                plan.total = true;
                ConnItem::Total(key)
            }
            "pageInfo" => {
                plan.page = true;
                plan.page_infos.push(plan_object::<PageInfo>(sel, below)?);
                ConnItem::PageInfo(key, plan.page_infos.len() - 1)
            }
            "nodes" => {
                plan.page = true;
                plan.nodes.push((vec![f], plan_object::<N>(sel, below)?));
                ConnItem::Nodes(key, plan.nodes.len() - 1)
            }
            "edges" => {
                plan.page = true;
                let mut edge = Vec::new();
                for g in fields(sel, below, &Edge::<String, N, EmptyFields>::type_name())? {
                    let key = g.node.response_key().node.clone();
                    edge.push(match g.node.name.node.as_str() {
                        "__typename" => EdgeItem::Typename(key),
                        "cursor" => EdgeItem::Cursor(key),
                        "node" => {
                            plan.nodes.push((vec![f, g], plan_object::<N>(sel, &g.node.selection_set.node)?));
                            EdgeItem::Node(key, plan.nodes.len() - 1)
                        }
                        _ => return None,
                    });
                }
                ConnItem::Edges(key, edge)
            }
            _ => return None,
        };
        plan.items.push(item);
    }
    Some(plan)
}

/// The pages of a level's connections: every node in one list (so that their own nested
/// fields read once for the level), each connection its range of it.
struct Pages<N> {
    items: Vec<N>,
    pages: Vec<(Range<usize>, bool, bool)>,
    totals: Vec<u64>,
}

impl<N> Pages<N> {
    fn new() -> Self {
        Self { items: Vec::new(), pages: Vec::new(), totals: Vec::new() }
    }

    fn push(&mut self, page: Page<N>, total: u64) {
        let start = self.items.len();
        self.items.extend(page.items);
        self.pages.push((start..self.items.len(), page.has_previous, page.has_next));
        self.totals.push(total);
    }
}

/// Renders each connection of `pages` as `plan` selects it.
async fn render_connections<'a, N: Level + Keyed>(
    cx: Cx<'a>,
    plan: &'a ConnPlan<'a, N>,
    pages: &'a Pages<N>,
) -> ApiResult<Option<Vec<Value>>> {
    let nodes = plan.nodes.iter().map(|(path, sels)| render_below(cx, path, &pages.items, sels));
    let Some(mut nodes) = futures_util::future::try_join_all(nodes).await?.into_iter().collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let infos: Vec<PageInfo> = pages
        .pages
        .iter()
        .map(|(range, has_previous_page, has_next_page)| PageInfo {
            has_previous_page: *has_previous_page,
            has_next_page: *has_next_page,
            start_cursor: pages.items[range.clone()].first().map(Keyed::cursor),
            end_cursor: pages.items[range.clone()].last().map(Keyed::cursor),
        })
        .collect();
    let mut page_infos = Vec::with_capacity(plan.page_infos.len());
    for sels in &plan.page_infos {
        match render_objects(cx, &infos, sels).await? {
            Some(values) => page_infos.push(values),
            None => return Ok(None),
        }
    }
    let (conn_type, edge_type) = (Conn::<N>::type_name(), Edge::<String, N, EmptyFields>::type_name());
    let mut out = Vec::with_capacity(pages.pages.len());
    for (p, (range, _, _)) in pages.pages.iter().enumerate() {
        let mut map = IndexMap::with_capacity(plan.items.len());
        for item in &plan.items {
            let (key, value) = match item {
                ConnItem::Total(key) => (key, Value::from(i32::try_from(pages.totals[p]).unwrap_or(i32::MAX))),
                ConnItem::Typename(key) => (key, Value::String(conn_type.to_string())),
                ConnItem::PageInfo(key, i) => (key, std::mem::take(&mut page_infos[*i][p])),
                ConnItem::Nodes(key, i) => {
                    (key, Value::List(range.clone().map(|j| std::mem::take(&mut nodes[*i][j])).collect()))
                }
                ConnItem::Edges(key, edge) => {
                    let edges = range.clone().map(|j| {
                        let mut e = IndexMap::with_capacity(edge.len());
                        for item in edge {
                            let (key, value) = match item {
                                EdgeItem::Cursor(key) => (key, Value::String(pages.items[j].cursor())),
                                EdgeItem::Typename(key) => (key, Value::String(edge_type.to_string())),
                                EdgeItem::Node(key, i) => (key, std::mem::take(&mut nodes[*i][j])),
                            };
                            e.insert(key.clone(), value);
                        }
                        Value::Object(e)
                    });
                    (key, Value::List(edges.collect()))
                }
            };
            map.insert(key.clone(), value);
        }
        out.push(Value::Object(map));
    }
    Ok(Some(out))
}

/// A connection field over an association (`Family.members`): each parent's page, and its
/// count if selected, for the whole level in one statement each.
pub struct Many<P, E: Readable + 'static, N> {
    assoc: &'static Association<E>,
    node: fn(E::Record) -> N,
    parent: PhantomData<fn(&P)>,
}

impl<P, E: Readable, N> std::fmt::Debug for Many<P, E, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Many").field("assoc", &self.assoc.name).finish_non_exhaustive()
    }
}

pub const fn many<P, E: Readable, N>(assoc: &'static Association<E>, node: fn(E::Record) -> N) -> Many<P, E, N> {
    Many { assoc, node, parent: PhantomData }
}

struct ManyPlan<'q, P: 'static, E: Readable + 'static, N: 'static> {
    many: &'static Many<P, E, N>,
    field: &'q Positioned<Field>,
    req: PageRequest,
    conn: ConnPlan<'q, N>,
}

impl<P, E, N> Nest<P> for Many<P, E, N>
where
    P: Keyed + Send + Sync + 'static,
    E: Readable,
    N: Level + Keyed,
{
    fn plan<'q>(
        &'static self,
        sel: &'q ContextSelectionSet<'q>,
        field: &'q Positioned<Field>,
    ) -> Option<Box<dyn Planned<P> + 'q>> {
        let req = page_request(sel, &field.node)?;
        let conn = plan_connection::<N>(sel, field)?;
        Some(Box::new(ManyPlan { many: self, field, req, conn }))
    }
}

impl<P, E, N> Planned<P> for ManyPlan<'_, P, E, N>
where
    P: Keyed + Send + Sync + 'static,
    E: Readable,
    N: Level + Keyed,
{
    fn render<'a>(&'a self, cx: Cx<'a>, parents: &'a [P]) -> BoxFuture<'a, ApiResult<Option<Vec<Value>>>> {
        async move {
            let keys = unique(parents.iter().map(Keyed::key));
            let (store, reader, assoc) = (cx.caller.store, cx.caller.reader(), self.many.assoc);
            // The references selected under the nodes, read with the page where they can be.
            let below: Vec<(&dyn Planned<N>, &'static dyn Join)> = (self.conn.nodes.iter())
                .flat_map(|(_, sels)| sels)
                .filter_map(|s| match &s.kind {
                    Kind::Nested(planned) => planned.join().map(|join| (&**planned, join)),
                    _ => None,
                })
                .collect();
            let joins: Vec<&dyn Join> = below.iter().map(|(_, join)| *join).collect();
            let read = async {
                if self.conn.page {
                    store.association_pages_joined(&reader, assoc, &keys, self.req, &joins).await.map(Some)
                } else {
                    Ok(None)
                }
            };
            let count = async {
                if self.conn.total { store.association_counts(&reader, assoc, &keys).await.map(Some) } else { Ok(None) }
            };
            let (read, count) = tokio::join!(read, count);
            let (read, count) = (read.api()?, count.api()?.unwrap_or_default());
            let mut read = match read {
                Some((pages, joined)) => {
                    for ((planned, _), joined) in below.iter().zip(joined) {
                        if let Some(joined) = joined {
                            planned.give(joined);
                        }
                    }
                    pages
                }
                None => HashMap::new(),
            };
            let mut pages = Pages::new();
            for key in &keys {
                let page = read.remove(key).unwrap_or_else(Page::empty);
                pages.push(page.map(self.many.node), count.get(key).copied().unwrap_or(0));
            }
            let at = cx.sel.with_field(self.field);
            let sel = at.with_selection_set(&self.field.node.selection_set);
            let below = Cx { caller: cx.caller, sel: &sel };
            let Some(values) = render_connections(below, &self.conn, &pages).await? else { return Ok(None) };
            let by_key = keys.into_iter().zip(values).collect();
            Ok(Some(hand_out(by_key, &parents.iter().map(|p| Some(p.key())).collect::<Vec<_>>())))
        }
        .boxed()
    }
}

/// A reference field (`FamilyMember.person`): the referenced records of the whole level in
/// one statement. `key` is `None` where the field is null.
pub struct One<P, E: Readable + 'static, N> {
    reference: &'static Reference<E>,
    /// How a page of the objects `P` reads the references with its own rows.
    via: Option<&'static dyn Join>,
    key: fn(&P) -> Option<Uuid>,
    node: fn(E::Record) -> N,
}

impl<P, E: Readable, N> std::fmt::Debug for One<P, E, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("One").field("reference", &self.reference.name).finish_non_exhaustive()
    }
}

pub const fn one<P, E: Readable, N>(
    reference: &'static Reference<E>,
    key: fn(&P) -> Option<Uuid>,
    node: fn(E::Record) -> N,
) -> One<P, E, N> {
    One { reference, via: None, key, node }
}

/// A reference field whose id is `via.column` of the objects' rows: where a page reads
/// those objects, it reads their references in the same statement (`Via`). `key` gives
/// the same id from the object.
pub const fn one_via<P, C: EntityTrait, E: Readable, N>(
    via: &'static Via<C, E>,
    key: fn(&P) -> Option<Uuid>,
    node: fn(E::Record) -> N,
) -> One<P, E, N> {
    One { reference: via.reference, via: Some(via), key, node }
}

struct OnePlan<'q, P: 'static, E: Readable + 'static, N: 'static> {
    one: &'static One<P, E, N>,
    field: &'q Positioned<Field>,
    sels: Vec<Sel<'q, N>>,
    /// The records the parents' page read ([`Planned::give`]).
    joined: Mutex<Option<Joined>>,
}

impl<P, E, N> Nest<P> for One<P, E, N>
where
    P: Send + Sync + 'static,
    E: Readable,
    N: Level,
{
    fn plan<'q>(
        &'static self,
        sel: &'q ContextSelectionSet<'q>,
        field: &'q Positioned<Field>,
    ) -> Option<Box<dyn Planned<P> + 'q>> {
        let sels = plan_object::<N>(sel, &field.node.selection_set.node)?;
        Some(Box::new(OnePlan { one: self, field, sels, joined: Mutex::new(None) }))
    }
}

impl<P, E, N> Planned<P> for OnePlan<'_, P, E, N>
where
    P: Send + Sync + 'static,
    E: Readable,
    N: Level,
{
    fn render<'a>(&'a self, cx: Cx<'a>, parents: &'a [P]) -> BoxFuture<'a, ApiResult<Option<Vec<Value>>>> {
        async move {
            let keys: Vec<Option<Uuid>> = parents.iter().map(self.one.key).collect();
            let ids = unique(keys.iter().flatten().copied());
            let joined = self.joined.lock().ok().and_then(|mut joined| joined.take());
            let mut found = match joined {
                Some(joined) => joined
                    .into_iter()
                    .filter_map(|(id, record)| record.downcast::<E::Record>().ok().map(|record| (id, *record)))
                    .collect(),
                None => cx.caller.store.references(&cx.caller.reader(), self.one.reference, &ids).await.api()?,
            };
            // A reference the caller may not see is async-graphql's to answer: NOT_FOUND,
            // and the nulls it leaves.
            let Some(objects) = ids.iter().map(|id| found.remove(id).map(self.one.node)).collect::<Option<Vec<N>>>()
            else {
                return Ok(None);
            };
            let at = cx.sel.with_field(self.field);
            let sel = at.with_selection_set(&self.field.node.selection_set);
            let below = Cx { caller: cx.caller, sel: &sel };
            let Some(values) = render_objects(below, &objects, &self.sels).await? else { return Ok(None) };
            Ok(Some(hand_out(ids.into_iter().zip(values).collect(), &keys)))
        }
        .boxed()
    }

    fn join(&self) -> Option<&'static dyn Join> {
        self.one.via
    }

    fn give(&self, joined: Joined) {
        if let Ok(mut slot) = self.joined.lock() {
            *slot = Some(joined);
        }
    }
}

/// Resolves a root connection field (`families`) whose page and count the resolver reads:
/// rendered here when the selection allows, else the connection async-graphql resolves.
/// `fetch(req, true)` reads the page and its count in one statement.
pub(crate) async fn connection<M, N>(
    ctx: &Context<'_>,
    args: PageArgs,
    fetch: impl AsyncFnOnce(PageRequest, bool) -> Result<(Page<M>, Option<u64>), StoreError>,
    count: impl AsyncFnOnce() -> Result<u64, StoreError>,
    node: impl Fn(M) -> N,
) -> ApiResult<Rendered<Conn<N>>>
where
    N: Level + Keyed,
{
    let sel = ctx.with_selection_set(&ctx.item.node.selection_set);
    let Some(plan) = plan_connection::<N>(&sel, ctx.item) else {
        let fetch = async |req| fetch(req, false).await.map(|(page, _)| page.map(&node));
        return Ok(Rendered::object(ctx, connection::resolve(ctx, args, fetch, count, Keyed::cursor, |n| n).await?));
    };
    let (after, before, first, last) = args;
    let req = connection::page_request(after, before, first, last)?;
    let (page, total) = match (plan.page, plan.total) {
        (true, counted) => {
            let (page, total) = fetch(req, counted).await.api()?;
            (page.map(node), total.unwrap_or(0))
        }
        (false, true) => (Page::empty(), count().await.api()?),
        (false, false) => (Page::empty(), 0),
    };
    let mut pages = Pages::new();
    pages.push(page, total);
    let cx = Cx { caller: caller(ctx)?, sel: &sel };
    if let Some(mut values) = render_connections(cx, &plan, &pages).await?
        && let Some(value) = values.pop()
    {
        return Ok(Rendered::value(ctx, value));
    }
    let Pages { items, pages: ranges, .. } = pages;
    let (has_previous, has_next) = ranges.first().map_or((false, false), |(_, p, n)| (*p, *n));
    let conn = connection::build(Page { items, has_previous, has_next }, total, Keyed::cursor, |n| n);
    Ok(Rendered::object(ctx, conn))
}

/// Resolves a root field answering one object (`family(id)`): rendered here when the
/// selection allows, else the object async-graphql resolves.
pub(crate) async fn object<T: Level>(ctx: &Context<'_>, object: T) -> ApiResult<Rendered<T>> {
    let sel = ctx.with_selection_set(&ctx.item.node.selection_set);
    let Some(plan) = plan_object::<T>(&sel, &ctx.item.node.selection_set.node) else {
        return Ok(Rendered::object(ctx, object));
    };
    let cx = Cx { caller: caller(ctx)?, sel: &sel };
    match render_objects(cx, std::slice::from_ref(&object), &plan).await? {
        Some(mut values) if values.len() == 1 => Ok(Rendered::value(ctx, values.remove(0))),
        _ => Ok(Rendered::object(ctx, object)),
    }
}

/// Declares how this module renders an object type: its plain fields and its nested
/// fields (`many` connections, `one` references). The object wraps a record with an `id`,
/// or names its key with `key(object) => expression`.
macro_rules! level {
    ($ty:ident, plain: [$($plain:literal),* $(,)?], nested: {$($field:literal => $nest:expr),* $(,)?}) => {
        $crate::level::level!($ty, key(object) => object.0.id, plain: [$($plain),*], nested: {$($field => $nest),*});
    };
    ($ty:ident, key($object:ident) => $key:expr, plain: [$($plain:literal),* $(,)?], nested: {$($field:literal => $nest:expr),* $(,)?}) => {
        impl $crate::level::Level for $ty {
            const PLAIN: &'static [&'static str] = &[$($plain),*];

            fn nested(name: &str) -> Option<&'static dyn $crate::level::Nest<Self>> {
                $(
                    if name == $field {
                        static NEST: &dyn $crate::level::Nest<$ty> = &$nest;
                        return Some(NEST);
                    }
                )*
                let _ = name;
                None
            }
        }

        impl $crate::level::Keyed for $ty {
            fn key(&self) -> uuid::Uuid {
                let $object = self;
                $key.into()
            }

            fn cursor(&self) -> String {
                let $object = self;
                $key.to_string()
            }
        }
    };
}
pub(crate) use level;
