// The GraphQL-over-HTTP audit suite (graphql-http's auditServer) against Kinbridge, with
// a token on every request. Prints each audit that is not passed and fails unless all
// pass. Environment: KINBRIDGE_URL, KINBRIDGE_TOKEN.

import { auditServer } from "graphql-http";

const url = process.env.KINBRIDGE_URL;
const token = process.env.KINBRIDGE_TOKEN;
if (!url || !token) throw new Error("KINBRIDGE_URL and KINBRIDGE_TOKEN must be set");

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const passed = results.filter((r) => r.status === "ok");
for (const r of results.filter((r) => r.status !== "ok")) {
  const reason = r.reason ?? "";
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${reason}`);
}
console.log(`graphql-http audit: ${passed.length} of ${results.length} passed`);
if (passed.length !== results.length) process.exit(1);
