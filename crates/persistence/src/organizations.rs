//! Organisations: the directory every caller may read. They are registered by operators
//! (the `kinbridge` command and the demo data), not through the API.

use kinbridge_domain::ids::OrganizationId;
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::Store;
use crate::entities::organization;
use crate::error::StoreError;
use crate::page::{self, Page, PageRequest};
use crate::records;
use crate::write::{WriteMeta, system_actor, unique_to_conflict};

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
            })
            .await;
        unique_to_conflict(inserted, &format!("a {} with code {} is already registered", new.kind, new.code))?;
        tx.audit("Organization", id.as_uuid()).await?;
        tx.commit(id.as_uuid()).await?;
        Ok(id)
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
