//! The pager against a real SQLite database: every page of every request, compared with
//! the same page cut from the whole ordered list in memory.

use std::collections::HashMap;

use chrono::Utc;
use kinbridge_domain::access::{Actor, Role};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::OrganizationKind;

use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryOrder};
use uuid::Uuid;

use super::{Limit, Order, Page, PageRequest, fetch};
use crate::assoc::Association;
use crate::scope::{ReadLog, Reader};
use crate::{Store, StoreOptions};

mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pager_rows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub parent: Uuid,
        pub rank: i32,
        pub hidden: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::entities::FromRow for Model {}

    impl crate::records::Readable for Entity {
        type Record = Model;

        fn read(row: Model) -> Result<Model, crate::StoreError> {
            Ok(row)
        }
    }
}

const BY_RANK: Order<row::Column> = Order::by(row::Column::Rank, row::Column::Id);
const BY_ID: Order<row::Column> = Order::by_id(row::Column::Id);

fn visible(_: &Reader<'_>) -> Condition {
    Condition::all().add(row::Column::Hidden.eq(false))
}

static RANKED: Association<row::Entity> = Association {
    name: "Test.ranked",
    record_type: None,
    parent: row::Column::Parent,
    indexed_by_parent: false,
    scope: visible,
    order: BY_RANK,
};
static CREATED: Association<row::Entity> = Association {
    name: "Test.created",
    record_type: None,
    parent: row::Column::Parent,
    indexed_by_parent: false,
    scope: visible,
    order: BY_ID,
};

/// A database with two parents: the first with rows of ranks that tie, one hidden; the
/// second with none. Ids are created in an order unrelated to rank.
async fn store() -> (Store, Uuid, Uuid) {
    let store = Store::connect("sqlite::memory:", &StoreOptions { max_connections: 1, ..StoreOptions::default() })
        .await
        .expect("an in-memory database");
    store
        .conn()
        .execute_unprepared("CREATE TABLE pager_rows (id BLOB PRIMARY KEY, parent BLOB NOT NULL, rank INTEGER NOT NULL, hidden BOOLEAN NOT NULL)")
        .await
        .expect("the test table");
    let (parent, empty) = (Uuid::now_v7(), Uuid::now_v7());
    for (i, rank) in [3, 1, 2, 2, 5, 1, 4, 2].into_iter().enumerate() {
        row::Entity::insert(row::ActiveModel {
            id: Set(Uuid::now_v7()),
            parent: Set(parent),
            rank: Set(rank),
            hidden: Set(i == 4),
        })
        .exec_without_returning(store.conn())
        .await
        .expect("a row");
    }
    (store, parent, empty)
}

/// What a page must be: cut from the whole visible list, in `order`.
fn expected(all: &[row::Model], req: &PageRequest) -> (Vec<Uuid>, bool, bool) {
    let position = |id: Uuid| all.iter().position(|r| r.id == id);
    let start = req.after.and_then(position).map_or(0, |i| i + 1);
    let end = req.before.and_then(position).unwrap_or(all.len());
    let window: Vec<Uuid> = all[start..end.max(start)].iter().map(|r| r.id).collect();
    match req.limit {
        Limit::First(n) => {
            let n = n as usize;
            (window.iter().take(n).copied().collect(), req.after.is_some(), window.len() > n)
        }
        Limit::Last(n) => {
            let n = n as usize;
            let skip = window.len().saturating_sub(n);
            (window[skip..].to_vec(), window.len() > n, req.before.is_some())
        }
    }
}

fn every_request(all: &[row::Model]) -> Vec<PageRequest> {
    let cursors: Vec<Option<Uuid>> = std::iter::once(None).chain(all.iter().map(|r| Some(r.id))).collect();
    let mut requests = Vec::new();
    for limit in [
        Limit::First(0),
        Limit::First(1),
        Limit::First(3),
        Limit::First(20),
        Limit::Last(1),
        Limit::Last(3),
        Limit::Last(20),
    ] {
        for after in &cursors {
            requests.push(PageRequest { after: *after, before: None, limit });
        }
        for before in &cursors {
            requests.push(PageRequest { after: None, before: *before, limit });
        }
    }
    requests
}

async fn all_visible(store: &Store, order: Order<row::Column>) -> Vec<row::Model> {
    let mut query = row::Entity::find().filter(row::Column::Hidden.eq(false));
    for c in order.columns() {
        query = query.order_by_asc(c);
    }
    query.all(store.conn()).await.expect("the rows")
}

use sea_orm::QueryFilter;

fn ids(page: &Page<row::Model>) -> Vec<Uuid> {
    page.items.iter().map(|r| r.id).collect()
}

fn actor() -> Actor {
    Actor {
        subject: "test".into(),
        organization_id: OrganizationId::new(),
        organization_kind: OrganizationKind::Municipality,
        roles: vec![Role::Caseworker],
    }
}

#[tokio::test]
async fn every_page_of_an_ordered_connection_is_cut_from_the_whole_order_ties_broken_by_id() {
    let (store, _, _) = store().await;
    let all = all_visible(&store, BY_RANK).await;
    let ranks: Vec<i32> = all.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, [1, 1, 2, 2, 2, 3, 4], "the hidden row is not among them");
    every_page_is_cut_from(&store, &all, BY_RANK).await;
}

#[tokio::test]
async fn every_page_of_a_connection_in_creation_order_is_cut_by_id() {
    let (store, _, _) = store().await;
    let all = all_visible(&store, BY_ID).await;
    every_page_is_cut_from(&store, &all, BY_ID).await;
}

/// Fetches every page of every request in `order` and compares it with the page cut from
/// `all` in memory.
async fn every_page_is_cut_from(store: &Store, all: &[row::Model], order: Order<row::Column>) {
    for req in every_request(all) {
        let query = row::Entity::find().filter(row::Column::Hidden.eq(false));
        let page = fetch(store.conn(), query, order, req).await.expect("a page");
        assert_eq!((ids(&page), page.has_previous, page.has_next), expected(all, &req), "{req:?}");
    }
}

#[tokio::test]
async fn the_last_rows_come_in_the_same_order_as_the_first() {
    let (store, _, _) = store().await;
    let all = all_visible(&store, BY_RANK).await;
    let query = || row::Entity::find().filter(row::Column::Hidden.eq(false));
    let last = fetch(store.conn(), query(), BY_RANK, PageRequest::last(2)).await.expect("a page");
    assert_eq!(ids(&last), [all[5].id, all[6].id]);
    let last_one = fetch(store.conn(), query(), BY_RANK, PageRequest::last(1)).await.expect("a page");
    assert_eq!(ids(&last_one), [all[6].id], "the last of the order, not the first");
}

#[tokio::test]
async fn per_parent_pages_in_one_statement_equal_the_single_pages() {
    let (store, parent, empty) = store().await;
    let (actor, log) = (actor(), ReadLog::default());
    let reader = Reader::new(&actor, Utc::now().date_naive(), &log);
    for (assoc, order) in [(&RANKED, BY_RANK), (&CREATED, BY_ID)] {
        let all = all_visible(&store, order).await;
        for req in every_request(&all) {
            let before = store.statements_sent();
            let mut pages: HashMap<Uuid, Page<row::Model>> =
                store.association_pages(&reader, assoc, &[parent, empty], req).await.expect("pages");
            assert_eq!(store.statements_sent() - before, 1, "one statement for both parents");
            let page = pages.remove(&parent).expect("the parent's page");
            assert_eq!((ids(&page), page.has_previous, page.has_next), expected(&all, &req), "{} {req:?}", assoc.name);
            let none = pages.remove(&empty).expect("the empty parent's page");
            assert!(none.items.is_empty(), "{req:?}");
        }
        let counts = store.association_counts(&reader, assoc, &[parent, empty]).await.expect("counts");
        assert_eq!((counts[&parent], counts[&empty]), (7, 0), "the hidden row is not counted");
    }
}
