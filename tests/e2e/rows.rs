//! The reads of a level decode their rows by column position (`entities::FromRow`), not
//! by name as sea-orm does: on a generated data set, every model read by position is the
//! model sea-orm reads by name from the same row, NULLs included.

use std::fmt::Debug;

use kinbridge_persistence::entities::{self, FromRow};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Iterable};

use crate::support::spawn_app;

/// Reads every row of `E` as the level reads select them (the model's columns in
/// field order) and compares both decodings; returns how many rows it compared.
async fn compare<E>(db: &sea_orm::DatabaseConnection) -> usize
where
    E: EntityTrait + Default,
    E::Model: FromRow + PartialEq + Debug,
{
    let select =
        Query::select().exprs(E::Column::iter().map(|c| Expr::col((c.entity_name(), c)))).from(E::default()).to_owned();
    let rows = db.query_all_raw(db.get_database_backend().build(&select)).await.unwrap();
    for row in &rows {
        let by_position = E::Model::from_row(row, 0).unwrap();
        let by_name = E::Model::from_query_result(row, "").unwrap();
        assert_eq!(by_position, by_name);
    }
    rows.len()
}

#[tokio::test]
async fn a_model_read_by_position_is_the_model_read_by_name() {
    let app = spawn_app().await;
    kinbridge_server::seed::generate(&app.store, 60, 3, false).await.expect("the generated data set");
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let mut compared = vec![
        compare::<entities::organization::Entity>(&db).await,
        compare::<entities::person::Entity>(&db).await,
        compare::<entities::family::Entity>(&db).await,
        compare::<entities::family_member::Entity>(&db).await,
        compare::<entities::placement::Entity>(&db).await,
        compare::<entities::contact_visit::Entity>(&db).await,
        compare::<entities::parent_action_plan::Entity>(&db).await,
        compare::<entities::plan_goal::Entity>(&db).await,
    ];
    compared.retain(|n| *n > 0);
    assert_eq!(compared.len(), 8, "every table has rows to compare");
    // Visits have optional columns both set and NULL in the generated set: a cancelled
    // visit has its cancellation, a planned one has none.
    let visits = entities::contact_visit::Entity::find().all(&db).await.unwrap();
    assert!(visits.iter().any(|v| v.cancelled_by.is_some()) && visits.iter().any(|v| v.cancelled_by.is_none()));
}
