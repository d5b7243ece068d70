// The operators' action panels of /ops in Italian, in real headless Chromium
// against the real server playing the demo: with the browser in Italian the
// composer, triage, rumour register, alerts, official alerts, download and
// replay panels have Italian headings, no English word of their own, every
// entry translated, and the review step reads "Conferma e invia"; what goes
// to the server stays the English CAP value ("Severe"), whatever the page
// shows. The frame (header, map, messages) is another module's and is not
// checked here. CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, callApi, recordProblems, SHOTS, SIZES, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

// The sections of the panels this test speaks for: heading id → the Italian heading.
const HEADINGS = {
  "composer-title": "Invia un messaggio di sicurezza",
  "triage-title": "Segnalazioni da verificare",
  "rumour-panel-title": "Registro delle voci",
  "alerts-title": "Allarmi",
  "official-title": "Allerte ufficiali",
  "export-panel-title": "Dati per l'analisi dopo l'evento",
  "replay-panel-title": "Riproduzione",
};

// The modules whose words those sections show, with the tables they export.
const MODULES = ["panel-composer.js", "panel-triage.js", "panel-rumours.js", "panel-alerts.js", "panel-official.js", "panel-export.js", "panel-replay.js", "page-ops.js"];

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

const api = (method, path, body, token = operator) => callApi(base, token, method, path, body);

/** /ops in a browser whose language is Italian, live, its zones in the composer; axe may be injected (bypassCSP). */
async function openItalianOps() {
  const context = await browser.newContext({ locale: "it-IT", viewport: SIZES.wall, bypassCSP: true });
  const page = await context.newPage();
  recordProblems(page, base);
  await page.goto(`${base}/ops/#token=${operator}`);
  // Deadlines, not waits: generous, as a busy machine draws the wall's map slowly. The
  // state's class, not its word: the header is translated elsewhere.
  await page.waitForFunction(() => document.querySelector("#state")?.classList.contains("live"), null, { timeout: 45000 });
  await page.waitForSelector('#c-zones input[value="piazza-maggiore"]', { state: "attached", timeout: 45000 });
  return page;
}

/**
 * The English words of this test's modules that read differently in Italian
 * (and that `englishOnly("it")` lists) found in the visible text of the
 * sections; text marked as another language (an English headline, a claim
 * recorded in English) is left out, as is what the server sends as it is.
 */
const englishLeft = (page) => page.evaluate(async ([headings, modules]) => {
  const i18n = await import("/shared/i18n.js");
  const listed = new Set(i18n.englishOnly("it"));
  const own = new Set();
  for (const name of modules) {
    const module = await import(`/shared/${name}`);
    for (const table of Object.values(module).filter((v) => v && typeof v === "object" && v.en && v.it)) {
      for (const [key, value] of Object.entries(table.en)) if (typeof value === "string" && value !== table.it[key] && listed.has(value)) own.add(value);
    }
  }
  const found = [];
  for (const id of headings) {
    const section = document.getElementById(id).closest("section");
    let text = section.innerText;
    for (const other of section.querySelectorAll("[lang]:not([lang^='it'])")) if (other.innerText) text = text.split(other.innerText).join(" ");
    for (const english of own) {
      const escaped = english.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      if (new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, "u").test(text)) found.push(`${id}: ${english}`);
    }
  }
  return { found, checked: own.size };
}, [Object.keys(HEADINGS), MODULES]);

test("with the browser in Italian the operators' action panels speak Italian, and a Severe message still goes out as Severe", async () => {
  // Something in each list, so that cards' words are drawn too: a report to triage and a register entry.
  const reportText = "Dicono che l'uscita di Via Rizzoli sia chiusa";
  const report = await api("POST", "/api/v1/reports", { lat: 44.4937, lon: 11.343, category: "rumour", text: reportText }, commander);
  await api("POST", "/api/v1/rumours", { claim: "The Via Rizzoli exit is closed", status: "false", fact: "It is open.", language: "en", zones: ["piazza-maggiore"], published: false });

  const ops = await openItalianOps();
  assert.equal(await ops.getAttribute("html", "lang"), "it");
  await ops.waitForSelector(`#triage article[data-id="${report.id}"]`, { timeout: 20000 });
  await ops.waitForSelector("#rumour-list .rumour-entry", { timeout: 20000 });

  const headings = await ops.evaluate((ids) => Object.fromEntries(ids.map((id) => [id, document.getElementById(id)?.textContent])), Object.keys(HEADINGS));
  assert.deepEqual(headings, HEADINGS);
  assert.deepEqual(await ops.evaluate(async () => (await import("/shared/i18n.js")).missingTranslations()), []);
  const card = ops.locator(`#triage article[data-id="${report.id}"]`);
  assert.equal(await card.locator("button.verify").textContent(), "✓ Verifica");
  assert.equal(await card.locator("button.dismiss").textContent(), "✕ Scarta");

  // CAP values shown in Italian, sent in English.
  assert.deepEqual(await ops.$$eval("#c-severity option", (os) => os.map((o) => [o.value, o.textContent])).then((os) => os.find(([v]) => v === "Severe")), ["Severe", "Grave"]);
  assert.equal(await ops.inputValue("#c-severity"), "Severe");
  // Every CAP value the event offers reads in Italian (the codes "Infra" and "Geo" too).
  const untranslated = await ops.$$eval("#c-severity option, #c-urgency option, #c-certainty option, #c-category option",
    (os) => os.filter((o) => o.textContent === o.value).map((o) => o.value));
  assert.deepEqual(untranslated, []);
  assert.equal(await ops.locator("#c-kb-add").textContent(), "Aggiungi il cerchio");

  const before = await englishLeft(ops);
  assert.ok(before.checked > 100, `only ${before.checked} English entries to look for`);
  assert.deepEqual(before.found, [], "English words in the Italian panels");

  // The review step, with a circle set from the keyboard control.
  const headline = "Piazza Maggiore full, use Via Rizzoli";
  await ops.fill("#c-headline", headline);
  await ops.fill("#c-headline-it", "Piazza Maggiore piena, usate Via Rizzoli");
  await ops.selectOption("#c-kb-around", "piazza-maggiore");
  await ops.fill("#c-kb-radius", "300");
  await ops.click("#c-kb-add");
  await ops.waitForFunction(() => /cerchio di 300 m/.test(document.querySelector("#c-preview")?.textContent), null, { timeout: 15000 });
  await ops.locator("#c-keyboard").scrollIntoViewIfNeeded();
  await ops.screenshot({ path: `${SHOTS}i18n-ops-keyboard-circle-wall.png` });
  await ops.click("#c-send");
  await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
  assert.equal(await ops.locator("#c-review-title").textContent(), "Controlla prima di inviare");
  assert.equal(await ops.locator("#c-confirm").textContent(), "Conferma e invia");
  const shown = await ops.locator("#c-review-list").evaluate((dl) => Object.fromEntries([...dl.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  assert.equal(shown["Gravità"], "Grave · Immediata · Osservata");
  assert.equal(shown.Area, "un cerchio di 300 m attorno a Piazza Maggiore");
  assert.match(shown.Scadenza, /^60 min dopo l'invio \(verso le \d{2}:\d{2}\)$/);
  const during = await englishLeft(ops);
  assert.deepEqual(during.found, [], "English words in the Italian review");
  assert.deepEqual(await axeViolations(ops, ["#c-review", "#triage"]), []);
  await ops.locator("#c-review").scrollIntoViewIfNeeded();
  await ops.screenshot({ path: `${SHOTS}i18n-ops-review-wall.png` });

  await ops.click("#c-confirm");
  await ops.waitForFunction(() => document.querySelector("#c-result")?.textContent.startsWith("Inviato al pubblico: "), null, { timeout: 15000 });
  const { broadcasts } = await api("GET", "/api/v1/broadcasts");
  const sent = broadcasts.find((b) => b.headline === headline);
  assert.ok(sent, "the message is stored");
  assert.equal(sent.severity, "Severe", "the English CAP value is what the server holds");
  assert.equal(sent.urgency, "Immediate");
  assert.equal(sent.certainty, "Observed");
  assert.equal(sent.area.circles[0].radius_m, 300);
  assert.deepEqual(ops.problems, []);
  await ops.context().close();
});
