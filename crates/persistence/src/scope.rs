//! What a caller may see, expressed as SQL conditions.
//!
//! **Invariant:** every read of an owned table goes through a condition from this module,
//! applied in the query itself. Nothing is fetched and then filtered in memory, so a
//! `totalCount` or a page never counts or reveals a row the caller may not see.
//!
//! The rule today: an organisation sees the records it owns. Referrals, consent and the
//! cross-municipality view will widen these conditions here, and only here.

use kinbridge_domain::access::Actor;
use sea_orm::{ColumnTrait, Condition};

/// Rows owned by the caller's organisation.
pub fn owned_by<C: ColumnTrait>(organization_column: C, actor: &Actor) -> Condition {
    Condition::all().add(organization_column.eq(actor.organization_id.as_uuid()))
}
