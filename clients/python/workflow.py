"""A data team's script against Kinbridge, in Python with gql 4: queries and mutations
over HTTP (aiohttp), the change feed live over graphql-ws (websockets). Creates a family
and a placement, plans and cancels a contact visit, reads the feed, and receives the
subscription's event for the cancellation. Then sends a persisted query as Apollo's
protocol has it (hash first, the query after PersistedQueryNotFound, the hash alone
after that) with the same HTTP client.

Environment: KINBRIDGE_URL (http://host:port/graphql) and KINBRIDGE_TOKEN (a caseworker's
token of the municipality whose demo provider is PP-0751-01).
"""

import asyncio
import datetime
import hashlib
import json
import os
import sys
import time

import aiohttp
from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.websockets import WebsocketsTransport

URL = os.environ["KINBRIDGE_URL"]
TOKEN = os.environ["KINBRIDGE_TOKEN"]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}

ME = gql("""
    query { viewer { organization { id } }
            organizations(kind: PLACEMENT_PROVIDER, first: 100) { edges { node { id code } } } }
""")
FEED = gql("""
    query($after: String) { changes(after: $after, first: 100) {
        pageInfo { endCursor } edges { cursor node { recordId event } } } }
""")
LIVE = gql("subscription($after: String) { changes(after: $after) { cursor recordId event } }")
CREATE_FAMILY = gql("""
    mutation($input: CreateFamilyInput!) { createFamily(input: $input) {
        family { id members { edges { node { role person { id } } } } } } }
""")
CREATE_PLACEMENT = gql("mutation($input: CreatePlacementInput!) { createPlacement(input: $input) { placement { id } } }")
PLAN_VISIT = gql("""
    mutation($input: PlanContactVisitInput!) { planContactVisit(input: $input) { contactVisit { id status version } } }
""")
CANCEL_VISIT = gql("""
    mutation($input: CancelContactVisitInput!) { cancelContactVisit(input: $input) { contactVisit { id status } } }
""")


def check(condition, what):
    if not condition:
        sys.exit(f"python gql workflow failed: {what}")


async def feed_end(session):
    page = await session.execute(FEED)
    cursor = page["changes"]["pageInfo"]["endCursor"]
    while len(page["changes"]["edges"]) == 100:
        page = await session.execute(FEED, variable_values={"after": cursor})
        cursor = page["changes"]["pageInfo"]["endCursor"] or cursor
    return cursor


async def listen(cursor, events, ready):
    transport = WebsocketsTransport(
        url=URL.replace("http", "ws", 1),
        init_payload=HEADERS,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        ready.set()
        async for result in session.subscribe(LIVE, variable_values={"after": cursor}):
            events.append(result["changes"])


async def persisted_query(http):
    """Apollo's automatic persisted queries, spoken by hand."""
    query = "query PersistedViewer { viewer { subject } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    answers = []
    for body in ({"extensions": extensions}, {"query": query, "extensions": extensions}, {"extensions": extensions}):
        async with http.post(URL, json=body, headers=HEADERS) as response:
            answers.append(await response.json())
    check(answers[0]["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND", json.dumps(answers[0]))
    check(answers[1]["data"]["viewer"]["subject"], json.dumps(answers[1]))
    check(answers[2] == answers[1], "the hash alone answers as the query did")


async def main():
    run = format(int(time.time() * 1000), "x")
    transport = AIOHTTPTransport(url=URL, headers=HEADERS)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        me = await session.execute(ME)
        provider = next(e["node"] for e in me["organizations"]["edges"] if e["node"]["code"] == "PP-0751-01")
        cursor = await feed_end(session)

        events, ready = [], asyncio.Event()
        listener = asyncio.create_task(listen(cursor, events, ready))
        await asyncio.wait_for(ready.wait(), 15)

        family = (await session.execute(CREATE_FAMILY, variable_values={"input": {
            "name": f"Python {run}",
            "idempotencyKey": f"python-family-{run}",
            "members": [
                {"person": {"givenName": "Asta", "familyName": "Python", "birthDate": "2015-09-30"}, "role": "CHILD"},
                {"person": {"givenName": "Bo", "familyName": "Python"}, "role": "PARENT",
                 "residenceMunicipalityId": me["viewer"]["organization"]["id"]},
            ],
        }}))["createFamily"]["family"]
        child = next(e["node"]["person"]["id"] for e in family["members"]["edges"] if e["node"]["role"] == "CHILD")
        placement = (await session.execute(CREATE_PLACEMENT, variable_values={"input": {
            "familyId": family["id"], "childId": child, "providerId": provider["id"], "setting": "KINSHIP_CARE",
            "voluntary": True, "decisionDate": "2026-02-01", "startDate": "2026-02-03",
        }}))["createPlacement"]["placement"]
        start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)
        visit = (await session.execute(PLAN_VISIT, variable_values={"input": {
            "placementId": placement["id"], "plannedStart": start.isoformat(),
            "plannedEnd": (start + datetime.timedelta(hours=2)).isoformat(), "supervision": "SUPERVISED",
            "supervisorName": "Lene Holm", "idempotencyKey": f"python-visit-{run}",
        }}))["planContactVisit"]["contactVisit"]
        check(visit["status"] == "PLANNED", visit)
        cancelled = (await session.execute(CANCEL_VISIT, variable_values={"input": {
            "id": visit["id"], "cancelledBy": "PLACEMENT_PROVIDER", "reason": "The child is ill",
            "expectedVersion": visit["version"],
        }}))["cancelContactVisit"]["contactVisit"]
        check(cancelled["status"] == "CANCELLED", cancelled)

        feed = (await session.execute(FEED, variable_values={"after": cursor}))["changes"]["edges"]
        mine = [e["node"]["event"] for e in feed if e["node"]["recordId"] in (family["id"], placement["id"], visit["id"])]
        check(mine == ["family.created", "placement.created", "contact_visit.planned", "contact_visit.cancelled"], mine)

        deadline = time.monotonic() + 15
        while not any(e["recordId"] == visit["id"] and e["event"] == "contact_visit.cancelled" for e in events):
            check(time.monotonic() < deadline and not listener.done(), f"the cancellation arrives live: {events}")
            await asyncio.sleep(0.05)
        check([e["cursor"] for e in events] == [e["cursor"] for e in feed][: len(events)], "live events in the feed's order")
        listener.cancel()

    async with aiohttp.ClientSession() as http:
        await persisted_query(http)
    print(f"python gql workflow: family {family['id']}, placement {placement['id']}, visit {visit['id']} planned and "
          f"cancelled; {len(feed)} feed changes, {len(events)} live events; persisted query by hash answered")


asyncio.run(main())
