//! The audit trail (append-only) and the change feed.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use kinbridge_domain::access::Actor;
use kinbridge_domain::ids::PersonId;
use sea_orm::sea_query::{Expr, Query, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use uuid::Uuid;

use crate::Store;
use crate::audit_writer::ReadBatch;
use crate::entities::{
    audit_trail, consent, contact_visit, family_member, family_partner_assignment, family_partner_service,
    key_person_notification, kopp_interview, kopp_participant, network_map_entry, other_parent_support, outbox,
    parent_action_plan, parental_support_note, person_identifier, placement, plan_goal, plan_review, referral,
    resilience_pillar_record, service_eligibility, sub_goal, support_offer, visit_arrangement,
};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;

/// How large (in kB) the pending list of an audit partition's record index may grow
/// before the insert that finds it over merges it (`gin_pending_list_limit`; PostgreSQL's
/// default is 4,096): room for many times the reads between two merges.
pub const AUDIT_PENDING_LIST_KB: u32 = 65_536;

/// The advisory lock key under which one relay at a time sequences the change feed
/// (`kb_feed` in ASCII).
const SEQUENCE_LOCK: i64 = 0x006b_625f_6665_6564;

/// What an auditor asks of the trail. Every field narrows; none is required.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// A token subject.
    pub subject: Option<String>,
    pub record_id: Option<Uuid>,
}

impl Store {
    /// Records that `actor` was shown these records, for request `request_id`. Called
    /// before the response leaves, and returns once the rows are committed: a read whose
    /// audit event could not be written is never answered.
    ///
    /// The rows of one request are one statement, and the statements of the requests that
    /// arrive while a commit is under way share the next commit (see [`AuditWriter`]).
    pub async fn record_reads(
        &self,
        actor: &Actor,
        request_id: &str,
        reads: &[crate::scope::Shown],
    ) -> Result<(), StoreError> {
        if reads.is_empty() {
            return Ok(());
        }
        self.audit.write(read_batch(actor, request_id, reads)).await
    }

    /// Ends a request that deferred its write's commit ([`Store::defer_write_commits`]):
    /// writes the request's reads into that transaction and commits both, one WAL flush.
    /// `Ok(false)` if no write was left open, and the reads are still to be recorded
    /// ([`Store::record_reads`]).
    pub async fn commit_with_reads(
        &self,
        actor: &Actor,
        request_id: &str,
        reads: &[crate::scope::Shown],
    ) -> Result<bool, StoreError> {
        let backend = self.backend();
        let audit = (!reads.is_empty()).then(|| {
            let batch = read_batch(actor, request_id, reads);
            move |first| crate::audit_writer::insert_after(backend, &[&batch], first)
        });
        Ok(self.db.finish(audit).await?)
    }

    /// The audit trail of the caller's organisation: what its people read and wrote.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        req: PageRequest,
    ) -> Result<Page<records::AuditEvent>, StoreError> {
        page::fetch(self.conn(), audit_query(actor, filter), page::Order::by_id(audit_trail::Column::Id), req)
            .await?
            .read()
    }

    pub async fn count_audit_events(&self, actor: &Actor, filter: &AuditFilter) -> Result<u64, StoreError> {
        Ok(audit_query(actor, filter).count(self.conn()).await?)
    }

    /// Who has seen or changed this person's data, in every organisation: the events
    /// naming the person or a record about them (memberships, placements of the person as
    /// a child and of their families' children, visits of those placements, plans of their
    /// families, eligibility, assignments and services). For an auditor of the
    /// organisation that owns the person.
    pub async fn access_log(
        &self,
        _actor: &Actor,
        person: PersonId,
        req: PageRequest,
    ) -> Result<Page<records::AuditEvent>, StoreError> {
        page::fetch(self.conn(), access_query(self.backend(), person), page::Order::by_id(audit_trail::Column::Id), req)
            .await?
            .read()
    }

    /// The whole access log of `person`, oldest first (for the subject access report).
    pub async fn full_access_log(&self, person: PersonId) -> Result<Vec<records::AuditEvent>, StoreError> {
        records::all(access_query(self.backend(), person).order_by_asc(audit_trail::Column::Id).all(self.conn()).await?)
    }

    pub async fn count_access_log(&self, _actor: &Actor, person: PersonId) -> Result<u64, StoreError> {
        Ok(access_query(self.backend(), person).count(self.conn()).await?)
    }

    /// Makes sure the audit trail has its monthly partitions for this month and the next
    /// two (PostgreSQL only; SQLite keeps one table). Safe to run from several replicas at
    /// once and on every start. Returns the partitions it could not create, for the
    /// caller to report; their rows go to the default partition meanwhile.
    pub async fn ensure_audit_partitions(&self, today: NaiveDate) -> Result<Vec<String>, StoreError> {
        if self.backend() != DbBackend::Postgres {
            return Ok(Vec::new());
        }
        let mut failed = Vec::new();
        let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
            .ok_or_else(|| StoreError::Corrupt("no first of month".into()))?;
        for table in ["audit_events", "audit_reads"] {
            for ahead in 0..3 {
                let (Some(start), Some(end)) =
                    (first.checked_add_months(Months::new(ahead)), first.checked_add_months(Months::new(ahead + 1)))
                else {
                    continue;
                };
                let name = audit_partition_name(table, start);
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
                );
                if let Err(e) = self.conn().execute_unprepared(&sql).await {
                    // Another replica made it first, or rows of that month already sit in the
                    // default partition; either way no audit event is lost.
                    tracing::warn!(partition = %name, error = %e, "an audit trail partition could not be created");
                    failed.push(name);
                }
            }
        }
        // Each partition's record index lets its pending list grow to AUDIT_PENDING_LIST_KB
        // before an insert merges it itself: the merges belong to `merge_pending_audit_index`,
        // every AUDIT_INDEX_MERGE (the server's app.rs). A storage parameter cannot be set
        // on the partitioned index itself, so each partition's is set where it is not yet.
        //
        // ANALYZE leaves the id arrays alone (statistics target 0 on the columns and on the
        // index expression, of the parent and of every partition: a partition created later
        // does not take the parent's). It would compute their most common elements by
        // hashing every id of 30,000 sampled rows, each of up to a thousand ids that are
        // almost all distinct: measured under the benchmark's (a), one autovacuum worker
        // analyzing a partition took a quarter of the machine's CPU while it ran, half of
        // what PostgreSQL spent. Nothing reads those statistics but the planner's estimate
        // for the access log's `&&`, whose default (no statistics) picks the same index.
        let sql = format!(
            "/* maintenance */ DO $$ DECLARE r record; \
               tables oid[] := ARRAY(SELECT 'audit_reads'::regclass::oid \
                                     UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_reads'::regclass); \
             BEGIN \
             FOR r IN SELECT x.indexrelid::regclass AS i FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid \
               JOIN pg_am a ON a.oid = c.relam \
              WHERE x.indrelid = ANY(tables) AND c.relkind = 'i' AND a.amname = 'gin' \
                AND NOT coalesce(c.reloptions, '{{}}') @> ARRAY['gin_pending_list_limit={AUDIT_PENDING_LIST_KB}'] \
             LOOP EXECUTE format('ALTER INDEX %s SET (gin_pending_list_limit = {AUDIT_PENDING_LIST_KB})', r.i); END LOOP; \
             FOR r IN SELECT t.attrelid::regclass AS rel, t.attname, t.attnum, x.indexrelid IS NOT NULL AS is_index \
               FROM pg_attribute t LEFT JOIN pg_index x ON x.indexrelid = t.attrelid \
              WHERE t.attnum > 0 AND NOT t.attisdropped AND t.attstattarget IS DISTINCT FROM 0 \
                AND ((t.attrelid = ANY(tables) AND t.attname IN ('record_ids', 'record_types', 'index_ids')) \
                  OR (x.indrelid = ANY(tables) AND x.indkey[t.attnum - 1] = 0 \
                      AND (SELECT amname FROM pg_am JOIN pg_class ON pg_class.relam = pg_am.oid \
                            WHERE pg_class.oid = x.indexrelid) = 'gin')) \
             LOOP \
               IF r.is_index THEN EXECUTE format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS 0', r.rel, r.attnum); \
               ELSE EXECUTE format('ALTER TABLE ONLY %s ALTER COLUMN %I SET STATISTICS 0', r.rel, r.attname); END IF; \
             END LOOP; END $$"
        );
        if let Err(e) = self.conn().execute_unprepared(&sql).await {
            // The inserts then merge the list themselves at PostgreSQL's default limit, and
            // autovacuum analyzes the id arrays.
            tracing::warn!(error = %e, "the audit trail's index and statistics settings could not be applied");
        }
        Ok(failed)
    }

    /// Merges the pending entries of the audit trail's record index into the index
    /// (PostgreSQL; nothing on SQLite), and returns how many pending pages it merged.
    ///
    /// Each request's reads are one `audit_reads` row whose `record_ids` hold every record
    /// shown (about 850 for a page of 50 families), indexed by GIN. GIN appends new
    /// entries to a pending list, and the insert that finds the list over its limit
    /// (`gin_pending_list_limit`, 4 MB) merges all of it into the index first: measured on
    /// the 10,000-family set, one audit insert in about a hundred took up to 400 ms. The
    /// audit writer commits every request's reads in turn, so that one insert held up every
    /// response behind it (p99 330–390 ms on page (b) at 8 connections). Merging the list
    /// from a connection of its own keeps it short: an insert that finds another backend
    /// merging does not wait for it. Measured the same way, p99 fell to 120–140 ms and
    /// throughput rose about 10 %.
    ///
    /// How often: a merge costs less per entry the more it merges at once (a page of
    /// families read again and again is the same record ids). Merged every 250 ms, the
    /// merges of page (b) at 8 connections took about 4 ms of the database's time per
    /// request; every 2 s, about 2 ms, and the database's CPU per request fell from 6.6–6.7
    /// to 5.5–5.9 ms. Two seconds of a busy service's reads overrun PostgreSQL's default
    /// pending limit of 4 MB, so `ensure_audit_partitions` raises each partition's index
    /// to [`AUDIT_PENDING_LIST_KB`]. An access log query scans the pending list too, at
    /// most those two seconds of reads.
    pub async fn merge_pending_audit_index(&self) -> Result<i64, StoreError> {
        if self.backend() != DbBackend::Postgres {
            return Ok(0);
        }
        let sql = "/* maintenance */ SELECT coalesce(sum(gin_clean_pending_list(i.indexrelid)), 0)::bigint AS merged \
                   FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid \
                   JOIN pg_class p ON p.oid = h.inhparent JOIN pg_class x ON x.oid = i.indexrelid \
                   JOIN pg_am a ON a.oid = x.relam WHERE p.relname = 'audit_reads' AND a.amname = 'gin'";
        debug_assert!(sql.starts_with(crate::MAINTENANCE));
        let row = self.conn().query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
        Ok(row.map(|r| r.try_get::<i64>("", "merged")).transpose()?.unwrap_or(0))
    }

    /// The names of the audit trail's partitions (PostgreSQL), oldest first.
    pub async fn audit_partitions(&self) -> Result<Vec<String>, StoreError> {
        if self.backend() != DbBackend::Postgres {
            return Ok(Vec::new());
        }
        let sql = "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                   JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_events' ORDER BY c.relname";
        let rows = self.conn().query_all_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
        rows.iter().map(|r| r.try_get::<String>("", "name").map_err(StoreError::from)).collect()
    }

    /// The audit events of one request: what it wrote and what it was shown.
    pub async fn audit_events_for_request(&self, request_id: &str) -> Result<Vec<records::AuditEvent>, StoreError> {
        records::all(
            audit_trail::Entity::find()
                .filter(audit_trail::Column::RequestId.eq(request_id))
                .order_by_asc(audit_trail::Column::Id)
                .all(self.conn())
                .await?,
        )
    }

    /// The audit events that name one record, oldest first.
    pub async fn audit_events_for_record(&self, record_id: Uuid) -> Result<Vec<records::AuditEvent>, StoreError> {
        records::all(
            audit_trail::Entity::find()
                .filter(audit_trail::Column::RecordId.eq(record_id))
                .order_by_asc(audit_trail::Column::Id)
                .all(self.conn())
                .await?,
        )
    }

    /// The change feed of the caller's organisation: changes to the records it owns,
    /// after `cursor` (a feed position; 0 for the start), in the order they became
    /// visible, up to `limit`. Every change committed before this call is sequenced first
    /// ([`Store::sequence_changes`]), so a reader sees what committed before it asked.
    pub async fn changes(&self, actor: &Actor, cursor: i64, limit: u64) -> Result<Vec<records::Change>, StoreError> {
        self.sequence_changes().await?;
        records::all(
            outbox::Entity::find()
                .filter(outbox::Column::OrganizationId.eq(actor.organization_id.as_uuid()))
                .filter(outbox::Column::Position.gt(cursor))
                .order_by_asc(outbox::Column::Position)
                .limit(limit)
                .all(self.conn())
                .await?,
        )
    }

    /// The position of the caller's organisation's latest change (0 when there is none),
    /// every committed change sequenced first: where a live reader that asks only for
    /// what comes next starts.
    pub async fn last_change_position(&self, actor: &Actor) -> Result<i64, StoreError> {
        self.sequence_changes().await?;
        let last = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::Position.max(), "position")
            .filter(outbox::Column::OrganizationId.eq(actor.organization_id.as_uuid()))
            .into_tuple::<Option<i64>>()
            .one(self.conn())
            .await?;
        Ok(last.flatten().unwrap_or(0))
    }

    /// How many sequenced changes the caller's organisation's feed holds in all.
    pub async fn count_changes(&self, actor: &Actor) -> Result<u64, StoreError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::OrganizationId.eq(actor.organization_id.as_uuid()))
            .filter(outbox::Column::Position.is_not_null())
            .count(self.conn())
            .await?)
    }

    /// Gives every committed change that has no feed position yet the next positions, in
    /// one short transaction, one relay at a time across all processes on the database
    /// (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock).
    ///
    /// This is what makes the feed's cursor exact. An outbox id is taken while its
    /// transaction is still open, so ids do not follow commit order; positions do: a
    /// transaction still open holds rows this relay cannot see, and they are given
    /// positions above every position handed out before, by a later relay. A reader that
    /// has passed position `p` is therefore never shown a change at or below `p` later,
    /// however long the transaction that wrote it stayed open.
    pub async fn sequence_changes(&self) -> Result<(), StoreError> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        let backend = self.backend();
        let pending = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::Position.is_null())
            .limit(1)
            .into_tuple::<i64>()
            .one(self.conn())
            .await?;
        if pending.is_none() {
            return Ok(());
        }
        let options = TransactionOptions {
            sqlite_transaction_mode: (backend == DbBackend::Sqlite).then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        // A connection the database ended while it sat idle fails its `BEGIN`, as a
        // write's does (`Db::begin`); nothing has begun, and another is taken.
        let mut tried = 1;
        let txn = loop {
            match self.pool().begin_with_options(options).await {
                Err(e) if tried < crate::connection::tries(self.pool()) && crate::connection::connection_lost(&e) => {
                    tried += 1;
                }
                begun => break begun?,
            }
        };
        if backend == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SEQUENCE_LOCK})")).await?;
        }
        // Under the lock, this statement's snapshot holds every position handed out so
        // far, so `MAX(position)` is the last one.
        txn.execute_unprepared(
            "UPDATE outbox SET position = s.position \
             FROM (SELECT id, (SELECT COALESCE(MAX(position), 0) FROM outbox) + ROW_NUMBER() OVER (ORDER BY id) \
                   AS position FROM outbox WHERE position IS NULL) AS s \
             WHERE outbox.id = s.id",
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Outbox rows after `cursor` (an outbox id; 0 for the start), in commit-id order.
    pub async fn outbox_after(&self, cursor: i64, limit: u64) -> Result<Vec<records::Change>, StoreError> {
        records::all(
            outbox::Entity::find()
                .filter(outbox::Column::Id.gt(cursor))
                .order_by_asc(outbox::Column::Id)
                .limit(limit)
                .all(self.conn())
                .await?,
        )
    }
}

/// The partition of an audit table that holds the month starting on `first`.
fn audit_partition_name(table: &str, first: NaiveDate) -> String {
    format!("{table}_y{:04}m{:02}", first.year(), first.month())
}

fn audit_query(actor: &Actor, filter: &AuditFilter) -> sea_orm::Select<audit_trail::Entity> {
    let mut query =
        audit_trail::Entity::find().filter(audit_trail::Column::OrganizationId.eq(actor.organization_id.as_uuid()));
    if let Some(from) = filter.from {
        query = query.filter(audit_trail::Column::OccurredAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_trail::Column::OccurredAt.lt(until));
    }
    if let Some(subject) = &filter.subject {
        query = query.filter(audit_trail::Column::Subject.eq(subject.as_str()));
    }
    if let Some(record) = filter.record_id {
        query = query.filter(audit_trail::Column::RecordId.eq(record));
    }
    query
}

/// The records about one person, table by table, each as a subquery of their ids: the
/// person's memberships and families, placements of the person as a child and of their
/// families' children, the visits, offers and arrangements of those placements, their
/// families' plans with goals, sub-goals and reviews, referrals, eligibility,
/// assignments and services, network map entries, and what is recorded about the person
/// themselves (identifiers, consents, parental-role support as client or other parent,
/// notifications as client or key person, KOPP interviews as client or participant).
/// What the access log looks for, and what the subject access report lists.
pub(crate) struct Related {
    pub families: sea_orm::sea_query::SelectStatement,
    pub memberships: sea_orm::sea_query::SelectStatement,
    pub placements: sea_orm::sea_query::SelectStatement,
    pub visits: sea_orm::sea_query::SelectStatement,
    pub offers: sea_orm::sea_query::SelectStatement,
    pub arrangements: sea_orm::sea_query::SelectStatement,
    pub plans: sea_orm::sea_query::SelectStatement,
    pub goals: sea_orm::sea_query::SelectStatement,
    pub sub_goals: sea_orm::sea_query::SelectStatement,
    pub reviews: sea_orm::sea_query::SelectStatement,
    pub referrals: sea_orm::sea_query::SelectStatement,
    pub eligibilities: sea_orm::sea_query::SelectStatement,
    pub assignments: sea_orm::sea_query::SelectStatement,
    pub services: sea_orm::sea_query::SelectStatement,
    pub network: sea_orm::sea_query::SelectStatement,
    pub identifiers: sea_orm::sea_query::SelectStatement,
    pub consents: sea_orm::sea_query::SelectStatement,
    pub notes: sea_orm::sea_query::SelectStatement,
    pub pillars: sea_orm::sea_query::SelectStatement,
    pub other_parent: sea_orm::sea_query::SelectStatement,
    pub notifications: sea_orm::sea_query::SelectStatement,
    pub interviews: sea_orm::sea_query::SelectStatement,
}

impl Related {
    pub(crate) fn of(person: PersonId) -> Self {
        use sea_orm::sea_query::{ExprTrait, IntoColumnRef, IntoTableRef, SelectStatement};
        let p = person.as_uuid();
        // The ids of `table`'s records whose `column` is one of `ids` (or is the person).
        fn ids_where(id: impl IntoColumnRef, table: impl IntoTableRef, condition: Condition) -> SelectStatement {
            Query::select().column(id).from(table).cond_where(condition).take()
        }
        let families = ids_where(
            family_member::Column::FamilyId,
            family_member::Entity,
            Condition::all().add(family_member::Column::PersonId.eq(p)),
        );
        let memberships = ids_where(
            family_member::Column::Id,
            family_member::Entity,
            Condition::all().add(family_member::Column::PersonId.eq(p)),
        );
        let placements = ids_where(
            placement::Column::Id,
            placement::Entity,
            Condition::any()
                .add(placement::Column::ChildId.eq(p))
                .add(placement::Column::FamilyId.in_subquery(families.clone())),
        );
        let under_placements = |id, table, column: sea_orm::sea_query::ColumnRef| {
            ids_where(id, table, Condition::all().add(Expr::col(column).in_subquery(placements.clone())))
        };
        let visits = under_placements(
            contact_visit::Column::Id.into_column_ref(),
            contact_visit::Entity.into_table_ref(),
            contact_visit::Column::PlacementId.into_column_ref(),
        );
        let offers = under_placements(
            support_offer::Column::Id.into_column_ref(),
            support_offer::Entity.into_table_ref(),
            support_offer::Column::PlacementId.into_column_ref(),
        );
        let arrangements = under_placements(
            visit_arrangement::Column::Id.into_column_ref(),
            visit_arrangement::Entity.into_table_ref(),
            visit_arrangement::Column::PlacementId.into_column_ref(),
        );
        let plans = ids_where(
            parent_action_plan::Column::Id,
            parent_action_plan::Entity,
            Condition::all().add(parent_action_plan::Column::FamilyId.in_subquery(families.clone())),
        );
        let goals = ids_where(
            plan_goal::Column::Id,
            plan_goal::Entity,
            Condition::all().add(plan_goal::Column::PlanId.in_subquery(plans.clone())),
        );
        let sub_goals = ids_where(
            sub_goal::Column::Id,
            sub_goal::Entity,
            Condition::all().add(sub_goal::Column::GoalId.in_subquery(goals.clone())),
        );
        let reviews = ids_where(
            plan_review::Column::Id,
            plan_review::Entity,
            Condition::all().add(plan_review::Column::PlanId.in_subquery(plans.clone())),
        );
        let referrals = ids_where(
            referral::Column::Id,
            referral::Entity,
            Condition::all().add(referral::Column::FamilyId.in_subquery(families.clone())),
        );
        let eligibilities = ids_where(
            service_eligibility::Column::Id,
            service_eligibility::Entity,
            Condition::any()
                .add(service_eligibility::Column::ChildId.eq(p))
                .add(service_eligibility::Column::CaregiverId.eq(p)),
        );
        let assignments = ids_where(
            family_partner_assignment::Column::Id,
            family_partner_assignment::Entity,
            Condition::any()
                .add(family_partner_assignment::Column::CaregiverId.eq(p))
                .add(family_partner_assignment::Column::EligibilityId.in_subquery(eligibilities.clone())),
        );
        let services = ids_where(
            family_partner_service::Column::Id,
            family_partner_service::Entity,
            Condition::any()
                .add(family_partner_service::Column::RecipientId.eq(p))
                .add(family_partner_service::Column::AssignmentId.in_subquery(assignments.clone())),
        );
        // The network maps of the person's families, and the entries that name them as a helper.
        let network = ids_where(
            network_map_entry::Column::Id,
            network_map_entry::Entity,
            Condition::any()
                .add(network_map_entry::Column::PersonId.eq(p))
                .add(network_map_entry::Column::FamilyId.in_subquery(families.clone())),
        );
        // What is recorded about the person themselves: identifiers, consents, parental-role
        // support as the client or as the other parent, notifications as client or key
        // person, KOPP interviews as client or participant.
        let identifiers = ids_where(
            person_identifier::Column::Id,
            person_identifier::Entity,
            Condition::all().add(person_identifier::Column::PersonId.eq(p)),
        );
        let consents =
            ids_where(consent::Column::Id, consent::Entity, Condition::all().add(consent::Column::PersonId.eq(p)));
        let notes = ids_where(
            parental_support_note::Column::Id,
            parental_support_note::Entity,
            Condition::all().add(parental_support_note::Column::ClientId.eq(p)),
        );
        let pillars = ids_where(
            resilience_pillar_record::Column::Id,
            resilience_pillar_record::Entity,
            Condition::all().add(resilience_pillar_record::Column::ClientId.eq(p)),
        );
        let other_parent = ids_where(
            other_parent_support::Column::Id,
            other_parent_support::Entity,
            Condition::any()
                .add(other_parent_support::Column::ClientId.eq(p))
                .add(other_parent_support::Column::OtherParentId.eq(p)),
        );
        let notifications = ids_where(
            key_person_notification::Column::Id,
            key_person_notification::Entity,
            Condition::any()
                .add(key_person_notification::Column::ClientId.eq(p))
                .add(key_person_notification::Column::KeyPersonId.eq(p)),
        );
        let interviews = ids_where(
            kopp_interview::Column::Id,
            kopp_interview::Entity,
            Condition::any().add(kopp_interview::Column::ClientId.eq(p)).add(kopp_interview::Column::Id.in_subquery(
                ids_where(
                    kopp_participant::Column::InterviewId,
                    kopp_participant::Entity,
                    Condition::all().add(kopp_participant::Column::PersonId.eq(p)),
                ),
            )),
        );
        Self {
            families,
            memberships,
            placements,
            visits,
            offers,
            arrangements,
            plans,
            goals,
            sub_goals,
            reviews,
            referrals,
            eligibilities,
            assignments,
            services,
            network,
            identifiers,
            consents,
            notes,
            pillars,
            other_parent,
            notifications,
            interviews,
        }
    }

    fn all(&self) -> [&sea_orm::sea_query::SelectStatement; 22] {
        [
            &self.families,
            &self.memberships,
            &self.placements,
            &self.visits,
            &self.offers,
            &self.arrangements,
            &self.plans,
            &self.goals,
            &self.sub_goals,
            &self.reviews,
            &self.referrals,
            &self.eligibilities,
            &self.assignments,
            &self.services,
            &self.network,
            &self.identifiers,
            &self.consents,
            &self.notes,
            &self.pillars,
            &self.other_parent,
            &self.notifications,
            &self.interviews,
        ]
    }
}

fn access_query(backend: DbBackend, person: PersonId) -> sea_orm::Select<audit_trail::Entity> {
    let p = person.as_uuid();
    let rel = Related::of(person);
    let mut related = Query::select().expr(Expr::val(p)).take();
    for ids in rel.all() {
        related.union(UnionType::All, ids.clone());
    }
    // One IN over the union, so that the database hashes the related ids once rather
    // than testing two dozen subqueries for every row of the trail.
    let mut query = audit_trail::Entity::find().filter(audit_trail::Column::RecordId.in_subquery(related.clone()));
    if backend == DbBackend::Postgres {
        // The requests that showed any of these records, found through the GIN index on
        // the ids they are indexed by (a record's own, or its parent's where the record is
        // about a person exactly when the parent is: `Shown::indexed_as`; the parent is
        // then among the related records too), before their arrays are unpacked.
        query = query.filter(Expr::cust_with_expr(
            r#""audit_trail"."index_ids" && ARRAY($1)"#,
            Expr::SubQuery(None, Box::new(related.into())),
        ));
    }
    query
}

/// One request's reads, as the audit trail stores them.
fn read_batch(actor: &Actor, request_id: &str, reads: &[crate::scope::Shown]) -> ReadBatch {
    ReadBatch {
        occurred_at: Utc::now(),
        request_id: request_id.chars().take(64).collect(),
        subject: actor.subject.chars().take(256).collect(),
        organization_id: actor.organization_id.as_uuid(),
        roles: actor.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(","),
        reads: reads.to_vec(),
    }
}
