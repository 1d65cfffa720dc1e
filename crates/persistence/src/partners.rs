//! Family partners, service eligibility, assignments and services (002).

use chrono::NaiveDate;
use kinbridge_domain::ValidationError;
use kinbridge_domain::access::Actor;
use kinbridge_domain::ids::{
    FamilyPartnerAssignmentId, FamilyPartnerId, FamilyPartnerServiceId, PersonId, ServiceEligibilityId,
};
use kinbridge_domain::partner::{
    Certification, CertificationStatus, ServiceActivity, ServiceMinutes, ensure_service_recipient,
};
use kinbridge_domain::person::NewPerson;
use kinbridge_domain::placement::Period;
use kinbridge_domain::text::ExternalId;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::Store;
use crate::entities::{family_partner, family_partner_assignment, family_partner_service, person, service_eligibility};
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::WriteMeta;

impl Store {
    /// Registers a family partner. `subject` is the token subject they sign in as, so that
    /// with the `FAMILY_PARTNER` role they see their own assignments only.
    pub async fn create_family_partner(
        &self,
        meta: &WriteMeta<'_>,
        name: &NewPerson,
        certification: &Certification,
        subject: Option<&ExternalId>,
    ) -> Result<FamilyPartnerId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(FamilyPartnerId::from_uuid(id));
        }
        // The token subject decides what a partner sees: one partner per subject.
        if let Some(subject) = subject {
            let existing = family_partner::Entity::find()
                .filter(family_partner::Column::OrganizationId.eq(tx.organization_id()))
                .filter(family_partner::Column::Subject.eq(subject.as_str()))
                .one(&tx.reads())
                .await?;
            if let Some(existing) = existing {
                return Err(StoreError::Conflict {
                    message: "a family partner with this token subject already exists".into(),
                    existing_id: Some(FamilyPartnerId::from_uuid(existing.id).to_string()),
                });
            }
        }
        let id = FamilyPartnerId::new();
        let (certified_on, renewal_due, training_deadline) = match *certification {
            Certification::Certified { certified_on, renewal_due } => (Some(certified_on), Some(renewal_due), None),
            Certification::Pending { training_deadline } => (None, None, Some(training_deadline)),
        };
        tx.insert(family_partner::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            given_name: Set(name.given_name.as_str().to_owned()),
            family_name: Set(name.family_name.as_str().to_owned()),
            certification_status: Set(certification.status().as_str().to_owned()),
            certified_on: Set(certified_on),
            renewal_due: Set(renewal_due),
            training_deadline: Set(training_deadline),
            subject: Set(subject.map(|s| s.as_str().to_owned())),
        })
        .await?;
        tx.record("FamilyPartner", id.as_uuid(), &id.to_string(), "family_partner.created").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records that a child is eligible for services at the caller's authority, naming the
    /// child's primary caregiver. Both are persons of the caller's organisation.
    pub async fn record_eligibility(
        &self,
        meta: &WriteMeta<'_>,
        child_id: PersonId,
        caregiver_id: PersonId,
        from: NaiveDate,
        to: Option<NaiveDate>,
    ) -> Result<ServiceEligibilityId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ServiceEligibilityId::from_uuid(id));
        }
        kinbridge_domain::partner::eligibility_period(from, to)?;
        if child_id == caregiver_id {
            return Err(ValidationError::new("primaryCaregiverId", "the primary caregiver is not the child").into());
        }
        expect_person(&tx.reads(), tx.actor(), child_id, "childId").await?;
        expect_person(&tx.reads(), tx.actor(), caregiver_id, "primaryCaregiverId").await?;
        let id = ServiceEligibilityId::new();
        tx.insert(service_eligibility::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            child_id: Set(child_id.as_uuid()),
            caregiver_id: Set(caregiver_id.as_uuid()),
            eligible_from: Set(from),
            eligible_to: Set(to),
        })
        .await?;
        tx.record("ServiceEligibility", id.as_uuid(), &id.to_string(), "service_eligibility.recorded").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Assigns a family partner to the primary caregiver of an eligible child. The child
    /// must be eligible on the start date, and the partner certified or within the
    /// deadline to complete training.
    pub async fn assign_family_partner(
        &self,
        meta: &WriteMeta<'_>,
        partner_id: FamilyPartnerId,
        eligibility_id: ServiceEligibilityId,
        start_date: NaiveDate,
    ) -> Result<FamilyPartnerAssignmentId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(FamilyPartnerAssignmentId::from_uuid(id));
        }
        let partner = family_partner::Entity::find_by_id(partner_id.as_uuid())
            .filter(owned_by(family_partner::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or_else(|| ValidationError::new("familyPartnerId", "no such family partner"))?;
        certification_of(&partner)?.ensure_may_take_assignment(tx.now.date_naive(), start_date)?;
        let eligibility = service_eligibility::Entity::find_by_id(eligibility_id.as_uuid())
            .filter(owned_by(service_eligibility::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or_else(|| ValidationError::new("eligibilityId", "no such service eligibility"))?;
        let eligible =
            Period { start: eligibility.eligible_from, end: eligibility.eligible_to.and_then(|t| t.succ_opt()) };
        if !eligible.contains(start_date) {
            return Err(ValidationError::new("startDate", "the child is not eligible for services on this date").into());
        }
        let id = FamilyPartnerAssignmentId::new();
        tx.insert(family_partner_assignment::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            family_partner_id: Set(partner.id),
            eligibility_id: Set(eligibility.id),
            caregiver_id: Set(eligibility.caregiver_id),
            start_date: Set(start_date),
            end_date: Set(None),
        })
        .await?;
        tx.record("FamilyPartnerAssignment", id.as_uuid(), &id.to_string(), "family_partner_assignment.created")
            .await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Records a service delivered under an assignment. Services go to the assignment's
    /// primary caregiver and never to the child.
    pub async fn record_partner_service(
        &self,
        meta: &WriteMeta<'_>,
        assignment_id: FamilyPartnerAssignmentId,
        recipient_id: PersonId,
        date: NaiveDate,
        minutes: ServiceMinutes,
        activity: ServiceActivity,
    ) -> Result<FamilyPartnerServiceId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(FamilyPartnerServiceId::from_uuid(id));
        }
        // A family partner records services on their own assignments only. The assignment
        // is locked, so that it cannot be handed to another partner before this commits.
        tx.lock::<family_partner_assignment::Entity>(assignment_id.as_uuid()).await?;
        let assignment = family_partner_assignment::Entity::find_by_id(assignment_id.as_uuid())
            .filter(crate::authz::assignment_holder(&tx.scope()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("FamilyPartnerAssignment"))?;
        let eligibility = service_eligibility::Entity::find_by_id(assignment.eligibility_id)
            .one(&tx.reads())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("assignment {} has no eligibility", assignment.id)))?;
        ensure_service_recipient(
            recipient_id,
            PersonId::from_uuid(assignment.caregiver_id),
            PersonId::from_uuid(eligibility.child_id),
        )?;
        if date < assignment.start_date {
            return Err(ValidationError::new("date", "the service predates the assignment").into());
        }
        let id = FamilyPartnerServiceId::new();
        tx.insert(family_partner_service::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            assignment_id: Set(assignment.id),
            recipient_id: Set(recipient_id.as_uuid()),
            service_date: Set(date),
            minutes: Set(i32::from(minutes.get())),
            activity: Set(activity.as_str().to_owned()),
        })
        .await?;
        tx.record("FamilyPartnerService", id.as_uuid(), &id.to_string(), "family_partner_service.recorded").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    pub async fn family_partner(
        &self,
        r: &Reader<'_>,
        id: FamilyPartnerId,
    ) -> Result<records::FamilyPartner, StoreError> {
        let found = family_partner::Entity::find_by_id(id.as_uuid())
            .filter(scope::partners(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("FamilyPartner"))?;
        r.saw("FamilyPartner", found.id);
        found.try_into()
    }

    pub async fn family_partners(
        &self,
        r: &Reader<'_>,
        req: PageRequest,
    ) -> Result<Page<records::FamilyPartner>, StoreError> {
        let page =
            page::fetch(self.conn(), partners_query(r), page::Order::by_id(family_partner::Column::Id), req).await?;
        page.items.iter().for_each(|p| r.saw("FamilyPartner", p.id));
        page.read()
    }

    pub async fn count_family_partners(&self, r: &Reader<'_>) -> Result<u64, StoreError> {
        Ok(partners_query(r).count(self.conn()).await?)
    }

    pub async fn service_eligibility(
        &self,
        r: &Reader<'_>,
        id: ServiceEligibilityId,
    ) -> Result<records::ServiceEligibility, StoreError> {
        let found = service_eligibility::Entity::find_by_id(id.as_uuid())
            .filter(scope::eligibilities(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("ServiceEligibility"))?;
        r.saw("ServiceEligibility", found.id);
        found.try_into()
    }

    pub async fn family_partner_assignment(
        &self,
        r: &Reader<'_>,
        id: FamilyPartnerAssignmentId,
    ) -> Result<records::FamilyPartnerAssignment, StoreError> {
        let found = family_partner_assignment::Entity::find_by_id(id.as_uuid())
            .filter(scope::assignments(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("FamilyPartnerAssignment"))?;
        r.saw("FamilyPartnerAssignment", found.id);
        found.try_into()
    }

    pub async fn family_partner_service(
        &self,
        r: &Reader<'_>,
        id: FamilyPartnerServiceId,
    ) -> Result<records::FamilyPartnerService, StoreError> {
        let found = family_partner_service::Entity::find_by_id(id.as_uuid())
            .filter(scope::services(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("FamilyPartnerService"))?;
        r.saw("FamilyPartnerService", found.id);
        found.try_into()
    }
}

/// The certification a stored partner row describes.
fn certification_of(row: &family_partner::Model) -> Result<Certification, StoreError> {
    let status: CertificationStatus = row.certification_status.parse()?;
    Certification::parse(status, row.certified_on, row.renewal_due, row.training_deadline)
        .map_err(|e| StoreError::Corrupt(format!("family partner {}: {e}", row.id)))
}

impl records::FamilyPartner {
    /// The certification this partner holds, with its deadlines.
    pub fn certification(&self) -> Result<Certification, StoreError> {
        Certification::parse(self.certification_status, self.certified_on, self.renewal_due, self.training_deadline)
            .map_err(|e| StoreError::Corrupt(format!("family partner {}: {e}", self.id)))
    }
}

fn partners_query(r: &Reader<'_>) -> sea_orm::Select<family_partner::Entity> {
    family_partner::Entity::find().filter(scope::partners(r))
}

async fn expect_person<C: ConnectionTrait>(db: &C, actor: &Actor, id: PersonId, field: &str) -> Result<(), StoreError> {
    person::Entity::find_by_id(id.as_uuid())
        .filter(owned_by(person::Column::OrganizationId, actor))
        .one(db)
        .await?
        .map(|_| ())
        .ok_or_else(|| ValidationError::new(field, "no such person").into())
}
