// The pages' frame from the keyboard, in real headless Chromium against the
// real server: the first Tab reaches a skip link, shown when focused; "Skip
// to the map" puts focus on the map, "Skip to the messages" on the
// messages, and on /ops "Skip to the composer" reaches the composer within
// two Tabs of the page opening.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage, SIZES, waitLive, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

/** What has focus: its tag, text, and whether it lies in `within` (a selector). */
const focused = (page, within = null) => page.evaluate((sel) => {
  const a = document.activeElement;
  const box = a?.getBoundingClientRect();
  return { tag: a?.tagName, text: a?.textContent.trim(), inside: sel ? Boolean(a?.closest(sel)) : null,
    visible: Boolean(box && box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0 && box.right <= innerWidth && box.bottom <= innerHeight) };
}, within);

const SURFACES = () => [
  ["public", "/", SIZES.phone],
  ["field", `/field/#token=${commander}`, SIZES.tablet],
  ["ops", `/ops/#token=${operator}`, SIZES.wall],
];

test("the first Tab on every live page reaches the skip link, shown; Enter on it puts focus on the map", async () => {
  for (const [name, path, viewport] of SURFACES()) {
    const page = await openPage(browser, base, path, { viewport, locale: "en-GB" });
    await waitLive(page);
    await page.keyboard.press("Tab");
    const first = await focused(page);
    assert.equal(first.tag, "A", `${name}: a link first (${JSON.stringify(first)})`);
    assert.equal(first.text, "Skip to the map", name);
    assert.ok(first.visible, `${name}: the skip link shows when focused`);
    await page.keyboard.press("Enter");
    const onMap = await focused(page, "#map");
    assert.ok(onMap.inside, `${name}: focus on the map (${JSON.stringify(onMap)})`);
    // The map takes the keyboard: an arrow pans it.
    const before = await page.evaluate(() => window.campanile.map.map.getCenter().toArray());
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction((b) => window.campanile.map.map.getCenter().lng !== b[0], before, { timeout: 10000 });
    assert.deepEqual(page.problems, [], name);
    await page.close();
  }
});

test("Skip to the messages puts focus on the messages' heading", async () => {
  for (const [name, path, viewport] of SURFACES()) {
    const page = await openPage(browser, base, path, { viewport, locale: "en-GB" });
    await waitLive(page);
    const link = page.locator(".skip-link", { hasText: "Skip to the messages" });
    await link.focus();
    await page.keyboard.press("Enter");
    const at = await focused(page, "section[aria-labelledby='messages-title']");
    assert.ok(at.inside, `${name}: ${JSON.stringify(at)}`);
    assert.equal(at.text.startsWith("Safety messages"), true, name);
    await page.close();
  }
});

test("on /ops the composer is reached within two Tabs of the page opening", async () => {
  const page = await openPage(browser, base, `/ops/#token=${operator}`, { viewport: SIZES.wall, locale: "en-GB" });
  await waitLive(page);
  let tabs = 0;
  while (tabs < 2) {
    await page.keyboard.press("Tab");
    tabs++;
    if ((await focused(page)).text === "Skip to the composer") break;
  }
  assert.equal((await focused(page)).text, "Skip to the composer", `after ${tabs} Tabs`);
  await page.keyboard.press("Enter");
  const at = await focused(page, "section[aria-labelledby='composer-title']");
  assert.ok(at.inside, `focus in the composer: ${JSON.stringify(at)}`);
  assert.ok(at.visible, "the composer's field on screen");
  assert.deepEqual(page.problems, []);
  await page.close();
});
