// Rumour control in real headless Chromium against the real server: the
// public page on a phone, tablet and wall (its text, status stamps and the
// Italian translation), and the operators' register on /ops/ (record,
// publish, broadcast). CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, callApi, noHorizontalScroll, openPage, SHOTS, SIZES, waitLive, withDemoServer } from "./support.mjs";

let server, browser, base, operator;

withDemoServer((s) => ({ server, browser, base, operator } = s), ["--languages", "en,it"]);

/** A page that records script errors and any request leaving the server. */
const open = (path, { viewport = SIZES.wall, locale = "en-GB" } = {}) => openPage(browser, base, path, { viewport, locale });

const api = (method, path, body) => callApi(base, operator, method, path, body);

test("/rumours on a phone shows published entries newest first, with their stamps, in English or Italian", async () => {
  const bridge = await api("POST", "/api/v1/rumours", {
    claim: "The Via Rizzoli exit has been closed by the police", status: "false",
    fact: "All exits are open. Stewards at Via Rizzoli are letting people through.",
    translations: [{ language: "it", claim: "L'uscita di Via Rizzoli è stata chiusa dalla polizia", fact: "Tutte le uscite sono aperte. Gli steward in Via Rizzoli fanno passare le persone." }],
    zones: ["exit-via-rizzoli", "piazza-maggiore"], published: true,
  });
  await api("POST", "/api/v1/rumours", { claim: "A draft nobody may see yet", status: "unverified", published: false });
  const water = await api("POST", "/api/v1/rumours", {
    claim: "The fountains' water makes people ill", status: "misleading",
    fact: "One fountain was closed for repairs; the others are tested every hour.", zones: ["piazza-nettuno"], published: true,
  });
  await api("POST", "/api/v1/rumours", { claim: "The march ends at Piazza Maggiore", status: "true", fact: "It does, at 18:00.", published: true });
  await api("POST", "/api/v1/rumours", { claim: "A stage collapsed near the station", status: "unverified", published: true });
  // Changed last, the bridge comes first.
  await api("PATCH", `/api/v1/rumours/${bridge.id}`, { fact: "All exits are open. Stewards at Via Rizzoli let people through both ways." });

  const phone = await open("/rumours/", { viewport: SIZES.phone });
  await phone.waitForSelector(".rumour-entry");
  const cards = phone.locator(".rumour-entry");
  assert.equal(await cards.count(), 4, "published entries only");
  const first = cards.nth(0);
  assert.equal(await first.getAttribute("id"), `rumour-${bridge.id}`, "newest update first");
  assert.equal(await first.locator(".claim").textContent(), "Rumour:The Via Rizzoli exit has been closed by the police");
  assert.match(await first.locator(".fact").textContent(), /^Fact:All exits are open\. Stewards at Via Rizzoli let people through both ways\.$/);
  assert.equal(await first.locator(".stamp .word").textContent(), "FALSE");
  assert.match(await first.locator("time").textContent(), /^Updated \d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}$/);
  assert.equal(await first.locator(".where").textContent(), "Where: Exit Via Rizzoli, Piazza Maggiore");
  const colours = await phone.locator(".stamp").evaluateAll((s) => s.map((e) => [e.textContent, getComputedStyle(e).backgroundColor]));
  assert.equal(new Set(colours.map(([, c]) => c)).size, 4, `each status its own colour: ${JSON.stringify(colours)}`);
  assert.deepEqual(colours.map(([t]) => t), ["✗FALSE", "?UNVERIFIED", "✓TRUE", "!MISLEADING"]);
  assert.match(await cards.nth(1).locator(".fact").textContent(), /Being checked/);
  assert.equal(await cards.nth(3).getAttribute("id"), `rumour-${water.id}`);
  assert.equal(await phone.locator("a[href='/api/v1/rumours.atom']").count(), 1, "the feed is linked");
  assert.ok(await noHorizontalScroll(phone), "no sideways scrolling on a phone");
  await phone.screenshot({ path: `${SHOTS}rumours-phone.png`, fullPage: true });

  // The switch shows the Italian translation, and Italian words around it.
  await phone.click(".lang-switch button[data-lang=it]");
  await phone.waitForFunction(() => document.querySelector(".rumour-entry .stamp .word")?.textContent === "FALSO");
  assert.equal(await first.locator(".claim").textContent(), "Voce:L'uscita di Via Rizzoli è stata chiusa dalla polizia");
  assert.match(await first.locator(".fact").textContent(), /^Fatto:Tutte le uscite sono aperte\./);
  assert.match(await first.locator("time").textContent(), /^Aggiornato /);
  assert.equal(await first.getAttribute("lang"), "it");
  assert.equal(await cards.nth(3).getAttribute("lang"), "en", "an entry without Italian stays in its own language, marked so");
  assert.equal(await phone.locator("h1").textContent(), "Controllo delle voci");
  assert.deepEqual(phone.problems, []);
  await phone.close();

  // A reader whose browser speaks Italian gets Italian at once.
  const italian = await open("/rumours/", { viewport: SIZES.phone, locale: "it-IT" });
  await italian.waitForSelector(".rumour-entry");
  assert.equal(await italian.locator(".rumour-entry .stamp .word").first().textContent(), "FALSO");
  assert.deepEqual(italian.problems, []);
  await italian.close();

  // WCAG 2 AA as axe-core checks it, with every stamp on screen, in both languages.
  for (const locale of ["en-GB", "it-IT"]) {
    const page = await browser.newPage({ viewport: SIZES.phone, locale, bypassCSP: true });
    await page.goto(base + "/rumours/");
    await page.waitForSelector(".rumour-entry");
    assert.deepEqual(await axeViolations(page), [], locale);
    await page.close();
  }

  for (const [name, viewport] of [["wall", SIZES.wall], ["tablet", SIZES.tablet]]) {
    const page = await open("/rumours/", { viewport });
    await page.waitForSelector(".rumour-entry");
    assert.ok(await noHorizontalScroll(page), name);
    await page.screenshot({ path: `${SHOTS}rumours-${name}.png`, fullPage: name === "tablet" });
    assert.deepEqual(page.problems, [], name);
    await page.close();
  }
});

test("/rumours reads the register again every 30 seconds by itself", async () => {
  const page = await browser.newPage({ viewport: SIZES.phone, locale: "en-GB" });
  await page.clock.install();
  await page.goto(base + "/rumours/");
  await page.waitForSelector(".rumour-entry");
  const before = await page.locator(".rumour-entry").count();
  const entry = await api("POST", "/api/v1/rumours", { claim: "Trains to Milan are cancelled tonight", status: "false", fact: "Trains run to the timetable.", published: true });
  await page.clock.runFor(25000);
  await page.waitForTimeout(500);
  assert.equal(await page.locator(".rumour-entry").count(), before, "not before 30 s");
  await page.clock.runFor(6000);
  await page.waitForSelector(`#rumour-${entry.id}`, { timeout: 5000 });
  assert.equal(await page.locator(".rumour-entry").first().getAttribute("id"), `rumour-${entry.id}`, "the new entry comes first");
  await page.close();
});

test("the public page links to /rumours", async () => {
  const page = await open("/", { viewport: SIZES.phone });
  await page.waitForSelector("a[href='/rumours/']");
  await page.click("a[href='/rumours/']");
  await page.waitForSelector("h1");
  assert.equal(new URL(page.url()).pathname, "/rumours/");
  await page.close();
});

test("an operator records, publishes and broadcasts an entry from the register on /ops", async () => {
  const ops = await open(`/ops/#token=${operator}`);
  await waitLive(ops);
  await ops.waitForSelector("#rf-zones input[value='piazza-nettuno']");
  await ops.fill("#rf-claim", "Police are closing Piazza del Nettuno at 17:00");
  await ops.selectOption("#rf-status", "false");
  await ops.fill("#rf-fact", "Piazza del Nettuno stays open until the end of the march.");
  await ops.fill("#rf-claim-it", "La polizia chiude Piazza del Nettuno alle 17");
  await ops.fill("#rf-fact-it", "Piazza del Nettuno resta aperta fino alla fine del corteo.");
  await ops.check("#rf-zones input[value='piazza-nettuno']");
  await ops.click("#rf-save");
  await ops.waitForFunction(() => document.querySelector("#rumour-status")?.textContent === "Recorded.", null, { timeout: 10000 });
  const card = ops.locator("#rumour-list .rumour-entry", { hasText: "Police are closing Piazza del Nettuno" });
  assert.equal(await card.locator(".published-badge").textContent(), "Draft");
  assert.ok(await card.locator("button.broadcast").isDisabled(), "a draft cannot be broadcast");
  const id = await card.getAttribute("data-id");
  const hidden = await (await fetch(`${base}/api/v1/rumours/${id}`)).status;
  assert.equal(hidden, 404, "a draft is not public");

  await card.locator("button", { hasText: "Publish" }).click();
  await ops.waitForFunction(() => document.querySelector("#rumour-status")?.textContent === "Published on /rumours.", null, { timeout: 10000 });
  const shown = await (await fetch(`${base}/api/v1/rumours/${id}`)).json();
  assert.equal(shown.translations[0].claim, "La polizia chiude Piazza del Nettuno alle 17");
  assert.equal(shown.version, 2);

  // Edit: the fact changes, the version rises.
  await card.locator("button", { hasText: "Edit" }).click();
  assert.equal(await ops.inputValue("#rf-claim"), "Police are closing Piazza del Nettuno at 17:00");
  await ops.fill("#rf-fact", "Piazza del Nettuno stays open; the march ends there at 18:00.");
  await ops.click("#rf-save");
  await ops.waitForFunction(() => document.querySelector("#rumour-status")?.textContent === "Saved as version 3.", null, { timeout: 10000 });

  let asked = null;
  ops.once("dialog", (d) => { asked = d.message(); d.accept(); });
  await card.locator("button.broadcast").click();
  await ops.waitForFunction(() => document.querySelector("#rumour-status")?.textContent.startsWith("Broadcast sent"), null, { timeout: 10000 });
  assert.match(asked, /Piazza del Nettuno/, "the confirmation names where it goes");
  const { broadcasts } = await (await fetch(`${base}/api/v1/broadcasts?active=true`)).json();
  const sent = broadcasts.find((b) => b.headline === "FALSE: Police are closing Piazza del Nettuno at 17:00");
  assert.ok(sent, JSON.stringify(broadcasts.map((b) => b.headline)));
  assert.equal(sent.translations[0].headline, "FALSO: La polizia chiude Piazza del Nettuno alle 17");
  const linked = await api("GET", `/api/v1/rumours/${id}`);
  assert.deepEqual(linked.broadcasts, [sent.id]);
  await ops.locator("#rumour-panel").scrollIntoViewIfNeeded();
  await ops.screenshot({ path: `${SHOTS}ops-rumours.png` });
  assert.deepEqual(ops.problems, []);
  await ops.close();
});
