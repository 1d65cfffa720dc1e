//! Associations: how the records of one kind hang under the records of another, declared
//! once each and read in batches, one SQL statement for all the parents of a level.
//!
//! An [`Association`] names the child table's key to its parent, the sharing condition
//! from [`scope`](crate::scope) that decides what the caller may see, the connection's
//! order and the record type its reads are audited under. From that one declaration come
//! both a page per parent and a count per parent, so a page and its `totalCount` never
//! drift apart:
//!
//! ```sql
//! SELECT kb_page.* FROM (VALUES ($1), ($2), …) AS kb_parents
//!   JOIN LATERAL (
//!     SELECT t.parent AS kb_key, t.id AS kb_id, t.*
//!       FROM t WHERE t.parent = kb_parents.column1 AND <scope> AND <cursor>
//!      ORDER BY t.sort, t.id LIMIT n + 1
//!   ) AS kb_page ON TRUE
//! ```
//!
//! The scope stays inside the statement: nothing is fetched and then filtered. Each
//! parent's rows are read down the child's index and no further (a `LATERAL` subquery on
//! PostgreSQL, a correlated one on SQLite; see `pages_statement`). A [`Reference`] is the other
//! direction, a record by its id (a placement's child, a family's municipality), read
//! for many ids at once. Where a page's rows name the referenced record in a column (a
//! [`Via`]: a member's person, a placement's child), the page's statement can read it
//! too, a `LEFT JOIN` under the reference's scope inside each parent's subquery
//! ([`Store::association_pages_joined`]): one statement for both levels.

use std::any::Any;
use std::collections::HashMap;

pub use sea_orm::EntityTrait;

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, JoinType, Query, SelectStatement};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, Iterable, QueryResult};
use uuid::Uuid;

use crate::Store;
use crate::entities::FromRow;
use crate::error::StoreError;
use crate::page::{Order, Page, PageRequest};
use crate::records::Readable;
use crate::scope::Reader;

/// How many parent ids one statement names at most. A level of a request is bounded by
/// the complexity limit long before this, so one level is one statement in practice.
const MAX_KEYS_PER_STATEMENT: usize = 10_000;

/// Records of `E` under a parent record, as a connection field shows them.
#[derive(Debug)]
pub struct Association<E: EntityTrait> {
    /// The field, as `Parent.field`, for logs and errors.
    pub name: &'static str,
    /// The type the caller's reads of these records are audited under; `None` for
    /// records that are no one's personal data.
    pub record_type: Option<&'static str>,
    /// The child's column holding the parent's id.
    pub parent: E::Column,
    /// Whether the access log may find these records' reads by their parent's id
    /// (`scope::Shown::indexed_as`): only where `trail::Related` derives a record of this
    /// kind from its parent alone, so that a person's related records hold the parent
    /// whenever they hold the record. A visit is related exactly when its placement is;
    /// a placement is not (it is also related to its child, who need not be a member of
    /// its family), nor is a network map entry (also its helper's).
    pub indexed_by_parent: bool,
    /// What the caller may see of `E` (the rules of `scope.rs`).
    pub scope: fn(&Reader<'_>) -> Condition,
    /// The connection's order.
    pub order: Order<E::Column>,
}

/// A record of `E` by its id, within what the caller may see.
#[derive(Debug)]
pub struct Reference<E: EntityTrait> {
    pub name: &'static str,
    pub record_type: Option<&'static str>,
    pub id: E::Column,
    /// What the caller may see; `None` for records that are public within the service
    /// (organisations).
    pub scope: Option<fn(&Reader<'_>) -> Condition>,
    /// Whether this process may answer from the organisations it remembers while it hears
    /// of every change to the registry (`organizations::TokenOrganizations`): for the
    /// organisations only, which are the same for every caller.
    pub remembered: bool,
}

/// A [`Reference`] named by a column of another table's rows (a member's person, a
/// placement's child), which a page of those rows can read in its own statement: a
/// `LEFT JOIN` of the referenced table on that column, under the reference's scope.
///
/// PostGraphile reads a to-one relation inside its parent's statement the same way. A
/// separate statement per such field and level, as a [`Reference`] alone is read, cost
/// one family's page, (a), 12-23 % of its throughput (`bench/`: the same requests without
/// the member's `person`, interleaved, 840-873 against 672-777 rps at 8 connections).
pub struct Via<C: EntityTrait + 'static, E: EntityTrait + 'static> {
    /// The column of the naming rows that holds the referenced record's id.
    pub column: C::Column,
    pub reference: &'static Reference<E>,
}

impl<C: EntityTrait, E: EntityTrait> std::fmt::Debug for Via<C, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Via").field("reference", &self.reference.name).finish_non_exhaustive()
    }
}

/// A record found by a [`Join`], as its record type (`Readable::Record`), boxed so that
/// one page can carry the references of several types.
pub type JoinedRecord = Box<dyn Any + Send + Sync>;

/// The records a [`Join`] found with a page, by id: those of the rows shown only.
pub type Joined = HashMap<Uuid, JoinedRecord>;

/// A [`Via`] with its types erased, as a page's statement takes it
/// ([`Store::association_pages_joined`]).
pub trait Join: Send + Sync + std::fmt::Debug {
    /// The table whose rows name the record, and the record's own table.
    fn tables(&self) -> (&'static str, &'static str);
    /// Whether the record's model is read by column position (`FromRow`), which a row
    /// holding two tables' columns needs (of the page's model too).
    fn positional(&self) -> bool;
    /// Joins the record's table to `select`, whose rows of the naming table are `rows`,
    /// and selects its key and columns.
    fn attach(&self, r: &Reader<'_>, select: &mut SelectStatement, rows: Alias);
    /// How many columns [`Join::attach`] selects.
    fn width(&self) -> usize;
    /// The record in `row` from column `at`; `None` where the row names none the caller
    /// may see.
    fn read(&self, row: &QueryResult, at: usize) -> Result<Option<(Uuid, JoinedRecord)>, StoreError>;
    /// The type the record's reads are audited under.
    fn record_type(&self) -> Option<&'static str>;
}

impl<C: EntityTrait, E: Readable> Join for Via<C, E> {
    fn tables(&self) -> (&'static str, &'static str) {
        (C::default().table_name(), E::default().table_name())
    }

    fn positional(&self) -> bool {
        <E::Model as FromRow>::POSITIONAL
    }

    fn attach(&self, r: &Reader<'_>, select: &mut SelectStatement, rows: Alias) {
        let mut on = Condition::all().add(col(self.reference.id).equals((rows, self.column)));
        if let Some(scope) = self.reference.scope {
            on = on.add(scope(r));
        }
        select
            .join(JoinType::LeftJoin, self.reference.id.entity_name(), on)
            .expr(col(self.reference.id))
            .exprs(columns::<E>());
    }

    fn width(&self) -> usize {
        REFERENCE_KEYS + E::Column::iter().count()
    }

    fn read(&self, row: &QueryResult, at: usize) -> Result<Option<(Uuid, JoinedRecord)>, StoreError> {
        let Some(id) = key::<Option<Uuid>, _>(row, at)? else { return Ok(None) };
        let record = E::read(E::Model::from_row(row, at + REFERENCE_KEYS)?)?;
        Ok(Some((id, Box::new(record))))
    }

    fn record_type(&self) -> Option<&'static str> {
        self.reference.record_type
    }
}

/// How a record is found by the case id its organisation gave it: the owning
/// organisation's column and the case id's, unique together.
#[derive(Debug)]
pub struct CaseId<E: EntityTrait + 'static> {
    pub reference: &'static Reference<E>,
    pub organization: E::Column,
    pub external_id: E::Column,
}

fn col<C: ColumnTrait>(c: C) -> Expr {
    Expr::col((c.entity_name(), c))
}

/// `keys` followed by as many NULLs as bring their number to the next of a few fixed
/// sizes: the ids a level's statement names (its parents, or the records it looks up).
///
/// The ids are written into the statement, one parameter each (`VALUES ($1), ($2), …`,
/// `IN ($1, …)`), so its text changes with their number, and each text is prepared and
/// planned anew on each connection until PostgreSQL settles on a generic plan for it
/// (after five executions), in a statement cache of 100 per connection. A page of 50
/// families names 40 to 70 placements and as many plans: under the benchmark's (b) at 8
/// connections, in the first seconds after a start, 325 of 349 goal statements and 342 of
/// 353 visit statements were planned (about 0.7 ms of PostgreSQL's time per request in
/// planning alone), against 54 of 353 for the statements of a fixed text; once warm, 39
/// and 45 of 620, from 13 and 16 texts. Padded, (b) sends 2 and 3 texts, planned 12 and
/// 15 times in 573 requests (throughput the same within the machine's noise). Rounded up
/// to four sizes per doubling (up to 8 exactly, then 10-16 by 2, 20-32 by 4, 40-64 by 8,
/// …), at most a quarter more keys are sent. A NULL key matches no row: `= NULL` is never
/// true, and PostgreSQL's index scan gives up on it without reading the index.
///
/// Binding the ids as one `uuid[]` instead gives one text whatever their number, but
/// PostgreSQL then planned every execution (ARCHITECTURE.md, known limits).
fn padded(keys: &[Uuid]) -> impl Iterator<Item = Option<Uuid>> + '_ {
    let n = keys.len();
    let size = if n <= 4 {
        n
    } else {
        let step = (n.next_power_of_two() / 8).max(1);
        n.div_ceil(step) * step
    };
    keys.iter().copied().map(Some).chain(std::iter::repeat_n(None, size - n))
}

/// A key column of a row, by name or position.
fn key<T: sea_orm::TryGetable, I: sea_orm::ColIdx>(row: &QueryResult, at: I) -> Result<T, StoreError> {
    T::try_get_by(row, at).map_err(|e| StoreError::from(sea_orm::DbErr::from(e)))
}

/// The key columns ahead of the model's in a page's rows: `kb_key`, `kb_id`.
const PAGE_KEYS: usize = 2;
/// The key column ahead of the model's in a reference's rows: `kb_key`.
const REFERENCE_KEYS: usize = 1;

/// `E`'s columns in its model's field order, as [`FromRow`] reads them.
fn columns<E: EntityTrait>() -> impl Iterator<Item = Expr> {
    E::Column::iter().map(col)
}

impl Store {
    /// One page of `assoc` under each of `parents`, in one statement. A parent without
    /// visible children has an empty page. Every record returned is logged as shown.
    pub async fn association_pages<E>(
        &self,
        r: &Reader<'_>,
        assoc: &Association<E>,
        parents: &[Uuid],
        req: PageRequest,
    ) -> Result<HashMap<Uuid, Page<E::Record>>, StoreError>
    where
        E: Readable,
    {
        Ok(self.association_pages_joined(r, assoc, parents, req, &[]).await?.0)
    }

    /// [`Store::association_pages`], with the records each of `joins` names from the rows
    /// shown read in the same statement: for each join, the records found (every one
    /// logged as shown), or `None` where it could not join this page (its rows are not of
    /// the join's table, it would join the page's own table or one joined already, or a
    /// model is read by name) and the records are to be read as a [`Reference`] alone.
    pub async fn association_pages_joined<E>(
        &self,
        r: &Reader<'_>,
        assoc: &Association<E>,
        parents: &[Uuid],
        req: PageRequest,
        joins: &[&dyn Join],
    ) -> Result<(HashMap<Uuid, Page<E::Record>>, Vec<Option<Joined>>), StoreError>
    where
        E: Readable,
    {
        let table = E::default().table_name();
        let mut taken = vec![table];
        let mut at = PAGE_KEYS + E::Column::iter().count();
        // Each join that applies, and the column its record starts at.
        let mut active: Vec<(usize, &dyn Join, usize)> = Vec::new();
        for (i, join) in joins.iter().enumerate() {
            let (from, to) = join.tables();
            if from == table && !taken.contains(&to) && join.positional() && <E::Model as FromRow>::POSITIONAL {
                taken.push(to);
                active.push((i, *join, at));
                at += join.width();
            }
        }
        let attached: Vec<&dyn Join> = active.iter().map(|(_, join, _)| *join).collect();
        type Row<R> = (Uuid, R, Vec<Option<(Uuid, JoinedRecord)>>);
        let mut rows: HashMap<Uuid, Vec<Row<E::Record>>> = HashMap::with_capacity(parents.len());
        for chunk in parents.chunks(MAX_KEYS_PER_STATEMENT) {
            let statement = self.backend().build(&pages_statement(self.backend(), r, assoc, chunk, &req, &attached));
            for row in self.conn().query_all_raw(statement).await? {
                let parent: Uuid = key(&row, 0)?;
                let record = E::read(E::Model::from_row(&row, PAGE_KEYS)?)?;
                let joined = active.iter().map(|(_, join, at)| join.read(&row, *at)).collect::<Result<_, _>>()?;
                rows.entry(parent).or_default().push((key(&row, 1)?, record, joined));
            }
        }
        let mut found: Vec<Joined> = active.iter().map(|_| Joined::new()).collect();
        let mut pages = HashMap::with_capacity(parents.len());
        for parent in parents {
            // The row beyond the page only tells that there is a next one: it is not shown,
            // so it is not logged, nor is what it names.
            let page = req.cut(rows.remove(parent).unwrap_or_default());
            if let Some(record_type) = assoc.record_type {
                if assoc.indexed_by_parent {
                    page.items.iter().for_each(|(id, _, _)| r.saw_under(record_type, *id, *parent));
                } else {
                    page.items.iter().for_each(|(id, _, _)| r.saw(record_type, *id));
                }
            }
            let page = page.map(|(_, record, joined)| {
                for ((join, into), named) in attached.iter().zip(found.iter_mut()).zip(joined) {
                    if let Some((id, record)) = named {
                        if let Some(record_type) = join.record_type() {
                            r.saw(record_type, id);
                        }
                        into.insert(id, record);
                    }
                }
                record
            });
            pages.insert(*parent, page);
        }
        let mut joined: Vec<Option<Joined>> = joins.iter().map(|_| None).collect();
        for ((i, _, _), found) in active.iter().zip(found) {
            joined[*i] = Some(found);
        }
        Ok((pages, joined))
    }

    /// How many records of `assoc` the caller may see under each of `parents`, in one
    /// statement. A count shows no record and logs none.
    pub async fn association_counts<E>(
        &self,
        r: &Reader<'_>,
        assoc: &Association<E>,
        parents: &[Uuid],
    ) -> Result<HashMap<Uuid, u64>, StoreError>
    where
        E: EntityTrait,
    {
        let mut counts: HashMap<Uuid, u64> = parents.iter().map(|p| (*p, 0)).collect();
        for chunk in parents.chunks(MAX_KEYS_PER_STATEMENT) {
            let select = Query::select()
                .expr_as(col(assoc.parent), Alias::new("kb_key"))
                .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("kb_count"))
                .from(assoc.parent.entity_name())
                .and_where(col(assoc.parent).is_in(padded(chunk)))
                .cond_where((assoc.scope)(r))
                .group_by_col((assoc.parent.entity_name(), assoc.parent))
                .take();
            for row in self.conn().query_all_raw(self.backend().build(&select)).await? {
                let n: i64 = key(&row, "kb_count")?;
                counts.insert(key(&row, "kb_key")?, u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(counts)
    }

    /// The caller's organisation's record with this case id (`externalId`), if the caller
    /// may see it: one indexed statement, the record logged as shown.
    pub async fn by_case_id<E>(
        &self,
        r: &Reader<'_>,
        case: &CaseId<E>,
        external_id: &str,
    ) -> Result<E::Record, StoreError>
    where
        E: Readable,
    {
        let reference = case.reference;
        let mut select = Query::select()
            .expr_as(col(reference.id), Alias::new("kb_key"))
            .exprs(columns::<E>())
            .from(reference.id.entity_name())
            .and_where(col(case.organization).eq(r.actor.organization_id.as_uuid()))
            .and_where(col(case.external_id).eq(external_id))
            .take();
        if let Some(scope) = reference.scope {
            select.cond_where(scope(r));
        }
        let row = self
            .conn()
            .query_one_raw(self.backend().build(&select))
            .await?
            .ok_or(StoreError::not_found(reference.name))?;
        if let Some(record_type) = reference.record_type {
            r.saw(record_type, key(&row, 0)?);
        }
        E::read(E::Model::from_row(&row, REFERENCE_KEYS)?)
    }

    /// The records of `reference` with these ids that the caller may see, in one
    /// statement. Every record returned is logged as shown.
    pub async fn references<E>(
        &self,
        r: &Reader<'_>,
        reference: &Reference<E>,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, E::Record>, StoreError>
    where
        E: Readable,
    {
        let (mut found, generation) = if reference.remembered {
            self.remembered_organizations::<E::Record>(ids)
        } else {
            (HashMap::with_capacity(ids.len()), None)
        };
        if let Some(record_type) = reference.record_type {
            found.keys().for_each(|id| r.saw(record_type, *id));
        }
        let remembered = found.len();
        let missing: Vec<Uuid>;
        let ids = if remembered == 0 {
            ids
        } else {
            missing = ids.iter().filter(|id| !found.contains_key(id)).copied().collect();
            &missing
        };
        for chunk in ids.chunks(MAX_KEYS_PER_STATEMENT) {
            let mut select = Query::select()
                .expr_as(col(reference.id), Alias::new("kb_key"))
                .exprs(columns::<E>())
                .from(reference.id.entity_name())
                .and_where(col(reference.id).is_in(padded(chunk)))
                .take();
            if let Some(scope) = reference.scope {
                select.cond_where(scope(r));
            }
            for row in self.conn().query_all_raw(self.backend().build(&select)).await? {
                let id: Uuid = key(&row, 0)?;
                if let Some(record_type) = reference.record_type {
                    r.saw(record_type, id);
                }
                found.insert(id, E::read(E::Model::from_row(&row, REFERENCE_KEYS)?)?);
            }
        }
        if reference.remembered && found.len() > remembered {
            self.remember_organizations(ids.iter().filter_map(|id| found.get(id)), generation);
        }
        Ok(found)
    }
}

/// The statement behind [`Store::association_pages`]: each parent's first n + 1 rows, read
/// down the child's index and no further, each parent's in the direction of the request.
///
/// On PostgreSQL a `LATERAL` subquery per parent, and no `ORDER BY` around them: a
/// subquery that names its parent's key is run once per parent, in a nested loop, and
/// gives its rows in its own order, which is what `association_pages` needs (the rows of
/// one parent in the page's order; parents may come in any order). Its `LIMIT`, always
/// there, keeps the planner from pulling it up into a join of its own choosing. Numbering the rows
/// with a window and sorting them all by parent and number, as it did before, cost 45 %
/// of the statement: for 68 placements' six latest visits (a page of 50 families),
/// 1.59-1.95 ms of execution against 0.90-1.23 without either (`EXPLAIN ANALYZE`, timing
/// off, best of six), both of them copying every row's columns into a sort or a window's
/// store. `tests/e2e/batching.rs` reads many parents' pages both ways and checks the order.
///
/// SQLite has no `LATERAL`; there the rows
/// are found by a correlated subquery per parent that returns their `rowid`s, and sorted
/// once:
///
/// ```sql
/// SELECT kb_row.parent AS kb_key, kb_row.id AS kb_id, kb_row.*
///   FROM (VALUES (?), (?), …) AS kb_parents
///   JOIN t AS kb_row ON kb_row.rowid IN (
///        SELECT t.rowid FROM t WHERE t.parent = kb_parents.column1 AND <scope> AND <cursor>
///         ORDER BY t.sort, t.id LIMIT n + 1)
///  ORDER BY kb_row.parent, kb_row.sort, kb_row.id
/// ```
///
/// For one parent (a family's page, say) it is the subquery alone: `SELECT t.* FROM t
/// WHERE t.parent = ? AND … ORDER BY … LIMIT n + 1`.
///
/// A window function over all the parents' rows, as SQLite read them before, read every
/// visit of every placement of a page of 50 families to keep five of each (14.5 ms of
/// the page's 23 ms of statements). Measured on that statement with SQLite 3.54 for 1 to
/// 57 placements: 68-906 µs against 156-6,595.
fn pages_statement<E: EntityTrait>(
    backend: DbBackend,
    r: &Reader<'_>,
    assoc: &Association<E>,
    parents: &[Uuid],
    req: &PageRequest,
    joins: &[&dyn Join],
) -> SelectStatement {
    let table = assoc.parent.entity_name();
    let direction = if req.backwards() { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
    let limit = req.fetch_size();
    // One parent on SQLite: its rows, no more.
    let single = match parents {
        [parent] if backend == DbBackend::Sqlite => Some(*parent),
        _ => None,
    };
    let parent = match single {
        Some(parent) => col(assoc.parent).eq(parent),
        None => col(assoc.parent).equals((Alias::new("kb_parents"), Alias::new("column1"))),
    };
    // The rows of one parent, within the scope and after the cursor, in the page's order.
    let mut rows = Query::select().from(table.clone()).cond_where((assoc.scope)(r)).and_where(parent).take();
    for condition in assoc.order.keyset(req) {
        rows.and_where(condition);
    }
    for c in assoc.order.columns() {
        rows.order_by((c.entity_name(), c), direction.clone());
    }
    rows.limit(limit);
    if backend == DbBackend::Postgres {
        // The keys first, then the model's columns in its field order (`FromRow`).
        let mut rows = rows
            .expr_as(col(assoc.parent), Alias::new("kb_key"))
            .expr_as(col(assoc.order.id), Alias::new("kb_id"))
            .exprs(columns::<E>())
            .take();
        // Joined inside the subquery, under its `ORDER BY`: joined outside it, the planner
        // may choose a join that gives a parent's rows in another order.
        let name = E::default().table_name();
        joins.iter().for_each(|join| join.attach(r, &mut rows, Alias::new(name)));
        return Query::select()
            .expr(Expr::col((Alias::new("kb_page"), Asterisk)))
            .from_values(padded(parents), Alias::new("kb_parents"))
            .join_lateral(JoinType::InnerJoin, rows, Alias::new("kb_page"), Expr::cust("TRUE"))
            .take();
    }
    if single.is_some() {
        let mut rows = rows
            .expr_as(col(assoc.parent), Alias::new("kb_key"))
            .expr_as(col(assoc.order.id), Alias::new("kb_id"))
            .exprs(columns::<E>())
            .take();
        let name = E::default().table_name();
        joins.iter().for_each(|join| join.attach(r, &mut rows, Alias::new(name)));
        return rows;
    }
    let row = Alias::new("kb_row");
    let at = |c: E::Column| Expr::col((row.clone(), c));
    let rows = rows.expr(Expr::col((table.clone(), Alias::new("rowid")))).take();
    // Each parent's rows in the page's order (`association_pages` takes the rows in the
    // order they come), so SQLite sorts once, without a window.
    let mut page = Query::select()
        .expr_as(at(assoc.parent), Alias::new("kb_key"))
        .expr_as(at(assoc.order.id), Alias::new("kb_id"))
        .exprs(E::Column::iter().map(at))
        .from_values(padded(parents), Alias::new("kb_parents"))
        .join_as(
            JoinType::InnerJoin,
            table,
            row.clone(),
            Expr::col((row.clone(), Alias::new("rowid"))).in_subquery(rows),
        )
        .order_by((row.clone(), assoc.parent), sea_orm::Order::Asc)
        .take();
    for c in assoc.order.columns() {
        page.order_by((row.clone(), c), direction.clone());
    }
    joins.iter().for_each(|join| join.attach(r, &mut page, row.clone()));
    page
}

/// The catalogue: every association and reference a nested field reads. A new
/// connection field is one entry here and one resolver line.
pub mod catalogue {
    use super::{Association, CaseId, Reference, Via};
    use crate::entities::*;
    use crate::page::Order;
    use crate::scope::{self, owned_by};
    use crate::{parental, sharing};

    macro_rules! association {
        ($name:ident, $field:literal, $entity:ident, $parent:ident, $record:expr, $scope:expr, $order:expr) => {
            association!($name, $field, $entity, $parent, $record, $scope, $order, indexed_by_parent: false);
        };
        ($name:ident, $field:literal, $entity:ident, $parent:ident, $record:expr, $scope:expr, $order:expr,
         indexed_by_parent: $indexed:expr) => {
            pub static $name: Association<$entity::Entity> = Association {
                name: $field,
                record_type: $record,
                parent: $entity::Column::$parent,
                indexed_by_parent: $indexed,
                scope: $scope,
                order: $order,
            };
        };
    }

    macro_rules! reference {
        ($name:ident, $what:literal, $entity:ident, $record:expr, $scope:expr) => {
            pub static $name: Reference<$entity::Entity> = Reference {
                name: $what,
                record_type: $record,
                id: $entity::Column::Id,
                scope: $scope,
                remembered: false,
            };
        };
    }

    use contact_visit::Column as Visit;
    use plan_goal::Column as GoalCol;
    use plan_review::Column as Review;
    use support_offer::Column as Offer;

    // Families.
    association!(
        FAMILY_MEMBERS,
        "Family.members",
        family_member,
        FamilyId,
        Some("FamilyMember"),
        scope::members,
        Order::by_id(family_member::Column::Id),
        indexed_by_parent: true
    );
    association!(
        FAMILY_NETWORK_MAP,
        "Family.networkMap",
        network_map_entry,
        FamilyId,
        Some("NetworkMapEntry"),
        scope::network_map,
        Order::by_id(network_map_entry::Column::Id)
    );
    association!(
        FAMILY_PLACEMENTS,
        "Family.placements",
        placement,
        FamilyId,
        Some("Placement"),
        scope::placements,
        Order::by_id(placement::Column::Id)
    );
    association!(
        FAMILY_PLANS,
        "Family.parentActionPlans",
        parent_action_plan,
        FamilyId,
        Some("ParentActionPlan"),
        scope::plans,
        Order::by_id(parent_action_plan::Column::Id),
        indexed_by_parent: true
    );
    association!(
        FAMILY_REFERRALS,
        "Family.referrals",
        referral,
        FamilyId,
        Some("Referral"),
        sharing::referrals_visible,
        Order::by_id(referral::Column::Id),
        indexed_by_parent: true
    );

    // Persons: what the caller's organisation recorded about them.
    association!(
        PERSON_CONSENTS,
        "Person.consents",
        consent,
        PersonId,
        Some("Consent"),
        |r| owned_by(consent::Column::OrganizationId, r.actor),
        Order::by_id(consent::Column::Id),
        indexed_by_parent: true
    );
    association!(
        PERSON_NOTIFICATIONS,
        "Person.keyPersonNotifications",
        key_person_notification,
        ClientId,
        Some("KeyPersonNotification"),
        |r| scope::parental_support(
            r,
            key_person_notification::Column::OrganizationId,
            key_person_notification::Column::ClientId
        ),
        Order::by_id(key_person_notification::Column::Id)
    );
    association!(
        PERSON_NOTES,
        "Person.parentalSupportNotes",
        parental_support_note,
        ClientId,
        Some("ParentalSupportNote"),
        |r| scope::parental_support(
            r,
            parental_support_note::Column::OrganizationId,
            parental_support_note::Column::ClientId
        ),
        Order::by_id(parental_support_note::Column::Id),
        indexed_by_parent: true
    );
    association!(
        PERSON_KOPP,
        "Person.koppInterviews",
        kopp_interview,
        ClientId,
        Some("KoppInterview"),
        |r| scope::parental_support(r, kopp_interview::Column::OrganizationId, kopp_interview::Column::ClientId),
        Order::by_id(kopp_interview::Column::Id)
    );
    association!(
        PERSON_OTHER_PARENT,
        "Person.otherParentSupport",
        other_parent_support,
        ClientId,
        Some("OtherParentSupport"),
        |r| scope::parental_support(
            r,
            other_parent_support::Column::OrganizationId,
            other_parent_support::Column::ClientId
        ),
        Order::by_id(other_parent_support::Column::Id)
    );

    // Placements: visits in date order (the latest are `last: n`), offers as they were made.
    association!(
        PLACEMENT_VISITS,
        "Placement.contactVisits",
        contact_visit,
        PlacementId,
        Some("ContactVisit"),
        scope::visits,
        Order::by(Visit::PlannedStart, Visit::Id),
        indexed_by_parent: true
    );
    // A placement's plans: for a placement provider, only with a parent's consent to share
    // the goals with it (scope::plans), which is what makes them reachable from its
    // placement at all.
    association!(
        PLACEMENT_PLANS,
        "Placement.parentActionPlans",
        parent_action_plan,
        PlacementId,
        Some("ParentActionPlan"),
        scope::plans,
        Order::by_id(parent_action_plan::Column::Id)
    );
    association!(
        PLACEMENT_OFFERS,
        "Placement.supportOffers",
        support_offer,
        PlacementId,
        Some("SupportOffer"),
        scope::offers,
        Order::by(Offer::OfferedOn, Offer::Id),
        indexed_by_parent: true
    );

    // Plans: goals in the order the parents wrote them, reviews as they were held.
    association!(
        PLAN_GOALS,
        "ParentActionPlan.goals",
        plan_goal,
        PlanId,
        Some("Goal"),
        scope::goals,
        Order::by(GoalCol::Position, GoalCol::Id),
        indexed_by_parent: true
    );
    association!(
        PLAN_REVIEWS,
        "ParentActionPlan.reviews",
        plan_review,
        PlanId,
        Some("PlanReview"),
        scope::reviews,
        Order::by(Review::HeldOn, Review::Id),
        indexed_by_parent: true
    );
    association!(
        GOAL_SUB_GOALS,
        "Goal.subGoals",
        sub_goal,
        GoalId,
        Some("SubGoal"),
        parental::sub_goals_visible,
        Order::by_id(sub_goal::Column::Id),
        indexed_by_parent: true
    );

    // Family partners.
    association!(
        PARTNER_ASSIGNMENTS,
        "FamilyPartner.assignments",
        family_partner_assignment,
        FamilyPartnerId,
        Some("FamilyPartnerAssignment"),
        scope::assignments,
        Order::by_id(family_partner_assignment::Column::Id)
    );
    association!(
        ASSIGNMENT_SERVICES,
        "FamilyPartnerAssignment.services",
        family_partner_service,
        AssignmentId,
        Some("FamilyPartnerService"),
        scope::services,
        Order::by_id(family_partner_service::Column::Id)
    );

    // References by id.
    pub static ORGANIZATION: Reference<organization::Entity> = Reference {
        name: "Organization",
        record_type: None,
        id: organization::Column::Id,
        scope: None,
        remembered: true,
    };
    reference!(PERSON, "Person", person, Some("Person"), Some(scope::persons));
    reference!(FAMILY, "Family", family, Some("Family"), Some(scope::families));
    reference!(PLACEMENT, "Placement", placement, Some("Placement"), Some(scope::placements));
    reference!(PLAN, "ParentActionPlan", parent_action_plan, Some("ParentActionPlan"), Some(scope::plans));
    reference!(GOAL, "Goal", plan_goal, Some("Goal"), Some(scope::goals));
    reference!(FAMILY_PARTNER, "FamilyPartner", family_partner, Some("FamilyPartner"), Some(scope::partners));
    reference!(
        ELIGIBILITY,
        "ServiceEligibility",
        service_eligibility,
        Some("ServiceEligibility"),
        Some(scope::eligibilities)
    );
    // References a page of the records naming them reads in the page's statement:
    // `via!(NAME, naming table, its column, referenced table, the reference)`.
    macro_rules! via {
        ($name:ident, $entity:ident, $column:ident, $target:ident, $reference:ident) => {
            pub static $name: Via<$entity::Entity, $target::Entity> =
                Via { column: $entity::Column::$column, reference: &$reference };
        };
    }

    via!(MEMBER_PERSON, family_member, PersonId, person, PERSON);
    via!(MEMBER_RESIDENCE, family_member, ResidenceMunicipalityId, organization, ORGANIZATION);
    via!(FAMILY_MUNICIPALITY, family, OrganizationId, organization, ORGANIZATION);
    via!(PLACEMENT_FAMILY, placement, FamilyId, family, FAMILY);
    via!(PLACEMENT_CHILD, placement, ChildId, person, PERSON);
    via!(PLACEMENT_MUNICIPALITY, placement, OrganizationId, organization, ORGANIZATION);
    via!(PLACEMENT_PROVIDER, placement, ProviderId, organization, ORGANIZATION);
    via!(PLAN_FAMILY, parent_action_plan, FamilyId, family, FAMILY);
    via!(PLAN_PLACEMENT, parent_action_plan, PlacementId, placement, PLACEMENT);
    via!(VISIT_PLACEMENT, contact_visit, PlacementId, placement, PLACEMENT);

    // Lookups by the case id the owning organisation gave a record.
    pub static FAMILY_CASE: CaseId<family::Entity> = CaseId {
        reference: &FAMILY,
        organization: family::Column::OrganizationId,
        external_id: family::Column::ExternalId,
    };
    pub static PLACEMENT_CASE: CaseId<placement::Entity> = CaseId {
        reference: &PLACEMENT,
        organization: placement::Column::OrganizationId,
        external_id: placement::Column::ExternalId,
    };
    pub static CONTACT_VISIT_CASE: CaseId<contact_visit::Entity> = CaseId {
        reference: &CONTACT_VISIT,
        organization: contact_visit::Column::OrganizationId,
        external_id: contact_visit::Column::ExternalId,
    };

    // The rest of the records a `node(id)` can name, each under the scope its
    // connection reads it with.
    reference!(FAMILY_MEMBER, "FamilyMember", family_member, Some("FamilyMember"), Some(scope::members));
    reference!(
        NETWORK_MAP_ENTRY,
        "NetworkMapEntry",
        network_map_entry,
        Some("NetworkMapEntry"),
        Some(scope::network_map)
    );
    reference!(CONTACT_VISIT, "ContactVisit", contact_visit, Some("ContactVisit"), Some(scope::visits));
    reference!(PLAN_REVIEW, "PlanReview", plan_review, Some("PlanReview"), Some(scope::reviews));
    reference!(SUPPORT_OFFER, "SupportOffer", support_offer, Some("SupportOffer"), Some(scope::offers));
    reference!(SUB_GOAL, "SubGoal", sub_goal, Some("SubGoal"), Some(parental::sub_goals_visible));
    reference!(
        VISIT_ARRANGEMENT,
        "VisitArrangement",
        visit_arrangement,
        Some("VisitArrangement"),
        Some(scope::arrangements)
    );
    reference!(
        ASSIGNMENT,
        "FamilyPartnerAssignment",
        family_partner_assignment,
        Some("FamilyPartnerAssignment"),
        Some(scope::assignments)
    );
    reference!(
        SERVICE,
        "FamilyPartnerService",
        family_partner_service,
        Some("FamilyPartnerService"),
        Some(scope::services)
    );
    reference!(REFERRAL, "Referral", referral, Some("Referral"), Some(sharing::referrals_visible));
    reference!(
        CONSENT,
        "Consent",
        consent,
        Some("Consent"),
        Some(|r| owned_by(consent::Column::OrganizationId, r.actor))
    );
    reference!(
        KEY_PERSON_NOTIFICATION,
        "KeyPersonNotification",
        key_person_notification,
        Some("KeyPersonNotification"),
        Some(|r| scope::parental_support(
            r,
            key_person_notification::Column::OrganizationId,
            key_person_notification::Column::ClientId
        ))
    );
    reference!(
        PARENTAL_SUPPORT_NOTE,
        "ParentalSupportNote",
        parental_support_note,
        Some("ParentalSupportNote"),
        Some(|r| scope::parental_support(
            r,
            parental_support_note::Column::OrganizationId,
            parental_support_note::Column::ClientId
        ))
    );
    reference!(
        KOPP_INTERVIEW,
        "KoppInterview",
        kopp_interview,
        Some("KoppInterview"),
        Some(|r| scope::parental_support(r, kopp_interview::Column::OrganizationId, kopp_interview::Column::ClientId))
    );
    reference!(
        OTHER_PARENT_SUPPORT,
        "OtherParentSupport",
        other_parent_support,
        Some("OtherParentSupport"),
        Some(|r| scope::parental_support(
            r,
            other_parent_support::Column::OrganizationId,
            other_parent_support::Column::ClientId
        ))
    );
    reference!(
        PILLAR_RECORD,
        "PillarRecord",
        resilience_pillar_record,
        Some("PillarRecord"),
        Some(|r| {
            scope::parental_support(
                r,
                resilience_pillar_record::Column::OrganizationId,
                resilience_pillar_record::Column::ClientId,
            )
        })
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_names_its_keys_padded_to_a_few_sizes() {
        let sizes: Vec<(usize, usize)> = (0..=130)
            .map(|n| {
                let keys: Vec<Uuid> = (0..n).map(|i| Uuid::from_u128(i as u128 + 1)).collect();
                let named: Vec<Option<Uuid>> = padded(&keys).collect();
                // The keys first, in their order, then NULLs only.
                assert_eq!(named.iter().take(n).map(|k| k.unwrap()).collect::<Vec<_>>(), keys);
                assert!(named[n..].iter().all(Option::is_none));
                (n, named.len())
            })
            .collect();
        for &(n, size) in &sizes {
            assert!(size >= n && size * 4 <= n * 5 + 12, "{n} keys named as {size}");
        }
        let exact: Vec<usize> = sizes.iter().filter(|(n, size)| n == size).map(|(n, _)| *n).collect();
        assert_eq!(&exact[..9], &[0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let distinct: std::collections::BTreeSet<usize> = sizes.iter().map(|(_, size)| *size).collect();
        assert_eq!(
            distinct.into_iter().filter(|&s| s > 32).collect::<Vec<_>>(),
            vec![40, 48, 56, 64, 80, 96, 112, 128, 160]
        );
    }
}
