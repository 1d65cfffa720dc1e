//! Organisations: the directory every caller may read. They are registered by operators
//! (the `kinbridge` command and the demo data), not through the API.

use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use kinbridge_domain::sharing::ConsentAge;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::Store;
use crate::entities::organization;
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::write::{WriteMeta, system_actor, unique_to_conflict};

/// What registering an organisation from a list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryOutcome {
    Added,
    Renamed { from: String },
    Unchanged,
}

impl Store {
    /// Registers an organisation. Its kind and code are unique together. The audit trail
    /// names Kinbridge as the writer, on the new organisation's behalf. The registry is
    /// operator data, not an organisation's case record: it is audited, not in a change feed.
    pub async fn create_organization(&self, new: &NewOrganization) -> Result<OrganizationId, StoreError> {
        let id = OrganizationId::new();
        let actor = system_actor(id, new.kind);
        let meta =
            WriteMeta { actor: &actor, request_id: "register", operation: "registerOrganization", idempotency: None };
        let tx = self.begin_write(&meta).await?;
        let inserted = tx
            .insert(organization::ActiveModel {
                id: Set(id.as_uuid()),
                kind: Set(new.kind.as_str().to_owned()),
                name: Set(new.name.as_str().to_owned()),
                code: Set(new.code.as_str().to_owned()),
                created_at: Set(tx.now),
                disabled_at: Set(None),
                young_person_consent_age: Set(ConsentAge::DEFAULT.years().into()),
            })
            .await;
        unique_to_conflict(inserted, &format!("a {} with code {} is already registered", new.kind, new.code))?;
        tx.audit("Organization", id.as_uuid()).await?;
        tx.commit(id.as_uuid()).await?;
        self.registry.forget_all();
        Ok(id)
    }

    /// Registers the organisation of `new`'s kind and code, or gives the registered one
    /// `new`'s name: the step of an import, safe to repeat and to run from several
    /// processes at once (they take turns on the kind and code). A disabled organisation
    /// stays disabled.
    pub async fn register_or_rename_organization(
        &self,
        new: &NewOrganization,
    ) -> Result<(OrganizationId, RegistryOutcome), StoreError> {
        loop {
            let Some(found) = self.organization_by_code(new.kind, new.code.as_str()).await? else {
                match self.create_organization(new).await {
                    Ok(id) => return Ok((id, RegistryOutcome::Added)),
                    // Registered meanwhile by another process: read it again.
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e),
                }
            };
            if found.name == new.name.as_str() {
                return Ok((found.id, RegistryOutcome::Unchanged));
            }
            let actor = system_actor(found.id, found.kind);
            let meta =
                WriteMeta { actor: &actor, request_id: "register", operation: "renameOrganization", idempotency: None };
            let tx = self.begin_write(&meta).await?;
            let renamed = tx
                .update_where(
                    organization::Entity::update_many()
                        .col_expr(organization::Column::Name, Expr::value(new.name.as_str()))
                        .filter(organization::Column::Id.eq(found.id.as_uuid()))
                        .filter(organization::Column::Name.eq(found.name.as_str())),
                )
                .await?;
            if renamed == 0 {
                // Renamed meanwhile by another process: read it again.
                continue;
            }
            tx.audit("Organization", found.id.as_uuid()).await?;
            tx.commit(found.id.as_uuid()).await?;
            self.registry.forget_all();
            return Ok((found.id, RegistryOutcome::Renamed { from: found.name }));
        }
    }

    /// Disables or enables an organisation. A disabled organisation keeps its records, and
    /// its tokens are refused from the next request on (on other processes, from when they
    /// hear of the change: see [`TokenOrganizations`]). Returns whether this changed it.
    pub async fn set_organization_disabled(&self, id: OrganizationId, disabled: bool) -> Result<bool, StoreError> {
        let found = self.organization(id).await?;
        if found.disabled_at.is_some() == disabled {
            return Ok(false);
        }
        let actor = system_actor(found.id, found.kind);
        let operation = if disabled { "disableOrganization" } else { "enableOrganization" };
        let meta = WriteMeta { actor: &actor, request_id: "register", operation, idempotency: None };
        let tx = self.begin_write(&meta).await?;
        let at = if disabled { Some(tx.now) } else { None };
        let condition = if disabled {
            organization::Column::DisabledAt.is_null()
        } else {
            organization::Column::DisabledAt.is_not_null()
        };
        let changed = tx
            .update_where(
                organization::Entity::update_many()
                    .col_expr(organization::Column::DisabledAt, Expr::value(at))
                    .filter(organization::Column::Id.eq(id.as_uuid()))
                    .filter(condition),
            )
            .await?;
        if changed == 0 {
            return Ok(false);
        }
        tx.audit("Organization", id.as_uuid()).await?;
        tx.commit(id.as_uuid()).await?;
        self.registry.forget_all();
        Ok(true)
    }

    /// Sets the age from which the organisation's young persons give consent about their
    /// own case. Returns whether this changed it.
    pub async fn set_young_person_consent_age(&self, id: OrganizationId, age: ConsentAge) -> Result<bool, StoreError> {
        let found = self.organization(id).await?;
        if found.young_person_consent_age == age {
            return Ok(false);
        }
        let actor = system_actor(found.id, found.kind);
        let meta =
            WriteMeta { actor: &actor, request_id: "register", operation: "configureOrganization", idempotency: None };
        let tx = self.begin_write(&meta).await?;
        let years = i32::from(age.years());
        let changed = tx
            .update_where(
                organization::Entity::update_many()
                    .col_expr(organization::Column::YoungPersonConsentAge, Expr::value(years))
                    .filter(organization::Column::Id.eq(id.as_uuid()))
                    .filter(organization::Column::YoungPersonConsentAge.ne(years)),
            )
            .await?;
        if changed == 0 {
            return Ok(false);
        }
        tx.audit("Organization", id.as_uuid()).await?;
        tx.commit(id.as_uuid()).await?;
        self.registry.forget_all();
        Ok(true)
    }

    /// The organisation a token's claim names: by id (`org_…`), by `KIND:CODE`, or by a
    /// code only one kind of organisation has; `None` if it names none.
    ///
    /// On PostgreSQL, while this process listens for changes to the registry
    /// ([`TokenOrganizations`]), an organisation found enabled is remembered, and later
    /// requests with the same claim are answered without a statement.
    pub async fn token_organization(&self, claim: &str) -> Result<Option<records::Organization>, StoreError> {
        let generation = match self.registry.remembered(claim) {
            Remembered::Found(org) => return Ok(Some(org)),
            Remembered::Unknown(generation) => generation,
        };
        let found = self.organization_named(claim).await?;
        if let Some(org) = found.as_ref().filter(|org| org.disabled_at.is_none()) {
            self.registry.remember(claim, org, generation);
        }
        Ok(found)
    }

    /// The records of `ids` this process remembers, for a reference to organisations
    /// (`Reference::remembered`), and the generation to remember the others with: see
    /// [`TokenOrganizations`]. `R` is the reference's record type; another type than
    /// [`records::Organization`] finds nothing.
    pub(crate) fn remembered_organizations<R: Clone + 'static>(
        &self,
        ids: &[uuid::Uuid],
    ) -> (std::collections::HashMap<uuid::Uuid, R>, Option<u64>) {
        self.registry.remembered_ids(ids, |org| (org as &dyn std::any::Any).downcast_ref::<R>().cloned())
    }

    /// Remembers the organisations a reference read, with the generation
    /// [`Store::remembered_organizations`] gave before the read.
    pub(crate) fn remember_organizations<'a, R: 'static>(
        &self,
        read: impl Iterator<Item = &'a R>,
        generation: Option<u64>,
    ) {
        let orgs = read.filter_map(|r| (r as &dyn std::any::Any).downcast_ref::<records::Organization>());
        self.registry.remember_ids(orgs, generation);
    }

    /// Whether this process hears of every change to the organisation registry, and so
    /// remembers the organisations tokens name (PostgreSQL, once the listener of
    /// [`Store::spawn_feed_relay`] listens).
    pub fn hears_registry(&self) -> bool {
        self.registry.listening.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until this process has heard of every change to the registry committed before
    /// the call: it announces a mark of its own, which PostgreSQL delivers after all of
    /// them. For the tests that count statements, which must not find an organisation
    /// forgotten by a late announcement. `false` if the process does not listen, or did not
    /// hear the mark within ten seconds.
    pub async fn hear_registry_changes(&self) -> bool {
        if !self.hears_registry() {
            return false;
        }
        let mark = format!("{MARK}{}", uuid::Uuid::now_v7());
        let notify = format!("SELECT pg_notify('{}', '{mark}')", crate::signal::REGISTRY_CHANNEL);
        if sea_orm::ConnectionTrait::execute_unprepared(self.pool(), &notify).await.is_err() {
            return false;
        }
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            if *self.registry.last_heard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) == mark {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        false
    }

    async fn organization_named(&self, claim: &str) -> Result<Option<records::Organization>, StoreError> {
        if let Ok(id) = claim.parse::<OrganizationId>() {
            return match self.organization(id).await {
                Ok(org) => Ok(Some(org)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            };
        }
        if let Some((kind, code)) = claim.split_once(':') {
            let Ok(kind) = kind.parse::<OrganizationKind>() else { return Ok(None) };
            return self.organization_by_code(kind, code).await;
        }
        let mut found = self.organizations_with_code(claim).await?;
        Ok(if found.len() == 1 { found.pop() } else { None })
    }

    pub async fn organization(&self, id: OrganizationId) -> Result<records::Organization, StoreError> {
        organization::Entity::find_by_id(id.as_uuid())
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Organization"))?
            .try_into()
    }

    pub async fn organization_by_code(
        &self,
        kind: OrganizationKind,
        code: &str,
    ) -> Result<Option<records::Organization>, StoreError> {
        organization::Entity::find()
            .filter(organization::Column::Kind.eq(kind.as_str()))
            .filter(organization::Column::Code.eq(code))
            .one(self.conn())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// The organisations, of any kind, registered with this code.
    pub async fn organizations_with_code(&self, code: &str) -> Result<Vec<records::Organization>, StoreError> {
        records::all(organization::Entity::find().filter(organization::Column::Code.eq(code)).all(self.conn()).await?)
    }

    pub async fn organizations(
        &self,
        kind: Option<OrganizationKind>,
        req: PageRequest,
    ) -> Result<Page<records::Organization>, StoreError> {
        page::fetch(self.conn(), Self::organizations_query(kind), page::Order::by_id(organization::Column::Id), req)
            .await?
            .read()
    }

    pub async fn count_organizations(&self, kind: Option<OrganizationKind>) -> Result<u64, StoreError> {
        Ok(Self::organizations_query(kind).count(self.conn()).await?)
    }

    pub async fn count_all_organizations(&self) -> Result<u64, StoreError> {
        Ok(organization::Entity::find().count(self.conn()).await?)
    }

    fn organizations_query(kind: Option<OrganizationKind>) -> sea_orm::Select<organization::Entity> {
        let mut query = organization::Entity::find();
        if let Some(kind) = kind {
            query = query.filter(organization::Column::Kind.eq(kind.as_str()));
        }
        query
    }

    /// The organisation, if it exists and is of `kind`; otherwise a validation error on `field`.
    pub(crate) async fn expect_organization_kind<C: sea_orm::ConnectionTrait>(
        db: &C,
        id: OrganizationId,
        kind: OrganizationKind,
        field: &str,
    ) -> Result<(), StoreError> {
        let found = organization::Entity::find_by_id(id.as_uuid()).one(db).await?;
        match found {
            Some(org) if org.kind == kind.as_str() => Ok(()),
            _ => Err(kinbridge_domain::ValidationError::new(
                field,
                format!("is not a registered {}", kind.as_str().to_lowercase().replace('_', " ")),
            )
            .into()),
        }
    }
}

/// The enabled organisations that recent tokens named, by claim, so that a request does not
/// look its token's organisation up again: that statement was one of eight of a family's
/// page and one of 3.4 of the coordination query. Measured interleaved at 8 connections on
/// the benchmark's data, PostgreSQL's CPU per request fell about 8 % on a family's page and
/// the server's own about 11 % on the coordination query. The organisations references
/// name (`Reference::remembered`) are remembered by id in the same way, so that the
/// coordination view's `placingMunicipality`, say, is not a statement per request.
///
/// They are remembered only while this process listens on PostgreSQL's channel
/// `kinbridge_registry` (`signal.rs`), on which a trigger announces every committed change
/// to `organizations`, whoever made it (migration `m0017`), and all are forgotten on each
/// announcement, and when this process changes the registry itself. So a token of an
/// organisation disabled by this process is refused from the next request on, and one
/// disabled through another process (`kinbridge organizations disable`, another replica,
/// `psql`) from the moment PostgreSQL's notification reaches this one: at the commit, give
/// or take the notification's trip. While the listener is not listening (starting,
/// reconnecting, on SQLite, in a command) nothing is remembered and every request reads the
/// registry. A generation counter keeps a look-up that read the registry before a change
/// from remembering what it read after the change was announced.
#[derive(Debug, Default)]
pub struct TokenOrganizations {
    listening: std::sync::atomic::AtomicBool,
    entries: std::sync::Mutex<Entries>,
    /// The payload of the last announcement heard (see [`Store::hear_registry_changes`]).
    last_heard: std::sync::Mutex<String>,
}

#[derive(Debug, Default)]
struct Entries {
    generation: u64,
    by_claim: std::collections::HashMap<String, records::Organization>,
    /// The organisations references named (a placement's municipality or provider), as
    /// `Store::references` read them: public within the service, the same for every
    /// caller, and forgotten with the claims.
    by_id: std::collections::HashMap<uuid::Uuid, records::Organization>,
}

/// How the payload of a mark of [`Store::hear_registry_changes`] begins; the trigger's
/// announcements have none.
const MARK: &str = "heard:";

/// At most this many claims are remembered; the next one forgets them all. Claims come from
/// verified tokens, so this bounds the memory of an identity provider's many spellings,
/// not of an attacker.
const REMEMBERED: usize = 4096;

enum Remembered {
    Found(records::Organization),
    /// Not remembered: look it up, and remember it with this generation.
    Unknown(Option<u64>),
}

impl TokenOrganizations {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while the lock was held cannot leave the map half-changed in a way that
        // matters: at worst it forgets.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remembered(&self, claim: &str) -> Remembered {
        if !self.listening.load(std::sync::atomic::Ordering::Acquire) {
            return Remembered::Unknown(None);
        }
        let entries = self.entries();
        match entries.by_claim.get(claim) {
            Some(org) => Remembered::Found(org.clone()),
            None => Remembered::Unknown(Some(entries.generation)),
        }
    }

    fn remember(&self, claim: &str, org: &records::Organization, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        let mut entries = self.entries();
        if entries.generation != generation || !self.listening.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        if entries.by_claim.len() >= REMEMBERED {
            entries.by_claim.clear();
        }
        entries.by_claim.insert(claim.to_owned(), org.clone());
    }

    /// The organisations among `ids` remembered, by id, each as `pick` copies it (once), and
    /// the generation to remember the others with (`None` while not listening: nothing is
    /// remembered).
    fn remembered_ids<R>(
        &self,
        ids: &[uuid::Uuid],
        pick: impl Fn(&records::Organization) -> Option<R>,
    ) -> (std::collections::HashMap<uuid::Uuid, R>, Option<u64>) {
        if !self.listening.load(std::sync::atomic::Ordering::Acquire) {
            return (std::collections::HashMap::new(), None);
        }
        let entries = self.entries();
        let found = ids.iter().filter_map(|id| Some((*id, pick(entries.by_id.get(id)?)?))).collect();
        (found, Some(entries.generation))
    }

    fn remember_ids<'a>(&self, orgs: impl Iterator<Item = &'a records::Organization>, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        let mut entries = self.entries();
        if entries.generation != generation || !self.listening.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        for org in orgs {
            if entries.by_id.len() >= REMEMBERED {
                entries.by_id.clear();
            }
            entries.by_id.insert(org.id.as_uuid(), org.clone());
        }
    }

    /// An announcement on the registry's channel was heard: a change (forget everything),
    /// or a mark of [`Store::hear_registry_changes`] (nothing changed).
    pub(crate) fn heard(&self, payload: &str) {
        if !payload.starts_with(MARK) {
            self.forget_all();
        }
        payload.clone_into(&mut self.last_heard.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }

    /// The registry changed: forget every organisation.
    pub(crate) fn forget_all(&self) {
        let mut entries = self.entries();
        entries.generation = entries.generation.wrapping_add(1);
        entries.by_claim.clear();
        entries.by_id.clear();
    }

    /// Whether this process hears of every change to the registry; either way, forgets.
    pub(crate) fn set_listening(&self, listening: bool) {
        let mut entries = self.entries();
        self.listening.store(listening, std::sync::atomic::Ordering::Release);
        entries.generation = entries.generation.wrapping_add(1);
        entries.by_claim.clear();
        entries.by_id.clear();
    }
}
