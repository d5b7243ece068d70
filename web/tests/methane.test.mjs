// METHANE and official alerts in real headless Chromium against the real
// server: a commander fills the one-screen METHANE form on /field (phone,
// tablet, wall), the operator sees its card in triage on /ops; an official
// CAP alert served by a feed of the test's own shows in the "Official
// alerts" panel, outlines its area on the map and is relayed to the public
// after a confirmation. WCAG 2 AA as axe-core checks it on both pages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { SHOTS, SIZES, axeViolations, launchBrowser, noHorizontalScroll, openPage, startServer } from "./support.mjs";

let server, browser, base, operator, commander, feed;

const expires = () => new Date(Date.now() + 6 * 3600e3).toISOString().replace(/\.\d+Z$/, "+00:00");
const CAP = () => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>ER-TEST-0001</identifier><sender>allerte.example.it</sender><sent>2026-11-28T18:00:00+01:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>en-GB</language><category>Met</category><event>River flood</event><urgency>Expected</urgency>
    <severity>Severe</severity><certainty>Likely</certainty><expires>${expires()}</expires>
    <senderName>Regional civil protection</senderName><headline>Red flood warning for the Reno</headline>
    <description>The Reno is rising fast.</description><instruction>Keep away from the river banks.</instruction>
    <area><areaDesc>Reno banks, Bologna</areaDesc><polygon>44.49,11.33 44.51,11.33 44.51,11.36 44.49,11.36 44.49,11.33</polygon></area>
  </info>
</alert>`;

before(async () => {
  const doc = CAP();
  feed = http.createServer((req, res) => {
    if (req.url === "/index.atom") {
      const etag = '"index-1"';
      if (req.headers["if-none-match"] === etag) { res.writeHead(304, { ETag: etag }); res.end(); return; }
      res.writeHead(200, { "Content-Type": "application/atom+xml", ETag: etag });
      res.end(`<feed xmlns="http://www.w3.org/2005/Atom"><id>t</id><title>t</title><updated>2026-11-28T18:00:00+01:00</updated>
        <entry><id>1</id><title>t</title><updated>2026-11-28T18:00:00+01:00</updated><link type="application/cap+xml" href="/1.xml"/></entry></feed>`);
    } else if (req.url === "/1.xml") {
      res.writeHead(200, { "Content-Type": "application/cap+xml", ETag: '"doc-1"' });
      res.end(doc);
    } else { res.writeHead(404); res.end(); }
  });
  await new Promise((resolve) => feed.listen(0, "127.0.0.1", resolve));
  server = await startServer(["--cap-feed", `http://127.0.0.1:${feed.address().port}/index.atom`, "--cap-feed-interval", "2s"]);
  ({ base, operator, commander } = server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.child.kill("SIGTERM");
  feed?.close();
});

const open = (path, viewport = SIZES.wall, options = {}) => openPage(browser, base, path, { viewport, locale: "en-GB", ...options });
/** The tablet's position, in Piazza Maggiore: where its reports are placed. */
const AT_MAGGIORE = { geolocation: { latitude: 44.4937, longitude: 11.343, accuracy: 10 }, permissions: ["geolocation"] };

async function axeProblems(path) {
  const page = await browser.newPage({ viewport: SIZES.phone, locale: "en-GB", bypassCSP: true });
  await page.goto(base + path);
  await page.waitForSelector(path.startsWith("/field") ? "#methane-form" : ".official-card", { timeout: 20000 });
  const violations = await axeViolations(page);
  await page.close();
  return violations;
}

test("a commander fills METHANE on /field and the operator sees its card in triage", async () => {
  const sizes = [["phone", SIZES.phone], ["tablet", SIZES.tablet], ["wall", SIZES.wall]];
  for (const [name, viewport] of sizes) {
    const tablet = await open(`/field/#token=${commander}`, viewport, AT_MAGGIORE);
    await tablet.waitForSelector("#methane-form");
    await tablet.waitForFunction(() => document.querySelector("#methane-form-where")?.textContent.startsWith("Location: your position"), null, { timeout: 15000 });
    await tablet.locator("#methane-section, #methane-title").first().evaluate((n) => n.scrollIntoView({ block: "start" }));
    // One screen: the whole form, heading to button, fits the viewport's height.
    const { top, bottom } = await tablet.evaluate(() => {
      const a = document.querySelector("#methane-title").getBoundingClientRect(), b = document.querySelector("#methane-form button[type=submit]").getBoundingClientRect();
      return { top: a.top, bottom: b.bottom };
    });
    assert.ok(bottom - top <= viewport.height, `${name}: the form takes ${bottom - top} px`);
    // Big touch targets: every input and the button at least 44 px tall.
    const heights = await tablet.locator("#methane-form input[type=text], #methane-form input[type=number], #methane-form .choice, #methane-form button")
      .evaluateAll((nodes) => nodes.map((n) => n.getBoundingClientRect().height));
    assert.ok(heights.every((h) => h >= 44), `${name}: ${heights}`);
    assert.deepEqual(await tablet.locator("#methane-form .letter").allTextContents(), ["M", "E", "T", "H", "A", "N", "E"]);
    assert.ok(await noHorizontalScroll(tablet), name);
    await tablet.click("label:has(#m-major-yes)");
    await tablet.fill("#m-location", `Piazza Maggiore, north side (${name})`);
    await tablet.fill("#m-type", "Crowd crush");
    await tablet.fill("#m-hazards", "Barrier down, crowd pushing");
    await tablet.fill("#m-access", "From Via dell'Archiginnasio");
    await tablet.fill("#m-casualties", "12");
    await tablet.fill("#m-casualty-kind", "3 P1, 9 P3");
    await tablet.fill("#m-present", "Police, 2 ambulances");
    await tablet.fill("#m-required", "4 ambulances");
    await tablet.screenshot({ path: `${SHOTS}methane-field-${name}.png` });
    await tablet.click("#methane-form button[type=submit]");
    await tablet.waitForFunction(() => /Report received/.test(document.querySelector("#r-status")?.textContent ?? ""), null, { timeout: 15000 });
    assert.deepEqual(tablet.problems, [], name);
    await tablet.close();
  }
  const list = await (await fetch(`${base}/api/v1/reports?status=unverified`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  const sent = list.features.map((f) => f.properties).filter((p) => p.methane);
  assert.equal(sent.length, 3);
  const phone = sent.find((p) => p.methane.exact_location.endsWith("(phone)"));
  assert.deepEqual(phone.methane, {
    major_incident: true, exact_location: "Piazza Maggiore, north side (phone)", type: "Crowd crush", hazards: "Barrier down, crowd pushing",
    access: "From Via dell'Archiginnasio", casualties: { number: 12, kind: "3 P1, 9 P3" }, emergency_services: { present: "Police, 2 ambulances", required: "4 ambulances" },
  });
  assert.equal(phone.origin, "field");
  // Placed where the tablet is, not wherever its map was looking.
  const [lon, lat] = list.features.find((f) => f.properties.id === phone.id).geometry.coordinates;
  assert.ok(Math.abs(lat - 44.4937) < 1e-6 && Math.abs(lon - 11.343) < 1e-6, `at ${lat}, ${lon}`);

  for (const [name, viewport] of Object.entries(SIZES)) {
    const ops = await open(`/ops/#token=${operator}`, viewport);
    const card = ops.locator(".report.methane-card").first();
    await card.waitFor({ timeout: 15000 });
    assert.match(await card.locator("h3").textContent(), /^METHANE · MAJOR INCIDENT/);
    assert.equal(await ops.locator(".report.methane-card").count(), 3);
    const text = await ops.locator(".report.methane-card").allTextContents();
    assert.ok(text.some((t) => t.includes("Piazza Maggiore, north side (phone)") && t.includes("12, 3 P1, 9 P3")), text.join("\n"));
    // Its own style: not the colour of the other reports.
    const colours = await ops.evaluate(() => {
      const methane = document.querySelector(".report.methane-card");
      const plain = document.createElement("article"); plain.className = "report"; document.body.append(plain);
      const pair = [getComputedStyle(methane).borderLeftColor, getComputedStyle(plain).borderLeftColor];
      plain.remove();
      return pair;
    });
    assert.notEqual(colours[0], colours[1]);
    await card.scrollIntoViewIfNeeded();
    await ops.screenshot({ path: `${SHOTS}methane-ops-${name}.png` });
    assert.deepEqual(ops.problems, [], name);
    await ops.close();
  }
  assert.deepEqual(await axeProblems(`/field/#token=${commander}`), []);
});

test("an official alert shows on /ops with its source, area and expiry, outlines on the map and is relayed after a confirmation", async () => {
  for (const [name, viewport] of Object.entries(SIZES)) {
    const ops = await open(`/ops/#token=${operator}`, viewport);
    const card = ops.locator(".official-card").first();
    await card.waitFor({ timeout: 20000 });
    const text = await card.textContent();
    assert.match(text, /Red flood warning for the Reno/);
    assert.match(text, /Severe · Expected · Likely/);
    assert.match(text, new RegExp(`via 127\\.0\\.0\\.1:${feed.address().port}`));
    assert.match(text, /Area: Reno banks, Bologna/);
    assert.equal(await card.locator("time").count(), 1, "the expiry");
    await card.locator("button", { hasText: "Show on map" }).click();
    await ops.waitForFunction(() => document.querySelector(".official-card button[aria-pressed=true]"));
    await card.scrollIntoViewIfNeeded();
    await ops.screenshot({ path: `${SHOTS}official-ops-${name}.png` });
    assert.ok(await noHorizontalScroll(ops), name);
    assert.deepEqual(ops.problems, [], name);
    await ops.close();
  }
  const ops = await open(`/ops/#token=${operator}`);
  const card = ops.locator(".official-card").first();
  await card.waitFor({ timeout: 20000 });
  await card.locator("button", { hasText: "Relay to public" }).click();
  assert.match(await card.textContent(), /Send this to the public now\?/);
  await card.locator("button", { hasText: "Cancel" }).click();
  let broadcasts = await (await fetch(`${base}/api/v1/broadcasts?active=true`)).json();
  assert.ok(!broadcasts.broadcasts.some((b) => b.headline === "Red flood warning for the Reno"), "nothing sent without the confirmation");
  await card.locator("button", { hasText: "Relay to public" }).click();
  await card.locator("button", { hasText: "Yes, relay" }).click();
  await ops.waitForFunction(() => /Relayed to the public/.test(document.querySelector("#official-status")?.textContent ?? ""), null, { timeout: 10000 });
  broadcasts = await (await fetch(`${base}/api/v1/broadcasts?active=true`)).json();
  const relayed = broadcasts.broadcasts.find((b) => b.headline === "Red flood warning for the Reno");
  assert.ok(relayed, "the public sees it");
  assert.equal(relayed.instruction, "Keep away from the river banks.");
  // A second relay says it was sent already, and sends nothing.
  await card.locator("button", { hasText: "Relay to public" }).click();
  await card.locator("button", { hasText: "Yes, relay" }).click();
  await ops.waitForFunction(() => /Already relayed to the public as broadcast/.test(document.querySelector("#official-status")?.textContent ?? ""), null, { timeout: 10000 });
  broadcasts = await (await fetch(`${base}/api/v1/broadcasts?active=true`)).json();
  assert.equal(broadcasts.broadcasts.filter((b) => b.headline === "Red flood warning for the Reno").length, 1, "sent once");
  assert.deepEqual(ops.problems, []);
  await ops.close();
  assert.deepEqual(await axeProblems(`/ops/#token=${operator}`), []);
});
