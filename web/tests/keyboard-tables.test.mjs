// The wall's hotspots and zones from the keyboard alone, in real headless
// Chromium against the real server playing the demo: Tab reaches a hotspot
// row, Enter (or Space) flies the map to it and tells the page which place
// was chosen (`campanile:select`, which the composer's circle listens to),
// and the focus stays on the same hotspot or zone while live updates
// redraw the lists every second. CAMPANILE_BIN names the server binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openPage, SIZES, waitLive, withDemoServer } from "./support.mjs";

let server, browser;

withDemoServer((s) => ({ server, browser } = s));

/** /ops live with its hotspots and zones listed, recording every `campanile:select` in `window.selected`. */
async function openOps() {
  const page = await openPage(browser, server.base, `/ops/#token=${server.operator}`, { viewport: SIZES.wall });
  await waitLive(page);
  await page.waitForFunction(() => document.querySelectorAll("#hotspots tr").length > 0 && document.querySelectorAll("#zones-list li").length > 0
    && window.campanile?.map?.zonesDrawn, null, { timeout: 45000 });
  await page.evaluate(() => {
    window.selected = [];
    document.addEventListener("campanile:select", (e) => window.selected.push(e.detail));
  });
  return page;
}

/** Metres between two [lon, lat] points (equirectangular: the map's few hundred metres). */
const metres = ([x1, y1], [x2, y2]) => Math.hypot((x2 - x1) * 111320 * Math.cos((y1 * Math.PI) / 180), (y2 - y1) * 110540);

/**
 * Watches `selector` (the focused row or control) over `updates` redraws of
 * `list` (live updates), sampling every 100 ms: whether the focus was on an
 * element with the same `key` attribute whenever that key was still listed,
 * and whether the very same node kept the focus as long as its row showed
 * what it showed at the start (nothing redrawn when nothing changed).
 */
async function watchFocus(page, { list, rowOf, key, updates, timeout = 45000 }) {
  return page.evaluate(async ({ list, rowOf, key, updates, timeout }) => {
    const box = document.querySelector(list);
    const start = document.activeElement;
    const id = start.closest(rowOf)?.getAttribute(key);
    const firstText = start.closest(rowOf)?.textContent;
    let redraws = 0;
    const observer = new MutationObserver(() => { redraws++; });
    observer.observe(box, { childList: true, subtree: true, characterData: true });
    const samples = [];
    let changed = false;
    const deadline = Date.now() + timeout;
    // Three ticks, each seen as a change somewhere in the list.
    while (redraws < updates && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const row = box.querySelector(`${rowOf}[${key}="${CSS.escape(id)}"]`);
      const active = document.activeElement;
      if (row && row.textContent !== firstText) changed = true;
      samples.push({ listed: Boolean(row), focused: Boolean(row) && active.closest(rowOf) === row, same: active === start, changed });
    }
    observer.disconnect();
    return { id, redraws, samples, activeKey: document.activeElement.closest(rowOf)?.getAttribute(key) ?? document.activeElement.tagName };
  }, { list, rowOf, key, updates, timeout });
}

test("Tab reaches a hotspot row, which keeps the focus over three live updates; Enter flies the map to it and announces it, Space too", async () => {
  const page = await openOps();
  // From the top of the page, Tab by Tab, as a keyboard user would.
  await page.evaluate(() => document.activeElement?.blur());
  let reached = null;
  for (let i = 0; i < 250 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.closest("#hotspots tr")?.dataset.cell ?? null);
  }
  assert.ok(reached, "a hotspot row is in the tab order");
  const row = await page.evaluate(() => {
    const tr = document.activeElement;
    return { role: tr.getAttribute("role") ?? tr.tagName, name: tr.getAttribute("aria-label"), zone: tr.querySelector("td").textContent };
  });
  assert.equal(row.role, "row");
  assert.ok(row.name?.startsWith(`${row.zone}: `), `the row has an accessible name naming its place: ${JSON.stringify(row)}`);

  // Three live updates later the focus is still on the same hotspot, and on the same node while its figures stayed.
  const seen = await watchFocus(page, { list: "#hotspots", rowOf: "tr", key: "data-cell", updates: 3 });
  assert.ok(seen.redraws >= 3, `three updates of the hotspots seen: ${seen.redraws}`);
  assert.ok(seen.samples.some((s) => s.listed), `hotspot ${seen.id} listed while watched`);
  assert.deepEqual(seen.samples.filter((s) => s.listed && !s.focused), [], `the focus stays on hotspot ${seen.id} while it is listed`);
  assert.deepEqual(seen.samples.filter((s) => s.listed && !s.changed && !s.same), [], "an unchanged row is not redrawn");
  const focused = await page.evaluate(() => document.activeElement?.closest("#hotspots tr")?.dataset.cell);
  if (seen.samples.at(-1).listed) assert.equal(focused, reached);
  reached = focused ?? reached;

  // Enter: the map flies to the cell and the page hears which hotspot was chosen.
  const target = await page.evaluate(async (cell) => {
    const { cellToLatLng } = await import("/vendor/h3-js/h3-js.es.js");
    const [lat, lon] = cellToLatLng(cell);
    return [lon, lat];
  }, reached);
  const zone = await page.evaluate((cell) => document.querySelector(`#hotspots tr[data-cell="${cell}"] td`).textContent, reached);
  const before = await page.evaluate(() => window.campanile.map.map.getCenter().toArray());
  await page.keyboard.press("Enter");
  await page.waitForFunction(([lon, lat]) => {
    const c = window.campanile.map.map.getCenter();
    return !window.campanile.map.map.isMoving() && Math.abs(c.lng - lon) < 2e-4 && Math.abs(c.lat - lat) < 2e-4;
  }, target, { timeout: 15000 });
  const after = await page.evaluate(() => window.campanile.map.map.getCenter().toArray());
  assert.ok(metres(before, target) > metres(after, target), `the map moved towards the hotspot: ${before} → ${after}, hotspot ${target}`);
  const selected = await page.evaluate(() => window.selected);
  assert.equal(selected.length, 1, JSON.stringify(selected));
  assert.equal(selected[0].kind, "hotspot");
  assert.equal(selected[0].id, reached);
  assert.equal(selected[0].name, zone);
  assert.ok(metres([selected[0].lon, selected[0].lat], target) < 1, JSON.stringify(selected[0]));

  // Closer in, the heat is read in finer cells and the list changes: the keyboard stays in it, and Space chooses as Enter does.
  await page.waitForFunction(() => document.activeElement?.closest("#hotspots tr"), null, { timeout: 15000 });
  await page.evaluate(() => { window.selected = []; });
  const now = await page.evaluate(() => document.activeElement.closest("#hotspots tr").dataset.cell);
  await page.keyboard.press(" ");
  await page.waitForFunction(() => window.selected.length === 1, null, { timeout: 5000 });
  const [spaced] = await page.evaluate(() => window.selected);
  assert.equal(spaced.kind, "hotspot");
  assert.ok(spaced.id === now || (await page.evaluate(() => document.activeElement?.closest("#hotspots tr")?.dataset.cell)) === spaced.id, JSON.stringify(spaced));
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("Enter on a zone's name frames it and announces it; the zone keeps the focus over three live updates", async () => {
  const page = await openOps();
  const zone = page.locator("#zones-list li .zone-name").first();
  const id = await zone.evaluate((b) => b.closest("li").dataset.zone);
  await zone.focus();
  const before = await page.evaluate(() => window.campanile.map.map.getCenter().toArray().join());
  await page.keyboard.press("Enter");
  await page.waitForFunction((was) => window.campanile.map.map.getCenter().toArray().join() !== was, before, { timeout: 15000 });
  await page.waitForFunction(() => window.selected.length === 1, null, { timeout: 5000 });
  const [chosen] = await page.evaluate(() => window.selected);
  const name = await page.locator(`#zones-list li[data-zone="${id}"] .zone-name`).textContent();
  assert.deepEqual({ kind: chosen.kind, id: chosen.id, name: chosen.name }, { kind: "zone", id, name });
  assert.ok(Number.isFinite(chosen.lat) && Number.isFinite(chosen.lon), JSON.stringify(chosen));
  // The zone's centre lies within the event's zones, near the map's new centre.
  const centre = await page.evaluate(() => window.campanile.map.map.getCenter().toArray());
  await page.waitForFunction(() => !window.campanile.map.map.isMoving(), null, { timeout: 15000 });
  assert.ok(metres(centre, [chosen.lon, chosen.lat]) < 2000, `${centre} and ${chosen.lon},${chosen.lat}`);

  const seen = await watchFocus(page, { list: "#zones-list", rowOf: "li", key: "data-zone", updates: 3, timeout: 60000 });
  assert.ok(seen.redraws >= 3, `three updates of the zones seen: ${seen.redraws}`);
  assert.deepEqual(seen.samples.filter((s) => s.listed && !s.focused), [], `the focus stays on zone ${id} while it is listed`);
  assert.ok(seen.samples.some((s) => s.listed), `zone ${id} listed while watched`);
  assert.deepEqual(seen.samples.filter((s) => s.listed && !s.changed && !s.same), [], "an unchanged zone is not redrawn");
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains("zone-name") && document.activeElement.closest("li").dataset.zone), id);
  assert.deepEqual(page.problems, []);
  await page.close();
});
