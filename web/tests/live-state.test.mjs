// What the server knows, the pages say, without waiting for another message:
// an acknowledgement made on a tablet shows on the wall within 2 s; the
// tablet that acknowledged shows it again after a reload; a public message
// offers no acknowledgement; a wall opened after an alert shows it, by the
// name of its place; and a page open across a server started again without
// its data drops the messages that server no longer has.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { BIN, ROOT, ENV, SIZES, startServer, launchBrowser, openPage, waitLive } from "./support.mjs";

let server, browser;
const token = (role, sub) =>
  execFileSync(BIN, ["token", "--role", role, "--sub", sub, "--ttl", "2h"], { cwd: ROOT, env: ENV, encoding: "utf8" }).trim();
const operator = token("operator", "wall-operator");
const commander = token("commander", "cmdr-north");

const inAnHour = () => new Date(Date.now() + 3600e3).toISOString();
const message = (audience, headline) => ({
  audience, msg_type: "Alert", category: "Safety", event: "Crowd crush risk", severity: "Severe", urgency: "Immediate",
  certainty: "Observed", headline, instruction: "Hold the north gate.", language: "en",
  area: { description: "Piazza Maggiore", circles: [{ lat: 44.4937, lon: 11.343, radius_m: 200 }] }, expires: inAnHour(),
});

async function send(base, body) {
  const resp = await fetch(`${base}/api/v1/broadcasts`, {
    method: "POST", headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const text = await resp.text();
  assert.equal(resp.status, 201, text);
  return JSON.parse(text);
}

before(async () => {
  server = await startServer([], { demo: false });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.child.kill("SIGTERM");
});

test("an acknowledgement made on a tablet shows on the operations room's card within 2 s", async () => {
  const sent = await send(server.base, message("responders", "Hold the north gate"));
  const ops = await openPage(browser, server.base, `/ops/#token=${operator}`, { viewport: SIZES.wall });
  await waitLive(ops);
  await ops.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Not yet acknowledged"), null, { timeout: 10000 });
  const resp = await fetch(`${server.base}/api/v1/broadcasts/${sent.id}/ack`, { method: "POST", headers: { Authorization: `Bearer ${commander}` } });
  assert.ok(resp.ok, `ack: ${resp.status}`);
  // Nothing else happens on the page: no other message arrives to redraw it.
  await ops.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Acknowledged by cmdr-north"), null, { timeout: 2000 });
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("the tablet shows what it acknowledged after a reload, and offers no acknowledgement of a public message", async () => {
  const responders = await send(server.base, message("responders", "Close the east exit"));
  await send(server.base, message("public", "Leave by Via Rizzoli"));
  const field = await openPage(browser, server.base, `/field/#token=${commander}`, { viewport: SIZES.tablet });
  await waitLive(field);
  const card = (headline) => field.locator("#messages article", { hasText: headline });
  await card("Close the east exit").getByRole("button", { name: "Acknowledge" }).waitFor({ timeout: 10000 });
  assert.equal(await card("Leave by Via Rizzoli").getByRole("button").count(), 0, "a public message offered a button");

  await card("Close the east exit").getByRole("button", { name: "Acknowledge" }).click();
  await card("Close the east exit").getByText("Acknowledged ✓").waitFor({ timeout: 5000 });
  const acks = await (await fetch(`${server.base}/api/v1/broadcasts/${responders.id}`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  assert.deepEqual(acks.acks.map((a) => a.sub), ["cmdr-north"]);

  await field.reload();
  await waitLive(field);
  await card("Close the east exit").getByText("Acknowledged ✓").waitFor({ timeout: 10000 });
  assert.equal(await card("Close the east exit").getByRole("button", { name: "Acknowledge" }).count(), 0, "the reloaded tablet offered to acknowledge again");
  assert.deepEqual(field.problems, []);
  await field.close();
});

test("a wall opened after a surge alert shows it, naming the place", async () => {
  // Forty people posting from the Neptune fountain within a minute, where nobody was: a surge.
  const posts = Array.from({ length: 40 }, (_, i) => ({ source: "test", id: `surge-${i}`, lat: 44.4947, lon: 11.34275, author: `surger${i}` }));
  const resp = await fetch(`${server.base}/api/v1/posts`, {
    method: "POST", headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" }, body: JSON.stringify(posts),
  });
  assert.equal(resp.status, 202);
  let raised = [];
  for (let i = 0; i < 100 && !raised.some((a) => a.kind === "surge"); i++) {
    await new Promise((r) => setTimeout(r, 200));
    raised = (await (await fetch(`${server.base}/api/v1/alerts`, { headers: { Authorization: `Bearer ${operator}` } })).json()).alerts ?? [];
  }
  const surge = raised.find((a) => a.kind === "surge");
  assert.ok(surge, "the server raised no surge");
  assert.ok(surge.place, "the surge names no place");

  // Only now the wall opens.
  const ops = await openPage(browser, server.base, `/ops/#token=${operator}`, { viewport: SIZES.wall });
  await waitLive(ops);
  await ops.waitForFunction((place) => [...document.querySelectorAll("#alerts .alert-card.surge")].some((c) => c.textContent.includes(place)),
    surge.place, { timeout: 10000 });
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a page open across a restart without data drops the messages the new server does not have", async () => {
  // Its own server, memory only (startServer's default without the demo),
  // on a port it will be started again on.
  const first = await startServer([], { demo: false });
  const port = new URL(first.base).port;
  await send(first.base, message("public", "Avoid the Neptune fountain"));
  const phone = await openPage(browser, first.base, "/", { viewport: SIZES.phone });
  await waitLive(phone);
  await phone.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Avoid the Neptune fountain"), null, { timeout: 10000 });

  first.child.kill("SIGKILL");
  await new Promise((resolve) => first.child.once("exit", resolve));
  const again = spawn(BIN, ["serve", "--ephemeral", "--listen", `127.0.0.1:${port}`], { cwd: ROOT, env: ENV, stdio: "ignore" });
  try {
    await phone.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("No active safety messages"), null, { timeout: 30000 });
    // And a fresh phone agrees.
    const fresh = await openPage(browser, first.base, "/", { viewport: SIZES.phone });
    await waitLive(fresh);
    await fresh.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("No active safety messages"), null, { timeout: 10000 });
    await fresh.close();
  } finally {
    again.kill("SIGTERM");
  }
  await phone.close();
});
