// The pages in the reader's language, in real headless Chromium against the
// real server (the demo, whose event speaks English and Italian): a browser
// set to Italian gets the public page, the tablet and rumour control in
// Italian (headings, words, `<html lang>`, times), can switch to English and
// back, and keeps its choice; and the public page speaks no analyst's
// jargon and reads the heat at one resolution whatever its width.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, recordProblems, sendBroadcast, SHOTS, SIZES, waitLiveIn, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

/** A page in a browser whose language is `locale`, recording its problems. */
async function openIn(path, { locale = "it-IT", viewport = SIZES.wall, ...options } = {}) {
  const context = await browser.newContext({ locale, viewport, bypassCSP: true, ...options });
  const page = await context.newPage();
  recordProblems(page, base);
  await page.goto(base + path);
  return page;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The English words of the page's own tables that show on a page drawn in
 * `tag`, once the text the server sends (messages, place names, advice) is
 * taken out of it.
 */
async function englishShown(page, serverText, tag = "it") {
  return page.evaluate(async ({ serverText, tag }) => {
    const { englishOnly } = await import("/shared/i18n.js");
    let text = document.body.innerText;
    for (const s of serverText) if (s) text = text.split(s).join(" ");
    const boundary = (s) => new RegExp(`(^|[^\\p{L}])${s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\p{L}])`, "u");
    // "zone" is an English entry (a column's heading) and also the Italian plural of "zona".
    const alsoItalian = new Set(["zone"]);
    return [...new Set(englishOnly(tag))].filter((s) => !alsoItalian.has(s) && boundary(s).test(text));
  }, { serverText, tag });
}

const missing = (page) => page.evaluate(async () => (await import("/shared/i18n.js")).missingTranslations());

/** What the server sends that the pages show as it is: zones' names and advice, messages' words. */
async function serverWords() {
  const zones = (await (await fetch(`${base}/api/v1/zones`)).json()).features.map((f) => f.properties);
  const messages = (await (await fetch(`${base}/api/v1/broadcasts?active=true`, { headers: { Authorization: `Bearer ${operator}` } })).json()).broadcasts;
  return [
    ...zones.flatMap((z) => [z.name, ...Object.values(z.advice ?? {})]),
    ...messages.flatMap((b) => [b.headline, b.instruction, b.description, b.area?.description, b.event,
      ...(b.translations ?? []).flatMap((t) => [t.headline, t.instruction, t.description])]),
  ].filter((s) => typeof s === "string" && s.trim()).sort((a, b) => b.length - a.length);
}

test("a browser in Italian gets /, /field and /rumours in Italian, switchable to English and back, the choice kept", async () => {
  const sent = await sendBroadcast(base, operator, {
    audience: "public", headline: "Leave Piazza Maggiore by Via Rizzoli", instruction: "Walk, do not run.",
    translations: [{ language: "it", headline: "Lasciate Piazza Maggiore da Via Rizzoli", instruction: "Camminate, non correte." }],
  });
  await sendBroadcast(base, operator, { audience: "responders", headline: "Hold the cordon at Via Rizzoli",
    translations: [{ language: "it", headline: "Tenete il cordone in Via Rizzoli" }] });
  const serverText = await serverWords();
  const itClock = (iso) => new Intl.DateTimeFormat("it-IT", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));

  const surfaces = [
    { path: "/", viewport: SIZES.phone, heading: "Messaggi di sicurezza", more: ["Segnala un problema"] },
    { path: `/field/#token=${commander}`, viewport: SIZES.tablet, heading: "Messaggi di sicurezza", more: ["Rapporto dal campo", "Rapporto METHANE"] },
    { path: "/rumours/", viewport: SIZES.phone, h1: "Controllo delle voci" },
  ];
  for (const { path, viewport, heading, more = [], h1 } of surfaces) {
    const page = await openIn(path, { viewport });
    if (h1) await page.waitForFunction(() => document.querySelector(".rumour-list > *"), null, { timeout: 30000 });
    else {
      await waitLiveIn(page);
      await page.waitForFunction((h) => document.querySelector("#messages")?.textContent.includes(h), "Lasciate Piazza Maggiore", { timeout: 30000 });
    }
    assert.equal(await page.getAttribute("html", "lang"), "it", path);
    if (h1) assert.equal(await page.textContent("h1"), h1);
    const headings = await page.locator("h2").allTextContents();
    for (const h of [heading, ...more].filter(Boolean)) assert.ok(headings.includes(h), `${path}: "${h}" among ${JSON.stringify(headings)}`);
    assert.deepEqual(await missing(page), [], path);
    assert.deepEqual(await englishShown(page, serverText), [], `${path}: English words on the Italian page`);
    if (!h1) {
      // A card's times in the Italian way, its severity in Italian.
      const card = page.locator("article.message", { hasText: "Lasciate Piazza Maggiore" });
      assert.equal(await card.locator(".when").textContent(), `Inviato alle ${itClock(sent.sent)} · Fino alle ${itClock(sent.expires)}`);
      assert.equal(await card.locator(".severity-word").textContent(), "Grave");
      assert.equal(await page.locator("#state").textContent(), "in diretta");
      assert.match(await page.title(), /informazioni di sicurezza|sul campo/);
    }
    assert.deepEqual(await axeViolations(page), [], `${path}: axe in Italian`);
    assert.deepEqual(page.problems, [], path);
    await page.context().close();
  }

  // The switch: to English (the page drawn again), kept across a reload, and back to Italian.
  const page = await openIn("/", { viewport: SIZES.phone });
  await waitLiveIn(page);
  assert.equal(await page.getAttribute(".lang-switch button[data-lang=it]", "aria-pressed"), "true");
  await Promise.all([page.waitForEvent("load"), page.click(".lang-switch button[data-lang=en]")]);
  await page.waitForFunction(() => document.documentElement.lang === "en" && document.querySelector("#messages-title")?.textContent === "Safety messages", null, { timeout: 30000 });
  await page.reload();
  await page.waitForFunction(() => document.querySelector("#messages-title")?.textContent === "Safety messages", null, { timeout: 30000 });
  assert.equal(await page.getAttribute("html", "lang"), "en", "the choice survives a reload");
  assert.equal(await page.getAttribute(".lang-switch button[data-lang=en]", "aria-pressed"), "true");
  await Promise.all([page.waitForEvent("load"), page.click(".lang-switch button[data-lang=it]")]);
  await page.waitForFunction(() => document.documentElement.lang === "it" && document.querySelector("#messages-title")?.textContent === "Messaggi di sicurezza", null, { timeout: 30000 });
  // Rumour control follows the choice made on the public page.
  await page.goto(`${base}/rumours/`);
  await page.waitForFunction(() => document.querySelector("h1")?.textContent === "Controllo delle voci", null, { timeout: 30000 });
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("the public page speaks no jargon and reads the heat at one resolution, on a phone as on a wall", async () => {
  await sendBroadcast(base, operator, { audience: "public", headline: "Fountain area closed, use Via Rizzoli" });
  const jargon = ["H3", "resolution", "items/km", "window", "CAP"];
  const resolutions = {};
  for (const [name, viewport] of [["phone", SIZES.phone], ["wall", SIZES.wall]]) {
    const context = await browser.newContext({ locale: "en-GB", viewport });
    const page = await context.newPage();
    recordProblems(page, base);
    const sent = [];
    page.on("websocket", (ws) => ws.on("framesent", (f) => { try { sent.push(JSON.parse(f.payload)); } catch { /* not JSON */ } }));
    await page.goto(`${base}/`);
    await waitLiveIn(page);
    await page.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Fountain area closed"), null, { timeout: 30000 });
    await page.waitForFunction(() => document.querySelector("#places li"), null, { timeout: 30000 });
    const text = await page.evaluate(() => document.body.innerText);
    for (const word of jargon) assert.ok(!text.includes(word), `${name}: "${word}" on the public page`);
    assert.equal(await page.locator("a[href$='cap.xml']").count(), 0, `${name}: no CAP document per message`);
    assert.equal(await page.locator("a[href='/api/v1/alerts.atom']").count(), 1, `${name}: one link to the Atom feed`);
    assert.equal(await page.locator("#window").count(), 0, `${name}: no time window to choose`);
    // Zoomed in and out, the public's heat stays at the one resolution.
    await page.evaluate(() => window.campanile.map.map.zoomTo(window.campanile.map.map.getZoom() + 2, { duration: 0 }));
    await page.waitForTimeout(500);
    const heat = sent.filter((f) => f.type === "subscribe" && f.channel === "heatmap").map((f) => f.res);
    assert.ok(heat.length > 0, `${name}: subscribed to the heat`);
    resolutions[name] = [...new Set(heat)];
    assert.deepEqual(resolutions[name], [await page.evaluate(() => window.campanile.resolution())], `${name}: one resolution`);
    assert.deepEqual(page.problems, [], name);
    await context.close();
  }
  const event = await (await fetch(`${base}/api/v1/event`)).json();
  assert.deepEqual(resolutions.phone, resolutions.wall, "the same resolution at 360 px and 1920 px");
  assert.deepEqual(resolutions.phone, [event.resolutions.public_max], "the public's finest, which the server holds to k-anonymity");
});

test("screenshots of the three pages in Italian at the wall's, the tablet's and the phone's size, the phone's sheet closed and open", async () => {
  const surfaces = [["public", "/"], ["field", `/field/#token=${commander}`], ["ops", `/ops/#token=${operator}`]];
  for (const [surface, path] of surfaces) {
    for (const [name, viewport] of [["wall", SIZES.wall], ["tablet", SIZES.tablet], ["phone", SIZES.phone]]) {
      const page = await openIn(path, { viewport });
      await waitLiveIn(page);
      await page.waitForFunction(() => document.querySelector("#zones-list li, #own-zone, #places li"), null, { timeout: 30000 });
      await page.waitForTimeout(1500);
      await page.screenshot({ path: `${SHOTS}i18n-${surface}-${name}${name === "phone" ? "-closed" : ""}.png` });
      if (name === "phone") {
        await page.click("#sheet-handle");
        await page.waitForFunction(() => document.querySelector("#sheet-handle")?.getAttribute("aria-expanded") === "true", null, { timeout: 10000 });
        await page.screenshot({ path: `${SHOTS}i18n-${surface}-phone-open.png` });
      }
      assert.deepEqual(page.problems, [], `${surface}, ${name}`);
      await page.context().close();
    }
  }
});
