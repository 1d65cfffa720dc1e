//! Kinbridge's domain: the types and rules of support to parents whose children are placed
//! out of home or receive mental-health services.
//!
//! **Invariant:** this crate does no I/O. It knows nothing of databases, HTTP or GraphQL;
//! every value that exists here is valid, so the layers above never check it again.
//! Rules that need "today" take it as an argument rather than reading the clock.
//!
//! # The rules checked on input
//!
//! Each is a function or constructor here with a unit test named after the rule; a
//! refusal is a [`ValidationError`] naming the field (the API answers `BAD_USER_INPUT` with
//! `extensions.field`), a refused state change a [`TransitionError`] (`CONFLICT`). The
//! source texts are `000` (support to parents of children placed out of home), `001`
//! (parental-role support, KOPP, coordination) and `002` (family partners).
//!
//! | rule | where |
//! | --- | --- |
//! | Names and texts are present, printable, and within their length | [`text`] |
//! | A birth date is not in the future | [`person::NewPerson::parse`] |
//! | A parent's residence municipality is recorded (it decides coordination, 001) | [`family::Membership::new`] |
//! | A placement is decided no later than it starts and ends no earlier; an end has a reason | [`placement::NewPlacement::parse`] |
//! | A child's placements never overlap | [`placement::ensure_no_overlap`] |
//! | A visit ends after it starts, lasts at most a day, and a supported or supervised visit names its supervisor | [`visit::NewVisit::parse`] |
//! | A visit's outcome follows its status; it is held or missed only once it has begun | [`visit::record_outcome`] |
//! | A cancellation says who, when and why, and is not dated in the future | [`visit::Cancellation::parse`], [`when::has_happened_at`] |
//! | What has happened (notes, interviews, pillar and other-parent records, services, certifications, notifications) is not dated after today | [`when::has_happened`] |
//! | An offer of support is made on or after the placement decision, and not in the future (000) | [`when::offer_made_on`] |
//! | A declined offer names when it is offered again; an answer follows the offer | [`plan::respond_to_offer`] |
//! | A plan has at most twenty goals, each with a purpose, and is reviewed at least every so many days (seven or more); a review is held by today, the next after it, each goal scored once from 1 to 5 | [`plan`] |
//! | A plan moves draft → active → closed; an achieved or dropped sub-goal stays so | [`plan::PlanStatus::transition`], [`parental::SubGoalStatus::transition`] |
//! | KOPP participants are the partner or a confidant of the child, never the client, each once (001) | [`parental::check_kopp_participants`] |
//! | A participant, the other parent and a notified key person hold the role the rule needs in the client's family | [`family::ensure_role_beside`] |
//! | A consent is given by an adult with parental responsibility, or by the young person from the age the organisation sets (001, 002) | [`sharing::ensure_may_give_consent`] |
//! | Key people are notified only while the client's consent to it stands (001) | [`sharing::ensure_may_notify_key_people`] |
//! | Something is recorded for the other parent only if something was done | [`parental::OtherParentSupport::new`] |
//! | A partner past the training deadline without certification gets no new assignment, judged by today (002) | [`partner::Certification::ensure_may_take_assignment`] |
//! | Family partner services go to the primary caregiver, never to the child (002) | [`partner::ensure_service_recipient`] |
//! | A service lasts 1 to 720 minutes | [`partner::ServiceMinutes::new`] |

pub mod access;
pub mod error;
pub mod family;
pub mod ids;
pub mod macros;
pub mod network;
pub mod organization;
pub mod parental;
pub mod partner;
pub mod person;
pub mod placement;
pub mod plan;
pub mod sharing;
pub mod text;
pub mod timeline;
pub mod visit;
pub mod when;

pub use error::{TransitionError, ValidationError};
