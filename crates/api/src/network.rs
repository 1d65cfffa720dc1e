//! The family's network map (000, 001): who in the parents' network can help, how, and
//! since when. Recorded by the family's municipality; shown with the family.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use kinbridge_domain::ValidationError;
use kinbridge_domain::ids::{FamilyId, FamilyMemberId, NetworkMapEntryId, PersonId};
use kinbridge_domain::network::{Helper, NetworkEntryInput, NewNetworkEntry};
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::records;
use serde::Serialize;

use crate::context::{Caller, caller};
use crate::error::{ApiResult, IntoApi, id_arg, in_input, under};
use crate::families::{Family, FamilyMember, Person, PersonInput};
use crate::scalars::{Date, NetworkHelp, Timestamp};

/// One person in the parents' network and how they help: "collects the child from school
/// on Thursdays". Shown with the family: to its municipality, and to a family services
/// provider the family is referred to.
#[derive(Debug, Clone)]
pub struct NetworkMapEntry(pub(crate) records::NetworkMapEntry);

#[Object]
impl NetworkMapEntry {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn family(&self, ctx: &Context<'_>) -> ApiResult<Family> {
        let c = caller(ctx)?;
        Ok(Family(c.reference(ctx, &catalogue::FAMILY, self.0.family_id).await?))
    }

    /// Who helps: a member of the family, or someone outside it.
    async fn person(&self, ctx: &Context<'_>) -> ApiResult<Person> {
        let c = caller(ctx)?;
        Ok(Person(c.reference(ctx, &catalogue::PERSON, self.0.person_id).await?))
    }

    /// The helper's membership of the family; null for someone outside it.
    async fn member(&self, ctx: &Context<'_>) -> ApiResult<Option<FamilyMember>> {
        let Some(id) = self.0.member_id else { return Ok(None) };
        let c = caller(ctx)?;
        Ok(Some(FamilyMember(c.reference(ctx, &catalogue::FAMILY_MEMBER, id).await?)))
    }

    /// How the helper relates to the family, in words: "neighbour", "the mother's aunt".
    async fn relationship(&self) -> Option<&str> {
        self.0.relationship.as_deref()
    }

    async fn help(&self) -> NetworkHelp {
        self.0.help.into()
    }

    /// The help as agreed, in words.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Since when the helper gives this help.
    async fn since(&self) -> Date {
        Date(self.0.since)
    }

    /// The last day of the help, once it has ended.
    async fn until(&self) -> Option<Date> {
        self.0.until.map(Date)
    }

    /// Whether the help is still given today.
    async fn is_active(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let today = caller(ctx)?.today();
        Ok(self.0.until.is_none_or(|until| until >= today))
    }

    async fn recorded_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }
}

/// A helper to add to a family's network map. Give exactly one of `memberId` (a member
/// of the family), `personId` (a person the municipality knows) or `person` (someone
/// outside the family, registered with the entry).
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct AddNetworkMapEntryInput {
    /// A family id (`fam_…`) of the caller's municipality.
    pub family_id: ID,
    /// A family member id (`mem_…`) of that family.
    pub member_id: Option<ID>,
    /// A person id (`per_…`) of the caller's municipality.
    pub person_id: Option<ID>,
    pub person: Option<PersonInput>,
    /// How the helper relates to the family, in words: "neighbour", "the mother's aunt".
    pub relationship: Option<String>,
    pub help: NetworkHelp,
    /// The help as agreed: "collects the child from school on Thursdays".
    pub description: String,
    /// Since when the helper gives it; today or earlier.
    pub since: Date,
    /// Makes a retry safe: the same key with the same input returns the first result.
    pub idempotency_key: Option<String>,
}

impl AddNetworkMapEntryInput {
    fn parse(&self, today: NaiveDate) -> Result<(FamilyId, NewNetworkEntry), ValidationError> {
        let family = self.family_id.parse::<FamilyId>().map_err(|e| e.at("familyId"))?;
        let helper = match (&self.member_id, &self.person_id, &self.person) {
            (Some(id), None, None) => Helper::Member(id.parse::<FamilyMemberId>().map_err(|e| e.at("memberId"))?),
            (None, Some(id), None) => Helper::Person(id.parse::<PersonId>().map_err(|e| e.at("personId"))?),
            (None, None, Some(person)) => Helper::NewPerson(person.to_domain(today).map_err(|e| e.under("person"))?),
            _ => return Err(ValidationError::new("memberId", "give exactly one of memberId, personId and person")),
        };
        let entry = NetworkEntryInput {
            relationship: self.relationship.as_deref(),
            help: self.help.into(),
            description: &self.description,
            since: self.since.0,
        };
        Ok((family, NewNetworkEntry::parse(helper, entry, today)?))
    }
}

#[derive(InputObject, Serialize, Debug, Clone)]
pub struct EndNetworkMapEntryInput {
    /// A network map entry id (`net_…`).
    pub id: ID,
    /// The last day the help was given; today or earlier, not before `since`.
    pub until: Date,
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct NetworkMapEntryPayload {
    pub network_map_entry: NetworkMapEntry,
}

async fn payload(c: Caller<'_>, id: NetworkMapEntryId) -> ApiResult<NetworkMapEntryPayload> {
    Ok(NetworkMapEntryPayload {
        network_map_entry: NetworkMapEntry(c.store.network_entry(&c.reader(), id).await.api()?),
    })
}

#[derive(Default, Debug)]
pub struct NetworkMutation;

#[Object]
impl NetworkMutation {
    /// Adds a helper to the network map of one of the caller's families (000, 001).
    async fn add_network_map_entry(
        &self,
        ctx: &Context<'_>,
        input: AddNetworkMapEntryInput,
    ) -> ApiResult<NetworkMapEntryPayload> {
        let c = caller(ctx)?;
        let (family, entry) = input.parse(c.today()).map_err(in_input)?;
        let meta = c.write("addNetworkMapEntry", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.add_network_entry(&meta, family, &entry).await.map_err(under("input"))?;
        payload(c, id).await
    }

    /// Records that a helper's help has ended. The entry stays on the map, with its end.
    async fn end_network_map_entry(
        &self,
        ctx: &Context<'_>,
        input: EndNetworkMapEntryInput,
    ) -> ApiResult<NetworkMapEntryPayload> {
        let c = caller(ctx)?;
        let id: NetworkMapEntryId = id_arg("input.id", &input.id)?;
        let meta = c.write("endNetworkMapEntry", input.idempotency_key.as_deref(), &input)?;
        let id = c.store.end_network_entry(&meta, id, input.until.0, c.today()).await.map_err(under("input"))?;
        payload(c, id).await
    }
}
