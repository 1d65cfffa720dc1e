//! `kinbridge seed`: a reproducible, synthetic data set of any size, for benchmarks and
//! load tests. The same `--families` and `--seed` give the same rows, ids included, on
//! SQLite and PostgreSQL alike.
//!
//! For N families: about N/102 municipalities (at most 98), N/250 placement providers (at
//! most 40), a family services provider per ten municipalities and two mental health
//! authorities; per family two parents and one or two children, a placement per child
//! (about 1.2 per family), 42 contact visits per placement, a parent action plan with three
//! goals and a review for four families in five, a referral for three in ten, consents,
//! and family partner assignments at the authorities. Rows are written in bulk
//! ([`Store::bulk_insert`]), not through the API: the data are synthetic and carry no
//! audit trail.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use kinbridge_domain::family::FamilyRole;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_domain::partner::CertificationStatus;
use kinbridge_domain::placement::PlacementSetting;
use kinbridge_domain::plan::{GoalPurpose, PlanStatus, ReviewKind};
use kinbridge_domain::sharing::{ConsentAge, ConsentPurpose};
use kinbridge_domain::visit::{CancelledBy, Supervision, VisitStatus};
use kinbridge_persistence::entities::*;
use kinbridge_persistence::{Store, StoreError};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

/// Visits per placement: 504,000 for 12,000 placements.
const VISITS_PER_PLACEMENT: usize = 42;
/// Families written per transaction.
const FAMILIES_PER_BATCH: usize = 500;

/// What the generator wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub organizations: usize,
    pub families: usize,
    pub persons: usize,
    pub placements: usize,
    pub visits: usize,
    pub plans: usize,
    pub goals: usize,
    pub referrals: usize,
    pub consents: usize,
    pub assignments: usize,
}

/// splitmix64: small, fast and the same everywhere, which is all a generator needs.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Ids in creation order, as UUIDv7 are, but from the seed: a millisecond clock that
/// starts at a fixed instant and ticks once per id.
#[derive(Debug)]
struct Ids {
    rng: Rng,
    millis: u64,
}

impl Ids {
    fn next(&mut self) -> Uuid {
        self.millis += 1;
        let random = self.rng.next().to_le_bytes();
        let more = self.rng.next().to_le_bytes();
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&random);
        bytes[8..].copy_from_slice(&more[..2]);
        uuid::Builder::from_unix_timestamp_millis(self.millis, &bytes).into_uuid()
    }
}

const GIVEN: &[&str] =
    &["Anna", "Mads", "Sofie", "Lars", "Ida", "Jens", "Emma", "Karl", "Freja", "Noah", "Laura", "Oskar"];
const FAMILY: &[&str] = &["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen"];
const SETTINGS: &[PlacementSetting] = &[
    PlacementSetting::FosterFamily,
    PlacementSetting::FosterFamily,
    PlacementSetting::KinshipCare,
    PlacementSetting::ResidentialInstitution,
    PlacementSetting::OwnRoom,
];
const PURPOSES: &[GoalPurpose] = &[
    GoalPurpose::ImproveContact,
    GoalPurpose::ReturnHome,
    GoalPurpose::ParentingSkills,
    GoalPurpose::ParentWellbeing,
    GoalPurpose::CooperationWithPlacement,
];

/// The day the data set is "as of": fixed, so that the same seed gives the same rows.
fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 9, 1).unwrap_or_default()
}

fn at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap_or_default())
}

/// The rows of one batch of families, written in one transaction.
#[derive(Default)]
struct Batch {
    persons: Vec<person::ActiveModel>,
    families: Vec<family::ActiveModel>,
    members: Vec<family_member::ActiveModel>,
    placements: Vec<placement::ActiveModel>,
    visits: Vec<contact_visit::ActiveModel>,
    plans: Vec<parent_action_plan::ActiveModel>,
    goals: Vec<plan_goal::ActiveModel>,
    reviews: Vec<plan_review::ActiveModel>,
    referrals: Vec<referral::ActiveModel>,
    consents: Vec<consent::ActiveModel>,
    eligibilities: Vec<service_eligibility::ActiveModel>,
    assignments: Vec<family_partner_assignment::ActiveModel>,
}

impl Batch {
    async fn write(self, store: &Store) -> Result<(), StoreError> {
        store.bulk_insert(self.persons).await?;
        store.bulk_insert(self.families).await?;
        store.bulk_insert(self.members).await?;
        store.bulk_insert(self.placements).await?;
        store.bulk_insert(self.visits).await?;
        store.bulk_insert(self.plans).await?;
        store.bulk_insert(self.goals).await?;
        store.bulk_insert(self.reviews).await?;
        store.bulk_insert(self.referrals).await?;
        store.bulk_insert(self.consents).await?;
        store.bulk_insert(self.eligibilities).await?;
        store.bulk_insert(self.assignments).await
    }
}

struct Organizations {
    municipalities: Vec<Uuid>,
    providers: Vec<Uuid>,
    services: Vec<Uuid>,
    authorities: Vec<Uuid>,
    /// Each authority's family partners.
    partners: Vec<Vec<Uuid>>,
}

/// Writes the data set of `families` families from `seed` into an empty database.
pub async fn generate(store: &Store, families: usize, seed: u64, progress: bool) -> Result<Generated, StoreError> {
    let mut rng = Rng(seed);
    let mut ids = Ids { rng: Rng(seed ^ 0x5EED), millis: 1_767_225_600_000 };
    let now = at(anchor(), 8);
    let mut out = Generated::default();

    let orgs = organizations(store, families, &mut ids, now, &mut out).await?;
    let bar = if progress { ProgressBar::new(families as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} families ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("seeding");
    let mut done = 0;
    while done < families {
        let n = FAMILIES_PER_BATCH.min(families - done);
        let mut batch = Batch::default();
        for i in done..done + n {
            one_family(i, &orgs, &mut rng, &mut ids, now, &mut batch, &mut out);
        }
        batch.write(store).await?;
        done += n;
        bar.set_position(done as u64);
    }
    bar.set_message("vacuuming");
    store.settle_bulk_load().await?;
    bar.finish_with_message("seeded");
    Ok(out)
}

async fn organizations(
    store: &Store,
    families: usize,
    ids: &mut Ids,
    now: DateTime<Utc>,
    out: &mut Generated,
) -> Result<Organizations, StoreError> {
    let municipalities = (families / 102).clamp(2, 98);
    let providers = (families / 250).clamp(1, 40);
    let services = municipalities.div_ceil(10);
    let authorities = 2;
    let mut rows = Vec::new();
    let mut make = |kind: OrganizationKind, n: usize, code: &dyn Fn(usize) -> String, name: &str| {
        (0..n)
            .map(|i| {
                let id = ids.next();
                rows.push(organization::ActiveModel {
                    id: Set(id),
                    kind: Set(kind.as_str().to_owned()),
                    name: Set(format!("{name} {}", i + 1)),
                    code: Set(code(i)),
                    created_at: Set(now),
                    disabled_at: Set(None),
                    young_person_consent_age: Set(ConsentAge::DEFAULT.years().into()),
                });
                id
            })
            .collect::<Vec<_>>()
    };
    let municipalities =
        make(OrganizationKind::Municipality, municipalities, &|i| format!("{:04}", 101 + i), "Kommune");
    let providers =
        make(OrganizationKind::PlacementProvider, providers, &|i| format!("PP-{:03}", i + 1), "Opholdssted");
    let services =
        make(OrganizationKind::FamilyServicesProvider, services, &|i| format!("FSP-{:03}", i + 1), "Familiecenter");
    let authorities = make(
        OrganizationKind::MentalHealthAuthority,
        authorities,
        &|i| format!("MHA-{:03}", i + 1),
        "Mental Health Authority",
    );
    out.organizations = rows.len();
    store.bulk_insert(rows).await?;

    let mut partner_rows = Vec::new();
    let partners = authorities
        .iter()
        .map(|authority| {
            (0..10)
                .map(|i| {
                    let id = ids.next();
                    let certified = i % 4 != 3;
                    partner_rows.push(family_partner::ActiveModel {
                        id: Set(id),
                        organization_id: Set(*authority),
                        created_at: Set(now),
                        updated_at: Set(now),
                        version: Set(1),
                        given_name: Set(GIVEN[i % GIVEN.len()].to_owned()),
                        family_name: Set(FAMILY[i % FAMILY.len()].to_owned()),
                        certification_status: Set(if certified {
                            CertificationStatus::Certified
                        } else {
                            CertificationStatus::PendingCertification
                        }
                        .as_str()
                        .to_owned()),
                        certified_on: Set(certified.then(|| anchor() - Duration::days(300))),
                        renewal_due: Set(certified.then(|| anchor() + Duration::days(400))),
                        training_deadline: Set((!certified).then(|| anchor() + Duration::days(120))),
                        subject: Set(Some(format!("partner-{}", id.simple()))),
                    });
                    id
                })
                .collect()
        })
        .collect();
    store.bulk_insert(partner_rows).await?;
    Ok(Organizations { municipalities, providers, services, authorities, partners })
}

fn person_row(
    id: Uuid,
    organization_id: Uuid,
    now: DateTime<Utc>,
    given_name: &str,
    family_name: &str,
    birth_date: Option<NaiveDate>,
) -> person::ActiveModel {
    person::ActiveModel {
        id: Set(id),
        organization_id: Set(organization_id),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        given_name: Set(given_name.to_owned()),
        family_name: Set(family_name.to_owned()),
        birth_date: Set(birth_date),
    }
}

#[allow(clippy::too_many_lines)]
fn one_family(
    i: usize,
    orgs: &Organizations,
    rng: &mut Rng,
    ids: &mut Ids,
    now: DateTime<Utc>,
    b: &mut Batch,
    out: &mut Generated,
) {
    let municipality = orgs.municipalities[i % orgs.municipalities.len()];
    let family_name = *rng.pick(FAMILY);
    let person = |b: &mut Batch, ids: &mut Ids, rng: &mut Rng, from_year: i32, years: usize| {
        let id = ids.next();
        let birth_year = from_year + rng.below(years) as i32;
        let given = *rng.pick(GIVEN);
        let birth_date = NaiveDate::from_ymd_opt(birth_year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32);
        b.persons.push(person_row(id, municipality, now, given, family_name, birth_date));
        id
    };
    let family_id = ids.next();
    b.families.push(family::ActiveModel {
        id: Set(family_id),
        organization_id: Set(municipality),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        external_id: Set(Some(format!("SAG-{:07}", i + 1))),
        name: Set(format!("Familien {family_name}")),
        caseworker_contact: Set(Some(format!("Rådgiver {}, tlf. 8940 {:04}", rng.pick(GIVEN), rng.below(10_000)))),
    });
    out.families += 1;
    // One in five families' parents live in another municipality.
    let residence = if rng.chance(20) { *rng.pick(&orgs.municipalities) } else { municipality };
    let mother = person(b, ids, rng, 1980, 15);
    let father = person(b, ids, rng, 1978, 15);
    let children: Vec<Uuid> = (0..if rng.chance(20) { 2 } else { 1 }).map(|_| person(b, ids, rng, 2010, 12)).collect();
    out.persons += 2 + children.len();
    let member = |b: &mut Batch, ids: &mut Ids, person: Uuid, role: FamilyRole, residence: Option<Uuid>| {
        b.members.push(family_member::ActiveModel {
            id: Set(ids.next()),
            organization_id: Set(municipality),
            created_at: Set(now),
            family_id: Set(family_id),
            person_id: Set(person),
            role: Set(role.as_str().to_owned()),
            residence_municipality_id: Set(residence),
        });
    };
    member(b, ids, mother, FamilyRole::Parent, Some(residence));
    member(b, ids, father, FamilyRole::Parent, Some(residence));
    for child in &children {
        member(b, ids, *child, FamilyRole::Child, None);
    }

    let mut first_placement = None;
    for child in &children {
        let provider = *rng.pick(&orgs.providers);
        let start = anchor() - Duration::days(200 + rng.below(500) as i64);
        let placement_id = ids.next();
        first_placement.get_or_insert((placement_id, start, provider));
        b.placements.push(placement::ActiveModel {
            id: Set(placement_id),
            organization_id: Set(municipality),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            family_id: Set(family_id),
            child_id: Set(*child),
            provider_id: Set(Some(provider)),
            external_id: Set(Some(format!("ANB-{}", placement_id.simple()))),
            setting: Set(rng.pick(SETTINGS).as_str().to_owned()),
            voluntary: Set(rng.chance(60)),
            decision_date: Set(start - Duration::days(rng.below(20) as i64)),
            start_date: Set(start),
            end_date: Set(None),
            end_reason: Set(None),
        });
        out.placements += 1;
        // Visits every fortnight or so from the start, the last few still to come.
        let every = 10 + rng.below(10) as i64;
        let first = anchor() - Duration::days(every * (VISITS_PER_PLACEMENT as i64 - 4));
        for v in 0..VISITS_PER_PLACEMENT {
            let day = first.max(start) + Duration::days(every * v as i64);
            let planned_start = at(day, 14);
            let (status, cancelled) = if day >= anchor() {
                (VisitStatus::Planned, None)
            } else {
                match rng.below(20) {
                    0..=2 => (
                        VisitStatus::Cancelled,
                        Some(*rng.pick(&[CancelledBy::Parent, CancelledBy::Child, CancelledBy::PlacementProvider])),
                    ),
                    3 => (VisitStatus::NoShow, None),
                    _ => (VisitStatus::Held, None),
                }
            };
            b.visits.push(contact_visit::ActiveModel {
                id: Set(ids.next()),
                organization_id: Set(municipality),
                created_at: Set(now),
                updated_at: Set(now),
                version: Set(1),
                placement_id: Set(placement_id),
                external_id: Set(None),
                planned_start: Set(planned_start),
                planned_end: Set(planned_start + Duration::hours(2)),
                location: Set(Some("Familiens hus".to_owned())),
                supervision: Set(if v % 3 == 0 { Supervision::Supervised } else { Supervision::Supported }.as_str().to_owned()),
                supervisor_name: Set(Some(format!("Samværskonsulent {}", rng.pick(GIVEN)))),
                status: Set(status.as_str().to_owned()),
                cancelled_by: Set(cancelled.map(|c| c.as_str().to_owned())),
                cancelled_at: Set(cancelled.map(|_| planned_start - Duration::days(1))),
                cancellation_reason: Set(cancelled.map(|_| "Sygdom".to_owned())),
                observations: Set((status == VisitStatus::Held).then(|| "Godt samvær".to_owned())),
                outcome_recorded_at: Set((status != VisitStatus::Planned).then_some(planned_start + Duration::hours(3))),
            });
            out.visits += 1;
        }
    }

    let Some((placement_id, start, provider)) = first_placement else { return };
    if rng.chance(80) {
        let plan_id = ids.next();
        let held_on = start + Duration::days(60);
        b.plans.push(parent_action_plan::ActiveModel {
            id: Set(plan_id),
            organization_id: Set(municipality),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            family_id: Set(family_id),
            placement_id: Set(placement_id),
            status: Set(PlanStatus::Active.as_str().to_owned()),
            review_interval_days: Set(90),
            child_plan_reference: Set(None),
            activated_on: Set(Some(start + Duration::days(14))),
            closed_on: Set(None),
            next_review_due: Set(Some(held_on + Duration::days(90))),
        });
        out.plans += 1;
        for position in 0..3 {
            b.goals.push(plan_goal::ActiveModel {
                id: Set(ids.next()),
                organization_id: Set(municipality),
                created_at: Set(now),
                plan_id: Set(plan_id),
                position: Set(position),
                description: Set(format!(
                    "Vi vil gerne {}",
                    ["se børnene oftere", "have børnene hjem", "blive bedre forældre"][position as usize]
                )),
                purpose: Set(rng.pick(PURPOSES).as_str().to_owned()),
            });
            out.goals += 1;
        }
        b.reviews.push(plan_review::ActiveModel {
            id: Set(ids.next()),
            organization_id: Set(municipality),
            created_at: Set(now),
            plan_id: Set(plan_id),
            kind: Set(ReviewKind::PlanMeeting.as_str().to_owned()),
            held_on: Set(held_on),
            note: Set(Some("Status på planen".to_owned())),
            adjustments: Set(None),
            next_review_on: Set(Some(held_on + Duration::days(90))),
        });
        if rng.chance(25) {
            b.consents.push(consent::ActiveModel {
                id: Set(ids.next()),
                organization_id: Set(municipality),
                created_at: Set(now),
                person_id: Set(mother),
                purpose: Set(ConsentPurpose::SharePlanGoalsWithPlacementProvider.as_str().to_owned()),
                recipient_id: Set(provider),
                given_on: Set(start),
                revoked_at: Set(None),
            });
            out.consents += 1;
        }
    }
    if rng.chance(30) {
        b.referrals.push(referral::ActiveModel {
            id: Set(ids.next()),
            organization_id: Set(municipality),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            family_id: Set(family_id),
            provider_id: Set(*rng.pick(&orgs.services)),
            starts_on: Set(start),
            ends_on: Set(None),
        });
        out.referrals += 1;
    }
    if rng.chance(10) {
        // The authority registers the child and the caregiver as its own clients.
        let a = rng.below(orgs.authorities.len());
        let authority = orgs.authorities[a];
        let client = |b: &mut Batch, ids: &mut Ids, given: &str, year: i32| {
            let id = ids.next();
            b.persons.push(person_row(id, authority, now, given, family_name, NaiveDate::from_ymd_opt(year, 6, 1)));
            id
        };
        let child = client(b, ids, "Barn", 2014);
        let caregiver = client(b, ids, "Forælder", 1985);
        out.persons += 2;
        let eligibility = ids.next();
        b.eligibilities.push(service_eligibility::ActiveModel {
            id: Set(eligibility),
            organization_id: Set(authority),
            created_at: Set(now),
            child_id: Set(child),
            caregiver_id: Set(caregiver),
            eligible_from: Set(start),
            eligible_to: Set(None),
        });
        let partner = orgs.partners[a][rng.below(orgs.partners[a].len())];
        b.assignments.push(family_partner_assignment::ActiveModel {
            id: Set(ids.next()),
            organization_id: Set(authority),
            created_at: Set(now),
            updated_at: Set(now),
            version: Set(1),
            family_partner_id: Set(partner),
            eligibility_id: Set(eligibility),
            caregiver_id: Set(caregiver),
            start_date: Set(start + Duration::days(7)),
            end_date: Set(None),
        });
        out.assignments += 1;
    }
}
