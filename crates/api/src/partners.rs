//! Family partners, service eligibility, assignments and services (002).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{FamilyPartnerAssignmentId, FamilyPartnerId, PersonId, ServiceEligibilityId};
use kinbridge_domain::organization::OrganizationKind as DomainOrganizationKind;
use kinbridge_domain::partner::{Certification, ServiceMinutes};
use kinbridge_domain::person::NewPerson;
use kinbridge_domain::text::{ExternalId, Name};
use kinbridge_domain::when;
use serde::Serialize;

use crate::connection::{self, Conn, cost};
use crate::context::caller;
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::Person;
use crate::loader;
use crate::scalars::{CertificationStatus, Date, ServiceActivity, Timestamp};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;

/// A family partner of a mental health authority: a caregiver with lived experience who
/// serves the primary caregiver of an eligible child.
#[derive(Debug, Clone)]
pub struct FamilyPartner(pub(crate) records::FamilyPartner);

#[Object]
impl FamilyPartner {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn given_name(&self) -> &str {
        &self.0.given_name
    }

    async fn family_name(&self) -> &str {
        &self.0.family_name
    }

    async fn certification_status(&self) -> ApiResult<CertificationStatus> {
        Ok(self.0.certification_status.into())
    }

    async fn certified_on(&self) -> Option<Date> {
        self.0.certified_on.map(Date)
    }

    async fn renewal_due(&self) -> Option<Date> {
        self.0.renewal_due.map(Date)
    }

    /// For a partner pending certification: the day by which approved training must be
    /// completed. After it, the partner takes no new assignment.
    async fn training_deadline(&self) -> Option<Date> {
        self.0.training_deadline.map(Date)
    }

    /// The date that matters next: the training deadline while pending certification, the
    /// renewal once certified.
    async fn deadline(&self) -> ApiResult<Date> {
        Ok(Date(self.0.certification().map_err(ApiError::from)?.deadline()))
    }

    /// How many current assignments the partner has.
    async fn caseload(&self, ctx: &Context<'_>) -> ApiResult<i32> {
        let c = caller(ctx)?;
        let n = c
            .lookup(ctx, "partner_caseloads", self.0.id, async |ids| c.store.partner_caseloads(&c.reader(), &ids).await)
            .await?
            .unwrap_or(0);
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// The token subject the partner signs in as.
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The partner's assignments, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn assignments(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<FamilyPartnerAssignment>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PARTNER_ASSIGNMENTS,
            self.0.id,
            |a| a.id.to_string(),
            FamilyPartnerAssignment,
        )
        .await
    }

    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A child's eligibility for services at a mental health authority.
#[derive(Debug, Clone)]
pub struct ServiceEligibility(pub(crate) records::ServiceEligibility);

#[Object]
impl ServiceEligibility {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn child(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.child_id).await?))
    }

    async fn primary_caregiver(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.caregiver_id).await?))
    }

    async fn eligible_from(&self) -> Date {
        Date(self.0.eligible_from)
    }

    /// The last day of eligibility, if it ends.
    async fn eligible_to(&self) -> Option<Date> {
        self.0.eligible_to.map(Date)
    }
}

/// A family partner's assignment to the primary caregiver of an eligible child.
#[derive(Debug, Clone)]
pub struct FamilyPartnerAssignment(pub(crate) records::FamilyPartnerAssignment);

#[Object]
impl FamilyPartnerAssignment {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn family_partner(&self, ctx: &Context<'_>) -> ApiResult<FamilyPartner> {
        let c = caller(ctx)?;
        Ok(FamilyPartner(c.reference(ctx, &catalogue::FAMILY_PARTNER, self.0.family_partner_id).await?))
    }

    async fn eligibility(&self, ctx: &Context<'_>) -> ApiResult<ServiceEligibility> {
        let c = caller(ctx)?;
        Ok(ServiceEligibility(c.reference(ctx, &catalogue::ELIGIBILITY, self.0.eligibility_id).await?))
    }

    /// The caregiver the partner serves. Services never go to the child.
    async fn primary_caregiver(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.caregiver_id).await?))
    }

    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }

    async fn end_date(&self) -> Option<Date> {
        self.0.end_date.map(Date)
    }

    /// The services delivered under this assignment, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn services(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<FamilyPartnerService>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::ASSIGNMENT_SERVICES,
            self.0.id,
            |s| s.id.to_string(),
            FamilyPartnerService,
        )
        .await
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

/// One family partner service delivered to a primary caregiver.
#[derive(Debug, Clone)]
pub struct FamilyPartnerService(pub(crate) records::FamilyPartnerService);

#[Object]
impl FamilyPartnerService {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn date(&self) -> Date {
        Date(self.0.service_date)
    }

    async fn minutes(&self) -> i32 {
        self.0.minutes
    }

    /// Whole 15-minute units, the unit services are counted in.
    async fn units(&self) -> i32 {
        self.0.minutes / 15
    }

    async fn activity(&self) -> ApiResult<ServiceActivity> {
        Ok(self.0.activity.into())
    }

    /// The caregiver who received the service.
    async fn recipient(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.recipient_id).await?))
    }
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreateFamilyPartnerInput {
    pub given_name: String,
    pub family_name: String,
    pub certification_status: CertificationStatus,
    /// Required when `CERTIFIED`.
    pub certified_on: Option<Date>,
    /// Required when `CERTIFIED`.
    pub renewal_due: Option<Date>,
    /// Required when `PENDING_CERTIFICATION`.
    pub training_deadline: Option<Date>,
    /// The token subject the partner signs in as; with the `FAMILY_PARTNER` role they then
    /// see their own assignments only.
    pub subject: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordServiceEligibilityInput {
    /// The eligible child, a person of the caller's authority.
    pub child_id: ID,
    /// The child's primary caregiver, whom family partners serve.
    pub primary_caregiver_id: ID,
    pub eligible_from: Date,
    /// The last day of eligibility, if known.
    pub eligible_to: Option<Date>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AssignFamilyPartnerInput {
    pub family_partner_id: ID,
    pub eligibility_id: ID,
    pub start_date: Date,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RecordFamilyPartnerServiceInput {
    pub assignment_id: ID,
    /// Who received the service: the assignment's primary caregiver, never the child.
    pub recipient_id: ID,
    pub date: Date,
    /// From 1 to 720.
    pub minutes: i64,
    pub activity: ServiceActivity,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreateFamilyPartnerPayload {
    pub family_partner: FamilyPartner,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct RecordServiceEligibilityPayload {
    pub eligibility: ServiceEligibility,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AssignFamilyPartnerPayload {
    pub assignment: FamilyPartnerAssignment,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct RecordFamilyPartnerServicePayload {
    pub service: FamilyPartnerService,
}

#[derive(Default, Debug)]
pub struct PartnerQuery;

#[Object]
impl PartnerQuery {
    async fn family_partner(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<FamilyPartner>> {
        let c = caller(ctx)?;
        let id: FamilyPartnerId = id_arg("id", &id)?;
        Ok(Some(FamilyPartner(c.store.family_partner(&c.reader(), id).await.api()?)))
    }

    /// The caller's family partners, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn family_partners(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<FamilyPartner>> {
        let c = caller(ctx)?;
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.family_partners(&c.reader(), req).await,
            async || c.store.count_family_partners(&c.reader()).await,
            |p| p.id.to_string(),
            FamilyPartner,
        )
        .await
    }

    async fn service_eligibility(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ServiceEligibility>> {
        let c = caller(ctx)?;
        let id: ServiceEligibilityId = id_arg("id", &id)?;
        Ok(Some(ServiceEligibility(c.store.service_eligibility(&c.reader(), id).await.api()?)))
    }

    /// One of the caller's family partner assignments. Another organisation's is `NOT_FOUND`.
    async fn family_partner_assignment(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<FamilyPartnerAssignment>> {
        let c = caller(ctx)?;
        let id: FamilyPartnerAssignmentId = id_arg("id", &id)?;
        Ok(Some(FamilyPartnerAssignment(c.store.family_partner_assignment(&c.reader(), id).await.api()?)))
    }
}

#[derive(Default, Debug)]
pub struct PartnerMutation;

const WHAT: &str = "manage family partners and their assignments";

/// A family partner records the services they deliver; assigning partners and recording
/// eligibility is for the authority's other roles.
fn require_manager(c: &crate::context::Caller<'_>) -> Result<(), crate::error::ApiError> {
    c.require_kind(DomainOrganizationKind::MentalHealthAuthority, WHAT)?;
    if c.actor.is_family_partner_only() {
        return Err(crate::error::ApiError::forbidden(
            "a family partner records services; the authority's managers assign partners",
        ));
    }
    Ok(())
}

#[Object]
impl PartnerMutation {
    /// Registers a family partner of the caller's mental health authority.
    async fn create_family_partner(
        &self,
        ctx: &Context<'_>,
        input: CreateFamilyPartnerInput,
    ) -> ApiResult<CreateFamilyPartnerPayload> {
        let c = caller(ctx)?;
        require_manager(&c)?;
        let name = NewPerson {
            given_name: Name::parse(&input.given_name).at("givenName").map_err(in_input)?,
            family_name: Name::parse(&input.family_name).at("familyName").map_err(in_input)?,
            birth_date: None,
            identifiers: vec![],
        };
        let certification = Certification::parse(
            input.certification_status.into(),
            input.certified_on.map(|d| d.0),
            input.renewal_due.map(|d| d.0),
            input.training_deadline.map(|d| d.0),
        )
        .map_err(in_input)?;
        if let Some(certified_on) = input.certified_on {
            when::has_happened("certifiedOn", certified_on.0, c.today()).map_err(in_input)?;
        }
        let subject = input.subject.as_deref().map(ExternalId::parse).transpose().at("subject").map_err(in_input)?;
        let meta = c.write("createFamilyPartner", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .create_family_partner(&meta, &name, &certification, subject.as_ref())
            .await
            .map_err(under("input"))?;
        Ok(CreateFamilyPartnerPayload {
            family_partner: FamilyPartner(c.store.family_partner(&c.reader(), id).await.api()?),
        })
    }

    /// Records that a child is eligible for services at the caller's authority.
    async fn record_service_eligibility(
        &self,
        ctx: &Context<'_>,
        input: RecordServiceEligibilityInput,
    ) -> ApiResult<RecordServiceEligibilityPayload> {
        let c = caller(ctx)?;
        require_manager(&c)?;
        let child: PersonId = id_arg("input.childId", &input.child_id)?;
        let caregiver: PersonId = id_arg("input.primaryCaregiverId", &input.primary_caregiver_id)?;
        let meta = c.write("recordServiceEligibility", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .record_eligibility(&meta, child, caregiver, input.eligible_from.0, input.eligible_to.map(|d| d.0))
            .await
            .map_err(under("input"))?;
        Ok(RecordServiceEligibilityPayload {
            eligibility: ServiceEligibility(c.store.service_eligibility(&c.reader(), id).await.api()?),
        })
    }

    /// Assigns a family partner to the primary caregiver of an eligible child. A partner
    /// past the training deadline without certification gets no new assignment.
    async fn assign_family_partner(
        &self,
        ctx: &Context<'_>,
        input: AssignFamilyPartnerInput,
    ) -> ApiResult<AssignFamilyPartnerPayload> {
        let c = caller(ctx)?;
        require_manager(&c)?;
        let partner: FamilyPartnerId = id_arg("input.familyPartnerId", &input.family_partner_id)?;
        let eligibility: ServiceEligibilityId = id_arg("input.eligibilityId", &input.eligibility_id)?;
        let meta = c.write("assignFamilyPartner", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .assign_family_partner(&meta, partner, eligibility, input.start_date.0)
            .await
            .map_err(under("input"))?;
        Ok(AssignFamilyPartnerPayload {
            assignment: FamilyPartnerAssignment(c.store.family_partner_assignment(&c.reader(), id).await.api()?),
        })
    }

    /// Records a service delivered to the primary caregiver under an assignment.
    async fn record_family_partner_service(
        &self,
        ctx: &Context<'_>,
        input: RecordFamilyPartnerServiceInput,
    ) -> ApiResult<RecordFamilyPartnerServicePayload> {
        let c = caller(ctx)?;
        c.require_kind(DomainOrganizationKind::MentalHealthAuthority, WHAT)?;
        let assignment: FamilyPartnerAssignmentId = id_arg("input.assignmentId", &input.assignment_id)?;
        let recipient: PersonId = id_arg("input.recipientId", &input.recipient_id)?;
        let minutes = ServiceMinutes::new(input.minutes).at("minutes").map_err(in_input)?;
        let date = when::has_happened("date", input.date.0, c.today()).map_err(in_input)?;
        let meta = c.write("recordFamilyPartnerService", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .record_partner_service(&meta, assignment, recipient, date, minutes, input.activity.into())
            .await
            .map_err(under("input"))?;
        Ok(RecordFamilyPartnerServicePayload {
            service: FamilyPartnerService(c.store.family_partner_service(&c.reader(), id).await.api()?),
        })
    }
}
