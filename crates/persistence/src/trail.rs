//! Reading the audit trail and the change feed.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::Store;
use crate::entities::{audit_event, outbox};
use crate::error::StoreError;

impl Store {
    /// The audit events that name one record, oldest first.
    pub async fn audit_events_for_record(&self, record_id: Uuid) -> Result<Vec<audit_event::Model>, StoreError> {
        Ok(audit_event::Entity::find()
            .filter(audit_event::Column::RecordId.eq(record_id))
            .order_by_asc(audit_event::Column::Id)
            .all(self.conn())
            .await?)
    }

    /// Outbox rows after `cursor` (an outbox id; 0 for the start), in commit-id order.
    pub async fn outbox_after(&self, cursor: i64, limit: u64) -> Result<Vec<outbox::Model>, StoreError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Id.gt(cursor))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }
}
