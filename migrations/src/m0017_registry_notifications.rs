//! On PostgreSQL, every change to the organisation registry tells the servers on the
//! database: a trigger sends a notification on the channel `kinbridge_registry` when a
//! statement that changes `organizations` commits, whoever sends it (a server, the
//! `kinbridge organizations` command, an operator's `psql`). A server remembers the
//! organisations its tokens named only while it listens on that channel, and forgets them
//! all on each notification (`persistence/src/organizations.rs`). SQLite has no
//! notifications: a server there looks the organisation up for every request.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION kinbridge_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('kinbridge_registry', ''); RETURN NULL; END $$",
        )
        .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS organizations_changed ON organizations").await?;
        db.execute_unprepared(
            "CREATE TRIGGER organizations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations \
             FOR EACH STATEMENT EXECUTE FUNCTION kinbridge_registry_changed()",
        )
        .await?;
        Ok(())
    }
}
