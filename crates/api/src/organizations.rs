//! Organisations and the caller's own identity.

use async_graphql::{Context, ID, Object};
use kinbridge_domain::ids::OrganizationId;
use kinbridge_persistence::records;

use crate::connection::{self, Conn, cost};
use crate::context::any_caller;
use crate::error::{ApiResult, IntoApi, id_arg};
use crate::scalars::{OrganizationKind, Role};

/// A municipality, provider or authority taking part in Kinbridge.
#[derive(Debug, Clone)]
pub struct Organization(pub(crate) records::Organization);

#[Object]
impl Organization {
    pub(crate) async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> ApiResult<OrganizationKind> {
        Ok(self.0.kind.into())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The official code, such as a municipality number.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The age from which a young person of the organisation's families gives consent
    /// about their own case (`giveConsent`); below it, a parent with parental
    /// responsibility does. Set by the operator; 15 unless configured.
    async fn young_person_consent_age(&self) -> i32 {
        self.0.young_person_consent_age.years().into()
    }
}

crate::level::level!(Organization, plain: ["id", "kind", "name", "code", "youngPersonConsentAge"], nested: {});

/// Who is calling: the verified token's subject, organisation and roles.
#[derive(Debug, Clone)]
pub struct Viewer {
    subject: String,
    organization_id: OrganizationId,
    roles: Vec<Role>,
}

#[Object]
impl Viewer {
    /// The token's subject: a person or a system at the organisation.
    async fn subject(&self) -> &str {
        &self.subject
    }

    async fn organization(&self, ctx: &Context<'_>) -> ApiResult<Organization> {
        let c = any_caller(ctx)?;
        Ok(Organization(c.store.organization(self.organization_id).await.api()?))
    }

    async fn roles(&self) -> &[Role] {
        &self.roles
    }
}

#[derive(Default, Debug)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// The caller: who the token says it is, for which organisation, in which roles.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Viewer> {
        let c = any_caller(ctx)?;
        Ok(Viewer {
            subject: c.actor.subject.clone(),
            organization_id: c.actor.organization_id,
            roles: c.actor.roles.iter().map(|r| (*r).into()).collect(),
        })
    }

    /// One organisation of the directory. Every caller may read the directory.
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Organization>> {
        let c = any_caller(ctx)?;
        let id: OrganizationId = id_arg("id", &id)?;
        Ok(Some(Organization(c.store.organization(id).await.api()?)))
    }

    /// The directory of organisations, optionally of one kind.
    #[graphql(complexity = "cost(first, last, child_complexity)")]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        kind: Option<OrganizationKind>,
        after: Option<String>,
        before: Option<String>,
        first: Option<i64>,
        last: Option<i64>,
    ) -> ApiResult<Conn<Organization>> {
        let c = any_caller(ctx)?;
        let kind = kind.map(Into::into);
        connection::resolve(
            ctx,
            (after, before, first, last),
            async |req| c.store.organizations(kind, req).await,
            async || c.store.count_organizations(kind).await,
            |o| o.id.to_string(),
            Organization,
        )
        .await
    }
}
