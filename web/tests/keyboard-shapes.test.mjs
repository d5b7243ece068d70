// The composer's area without a mouse, and the focus kept while /ops
// changes, in real headless Chromium against the real server playing the
// demo: Tab, typing, arrows, Enter and Space alone choose a zone, a radius,
// add the circle, review and send it, and the server holds a circle centred
// inside that zone; a report arriving in triage leaves the focus on the
// button the operator was on. CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, callApi, openPage, SHOTS, SIZES, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

const api = (method, path, body, token = operator) => callApi(base, token, method, path, body);

/** /ops live, its zones arrived (the composer lists them); axe may be injected (bypassCSP). */
async function openOps() {
  const page = await openPage(browser, base, `/ops/#token=${operator}`, { viewport: SIZES.wall, bypassCSP: true });
  await page.waitForFunction(() => document.querySelector("#state")?.classList.contains("live"), null, { timeout: 45000 });
  await page.waitForSelector('#c-zones input[value="piazza-maggiore"]', { state: "attached", timeout: 45000 });
  return page;
}

const focusedId = (page) => page.evaluate(() => document.activeElement?.id ?? "");

/** Presses Tab until the element with `id` has the focus (it must be reachable: at most `limit` presses). */
async function tabTo(page, id, limit = 400) {
  for (let i = 0; i < limit; i++) {
    if ((await focusedId(page)) === id) return i;
    await page.keyboard.press("Tab");
  }
  throw new Error(`#${id} not reached in ${limit} Tabs (the focus is on #${await focusedId(page)})`);
}

/** Whether [lon, lat] is inside a GeoJSON polygon's outer ring (ray casting). */
function inside([x, y], ring) {
  let hit = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

test("a circle of 300 m around a zone is chosen, reviewed and sent with the keyboard alone", async () => {
  const ops = await openOps();
  const headline = "Keyboard circle around Piazza Maggiore";
  // From the top of the page, as someone without a mouse arrives.
  await ops.evaluate(() => document.activeElement?.blur());
  await tabTo(ops, "c-headline");
  await ops.keyboard.type(headline);
  await tabTo(ops, "c-kb-radius");
  assert.deepEqual(await ops.evaluate(() => {
    const input = document.getElementById("c-kb-radius");
    return [input.labels.length ? input.labels[0].textContent : input.getAttribute("aria-label"), input.min, input.max];
  }), ["Radius of the circle, in metres (50 to 5000)", "50", "5000"]);
  await ops.keyboard.press("Control+A");
  await ops.keyboard.type("300");
  await tabTo(ops, "c-kb-around");
  for (let i = 0; i < 40 && (await ops.inputValue("#c-kb-around")) !== "piazza-maggiore"; i++) await ops.keyboard.press("ArrowDown");
  assert.equal(await ops.inputValue("#c-kb-around"), "piazza-maggiore", "the zone is chosen with the arrows");
  await tabTo(ops, "c-kb-add");
  await ops.keyboard.press("Enter");
  await ops.waitForFunction(() => /300 m circle/.test(document.querySelector("#c-preview")?.textContent), null, { timeout: 15000 });
  // Shown on the map as a drawn circle is.
  assert.equal(await ops.evaluate(async () => (await window.campanile.map.map.getSource("draft").getData()).features.length), 1);
  assert.match(await ops.locator("#c-kb-status").textContent(), /300 m circle around Piazza Maggiore/);
  await ops.screenshot({ path: `${SHOTS}keyboard-shapes-circle-wall.png` });
  assert.deepEqual(await axeViolations(ops, ["#c-keyboard"]), [], "the keyboard's controls meet WCAG 2 AA");

  await tabTo(ops, "c-send");
  await ops.keyboard.press("Enter");
  await ops.waitForSelector("#c-review", { state: "visible", timeout: 15000 });
  assert.equal(await focusedId(ops), "c-review-title");
  const area = await ops.locator("#c-review-list dd").nth(7).textContent();
  assert.equal(area, "a 300 m circle around Piazza Maggiore");
  await tabTo(ops, "c-confirm");
  await ops.keyboard.press(" ");
  await ops.waitForFunction(() => document.querySelector("#c-result")?.textContent.startsWith("Sent to the public: "), null, { timeout: 15000 });

  const { broadcasts } = await api("GET", "/api/v1/broadcasts");
  const sent = broadcasts.find((b) => b.headline === headline);
  assert.ok(sent, "the message is stored");
  assert.equal(sent.area.circles.length, 1);
  const [circle] = sent.area.circles;
  assert.equal(circle.radius_m, 300);
  assert.equal(sent.area.description, "Piazza Maggiore");
  const zones = await (await fetch(`${base}/api/v1/zones`)).json();
  const zone = zones.features.find((f) => f.properties.id === "piazza-maggiore");
  assert.ok(inside([circle.lon, circle.lat], zone.geometry.coordinates[0]), `the centre ${circle.lon},${circle.lat} is inside Piazza Maggiore`);
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a zone's centre is its area-weighted centroid, not the average of its corners", async () => {
  const ops = await openOps();
  // An L of three unit squares: its centroid is (5/6, 5/6); its corners average (1, 1), outside the shape's mass.
  const [x, y] = await ops.evaluate(async () => {
    const { centroid } = await import("/shared/map.js");
    const ring = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2], [0, 0]].map(([a, b]) => [11.34 + a * 0.001, 44.49 + b * 0.001]);
    return centroid({ type: "Polygon", coordinates: [ring] });
  });
  assert.ok(Math.abs(x - (11.34 + 0.001 * 5 / 6)) < 1e-9 && Math.abs(y - (44.49 + 0.001 * 5 / 6)) < 1e-9, `centroid ${x}, ${y}`);
  await ops.close();
});

test("a zone's outline becomes the message's polygon from the keyboard", async () => {
  const ops = await openOps();
  await ops.focus("#c-kb-around");
  for (let i = 0; i < 40 && (await ops.inputValue("#c-kb-around")) !== "piazza-nettuno"; i++) await ops.keyboard.press("ArrowDown");
  await tabTo(ops, "c-kb-outline");
  await ops.keyboard.press("Space");
  await ops.waitForFunction(() => /-corner polygon/.test(document.querySelector("#c-preview")?.textContent), null, { timeout: 15000 });
  const zones = await (await fetch(`${base}/api/v1/zones`)).json();
  const ring = zones.features.find((f) => f.properties.id === "piazza-nettuno").geometry.coordinates[0];
  assert.match(await ops.locator("#c-preview").textContent(), new RegExp(`${ring.length - 1}-corner polygon`));
  // A point has no outline: the button says so by being unavailable.
  await ops.selectOption("#c-kb-around", "exit-via-rizzoli");
  assert.equal(await ops.locator("#c-kb-outline").isDisabled(), true);
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

test("a new report arriving in triage keeps the focus on the Verify button it was on", async () => {
  const ops = await openOps();
  const first = await api("POST", "/api/v1/reports", { lat: 44.4937, lon: 11.343, category: "crowd", text: "Focus stays on me" }, commander);
  const verify = ops.locator(`#triage article[data-id="${first.id}"] button.verify`);
  await verify.waitFor({ timeout: 20000 });
  await verify.focus();
  const second = await api("POST", "/api/v1/reports", { lat: 44.4944, lon: 11.3426, category: "crowd", text: "I arrive while you work" }, commander);
  await ops.waitForSelector(`#triage article[data-id="${second.id}"]`, { timeout: 20000 });
  // The redraw that drew the new card has happened: the focus is where it was.
  assert.deepEqual(await ops.evaluate(() => [document.activeElement?.closest("article")?.dataset.id, document.activeElement?.className]), [first.id, "verify"]);
  assert.deepEqual(ops.problems, []);
  await ops.close();
});

/** A surge of `n` posts in the last minute at [lat, lon], each by another author: an alert for that cell. */
const surge = (lat, lon, n = 45) => api("POST", "/api/v1/posts", Array.from({ length: n }, (_, i) => ({
  source: "keyboard-test", id: `${lat}-${lon}-${i}-${Date.now()}`, lat, lon, author: `surge-${lat}-${i}`, text: "crowd here",
})));

test("a new alert arriving keeps the focus on the alert card it was on", async () => {
  const ops = await openOps();
  await surge(44.4917, 11.3482); // Piazza Santo Stefano
  const first = ops.locator("#alerts article.alert-card:not(.coordination)").first();
  await first.waitFor({ timeout: 30000 });
  await first.focus();
  const focused = await ops.evaluate(() => ({ text: document.activeElement.textContent, cards: document.querySelectorAll("#alerts article").length }));
  await surge(44.5003, 11.3454); // Via dell'Indipendenza, north
  await ops.waitForFunction((n) => document.querySelectorAll("#alerts article").length > n, focused.cards, { timeout: 30000 });
  assert.deepEqual(await ops.evaluate(() => [document.activeElement?.classList.contains("alert-card"), document.activeElement?.textContent]), [true, focused.text],
    "the focus stays on the card it was on");
  assert.deepEqual(ops.problems, []);
  await ops.close();
});
