//! The schema walk: every root query field, asked by every kind of caller with as much of
//! the schema below it as the limits allow, over the demo data. Whenever an answer shows
//! a record about a person (a record their subject access report lists), that person's
//! access log must list the request. A new field or type that shows personal data without
//! logging it fails here, whichever query or nesting reaches it.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use kinbridge_domain::access::{Actor, Role};
use kinbridge_domain::ids::PersonId;
use kinbridge_domain::organization::OrganizationKind;
use kinbridge_persistence::scope::{ReadLog, Reader};
use serde_json::{Value, json};

use crate::audit::CLASSIFIED;
use crate::support::{TestApp, spawn_app_with};

struct Field {
    name: String,
    args: Vec<(String, Type, bool)>,
    ty: Type,
}

/// The published schema's types: fields of objects and interfaces, values of enums.
struct Schema {
    fields: BTreeMap<String, Vec<Field>>,
    enums: BTreeMap<String, Vec<String>>,
    interfaces: BTreeSet<String>,
}

impl Schema {
    fn parse() -> Self {
        let document = async_graphql::parser::parse_schema(kinbridge_api::sdl()).unwrap();
        let (mut fields, mut enums, mut interfaces) = (BTreeMap::new(), BTreeMap::new(), BTreeSet::new());
        for definition in document.definitions {
            let TypeSystemDefinition::Type(t) = definition else { continue };
            let t = t.node;
            let name = t.name.node.to_string();
            let defs = match t.kind {
                TypeKind::Object(o) => o.fields,
                TypeKind::Interface(i) => {
                    interfaces.insert(name.clone());
                    i.fields
                }
                TypeKind::Enum(e) => {
                    enums.insert(name, e.values.into_iter().map(|v| v.node.value.node.to_string()).collect());
                    continue;
                }
                _ => continue,
            };
            let list = defs
                .into_iter()
                .map(|f| Field {
                    name: f.node.name.node.to_string(),
                    args: f
                        .node
                        .arguments
                        .into_iter()
                        .map(|a| {
                            let required = !a.node.ty.node.nullable && a.node.default_value.is_none();
                            (a.node.name.node.to_string(), a.node.ty.node, required)
                        })
                        .collect(),
                    ty: f.node.ty.node,
                })
                .collect();
            fields.insert(name, list);
        }
        Self { fields, enums, interfaces }
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// Ids of the demo data by prefix, to fill id arguments.
pub(crate) type Pools = BTreeMap<String, Vec<String>>;

fn harvest(value: &Value, pools: &mut Pools) {
    match value {
        Value::String(s) => {
            if let Some((prefix, hex)) = s.split_once('_')
                && prefix.len() == 3
                && hex.len() == 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
            {
                let pool = pools.entry(prefix.to_owned()).or_default();
                if !pool.contains(s) {
                    pool.push(s.clone());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| harvest(v, pools)),
        Value::Object(fields) => fields.values().for_each(|v| harvest(v, pools)),
        _ => {}
    }
}

/// The kind of record an id argument names, from the field and argument.
fn prefix_for(field: &str, arg: &str) -> &'static str {
    let name = if arg == "id" || arg == "ids" { field } else { arg.trim_end_matches("Ids").trim_end_matches("Id") };
    match name {
        "family" => "fam",
        "person" | "client" | "child" | "keyPerson" | "recipient" | "caregiver" | "otherParent" => "per",
        "placement" => "plc",
        "contactVisit" => "vis",
        "parentActionPlan" | "plan" => "pln",
        "familyPartner" => "fpt",
        "serviceEligibility" | "eligibility" => "elg",
        "familyPartnerAssignment" | "assignment" => "fpa",
        "organization" | "provider" | "recipientOrganization" => "org",
        "member" => "mem",
        "goal" => "gol",
        _ => "",
    }
}

struct Walker<'a> {
    schema: &'a Schema,
    pools: &'a Pools,
    unfilled: BTreeSet<String>,
}

impl Walker<'_> {
    /// An argument's value as GraphQL text, or `None` when there is none to give.
    fn value(&self, field: &str, arg: &str, ty: &Type) -> Option<String> {
        let list = matches!(ty.base, BaseType::List(_));
        let one = match named(ty) {
            "ID" => {
                let prefix = match prefix_for(field, arg) {
                    "" => "fam",
                    p => p,
                };
                // With none seen, a well-formed id of a record that does not exist.
                match self.pools.get(prefix).and_then(|p| p.first()) {
                    Some(id) => format!("\"{id}\""),
                    None => format!("\"{prefix}_{}\"", "0".repeat(32)),
                }
            }
            "Date" => {
                (if arg.starts_with("to") || arg.starts_with("until") { "\"2030-01-01\"" } else { "\"2020-01-01\"" })
                    .to_owned()
            }
            "DateTime" => (if arg.starts_with("to") || arg.starts_with("until") {
                "\"2030-01-01T00:00:00Z\""
            } else {
                "\"2020-01-01T00:00:00Z\""
            })
            .to_owned(),
            "Int" => "2".to_owned(),
            "Boolean" => "true".to_owned(),
            "String" => match arg {
                "externalId" => "\"AAR-2026-0001\"".to_owned(),
                "system" => "\"DK-CPR\"".to_owned(),
                "value" => "\"1204891234\"".to_owned(),
                _ => "\"x\"".to_owned(),
            },
            other => self.schema.enums.get(other)?.first()?.clone(),
        };
        Some(if list { format!("[{one}]") } else { one })
    }

    /// `f` as asked under `type_name`, with its arguments: `None` when an argument has no
    /// value to give.
    fn field(&mut self, type_name: &str, f: &Field) -> Option<String> {
        let mut args = Vec::new();
        for (name, ty, required) in &f.args {
            if name == "first" {
                args.push("first: 2".to_owned());
            } else if *required {
                match self.value(&f.name, name, ty) {
                    Some(v) => args.push(format!("{name}: {v}")),
                    None => {
                        self.unfilled.insert(format!("{type_name}.{}", f.name));
                        return None;
                    }
                }
            }
        }
        Some(if args.is_empty() { f.name.clone() } else { format!("{}({})", f.name, args.join(", ")) })
    }

    /// Selections of `type_name` that together ask all of it: with `split`, one per field
    /// that is an object or connection (each beside every leaf), so that a read is
    /// checked on its own and not hidden by a sibling that reads the same records.
    fn branches(&mut self, type_name: &str, depth: usize, split: bool) -> Vec<String> {
        let Some(fields) = self.schema.fields.get(type_name) else { return Vec::new() };
        if self.schema.interfaces.contains(type_name) {
            return vec!["{ __typename id }".to_owned()];
        }
        let wrapper = type_name.ends_with("Connection") || type_name.ends_with("Edge");
        // A connection and its edges take the level of the object they hang under.
        let next = if wrapper { depth } else { depth.saturating_sub(1) };
        let mut leaves = vec!["__typename".to_owned()];
        let mut nested: Vec<Vec<String>> = Vec::new();
        for f in fields {
            let child = named(&f.ty).to_owned();
            let leaf = !self.schema.fields.contains_key(&child);
            if !leaf && next == 0 {
                continue;
            }
            let Some(asked) = self.field(type_name, f) else { continue };
            if leaf {
                leaves.push(asked);
            } else {
                // Through a connection, the split goes on to the node's fields.
                let subs = self.branches(&child, next, split && wrapper);
                nested.push(subs.into_iter().map(|sub| format!("{asked} {sub}")).collect());
            }
        }
        let leaves = leaves.join(" ");
        if !split {
            let all: Vec<String> = nested.into_iter().flatten().collect();
            return vec![format!("{{ {leaves} {} }}", all.join(" "))];
        }
        let mut out: Vec<String> = nested.into_iter().flatten().map(|n| format!("{{ {leaves} {n} }}")).collect();
        if out.is_empty() {
            out.push(format!("{{ {leaves} }}"));
        }
        out
    }
}

/// Every `(type, id)` of an object shown in `value`: its own id, or for a timeline entry
/// the record behind it.
fn shown(value: &Value, into: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(fields) => {
            let id = fields.get("id").or_else(|| fields.get("recordId"));
            if let (Some(Value::String(t)), Some(Value::String(id))) = (fields.get("__typename"), id) {
                into.insert((t.clone(), id.clone()));
            }
            fields.values().for_each(|v| shown(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| shown(v, into)),
        _ => {}
    }
}

fn typenames(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(t)) = fields.get("__typename") {
                into.insert(t.clone());
            }
            fields.values().for_each(|v| typenames(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| typenames(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn every_record_about_a_person_that_any_query_shows_is_in_their_access_log() {
    let app = spawn_app_with(true).await;
    let callers = [
        (
            "aarhus",
            app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["CASEWORKER", "MANAGER"]),
        ),
        (
            "aarhus-dpo",
            app.token(app.org_by_code(OrganizationKind::Municipality, "0751").await, &["DATA_PROTECTION_OFFICER"]),
        ),
        ("randers", app.token(app.org_by_code(OrganizationKind::Municipality, "0730").await, &["CASEWORKER"])),
        (
            "site",
            app.token(app.org_by_code(OrganizationKind::PlacementProvider, "PP-0751-01").await, &["PLACEMENT_STAFF"]),
        ),
        (
            "fsp",
            app.token(
                app.org_by_code(OrganizationKind::FamilyServicesProvider, "FSP-0751-01").await,
                &["FAMILY_THERAPIST"],
            ),
        ),
        ("mha", app.token(app.org_by_code(OrganizationKind::MentalHealthAuthority, "MHA-MIDT").await, &["MANAGER"])),
    ];

    let (pools, requests, reached) = walk(&app, &callers, 3).await;
    assert!(pools.get("per").is_some_and(|p| p.len() >= 4), "{pools:?}");
    let asked = requests.len();

    // The walk reached every type that shows personal data.
    let personal: BTreeSet<&str> = CLASSIFIED.iter().filter(|(_, t)| t.is_some()).map(|(name, _)| *name).collect();
    let missed: Vec<&&str> = personal.iter().filter(|t| !reached.contains(**t)).collect();
    assert!(missed.is_empty(), "personal-data types no query of the walk showed: {missed:?}");

    // Whose data each answer showed, by the records each person's subject report lists.
    let mut about: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for person in pools.get("per").unwrap() {
        let id: PersonId = person.parse().unwrap();
        let owner = app.store.person_owner(id).await.unwrap().unwrap();
        let dpo = Actor {
            subject: "walk".into(),
            organization_id: owner.id,
            organization_kind: owner.kind,
            roles: vec![Role::DataProtectionOfficer],
        };
        let log = ReadLog::default();
        let report =
            app.store.subject_report(&Reader::new(&dpo, chrono::Utc::now().date_naive(), &log), id).await.unwrap();
        let mut ids = BTreeSet::from([person.clone()]);
        let mut records = BTreeSet::new();
        shown_ids(&report["records"], &mut records);
        ids.extend(records);
        about.insert(person.clone(), ids);
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for (person, ids) in &about {
        let logged: BTreeSet<String> = app
            .store
            .full_access_log(person.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.request_id)
            .collect();
        for (request_id, data) in &requests {
            let mut objects = BTreeSet::new();
            shown(data, &mut objects);
            let theirs: Vec<_> =
                objects.iter().filter(|(t, id)| ids.contains(id) && personal.contains(t.as_str())).collect();
            if theirs.is_empty() {
                continue;
            }
            checked += 1;
            if !logged.contains(request_id) {
                failures.push(format!("{request_id} showed {theirs:?} about {person}, not in their access log"));
            }
        }
    }
    // And record by record: every record of a personal type an answer showed is a read
    // of that request in the trail.
    for (request_id, data) in &requests {
        let mut objects = BTreeSet::new();
        shown(data, &mut objects);
        let audited: BTreeSet<uuid::Uuid> =
            app.store.audit_events_for_request(request_id).await.unwrap().into_iter().map(|e| e.record_id).collect();
        for (t, id) in objects.iter().filter(|(t, _)| personal.contains(t.as_str())) {
            let Some(uuid) = id.split_once('_').and_then(|(_, hex)| uuid::Uuid::try_parse(hex).ok()) else { continue };
            if !audited.contains(&uuid) {
                failures.push(format!("{request_id} showed {t} {id} without recording the read"));
            }
        }
    }
    eprintln!("the walk asked {asked} queries; {checked} showed a person's data, each checked against their log");
    assert!(checked > 50, "the walk showed personal data {checked} times");
    assert!(failures.is_empty(), "{} reads missing from access logs:\n{}", failures.len(), failures.join("\n"));
}

fn shown_ids(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(id)) = fields.get("id") {
                into.insert(id.clone());
            }
            fields.values().for_each(|v| shown_ids(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| shown_ids(v, into)),
        _ => {}
    }
}

/// Asks every root query field, as each of `callers`, with the schema below it `depth`
/// object levels deep, one query per nested field, with ids of what the callers see.
/// Returns those ids, each request's id and data, and every type the answers showed.
/// Fails on any error other than `FORBIDDEN` or `NOT_FOUND`.
pub(crate) async fn walk(
    app: &TestApp,
    callers: &[(&str, String)],
    depth: usize,
) -> (Pools, Vec<(String, Value)>, BTreeSet<String>) {
    let schema = Schema::parse();
    // Ids to ask with: what the callers see of the demo data.
    let mut pools = Pools::new();
    for (_, token) in callers {
        for q in [
            "{ families(first: 10) { edges { node { id members(first: 10) { edges { node { id person { id } } } } placements(first: 5) { edges { node { id
                contactVisits(first: 5) { edges { node { id } } } } } } parentActionPlans(first: 5) { edges { node { id goals(first: 5) { edges { node { id } } } } } } } } }
              organizations(first: 10) { edges { node { id } } } }",
            "{ familyPartners(first: 10) { edges { node { id assignments(first: 5) { edges { node { id eligibility { id child { id } primaryCaregiver { id } } } } } } } } }",
        ] {
            harvest(&app.gql(token, q, json!({})).await.body, &mut pools);
        }
    }

    // Every root query field, as every caller.
    let mut walker = Walker { schema: &schema, pools: &pools, unfilled: BTreeSet::new() };
    let root = schema.fields.get("Query").unwrap();
    let mut requests: Vec<(String, Value)> = Vec::new();
    let mut reached = BTreeSet::new();
    for f in root {
        let mut args = Vec::new();
        let mut unfillable = false;
        for (name, ty, required) in &f.args {
            if name == "first" {
                args.push("first: 3".to_owned());
            } else if *required {
                match walker.value(&f.name, name, ty) {
                    Some(v) => args.push(format!("{name}: {v}")),
                    None => unfillable = true,
                }
            }
        }
        assert!(!unfillable, "no value for an argument of Query.{}", f.name);
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        let root_type = named(&f.ty).to_owned();
        let selections = if schema.fields.contains_key(&root_type) {
            walker.branches(&root_type, depth, true)
        } else {
            vec![String::new()]
        };
        for (branch, selection) in selections.iter().enumerate() {
            let query = format!("{{ {}{args} {selection} }}", f.name);
            for (caller, token) in callers {
                let request_id = format!("walk-{}-{branch}-{caller}", f.name);
                let body = app.gql_as(token, &request_id, &query, Value::Null).await.body;
                for e in body["errors"].as_array().into_iter().flatten() {
                    let code = e["extensions"]["code"].as_str().unwrap_or_default();
                    assert!(["FORBIDDEN", "NOT_FOUND"].contains(&code), "Query.{} as {caller}: {e}\n{query}", f.name);
                }
                typenames(&body["data"], &mut reached);
                requests.push((request_id, body["data"].clone()));
            }
        }
    }
    assert!(walker.unfilled.is_empty(), "nested fields the walk could not ask: {:?}", walker.unfilled);
    (pools, requests, reached)
}
