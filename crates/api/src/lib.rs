//! Kinbridge's GraphQL API: schema, resolvers, authentication and error mapping.
//!
//! Resolvers are grouped by aggregate, one module each, and stay thin: they turn input
//! into domain values (a failure is `BAD_USER_INPUT` naming the field), call the store,
//! and map rows to GraphQL objects.
//!
//! **Invariant:** no resolver reads a row except through a `Store` method that takes the
//! caller's [`kinbridge_domain::access::Actor`]; the store decides visibility in SQL.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod connection;
pub mod context;
pub mod coordination;
pub mod corrections;
pub mod error;
pub mod families;
pub mod loader;
pub mod offers;
pub mod organizations;
pub mod parental;
pub mod partners;
pub mod placements;
pub mod plans;
pub mod scalars;
pub mod sharing;
pub mod visits;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};
use kinbridge_persistence::Store;

pub use context::RequestContext;
pub use error::ApiError;

#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    organizations::OrganizationQuery,
    families::FamilyQuery,
    placements::PlacementQuery,
    visits::VisitQuery,
    plans::PlanQuery,
    partners::PartnerQuery,
    coordination::CoordinationQuery,
    audit::AuditQuery,
    alerts::AlertQuery,
    parental::ParentalQuery,
    changes::ChangeQuery,
);

#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    families::FamilyMutation,
    placements::PlacementMutation,
    visits::VisitMutation,
    plans::PlanMutation,
    partners::PartnerMutation,
    sharing::SharingMutation,
    offers::OfferMutation,
    parental::ParentalMutation,
    corrections::CorrectionMutation,
);

pub type KinbridgeSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Limits on what one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How deeply selections may nest.
    pub max_depth: usize,
    /// The most a query may cost; a connection costs its page size times its nodes' cost.
    pub max_complexity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_depth: 16, max_complexity: 200_000 }
    }
}

fn builder(limits: Limits) -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
}

/// The schema, serving from `store`.
pub fn schema(store: Store, limits: Limits, alerts: alerts::AlertSettings) -> KinbridgeSchema {
    builder(limits).data(store).data(alerts).finish()
}

/// The published contract: the schema in SDL, as `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(Limits::default()).finish().sdl()
}
