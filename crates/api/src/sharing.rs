//! Referrals to family services providers, and consents.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use kinbridge_domain::error::AtField;
use kinbridge_domain::ids::{ConsentId, FamilyId, OrganizationId, PersonId, ReferralId};
use kinbridge_domain::organization::OrganizationKind as DomainOrganizationKind;
use kinbridge_domain::sharing::ReferralPeriod;
use kinbridge_domain::text::FreeText;
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;
use serde::Serialize;

use crate::context::{Caller, caller};
use crate::error::{ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::{Family, Person};
use crate::organizations::Organization;
use crate::scalars::{ConsentPurpose, Date, Timestamp};

/// A municipality's referral of a family to a family services provider. While it is
/// active, the provider sees the family.
#[derive(Debug, Clone)]
pub struct Referral(pub(crate) records::Referral);

#[Object]
impl Referral {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn family(&self, ctx: &Context<'_>) -> ApiResult<Family> {
        let c = caller(ctx)?;
        Ok(Family(c.reference(ctx, &catalogue::FAMILY, self.0.family_id).await?))
    }

    /// The family services provider the family is referred to.
    async fn provider(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.provider_id).await?))
    }

    async fn starts_on(&self) -> Date {
        Date(self.0.starts_on)
    }

    /// The first day the provider no longer has access.
    async fn ends_on(&self) -> Option<Date> {
        self.0.ends_on.map(Date)
    }

    /// Whether the provider has access today.
    async fn is_active(&self) -> bool {
        ReferralPeriod { starts_on: self.0.starts_on, ends_on: self.0.ends_on }.is_active(Utc::now().date_naive())
    }

    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A person's consent to share, for a purpose, with a recipient organisation.
#[derive(Debug, Clone)]
pub struct Consent(pub(crate) records::Consent);

#[Object]
impl Consent {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Who gave the consent.
    async fn person(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.person_id).await?))
    }

    async fn purpose(&self) -> ApiResult<ConsentPurpose> {
        Ok(self.0.purpose.into())
    }

    /// The organisation the data may be shared with.
    async fn recipient(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.recipient_id).await?))
    }

    async fn given_on(&self) -> Date {
        Date(self.0.given_on)
    }

    /// When the consent was revoked; from then on nothing more is shared under it.
    async fn revoked_at(&self) -> Option<Timestamp> {
        self.0.revoked_at.map(Timestamp)
    }

    /// Whether the consent stands: given, and not revoked.
    async fn is_active(&self) -> bool {
        self.0.revoked_at.is_none() && self.0.given_on <= Utc::now().date_naive()
    }
}

/// A record that a key person around the client's child (a teacher, a neighbour, a
/// grandparent) was notified, so they can give the child extra attention. Made only with
/// the client's permission, asked first.
#[derive(Debug, Clone)]
pub struct KeyPersonNotification(pub(crate) records::KeyPersonNotification);

#[Object]
impl KeyPersonNotification {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The client, a parent, who gave permission.
    async fn client(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.client_id).await?))
    }

    async fn key_person(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.key_person_id).await?))
    }

    async fn notified_on(&self) -> Date {
        Date(self.0.notified_on)
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct NotifyKeyPersonInput {
    /// The client: the parent whose child the key person is close to.
    pub client_id: ID,
    pub key_person_id: ID,
    pub notified_on: Date,
    /// What the key person was told, briefly.
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct NotifyKeyPersonPayload {
    pub notification: KeyPersonNotification,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreateReferralInput {
    pub family_id: ID,
    /// A registered family services provider.
    pub provider_id: ID,
    pub starts_on: Date,
    /// The first day access ends, if known.
    pub ends_on: Option<Date>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct EndReferralInput {
    pub id: ID,
    /// The first day the provider no longer has access.
    pub ends_on: Date,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct GiveConsentInput {
    /// Who gives the consent, a person of the caller's organisation: an adult member of
    /// one of its families with parental responsibility (`PARENT`, `OTHER_PARENT`,
    /// `PRIMARY_CAREGIVER`; at a mental health authority, the primary caregiver of an
    /// eligibility record), or the young person themself (`CHILD`) from
    /// `Organization.youngPersonConsentAge` on `givenOn`. Anyone else is `BAD_USER_INPUT`
    /// on `input.personId`.
    pub person_id: ID,
    pub purpose: ConsentPurpose,
    /// The organisation the data may be shared with; for notifying key people, the
    /// caller's own organisation.
    pub recipient_id: ID,
    pub given_on: Date,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct RevokeConsentInput {
    pub id: ID,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ReferralPayload {
    pub referral: Referral,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct ConsentPayload {
    pub consent: Consent,
}

#[derive(Default, Debug)]
pub struct SharingMutation;

#[Object]
impl SharingMutation {
    /// Refers one of the caller's families to a family services provider, which sees the
    /// family while the referral is active.
    async fn create_referral(&self, ctx: &Context<'_>, input: CreateReferralInput) -> ApiResult<ReferralPayload> {
        let c = caller(ctx)?;
        c.require_kind(DomainOrganizationKind::Municipality, "refer families")?;
        let family: FamilyId = id_arg("input.familyId", &input.family_id)?;
        let provider: OrganizationId = id_arg("input.providerId", &input.provider_id)?;
        let period = ReferralPeriod::new(input.starts_on.0, input.ends_on.map(|d| d.0)).map_err(in_input)?;
        let meta = c.write("createReferral", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_referral(&meta, family, provider, period).await.map_err(under("input"))?;
        referral_payload(c, id).await
    }

    /// Ends a referral; the provider's access ends with it.
    async fn end_referral(&self, ctx: &Context<'_>, input: EndReferralInput) -> ApiResult<ReferralPayload> {
        let c = caller(ctx)?;
        let id: ReferralId = id_arg("input.id", &input.id)?;
        let meta = c.write("endReferral", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.end_referral(&meta, id, input.ends_on.0).await.map_err(under("input"))?;
        referral_payload(c, id).await
    }

    /// Records a person's consent to share, for a purpose, with an organisation.
    async fn give_consent(&self, ctx: &Context<'_>, input: GiveConsentInput) -> ApiResult<ConsentPayload> {
        let c = caller(ctx)?;
        let person: PersonId = id_arg("input.personId", &input.person_id)?;
        let recipient: OrganizationId = id_arg("input.recipientId", &input.recipient_id)?;
        let meta = c.write("giveConsent", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .give_consent(&meta, person, input.purpose.into(), recipient, input.given_on.0)
            .await
            .map_err(under("input"))?;
        Ok(ConsentPayload { consent: Consent(c.store.consent(&c.reader(), id).await.api()?) })
    }

    /// Records that a key person was notified. Refused unless the client's consent to
    /// notify key people, given to the caller's organisation, stands on that day.
    async fn notify_key_person(
        &self,
        ctx: &Context<'_>,
        input: NotifyKeyPersonInput,
    ) -> ApiResult<NotifyKeyPersonPayload> {
        let c = caller(ctx)?;
        let client: PersonId = id_arg("input.clientId", &input.client_id)?;
        let key_person: PersonId = id_arg("input.keyPersonId", &input.key_person_id)?;
        let note = input.note.as_deref().map(FreeText::parse).transpose().at("note").map_err(in_input)?;
        let meta = c.write("notifyKeyPerson", input.idempotency_key.as_deref(), &input)?;
        let id = c
            .store
            .notify_key_person(&meta, client, key_person, input.notified_on.0, note.as_ref())
            .await
            .map_err(under("input"))?;
        Ok(NotifyKeyPersonPayload {
            notification: KeyPersonNotification(c.store.key_person_notification(&c.reader(), id).await.api()?),
        })
    }

    /// Revokes a consent. It takes effect on the next request that reads the data.
    async fn revoke_consent(&self, ctx: &Context<'_>, input: RevokeConsentInput) -> ApiResult<ConsentPayload> {
        let c = caller(ctx)?;
        let id: ConsentId = id_arg("input.id", &input.id)?;
        let meta = c.write("revokeConsent", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.revoke_consent(&meta, id).await.map_err(under("input"))?;
        Ok(ConsentPayload { consent: Consent(c.store.consent(&c.reader(), id).await.api()?) })
    }
}

async fn referral_payload(c: Caller<'_>, id: ReferralId) -> ApiResult<ReferralPayload> {
    Ok(ReferralPayload { referral: Referral(c.store.referral(&c.reader(), id).await.api()?) })
}
