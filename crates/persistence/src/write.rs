//! The one way to write: a transaction that commits the change together with its audit
//! event, its outbox row and its idempotency key, or none of them.

use chrono::{DateTime, Utc};
use kinbridge_domain::access::Actor;
use kinbridge_domain::text::ExternalId;
use sea_orm::sea_query::{Expr, OnConflict, SubQueryStatement, WithClause};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait};
use uuid::Uuid;

use crate::Store;
use crate::connection::Transaction;
use crate::entities::{audit_event, idempotency_key, outbox};
use crate::error::StoreError;
use crate::scope::{ReadLog, Reader};

/// Who writes, for which request, as which operation.
#[derive(Debug, Clone)]
pub struct WriteMeta<'a> {
    pub actor: &'a Actor,
    /// The request id, as logged and returned in the `x-request-id` header.
    pub request_id: &'a str,
    /// The GraphQL mutation's name, recorded in the audit trail.
    pub operation: &'static str,
    pub idempotency: Option<Idempotency>,
}

/// The subject the audit trail names for writes Kinbridge makes itself: organisations
/// registered by an operator's command, and maintenance at start-up.
pub const SYSTEM_SUBJECT: &str = "kinbridge";

/// Kinbridge itself, writing on behalf of an organisation (see [`SYSTEM_SUBJECT`]).
pub(crate) fn system_actor(
    organization_id: kinbridge_domain::ids::OrganizationId,
    organization_kind: kinbridge_domain::organization::OrganizationKind,
) -> Actor {
    Actor { subject: SYSTEM_SUBJECT.to_owned(), organization_id, organization_kind, roles: Vec::new() }
}

/// A client's idempotency key and a hash of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the operation's input, hex; a key reused with other input is refused.
    pub request_hash: String,
}

impl Idempotency {
    /// Hashes the canonical JSON of a request's input.
    pub fn new(key: String, input: &serde_json::Value) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(input.to_string().as_bytes());
        let request_hash = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self { key, request_hash }
    }
}

/// An open write transaction. Dropping it without [`WriteTx::commit`] rolls everything back.
#[derive(Debug)]
pub struct WriteTx<'a> {
    txn: Transaction,
    meta: &'a WriteMeta<'a>,
    backend: DbBackend,
    /// The time of this write, used for every timestamp it stores.
    pub now: DateTime<Utc>,
    /// What the write's own lookups saw; never written to the audit trail (a write's
    /// audit event is its record), it only lets them use the read scope.
    lookups: ReadLog,
    /// Rows changed and writes recorded so far: a write that changed rows commits only if
    /// it recorded what it did (audit event and change-feed row).
    changed_rows: std::sync::atomic::AtomicU64,
    recorded: std::sync::atomic::AtomicU64,
    /// Whether the write added to the change feed, and whom to tell once it commits.
    fed: std::sync::atomic::AtomicBool,
    signals: std::sync::Arc<crate::signal::FeedSignals>,
    /// The audit events and change-feed rows recorded so far, written at commit (see
    /// [`WriteTx::commit_as`]).
    trail: std::sync::Mutex<Trail>,
}

/// At most this many rows of a trail's table are one insert (9,000 values for the audit
/// events, well within PostgreSQL's 65,535).
const TRAIL_ROWS: usize = 1_000;

/// At most this many rows of a record's parts are one insert ([`WriteTx::insert_all`]):
/// at most 7,000 values, within PostgreSQL's 65,535 and SQLite's 32,766.
const ROWS_PER_INSERT: usize = 1_000;

/// What a write has recorded of itself, written when it commits.
#[derive(Debug, Default)]
struct Trail {
    events: Vec<audit_event::ActiveModel>,
    outbox: Vec<outbox::ActiveModel>,
}

/// An entity whose rows carry a `version` and an `updated_at`, changed only by
/// [`WriteTx::update`].
pub(crate) trait Versioned: EntityTrait {
    const ID: Self::Column;
    const VERSION: Self::Column;
    const UPDATED_AT: Self::Column;
}

/// The write transaction, for the reads a write makes before it writes (does the record
/// exist, may the caller change it, what version is it at). Every statement that changes
/// a row is refused here: writes go through [`WriteTx`]'s methods, which keep the
/// versions, the audit trail and the change feed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reads<'a>(&'a Transaction);

fn refuse_write(sql: &str) -> Result<(), sea_orm::DbErr> {
    let verb = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or_default();
    if verb.eq_ignore_ascii_case("select") || verb.eq_ignore_ascii_case("with") || verb.eq_ignore_ascii_case("values") {
        Ok(())
    } else {
        Err(sea_orm::DbErr::Custom(format!(
            "BUG: a {verb} statement was sent through WriteTx::reads; writes go through WriteTx"
        )))
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for Reads<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: sea_orm::Statement) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        refuse_write(&stmt.sql)?;
        self.0.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        refuse_write(sql)?;
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: sea_orm::Statement) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        refuse_write(&stmt.sql)?;
        self.0.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        refuse_write(&stmt.sql)?;
        self.0.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        false
    }
}

impl Store {
    /// Begins a write. On SQLite the transaction takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so that two writers queue on the busy timeout instead of one
    /// failing when it upgrades a read lock.
    pub(crate) async fn begin_write<'a>(&self, meta: &'a WriteMeta<'a>) -> Result<WriteTx<'a>, StoreError> {
        if crate::authz::writers(meta.operation).is_none() {
            return Err(StoreError::Corrupt(format!(
                "BUG: {} is not in the table of writes (authz.rs)",
                meta.operation
            )));
        }
        let backend = self.backend();
        let txn = self.conn().begin(&self.statements, backend == DbBackend::Sqlite).await?;
        Ok(WriteTx {
            txn,
            meta,
            backend,
            now: Utc::now(),
            lookups: ReadLog::default(),
            changed_rows: Default::default(),
            recorded: Default::default(),
            fed: Default::default(),
            signals: std::sync::Arc::clone(&self.signals),
            trail: Default::default(),
        })
    }
}

impl<'a> WriteTx<'a> {
    pub fn actor(&self) -> &Actor {
        self.meta.actor
    }

    pub fn organization_id(&self) -> Uuid {
        self.meta.actor.organization_id.as_uuid()
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Reads in this write's transaction; see [`Reads`].
    pub(crate) fn reads(&self) -> Reads<'_> {
        Reads(&self.txn)
    }

    /// Inserts one row. The caller records the write ([`WriteTx::record`]) once per
    /// record it creates; the rows that make up a record (a plan's goals, a visit's
    /// participants) are part of that record's event.
    pub(crate) async fn insert<A>(&self, row: A) -> Result<(), StoreError>
    where
        A: sea_orm::ActiveModelTrait + Send,
    {
        <A::Entity as EntityTrait>::insert(row).exec_without_returning(&self.txn).await?;
        self.changed(1);
        Ok(())
    }

    /// Inserts the rows of one table that make up part of a record (a visit's
    /// participants, a person's identifiers, a review's progress) in one statement per
    /// [`ROWS_PER_INSERT`] rows, and none for no rows: never a statement per row.
    pub(crate) async fn insert_all<A>(&self, rows: Vec<A>) -> Result<(), StoreError>
    where
        A: sea_orm::ActiveModelTrait + Send,
    {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
            let n = chunk.len() as u64;
            <A::Entity as EntityTrait>::insert_many(chunk).exec_without_returning(&self.txn).await?;
            self.changed(n);
        }
        Ok(())
    }

    /// Inserts one row, as [`WriteTx::insert`], and returns it as stored (timestamps at the
    /// database's precision) through `RETURNING`, in the same statement. (sea-orm reads the
    /// row back in the transaction where it does not use `RETURNING`.)
    pub(crate) async fn insert_returning<A>(&self, row: A) -> Result<<A::Entity as EntityTrait>::Model, StoreError>
    where
        A: sea_orm::ActiveModelTrait + Send,
        <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    {
        let stored = <A::Entity as EntityTrait>::insert(row).exec_with_returning(&self.txn).await?;
        self.changed(1);
        Ok(stored)
    }

    /// Changes the record `id` of `E` from the version the write read, `read_version`:
    /// `change` sets the columns, this sets `version` to the next and `updated_at` to now,
    /// and changes the row only if it is still at `read_version`. If another request
    /// changed it first, nothing is written and the answer is `CONFLICT` with the current
    /// version. `what` names the record in that message.
    pub(crate) async fn update<E>(
        &self,
        what: &str,
        id: Uuid,
        read_version: i32,
        change: impl FnOnce(sea_orm::UpdateMany<E>) -> sea_orm::UpdateMany<E>,
    ) -> Result<(), StoreError>
    where
        E: Versioned,
    {
        let result = change(self.versioned::<E>(id, read_version)).exec(&self.txn).await?;
        if result.rows_affected == 1 {
            self.changed(1);
            return Ok(());
        }
        Err(self.changed_meanwhile::<E>(what, id, read_version).await)
    }

    /// [`WriteTx::update`], returning the row as it now stands through `RETURNING`, in the
    /// same statement (or a read of the row in the transaction where the driver does not
    /// use `RETURNING`). A condition `change` adds (such as the caller's scope) holds for
    /// the row returned.
    pub(crate) async fn update_returning<E>(
        &self,
        what: &str,
        id: Uuid,
        read_version: i32,
        change: impl FnOnce(sea_orm::UpdateMany<E>) -> sea_orm::UpdateMany<E>,
    ) -> Result<E::Model, StoreError>
    where
        E: Versioned,
    {
        match self.returning(id, change(self.versioned::<E>(id, read_version))).await? {
            Some(row) => Ok(row),
            None => Err(self.changed_meanwhile::<E>(what, id, read_version).await),
        }
    }

    /// Changes the record `id` of `E` where `condition` holds, without reading it first:
    /// `change` sets the columns, this sets `version` to the next and `updated_at` to now.
    /// Returns the row as it now stands (through `RETURNING`, or a read in the transaction
    /// where the driver does not use it), or `None` if the row is missing or `condition`
    /// does not hold, and nothing was changed: the caller then reads the row to say why.
    /// For a change whose rule `condition` states in full: where it holds, the change
    /// needs nothing else of the row.
    pub(crate) async fn update_returning_where<E>(
        &self,
        id: Uuid,
        condition: sea_orm::Condition,
        change: impl FnOnce(sea_orm::UpdateMany<E>) -> sea_orm::UpdateMany<E>,
    ) -> Result<Option<E::Model>, StoreError>
    where
        E: Versioned,
    {
        use sea_orm::ExprTrait;
        let update = E::update_many()
            .col_expr(E::VERSION, Expr::col(E::VERSION).add(1))
            .col_expr(E::UPDATED_AT, Expr::value(self.now))
            .filter(E::ID.eq(id))
            .filter(condition);
        self.returning(id, change(update)).await
    }

    /// Sends `update` of the row `id` and returns the row as it changed it, if it did:
    /// through `RETURNING`, in the same statement, or a read of the row in the transaction
    /// where the driver does not use `RETURNING`.
    async fn returning<E: Versioned>(
        &self,
        id: Uuid,
        update: sea_orm::UpdateMany<E>,
    ) -> Result<Option<E::Model>, StoreError> {
        let changed = if sea_orm::ConnectionTrait::support_returning(&self.txn) {
            update.exec_with_returning(&self.txn).await?.pop()
        } else if update.exec(&self.txn).await?.rows_affected == 1 {
            E::find().filter(E::ID.eq(id)).one(&self.txn).await?
        } else {
            None
        };
        if changed.is_some() {
            self.changed(1);
        }
        Ok(changed)
    }

    fn versioned<E: Versioned>(&self, id: Uuid, read_version: i32) -> sea_orm::UpdateMany<E> {
        E::update_many()
            .col_expr(E::VERSION, Expr::value(read_version + 1))
            .col_expr(E::UPDATED_AT, Expr::value(self.now))
            .filter(E::ID.eq(id))
            .filter(E::VERSION.eq(read_version))
    }

    /// The `CONFLICT` of a versioned update that changed nothing.
    async fn changed_meanwhile<E: Versioned>(&self, what: &str, id: Uuid, read_version: i32) -> StoreError {
        use sea_orm::QuerySelect;
        let current: Result<Option<i32>, _> =
            E::find().select_only().column(E::VERSION).filter(E::ID.eq(id)).into_tuple().one(&self.txn).await;
        match current {
            Ok(current) => StoreError::conflict(match current {
                Some(now) => format!(
                    "the {what} was changed by another request: you read version {read_version}, it is now at version {now}; read it again"
                ),
                None => format!("the {what} was removed by another request"),
            }),
            Err(e) => e.into(),
        }
    }

    /// Changes rows of a table without versions (a consent's revocation, a plan's review
    /// date) where `update`'s filter still holds; returns how many it changed.
    pub(crate) async fn update_where<E: EntityTrait>(&self, update: sea_orm::UpdateMany<E>) -> Result<u64, StoreError> {
        let rows = update.exec(&self.txn).await?.rows_affected;
        self.changed(rows);
        Ok(rows)
    }

    /// Deletes the rows `delete` selects (the parts of a record being replaced, such as a
    /// person's identifiers); returns how many.
    pub(crate) async fn delete_where<E: EntityTrait>(&self, delete: sea_orm::DeleteMany<E>) -> Result<u64, StoreError> {
        let rows = delete.exec(&self.txn).await?.rows_affected;
        self.changed(rows);
        Ok(rows)
    }

    fn changed(&self, rows: u64) {
        self.changed_rows.fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// The caller's read scope as of this write: a write may touch only what its caller
    /// may see, so a refused write is `NOT_FOUND` exactly where the read would be.
    pub(crate) fn scope(&self) -> Reader<'_> {
        Reader::new(self.meta.actor, self.now.date_naive(), &self.lookups)
    }

    /// If this request repeats an earlier one with the same idempotency key, the id of the
    /// record that request wrote. See [`WriteTx::replay`].
    pub async fn replayed(&self) -> Result<Option<Uuid>, StoreError> {
        Ok(self.replay().await?.map(|r| r.record_id))
    }

    /// Claims this request's idempotency key, or finds the request that claimed it first.
    ///
    /// The key row is inserted first, in this transaction (`ON CONFLICT DO NOTHING`): a
    /// concurrent request with the same key waits on PostgreSQL's unique index until the
    /// holder commits or rolls back (SQLite's write transactions queue anyway). If the
    /// holder committed, this request is its retry and gets its answer: the record it wrote
    /// and what it did. If it rolled back, the key is this request's. A key reused for
    /// another operation or other input is a conflict, never a silent replay.
    pub async fn replay(&self) -> Result<Option<Replay>, StoreError> {
        let Some(idem) = &self.meta.idempotency else { return Ok(None) };
        let claim = idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            organization_id: Set(self.organization_id()),
            key: Set(idem.key.clone()),
            operation: Set(self.meta.operation.to_owned()),
            request_hash: Set(idem.request_hash.clone()),
            record_id: Set(Uuid::nil()),
            created_at: Set(self.now),
            outcome: Set(None),
        })
        .on_conflict(
            OnConflict::columns([idempotency_key::Column::OrganizationId, idempotency_key::Column::Key])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.txn)
        .await?;
        if claim == 1 {
            return Ok(None);
        }
        let first = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::OrganizationId.eq(self.organization_id()))
            .filter(idempotency_key::Column::Key.eq(idem.key.as_str()))
            .one(&self.txn)
            .await?
            .ok_or_else(|| StoreError::conflict("the idempotency key was released concurrently; retry"))?;
        if first.operation != self.meta.operation || first.request_hash != idem.request_hash {
            return Err(StoreError::conflict(format!(
                "idempotency key already used for a different request ({}); use a new key for a new request",
                first.operation
            )));
        }
        let outcome = first.outcome.as_deref().and_then(Outcome::parse).unwrap_or(Outcome::Created);
        Ok(Some(Replay { record_id: first.record_id, outcome }))
    }

    /// Records the write of one record of the caller's own organisation: an audit event
    /// (who, what, when, which request) and an outbox row for the change feed.
    pub async fn record(
        &self,
        record_type: &'static str,
        record_id: Uuid,
        public_id: &str,
        event: &str,
    ) -> Result<(), StoreError> {
        self.record_for(self.organization_id(), record_type, record_id, public_id, event).await
    }

    /// Records the write of one record owned by `owner` (which differs from the caller
    /// when, say, a provider records the outcome of a municipality's visit): the audit
    /// event names the caller, the outbox row goes to the owner's change feed. The outbox
    /// row carries ids only, never personal data: a consumer reads the record through the
    /// API, which authorizes it.
    pub async fn record_for(
        &self,
        owner: Uuid,
        record_type: &'static str,
        record_id: Uuid,
        public_id: &str,
        event: &str,
    ) -> Result<(), StoreError> {
        self.audit(record_type, record_id).await?;
        let payload = serde_json::json!({ "event": event, "id": public_id, "at": self.now });
        self.trail()?.outbox.push(outbox::ActiveModel {
            occurred_at: Set(self.now),
            organization_id: Set(owner),
            aggregate_type: Set(record_type.to_owned()),
            aggregate_id: Set(record_id),
            event_type: Set(event.to_owned()),
            payload: Set(payload.to_string()),
            ..Default::default()
        });
        self.fed.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Records who wrote `record_id`, when, in which request and operation, without a
    /// change-feed row: for the organisation registry, which is operator data and no
    /// organisation's case record.
    pub(crate) async fn audit(&self, record_type: &'static str, record_id: Uuid) -> Result<(), StoreError> {
        self.recorded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let actor = self.meta.actor;
        self.trail()?.events.push(audit_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            occurred_at: Set(self.now),
            request_id: Set(truncate(self.meta.request_id, 64)),
            subject: Set(truncate(&actor.subject, 256)),
            organization_id: Set(actor.organization_id.as_uuid()),
            roles: Set(actor.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")),
            operation: Set(self.meta.operation.to_owned()),
            record_type: Set(record_type.to_owned()),
            record_id: Set(record_id),
        });
        Ok(())
    }

    fn trail(&self) -> Result<std::sync::MutexGuard<'_, Trail>, StoreError> {
        self.trail.lock().map_err(|_| StoreError::Corrupt("a write's trail lock was poisoned".into()))
    }

    /// Completes the idempotency key (if any) with `record_id` and commits.
    pub async fn commit(self, record_id: Uuid) -> Result<(), StoreError> {
        self.commit_as(record_id, Outcome::Created).await
    }

    /// [`WriteTx::commit`]s `stored`, the row of the record this write made or changed, and
    /// answers with it when `visible` (the caller's scope is known to hold it: it owns the
    /// record and sees what it owns, or the write's own condition was the scope), else with
    /// its id, to be read through the caller's scope.
    pub async fn commit_answering<M, R>(
        self,
        stored: M,
        record_id: Uuid,
        visible: bool,
    ) -> Result<Written<R>, StoreError>
    where
        R: TryFrom<M, Error = StoreError>,
    {
        let answer = if visible { Written::Stored(R::try_from(stored)?) } else { Written::Read(record_id) };
        self.commit(record_id).await?;
        Ok(answer)
    }

    /// Completes the idempotency key (if any) with `record_id` and what this write did,
    /// so that a retry is answered the same, and commits.
    pub async fn commit_as(self, record_id: Uuid, outcome: Outcome) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.changed_rows.load(Relaxed) > 0 && self.recorded.load(Relaxed) == 0 {
            // Rolls back: a change nobody can trace is worse than a failed request.
            return Err(StoreError::Corrupt(format!(
                "BUG: {} changed rows without recording the write in the audit trail",
                self.meta.operation
            )));
        }
        let mut trail = std::mem::take(&mut *self.trail()?);
        let mut statements = Vec::with_capacity(3);
        while !trail.events.is_empty() {
            let rows: Vec<_> = trail.events.drain(..trail.events.len().min(TRAIL_ROWS)).collect();
            statements.push(SubQueryStatement::from(audit_event::Entity::insert_many(rows).into_query()));
        }
        while !trail.outbox.is_empty() {
            let rows: Vec<_> = trail.outbox.drain(..trail.outbox.len().min(TRAIL_ROWS)).collect();
            statements.push(outbox::Entity::insert_many(rows).into_query().into());
        }
        if let Some(idem) = &self.meta.idempotency {
            let complete = idempotency_key::Entity::update_many()
                .col_expr(idempotency_key::Column::RecordId, Expr::value(record_id))
                .col_expr(idempotency_key::Column::Outcome, Expr::value(outcome.as_str()))
                .filter(idempotency_key::Column::OrganizationId.eq(self.organization_id()))
                .filter(idempotency_key::Column::Key.eq(idem.key.as_str()))
                .into_query();
            statements.push(complete.into());
        }
        let trail = self.trail_statements(statements);
        let signals = self.fed.load(Relaxed).then(|| std::sync::Arc::clone(&self.signals));
        // A request that defers its commit sends the trail with the audit of its answer
        // and commits then (one statement and one WAL flush for both); otherwise the trail
        // is sent and the write commits now.
        self.txn.end(trail, signals).await?;
        Ok(())
    }
}

impl WriteTx<'_> {
    /// A write's audit events, its change-feed rows and its idempotency key's answer, as
    /// statements to send. On PostgreSQL they are one statement, each a data-modifying
    /// `WITH` query of the last: a write's round trips are most of what it costs. A visit
    /// planned with an idempotency key went from nine round trips (with `BEGIN`, `COMMIT`
    /// and the token's organisation) to seven; the mutation mix of the benchmark, (d),
    /// rose from 1,511-2,184 to 2,120-2,756 requests a second at 32 connections,
    /// interleaved. SQLite has no data-modifying `WITH`, and no round trips: one statement
    /// each.
    fn trail_statements(&self, mut statements: Vec<SubQueryStatement>) -> Vec<sea_orm::Statement> {
        use sea_orm::sea_query::CommonTableExpression;
        let Some(last) = statements.pop() else { return Vec::new() };
        let build = |statement: SubQueryStatement| match statement {
            SubQueryStatement::InsertStatement(q) => self.backend.build(&q),
            SubQueryStatement::UpdateStatement(q) => self.backend.build(&q),
            SubQueryStatement::WithStatement(q) => self.backend.build(&q),
            SubQueryStatement::SelectStatement(q) => self.backend.build(&q),
            SubQueryStatement::DeleteStatement(q) => self.backend.build(&q),
        };
        // Three statements at most (`last` and two more) are one: of at most TRAIL_ROWS
        // rows each, they bind well within PostgreSQL's 65,535 values, with the 8 of a
        // request's audit of its reads that may join them (`connection.rs`). A larger
        // trail (an erasure of many records) is rare, and sent a statement at a time.
        if self.backend == DbBackend::Postgres && !statements.is_empty() && statements.len() < 3 {
            let mut with = WithClause::new();
            for (i, statement) in statements.into_iter().enumerate() {
                let mut cte = CommonTableExpression::new();
                cte.query(statement).table_name(format!("kb_trail_{i}"));
                with.cte(cte);
            }
            vec![build(with.query(last).into())]
        } else {
            statements.into_iter().chain([last]).map(build).collect()
        }
    }
}

/// What a write of one record gives its answer: the record as the write stored it, or the
/// id of a record whose answer is read through the caller's scope (a retry of a write
/// already made, whose answer is the record as it stands now; or a write whose caller's
/// scope is not decided by ownership alone). The store's `shown_…` methods turn either
/// into the record shown, and log it as shown.
#[derive(Debug)]
pub enum Written<R> {
    Stored(R),
    Read(Uuid),
}

impl<R> Written<R> {
    /// The record shown: the stored one, logged as shown to the caller as `record_type`,
    /// or the one `read` reads through the caller's scope (which logs it).
    pub(crate) async fn shown<F>(
        self,
        r: &crate::scope::Reader<'_>,
        record_type: &'static str,
        id: impl FnOnce(&R) -> Uuid,
        read: impl FnOnce(Uuid) -> F,
    ) -> Result<R, StoreError>
    where
        F: Future<Output = Result<R, StoreError>>,
    {
        match self {
            Self::Stored(record) => {
                r.saw(record_type, id(&record));
                Ok(record)
            }
            Self::Read(id) => read(id).await,
        }
    }
}

/// What a write did, as its payload and its retries tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// The input matched what was stored: nothing was written, nothing is in the feed.
    Unchanged,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Unchanged].into_iter().find(|o| o.as_str() == s)
    }
}

/// The answer of the first request with this idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub record_id: Uuid,
    pub outcome: Outcome,
}

impl WriteTx<'_> {
    /// Locks row `id` of `E` until this write commits (PostgreSQL: `SELECT … FOR UPDATE`;
    /// SQLite's write transactions are serialized already), so that concurrent writes under
    /// one parent (numbering its goals, adding its members, setting its visit arrangement)
    /// take turns instead of racing to a unique constraint.
    pub(crate) async fn lock<E>(&self, id: Uuid) -> Result<(), StoreError>
    where
        E: EntityTrait,
        Uuid: Into<<E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType>,
    {
        if supports_row_locks(self.backend) {
            use sea_orm::QuerySelect;
            E::find_by_id(id).lock_exclusive().one(&self.txn).await?;
        }
        Ok(())
    }

    /// The row `select` finds, read and locked until this write commits in one statement
    /// (PostgreSQL: `SELECT … FOR UPDATE`, which reads the row as the last writer before
    /// it committed it; SQLite's writes are serialized already): [`WriteTx::lock`] and a
    /// read in one round trip.
    pub(crate) async fn one_locked<E: EntityTrait>(
        &self,
        select: sea_orm::Select<E>,
    ) -> Result<Option<E::Model>, StoreError> {
        use sea_orm::QuerySelect;
        let select = if supports_row_locks(self.backend) { select.lock_exclusive() } else { select };
        Ok(select.one(&self.txn).await?)
    }

    /// Locks the name `key` of kind `kind` (a case id, say) within the caller's
    /// organisation until this write commits, for a record that does not exist yet: two
    /// upserts of one new case id take turns, so one creates and the other finds it.
    /// PostgreSQL: a transaction-scoped advisory lock on a hash of the name (a collision
    /// only makes two writes wait for each other); SQLite's writes queue anyway.
    pub(crate) async fn lock_name(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        if supports_row_locks(self.backend) {
            use sea_orm::ConnectionTrait;
            let name = format!("{}/{kind}/{key}", self.organization_id());
            self.txn
                .execute_raw(sea_orm::Statement::from_sql_and_values(
                    self.backend,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    [name.into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// The caller's organisation's row of `E` with the case id `external_id`, if there is
    /// one, read under the case id's lock ([`WriteTx::lock_name`]), which this write holds
    /// until it commits: what an upsert decides on.
    pub(crate) async fn find_case<E: EntityTrait>(
        &self,
        kind: &str,
        organization_column: E::Column,
        external_id_column: E::Column,
        external_id: &ExternalId,
    ) -> Result<Option<E::Model>, StoreError> {
        self.lock_name(kind, external_id.as_str()).await?;
        Ok(E::find()
            .filter(organization_column.eq(self.organization_id()))
            .filter(external_id_column.eq(external_id.as_str()))
            .one(&self.reads())
            .await?)
    }

    /// Refuses an external id that the caller's organisation already uses for a record of
    /// entity `E`, naming the existing record so that an integration can update it instead.
    pub(crate) async fn ensure_external_id_free<E: EntityTrait>(
        &self,
        external_id: Option<&ExternalId>,
        organization_column: E::Column,
        external_id_column: E::Column,
        what: &str,
        public_id: impl Fn(&E::Model) -> String,
    ) -> Result<(), StoreError> {
        let Some(external_id) = external_id else { return Ok(()) };
        let existing = E::find()
            .filter(organization_column.eq(self.organization_id()))
            .filter(external_id_column.eq(external_id.as_str()))
            .one(&self.txn)
            .await?;
        match existing {
            None => Ok(()),
            Some(existing) => Err(StoreError::Conflict {
                message: format!("a {what} with external id {external_id} already exists"),
                existing_id: Some(public_id(&existing)),
            }),
        }
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Words the conflict of a write that lost a race to a unique constraint (every such
/// violation is already a [`StoreError::Conflict`]) for what the write was doing.
/// The case id an upsert goes by, or `BAD_USER_INPUT` on `externalId`.
pub(crate) fn case_id(external_id: Option<&ExternalId>) -> Result<&ExternalId, StoreError> {
    Ok(external_id
        .ok_or_else(|| kinbridge_domain::ValidationError::new("externalId", "an upsert needs your case id"))?)
}

pub(crate) fn unique_to_conflict<T>(result: Result<T, StoreError>, message: &str) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        StoreError::Conflict { existing_id, .. } => StoreError::Conflict { message: message.to_owned(), existing_id },
        other => other,
    })
}

/// `CONFLICT`, naming the version stored, unless the caller read the version that is
/// stored; `None` (no version sent) passes.
pub(crate) fn expect_version(what: &str, expected: Option<i32>, current: i32) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current => Err(StoreError::conflict(format!(
            "the {what} has changed since version {expected}: it is now at version {current}; read it again"
        ))),
        _ => Ok(()),
    }
}

/// Whether the connection may take row locks (`SELECT … FOR UPDATE`). SQLite has none and
/// needs none: its write transactions are serialized by `BEGIN IMMEDIATE`.
pub(crate) fn supports_row_locks(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::refuse_write;

    #[test]
    fn the_reads_of_a_write_refuse_every_statement_that_changes_a_row() {
        for read in ["SELECT 1", "  select * from families", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)"] {
            assert!(refuse_write(read).is_ok(), "{read}");
        }
        for write in
            ["INSERT INTO families VALUES (1)", "update families set name = 'x'", "DELETE FROM families", "TRUNCATE t"]
        {
            assert!(refuse_write(write).is_err(), "{write}");
        }
    }
}
