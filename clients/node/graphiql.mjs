// A new user's first minutes, in headless Chromium driven by playwright-core: opens the
// GraphiQL page Kinbridge serves, with every request that leaves the server's own origin
// refused (the page must work offline), checks that the development token is already in
// its headers, runs the query it opens with by clicking ▶, and reads the answer. Fails on
// any console error (a Content-Security-Policy violation among them), any request to
// another origin, and when the embedded GraphiQL and React differ from the npm builds
// pinned in package.json (scripts/vendor-graphiql copies them).
//
// Environment: KINBRIDGE_URL (http://host:port/graphql), CHROMIUM (the browser binary;
// /usr/bin/chromium by default), and optionally GRAPHIQL_SCREENSHOT, a PNG path.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const url = process.env.KINBRIDGE_URL;
assert.ok(url, "KINBRIDGE_URL must be set");
const origin = new URL(url).origin;
const modules = new URL("node_modules/", import.meta.url);
const version = async (name) => JSON.parse(await readFile(new URL(`${name}/package.json`, modules))).version;

const embedded = {
  "graphiql.min.js": "graphiql/graphiql.min.js",
  "graphiql.min.css": "graphiql/graphiql.min.css",
  "react.production.min.js": "react/umd/react.production.min.js",
  "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
};
for (const [file, pinned] of Object.entries(embedded)) {
  const served = Buffer.from(await (await fetch(new URL(`graphiql/${file}`, url))).arrayBuffer());
  const expected = await readFile(new URL(pinned, modules));
  assert.ok(served.equals(expected), `the embedded ${file} is not ${pinned} as pinned: run scripts/vendor-graphiql`);
}
console.log(`ok - the embedded GraphiQL ${await version("graphiql")} and React ${await version("react")} are the pinned npm builds`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const problems = [];
try {
  const context = await browser.newContext();
  await context.route("**/*", (route) => {
    const requested = route.request().url();
    if (new URL(requested).origin === origin) return route.continue();
    problems.push(`requested another origin: ${requested}`);
    return route.abort("internetdisconnected");
  });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`));

  const response = await page.goto(url, { waitUntil: "load" });
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"] ?? "", /script-src 'self'/);
  await page.waitForSelector(".graphiql-container", { timeout: 20_000 });
  console.log("ok - GraphiQL renders from the embedded files alone");

  const headers = await page.evaluate(() => JSON.parse(document.getElementById("kinbridge-settings").textContent).headers);
  assert.match(headers, /"Authorization": "Bearer ey[\w-]+\.[\w-]+\.[\w-]+"/, "the page opens with a development token");
  console.log("ok - the headers hold a development token");

  // The schema arrives through introspection with that token: the documentation explorer
  // opens on the Query type.
  await page.click('[aria-label="Show Documentation Explorer"]', { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector(".graphiql-doc-explorer")?.innerText.includes("Query"), null, {
    timeout: 20_000,
  });
  console.log("ok - the schema loads with that token: the documentation explorer shows the Query type");
  await page.click(".graphiql-execute-button");
  await page.waitForFunction(
    () => (document.querySelector(".result-window")?.innerText ?? "").includes('"totalCount"'),
    null,
    { timeout: 20_000 },
  );
  const result = await page.locator(".result-window").innerText();
  assert.match(result, /"name": "Aarhus Kommune"/, "the first query answers for the demo caseworker's municipality");
  assert.doesNotMatch(result, /"errors"/, "the first query has no errors");
  assert.doesNotMatch(await page.innerText("body"), /Error fetching schema/);
  console.log("ok - one click on ▶ runs the first query and shows the caseworker's families");

  if (process.env.GRAPHIQL_SCREENSHOT) await page.screenshot({ path: process.env.GRAPHIQL_SCREENSHOT });
} finally {
  await browser.close();
}
assert.deepEqual(problems, [], "the page stays on Kinbridge and logs no errors");
console.log("ok - nothing requested elsewhere, no console errors");
