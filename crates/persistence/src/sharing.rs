//! Referrals to family services providers, and consents.

use chrono::NaiveDate;
use kinbridge_domain::TransitionError;
use kinbridge_domain::ValidationError;
use kinbridge_domain::family::FamilyRole;
use kinbridge_domain::ids::{ConsentId, FamilyId, KeyPersonNotificationId, OrganizationId, PersonId, ReferralId};
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::sharing::{
    ConsentPurpose, ConsentRecord, ReferralPeriod, ensure_may_give_consent, ensure_may_notify_key_people,
};
use kinbridge_domain::text::FreeText;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::Store;
use crate::entities::{
    consent, family_member, key_person_notification, organization, person, referral, service_eligibility,
};
use crate::error::StoreError;
use crate::families::family_owned;
use crate::records;
use crate::scope::{self, Reader, owned_by};
use crate::write::{WriteMeta, WriteTx};

impl Store {
    /// Refers one of the caller's families to a family services provider, which then sees
    /// the family while the referral is active.
    pub async fn create_referral(
        &self,
        meta: &WriteMeta<'_>,
        family_id: FamilyId,
        provider_id: OrganizationId,
        period: ReferralPeriod,
    ) -> Result<ReferralId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ReferralId::from_uuid(id));
        }
        let family = family_owned(&tx.reads(), tx.actor(), family_id).await?;
        Store::expect_organization_kind(
            &tx.reads(),
            provider_id,
            OrganizationKind::FamilyServicesProvider,
            "providerId",
        )
        .await?;
        let id = ReferralId::new();
        tx.insert(referral::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            updated_at: Set(tx.now),
            version: Set(1),
            family_id: Set(family.id),
            provider_id: Set(provider_id.as_uuid()),
            starts_on: Set(period.starts_on),
            ends_on: Set(period.ends_on),
        })
        .await?;
        tx.record("Referral", id.as_uuid(), &id.to_string(), "referral.created").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Ends a referral on `ends_on`; the provider's access ends with it.
    pub async fn end_referral(
        &self,
        meta: &WriteMeta<'_>,
        id: ReferralId,
        ends_on: NaiveDate,
    ) -> Result<ReferralId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ReferralId::from_uuid(id));
        }
        let row = referral::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(referral::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Referral"))?;
        if row.ends_on.is_some_and(|end| end <= ends_on) {
            return Err(
                TransitionError(format!("the referral already ends on {}", row.ends_on.unwrap_or(ends_on))).into()
            );
        }
        ReferralPeriod::new(row.starts_on, Some(ends_on))?;
        tx.update::<referral::Entity>("referral", row.id, row.version, |u| {
            u.col_expr(referral::Column::EndsOn, Expr::value(ends_on))
        })
        .await?;
        tx.record("Referral", row.id, &id.to_string(), "referral.ended").await?;
        tx.commit(row.id).await?;
        Ok(id)
    }

    /// The referral, for the municipality that made it or the provider it went to.
    pub async fn referral(&self, r: &Reader<'_>, id: ReferralId) -> Result<records::Referral, StoreError> {
        let found = referral::Entity::find_by_id(id.as_uuid())
            .filter(referrals_visible(r))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Referral"))?;
        r.saw("Referral", found.id);
        found.try_into()
    }

    /// Records a person's consent, for a purpose, to a recipient organisation. The person
    /// belongs to the caller's organisation, and the recipient is of the kind the purpose
    /// names (for notifying key people, the caller itself).
    pub async fn give_consent(
        &self,
        meta: &WriteMeta<'_>,
        person_id: PersonId,
        purpose: ConsentPurpose,
        recipient_id: OrganizationId,
        given_on: NaiveDate,
    ) -> Result<ConsentId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ConsentId::from_uuid(id));
        }
        // The organisation that owns the person records any consent of theirs; a provider
        // treating them as a parent records the consents about its own records.
        let giver = match person::Entity::find_by_id(person_id.as_uuid())
            .filter(owned_by(person::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
        {
            Some(owned) => owned,
            None => {
                let treated = person::Entity::find_by_id(person_id.as_uuid())
                    .filter(scope::clients(&tx.scope()))
                    .one(&tx.reads())
                    .await?
                    .ok_or(StoreError::not_found("Person"))?;
                if !purpose.recorded_by_the_treating_provider() {
                    return Err(ValidationError::new(
                        "purpose",
                        "a provider records consent to share its own records only \
                         (SHARE_PARENTAL_SUPPORT_WITH_MUNICIPALITY, NOTIFY_KEY_PEOPLE); the responsible municipality records the others",
                    )
                    .into());
                }
                treated
            }
        };
        let roles = consent_roles(&tx, person_id).await?;
        let age = organization::Entity::find_by_id(tx.organization_id())
            .one(&tx.reads())
            .await?
            .map(records::Organization::try_from)
            .transpose()?
            .ok_or(StoreError::not_found("Organization"))?
            .young_person_consent_age;
        ensure_may_give_consent(&roles, giver.birth_date, given_on, age)?;
        match purpose.recipient_kind() {
            Some(kind) => Store::expect_organization_kind(&tx.reads(), recipient_id, kind, "recipientId").await?,
            None if recipient_id == tx.actor().organization_id => {}
            None => {
                return Err(ValidationError::new(
                    "recipientId",
                    "consent to notify key people is given to the organisation that notifies them",
                )
                .into());
            }
        }
        let id = ConsentId::new();
        tx.insert(consent::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            person_id: Set(person_id.as_uuid()),
            purpose: Set(purpose.as_str().to_owned()),
            recipient_id: Set(recipient_id.as_uuid()),
            given_on: Set(given_on),
            revoked_at: Set(None),
        })
        .await?;
        tx.record("Consent", id.as_uuid(), &id.to_string(), "consent.given").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    /// Revokes a consent. It takes effect on the next request that reads the data.
    pub async fn revoke_consent(&self, meta: &WriteMeta<'_>, id: ConsentId) -> Result<ConsentId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(ConsentId::from_uuid(id));
        }
        let row = consent::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(consent::Column::OrganizationId, tx.actor()))
            .one(&tx.reads())
            .await?
            .ok_or(StoreError::not_found("Consent"))?;
        if row.revoked_at.is_some() {
            return Err(TransitionError("the consent is already revoked".into()).into());
        }
        let updated = tx
            .update_where(
                consent::Entity::update_many()
                    .col_expr(consent::Column::RevokedAt, Expr::value(tx.now))
                    .filter(consent::Column::Id.eq(row.id))
                    .filter(consent::Column::RevokedAt.is_null()),
            )
            .await?;
        if updated != 1 {
            return Err(TransitionError("the consent is already revoked".into()).into());
        }
        tx.record("Consent", row.id, &id.to_string(), "consent.revoked").await?;
        tx.commit(row.id).await?;
        Ok(id)
    }

    /// A consent recorded by the caller's organisation.
    pub async fn consent(&self, r: &Reader<'_>, id: ConsentId) -> Result<records::Consent, StoreError> {
        let found = consent::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(consent::Column::OrganizationId, r.actor))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("Consent"))?;
        r.saw("Consent", found.id);
        found.try_into()
    }
}

/// The roles from which `person` may give consent in the caller's organisation: their
/// roles in the families it sees (its own; for a provider, those referred to it), and, at a mental health authority, primary caregiver or child
/// of one of its eligibility records (002).
async fn consent_roles(tx: &WriteTx<'_>, person: PersonId) -> Result<Vec<FamilyRole>, StoreError> {
    let org = tx.organization_id();
    let p = person.as_uuid();
    let mut roles = family_member::Entity::find()
        .filter(scope::members(&tx.scope()))
        .filter(family_member::Column::PersonId.eq(p))
        .all(&tx.reads())
        .await?
        .into_iter()
        .map(|m| m.role.parse::<FamilyRole>())
        .collect::<Result<Vec<_>, _>>()?;
    let eligibilities = service_eligibility::Entity::find()
        .filter(service_eligibility::Column::OrganizationId.eq(org))
        .filter(
            Condition::any()
                .add(service_eligibility::Column::CaregiverId.eq(p))
                .add(service_eligibility::Column::ChildId.eq(p)),
        )
        .all(&tx.reads())
        .await?;
    for e in eligibilities {
        roles.push(if e.caregiver_id == p { FamilyRole::PrimaryCaregiver } else { FamilyRole::Child });
    }
    Ok(roles)
}

pub(crate) fn referrals_visible(r: &Reader<'_>) -> Condition {
    let org = r.actor.organization_id.as_uuid();
    Condition::any().add(referral::Column::OrganizationId.eq(org)).add(referral::Column::ProviderId.eq(org))
}

impl Store {
    /// Records that a key person around the client's child was notified. Refused unless
    /// the client's consent to notify key people, given to the caller's organisation,
    /// stands on the day of the notification: permission is asked first.
    pub async fn notify_key_person(
        &self,
        meta: &WriteMeta<'_>,
        client_id: PersonId,
        key_person_id: PersonId,
        notified_on: NaiveDate,
        note: Option<&FreeText>,
    ) -> Result<KeyPersonNotificationId, StoreError> {
        let tx = self.begin_write(meta).await?;
        if let Some(id) = tx.replayed().await? {
            return Ok(KeyPersonNotificationId::from_uuid(id));
        }
        // The client is someone the caller supports as a parent; the key person someone it
        // sees (its own, or a member of the family referred to it).
        for (person, field, visible) in [
            (client_id, "clientId", scope::clients(&tx.scope())),
            (key_person_id, "keyPersonId", scope::persons(&tx.scope())),
        ] {
            let found = person::Entity::find_by_id(person.as_uuid()).filter(visible).one(&tx.reads()).await?;
            if found.is_none() {
                return Err(ValidationError::new(field, "no such person").into());
            }
        }
        if client_id == key_person_id {
            return Err(ValidationError::new("keyPersonId", "a key person is someone other than the client").into());
        }
        crate::families::ensure_role_beside(
            &tx,
            client_id,
            key_person_id,
            "keyPersonId",
            kinbridge_domain::family::beside::KEY_PERSON,
            "a key person",
        )
        .await?;
        let consents: Vec<ConsentRecord> = consent::Entity::find()
            .filter(consent::Column::PersonId.eq(client_id.as_uuid()))
            .filter(consent::Column::RecipientId.eq(tx.organization_id()))
            .filter(consent::Column::Purpose.eq(ConsentPurpose::NotifyKeyPeople.as_str()))
            .all(&tx.reads())
            .await?
            .into_iter()
            .map(|c| ConsentRecord {
                purpose: ConsentPurpose::NotifyKeyPeople,
                given_on: c.given_on,
                revoked_on: c.revoked_at.map(|t| t.date_naive()),
            })
            .collect();
        ensure_may_notify_key_people(&consents, notified_on)?;
        let id = KeyPersonNotificationId::new();
        tx.insert(key_person_notification::ActiveModel {
            id: Set(id.as_uuid()),
            organization_id: Set(tx.organization_id()),
            created_at: Set(tx.now),
            client_id: Set(client_id.as_uuid()),
            key_person_id: Set(key_person_id.as_uuid()),
            notified_on: Set(notified_on),
            note: Set(note.map(|n| n.as_str().to_owned())),
        })
        .await?;
        tx.record("KeyPersonNotification", id.as_uuid(), &id.to_string(), "key_person.notified").await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
    }

    pub async fn key_person_notification(
        &self,
        r: &Reader<'_>,
        id: KeyPersonNotificationId,
    ) -> Result<records::KeyPersonNotification, StoreError> {
        let found = key_person_notification::Entity::find_by_id(id.as_uuid())
            .filter(owned_by(key_person_notification::Column::OrganizationId, r.actor))
            .one(self.conn())
            .await?
            .ok_or(StoreError::not_found("KeyPersonNotification"))?;
        r.saw("KeyPersonNotification", found.id);
        found.try_into()
    }
}
