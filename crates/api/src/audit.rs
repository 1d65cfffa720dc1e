//! The audit trail, for auditors of the same organisation.

use async_graphql::{
    Context, ID, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value,
};
use kinbridge_domain::access::Role;
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::PersonId;
use kinbridge_domain::text::FreeText;
use kinbridge_persistence::erasure::RetentionPolicy;
use kinbridge_persistence::records;
use kinbridge_persistence::trail::AuditFilter;
use serde::Serialize;

use crate::connection::{self, Conn, cost};
use crate::context::{Caller, any_caller};
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under};
use crate::scalars::Timestamp;

/// One access to personal data: who, what, when, from which request. Append-only.
#[derive(Debug, Clone)]
pub struct AuditEvent(records::AuditEvent);

#[Object]
impl AuditEvent {
    pub(crate) async fn id(&self) -> ID {
        ID(format!("aud_{}", self.0.id.simple()))
    }

    async fn occurred_at(&self) -> Timestamp {
        Timestamp(self.0.occurred_at)
    }

    /// The token subject of the caller.
    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The caller's organisation's id.
    async fn organization_id(&self) -> ID {
        ID(self.0.organization_id.to_string())
    }

    /// The caller's roles, comma-separated.
    async fn roles(&self) -> &str {
        &self.0.roles
    }

    /// `read`, or the mutation that wrote.
    async fn operation(&self) -> &str {
        &self.0.operation
    }

    /// The GraphQL type of the record, such as `Person` or `Placement`.
    async fn record_type(&self) -> &str {
        &self.0.record_type
    }

    /// The record's id, in the UUID form the public ids carry after their prefix.
    async fn record_id(&self) -> String {
        self.0.record_id.simple().to_string()
    }

    async fn request_id(&self) -> &str {
        &self.0.request_id
    }
}

/// Narrows the audit trail.
#[derive(InputObject, Debug, Clone, Default)]
pub struct AuditEventFilter {
    /// From this time on.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// One token subject.
    pub subject: Option<String>,
    /// One record, by its public id (such as `per_…`).
    pub record_id: Option<ID>,
}

/// An auditor or the data-protection officer of the caller's organisation.
fn auditor<'a>(ctx: &Context<'a>) -> Result<Caller<'a>, ApiError> {
    let c = any_caller(ctx)?;
    if !c.actor.oversees() {
        return Err(ApiError::forbidden(format!(
            "only the {} and {} roles can read the audit trail",
            Role::Auditor.as_str(),
            Role::DataProtectionOfficer.as_str()
        )));
    }
    Ok(c)
}

/// The subject access report: a JSON object whose shape `docs/subject-report.md`
/// describes, with its `version`.
#[derive(Debug, Clone)]
pub struct SubjectReport(serde_json::Value);

/// Everything an organisation holds about one person and who has seen it (GDPR art. 15),
/// as one JSON object: `version`, `generatedAt`, `organization`, `person`, `records` (a
/// list per kind of record) and `accessLog`. Its shape is described, version by version,
/// in Kinbridge's `docs/subject-report.md`.
#[Scalar(name = "SubjectReport")]
impl ScalarType for SubjectReport {
    /// Only ever answered, never given.
    fn parse(value: Value) -> InputValueResult<Self> {
        Err(InputValueError::expected_type(value))
    }

    fn is_valid(_: &Value) -> bool {
        false
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

#[derive(Default, Debug)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// For auditors: the audit trail of the caller's organisation, oldest first. Each
    /// reading is itself an event (`recordType: "AuditTrail"`, the organisation's id).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<AuditEvent>> {
        let c = auditor(ctx)?;
        let filter = filter.unwrap_or_default();
        let record_id = match &filter.record_id {
            None => None,
            Some(id) => Some(
                id.split_once('_')
                    .and_then(|(_, hex)| uuid::Uuid::try_parse(hex).ok())
                    .ok_or_else(|| ApiError::bad_input("filter.recordId", "is not a record id"))?,
            ),
        };
        let filter = AuditFilter {
            from: filter.from.map(|t| t.0),
            until: filter.until.map(|t| t.0),
            subject: match filter.subject {
                Some(s) if s.chars().any(char::is_control) => {
                    return Err(ApiError::bad_input("filter.subject", "must not contain control characters").into());
                }
                subject => subject,
            },
            record_id,
        };
        // Reading the trail is itself in the trail: under the organisation whose trail it is.
        c.reader().read_audit_trail();
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.audit_events(c.actor, &filter, req).await,
            async || c.store.count_audit_events(c.actor, &filter).await,
            |e| format!("aud_{}", e.id.simple()),
            AuditEvent,
        )
        .await
    }

    /// For auditors of the organisation that owns the person: who has seen or changed
    /// this person's data, in any organisation, oldest first. Each reading is itself an
    /// event (`recordType: "AccessLog"`), listed in the person's log.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<AuditEvent>> {
        let c = auditor(ctx)?;
        let person: PersonId = id_arg("personId", &person_id)?;
        if !c.store.owns_person(c.actor, person).await.api()? {
            return Err(ApiError::NotFound { record_type: "Person" }.into());
        }
        // Who read whose access log is itself in the trail, and in that person's log.
        c.reader().read_access_log(person);
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.access_log(c.actor, person, req).await,
            async || c.store.count_access_log(c.actor, person).await,
            |e| format!("aud_{}", e.id.simple()),
            AuditEvent,
        )
        .await
    }

    /// For auditors and the data-protection officer of the organisation that owns the
    /// person: the subject access report (GDPR art. 15), everything the organisation
    /// holds about the person and their access log, as one JSON document
    /// (`kinbridge subject-report --person ID` prints the same). Asking for it is itself
    /// in the person's access log (`recordType: "SubjectReport"`), and so is every record
    /// it lists.
    async fn subject_report(&self, ctx: &Context<'_>, person_id: ID) -> ApiResult<SubjectReport> {
        let c = auditor(ctx)?;
        let person: PersonId = id_arg("personId", &person_id)?;
        Ok(SubjectReport(c.store.subject_report(&c.reader(), person).await.api()?))
    }
}

/// Erases a person at their request (GDPR art. 17).
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ErasePersonInput {
    /// The person, of the caller's organisation.
    pub person_id: ID,
    /// Why, as the data-protection officer decided: recorded with the erasure.
    pub reason: String,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ErasurePayload {
    /// The erased person; reading them now shows `[erased]` for every name.
    pub person_id: ID,
    pub erased_at: Timestamp,
}

#[derive(Default, Debug)]
pub struct ErasureMutation;

#[Object]
impl ErasureMutation {
    /// For the data-protection officer of the organisation that owns the person: erases
    /// the person at their request, where no retention duty stands against it (a family
    /// of theirs with an open placement, or one that ended less than the retention
    /// period ago, is `CONFLICT` naming the duty). Their names and birth date become
    /// `[erased]`, their identifiers are deleted, and the texts of the records about them
    /// (support notes, interviews, notifications, network map entries) are emptied; the
    /// records, the trail of who read and wrote them, and who decided stay. The change
    /// feed carries `person.erased`, so that connected systems erase their copies.
    async fn erase_person(&self, ctx: &Context<'_>, input: ErasePersonInput) -> ApiResult<ErasurePayload> {
        let c = any_caller(ctx)?;
        if !c.actor.has_role(Role::DataProtectionOfficer) {
            return Err(ApiError::forbidden(format!(
                "only the {} role can erase a person",
                Role::DataProtectionOfficer.as_str()
            ))
            .into());
        }
        let person: PersonId = id_arg("input.personId", &input.person_id)?;
        let reason = FreeText::parse(&input.reason).at("reason").map_err(in_input)?;
        let policy = ctx.data_opt::<RetentionPolicy>().copied().unwrap_or_default();
        let meta = c.write("erasePerson", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.erase_person_on_request(&meta, person, &reason, &policy).await.map_err(under("input"))?;
        let erased_at = c
            .store
            .erased_at(id.as_uuid())
            .await
            .api()?
            .ok_or_else(|| ApiError::internal(&"an erasure without its record"))?;
        Ok(ErasurePayload { person_id: ID(id.to_string()), erased_at: Timestamp(erased_at) })
    }
}
