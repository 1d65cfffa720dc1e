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
pub mod level;
pub mod limits;
pub mod loader;
pub mod network;
pub mod node;
pub mod offers;
pub mod organizations;
pub mod parental;
pub mod partners;
pub mod placements;
pub mod plans;
pub mod scalars;
pub mod shape;
pub mod sharing;
pub mod timeline;
pub mod visits;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};
use kinbridge_persistence::Store;

pub use context::RequestContext;
pub use error::ApiError;
pub use limits::Limits;

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
    node::NodeQuery,
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
    network::NetworkMutation,
    audit::ErasureMutation,
);

#[derive(MergedSubscription, Default, Debug)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(changes::ChangeSubscription);

pub type KinbridgeSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What the schema shows of itself: production hides it unless an operator asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// Whether `__schema` and `__type` answer.
    pub introspection: bool,
    /// Whether an unknown field's error suggests the names close to it ("Did you mean …").
    pub suggestions: bool,
}

impl Exposure {
    /// Everything shown: development and the published contract.
    pub const OPEN: Self = Self { introspection: true, suggestions: true };
    /// Nothing shown: production's default.
    pub const CLOSED: Self = Self { introspection: false, suggestions: false };
}

fn builder(limits: Limits, exposure: Exposure) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot::default())
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_directives(limits.max_directives);
    if !exposure.introspection {
        builder = builder.disable_introspection();
    }
    if !exposure.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schema, serving from `store`. Check a query with [`limits::check`] before
/// executing it.
pub fn schema(
    store: Store,
    limits: Limits,
    exposure: Exposure,
    alerts: alerts::AlertSettings,
    retention: kinbridge_persistence::erasure::RetentionPolicy,
) -> KinbridgeSchema {
    builder(limits, exposure).data(store).data(alerts).data(retention).finish()
}

/// The published contract: the schema in SDL, as `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(Limits::default(), Exposure::OPEN).finish().sdl()
}
