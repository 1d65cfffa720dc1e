"""Schemathesis hooks that let generated GraphQL operations reach Kinbridge's resolvers.

Random strings are refused at input checking, since every id has a kind (`fam_…`), so
these hooks keep a pool of the real ids of each kind, harvested from the demo data at
start and from every answer since, and put one of the right kind in every id argument of
a generated operation. Each operation is sent with the token of one of several callers
(organisations and roles), chosen at random. A check of Kinbridge's own contract replaces
Schemathesis's notion of a server error, and each operation's outcome is written to the
file `KINBRIDGE_FUZZ_OUTCOMES` names, for `fuzz/summary.py`.

Environment: `KINBRIDGE_FUZZ_URL` (the GraphQL endpoint), `KINBRIDGE_FUZZ_TOKENS` (a
JSON object of caller name to bearer token), `KINBRIDGE_FUZZ_OUTCOMES`.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import random
import re
import urllib.request
from dataclasses import replace

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

URL = os.environ["KINBRIDGE_FUZZ_URL"]
TOKENS: dict[str, str] = json.loads(os.environ["KINBRIDGE_FUZZ_TOKENS"])
OUTCOMES = os.environ["KINBRIDGE_FUZZ_OUTCOMES"]

PREFIXES = [
    "org",
    "per",
    "fam",
    "mem",
    "plc",
    "vis",
    "pln",
    "gol",
    "fpt",
    "elg",
    "fpa",
    "fps",
    "ref",
    "con",
    "kpn",
    "rev",
    "off",
    "sgl",
    "arr",
    "psn",
    "kop",
    "plr",
    "ops",
    "net",
]
ID = re.compile(r"\b(" + "|".join(PREFIXES) + r")_[0-9a-f]{32}\b")

# The kind of id an argument or input field takes, by its name.
BY_NAME = {
    "familyId": "fam",
    "memberId": "mem",
    "placementId": "plc",
    "planId": "pln",
    "goalId": "gol",
    "familyPartnerId": "fpt",
    "eligibilityId": "elg",
    "assignmentId": "fpa",
    "personId": "per",
    "childId": "per:CHILD",
    "clientId": "per:PARENT",
    "keyPersonId": "per:KEY_PERSON",
    "otherParentId": "per:OTHER_PARENT",
    "primaryCaregiverId": "per:PRIMARY_CAREGIVER",
    "participantIds": "per",
    "providerId": "org",
    "residenceMunicipalityId": "org",
    "ownerOrganizationId": "org",
    "organizationId": "org",
    "recipientId": "org",
}
# Where the same name means another kind, or `id` names the record the field is about.
BY_FIELD = {
    ("recordFamilyPartnerService", "recipientId"): "per:PRIMARY_CAREGIVER",
    ("answerSupportOffer", "id"): "off",
    ("cancelContactVisit", "id"): "vis",
    ("recordContactVisitHeld", "id"): "vis",
    ("recordContactVisitNoShow", "id"): "vis",
    ("correctContactVisit", "id"): "vis",
    ("activateParentActionPlan", "id"): "pln",
    ("closeParentActionPlan", "id"): "pln",
    ("correctFamilyMember", "id"): "mem",
    ("correctGoal", "id"): "gol",
    ("correctPerson", "id"): "per",
    ("correctPlacement", "id"): "plc",
    ("endPlacement", "id"): "plc",
    ("endReferral", "id"): "ref",
    ("endNetworkMapEntry", "id"): "net",
    ("revokeConsent", "id"): "con",
    ("setSubGoalStatus", "id"): "sgl",
    ("organization", "id"): "org",
    ("family", "id"): "fam",
    ("person", "id"): "per",
    ("placement", "id"): "plc",
    ("contactVisit", "id"): "vis",
    ("parentActionPlan", "id"): "pln",
    ("familyPartner", "id"): "fpt",
    ("serviceEligibility", "id"): "elg",
    ("familyPartnerAssignment", "id"): "fpa",
    ("accessLog", "personId"): "per",
    ("subjectReport", "personId"): "per",
}

POOL: dict[str, list[str]] = {prefix: [] for prefix in PREFIXES}
# The ids seen under each family: an operation draws its ids from one family where it
# can, so that a child and a placement, or a client and a key person, belong together.
FAMILIES: dict[str, dict[str, list[str]]] = {}
# The families each caller sees.
SEEN_BY: dict[str, list[str]] = {}
# Each caller's own organisation.
VIEWER_ORG: dict[str, str] = {}


def harvest(text: str, into: dict[str, list[str]] | None = None) -> None:
    pool = POOL if into is None else into
    for match in ID.finditer(text):
        kind, value = match.group(1), match.group(0)
        ids = pool.setdefault(kind, [])
        if value not in ids:
            ids.append(value)


def harvest_families(caller: str, answer: str) -> None:
    """Files the ids under each family node of a `families` answer."""
    try:
        edges = json.loads(answer)["data"]["families"]["edges"]
    except (ValueError, KeyError, TypeError):
        return
    for edge in edges:
        node = edge.get("node") or {}
        family = node.get("id")
        if family:
            ids = FAMILIES.setdefault(family, {})
            harvest(json.dumps(node), ids)
            for member in ((node.get("members") or {}).get("edges")) or []:
                person = ((member.get("node") or {}).get("person") or {}).get("id")
                role = (member.get("node") or {}).get("role")
                if person and role and person not in ids.setdefault(f"per:{role}", []):
                    ids[f"per:{role}"].append(person)
            seen = SEEN_BY.setdefault(caller, [])
            if family not in seen:
                seen.append(family)


def harvest_assignments(caller: str, answer: str) -> None:
    """Each family partner assignment as a family of its own, for the mental health
    authority, which sees no families: its child, primary caregiver and eligibility."""
    try:
        partners = json.loads(answer)["data"]["familyPartners"]["edges"]
    except (ValueError, KeyError, TypeError):
        return
    for partner in partners:
        for edge in (((partner.get("node") or {}).get("assignments") or {}).get("edges")) or []:
            node = edge.get("node") or {}
            eligibility = node.get("eligibility") or {}
            child = (eligibility.get("child") or {}).get("id")
            caregiver = (eligibility.get("primaryCaregiver") or {}).get("id")
            if not (node.get("id") and child and caregiver):
                continue
            FAMILIES[node["id"]] = {
                "fpa": [node["id"]],
                "elg": [eligibility.get("id")],
                "fpt": [partner["node"]["id"]],
                "per": [child, caregiver],
                "per:CHILD": [child],
                "per:PRIMARY_CAREGIVER": [caregiver],
                "per:PARENT": [caregiver],
            }
            seen = SEEN_BY.setdefault(caller, [])
            if node["id"] not in seen:
                seen.append(node["id"])


def ask(token: str, query: str) -> str:
    request = urllib.request.Request(
        URL,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()


# What every caller can see of the demo data, read once at start, in queries small
# enough for the complexity limit.
SEED = [
    """{ viewer { organization { id } } organizations(first: 100) { edges { node { id } } }
        familyPartners(first: 100) { edges { node { id assignments { edges { node { id
          eligibility { id child { id } primaryCaregiver { id } } } } } } } } }""",
    """{ families(first: 50) { edges { node { id referrals { edges { node { id } } }
        members { edges { node { id role person { id consents { edges { node { id } } } } } } } } } } }""",
    """{ families(first: 20) { edges { node { id placements(first: 5) { edges { node { id
        supportOffers { edges { node { id } } } contactVisits(first: 20) { edges { node { id } } } } } } } } } }""",
    """{ families(first: 20) { edges { node { id parentActionPlans(first: 5) { edges { node { id
        goals { edges { node { id subGoals { edges { node { id } } } } } } } } } } } } }""",
]

for caller_name, caller_token in sorted(TOKENS.items()):
    for seed in SEED:
        answer = ask(caller_token, seed)
        harvest(answer)
        viewer = ((json.loads(answer).get("data") or {}).get("viewer") or {}).get("organization") or {}
        if viewer.get("id"):
            VIEWER_ORG[caller_name] = viewer["id"]
        harvest_families(caller_name, answer)
        harvest_assignments(caller_name, answer)
print("fuzz: ids harvested from the demo data:", {k: len(v) for k, v in POOL.items() if v})

# Dates and times from a few points around today, so that pairs of them are often in
# order and close together, and most are not in the future.
TODAY = datetime.date.today()
DAYS = [-300, -30, -7, -1, 0, 0, 0, 7]
schemathesis.graphql.scalar(
    "Date",
    st.sampled_from(DAYS).map(lambda d: nodes.String((TODAY + datetime.timedelta(days=d)).isoformat())),
)
HOURS = [8, 9, 10, 12, 15]
schemathesis.graphql.scalar(
    "DateTime",
    st.tuples(st.sampled_from([-3, -1, 0, 1, 3]), st.sampled_from(HOURS), st.sampled_from(["Z", "+01:00"])).map(
        lambda t: nodes.String(f"{(TODAY + datetime.timedelta(days=t[0])).isoformat()}T{t[1]:02}:00:00{t[2]}")
    ),
)

# Callers that may do what an operation does, tried more often than the others: the
# demo's families are mostly Aarhus's, so its caseworker unless named here.
DEFAULT_CALLER = "aarhus-caseworker"
PREFERRED = {
    "createFamilyPartner": "mha",
    "assignFamilyPartner": "mha",
    "recordFamilyPartnerService": "mha",
    "recordServiceEligibility": "mha",
    "recordContactVisitHeld": "provider",
    "recordContactVisitNoShow": "provider",
    "auditEvents": "aarhus-auditor",
    "accessLog": "aarhus-auditor",
    "subjectReport": "aarhus-dpo",
    "erasePerson": "aarhus-dpo",
    "caregiverServiceHours": "mha",
    "familyPartner": "mha",
    "serviceEligibility": "mha",
    "familyPartnersDueForCertification": "mha",
}
SMALL = [0, 1, 2, 3, 4, 5, 7, 14, 30, 90]
# Numbers whose range the names tell.
NUMBERS = {
    "score": [1, 2, 3, 4, 5],
    "minutes": [15, 45, 90],
    "reviewIntervalDays": [14, 30, 90],
    "intervalDays": [7, 14, 28],
    "expectedParticipants": [1, 2],
}


def kind_of(field: str, name: str) -> str | None:
    return BY_FIELD.get((field, name)) or BY_NAME.get(name)


def real_id(kind: str, family: dict[str, list[str]], rng: random.Random) -> graphql.StringValueNode | None:
    """An id of this kind, mostly from the family; `per:ROLE` is a person in that role,
    else any person."""
    ids = family.get(kind) if rng.random() < 0.8 else None
    kind = kind.split(":")[0]
    ids = ids or (family.get(kind) if rng.random() < 0.8 else None) or POOL.get(kind)
    return graphql.StringValueNode(value=rng.choice(ids)) if ids else None


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def substitute(
    value: graphql.ValueNode, field: str, name: str, family: dict[str, list[str]], rng: random.Random
) -> graphql.ValueNode:
    """The value with ids of the right kind where the names say which kind, a usable
    idempotency key, and, mostly, free text without control characters. Some of what was
    generated is kept as it was, so that input checking is still explored."""
    kind = kind_of(field, name)
    if isinstance(value, graphql.ObjectValueNode):
        fields = tuple(replace(f, value=substitute(f.value, field, f.name.value, family, rng)) for f in value.fields)
        return replace(value, fields=fields)
    if isinstance(value, graphql.ListValueNode):
        return replace(value, values=tuple(substitute(v, field, name, family, rng) for v in value.values))
    scalar = isinstance(value, (graphql.StringValueNode, graphql.IntValueNode))
    if kind and scalar and rng.random() < 0.95:
        return real_id(kind, family, rng) or value
    # Records have small versions; a stale one is a conflict.
    if name.startswith("expected") and name.endswith("Version") and scalar and rng.random() < 0.9:
        return graphql.IntValueNode(value=str(rng.randint(1, 4)))
    if isinstance(value, graphql.IntValueNode) and rng.random() < 0.8:
        return graphql.IntValueNode(value=str(rng.choice(NUMBERS.get(name, SMALL))))
    if name == "idempotencyKey" and scalar and rng.random() < 0.9:
        return graphql.StringValueNode(value=f"fuzz-{rng.getrandbits(64):016x}")
    if isinstance(value, graphql.StringValueNode) and rng.random() < 0.8:
        text = CONTROL.sub("", value.value).strip()
        return replace(value, value=text or "x")
    return value


def rewrite(document: graphql.DocumentNode, caller: str, rng: random.Random) -> graphql.DocumentNode:
    """The document with real ids in the arguments of its root fields, drawn mostly from
    one family the caller sees (nodes are immutable)."""
    families = SEEN_BY.get(caller) or sorted(FAMILIES)
    family = FAMILIES[rng.choice(families)] if families else {}

    def field(selection: graphql.SelectionNode) -> graphql.SelectionNode:
        if not isinstance(selection, graphql.FieldNode):
            return selection
        name = selection.name.value
        arguments = tuple(
            replace(a, value=substitute(a.value, name, a.name.value, family, rng))
            for a in selection.arguments or ()
            # Cursors are opaque: a made-up one is refused, so most pages start at the start.
            if not (a.name.value in ("after", "before") and rng.random() < 0.8)
        )
        inner = selection.selection_set
        if inner is not None:
            inner = replace(inner, selections=tuple(field(s) for s in inner.selections))
        return replace(selection, arguments=arguments, selection_set=inner)

    definitions = []
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            selections = tuple(field(s) for s in definition.selection_set.selections)
            definition = replace(definition, selection_set=replace(definition.selection_set, selections=selections))
        definitions.append(definition)
    return replace(document, definitions=tuple(definitions))


def root_field(query: str) -> tuple[str, str]:
    document = graphql.parse(query)
    for definition in document.definitions:
        if isinstance(definition, graphql.OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, graphql.FieldNode):
                    return definition.operation.value, selection.name.value
    return "query", "?"


# ---------------------------------------------------------------------------------------
# Recipes: for a share of the cases of the mutations whose rules random values seldom
# meet (a child of this family, a visit still planned, a plan still a draft), the input
# is replaced by a valid one built from a family the caller sees, with the records that
# earlier recipes created, so that every mutation's write path is reached. The rest of
# the cases stay as generated.

RECIPE_SHARE = 0.3
# The mutations that make what others need (a planned visit, a placement) use more.
PRODUCERS = {"createFamily": 0.5, "createPlacement": 0.5, "planContactVisit": 0.7, "offerSupport": 0.5}
# Ids of the records recipes created, by kind: they are still in their first state.
CREATED: dict[str, list[str]] = {}
# Families created by recipes, with their members by role, by caller.
FRESH_BY: dict[str, list[str]] = {}


def fresh(kind: str, family: dict[str, list[str]], rng: random.Random) -> str | None:
    """A record of this kind that a recipe created, or one from the family; families and
    persons always from the family, so that they belong together."""
    if kind == "fam" and family.get("fam"):
        return family["fam"][0]
    ids = (
        CREATED.get(kind) if kind not in ("fam", "org") and not kind.startswith("per") and rng.random() < 0.8 else None
    )
    if ids:
        return ids[-1] if rng.random() < 0.6 else rng.choice(ids)
    node = real_id(kind, family, rng)
    return node.value if node else None


def load_state() -> None:
    """What earlier passes of the same run harvested and created (`KINBRIDGE_FUZZ_STATE`)."""
    path = os.environ.get("KINBRIDGE_FUZZ_STATE")
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as file:
        state = json.load(file)
    for name, value in state.items():
        for key_, items in value.items():
            target = globals()[name].setdefault(key_, [] if isinstance(items, list) else {})
            if isinstance(items, list):
                target.extend(i for i in items if i not in target)
            else:
                target.update(items)


def save_state() -> None:
    path = os.environ.get("KINBRIDGE_FUZZ_STATE")
    if path:
        state = {"POOL": POOL, "FAMILIES": FAMILIES, "SEEN_BY": SEEN_BY, "CREATED": CREATED, "FRESH_BY": FRESH_BY}
        with open(path, "w", encoding="utf-8") as file:
            json.dump(state, file)


def day(offset: int) -> str:
    return (TODAY + datetime.timedelta(days=offset)).isoformat()


def key(rng: random.Random) -> str:
    return f"recipe-{rng.getrandbits(64):016x}"


def literal(value) -> str:
    """A Python value as a GraphQL input literal; `Enum(...)` values are unquoted."""
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(value)


class Enum:
    def __init__(self, name: str) -> None:
        self.name = name


def recipe(field: str, caller: str, family: dict[str, list[str]], rng: random.Random) -> tuple[dict, str] | None:
    """A valid input for `field` and the selection that returns the new record's id."""
    f = family
    home = VIEWER_ORG.get(caller) or fresh("org", f, rng)

    def person(role: str) -> str | None:
        members = f.get(f"per:{role}")
        return rng.choice(members) if members else fresh("per", f, rng)

    def planned_visit(started: bool) -> str | None:
        """A visit planned for this case, on a placement a recipe made, that has started
        (to be held, missed or cancelled) or not (to be corrected): visits change state
        once, and the cases that change them would otherwise use each other's up."""
        offset = -1 if started else 3
        for placement in reversed((CREATED.get("plc") or [])[-5:]):
            values = {
                "placementId": placement,
                "plannedStart": f"{day(offset)}T10:00:00Z",
                "plannedEnd": f"{day(offset)}T11:00:00Z",
                "supervision": Enum("UNSUPERVISED"),
            }
            plan = f"mutation {{ planContactVisit(input: {literal(values)}) {{ contactVisit {{ id }} }} }}"
            try:
                answer = json.loads(ask(TOKENS[DEFAULT_CALLER], plan))
                return answer["data"]["planContactVisit"]["contactVisit"]["id"]
            except (ValueError, KeyError, TypeError):
                continue
        return None

    def version(root: str, record: str | None) -> int:
        """The record's current version, read as the caller."""
        try:
            answer = json.loads(ask(TOKENS[caller], f'{{ {root}(id: "{record}") {{ version }} }}'))
            return int(answer["data"][root]["version"])
        except (ValueError, KeyError, TypeError):
            return 1

    if field == "createFamily":
        return {
            "name": f"Fuzz {rng.getrandbits(16)}",
            "members": [
                {"person": {"givenName": "Ida", "familyName": "Fuzz", "birthDate": day(-3000)}, "role": Enum("CHILD")},
                {
                    "person": {"givenName": "Mona", "familyName": "Fuzz"},
                    "role": Enum("PARENT"),
                    "residenceMunicipalityId": home,
                },
                {
                    "person": {"givenName": "Ole", "familyName": "Fuzz"},
                    "role": Enum("OTHER_PARENT"),
                    "residenceMunicipalityId": home,
                },
                {"person": {"givenName": "Kaj", "familyName": "Fuzz"}, "role": Enum("PARTNER")},
                {"person": {"givenName": "Bo", "familyName": "Fuzz"}, "role": Enum("KEY_PERSON")},
            ],
            "idempotencyKey": key(rng),
        }, "{ family { id members { edges { node { id role person { id } } } } } }"
    if field == "createPlacement":
        return {
            "familyId": fresh("fam", f, rng),
            "childId": person("CHILD"),
            "setting": Enum("FOSTER_FAMILY"),
            "voluntary": False,
            "decisionDate": day(-20),
            "startDate": day(-10),
            "idempotencyKey": key(rng),
            # The demo's placement provider, which then sees the placement and its visits.
            "providerId": VIEWER_ORG.get("provider"),
        }, "{ placement { id } }"
    if field == "planContactVisit":
        # Mostly started already, so that it can be recorded as held or as a no-show.
        start = rng.choice([-2, -1, -1, 3, 4])
        return {
            "placementId": fresh("plc", f, rng),
            "plannedStart": f"{day(start)}T10:00:00Z",
            "plannedEnd": f"{day(start)}T11:30:00Z",
            "supervision": Enum("UNSUPERVISED"),
            "idempotencyKey": key(rng),
        }, "{ contactVisit { id } }"
    if field == "upsertPlacement":
        return {
            "externalId": f"ANB-FUZZ-{rng.getrandbits(16)}",
            "familyId": fresh("fam", f, rng),
            "childId": person("CHILD"),
            "setting": Enum("KINSHIP_CARE"),
            "voluntary": True,
            "decisionDate": day(-20),
            "startDate": day(-10),
            "idempotencyKey": key(rng),
            "providerId": VIEWER_ORG.get("provider"),
        }, "{ placement { id } }"
    if field == "upsertContactVisit":
        # A few case ids, so that later cases find the visit and move it or leave it.
        start = rng.choice([-1, 3, 4])
        return {
            "externalId": f"KV-FUZZ-{rng.randrange(6)}",
            "placementId": fresh("plc", f, rng),
            "plannedStart": f"{day(start)}T10:00:00Z",
            "plannedEnd": f"{day(start)}T11:00:00Z",
            "supervision": Enum("UNSUPERVISED"),
            "idempotencyKey": key(rng),
        }, "{ contactVisit { id } }"
    if field in ("recordContactVisitHeld", "recordContactVisitNoShow", "cancelContactVisit"):
        visit = planned_visit(started=True)
        if visit is None:
            return None
        if field == "cancelContactVisit":
            return {
                "id": visit,
                "cancelledBy": Enum("PARENT"),
                "reason": "ill",
                "idempotencyKey": key(rng),
            }, "{ contactVisit { id } }"
        return {"id": visit, "idempotencyKey": key(rng)}, "{ contactVisit { id } }"
    if field == "correctContactVisit":
        visit = planned_visit(started=False)
        if visit is None:
            return None
        return {
            "id": visit,
            "expectedVersion": version("contactVisit", visit),
            "location": "Library",
        }, "{ contactVisit { id } }"
    if field == "correctPerson":
        who = person(rng.choice(["PARENT", "CHILD", "OTHER_PARENT"]))
        return {
            "id": who,
            "expectedVersion": version("person", who),
            "givenName": rng.choice(["Anna", "Eva"]),
        }, "{ person { id } }"
    if field == "correctFamilyMember":
        family_id = fresh("fam", f, rng)
        members = f.get("mem")
        if not members:
            return None
        return {
            "id": rng.choice(members),
            "expectedFamilyVersion": version("family", family_id),
            "residenceMunicipalityId": home,
        }, "{ __typename }"
    if field == "createReferral":
        return {
            "familyId": fresh("fam", f, rng),
            "providerId": VIEWER_ORG.get("family-services"),
            "startsOn": day(-5),
            "idempotencyKey": key(rng),
        }, "{ referral { id } }"
    if field == "endReferral":
        return {"id": fresh("ref", f, rng), "endsOn": day(0), "idempotencyKey": key(rng)}, "{ referral { id } }"
    if field == "offerSupport":
        return {
            "placementId": fresh("plc", f, rng),
            "kind": Enum("PMTO"),
            "offeredOn": day(-3),
            "idempotencyKey": key(rng),
        }, "{ supportOffer { id } }"
    if field == "answerSupportOffer":
        # An offer made for this case: an offer is answered once.
        offer = {"placementId": fresh("plc", f, rng), "kind": Enum("PMTO"), "offeredOn": day(-3)}
        try:
            query = f"mutation {{ offerSupport(input: {literal(offer)}) {{ supportOffer {{ id }} }} }}"
            offer_id = json.loads(ask(TOKENS[DEFAULT_CALLER], query))["data"]["offerSupport"]["supportOffer"]["id"]
        except (ValueError, KeyError, TypeError):
            return None
        return {
            "id": offer_id,
            "response": Enum(rng.choice(["ACCEPTED", "DECLINED"])),
            "respondedOn": day(0),
            "idempotencyKey": key(rng),
        }, "{ supportOffer { id } }"
    if field == "endPlacement":
        return {
            "id": fresh("plc", f, rng),
            "endDate": day(0),
            "endReason": Enum("RETURNED_HOME"),
            "idempotencyKey": key(rng),
        }, "{ placement { id } }"
    if field == "correctPlacement":
        placement = fresh("plc", f, rng)
        return {
            "id": placement,
            "expectedVersion": version("placement", placement),
            "setting": Enum("KINSHIP_CARE"),
        }, "{ placement { id } }"
    if field == "createParentActionPlan":
        return {
            "placementId": fresh("plc", f, rng),
            "reviewIntervalDays": 30,
            "goals": [{"description": "More contact", "purpose": Enum("IMPROVE_CONTACT")}],
            "idempotencyKey": key(rng),
        }, "{ parentActionPlan { id goals { edges { node { id } } } } }"
    if field == "activateParentActionPlan":
        return {"id": fresh("pln", f, rng), "idempotencyKey": key(rng)}, "{ parentActionPlan { id } }"
    if field == "closeParentActionPlan":
        # The oldest of the plans recipes made, so that the newest stay open for reviews.
        plan = (CREATED.get("pln") or [None])[0] or fresh("pln", f, rng)
        return {"id": plan, "idempotencyKey": key(rng)}, "{ parentActionPlan { id } }"
    if field == "recordPlanReview":
        return {
            "planId": fresh("pln", f, rng),
            "kind": Enum("STATUS_MEETING"),
            "heldOn": day(0),
            "nextReviewOn": day(30),
            "idempotencyKey": key(rng),
        }, "{ __typename }"
    if field == "addNetworkMapEntry":
        return {
            "familyId": fresh("fam", f, rng),
            "person": {"givenName": "Gerda", "familyName": "Fuzz"},
            "relationship": "neighbour",
            "help": Enum("PRACTICAL"),
            "description": "Collects the child from school on Thursdays",
            "since": day(-30),
            "idempotencyKey": key(rng),
        }, "{ networkMapEntry { id } }"
    if field == "erasePerson":
        # A person made for this case, in no family, so that no retention duty stands:
        # a person is erased once.
        made = 'mutation { createPerson(input: { person: { givenName: "Erik", familyName: "Fuzz" } }) { person { id } } }'
        try:
            answer = json.loads(ask(TOKENS[DEFAULT_CALLER], made))
            person_id = answer["data"]["createPerson"]["person"]["id"]
        except (ValueError, KeyError, TypeError):
            return None
        return {"personId": person_id, "reason": "Asked in writing", "idempotencyKey": key(rng)}, "{ personId }"
    if field == "endNetworkMapEntry":
        # An entry made for this case: help ends once.
        entry = {
            "familyId": fresh("fam", f, rng),
            "person": {"givenName": "Gerda", "familyName": "Fuzz"},
            "help": Enum("CHILDCARE"),
            "description": "Looks after the child on Saturdays",
            "since": day(-30),
        }
        try:
            query = f"mutation {{ addNetworkMapEntry(input: {literal(entry)}) {{ networkMapEntry {{ id }} }} }}"
            answer = json.loads(ask(TOKENS[DEFAULT_CALLER], query))
            entry_id = answer["data"]["addNetworkMapEntry"]["networkMapEntry"]["id"]
        except (ValueError, KeyError, TypeError):
            return None
        return {"id": entry_id, "until": day(0), "idempotencyKey": key(rng)}, "{ networkMapEntry { id } }"
    if field == "addFamilyMember":
        return {
            "familyId": fresh("fam", f, rng),
            "member": {"person": {"givenName": "Else", "familyName": "Fuzz"}, "role": Enum("KEY_PERSON")},
            "idempotencyKey": key(rng),
        }, "{ __typename }"
    if field == "giveConsent":
        return {
            "personId": person("PARENT"),
            "purpose": Enum("NOTIFY_KEY_PEOPLE"),
            "recipientId": home,
            "givenOn": day(-1),
            "idempotencyKey": key(rng),
        }, "{ consent { id } }"
    if field == "notifyKeyPerson":
        client = person("PARENT")
        # The client's permission first, as a caseworker asks for it before notifying.
        consent = {"personId": client, "purpose": Enum("NOTIFY_KEY_PEOPLE"), "recipientId": home, "givenOn": day(-1)}
        ask(TOKENS[caller], f"mutation {{ giveConsent(input: {literal(consent)}) {{ consent {{ id }} }} }}")
        return {
            "clientId": client,
            "keyPersonId": person("KEY_PERSON"),
            "notifiedOn": day(0),
            "idempotencyKey": key(rng),
        }, "{ __typename }"
    if field == "recordKoppInterview":
        return {
            "clientId": person("PARENT"),
            "heldOn": day(-1),
            "participants": [{"personId": person("PARTNER"), "role": Enum("PARTNER")}],
            "idempotencyKey": key(rng),
        }, "{ __typename }"
    if field == "recordOtherParentSupport":
        return {
            "clientId": person("PARENT"),
            "otherParentId": person("OTHER_PARENT"),
            "recordedOn": day(-1),
            "wellbeingAsked": True,
            "networkInvolved": False,
            "informedOfSupportOptions": True,
            "idempotencyKey": key(rng),
        }, "{ __typename }"
    if field == "createFamilyPartner":
        return {
            "givenName": "Lis",
            "familyName": "Fuzz",
            "certificationStatus": Enum("PENDING_CERTIFICATION"),
            "trainingDeadline": day(60),
            "idempotencyKey": key(rng),
        }, "{ familyPartner { id } }"
    return None


def apply_recipe(document: graphql.DocumentNode, caller: str, rng: random.Random) -> graphql.DocumentNode | None:
    """The mutation with a recipe's input and selection, or None when it has no recipe."""
    operation, field = root_field(graphql.print_ast(document))
    if operation != "mutation":
        return None
    families = FRESH_BY.get(caller) if rng.random() < 0.8 else None
    families = families or SEEN_BY.get(caller) or sorted(FAMILIES)
    family = FAMILIES[rng.choice(families)] if families else {}
    made = recipe(field, caller, family, rng)
    if made is None:
        return None
    values, selection = made
    return graphql.parse(f"mutation {{ {field}(input: {literal(values)}) {selection} }}")


def remember(caller: str, field: str, payload: dict) -> None:
    """Files the ids a recipe's mutation returned, and a new family with its members."""
    data = (payload.get("data") or {}).get(field) or {}
    harvest(json.dumps(data), CREATED)
    family = data.get("family") if isinstance(data, dict) else None
    if field == "createFamily" and isinstance(family, dict) and family.get("id"):
        answer = json.dumps({"data": {"families": {"edges": [{"node": family}]}}})
        harvest_families(caller, answer)
        FRESH_BY.setdefault(caller, []).append(family["id"])


load_state()
atexit.register(save_state)

# The cases whose input a recipe made, and for which caller.
RECIPE_CASES: dict[int, str] = {}
RNG = random.Random(int(os.environ.get("KINBRIDGE_FUZZ_SEED", "1")))


def query_of(case) -> str | None:
    body = case.body
    if isinstance(body, dict):
        return body.get("query")
    return body if isinstance(body, str) else None


@schemathesis.hook
def before_call(context, case, kwargs):
    query = query_of(case)
    try:
        field = root_field(query or "")[1]
    except graphql.GraphQLError:
        field = "?"
    preferred = PREFERRED.get(field, DEFAULT_CALLER)
    caller = preferred if preferred in TOKENS and RNG.random() < 0.7 else RNG.choice(sorted(TOKENS))
    if query is not None:
        try:
            document = graphql.parse(query)
            share = PRODUCERS.get(field, RECIPE_SHARE)
            cooked = apply_recipe(document, caller, RNG) if RNG.random() < share else None
            rewritten = graphql.print_ast(cooked or rewrite(document, caller, RNG))
            if cooked is not None:
                RECIPE_CASES[id(case)] = caller
        except graphql.GraphQLError:
            rewritten = query
        if isinstance(case.body, dict):
            case.body["query"] = rewritten
        else:
            case.body = rewritten
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKENS[caller]}"}


@schemathesis.hook
def after_call(context, case, response):
    text = response.text if hasattr(response, "text") else response.content.decode(errors="replace")
    harvest(text)
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    query = query_of(case) or ""
    try:
        operation, field = root_field(query)
    except graphql.GraphQLError:
        operation, field = "query", "?"
    errors = (payload or {}).get("errors") or []
    codes = sorted({str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)})
    fields = sorted({str((e.get("extensions") or {}).get("field")) for e in errors if isinstance(e, dict)})
    message = errors[0].get("message", "")[:120] if errors and isinstance(errors[0], dict) else ""
    data = (payload or {}).get("data") or {}
    succeeded = not errors and isinstance(data, dict) and data.get(field) is not None
    caller = RECIPE_CASES.pop(id(case), None)
    if caller is not None and succeeded:
        remember(caller, field, payload)
    with open(OUTCOMES, "a", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "operation": operation,
                    "field": field,
                    "status": response.status_code,
                    "ok": succeeded,
                    "codes": codes,
                    "fields": fields,
                    "message": message,
                }
            )
            + "\n"
        )


@schemathesis.check
def kinbridge_contract(ctx, response, case):
    """No 5xx, a JSON body, every error with an `extensions.code`, and none `INTERNAL`."""
    if response.status_code >= 500:
        raise AssertionError(f"answered {response.status_code}: {response.text[:500]}")
    try:
        payload = json.loads(response.text)
    except ValueError as error:
        raise AssertionError(f"the answer is not JSON: {response.text[:200]}") from error
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None:
            raise AssertionError(f"an error without extensions.code: {error}")
        if code == "INTERNAL":
            raise AssertionError(f"INTERNAL: {error}")
