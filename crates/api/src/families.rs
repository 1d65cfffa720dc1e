//! Families, their members, and persons.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use kinbridge_domain::ValidationError;
use kinbridge_domain::error::AtField;
use kinbridge_domain::family::{Membership, NewFamily};
use kinbridge_domain::ids::{FamilyId, OrganizationId, PersonId};
use kinbridge_domain::organization::OrganizationKind as DomainOrganizationKind;
use kinbridge_domain::person::{
    IdentifierKind as DomainIdentifierKind, IdentifierValue, NewPerson, PersonInput as DomainPersonInput,
};
use kinbridge_domain::text::ExternalId;
use kinbridge_persistence::families::{MemberPerson, NewMember};
use kinbridge_persistence::records;
use kinbridge_persistence::write::Outcome;
use serde::Serialize;

use crate::connection::{Conn, cost};
use crate::context::caller;
use crate::error::{ApiError, ApiResult, IntoApi, id_arg, in_input, under};
use crate::level::{self, Rendered};
use crate::loader;
use crate::network::NetworkMapEntry;
use crate::organizations::Organization;
use crate::parental::{KoppInterview, OtherParentSupportRecord, ParentalSupportNote, PillarState, pillar_states};
use crate::placements::Placement;
use crate::plans::ParentActionPlan;
use crate::scalars::{Date, FamilyRole, FamilyStatus, IdentifierKind, Timestamp};
use crate::sharing::{Consent, KeyPersonNotification, Referral};
use kinbridge_persistence::assoc::catalogue;

/// A family known to its responsible municipality.
#[derive(Debug, Clone)]
pub struct Family(pub(crate) records::Family);

#[Object]
impl Family {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The municipality's own case id for the family.
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    /// How caseworkers refer to the family.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whom other agencies contact about the family: the responsible caseworker.
    async fn caseworker_contact(&self) -> Option<&str> {
        self.0.caseworker_contact.as_deref()
    }

    /// The family's referrals to family services providers. A provider sees its own.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Referral>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::FAMILY_REFERRALS,
            self.0.id,
            |r| r.id.to_string(),
            Referral,
        )
        .await
    }

    /// The municipality responsible for the family.
    async fn responsible_municipality(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = caller(ctx)?;
        Ok(Organization(c.reference(ctx, &catalogue::ORGANIZATION, self.0.organization_id).await?))
    }

    /// Increases with every change; send it back as `expectedVersion` to detect lost updates.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }

    /// Where the family stands with the placements the caller sees, today.
    async fn status(&self, ctx: &Context<'_>) -> ApiResult<FamilyStatus> {
        let c = caller(ctx)?;
        let found = c
            .lookup(ctx, "family_statuses", self.0.id, async |ids| c.store.family_statuses(&c.reader(), &ids).await)
            .await?;
        Ok(found.unwrap_or(kinbridge_domain::family::FamilyStatus::NoPlacement).into())
    }

    /// What happened to the family across agencies, oldest first: placements decided,
    /// started and ended; visits planned, held, missed and cancelled (with who cancelled);
    /// reviews held with their progress; support offered, re-offered, accepted and
    /// declined; consents of its members given and revoked; referrals started and ended;
    /// family partner services to its members. Each entry is shown only if the caller may
    /// see the record behind it, and `totalCount` counts only those; reading it is audited
    /// like reading those records. `from` and `until` narrow it to a period (from
    /// inclusive, until exclusive), `kinds` to some kinds.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        from: Option<Timestamp>,
        until: Option<Timestamp>,
        kinds: Option<Vec<crate::scalars::TimelineKind>>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<crate::timeline::TimelineEntry>> {
        crate::timeline::resolve(
            ctx,
            kinbridge_persistence::timeline::TimelineOf::Family,
            self.0.id,
            (after, before, first, last),
            from,
            until,
            kinds,
        )
        .await
    }

    /// The family's network map (000, 001): who in the parents' network helps and how, in
    /// the order the entries were recorded, ended ones included.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn network_map(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<NetworkMapEntry>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::FAMILY_NETWORK_MAP,
            self.0.id,
            |e| e.id.to_string(),
            NetworkMapEntry,
        )
        .await
    }

    /// The family's members, in the order they were added.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<FamilyMember>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::FAMILY_MEMBERS,
            self.0.id,
            |m| m.id.to_string(),
            FamilyMember,
        )
        .await
    }

    /// The placements of the family's children, oldest first.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn placements(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Placement>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::FAMILY_PLACEMENTS,
            self.0.id,
            |p| p.id.to_string(),
            Placement,
        )
        .await
    }

    /// The parent action plans made with the family's parents.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn parent_action_plans(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ParentActionPlan>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::FAMILY_PLANS,
            self.0.id,
            |p| p.id.to_string(),
            ParentActionPlan,
        )
        .await
    }
}

crate::level::level!(Family, plain: ["id", "externalId", "name", "caseworkerContact", "version", "createdAt", "updatedAt"], nested: {
    "members" => crate::level::many(&catalogue::FAMILY_MEMBERS, FamilyMember),
    "placements" => crate::level::many(&catalogue::FAMILY_PLACEMENTS, Placement),
    "parentActionPlans" => crate::level::many(&catalogue::FAMILY_PLANS, ParentActionPlan),
    "responsibleMunicipality" => crate::level::one_via(&catalogue::FAMILY_MUNICIPALITY, |f: &Family| Some(f.0.organization_id.into()), Organization),
});

/// A person's membership of a family.
#[derive(Debug, Clone)]
pub struct FamilyMember(pub(crate) records::FamilyMember);

#[Object]
impl FamilyMember {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn role(&self) -> ApiResult<FamilyRole> {
        Ok(self.0.role.into())
    }

    async fn person(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.person_id).await?))
    }

    /// Where the member lives; always known for parents.
    async fn residence_municipality(&self, ctx: &Context<'_>) -> ApiResult<Option<Organization>> {
        let c = caller(ctx)?;
        match self.0.residence_municipality_id {
            None => Ok(None),
            Some(id) => Ok(Some(Organization(c.reference(ctx, &catalogue::ORGANIZATION, id).await?))),
        }
    }
}

crate::level::level!(FamilyMember, plain: ["id", "role"], nested: {
    "person" => crate::level::one_via(&catalogue::MEMBER_PERSON, |m: &FamilyMember| Some(m.0.person_id.into()), Person),
    "residenceMunicipality" => crate::level::one_via(
        &catalogue::MEMBER_RESIDENCE,
        |m: &FamilyMember| m.0.residence_municipality_id.map(Into::into),
        Organization
    ),
});

/// A person known to the caller's organisation.
#[derive(Debug, Clone)]
pub struct Person(pub(crate) records::Person);

#[Object]
impl Person {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn given_name(&self) -> &str {
        &self.0.given_name
    }

    async fn family_name(&self) -> &str {
        &self.0.family_name
    }

    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }

    /// Changes with every correction; send it back as `expectedVersion` of `correctPerson`.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The consents the person has given, as recorded by the caller's organisation.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Consent>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PERSON_CONSENTS,
            self.0.id,
            |x| x.id.to_string(),
            Consent,
        )
        .await
    }

    /// The key people notified for this client: the caller's own records, and another
    /// organisation's that the client consented to share with the caller
    /// (`SHARE_PARENTAL_SUPPORT_WITH_MUNICIPALITY`).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn key_person_notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<KeyPersonNotification>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PERSON_NOTIFICATIONS,
            self.0.id,
            |x| x.id.to_string(),
            KeyPersonNotification,
        )
        .await
    }

    /// Notes of how the person, as a client, was supported in the role as a parent: the
    /// caller's own, and those of the professional treating the client elsewhere (a
    /// family services provider) when the client consented to share them with the caller.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn parental_support_notes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<ParentalSupportNote>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PERSON_NOTES,
            self.0.id,
            |x| x.id.to_string(),
            ParentalSupportNote,
        )
        .await
    }

    /// The person's KOPP interviews, as a client.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn kopp_interviews(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<KoppInterview>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PERSON_KOPP,
            self.0.id,
            |x| x.id.to_string(),
            KoppInterview,
        )
        .await
    }

    /// Where each of the four pillars of the children's resilience stands, with its history.
    async fn resilience_pillars(&self, ctx: &Context<'_>) -> ApiResult<Vec<PillarState>> {
        let c = caller(ctx)?;
        let records = c
            .lookup(ctx, "pillar_records", self.0.id, async |ids| c.store.pillar_records(&c.reader(), &ids).await)
            .await?
            .unwrap_or_default();
        Ok(pillar_states(records)?)
    }

    /// What was done for the other parent.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn other_parent_support(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<OtherParentSupportRecord>> {
        loader::nested(
            ctx,
            (after, before, first, last),
            &catalogue::PERSON_OTHER_PARENT,
            self.0.id,
            |x| x.id.to_string(),
            OtherParentSupportRecord,
        )
        .await
    }

    /// The person's identifiers. National ids are personal data of the highest class:
    /// returned only to the organisation that owns the person.
    async fn identifiers(&self, ctx: &Context<'_>) -> ApiResult<Vec<PersonIdentifier>> {
        let c = caller(ctx)?;
        let rows = c
            .lookup(ctx, "person_identifiers", self.0.id, async |ids| {
                c.store.person_identifiers(&c.reader(), &ids).await
            })
            .await?
            .unwrap_or_default();
        rows.into_iter().map(PersonIdentifier::try_from).collect::<Result<_, ApiError>>().map_err(Into::into)
    }
}

crate::level::level!(Person, plain: ["id", "givenName", "familyName", "birthDate", "version"], nested: {});

/// An identifier `{system, value}` of a person.
#[derive(SimpleObject, Debug, Clone)]
pub struct PersonIdentifier {
    pub kind: IdentifierKind,
    /// Who issues the identifier, such as `DK-CPR` or a case system's name.
    pub system: String,
    pub value: String,
}

impl TryFrom<records::PersonIdentifier> for PersonIdentifier {
    type Error = ApiError;
    fn try_from(row: records::PersonIdentifier) -> Result<Self, ApiError> {
        Ok(Self { kind: row.kind.into(), system: row.system, value: row.value })
    }
}

/// A person to register.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PersonInput {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<Date>,
    pub identifiers: Option<Vec<PersonIdentifierInput>>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PersonIdentifierInput {
    pub kind: IdentifierKind,
    pub system: String,
    pub value: String,
}

impl PersonInput {
    pub(crate) fn to_domain(&self, today: NaiveDate) -> Result<NewPerson, ValidationError> {
        let identifiers: Vec<(DomainIdentifierKind, &str, &str)> =
            self.identifiers.iter().flatten().map(|i| (i.kind.into(), i.system.as_str(), i.value.as_str())).collect();
        NewPerson::parse(
            DomainPersonInput {
                given_name: &self.given_name,
                family_name: &self.family_name,
                birth_date: self.birth_date.map(|d| d.0),
                identifiers: &identifiers,
            },
            today,
        )
    }
}

/// A member to add: either `person` (a new person) or `personId` (one already known).
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct FamilyMemberInput {
    pub person: Option<PersonInput>,
    pub person_id: Option<ID>,
    pub role: FamilyRole,
    /// Where the member lives. Required for `PARENT`, `PRIMARY_CAREGIVER` and `OTHER_PARENT`.
    pub residence_municipality_id: Option<ID>,
}

impl FamilyMemberInput {
    fn to_domain(&self, today: NaiveDate) -> Result<NewMember, ValidationError> {
        let person = match (&self.person, &self.person_id) {
            (Some(p), None) => MemberPerson::New(p.to_domain(today).map_err(|e| e.under("person"))?),
            (None, Some(id)) => MemberPerson::Existing(id.parse::<PersonId>().map_err(|e| e.at("personId"))?),
            _ => return Err(ValidationError::new("person", "give either person or personId")),
        };
        let residence = self
            .residence_municipality_id
            .as_ref()
            .map(|id| id.parse::<OrganizationId>())
            .transpose()
            .map_err(|e| e.at("residenceMunicipalityId"))?;
        Ok(NewMember { person, membership: Membership::new(self.role.into(), residence)? })
    }
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreateFamilyInput {
    /// The municipality's own case id; unique within the municipality.
    pub external_id: Option<String>,
    pub name: String,
    /// Whom other agencies contact about the family: the caseworker's name and phone or e-mail.
    pub caseworker_contact: Option<String>,
    pub members: Option<Vec<FamilyMemberInput>>,
    /// Makes a retry safe: the same key with the same input returns the first result.
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct UpsertFamilyInput {
    /// The municipality's own case id: the family is found by it, or created with it.
    pub external_id: String,
    pub name: String,
    pub caseworker_contact: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct UpsertFamilyPayload {
    pub family: Family,
    /// Whether this call created the family (rather than updating it). A retry with the
    /// same idempotency key answers as the first call did.
    pub created: bool,
    /// Whether this call changed what was stored. An upsert of exactly what is stored
    /// changes nothing: no new version, nothing in the change feed.
    pub changed: bool,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AddFamilyMemberInput {
    pub family_id: ID,
    pub member: FamilyMemberInput,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CreatePersonInput {
    pub person: PersonInput,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreateFamilyPayload {
    pub family: Family,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct AddFamilyMemberPayload {
    pub family: Family,
    pub member: FamilyMember,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CreatePersonPayload {
    pub person: Person,
}

/// Narrows `families`: every field given must hold.
#[derive(InputObject, Debug, Clone, Default)]
pub struct FamilyFilter {
    /// Created or changed at or after this time: what a sync asks for since its last run.
    pub updated_since: Option<Timestamp>,
    /// The caller's own case id (exact match).
    pub external_id: Option<String>,
    /// Where the family stands with its placements today (`Family.status`).
    pub status: Option<FamilyStatus>,
}

#[derive(Default, Debug)]
pub struct FamilyQuery;

#[Object]
impl FamilyQuery {
    /// One of the caller's families. Another organisation's family is `NOT_FOUND`.
    async fn family(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Rendered<Family>>> {
        let c = caller(ctx)?;
        let id: FamilyId = id_arg("id", &id)?;
        let family = Family(c.store.family(&c.reader(), id).await.api()?);
        Ok(Some(level::object(ctx, family).await?))
    }

    /// The caller's family with this case id (the `externalId` it gave the family).
    /// Another organisation's case ids are never found.
    async fn family_by_external_id(&self, ctx: &Context<'_>, external_id: String) -> ApiResult<Option<Family>> {
        let c = caller(ctx)?;
        let external_id = crate::error::case_id_arg("externalId", &external_id)?;
        Ok(Some(Family(c.store.by_case_id(&c.reader(), &catalogue::FAMILY_CASE, external_id.as_str()).await.api()?)))
    }

    /// The caller's families, oldest first; `filter` narrows them (`totalCount` counts
    /// what it leaves).
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn families(
        &self,
        ctx: &Context<'_>,
        filter: Option<FamilyFilter>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Rendered<Conn<Family>>> {
        let c = caller(ctx)?;
        let filter = filter.unwrap_or_default();
        let filter = kinbridge_persistence::lists::FamilyFilter {
            updated_since: filter.updated_since.map(|t| t.0),
            external_id: match &filter.external_id {
                Some(id) => Some(crate::error::case_id_arg("filter.externalId", id)?.into_string()),
                None => None,
            },
            status: filter.status.map(Into::into),
        };
        level::connection(
            ctx,
            (after, before, first, last),
            async |req, count| c.store.families_where(&c.reader(), &filter, req, count).await,
            async || c.store.count_families_where(&c.reader(), &filter).await,
            Family,
        )
        .await
    }

    /// The caller's person with exactly this identifier, such as a national id. Found by
    /// exact match only; another organisation's persons are never found.
    async fn person_by_identifier(
        &self,
        ctx: &Context<'_>,
        kind: IdentifierKind,
        system: String,
        value: String,
    ) -> ApiResult<Option<Person>> {
        let c = caller(ctx)?;
        // Checked as a stored identifier is, so that what could never be stored (a
        // control character, which the database also refuses) is named, not looked up.
        let system = ExternalId::parse(&system).at("system").map_err(ApiError::from)?;
        let value = IdentifierValue::parse(&value).at("value").map_err(ApiError::from)?;
        Ok(Some(Person(
            c.store.person_by_identifier(&c.reader(), kind.into(), system.as_str(), value.as_str()).await.api()?,
        )))
    }

    /// One person known to the caller's organisation.
    async fn person(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Person>> {
        let c = caller(ctx)?;
        let id: PersonId = id_arg("id", &id)?;
        Ok(Some(Person(c.store.person(&c.reader(), id).await.api()?)))
    }
}

#[derive(Default, Debug)]
pub struct FamilyMutation;

#[Object]
impl FamilyMutation {
    /// Registers a family under the caller's municipality, with its first members.
    async fn create_family(&self, ctx: &Context<'_>, input: CreateFamilyInput) -> ApiResult<CreateFamilyPayload> {
        let c = caller(ctx)?;
        c.require_kind(DomainOrganizationKind::Municipality, "register families")?;
        let today = c.today();
        let family = NewFamily::parse(input.external_id.as_deref(), &input.name)
            .and_then(|f| f.with_contact(input.caseworker_contact.as_deref()))
            .map_err(in_input)?;
        let members = input
            .members
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, m)| m.to_domain(today).map_err(|e| e.under(&format!("members.{i}"))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(in_input)?;
        let meta = c.write("createFamily", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_family(&meta, &family, &members).await.map_err(under("input"))?;
        Ok(CreateFamilyPayload { family: Family(c.store.family(&c.reader(), id).await.api()?) })
    }

    /// Creates the family with the caller's case id, or updates its name and contact if it
    /// exists: safe to send on every sync, it never duplicates a family.
    async fn upsert_family(&self, ctx: &Context<'_>, input: UpsertFamilyInput) -> ApiResult<UpsertFamilyPayload> {
        let c = caller(ctx)?;
        c.require_kind(DomainOrganizationKind::Municipality, "register families")?;
        let family = NewFamily::parse(Some(&input.external_id), &input.name)
            .and_then(|f| f.with_contact(input.caseworker_contact.as_deref()))
            .map_err(in_input)?;
        let meta = c.write("upsertFamily", input.idempotency_key.as_deref(), &input)?;
        let (id, outcome) = c.store.upsert_family(&meta, &family).await.map_err(under("input"))?;
        Ok(UpsertFamilyPayload {
            family: Family(c.store.family(&c.reader(), id).await.api()?),
            created: outcome == Outcome::Created,
            changed: outcome != Outcome::Unchanged,
        })
    }

    /// Adds a member to one of the caller's families.
    async fn add_family_member(
        &self,
        ctx: &Context<'_>,
        input: AddFamilyMemberInput,
    ) -> ApiResult<AddFamilyMemberPayload> {
        let c = caller(ctx)?;
        let family_id: FamilyId = id_arg("input.familyId", &input.family_id)?;
        let member = input.member.to_domain(c.today()).map_err(|e| in_input(e.under("member")))?;
        let meta = c.write("addFamilyMember", input.idempotency_key.as_deref(), &input)?;
        let member_id = c.store.add_family_member(&meta, family_id, &member).await.map_err(under("input.member"))?;
        let family = c.store.family(&c.reader(), family_id).await.api()?;
        let member = c.store.family_member(&c.reader(), member_id).await.api()?;
        Ok(AddFamilyMemberPayload { family: Family(family), member: FamilyMember(member) })
    }

    /// Registers a person under the caller's organisation: a municipality, or a mental
    /// health authority (not its family partners). Providers see persons through
    /// referrals and placements, and register none.
    async fn create_person(&self, ctx: &Context<'_>, input: CreatePersonInput) -> ApiResult<CreatePersonPayload> {
        let c = caller(ctx)?;
        let registers_persons = matches!(
            c.actor.organization_kind,
            DomainOrganizationKind::Municipality | DomainOrganizationKind::MentalHealthAuthority
        );
        if !registers_persons || c.actor.is_family_partner_only() {
            return Err(ApiError::forbidden(
                "only a municipality or a mental health authority's staff register persons",
            )
            .into());
        }
        let person = input.person.to_domain(c.today()).map_err(|e| in_input(e.under("person")))?;
        let meta = c.write("createPerson", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.create_person(&meta, &person).await.api()?;
        Ok(CreatePersonPayload { person: Person(c.store.person(&c.reader(), id).await.api()?) })
    }
}

#[cfg(test)]
mod input_properties {
    //! GraphQL inputs become domain types or fail on a named field; nothing panics.

    use super::*;
    use crate::scalars::Date;
    use proptest::prelude::*;

    /// Strings as clients send them: blank, padded, long, control characters, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(String::new()),
            Just(" ".to_owned()),
            Just("\n".to_owned()),
            Just("\u{0}".to_owned()),
            Just("Mette".to_owned()),
            Just("Søren Ærø".to_owned()),
            Just("a".repeat(201)),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..4).prop_map(|p| p.concat())
    }

    fn id() -> impl Strategy<Value = ID> {
        prop_oneof![
            Just(ID::from("per_0190f7a1b2c34d5e8f9012345678abcd")),
            Just(ID::from("org_0190f7a1b2c34d5e8f9012345678abcd")),
            text().prop_map(ID::from),
        ]
    }

    fn role() -> impl Strategy<Value = FamilyRole> {
        prop_oneof![
            Just(FamilyRole::Child),
            Just(FamilyRole::Parent),
            Just(FamilyRole::OtherParent),
            Just(FamilyRole::KeyPerson),
            Just(FamilyRole::Grandparent),
        ]
    }

    fn person() -> impl Strategy<Value = PersonInput> {
        let identifier = (text(), text()).prop_map(|(system, value)| PersonIdentifierInput {
            kind: IdentifierKind::NationalId,
            system,
            value,
        });
        (
            text(),
            text(),
            proptest::option::of(-40_000i64..40_000),
            proptest::option::of(proptest::collection::vec(identifier, 0..3)),
        )
            .prop_map(|(given_name, family_name, born, identifiers)| PersonInput {
                given_name,
                family_name,
                birth_date: born.and_then(|d| NaiveDate::from_num_days_from_ce_opt(739_000 + d as i32)).map(Date),
                identifiers,
            })
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).expect("a date")
    }

    const PERSON_FIELDS: &[&str] = &["givenName", "familyName", "birthDate", "identifiers"];

    proptest! {
        #[test]
        fn a_person_input_converts_or_names_its_field(input in person()) {
            match input.to_domain(today()) {
                Ok(p) => {
                    prop_assert!(!p.given_name.as_str().trim().is_empty());
                    prop_assert!(p.birth_date.is_none_or(|d| d <= today()));
                }
                Err(e) => prop_assert!(PERSON_FIELDS.iter().any(|f| e.field.starts_with(f)), "{}", e.field),
            }
        }

        #[test]
        fn a_clean_person_input_converts(given in "[A-Za-zÆØÅæøå]{1,40}", family in "[A-Za-zÆØÅæøå]{1,40}", age in 0i64..36_000) {
            let input = PersonInput {
                given_name: given,
                family_name: family,
                birth_date: Some(Date(today() - chrono::Days::new(age.unsigned_abs()))),
                identifiers: None,
            };
            prop_assert!(input.to_domain(today()).is_ok());
        }

        #[test]
        fn a_member_input_converts_or_names_its_field(
            new in proptest::option::of(person()), existing in proptest::option::of(id()), role in role(), residence in proptest::option::of(id()),
        ) {
            let input = FamilyMemberInput { person: new, person_id: existing, role, residence_municipality_id: residence };
            if let Err(e) = input.to_domain(today()) {
                let known = ["person", "personId", "residenceMunicipalityId"];
                prop_assert!(known.iter().any(|f| e.field.starts_with(f)), "{}", e.field);
            }
        }

        #[test]
        fn page_arguments_convert_or_name_their_field(
            after in proptest::option::of(text()), before in proptest::option::of(text()),
            first in proptest::option::of(any::<i64>()), last in proptest::option::of(any::<i64>()),
        ) {
            if let Err(ApiError::BadUserInput { field, .. }) = crate::connection::page_request(after, before, first, last) {
                prop_assert!(["after", "before", "first", "last"].contains(&field.as_str()), "{}", field);
            }
        }
    }
}
