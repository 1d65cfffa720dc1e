//! Builders shared by the migrations. They only assemble sea-query statements; changing
//! one changes the DDL of every migration that uses it, so they stay as they are once
//! published.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// A table with the columns every owned record has: an id, the owning organisation, and
/// creation time.
pub(crate) fn owned(name: &str) -> TableCreateStatement {
    Table::create()
        .table(name.to_owned())
        .if_not_exists()
        .col(uuid("id").primary_key())
        .col(uuid("organization_id"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(&mut fk(name, "organization_id", "organizations"))
        .to_owned()
}

/// The columns of a record that changes after creation: update time and the version that
/// detects lost updates.
pub(crate) fn versioned(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table.col(timestamp_with_time_zone("updated_at")).col(integer("version"))
}

pub(crate) fn fk(table: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table.to_owned(), column.to_owned())
        .to(to.to_owned(), "id")
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

pub(crate) fn index(table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(format!("ix_{table}_{}", columns.join("_"))).table(table.to_owned()).if_not_exists();
    for column in columns {
        index.col((*column).to_owned());
    }
    index
}

pub(crate) fn unique(table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut index = index(table, columns);
    index.name(format!("ux_{table}_{}", columns.join("_"))).unique();
    index
}
