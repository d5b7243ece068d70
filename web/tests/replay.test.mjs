// The /ops time slider in real headless Chromium (DESIGN §11): choosing a
// moment asks the server for `?at=` answers and draws them, a REPLAY banner
// names the moment, playing moves it forward, "Back to live" ends it; the
// page meets WCAG 2 AA while replaying. Screenshots at the three sizes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { axeViolations, noHorizontalScroll, SHOTS, SIZES, waitLive, withDemoServer } from "./support.mjs";

let browser, server, base, operator;

withDemoServer((s) => ({ browser, server, base, operator } = s));

async function openOps(viewport) {
  const page = await browser.newPage({ viewport, bypassCSP: true });
  page.problems = [];
  page.replays = [];
  page.on("pageerror", (e) => page.problems.push(`script error: ${e.message}`));
  page.on("request", (r) => { if (r.url().includes("at=")) page.replays.push(r.url()); });
  await page.goto(`${base}/ops/#token=${operator}`);
  await waitLive(page);
  return page;
}

/** Moves the slider as a pointer would: a value, then the input event. */
const slide = (page, minutes) => page.evaluate((m) => {
  const s = document.querySelector("#replay-slider");
  s.value = String(m);
  s.dispatchEvent(new Event("input", { bubbles: true }));
}, minutes);

const atOf = (url) => new URL(url).searchParams.get("at");

test("the slider replays a past moment on the map and the zones, under a REPLAY banner, and goes back to live", async () => {
  const page = await openOps(SIZES.wall);
  assert.equal(await page.isVisible("#replay-banner"), false, "no banner while live");
  // Count retention is a day: the slider reaches twelve hours back, its cap.
  assert.equal(await page.getAttribute("#replay-slider", "min"), "-720");
  const heat = page.waitForResponse((r) => r.url().includes("/api/v1/heatmap?") && r.url().includes("at="));
  const zones = page.waitForResponse((r) => r.url().includes("/api/v1/zones/status?") && r.url().includes("at="));
  await slide(page, -30);
  const [heatResp, zonesResp] = await Promise.all([heat, zones]);
  assert.equal(heatResp.status(), 200);
  assert.equal(zonesResp.status(), 200);
  const asked = new Date(atOf(heatResp.url()));
  assert.ok(Math.abs(Date.now() - 30 * 60000 - asked.getTime()) < 60000, `at ${asked.toISOString()} is half an hour ago`);
  // The keyboard moves it too, a minute a step.
  await page.focus("#replay-slider");
  await page.keyboard.press("ArrowLeft");
  assert.equal(await page.inputValue("#replay-slider"), "-31");
  const banner = await page.textContent("#replay-banner");
  assert.match(banner, /^REPLAY \d\d:\d\d UTC — not live$/);
  const shownMinute = banner.slice(7, 12);
  await page.waitForTimeout(500);
  const last = new Date(atOf(page.replays.at(-1)));
  assert.equal(last.toISOString().slice(11, 16), shownMinute, "the banner names the moment asked for");
  // The connection pill does not say "live" over the past.
  assert.equal(await page.textContent("#state"), `replay ${shownMinute} UTC`);
  assert.ok(!(await page.getAttribute("#state", "class")).includes("live"));
  // The zones panel lists the replayed zones.
  const status = await zonesResp.json();
  const listed = await page.$$eval("#zones-list li", (lis) => lis.map((li) => li.dataset.zone).filter(Boolean).sort());
  assert.deepEqual(listed, status.zones.map((z) => z.id).sort());

  // Played at 60×: a minute of the past per second, asked minute by minute.
  await page.selectOption("#replay-speed", "60");
  const before = page.replays.length;
  await page.click("#replay-play");
  await page.waitForTimeout(3500);
  await page.click("#replay-play"); // pause
  assert.equal(await page.textContent("#replay-play"), "Play");
  const played = page.replays.slice(before).filter((u) => u.includes("/heatmap?")).map((u) => new Date(atOf(u)).getTime());
  assert.ok(played.length >= 2, `asked ${played.length} times while playing`);
  assert.ok(played.every((t, i) => i === 0 || t > played[i - 1]), "moments move forward");
  assert.ok(Number(await page.inputValue("#replay-slider")) > -31, "the slider moved with the play");

  // Screenshots while replaying, and WCAG 2 AA with the banner on screen.
  await page.screenshot({ path: `${SHOTS}ops-replay-wall.png` });
  assert.deepEqual(await axeViolations(page), []);

  // Back to live: no banner, the slider at now, no more past asked for.
  await page.click("#replay-live");
  assert.equal(await page.isVisible("#replay-banner"), false);
  assert.equal(await page.inputValue("#replay-slider"), "0");
  const after = page.replays.length;
  await page.waitForTimeout(1500);
  assert.equal(page.replays.length, after);
  await waitLive(page);
  assert.equal(await page.textContent("#state"), "live");
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("the replay controls and banner fit the tablet and the phone", async () => {
  for (const [name, viewport] of Object.entries({ tablet: SIZES.tablet, phone: SIZES.phone })) {
    const page = await openOps(viewport);
    const heat = page.waitForResponse((r) => r.url().includes("/api/v1/heatmap?") && r.url().includes("at="));
    await slide(page, -90);
    assert.equal((await heat).status(), 200);
    assert.ok(await page.isVisible("#replay-banner"));
    assert.ok(await noHorizontalScroll(page), `${name}: no horizontal scroll`);
    await page.screenshot({ path: `${SHOTS}ops-replay-${name}.png` });
    assert.deepEqual(page.problems, []);
    await page.close();
  }
});

test("the after-action download saves what the server streams, under the server's file name", async () => {
  // Posts of a few minutes ago: minutes the heatmap download holds.
  const ago = (s) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const posts = Array.from({ length: 30 }, (_, i) => ({
    source: "test", lat: 44.4937, lon: 11.343, author: `export-${i}`, ts: ago(120 + i * 5),
  }));
  const posted = await fetch(`${base}/api/v1/posts`, {
    method: "POST", headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" }, body: JSON.stringify(posts),
  });
  assert.equal(posted.status, 202);
  const page = await openOps(SIZES.wall);
  await page.selectOption("#export-what", "reports:csv");
  await page.selectOption("#export-period", "6");
  const saved = page.waitForEvent("download");
  await page.click("#export-start");
  const download = await saved;
  assert.match(download.suggestedFilename(), /^campanile-reports-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.csv$/);
  const csv = await readFile(await download.path(), "utf8");
  assert.match(csv, /^kind,id,received_at,category,status,origin,lat,lon,/);
  await page.waitForFunction(() => /^Saved campanile-reports-/.test(document.querySelector("#export-status").textContent));

  // The heatmap minute by minute, as GeoJSON a GIS opens.
  await page.selectOption("#export-what", "heatmap:geojson");
  await page.selectOption("#export-period", "1");
  const map = page.waitForEvent("download");
  await page.click("#export-start");
  const doc = JSON.parse(await readFile(await (await map).path(), "utf8"));
  assert.equal(doc.type, "FeatureCollection");
  assert.ok(doc.features.length > 0, "the posts' minutes are in it");
  assert.ok(doc.features.every((f) => f.properties.kind === "cell" && f.geometry.type === "Polygon"));
  await page.screenshot({ path: `${SHOTS}ops-export-wall.png` });
  assert.deepEqual(page.problems, []);
  await page.close();

  for (const [name, viewport] of Object.entries({ tablet: SIZES.tablet, phone: SIZES.phone })) {
    const small = await openOps(viewport);
    await small.locator("#export-panel").scrollIntoViewIfNeeded();
    assert.ok(await noHorizontalScroll(small), `${name}: no horizontal scroll`);
    await small.screenshot({ path: `${SHOTS}ops-export-${name}.png` });
    await small.close();
  }

  // A commander's token cannot export: the panel is the operators', and the server says no.
  const answer = await fetch(`${base}/api/v1/export`, { headers: { Authorization: `Bearer ${server.commander}` } });
  await answer.body?.cancel();
  assert.equal(answer.status, 403);
});
