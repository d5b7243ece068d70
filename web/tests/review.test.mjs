// Sending and moderating deliberately on /ops, in real headless Chromium
// against the real server playing the demo: a message to the public, or a
// grave one, goes out only from its review (every word, its area filled on
// the map); Enter in a field sends nothing; a sent message says so in green
// and leaves an empty form; a refusal keeps what was typed and says why; a
// dismissal or a rumour's marking waits a few seconds for an undo before the
// server hears of it, and a rumour answered publicly stays in triage until
// its answer has gone out. CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, callApi, noHorizontalScroll, openPage, SHOTS, SIZES, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

// Seconds triage waits for an undo (UNDO_SECONDS in shared/panel-triage.js).
const UNDO = 5;

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

const api = (method, path, body, token = operator) => callApi(base, token, method, path, body);

/** /ops live, its zones listed in the composer; axe may be injected (bypassCSP). */
async function openOps(viewport = SIZES.wall) {
  const page = await openPage(browser, base, `/ops/#token=${operator}`, { viewport, bypassCSP: true });
  // Deadlines, not waits: generous, as a busy machine draws the wall's map slowly.
  await page.waitForFunction(() => document.querySelector("#state")?.textContent === "live", null, { timeout: 45000 });
  await page.waitForSelector('#c-zones input[value="piazza-nettuno"]', { state: "attached", timeout: 45000 });
  return page;
}

/** Every request `method` to a path ending with `path`, with when it left and its body. */
function watch(page, method, path) {
  const seen = [];
  page.on("request", (r) => {
    if (r.method() === method && new URL(r.url()).pathname.endsWith(path)) seen.push({ url: r.url(), at: Date.now(), body: r.postData() });
  });
  return seen;
}

/** Polls `fn` in the page (it may return a promise) until it is truthy; returns that value. */
async function until(page, fn, arg, { timeout = 15000, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls the server until `check()` is truthy. */
async function serverUntil(check, what, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const reportsIn = async (status) => (await api("GET", `/api/v1/reports?status=${status}`)).features.map((f) => f.properties);
const statusOf = async (id) => {
  for (const status of ["unverified", "verified", "dismissed", "false"]) {
    const found = (await reportsIn(status)).find((r) => r.id === id);
    if (found) return found;
  }
  return null;
};

/** A report from a commander's tablet (token holders are not rate-limited) near the fountain. */
const report = (text, category = "rumour") => api("POST", "/api/v1/reports", { lat: 44.4944, lon: 11.3426, category, text }, commander);

/** Waits until GeoJSON source `id` of the page's map holds `n` features; fails saying how many it holds. */
async function expectFeatures(page, id, n, why = "") {
  const count = () => page.evaluate(async (source) => (await window.campanile.map.map.getSource(source).getData()).features.length, id);
  try {
    await until(page, async ([source, wanted]) => (await window.campanile.map.map.getSource(source).getData()).features.length === wanted, [id, n], { timeout: 15000 });
  } catch {
    assert.equal(await count(), n, `${id}: ${why}`);
  }
}

/**
 * Clicks `action` in the triage card of report `id`, then, when `undo`, its
 * Undo, in one go in the page, so that a slow machine cannot let the time to
 * undo pass between the two; returns the card's text and the focus after each.
 */
const actInTriage = (page, id, action, { undo = false } = {}) => page.evaluate(([id, action, undo]) => {
  const card = () => document.querySelector(`#triage article[data-id="${id}"]`);
  const seen = () => ({ text: card()?.textContent, focus: document.activeElement?.className });
  card().querySelector(action).click();
  const during = seen();
  if (!undo) return { during };
  card().querySelector("button.undo").click();
  return { during, after: seen() };
}, [id, action, undo]);

/** Places the composer's circle at the middle of the map. */
async function drawCircle(page) {
  const box = await page.locator("#map").boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() => /m circle/.test(document.querySelector("#c-preview")?.textContent), null, { timeout: 15000 });
}

test("Enter in any of the composer's fields sends nothing, whatever the message", async () => {
  const ops = await openOps();
  const posts = watch(ops, "POST", "/api/v1/broadcasts");
  await ops.check('#c-zones input[value="piazza-nettuno"]');
  await ops.fill("#c-headline", "Enter must not send this");
  for (const id of ["#c-event", "#c-headline", "#c-headline-it", "#c-radius", "#c-expires", '#c-zones input[value="piazza-nettuno"]']) {
    await ops.focus(id);
    await ops.keyboard.press("Enter");
  }
  // A message that needs no review does not go on Enter either.
  await ops.selectOption("#c-audience", "responders");
  await ops.selectOption("#c-severity", "Moderate");
  await ops.focus("#c-headline");
  await ops.keyboard.press("Enter");
  // A request of the page's own after the keys: a POST they had caused would have left before it.
  await ops.evaluate(() => fetch("/api/v1/event").then((r) => r.json()));
  assert.deepEqual(posts, [], "Enter sent a message");
  assert.equal(await ops.locator("#c-review").isVisible(), false, "and did not open the review either");
  assert.equal(await ops.inputValue("#c-headline"), "Enter must not send this", "what was typed stays");
  const { broadcasts } = await api("GET", "/api/v1/broadcasts");
  assert.ok(!broadcasts.some((b) => b.headline === "Enter must not send this"), "nothing stored");
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a Severe message to the public goes out only from its review: every word, its area filled on the map and framed, then a green banner and an empty form", async () => {
  const ops = await openOps();
  const posts = watch(ops, "POST", "/api/v1/broadcasts");
  const headline = "Fountain area closed, leave by Via Rizzoli";
  await ops.check('#c-zones input[value="piazza-nettuno"]');
  await drawCircle(ops);
  await ops.fill("#c-headline", headline);
  await ops.fill("#c-instruction", "Walk, do not run.");
  await ops.fill("#c-headline-it", "Area della fontana chiusa, uscite da Via Rizzoli");
  await ops.fill("#c-instruction-it", "Camminate, non correte.");
  await ops.fill("#c-expires", "45");
  assert.equal(await ops.inputValue("#c-severity"), "Severe");
  assert.equal(await ops.locator("#c-send").textContent(), "Review and send…");
  await ops.locator("#c-send").scrollIntoViewIfNeeded();
  await ops.screenshot({ path: `${SHOTS}review-form-wall.png` });
  // Far out, so that framing the area is something the review has to do.
  await ops.evaluate(() => window.campanile.map.map.jumpTo({ zoom: 11 }));

  await ops.click("#c-send");
  await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
  assert.equal(await ops.locator("#compose").isVisible(), false, "the form gives way to the review");
  assert.equal(await ops.evaluate(() => document.activeElement?.id), "c-review-title", "the focus goes to the review");
  const shown = await ops.locator("#c-review-list").evaluate((dl) => Object.fromEntries([...dl.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));
  assert.equal(shown.Audience, "The public (every phone on the public page)");
  assert.equal(shown.Severity, "Severe · Immediate · Observed");
  assert.equal(shown["Headline (en)"], headline);
  assert.equal(shown["Instruction (en)"], "Walk, do not run.");
  assert.equal(shown["Headline (it)"], "Area della fontana chiusa, uscite da Via Rizzoli");
  assert.equal(shown["Instruction (it)"], "Camminate, non correte.");
  assert.equal(shown.Area, "Piazza del Nettuno; a 200 m circle drawn on the map");
  assert.match(shown.Expires, /^45 min after it is sent \(about \d{2}:\d{2}/);
  assert.equal(await ops.getAttribute("#c-review-list dd:nth-of-type(6)", "lang"), "it", "the Italian is marked as Italian");

  // On the map: the zone and the circle, filled in their own layers, and the view framed on them.
  await expectFeatures(ops, "review", 2);
  assert.deepEqual(await ops.evaluate(() => ["review-fill", "review-line"].map((id) => window.campanile.map.map.getLayer(id)?.type)), ["fill", "line"]);
  const framed = await until(ops, async () => {
    const m = window.campanile.map.map;
    if (m.isMoving()) return null;
    const flat = (c) => (typeof c[0] === "number" ? [c] : c.flatMap(flat));
    const points = (await m.getSource("review").getData()).features.flatMap((f) => flat(f.geometry.coordinates));
    const view = m.getBounds();
    const lons = points.map((p) => p[0]), lats = points.map((p) => p[1]);
    const inside = points.every(([lon, lat]) => view.contains([lon, lat]));
    const share = Math.max((Math.max(...lons) - Math.min(...lons)) / (view.getEast() - view.getWest()), (Math.max(...lats) - Math.min(...lats)) / (view.getNorth() - view.getSouth()));
    return inside && share > 0.3 ? { share, zoom: m.getZoom() } : null;
  }, null, { what: "the map framed on the area under review" });
  assert.ok(framed.zoom > 14, `zoomed in on the area: ${JSON.stringify(framed)}`);
  assert.deepEqual(posts, [], "nothing sent by opening the review");
  assert.deepEqual(await axeViolations(ops, ["#c-review"]), []);

  // Back to edit keeps everything; the review again, then the confirmation.
  await ops.click("#c-back");
  assert.equal(await ops.locator("#c-review").isVisible(), false);
  assert.equal(await ops.inputValue("#c-headline"), headline);
  await expectFeatures(ops, "review", 0, "the review's area leaves the map with it");
  await ops.click("#c-send");
  await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
  await ops.click("#c-confirm");
  await ops.waitForFunction(() => document.querySelector("#c-result")?.textContent, null, { timeout: 10000 });
  const banner = ops.locator("#c-result");
  assert.match(await banner.textContent(), new RegExp(`^Sent to the public: ${headline} \\(message #\\d+\\)$`));
  assert.equal(await banner.getAttribute("role"), "status");
  assert.ok(await banner.isVisible());
  assert.equal(await banner.evaluate((b) => getComputedStyle(b).backgroundColor), "rgb(63, 185, 80)", "green");
  assert.equal(posts.length, 1, "sent once");
  const body = JSON.parse(posts[0].body);
  assert.equal(body.severity, "Severe");
  assert.equal(body.audience, "public");
  assert.deepEqual(body.area.zones, ["piazza-nettuno"]);
  assert.equal(body.area.circles.length, 1);
  assert.equal(body.translations[0].headline, "Area della fontana chiusa, uscite da Via Rizzoli");
  const seq = Number((await banner.textContent()).match(/#(\d+)/)[1]);
  const { broadcasts } = await api("GET", "/api/v1/broadcasts?active=true");
  assert.equal(broadcasts.find((b) => b.headline === headline)?.seq, seq, "the banner names the stored message");

  // Ready for the next message.
  assert.equal(await ops.locator("#compose").isVisible(), true);
  assert.equal(await ops.locator("#c-review").isVisible(), false);
  for (const id of ["#c-headline", "#c-instruction", "#c-headline-it", "#c-instruction-it"]) assert.equal(await ops.inputValue(id), "", id);
  assert.equal(await ops.inputValue("#c-expires"), "60");
  assert.equal(await ops.locator("#c-zones input:checked").count(), 0);
  await expectFeatures(ops, "draft", 0, "the drawn shape is gone");
  await expectFeatures(ops, "review", 0);
  assert.match(await ops.locator("#c-preview").textContent(), /no area yet/);
  await ops.screenshot({ path: `${SHOTS}review-sent-wall.png` });
  assert.deepEqual(await axeViolations(ops, ["#c-result"]), []);
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a responders' Moderate message is sent without a review; a refusal keeps the form and shows the server's reason", async () => {
  const ops = await openOps();
  const posts = watch(ops, "POST", "/api/v1/broadcasts");
  const headline = "Hold the cordon at the fountain";
  await ops.selectOption("#c-audience", "responders");
  await ops.selectOption("#c-severity", "Moderate");
  assert.equal(await ops.locator("#c-send").textContent(), "Send to responders");
  await ops.fill("#c-radius", "2000000"); // past what the server takes
  await drawCircle(ops);
  await ops.fill("#c-headline", headline);
  await ops.click("#c-send");
  await ops.waitForFunction(() => document.querySelector("#c-error")?.textContent, null, { timeout: 10000 });
  assert.equal(posts.length, 1, "sent at once, no review");
  const error = ops.locator("#c-error");
  assert.equal(await error.getAttribute("role"), "alert");
  assert.equal(await error.textContent(), "Not sent: radius_m must be more than 0 and at most 1,000 km.");
  assert.ok(await error.isVisible());
  assert.equal(await ops.inputValue("#c-headline"), headline, "what was typed stays");
  assert.equal(await ops.inputValue("#c-radius"), "2000000");
  assert.equal(await ops.locator("#c-result").textContent(), "", "no success shown");
  await expectFeatures(ops, "draft", 1, "the drawn circle stays");
  await ops.screenshot({ path: `${SHOTS}review-refused-wall.png` });

  await ops.fill("#c-radius", "150");
  await ops.click("#c-send");
  await ops.waitForFunction(() => document.querySelector("#c-result")?.textContent, null, { timeout: 10000 });
  assert.match(await ops.locator("#c-result").textContent(), new RegExp(`^Sent to responders: ${headline} \\(message #\\d+\\)$`));
  assert.equal(await error.textContent(), "", "the refusal is cleared");
  assert.equal(await ops.locator("#c-review").isVisible(), false, "never reviewed");
  assert.equal(posts.length, 2);
  assert.equal(await ops.inputValue("#c-headline"), "");
  // The browser logs the refused request; anything else would be a fault.
  assert.deepEqual(ops.problems.filter((p) => !p.includes("status of 400 (Bad Request)")), []);
  await ops.close();
});

test("the composer's secondary action is drawn unlike its primary one", async () => {
  const ops = await openOps();
  const look = (sel) => ops.locator(sel).evaluate((b) => {
    const s = getComputedStyle(b);
    return { background: s.backgroundColor, width: b.getBoundingClientRect().width, form: b.closest("form").getBoundingClientRect().width };
  });
  const send = await look("#c-send"), clear = await look("#c-clear");
  assert.notEqual(send.background, clear.background);
  assert.ok(Math.abs(send.width - send.form) < 2, `the send button is full width: ${JSON.stringify(send)}`);
  assert.ok(clear.width < clear.form * 0.75, `the clear button is not: ${JSON.stringify(clear)}`);
  await ops.close();
});

test("Dismiss waits for its undo: undone, the report stays unverified on the server; left alone, it is dismissed once the time is up", async () => {
  const firstReport = await report("A dismissal to undo", "other");
  const secondReport = await report("A dismissal to let happen", "other");
  const ops = await openOps();
  const patches = watch(ops, "PATCH", "");
  const cardOf = (id) => ops.locator(`#triage article[data-id="${id}"]`);
  await cardOf(firstReport.id).locator("button.dismiss").waitFor({ timeout: 30000 });
  await cardOf(secondReport.id).locator("button.dismiss").waitFor({ timeout: 30000 });

  const first = await actInTriage(ops, firstReport.id, "button.dismiss", { undo: true });
  assert.deepEqual(first.during, { text: `Dismissed — Undo (${UNDO} s)`.replace("\u00a0", " "), focus: "undo" }, "the card gives way to its undo, which takes the focus");
  assert.match(first.after.text, /A dismissal to undo/, "undone, the card is back");
  assert.equal(first.after.focus, "dismiss", "with the focus on Dismiss");
  const secondAt = Date.now();
  const second = await actInTriage(ops, secondReport.id, "button.dismiss");
  assert.match(second.during.text, /^Dismissed — Undo \(\d s\)$/);
  await ops.screenshot({ path: `${SHOTS}review-triage-undo-wall.png` });

  // The second was dismissed after the first: once it is, the first's time has passed too.
  await serverUntil(async () => (await statusOf(secondReport.id)).status === "dismissed", "the second report dismissed", 30000);
  assert.equal((await statusOf(firstReport.id)).status, "unverified", "the undone dismissal was never sent");
  assert.deepEqual(patches.map((p) => new URL(p.url).pathname), [`/api/v1/reports/${secondReport.id}`], "one PATCH, for the one left alone");
  assert.ok(patches[0].at - secondAt >= UNDO * 1000 - 100, `sent when its time was up, not at once (${patches[0].at - secondAt} ms)`);
  await ops.waitForFunction((id) => !document.querySelector(`#triage article[data-id="${id}"]`), secondReport.id, { timeout: 15000 });
  assert.equal(await cardOf(firstReport.id).count(), 1, "the undone one is still in triage");
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("the rumour button looks unlike Verify, and marking a report false can be undone before anything is sent", async () => {
  const rumour = await report("They say the station is closed");
  const ops = await openOps();
  const patches = watch(ops, "PATCH", `/api/v1/reports/${rumour.id}`);
  const card = ops.locator(`#triage article[data-id="${rumour.id}"]`);
  await card.locator("button.rumour").waitFor({ timeout: 30000 });
  const look = (sel) => card.locator(sel).evaluate((b) => { const s = getComputedStyle(b); return [s.backgroundColor, s.borderTopStyle, s.color].join(); });
  assert.notEqual(await look("button.verify"), await look("button.rumour"));
  assert.notEqual(await look("button.dismiss"), await look("button.rumour"));

  await card.locator("button.rumour").click();
  assert.equal(await card.locator("button.rumour").getAttribute("aria-expanded"), "true");
  await card.locator(".rl-fact").fill("The station is open.");
  const undone = await actInTriage(ops, rumour.id, ".rl-link", { undo: true });
  assert.deepEqual(undone.during, { text: `Marked false and linked — Undo (${UNDO} s)`, focus: "undo" });
  assert.match(undone.after.text, /They say the station is closed/, "undone, the card is back");
  assert.equal(undone.after.focus, "rumour");

  // Again, and this time left alone.
  await card.locator("button.rumour").click();
  await card.locator(".rl-fact").fill("The station is open.");
  const markedAt = Date.now();
  await card.locator(".rl-link").click();
  const linked = await serverUntil(async () => { const r = await statusOf(rumour.id); return r.status === "false" && r; }, "the report marked false", 30000);
  assert.equal(patches.length, 1, "the undone marking was never sent");
  assert.ok(patches[0].at - markedAt >= UNDO * 1000 - 100, `sent when its time was up (${patches[0].at - markedAt} ms)`);
  const entry = await api("GET", `/api/v1/rumours/${linked.rumour}`);
  assert.equal(entry.claim, "They say the station is closed");
  assert.deepEqual(entry.reports, [rumour.id]);
  await ops.waitForFunction((id) => !document.querySelector(`#triage article[data-id="${id}"]`), rumour.id, { timeout: 10000 });
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a rumour answered publicly stays in triage until its answer is confirmed and sent, then is marked false and linked", async () => {
  const rumour = await report("Someone says the fountain water is poisoned");
  const ops = await openOps();
  const patches = watch(ops, "PATCH", `/api/v1/reports/${rumour.id}`);
  const card = ops.locator(`#triage article[data-id="${rumour.id}"]`);
  await card.locator("button.rumour").waitFor({ timeout: 30000 });
  await card.locator("button.rumour").click();
  await card.locator(".rl-fact").fill("The water is tested every hour and is safe.");
  await card.locator(".rl-answer").click();
  await ops.waitForFunction(() => document.querySelector("#c-event")?.value === "Rumour", null, { timeout: 15000 });
  assert.match(await ops.locator("#c-preview").textContent(), /300 m circle/);
  assert.match(await card.textContent(), /being prepared in the composer/, "still in triage, saying why");
  assert.equal((await statusOf(rumour.id)).status, "unverified", "nothing moderated before the answer goes out");

  await ops.click("#c-send");
  await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
  assert.match(await ops.locator("#c-review-note").textContent(), /Someone says the fountain water is poisoned/);
  assert.equal((await statusOf(rumour.id)).status, "unverified");
  const confirmedAt = Date.now();
  await ops.click("#c-confirm");
  await ops.waitForFunction(() => document.querySelector("#c-result")?.textContent.startsWith("Sent to the public: "), null, { timeout: 20000 });
  const linked = await serverUntil(async () => { const r = await statusOf(rumour.id); return r.status === "false" && r; }, "the answered report marked false", 30000);
  assert.equal(patches.length, 1);
  assert.ok(patches[0].at - confirmedAt >= UNDO * 1000 - 100, `marked false once the time to undo it was over (${patches[0].at - confirmedAt} ms)`);
  const entry = await api("GET", `/api/v1/rumours/${linked.rumour}`);
  assert.equal(entry.fact, "The water is tested every hour and is safe.");
  await ops.waitForFunction((id) => !document.querySelector(`#triage article[data-id="${id}"]`), rumour.id, { timeout: 15000 });
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("the review and the undo read at the wall's, the tablet's and the phone's size", async () => {
  for (const [name, viewport] of Object.entries(SIZES)) {
    const waiting = await report(`A report to dismiss on the ${name}`, "other");
    const ops = await openOps(viewport);
    await ops.check('#c-zones input[value="piazza-maggiore"]');
    await ops.fill("#c-headline", "Piazza Maggiore is full: use the other squares");
    await ops.click("#c-send");
    await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
    await until(ops, async () => !window.campanile.map.map.isMoving() && (await window.campanile.map.map.getSource("review").getData()).features.length === 1, null, { what: "the area on the map" });
    assert.ok(await noHorizontalScroll(ops), name);
    await ops.locator("#c-review").scrollIntoViewIfNeeded();
    await ops.screenshot({ path: `${SHOTS}review-composer-${name}.png` });
    const card = ops.locator(`#triage article[data-id="${waiting.id}"]`);
    await card.locator("button.dismiss").waitFor({ timeout: 30000 });
    await card.scrollIntoViewIfNeeded();
    await actInTriage(ops, waiting.id, "button.dismiss");
    await ops.screenshot({ path: `${SHOTS}review-undo-${name}.png` });
    assert.deepEqual(await axeViolations(ops, ["#c-review", "#triage"]), [], name);
    assert.ok(await noHorizontalScroll(ops), name);
    assert.deepEqual(ops.problems, [], name);
    await ops.close();
  }
});
