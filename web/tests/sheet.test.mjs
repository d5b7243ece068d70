// The phone's bottom sheet, in real headless Chromium against the real
// server: at 360 × 740 the map fills the screen under the header, the lists
// wait in a sheet whose bar counts the messages, which its handle opens and
// closes, by tap and by keyboard; and "Use my location" picks the messages
// for where the reader is, as a tap on the map picks them for a point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { noHorizontalScroll, recordProblems, sendBroadcast, SHOTS, SIZES, waitLive, withDemoServer } from "./support.mjs";

let server, browser, base, operator;

// In Piazza Maggiore, where the demo's message below is for.
const PIAZZA = { latitude: 44.4937, longitude: 11.3430 };

withDemoServer((s) => ({ server, browser, base, operator } = s));

async function phonePage(options = {}) {
  const context = await browser.newContext({ viewport: SIZES.phone, locale: "en-GB", ...options });
  const page = await context.newPage();
  recordProblems(page, base);
  await page.goto(`${base}/`);
  await waitLive(page);
  return page;
}

const expanded = (page) => page.getAttribute("#sheet-handle", "aria-expanded");
/** Where an element is on the screen now. */
const box = (page, selector) => page.evaluate((s) => document.querySelector(s).getBoundingClientRect().toJSON(), selector);

test("on a phone the map fills the screen and the lists are in a sheet its handle opens and closes", async () => {
  await sendBroadcast(base, operator, { audience: "public", headline: "Sheet check: leave by Via Rizzoli" });
  const page = await phonePage();
  await page.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Sheet check"), null, { timeout: 30000 });
  const map = await box(page, "#map");
  assert.ok(map.height >= 0.75 * SIZES.phone.height, `the map fills at least 75 % of the height: ${JSON.stringify(map)}`);
  assert.ok(map.bottom <= SIZES.phone.height, "all of the map on screen");
  // Closed: the bar at the bottom, counting the messages; the lists below the screen.
  assert.equal(await expanded(page), "false");
  const handle = await box(page, "#sheet-handle");
  assert.ok(handle.bottom <= SIZES.phone.height && handle.top >= map.bottom - 1, `the bar under the map: ${JSON.stringify(handle)}`);
  assert.match(await page.textContent("#sheet-handle"), /Messages \(\d+\)/);
  assert.ok((await box(page, "#messages-title")).top >= SIZES.phone.height, "the lists wait below the screen");
  await page.screenshot({ path: `${SHOTS}sheet-closed.png` });

  // A tap on the handle opens it over the lower part of the map, the messages in sight.
  await page.click("#sheet-handle");
  await page.waitForFunction(() => document.querySelector("#sheet-handle").getAttribute("aria-expanded") === "true", null, { timeout: 5000 });
  const title = await box(page, "#messages-title");
  assert.ok(title.top > 0 && title.bottom < SIZES.phone.height, `the messages in sight: ${JSON.stringify(title)}`);
  assert.ok((await box(page, "aside")).top > 0.2 * SIZES.phone.height, "the upper part of the map still shows");
  // The header has scrolled away with the map: the connection's state rides on the sheet's bar, in sight.
  const bar = await box(page, "#sheet-handle .state");
  assert.ok(bar.top >= 0 && bar.bottom <= SIZES.phone.height, `the state in sight: ${JSON.stringify(bar)}`);
  assert.equal(await page.textContent("#sheet-handle .state"), await page.textContent("#state"));
  assert.match(await page.getAttribute("#sheet-handle .state", "class"), /\blive\b/);
  await page.screenshot({ path: `${SHOTS}sheet-open.png` });
  await page.click("#sheet-handle");
  await page.waitForFunction(() => document.querySelector("#sheet-handle").getAttribute("aria-expanded") === "false", null, { timeout: 5000 });

  // From the keyboard: the handle is in the tab order, Enter opens, Tab goes on into the lists, Escape closes.
  let tabs = 0;
  while (tabs++ < 30 && (await page.evaluate(() => document.activeElement?.id)) !== "sheet-handle") await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "sheet-handle", "the handle is reached by Tab");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("#sheet-handle").getAttribute("aria-expanded") === "true", null, { timeout: 5000 });
  await page.keyboard.press("Tab");
  const next = await page.evaluate(() => {
    const a = document.activeElement;
    const r = a.getBoundingClientRect();
    return { inAside: Boolean(a.closest("aside")), top: r.top, bottom: r.bottom };
  });
  assert.ok(next.inAside && next.top >= 0 && next.bottom <= SIZES.phone.height, `the lists are reached and shown: ${JSON.stringify(next)}`);
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.querySelector("#sheet-handle").getAttribute("aria-expanded") === "false", null, { timeout: 5000 });
  assert.equal(await page.evaluate(() => document.activeElement?.id), "sheet-handle", "focus back on the handle");

  // A message that arrives while the sheet is closed is marked on its bar, until the sheet is opened.
  assert.equal(await page.locator(".sheet-new").isVisible(), false, "seen once the sheet was opened");
  await sendBroadcast(base, operator, { audience: "public", headline: "Sheet check: a second message" });
  await page.waitForFunction(() => !document.querySelector(".sheet-new").hidden, null, { timeout: 30000 });
  assert.match(await page.textContent("#sheet-handle"), /Messages \(\d+\) ?new/);
  assert.ok(await noHorizontalScroll(page));
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test("Use my location picks the messages for where the reader is, and says for which place", async () => {
  await sendBroadcast(base, operator, { audience: "public", headline: "Only for the piazza: use Via Rizzoli" });
  const page = await phonePage({ geolocation: PIAZZA, permissions: ["geolocation"] });
  await page.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Only for the piazza"), null, { timeout: 30000 });
  // A point far from the piazza: its messages go.
  const map = await box(page, "#map");
  await page.mouse.click(map.x + map.width - 30, map.y + 30);
  await page.waitForFunction(() => document.querySelector("#near-note")?.textContent.includes("the point you chose"), null, { timeout: 10000 });
  await page.waitForFunction(() => !document.querySelector("#messages")?.textContent.includes("Only for the piazza"), null, { timeout: 30000 });
  // Use my location: the messages for the piazza again, and the place named.
  await page.click("#r-use-mine");
  await page.waitForFunction(() => document.querySelector("#near-note")?.textContent.includes("where you are"), null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector("#messages")?.textContent.includes("Only for the piazza"), null, { timeout: 30000 });
  assert.match(await page.textContent("#near-note"), /^Showing messages for Piazza Maggiore \(where you are\)\.$/);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
