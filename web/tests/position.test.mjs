// Where a report is placed, in real headless Chromium against the real
// server playing the demo: the public page (/) and the commander's tablet
// (/field) send a report only from a location the reader chose, their
// device's position or a point they tapped on the map, shown in words
// beside the button and as a marker on the map. Without one nothing is
// sent (once, every such report was placed at the map's centre).
import { test } from "node:test";
import assert from "node:assert/strict";
import { axeViolations, noHorizontalScroll, recordProblems, SHOTS, SIZES, waitLive, withDemoServer } from "./support.mjs";

let server, browser, base, operator, commander;

withDemoServer((s) => ({ server, browser, base, operator, commander } = s));

const SURFACES = () => [
  { name: "public", path: "/", viewport: SIZES.phone },
  { name: "field", path: `/field/#token=${commander}`, viewport: SIZES.tablet },
];

/** A page in a context of its own (`options` as newContext takes them), with the report POSTs it makes in `page.posts`. */
async function openIn(path, options) {
  const context = await browser.newContext({ locale: "en-GB", bypassCSP: true, ...options });
  const page = await context.newPage();
  recordProblems(page, base);
  page.posts = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/api/v1/reports") page.posts.push(JSON.parse(r.postData()));
  });
  await page.goto(base + path);
  await waitLive(page);
  return page;
}

const whereSays = (page, pattern) => page.waitForFunction((source) => new RegExp(source).test(document.querySelector("#r-where")?.textContent ?? ""),
  pattern.source, { timeout: 15000 });

const received = (page) => page.waitForFunction(() => /Report received/.test(document.querySelector("#r-status")?.textContent ?? ""), null, { timeout: 15000 });

/** The report the server holds with `text`, read back with the operator's token: [lon, lat]. */
async function storedAt(text) {
  const list = await (await fetch(`${base}/api/v1/reports`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  const found = list.features.filter((f) => f.properties.text === text);
  assert.equal(found.length, 1, `one report "${text}" stored`);
  return found[0].geometry.coordinates;
}

const close = (a, b, what, tolerance = 1e-6) => assert.ok(Math.abs(a - b) <= tolerance, `${what}: ${a} vs ${b}`);

test("without a position, a report cannot be sent until the reader taps the map; the tapped point is marked and the report sent there", async () => {
  for (const { name, path, viewport } of SURFACES()) {
    // No geolocation permission: the browser refuses the page's requests for a position.
    const page = await openIn(path, { viewport });
    const send = page.locator("#report-form button[type=submit]");
    await whereSays(page, /^No location yet\. Tap the map where it is happening, or Use my location\.$/);
    assert.equal(await send.isDisabled(), true, `${name}: Send waits for a location`);
    assert.equal(await page.locator(".position-marker").count(), 0, `${name}: no marker before a location`);

    // Sent anyway (a script, a keyboard's Enter): held, and said.
    const text = `Barrier down (${name}, ${Date.now()})`;
    await page.fill("#r-text", text);
    await page.evaluate(() => document.querySelector("#report-form").requestSubmit());
    await page.waitForFunction(() => /^Not sent: choose where it is happening first/.test(document.querySelector("#r-status")?.textContent ?? ""), null, { timeout: 5000 });

    // Asking for the position says why there is none, and offers the map.
    await page.click("#r-use-mine");
    await whereSays(page, /^No location yet\. Your position is not (shared with this page|known)/);
    assert.equal(await send.isDisabled(), true, `${name}: still no location`);

    if (name === "field") {
      // The METHANE form sends through the same queue: it waits for the same location.
      assert.equal(await page.locator("#methane-form button[type=submit]").isDisabled(), true, "METHANE waits for a location");
      assert.match(await page.locator("#methane-form-where").textContent(), /^No location yet/);
    }

    // A tap on the map: a marker where the finger was, the form says so.
    await page.locator("#map").scrollIntoViewIfNeeded();
    const box = await page.locator("#map").boundingBox();
    const tap = { x: Math.round(box.x + box.width * 0.4), y: Math.round(box.y + box.height * 0.55) };
    const expected = await page.evaluate(({ x, y }) => {
      const r = document.querySelector("#map").getBoundingClientRect();
      const at = window.campanile.map.map.unproject([x - r.left, y - r.top]);
      return { lat: at.lat, lon: at.lng };
    }, tap);
    await page.mouse.click(tap.x, tap.y);
    await whereSays(page, /^Location: the point you tapped on the map\.$/);
    const marker = page.locator(".position-marker");
    await marker.waitFor({ state: "visible", timeout: 5000 });
    const mark = await marker.boundingBox();
    close(mark.x + mark.width / 2, tap.x, `${name}: the marker's centre (x)`, 2);
    close(mark.y + mark.height / 2, tap.y, `${name}: the marker's centre (y)`, 2);
    assert.equal(await marker.textContent(), "Tapped point");
    close(Number(await marker.getAttribute("data-lat")), expected.lat, `${name}: marked latitude`, 1e-5);
    close(Number(await marker.getAttribute("data-lon")), expected.lon, `${name}: marked longitude`, 1e-5);
    assert.equal(await send.isDisabled(), false, `${name}: Send ready`);
    if (name === "field") {
      assert.equal(await page.locator("#methane-form button[type=submit]").isDisabled(), false, "METHANE ready");
      assert.match(await page.locator("#methane-form-where").textContent(), /^Location: the point you tapped on the map/);
    }
    await page.screenshot({ path: `${SHOTS}position-tapped-${name}.png` });

    // Nothing was sent before: the first and only report goes to the tapped point.
    assert.deepEqual(page.posts, [], `${name}: nothing sent without a location`);
    await page.fill("#r-text", text);
    await send.click();
    await received(page);
    assert.equal(page.posts.length, 1, `${name}: one report sent`);
    assert.equal(page.posts[0].text, text);
    close(page.posts[0].lat, expected.lat, `${name}: sent latitude`, 1e-5);
    close(page.posts[0].lon, expected.lon, `${name}: sent longitude`, 1e-5);
    const [lon, lat] = await storedAt(text);
    close(lat, page.posts[0].lat, `${name}: stored latitude`, 1e-6);
    close(lon, page.posts[0].lon, `${name}: stored longitude`, 1e-6);

    assert.deepEqual(await axeViolations(page), [], name);
    assert.deepEqual(page.problems, [], name);
    await page.context().close();
  }
});

test("with a position, the form says it uses it, marks it, follows the device and sends it; a tap chooses another point and Use my location returns", async () => {
  for (const { name, path, viewport } of SURFACES()) {
    const first = { latitude: 44.49402, longitude: 11.34312, accuracy: 25 };
    const page = await openIn(path, { viewport, geolocation: first, permissions: ["geolocation"] });
    await whereSays(page, /^Location: your position \(±25 m\)\. Tap the map to choose another point\.$/);
    const marker = page.locator(".position-marker.gps");
    await marker.waitFor({ state: "attached", timeout: 5000 });
    assert.equal(await marker.textContent(), "You");
    assert.equal(await page.locator("#r-use-mine").isVisible(), false, "already using the position");
    if (name === "field") assert.match(await page.locator("#methane-form-where").textContent(), /^Location: your position \(±25 m\)/);
    await page.screenshot({ path: `${SHOTS}position-gps-${name}.png`, fullPage: true });

    // The device moves: the report goes where it is now.
    const moved = { latitude: 44.49468, longitude: 11.34189, accuracy: 12 };
    await page.context().setGeolocation(moved);
    await whereSays(page, /^Location: your position \(±12 m\)/);
    close(Number(await marker.getAttribute("data-lat")), moved.latitude, `${name}: marker follows (lat)`);
    const text = `Exit blocked (${name}, ${Date.now()})`;
    await page.fill("#r-text", text);
    await page.click("#report-form button[type=submit]");
    await received(page);
    assert.equal(page.posts.length, 1, name);
    close(page.posts[0].lat, moved.latitude, `${name}: sent latitude`);
    close(page.posts[0].lon, moved.longitude, `${name}: sent longitude`);
    const [lon, lat] = await storedAt(text);
    close(lat, moved.latitude, `${name}: stored latitude`);
    close(lon, moved.longitude, `${name}: stored longitude`);

    // A tap after the position: the point the reader means; Use my location goes back to the device.
    await page.locator("#map").scrollIntoViewIfNeeded();
    const box = await page.locator("#map").boundingBox();
    await page.mouse.click(box.x + box.width * 0.6, box.y + box.height * 0.45);
    await whereSays(page, /^Location: the point you tapped on the map\.$/);
    await page.locator(".position-marker.tapped").waitFor({ state: "visible", timeout: 5000 });
    await page.click("#r-use-mine");
    await whereSays(page, /^Location: your position \(±12 m\)/);
    await page.locator(".position-marker.gps").waitFor({ state: "attached", timeout: 5000 });

    assert.deepEqual(await axeViolations(page), [], name);
    assert.deepEqual(page.problems, [], name);
    await page.context().close();
  }
});

test("the location line and the marker fit the wall's, the tablet's and the phone's screen", async () => {
  for (const { name, path } of SURFACES()) {
    for (const [size, viewport] of Object.entries(SIZES)) {
      const page = await openIn(path, { viewport });
      await page.locator("#map").scrollIntoViewIfNeeded();
      const box = await page.locator("#map").boundingBox();
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await whereSays(page, /^Location: the point you tapped on the map\.$/);
      await page.locator(".position-marker").waitFor({ state: "visible", timeout: 5000 });
      assert.ok(await noHorizontalScroll(page), `${name}, ${size}: no horizontal scroll`);
      // The line beside its button, both on screen together.
      await page.locator("#report-form button[type=submit]").scrollIntoViewIfNeeded();
      assert.ok(await page.locator("#r-where").isVisible(), `${name}, ${size}`);
      await page.screenshot({ path: `${SHOTS}position-${name}-${size}.png`, fullPage: size !== "wall" });
      assert.deepEqual(page.problems, [], `${name}, ${size}`);
      await page.context().close();
    }
  }
});
