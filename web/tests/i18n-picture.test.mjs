// The crowd picture in the reader's language: /ops, /field and / opened by
// a browser in Italian (a context with locale it-IT, as an Italian phone or
// desk would be) show the zones, hotspots, trends, posts, ingest rate, the
// commander's zone and the public's places in Italian, their levels
// translated from the server's values, figures with a decimal comma, and
// on the public page no jargon at all. CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, noHorizontalScroll, recordProblems, SHOTS, SIZES, waitLiveIn, withDemoServer } from "./support.mjs";

let server, browser;

withDemoServer((s) => ({ server, browser } = s));

/** `path` in a new browser context whose language is Italian; axe may be injected (bypassCSP). */
async function openItalian(path, viewport = SIZES.wall) {
  const context = await browser.newContext({ viewport, locale: "it-IT", bypassCSP: true });
  const page = await context.newPage();
  recordProblems(page, server.base);
  await page.goto(server.base + path);
  await waitLiveIn(page);
  return page;
}

const close = (page) => page.context().close();

const PATHS = { ops: () => `/ops/#token=${server.operator}`, field: () => `/field/#token=${server.commander}`, public: () => "/" };

/** The responders' levels as the Italian page shows them, by the server's value. */
const LEVELS_IT = { normal: "Normale", caution: "Attenzione", alert: "Allerta", serious: "Grave", critical: "Critico" };
const PUBLIC_IT = { relaxed: "Tranquillo", normal: "Normale", busy: "Affollato", crowded: "Molto affollato", unknown: "Non si sa" };

/**
 * What the i18n core says of the page: the keys a language lacks and the
 * English entries that read differently in Italian, with the text (shown
 * and announced: innerText, aria-label, title) of the elements `selectors`
 * pick and which of those English entries appear in it as words.
 */
async function wording(page, selectors) {
  return page.evaluate(async (list) => {
    const i18n = await import("/shared/i18n.js");
    // "zone" is an English entry (a column's heading) and also the Italian plural of "zona".
    const alsoItalian = new Set(["zone"]);
    const english = i18n.englishOnly("it").map((s) => s.trim()).filter((s) => /\p{L}/u.test(s) && !alsoItalian.has(s));
    const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const texts = list.flatMap((selector) => [...document.querySelectorAll(selector)].flatMap((node) => [
      node.innerText,
      ...[node, ...node.querySelectorAll("[aria-label], [title]")].flatMap((n) => [n.getAttribute("aria-label"), n.getAttribute("title")]).filter(Boolean),
    ]));
    const text = texts.join("\n");
    const found = english.filter((s) => new RegExp(`(?<![\\p{L}\\p{N}])${escape(s)}(?![\\p{L}\\p{N}])`, "u").test(text));
    return { missing: i18n.missingTranslations(), found, text, lang: document.documentElement.lang, nodes: list.map((s) => document.querySelectorAll(s).length) };
  }, selectors);
}

test("/ops in Italian: zones, hotspots, trends, posts and the ingest rate in Italian, levels translated, people per m² with a decimal comma", async () => {
  const page = await openItalian(PATHS.ops());
  await page.waitForFunction(() => document.querySelectorAll("#zones-list li").length > 0 && document.querySelectorAll("#hotspots tr").length > 0
    && Number(document.querySelector("#timeline")?.dataset.buckets) > 0, null, { timeout: 45000 });
  assert.equal(await page.evaluate(() => document.documentElement.lang), "it");
  const headings = await page.evaluate(() => Object.fromEntries(["zones-panel", "hotspot-panel", "trends-panel", "posts-panel", "timeline-panel"]
    .map((id) => [id, document.getElementById(`${id}-title`)?.textContent])));
  assert.deepEqual(headings, {
    "zones-panel": "Rischio per zona", "hotspot-panel": "Punti caldi", "trends-panel": "Termini in crescita", "posts-panel": "Post", "timeline-panel": "Post ricevuti, ultima ora",
  });
  assert.deepEqual(await page.locator("#hotspot-panel th").allTextContents(), ["zona", "post", "autori", "/km²"]);

  // Each zone's level in Italian beside the server's value, kept in the row; its density with a decimal comma.
  const rows = await page.locator("#zones-list li").evaluateAll((lis) => lis.map((li) => ({
    level: li.dataset.level, word: li.querySelector(".zone-figures .level-badge")?.textContent, density: li.querySelector(".density")?.textContent,
    text: li.innerText,
  })));
  for (const r of rows) {
    assert.equal(r.word, LEVELS_IT[r.level], `the level ${r.level} in Italian: ${r.text}`);
    assert.match(r.density, /^\d+,\d\d\s\/m²$/, `people per m² with a decimal comma: ${r.text}`);
    assert.match(r.text, /\d[\d.]* \(\d[\d.]*–\d[\d.]*\) persone/, r.text);
    assert.match(r.text, /\d[\d.]* (autore|autori), \d[\d.]* post/, r.text);
  }
  assert.match(await page.locator("#zones-scale").textContent(), /^Livelli in persone\/m²: attenzione da \d/);
  const caption = await page.locator("#timeline").getAttribute("aria-label");
  assert.match(caption, /^\d+,\d post\/s ora, picco di \d+,\d nell'ultima ora$/, caption);

  const said = await wording(page, ["#zones-panel", "#hotspot-panel", "#trends-panel", "#posts-panel", "#timeline-panel", "aside .legend", "#max-people"]);
  assert.deepEqual(said.missing, [], "every entry has its Italian");
  assert.deepEqual(said.found, [], `no English left in the crowd picture (${said.found}):\n${said.text}`);
  assert.deepEqual(await axeViolations(page, ["#zones-panel", "#hotspot-panel", "#trends-panel", "#posts-panel", "#timeline-panel"]), []);
  assert.deepEqual(page.problems, []);
  await close(page);
});

test("/ops in Italian: a coordinated brigade's card, the rising terms and the posts behind a term in Italian", async () => {
  const page = await openItalian(PATHS.ops());
  // Twenty-five accounts posting the same text in Piazza Maggiore: one coordinated cluster, its card among the alerts.
  const text = "Tutti in Piazza Maggiore adesso, prova di traduzione della brigata";
  const resp = await fetch(`${server.base}/api/v1/posts`, {
    method: "POST", headers: { Authorization: `Bearer ${server.operator}`, "Content-Type": "application/json" },
    body: JSON.stringify(Array.from({ length: 25 }, (_, i) => ({ source: "test", id: `i18n-brigade-${i}`, author: `i18n-brigadier-${i}`, text, lang: "it",
      lat: 44.49375, lon: 11.34295 }))),
  });
  assert.equal(resp.status, 202, await resp.text());
  const card = page.locator(".alert-card.coordination").filter({ hasText: text });
  await card.waitFor({ timeout: 60000 });
  assert.match(await card.locator(".coord-title").textContent(), /^Pubblicazione coordinata — \d+ post quasi identici da \d+ account dalle \d\d:\d\d/);
  assert.equal(await card.locator(".decision").textContent(), "Conteggiati nel quadro della folla: nessuna decisione per ora.");
  assert.deepEqual(await card.locator(".actions button").allTextContents(), ["Mostra sulla mappa", "Escludi"]);
  await card.locator("button.decide").click();
  assert.equal(await card.locator(".reason-form label").textContent(), "Perché escludere questi post? (scritto nel registro di controllo)");
  assert.deepEqual(await card.locator(".reason-form button").allTextContents(), ["Escludi il gruppo", "Annulla"]);

  // A rising term (the demo's crowd makes them) opens its posts, described in Italian.
  const term = page.locator("#trends-panel .term-button").first();
  await term.waitFor({ timeout: 90000 });
  assert.match(await page.locator("#trends-note").textContent(), /^Termini usati da \d+ o più persone nello stesso luogo/);
  assert.match(await term.getAttribute("aria-label"), /\d+ (autore|autori), .*\. Leggi i suoi post/);
  await term.click();
  await page.waitForFunction(() => /^\d+ post con «.+» .*, prima i più recenti/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 15000 });
  await page.evaluate(() => document.querySelector("#posts-panel-title").scrollIntoView({ block: "start" }));
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${SHOTS}i18n-picture-ops-posts-wall.png` });
  await card.scrollIntoViewIfNeeded();
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${SHOTS}i18n-picture-ops-coordination-wall.png` });
  const said = await wording(page, [".alert-card.coordination", "#trends-panel", "#posts-panel"]);
  assert.deepEqual(said.missing, []);
  assert.deepEqual(said.found, [], `no English left in the integrity panels (${said.found}):\n${said.text}`);
  assert.deepEqual(await axeViolations(page, ["#trends-panel", "#posts-panel"]), []);
  assert.deepEqual(page.problems, []);
  await close(page);
});

test("/field in Italian: the commander's zone, its head-count form and the hotspots in Italian, people per m² with a decimal comma", async () => {
  const page = await openItalian(PATHS.field(), SIZES.tablet);
  await page.waitForSelector('#own-zone option[value="piazza-nettuno"]', { state: "attached", timeout: 45000 });
  await page.selectOption("#own-zone", "piazza-nettuno");
  await page.waitForFunction(() => document.querySelector("#own-level") && document.querySelectorAll("#hc-quick button").length > 0
    && document.querySelectorAll("#hotspots tr").length > 0, null, { timeout: 45000 });
  assert.equal(await page.locator("#own-zone-panel-title").textContent(), "La tua zona");
  assert.equal(await page.locator("#hotspot-panel-title").textContent(), "Punti caldi");
  assert.equal(await page.locator("#hc-send").textContent(), "Invia conteggio");
  assert.equal(await page.locator("#hc-label").textContent(), "Persone che conti in Piazza del Nettuno");
  const level = await page.locator("#own-level").evaluate((n) => ({ level: n.dataset.level, word: n.textContent }));
  assert.equal(level.word, LEVELS_IT[level.level], JSON.stringify(level));
  assert.match(await page.locator(".own-figures").textContent(), /\d+,\d\d\s\/m²/, "people per m² with a decimal comma");
  assert.deepEqual(await page.locator("#hc-quick button").allTextContents(), ["Pieno per ¼", "Pieno a metà", "Pieno per ¾", "Pieno"]);
  const said = await wording(page, ["#own-zone-panel", "#hotspot-panel", "aside .legend"]);
  assert.deepEqual(said.missing, []);
  assert.deepEqual(said.found, [], `no English left in the commander's zone (${said.found}):\n${said.text}`);
  assert.deepEqual(await axeViolations(page, ["#own-zone-panel", "#hotspot-panel"]), []);
  assert.deepEqual(page.problems, []);
  await close(page);
});

test("/ in Italian: the places in plain Italian words and the map's colours in words, with no unit and no jargon", async () => {
  const page = await openItalian(PATHS.public(), SIZES.phone);
  await page.waitForFunction(() => document.querySelectorAll("#places li").length > 0, null, { timeout: 45000 });
  assert.equal(await page.locator("#places-panel-title").textContent(), "Quanto è affollato ora");
  const places = await page.locator("#places li").evaluateAll((lis) => lis.map((li) => ({ level: li.dataset.level, word: li.querySelector(".level-badge")?.textContent })));
  for (const p of places) assert.equal(p.word, PUBLIC_IT[p.level], JSON.stringify(p));
  const legend = page.locator("aside .legend");
  assert.equal((await legend.innerText()).replace(/\s+/g, " ").trim(), "tranquillo molto affollato");
  assert.equal(await legend.getAttribute("aria-label"), "Colori della mappa, da tranquillo a molto affollato");
  const said = await wording(page, ["#places-panel", "aside .legend"]);
  assert.deepEqual(said.missing, []);
  assert.deepEqual(said.found, [], `no English left in the places (${said.found}):\n${said.text}`);
  for (const jargon of [/items\/km²/, /\/km²/, /\bH3\b/]) assert.doesNotMatch(said.text, jargon);
  assert.deepEqual(await axeViolations(page, ["#places-panel"]), []);
  assert.deepEqual(page.problems, []);
  await close(page);
});

test("screenshots of /ops, /field and / in Italian at the wall's, the tablet's and the phone's size", async () => {
  for (const [surface, path] of Object.entries(PATHS)) {
    for (const [name, viewport] of Object.entries(SIZES)) {
      const page = await openItalian(path(), viewport);
      if (surface === "field") {
        await page.waitForSelector('#own-zone option[value="piazza-nettuno"]', { state: "attached", timeout: 45000 });
        await page.selectOption("#own-zone", "piazza-nettuno");
      }
      await page.waitForFunction(() => document.querySelector("#zones-list li, #own-level, #places li"), null, { timeout: 45000 });
      await page.waitForTimeout(1500);
      assert.equal(await noHorizontalScroll(page), true, `no horizontal scroll (${surface}, ${name})`);
      await page.screenshot({ path: `${SHOTS}i18n-picture-${surface}-${name}.png`, fullPage: name !== "wall" });
      assert.deepEqual(page.problems, [], `${surface}, ${name}`);
      await close(page);
    }
  }
});
