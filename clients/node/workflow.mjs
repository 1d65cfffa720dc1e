// A partner agency's front end, as Apollo Client 3 would drive Kinbridge: queries and
// mutations over HTTP through the persisted-queries link, the change feed live through
// graphql-ws. Creates a family and a placement, plans and cancels a contact visit, reads
// the feed, receives the subscription's event for the cancellation, and checks that
// repeated operations travelled as hashes only.
//
// Environment: KINBRIDGE_URL (http://host:port/graphql) and KINBRIDGE_TOKEN (a
// caseworker's token of the municipality whose demo provider is PP-0751-01).

import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { ApolloClient, HttpLink, InMemoryCache, gql, split } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions/index.js";
import { getMainDefinition } from "@apollo/client/utilities/index.js";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.KINBRIDGE_URL;
const token = process.env.KINBRIDGE_TOKEN;
assert.ok(url && token, "KINBRIDGE_URL and KINBRIDGE_TOKEN must be set");

// Every HTTP body the client sends, to tell full queries from hash-only requests.
const sent = [];
const recordingFetch = (input, init) => {
  sent.push(typeof init?.body === "string" ? JSON.parse(init.body) : { get: String(input) });
  return fetch(input, init);
};

const ws = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: false,
});
const http = createPersistedQueryLink({ sha256: (q) => createHash("sha256").update(q).digest("hex") }).concat(
  new HttpLink({ uri: url, headers: { authorization: `Bearer ${token}` }, fetch: recordingFetch }),
);
const link = split(
  ({ query }) => {
    const d = getMainDefinition(query);
    return d.kind === "OperationDefinition" && d.operation === "subscription";
  },
  new GraphQLWsLink(ws),
  http,
);
const client = new ApolloClient({ link, cache: new InMemoryCache(), defaultOptions: { query: { fetchPolicy: "no-cache" } } });

const ME = gql`
  query Me {
    viewer { subject organization { id code } }
    organizations(kind: PLACEMENT_PROVIDER, first: 100) { edges { node { id code } } }
  }
`;
const CREATE_FAMILY = gql`
  mutation CreateFamily($input: CreateFamilyInput!) {
    createFamily(input: $input) { family { id members { edges { node { role person { id } } } } } }
  }
`;
const CREATE_PLACEMENT = gql`
  mutation CreatePlacement($input: CreatePlacementInput!) { createPlacement(input: $input) { placement { id } } }
`;
const PLAN_VISIT = gql`
  mutation PlanVisit($input: PlanContactVisitInput!) {
    planContactVisit(input: $input) { contactVisit { id status version } }
  }
`;
const CANCEL_VISIT = gql`
  mutation CancelVisit($input: CancelContactVisitInput!) {
    cancelContactVisit(input: $input) { contactVisit { id status } }
  }
`;
const FEED = gql`
  query Feed($after: String) {
    changes(after: $after, first: 100) { pageInfo { endCursor } edges { cursor node { recordType recordId event } } }
  }
`;
const LIVE = gql`
  subscription Live($after: String) { changes(after: $after) { cursor recordId event } }
`;

const run = Date.now().toString(36);
const me = (await client.query({ query: ME })).data;
const provider = me.organizations.edges.map((e) => e.node).find((o) => o.code === "PP-0751-01");
assert.ok(provider, "the demo placement provider PP-0751-01 is listed");

// The feed's position before this run: the subscription starts after it.
const before = (await client.query({ query: FEED })).data.changes;
let cursor = before.pageInfo.endCursor;
for (let page = before; page.edges.length === 100; ) {
  page = (await client.query({ query: FEED, variables: { after: cursor } })).data.changes;
  cursor = page.pageInfo.endCursor ?? cursor;
}

const events = [];
const subscription = client.subscribe({ query: LIVE, variables: { after: cursor } }).subscribe({
  next: ({ data }) => events.push(data.changes),
  error: (e) => events.push({ error: String(e) }),
});

const family = (
  await client.mutate({
    mutation: CREATE_FAMILY,
    variables: {
      input: {
        name: `Apollo ${run}`,
        idempotencyKey: `apollo-family-${run}`,
        members: [
          { person: { givenName: "Ida", familyName: "Apollo", birthDate: "2017-03-02" }, role: "CHILD" },
          {
            person: { givenName: "Karen", familyName: "Apollo" },
            role: "PARENT",
            residenceMunicipalityId: me.viewer.organization.id,
          },
        ],
      },
    },
  })
).data.createFamily.family;
const child = family.members.edges.find((e) => e.node.role === "CHILD").node.person.id;

const placement = (
  await client.mutate({
    mutation: CREATE_PLACEMENT,
    variables: {
      input: {
        familyId: family.id,
        childId: child,
        providerId: provider.id,
        setting: "FOSTER_FAMILY",
        voluntary: true,
        decisionDate: "2026-01-05",
        startDate: "2026-01-10",
      },
    },
  })
).data.createPlacement.placement;

const start = new Date(Date.now() + 7 * 24 * 3600 * 1000);
const visit = (
  await client.mutate({
    mutation: PLAN_VISIT,
    variables: {
      input: {
        placementId: placement.id,
        plannedStart: start.toISOString(),
        plannedEnd: new Date(start.getTime() + 3600 * 1000).toISOString(),
        supervision: "UNSUPERVISED",
        idempotencyKey: `apollo-visit-${run}`,
      },
    },
  })
).data.planContactVisit.contactVisit;
assert.equal(visit.status, "PLANNED");

const cancelled = (
  await client.mutate({
    mutation: CANCEL_VISIT,
    variables: { input: { id: visit.id, cancelledBy: "PARENT", reason: "The mother is ill", expectedVersion: visit.version } },
  })
).data.cancelContactVisit.contactVisit;
assert.equal(cancelled.status, "CANCELLED");

// The feed, read as a sync would: the four changes of this run, in order.
const feed = (await client.query({ query: FEED, variables: { after: cursor } })).data.changes.edges.map((e) => e.node);
const mine = feed.filter((c) => [family.id, placement.id, visit.id].includes(c.recordId)).map((c) => c.event);
assert.deepEqual(
  mine,
  ["family.created", "placement.created", "contact_visit.planned", "contact_visit.cancelled"],
  JSON.stringify(feed),
);

// The subscription delivers the same changes, the cancellation included.
const deadline = Date.now() + 15000;
while (!events.some((e) => e.error || (e.recordId === visit.id && e.event === "contact_visit.cancelled")) && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
assert.ok(!events.some((e) => e.error), JSON.stringify(events));
const live = events.map((e) => e.recordId);
assert.ok(live.includes(family.id) && live.includes(visit.id), JSON.stringify(events));
const liveCursors = events.map((e) => e.cursor);
const feedCursors = (await client.query({ query: FEED, variables: { after: cursor } })).data.changes.edges.map((e) => e.cursor);
assert.deepEqual(liveCursors, feedCursors.slice(0, liveCursors.length), "live events come in the feed's order");
subscription.unsubscribe();

// Persisted queries: the first `Me` was sent as a hash, refused, then sent in full; a
// repeat goes as the hash alone and is answered.
await client.query({ query: ME });
const me_requests = sent.filter((b) => b.operationName === "Me");
assert.ok(me_requests.length >= 3, JSON.stringify(me_requests));
assert.equal(me_requests[0].query, undefined, "the first try carries the hash only");
assert.ok(me_requests[1].query, "after PersistedQueryNotFound, the full query");
assert.equal(me_requests.at(-1).query, undefined, "a repeat carries the hash only");
assert.ok(me_requests.at(-1).extensions?.persistedQuery?.sha256Hash);

await ws.dispose();
console.log(
  `apollo client workflow: family ${family.id}, placement ${placement.id}, visit ${visit.id} planned and cancelled; ` +
    `${feed.length} feed changes, ${events.length} live events; ${sent.filter((b) => !b.query).length} of ${sent.length} HTTP requests hash-only`,
);
