//! A request's reads and its write's transaction go through one connection of the pool,
//! held from its first read until it has run; no request holds a connection while it
//! waits for another.

use std::time::Duration;

use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use kinbridge_persistence::{Store, StoreError, StoreOptions};
use serde_json::json;

use crate::support::{TestApp, spawn_app_configured};

/// A store on `app`'s database with a pool of one connection, and a short wait for it.
async fn one_connection(app: &TestApp) -> Store {
    let options =
        StoreOptions { max_connections: 1, database_timeout: Duration::from_millis(300), ..StoreOptions::default() };
    Store::connect(&app.database_url, &options).await.unwrap()
}

#[tokio::test]
async fn a_query_reads_through_one_connection_until_it_gives_it_back() {
    let app = spawn_app_configured(|_| {}).await;
    let org = app.municipality("Aarhus").await;
    let store = one_connection(&app).await;
    let query = store.holding_one_connection();
    for _ in 0..3 {
        query.organization(org.id).await.expect("every read of the query goes through the connection it holds");
    }
    // The pool's one connection is the query's own: a read from elsewhere waits and gives up.
    let elsewhere = store.organization(org.id).await;
    assert!(matches!(elsewhere, Err(StoreError::Unavailable(_))), "the held connection served another: {elsewhere:?}");
    query.release_connection().await;
    store.organization(org.id).await.expect("given back, the connection serves the pool again");
    query.organization(org.id).await.expect("after it gave its connection back, a query reads through the pool");
}

#[tokio::test]
async fn a_write_runs_on_the_connection_its_request_holds_and_gives_it_back() {
    let app = spawn_app_configured(|_| {}).await;
    let org = app.municipality("Aarhus").await;
    let store = one_connection(&app).await;
    let request = store.holding_one_connection();
    request.organization(org.id).await.expect("the request takes the pool's one connection");
    // A write that took a second connection would wait for it and give up.
    let new = NewOrganization::parse(OrganizationKind::PlacementProvider, "Skovly", "PP-held").unwrap();
    let created = request.create_organization(&new).await.expect("the write runs on the request's connection");
    assert_eq!(request.organization(created).await.unwrap().name.as_str(), "Skovly");
    let elsewhere = store.organization(org.id).await;
    assert!(matches!(elsewhere, Err(StoreError::Unavailable(_))), "the write gave the connection away: {elsewhere:?}");

    // A write that fails rolls back, and the connection comes back to its request out of
    // the transaction: the next write on it commits on its own.
    let again = request.create_organization(&new).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "a second organisation with one code: {again:?}");
    let other = NewOrganization::parse(OrganizationKind::PlacementProvider, "Lindely", "PP-held-2").unwrap();
    let second = request.create_organization(&other).await.expect("the connection is out of the failed transaction");
    request.release_connection().await;
    // Seen from another connection, both committed writes are there and the failed one
    // left nothing behind.
    let providers = store.organizations_with_code("PP-held").await.unwrap();
    assert_eq!(providers.len(), 1, "the failed write was rolled back");
    assert_eq!(store.organization(second).await.unwrap().name.as_str(), "Lindely");
}

#[tokio::test]
async fn a_write_that_reads_while_it_writes_needs_no_second_connection() {
    // Erasing a person reads who else the families name while its transaction is open:
    // those reads go through the transaction, so one connection is enough for a request
    // (PostgreSQL's change-feed listener keeps one more).
    let postgres = std::env::var("KINBRIDGE_TEST_POSTGRES_URL").is_ok();
    let app = spawn_app_configured(|c| {
        c.store.max_connections = if postgres { 2 } else { 1 };
        c.store.database_timeout = Duration::from_millis(500);
    })
    .await;
    let org = app.municipality("Aarhus").await;
    let dpo = app.token(org.id, &["DATA_PROTECTION_OFFICER"]);
    let created = app
        .gql(
            &org.token,
            "mutation { createPerson(input: { person: { givenName: \"A\", familyName: \"B\" } }) { person { id } } }",
            json!({}),
        )
        .await;
    let person = created.data()["createPerson"]["person"]["id"].as_str().unwrap().to_owned();
    let erase = "mutation($p: ID!) { erasePerson(input: { personId: $p, reason: \"Asked in writing\" }) { personId } }";
    let erased = app.gql(&dpo, erase, json!({ "p": person })).await;
    assert!(erased.body.get("errors").is_none(), "{}", erased.body);
    assert_eq!(erased.data()["erasePerson"]["personId"], person.as_str());
}

#[tokio::test]
async fn queries_and_mutations_at_once_on_a_pool_of_two_connections_all_answer() {
    // A request that held a connection while it waited for a second would wait here until
    // the database timeout and be answered UNAVAILABLE.
    let app = spawn_app_configured(|c| {
        c.store.max_connections = 2;
        c.store.database_timeout = Duration::from_secs(20);
    })
    .await;
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let query = "query($id: ID!) { family(id: $id) { name members { edges { node { role person { givenName } } } } } }";
    let mutation =
        "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id members { totalCount } } } }";
    let requests = (0..24).map(|i| {
        let (app, org, family) = (&app, &org, &family);
        async move {
            if i % 3 == 0 {
                let input = json!({ "name": format!("Family {i}"), "members": [
                    { "person": { "givenName": "Emma", "familyName": "Holm", "birthDate": "2016-04-12" }, "role": "CHILD" }] });
                app.gql(&org.token, mutation, json!({ "input": input })).await
            } else {
                app.gql(&org.token, query, json!({ "id": family.id })).await
            }
        }
    });
    for (i, answer) in futures_util::future::join_all(requests).await.into_iter().enumerate() {
        assert!(answer.body.get("errors").is_none(), "request {i} failed: {}", answer.body);
        if i % 3 == 0 {
            assert_eq!(answer.data()["createFamily"]["family"]["members"]["totalCount"], 1);
        } else {
            assert_eq!(answer.data()["family"]["name"], "Hansen");
        }
    }
}

/// SQLite lets one transaction write at a time, and its busy handler sleeps between looks
/// at the lock. Kinbridge's writers (request writes and the audit trail's inserts) take
/// their turn in the process instead, so that none of them waits on SQLite's lock: with
/// SQLite's busy timeout at zero, where a writer that found the lock taken would fail at
/// once, a burst of writes and audited reads all answer.
#[tokio::test]
async fn on_sqlite_the_writers_of_one_process_take_turns_without_the_busy_handler() {
    let app = spawn_app_configured(|c| {
        c.store.sqlite_busy_timeout = Duration::ZERO;
        c.store.max_connections = 4;
    })
    .await;
    if app.store.backend() != sea_orm::DbBackend::Sqlite {
        return; // PostgreSQL's writers lock rows, not the database.
    }
    let org = app.municipality("Aarhus").await;
    let family = app.seed_family(&org, None).await;
    let query = "query($id: ID!) { family(id: $id) { name members { edges { node { person { givenName } } } } } }";
    let mutation = "mutation($input: CreateFamilyInput!) { createFamily(input: $input) { family { id } } }";
    let requests = (0..32).map(|i| {
        let (app, org, family) = (&app, &org, &family);
        async move {
            if i % 2 == 0 {
                app.gql(&org.token, mutation, json!({ "input": { "name": format!("Family {i}") } })).await
            } else {
                app.gql(&org.token, query, json!({ "id": family.id })).await
            }
        }
    });
    for (i, answer) in futures_util::future::join_all(requests).await.into_iter().enumerate() {
        assert!(answer.body.get("errors").is_none(), "request {i} failed: {}", answer.body);
    }
    assert_eq!(app.family_count(&org).await, 17, "the seeded family and the 16 written");
}

/// A write lock held past SQLite's busy timeout by another process is an outage the
/// client retries (`UNAVAILABLE`), not a fault of the service, and writes nothing.
#[tokio::test]
async fn on_sqlite_a_write_lock_held_by_another_process_past_the_busy_timeout_is_unavailable() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app_configured(|c| c.store.sqlite_busy_timeout = Duration::from_millis(100)).await;
    if app.store.backend() != sea_orm::DbBackend::Sqlite {
        return;
    }
    let org = app.municipality("Aarhus").await;
    // Another process's connection holds the write lock.
    let mut options = sea_orm::ConnectOptions::new(app.database_url.clone());
    options.max_connections(1).min_connections(1);
    let other = sea_orm::Database::connect(options).await.unwrap();
    other.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
    let mutation = "mutation { createFamily(input: { name: \"Hansen\" }) { family { id } } }";
    let refused = app.gql(&org.token, mutation, json!({})).await;
    assert_eq!(refused.code(), "UNAVAILABLE", "{}", refused.body);
    other.execute_unprepared("ROLLBACK").await.unwrap();
    other.close().await.unwrap();
    assert_eq!(app.family_count(&org).await, 0);
    let written = app.gql(&org.token, mutation, json!({})).await;
    assert!(written.body.get("errors").is_none(), "{}", written.body);
}

/// A write cancelled at any await (its request timed out, its client went away) gives its
/// connection back outside any transaction: also when it is cancelled while its `BEGIN` is
/// on the way, which the driver alone does not roll back (it counts the transaction only
/// once the answer is in). Given back inside one, the connection's next users (another
/// request's reads, the audit writer's inserts) would run inside a transaction that nobody
/// commits, and a later rollback on it would take their rows with it.
#[tokio::test]
async fn a_write_cancelled_at_any_await_gives_its_connection_back_outside_a_transaction() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app_configured(|_| {}).await;
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite's driver finishes a BEGIN it was sent, and rolls it back when dropped.
    }
    let store = one_connection(&app).await;
    let watcher = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let in_transaction = Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND state LIKE 'idle in transaction%'",
    );
    // A sweep cancels the write after 0, 1, 2, … pending polls, until it completes. An
    // await whose answer is already in when it is polled (the test's thread was preempted
    // between a write and its read, as on a loaded machine) does not go pending, so one
    // sweep may reach fewer awaits than the write has: sweeps repeat until one was
    // cancelled at two at least (the wait for a connection and the wait for `BEGIN`'s
    // answer), and every cancellation of every sweep is checked.
    let mut most = 0;
    for sweep in 0..10 {
        let mut cancelled = 0;
        for polls in 0..40 {
            let code = format!("C-{sweep}-{polls}");
            let new = NewOrganization::parse(OrganizationKind::Municipality, "Cancelled", &code).unwrap();
            match (CancelAfter { inner: Box::pin(store.create_organization(&new)), pending: polls }).await {
                Some(done) => assert!(done.is_ok(), "{done:?}"),
                None => cancelled += 1,
            }
            // Waits until the pool has the connection back (or has replaced it).
            store.organization_by_code(OrganizationKind::Municipality, "none").await.unwrap();
            let row = watcher.query_one_raw(in_transaction.clone()).await.unwrap().unwrap();
            let open: i64 = row.try_get("", "n").unwrap();
            assert_eq!(open, 0, "cancelled at its await number {polls}, the write left a transaction open");
        }
        most = most.max(cancelled);
        if most >= 2 {
            break;
        }
    }
    assert!(most >= 2, "in ten sweeps, the write was cancelled {most} times at most");
}

/// On PostgreSQL the connection a request is done with is parked for the next request,
/// which takes it without the pool's ping; when no request comes it goes back to the pool
/// within a moment, and closing the store does not wait on a parked one.
#[tokio::test]
async fn a_connection_parked_for_the_next_request_goes_back_to_the_pool_when_none_comes() {
    let app = spawn_app_configured(|_| {}).await;
    if app.store.backend() != sea_orm::DbBackend::Postgres {
        return; // SQLite's connections go straight back to its pool.
    }
    let org = app.municipality("Aarhus").await;
    let store = Store::connect(&app.database_url, &StoreOptions::default()).await.unwrap();
    let (mut parked, mut tries) = (false, 0);
    while !parked && tries < 20 {
        let request = store.holding_one_connection();
        request.organization(org.id).await.unwrap();
        drop(request);
        let (open, idle, _) = store.pool_usage();
        // Parked, the connection is out of the pool: open, not idle. (A slow moment of
        // the machine may see it swept back already; the request is then made again.)
        parked = (idle as u32) < open;
        tries += 1;
    }
    assert!(parked, "a connection given back a moment ago was never found parked");
    let request = store.holding_one_connection();
    request.organization(org.id).await.expect("the next request reads through the parked connection");
    drop(request);

    let started = std::time::Instant::now();
    loop {
        let (open, idle, _) = store.pool_usage();
        if idle as u32 == open {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{open} open, {idle} idle: a connection stayed parked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let request = store.holding_one_connection();
    request.organization(org.id).await.unwrap();
    drop(request);
    let closed = tokio::time::timeout(Duration::from_secs(2), store.close()).await;
    assert!(matches!(closed, Ok(Ok(()))), "closing the store waited on its parked connection: {closed:?}");
}

/// Polls `inner` until it is ready or has been pending `pending` times more, then gives up
/// (and drops it): cancellation at a chosen await.
struct CancelAfter<F> {
    inner: std::pin::Pin<Box<F>>,
    pending: usize,
}

impl<F: std::future::Future> std::future::Future for CancelAfter<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.inner.as_mut().poll(cx) {
            std::task::Poll::Ready(done) => std::task::Poll::Ready(Some(done)),
            std::task::Poll::Pending if self.pending == 0 => std::task::Poll::Ready(None),
            std::task::Poll::Pending => {
                self.pending -= 1;
                std::task::Poll::Pending
            }
        }
    }
}
