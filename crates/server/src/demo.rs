//! The demo data set: two municipalities, a placement provider, a family services
//! provider and a mental health authority; families with placements, contact visits and
//! a parent action plan; family partners with an assignment. Dates are relative to today,
//! so that the next visit is always ahead and the history behind.
//!
//! Everything is written through the store, as an integration of each organisation
//! would, so the demo's audit trail and change feed are real.

use chrono::{Days, NaiveDate, TimeZone, Utc};
use kinbridge_domain::ValidationError;
use kinbridge_domain::access::{Actor, Role};
use kinbridge_domain::family::{FamilyRole, Membership, NewFamily};
use kinbridge_domain::ids::{
    ContactVisitId, FamilyId, GoalId, OrganizationId, ParentActionPlanId, PersonId, PlacementId,
};
use kinbridge_domain::network::{Helper, NetworkEntryInput, NetworkHelp, NewNetworkEntry};
use kinbridge_domain::organization::{NewOrganization, OrganizationKind};
use kinbridge_domain::parental::{KoppRole, OtherParentSupport, PillarStatus, ResiliencePillar};
use kinbridge_domain::partner::{Certification, CertificationStatus, ServiceActivity, ServiceMinutes};
use kinbridge_domain::person::{IdentifierKind, NewPerson, PersonInput};
use kinbridge_domain::placement::{NewPlacement, PlacementEndReason, PlacementInput, PlacementSetting};
use kinbridge_domain::plan::{
    GoalProgress, GoalPurpose, NewGoal, NewPlan, NewReview, OfferResponse, PlanStatus, ProgressScore, ReviewKind,
    SupportOfferKind,
};
use kinbridge_domain::sharing::{ConsentPurpose, ReferralPeriod};
use kinbridge_domain::text::{ExternalId, FreeText, Name};
use kinbridge_domain::visit::{
    Cancellation, CancelledBy, NewVisit, Supervision, VisitArrangement, VisitInput, VisitOutcome,
};
use kinbridge_persistence::PageRequest;
use kinbridge_persistence::assoc::catalogue;
use kinbridge_persistence::families::{MemberPerson, NewMember};
use kinbridge_persistence::write::Written;
use kinbridge_persistence::{Store, StoreError, WriteMeta};

/// The code of the first demo municipality, whose caseworker `kinbridge token` speaks for
/// by default.
pub const FIRST_MUNICIPALITY_CODE: &str = "0751";

struct Seeder<'a> {
    store: &'a Store,
    today: NaiveDate,
}

impl Seeder<'_> {
    fn day(&self, offset: i64) -> NaiveDate {
        let days = Days::new(offset.unsigned_abs());
        if offset < 0 { self.today - days } else { self.today + days }
    }

    async fn org(&self, kind: OrganizationKind, name: &str, code: &str) -> Result<Actor, StoreError> {
        let id = self.store.create_organization(&NewOrganization::parse(kind, name, code)?).await?;
        Ok(Actor {
            subject: "kinbridge-demo".into(),
            organization_id: id,
            organization_kind: kind,
            roles: vec![Role::Integration],
        })
    }
}

fn meta<'a>(actor: &'a Actor, operation: &'static str) -> WriteMeta<'a> {
    WriteMeta { actor, request_id: "demo", operation, idempotency: None }
}

fn person(
    given: &str,
    family: &str,
    born: Option<NaiveDate>,
    national_id: Option<&str>,
    today: NaiveDate,
) -> Result<NewPerson, ValidationError> {
    let ids: Vec<(IdentifierKind, &str, &str)> =
        national_id.map(|v| (IdentifierKind::NationalId, "DK-CPR", v)).into_iter().collect();
    NewPerson::parse(PersonInput { given_name: given, family_name: family, birth_date: born, identifiers: &ids }, today)
}

fn member(p: NewPerson, role: FamilyRole, residence: Option<OrganizationId>) -> Result<NewMember, ValidationError> {
    Ok(NewMember { person: MemberPerson::New(p), membership: Membership::new(role, residence)? })
}

/// Loads the demo data into an empty database. Returns whether it did.
pub async fn load_if_empty(store: &Store) -> Result<bool, StoreError> {
    if store.count_all_organizations().await? > 0 {
        return Ok(false);
    }
    let s = Seeder { store, today: Utc::now().date_naive() };
    let aarhus = s.org(OrganizationKind::Municipality, "Aarhus Kommune", FIRST_MUNICIPALITY_CODE).await?;
    let randers = s.org(OrganizationKind::Municipality, "Randers Kommune", "0730").await?;
    let provider = s.org(OrganizationKind::PlacementProvider, "Skovbrynet Opholdssted", "PP-0751-01").await?;
    let family_services = s.org(OrganizationKind::FamilyServicesProvider, "Familiecenter Øst", "FSP-0751-01").await?;
    let authority =
        s.org(OrganizationKind::MentalHealthAuthority, "Børne- og Ungdomspsykiatri Midt", "MHA-MIDT").await?;
    let t = s.today;

    // The Hansen family: the other parent lives in Randers, so Emma's placement is a
    // cross-municipality placement.
    let hansen = store
        .create_family(
            &meta(&aarhus, "createFamily"),
            &NewFamily::parse(Some("AAR-2026-0001"), "Hansen")?.with_contact(Some("Sofie Krogh, 8713 4000"))?,
            &[
                member(person("Emma", "Hansen", Some(s.day(-3650)), None, t)?, FamilyRole::Child, None)?,
                member(
                    person("Mette", "Hansen", Some(s.day(-13000)), Some("1204891234"), t)?,
                    FamilyRole::Parent,
                    Some(aarhus.organization_id),
                )?,
                member(
                    person("Jonas", "Berg", Some(s.day(-13500)), None, t)?,
                    FamilyRole::OtherParent,
                    Some(randers.organization_id),
                )?,
                member(person("Lise", "Holm", None, None, t)?, FamilyRole::KeyPerson, None)?,
            ],
        )
        .await?;
    let emma = child_of(store, &aarhus, hansen).await?;
    let emma_placement = placement(
        &s,
        &aarhus,
        hansen,
        emma,
        provider.organization_id,
        PlacementSetting::FosterFamily,
        false,
        -111,
        -104,
        None,
        "AAR-PLC-0001",
    )
    .await?;
    visit(
        &s,
        &aarhus,
        emma_placement,
        -78,
        Supervision::Supported,
        Some(VisitOutcome::Held {
            observations: Some(
                FreeText::parse("Mette and Emma baked together; Emma was calm when they parted.")
                    .map_err(|e| e.at("observations"))?,
            ),
        }),
    )
    .await?;
    let cancelled =
        Cancellation::parse(CancelledBy::Parent, at(s.day(-51)), "Mette was ill and called the day before.")?;
    visit(&s, &aarhus, emma_placement, -50, Supervision::Supported, Some(VisitOutcome::Cancelled(cancelled))).await?;
    visit(&s, &aarhus, emma_placement, -22, Supervision::Supported, Some(VisitOutcome::Held { observations: None }))
        .await?;
    visit(&s, &aarhus, emma_placement, 13, Supervision::Supervised, None).await?;
    store
        .set_visit_arrangement(
            &meta(&aarhus, "setVisitArrangement"),
            emma_placement,
            &VisitArrangement::parse(28, Supervision::Supervised, Some("Lone Berg"))?,
        )
        .await?;
    let hansen_plan = store
        .create_plan(
            &meta(&aarhus, "createParentActionPlan"),
            emma_placement,
            &NewPlan::parse(
                42,
                Some("AAR-BP-0001"),
                vec![
                    NewGoal::parse(
                        "I want to come to every visit with Emma, and be prepared for it.",
                        GoalPurpose::ImproveContact,
                    )?,
                    NewGoal::parse("We want a calm and safe home, so Emma can come home.", GoalPurpose::ReturnHome)?,
                    NewGoal::parse(
                        "I want to understand what Emma needs when she is upset.",
                        GoalPurpose::ParentingSkills,
                    )?,
                ],
            )?,
        )
        .await?;

    // The plan was agreed, and reviewed two months ago; the next meeting, set for 18 days
    // ago, has not been held: the review is overdue.
    store.set_plan_status(&meta(&aarhus, "activateParentActionPlan"), hansen_plan, PlanStatus::Active, None).await?;
    let goals = plan_goal_ids(store, &aarhus, hansen_plan).await?;
    let review = NewReview::new(
        ReviewKind::PlanMeeting,
        s.day(-60),
        Some(FreeText::parse("Mette has come to every visit since the last meeting.").map_err(|e| e.at("note"))?),
        Some(FreeText::parse("Visits move to the family room at Familiecenter Øst.").map_err(|e| e.at("adjustments"))?),
        Some(s.day(-18)),
        goals
            .iter()
            .zip([4, 2, 3])
            .map(|(goal, score)| {
                Ok(GoalProgress {
                    goal_id: *goal,
                    score: ProgressScore::new(score).map_err(|e| e.at("score"))?,
                    note: None,
                })
            })
            .collect::<Result<Vec<_>, ValidationError>>()?,
        t,
    )?;
    store.record_review(&meta(&aarhus, "recordPlanReview"), hansen_plan, &review).await?;
    // A support person was offered a week after the decision and declined; it is due to be
    // offered again. The plan itself was accepted.
    let person_offer = store
        .offer_support(&meta(&aarhus, "offerSupport"), emma_placement, SupportOfferKind::SupportPerson, s.day(-103))
        .await?;
    store
        .answer_offer(
            &meta(&aarhus, "answerSupportOffer"),
            person_offer,
            OfferResponse::Declined,
            s.day(-100),
            Some(s.day(-5)),
        )
        .await?;
    let plan_offer = store
        .offer_support(&meta(&aarhus, "offerSupport"), emma_placement, SupportOfferKind::ParentActionPlan, s.day(-103))
        .await?;
    store
        .answer_offer(&meta(&aarhus, "answerSupportOffer"), plan_offer, OfferResponse::Accepted, s.day(-98), None)
        .await?;

    // Familiecenter Øst works with the Hansens; Mette lets the foster care provider see her
    // goals, and Jonas lets Randers, where he lives, see them too.
    store
        .create_referral(
            &meta(&aarhus, "createReferral"),
            hansen,
            family_services.organization_id,
            ReferralPeriod::new(s.day(-100), None)?,
        )
        .await?;
    let (mette, jonas) = (
        parent_of(store, &aarhus, hansen, FamilyRole::Parent).await?,
        parent_of(store, &aarhus, hansen, FamilyRole::OtherParent).await?,
    );
    store
        .give_consent(
            &meta(&aarhus, "giveConsent"),
            mette,
            ConsentPurpose::SharePlanGoalsWithPlacementProvider,
            provider.organization_id,
            s.day(-90),
        )
        .await?;
    store
        .give_consent(
            &meta(&aarhus, "giveConsent"),
            jonas,
            ConsentPurpose::ShareWithResidenceMunicipality,
            randers.organization_id,
            s.day(-90),
        )
        .await?;

    let lise = parent_of(store, &aarhus, hansen, FamilyRole::KeyPerson).await?;
    // Karin, a family therapist at Familiecenter Øst, owns a step under Mette's first goal.
    store
        .add_sub_goal(
            &meta(&aarhus, "addSubGoal"),
            goals[0],
            &FreeText::parse("Practise saying goodbye calmly at the end of each visit.")
                .map_err(|e| e.at("description"))?,
            family_services.organization_id,
            &Name::parse("Karin Møller, family therapist").map_err(|e| e.at("ownerName"))?,
        )
        .await?;

    // Mette's caseworker supports her in her role as a parent (000).
    let text = |t: &str| FreeText::parse(t).map_err(|e| e.at("text"));
    store
        .record_parental_note(
            &meta(&aarhus, "recordParentalSupportNote"),
            mette,
            s.day(-70),
            &text("Talked about how Emma reacts after visits, and what helps her.")?,
        )
        .await?;
    store
        .record_kopp_interview(
            &meta(&aarhus, "recordKoppInterview"),
            mette,
            s.day(-65),
            &[(lise, KoppRole::ChildConfidant)],
            Some(&text("Lise, Emma's teacher, joined.")?),
        )
        .await?;
    for (pillar, status, day) in [
        (ResiliencePillar::InformChildren, PillarStatus::Discussed, -65),
        (ResiliencePillar::ConfidantOutsideFamily, PillarStatus::InPlace, -65),
        (ResiliencePillar::InformChildren, PillarStatus::InPlace, -30),
    ] {
        store.record_pillar(&meta(&aarhus, "recordResiliencePillar"), mette, pillar, status, s.day(day), None).await?;
    }
    store
        .record_other_parent_support(
            &meta(&aarhus, "recordOtherParentSupport"),
            mette,
            jonas,
            s.day(-64),
            OtherParentSupport::new(true, false, true)?,
            None,
        )
        .await?;

    // Mette allowed Aarhus to tell Emma's teacher, Lise, about the placement.
    store
        .give_consent(
            &meta(&aarhus, "giveConsent"),
            mette,
            ConsentPurpose::NotifyKeyPeople,
            aarhus.organization_id,
            s.day(-95),
        )
        .await?;
    let note = FreeText::parse("Told about the placement so she can look out for Emma at school.")
        .map_err(|e| e.at("note"))?;
    store.notify_key_person(&meta(&aarhus, "notifyKeyPerson"), mette, lise, s.day(-94), Some(&note)).await?;

    // The Hansens' network map (000, 001): Lise, and a neighbour outside the family.
    let helpers = [
        (
            Helper::Person(lise),
            Some("Emma's teacher"),
            NetworkHelp::ChildConfidant,
            "Emma can talk to her at school about the placement and the visits.",
            -94,
        ),
        (
            Helper::NewPerson(person("Grethe", "Larsen", None, None, t)?),
            Some("neighbour"),
            NetworkHelp::ContactVisits,
            "Drives Mette to the contact visits at Skovbrynet on Thursdays.",
            -60,
        ),
    ];
    for (helper, relationship, help, description, since) in helpers {
        let entry = NetworkEntryInput { relationship, help, description, since: s.day(since) };
        let entry = NewNetworkEntry::parse(helper, entry, s.day(0))?;
        store.add_network_entry(&meta(&aarhus, "addNetworkMapEntry"), hansen, &entry).await?;
    }

    // The Nielsen family: Noah moved from kinship care to an institution.
    let nielsen = store
        .create_family(
            &meta(&aarhus, "createFamily"),
            &NewFamily::parse(Some("AAR-2026-0002"), "Nielsen")?,
            &[
                member(person("Noah", "Nielsen", Some(s.day(-5100)), None, t)?, FamilyRole::Child, None)?,
                member(
                    person("Sara", "Nielsen", Some(s.day(-14000)), None, t)?,
                    FamilyRole::PrimaryCaregiver,
                    Some(aarhus.organization_id),
                )?,
                member(
                    person("Birthe", "Nielsen", None, None, t)?,
                    FamilyRole::Grandparent,
                    Some(aarhus.organization_id),
                )?,
            ],
        )
        .await?;
    let noah = child_of(store, &aarhus, nielsen).await?;
    placement(
        &s,
        &aarhus,
        nielsen,
        noah,
        provider.organization_id,
        PlacementSetting::KinshipCare,
        true,
        -540,
        -535,
        Some((-265, PlacementEndReason::Moved)),
        "AAR-PLC-0002",
    )
    .await?;
    let noah_placement = placement(
        &s,
        &aarhus,
        nielsen,
        noah,
        provider.organization_id,
        PlacementSetting::ResidentialInstitution,
        true,
        -270,
        -265,
        None,
        "AAR-PLC-0003",
    )
    .await?;
    let pmto = store
        .offer_support(&meta(&aarhus, "offerSupport"), noah_placement, SupportOfferKind::Pmto, s.day(-262))
        .await?;
    store.answer_offer(&meta(&aarhus, "answerSupportOffer"), pmto, OfferResponse::Accepted, s.day(-255), None).await?;
    visit(&s, &aarhus, noah_placement, -43, Supervision::Unsupervised, Some(VisitOutcome::NoShow)).await?;
    visit(&s, &aarhus, noah_placement, -15, Supervision::Unsupervised, Some(VisitOutcome::Held { observations: None }))
        .await?;
    visit(&s, &aarhus, noah_placement, 6, Supervision::Unsupervised, None).await?;

    // The Ali family: placed three weeks ago, no plan yet.
    let ali = store
        .create_family(
            &meta(&aarhus, "createFamily"),
            &NewFamily::parse(Some("AAR-2026-0003"), "Ali")?,
            &[
                member(person("Yasmin", "Ali", Some(s.day(-2500)), None, t)?, FamilyRole::Child, None)?,
                member(
                    person("Amina", "Ali", Some(s.day(-11000)), None, t)?,
                    FamilyRole::Parent,
                    Some(aarhus.organization_id),
                )?,
            ],
        )
        .await?;
    let yasmin = child_of(store, &aarhus, ali).await?;
    placement(
        &s,
        &aarhus,
        ali,
        yasmin,
        provider.organization_id,
        PlacementSetting::FosterFamily,
        false,
        -21,
        -20,
        None,
        "AAR-PLC-0004",
    )
    .await?;

    // A family of Randers, which Aarhus does not see.
    store
        .create_family(
            &meta(&randers, "createFamily"),
            &NewFamily::parse(Some("RAN-2026-0001"), "Petersen")?,
            &[member(person("Ida", "Petersen", Some(s.day(-4000)), None, t)?, FamilyRole::Child, None)?],
        )
        .await?;

    // The mental health authority: a certified partner serving Maria Jensen, and a partner
    // whose training deadline is near.
    let maria =
        store.create_person(&meta(&authority, "createPerson"), &person("Maria", "Jensen", None, None, t)?).await?;
    let oliver = store
        .create_person(&meta(&authority, "createPerson"), &person("Oliver", "Jensen", Some(s.day(-4200)), None, t)?)
        .await?;
    let partner_name = person("Hanne", "Lund", None, None, t)?;
    let certified = Certification::parse(CertificationStatus::Certified, Some(s.day(-600)), Some(s.day(130)), None)?;
    let hanne = store
        .create_family_partner(
            &meta(&authority, "createFamilyPartner"),
            &partner_name,
            &certified,
            Some(&ExternalId::parse("hanne.lund").map_err(|e| e.at("subject"))?),
        )
        .await?;
    let pending = Certification::parse(CertificationStatus::PendingCertification, None, None, Some(s.day(23)))?;
    store
        .create_family_partner(
            &meta(&authority, "createFamilyPartner"),
            &person("Peter", "Dahl", None, None, t)?,
            &pending,
            Some(&ExternalId::parse("peter.dahl").map_err(|e| e.at("subject"))?),
        )
        .await?;
    let eligibility = store
        .record_eligibility(&meta(&authority, "recordServiceEligibility"), oliver, maria, s.day(-300), None)
        .await?;
    let assignment =
        store.assign_family_partner(&meta(&authority, "assignFamilyPartner"), hanne, eligibility, s.day(-290)).await?;
    for (offset, minutes, activity) in [
        (-280, 60, ServiceActivity::OrientationToTreatment),
        (-200, 45, ServiceActivity::SkillsTraining),
        (-30, 90, ServiceActivity::IdentifySupports),
    ] {
        let minutes = ServiceMinutes::new(minutes).map_err(|e| e.at("minutes"))?;
        store
            .record_partner_service(
                &meta(&authority, "recordFamilyPartnerService"),
                assignment,
                maria,
                s.day(offset),
                minutes,
                activity,
            )
            .await?;
    }
    Ok(true)
}

async fn plan_goal_ids(store: &Store, actor: &Actor, plan: ParentActionPlanId) -> Result<Vec<GoalId>, StoreError> {
    let log = kinbridge_persistence::scope::ReadLog::default();
    let reader = kinbridge_persistence::scope::Reader::new(actor, Utc::now().date_naive(), &log);
    let mut pages =
        store.association_pages(&reader, &catalogue::PLAN_GOALS, &[plan.as_uuid()], PageRequest::first(20)).await?;
    let goals = pages.remove(&plan.as_uuid()).map(|p| p.items).unwrap_or_default();
    Ok(goals.iter().map(|g| g.id).collect())
}

fn at(day: NaiveDate) -> chrono::DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(10, 0, 0).unwrap_or_default())
}

async fn child_of(store: &Store, actor: &Actor, family: FamilyId) -> Result<PersonId, StoreError> {
    parent_of(store, actor, family, FamilyRole::Child).await
}

/// The family's member with `role`.
async fn parent_of(store: &Store, actor: &Actor, family: FamilyId, role: FamilyRole) -> Result<PersonId, StoreError> {
    let log = kinbridge_persistence::scope::ReadLog::default();
    let reader = kinbridge_persistence::scope::Reader::new(actor, Utc::now().date_naive(), &log);
    let mut pages = store
        .association_pages(&reader, &catalogue::FAMILY_MEMBERS, &[family.as_uuid()], PageRequest::first(20))
        .await?;
    let members = pages.remove(&family.as_uuid()).map(|p| p.items).unwrap_or_default();
    members
        .iter()
        .find(|m| m.role == role)
        .map(|m| m.person_id)
        .ok_or_else(|| StoreError::Corrupt(format!("demo family without a {role}")))
}

#[allow(clippy::too_many_arguments)]
async fn placement(
    s: &Seeder<'_>,
    actor: &Actor,
    family: FamilyId,
    child: PersonId,
    provider: OrganizationId,
    setting: PlacementSetting,
    voluntary: bool,
    decided: i64,
    start: i64,
    end: Option<(i64, PlacementEndReason)>,
    external_id: &str,
) -> Result<PlacementId, StoreError> {
    let new = NewPlacement::parse(PlacementInput {
        external_id: Some(external_id),
        provider_id: Some(provider),
        setting,
        voluntary,
        decision_date: s.day(decided),
        start_date: s.day(start),
        end_date: end.map(|(d, _)| s.day(d)),
        end_reason: end.map(|(_, r)| r),
    })?;
    s.store.create_placement(&meta(actor, "createPlacement"), family, child, &new).await
}

async fn visit(
    s: &Seeder<'_>,
    actor: &Actor,
    placement: PlacementId,
    day: i64,
    supervision: Supervision,
    outcome: Option<VisitOutcome>,
) -> Result<(), StoreError> {
    let start = at(s.day(day));
    let new = NewVisit::parse(VisitInput {
        external_id: None,
        planned_start: start,
        planned_end: start + chrono::Duration::hours(2),
        location: Some("Familiecenter Øst, samværslokale 2"),
        supervision,
        supervisor_name: (supervision != Supervision::Unsupervised).then_some("Lone Berg"),
    })?;
    let id = match s.store.plan_visit(&meta(actor, "planContactVisit"), placement, &new, &[]).await? {
        Written::Stored(visit) => visit.id,
        Written::Read(id) => ContactVisitId::from_uuid(id),
    };
    if let Some(outcome) = outcome {
        let operation = match outcome {
            VisitOutcome::Held { .. } => "recordContactVisitHeld",
            VisitOutcome::Cancelled(_) => "cancelContactVisit",
            VisitOutcome::NoShow => "recordContactVisitNoShow",
        };
        s.store.record_visit_outcome(&meta(actor, operation), id, &outcome, None).await?;
    }
    Ok(())
}
