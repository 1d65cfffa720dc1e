//! What a resolver knows of its request: the store, the verified caller, the request id.

use async_graphql::Context;
use chrono::{NaiveDate, Utc};
use std::sync::Arc;

use kinbridge_domain::access::Actor;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_persistence::scope::{ReadLog, Reader};
use kinbridge_persistence::{Idempotency, Store, WriteMeta};
use serde::Serialize;

use crate::error::ApiError;
use crate::loader::Batches;

/// Put into every request's data by the HTTP layer, after the token is verified.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub actor: Actor,
    pub request_id: String,
    /// What the caller is shown; written to the audit trail before the response leaves.
    pub reads: Arc<ReadLog>,
    /// The request's open batches of nested reads (see `loader.rs`).
    pub(crate) batches: Arc<Batches>,
    /// When the request read the change feed: how far behind the reader is after it.
    pub feed_lag: Arc<FeedLag>,
    /// How its trees of records were answered (see `level.rs`).
    pub read_paths: Arc<ReadPaths>,
}

impl RequestContext {
    pub fn new(actor: Actor, request_id: String) -> Self {
        Self {
            actor,
            request_id,
            reads: Arc::default(),
            batches: Arc::default(),
            feed_lag: Arc::default(),
            read_paths: Arc::default(),
        }
    }
}

/// How far behind the change feed's reader is after this request: the age of the oldest
/// change it has not read yet, zero when it has read them all; `None` when the request did
/// not read the feed. A request that reads it twice keeps the larger.
#[derive(Debug, Default)]
pub struct FeedLag(std::sync::Mutex<Option<std::time::Duration>>);

impl FeedLag {
    pub(crate) fn record(&self, lag: std::time::Duration) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(slot.map_or(lag, |seen| seen.max(lag)));
        }
    }

    pub fn get(&self) -> Option<std::time::Duration> {
        self.0.lock().ok().and_then(|slot| *slot)
    }
}

/// How a request's root fields that read trees of records (`family`, `families`) were
/// answered: rendered a level at a time, or left to async-graphql field by field.
#[derive(Debug, Default)]
pub struct ReadPaths {
    level: std::sync::atomic::AtomicU32,
    per_field: std::sync::atomic::AtomicU32,
}

impl ReadPaths {
    pub(crate) fn count(&self, rendered: bool) {
        let counter = if rendered { &self.level } else { &self.per_field };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Root fields rendered a level at a time, and those resolved field by field.
    pub fn get(&self) -> (u32, u32) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.level.load(Relaxed), self.per_field.load(Relaxed))
    }
}

/// A verified caller within a resolver.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub store: &'a Store,
    pub actor: &'a Actor,
    pub request_id: &'a str,
    reads: &'a ReadLog,
    pub(crate) batches: &'a Batches,
}

/// The caller of this request, whatever its roles.
pub(crate) fn any_caller<'a>(ctx: &Context<'a>) -> Result<Caller<'a>, ApiError> {
    let request = ctx.data_opt::<RequestContext>().ok_or(ApiError::Unauthenticated)?;
    let store = ctx.data::<Store>().map_err(|e| ApiError::internal(&e.message))?;
    Ok(Caller {
        store,
        actor: &request.actor,
        request_id: &request.request_id,
        reads: &request.reads,
        batches: &request.batches,
    })
}

/// The caller of this request, who must be allowed to handle personal data: every role
/// but the auditor's.
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> Result<Caller<'a>, ApiError> {
    let caller = any_caller(ctx)?;
    if !caller.actor.handles_personal_data() {
        return Err(ApiError::forbidden("the caller's roles give no access to personal data"));
    }
    Ok(caller)
}

impl<'a> Caller<'a> {
    /// The caller as a reader: every store read is scoped to what it may see and logged.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.actor, self.today(), self.reads)
    }

    /// Today's date, for rules about the future and the past.
    pub fn today(&self) -> NaiveDate {
        Utc::now().date_naive()
    }

    /// Refuses callers whose organisation is not of `kind`, saying what only such an
    /// organisation does.
    pub fn require_kind(&self, kind: OrganizationKind, what: &str) -> Result<(), ApiError> {
        if self.actor.organization_kind == kind {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("only a {} can {what}", kind.as_str().to_lowercase().replace('_', " "))))
        }
    }

    /// The write metadata of a mutation: who, which request, which operation, and the
    /// idempotency key with a hash of the input it came with.
    pub fn write(
        &self,
        operation: &'static str,
        idempotency_key: Option<&str>,
        input: &impl Serialize,
    ) -> Result<WriteMeta<'a>, ApiError> {
        let idempotency = match idempotency_key {
            None => None,
            Some(key) => {
                let key = key.trim();
                if key.is_empty() || key.chars().count() > 200 || key.chars().any(char::is_control) {
                    return Err(ApiError::bad_input("input.idempotencyKey", "must be 1 to 200 printable characters"));
                }
                let value = serde_json::to_value(input).map_err(|e| ApiError::internal(&e))?;
                Some(Idempotency::new(key.to_owned(), &value))
            }
        };
        Ok(WriteMeta { actor: self.actor, request_id: self.request_id, operation, idempotency })
    }
}
