//! Indexes for the batched reads: each leads with the parent's key and ends with the
//! connection's order, sort key then id, so that a page per parent
//! (`ROW_NUMBER() OVER (PARTITION BY parent ORDER BY sort, id)`) reads each parent's rows
//! from one index range, already in order. They supersede the indexes on (parent, sort)
//! alone, which are dropped so that writes maintain one index, not two.
//!
//! Measured with `EXPLAIN ANALYZE` on PostgreSQL 15 over `kinbridge seed --families 10000`
//! (502,908 visits): a caseworker's page of 50 families reads its 54 placements' visits
//! by index scan on `(placement_id, planned_start, id)`.

use sea_orm_migration::prelude::*;

use crate::helpers::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, columns of the new index, the index it supersedes).
const INDEXES: &[(&str, &[&str], Option<&str>)] = &[
    ("contact_visits", &["placement_id", "planned_start", "id"], Some("ix_contact_visits_placement_id_planned_start")),
    ("support_offers", &["placement_id", "offered_on", "id"], Some("ix_support_offers_placement_id_offered_on")),
    ("plan_reviews", &["plan_id", "held_on", "id"], Some("ix_plan_reviews_plan_id_held_on")),
    ("family_members", &["family_id", "id"], None),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (table, columns, superseded) in INDEXES {
            m.create_index(index(table, columns)).await?;
            if let Some(old) = superseded {
                m.drop_index(Index::drop().name(*old).table(*table).if_exists().to_owned()).await?;
            }
        }
        Ok(())
    }
}
