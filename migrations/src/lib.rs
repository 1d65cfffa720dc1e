//! Kinbridge's database migrations: one set, built with sea-query, that produces the same
//! schema on SQLite and PostgreSQL.
//!
//! A published migration is never edited: a change to the schema is a new migration.
//! SQLite runs migrations outside a transaction, so each one is kept small and creates
//! its objects `IF NOT EXISTS`, so that a migration interrupted halfway can run again.

pub use sea_orm_migration::prelude::*;

mod helpers;
mod m0001_initial;
mod m0002_sharing;
mod m0003_key_person_notifications;
mod m0004_partition_audit_events;
mod m0005_guidance;
mod m0006_plan_next_review;
mod m0007_batched_read_indexes;
mod m0008_audit_reads;
mod m0009_audit_read_arrays;
mod m0010_write_integrity;
mod m0011_organization_registry;
mod m0012_change_feed_positions;
mod m0013_network_map;
mod m0014_consent_age;
mod m0015_erasures;
mod m0016_coordination_indexes;
mod m0017_registry_notifications;
mod m0018_audit_index_ids;
mod m0019_audit_read_storage;

#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_sharing::Migration),
            Box::new(m0003_key_person_notifications::Migration),
            Box::new(m0004_partition_audit_events::Migration),
            Box::new(m0005_guidance::Migration),
            Box::new(m0006_plan_next_review::Migration),
            Box::new(m0007_batched_read_indexes::Migration),
            Box::new(m0008_audit_reads::Migration),
            Box::new(m0009_audit_read_arrays::Migration),
            Box::new(m0010_write_integrity::Migration),
            Box::new(m0011_organization_registry::Migration),
            Box::new(m0012_change_feed_positions::Migration),
            Box::new(m0013_network_map::Migration),
            Box::new(m0014_consent_age::Migration),
            Box::new(m0015_erasures::Migration),
            Box::new(m0016_coordination_indexes::Migration),
            Box::new(m0017_registry_notifications::Migration),
            Box::new(m0018_audit_index_ids::Migration),
            Box::new(m0019_audit_read_storage::Migration),
        ]
    }
}
