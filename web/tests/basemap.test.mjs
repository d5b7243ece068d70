// The base map in real headless Chromium (DESIGN §11): a PMTiles archive
// made here by tests/tools/make_pmtiles.py (the `pmtiles` PyPI package) is
// served with `--basemap`, read by the pages with range requests, and its
// street and square names, with the zones' names, are drawn with the label
// font the server serves; no request leaves the server. The built-in map
// draws its names too. Screenshots at the three sizes of every surface.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { chromium } from "playwright-core";

const ROOT = new URL("../..", import.meta.url).pathname;
const BIN = process.env.CAMPANILE_BIN || new URL("../../target/debug/campanile", import.meta.url).pathname;
const SHOTS = new URL("../../target/screenshots/", import.meta.url).pathname;
const SIZES = { wall: { width: 1920, height: 1080 }, tablet: { width: 800, height: 1280 }, phone: { width: 360, height: 740 } };
let browser, dir, withArchive, builtin, withStyle;

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** The real server playing the demo, with `args`; resolves with its address and tokens. */
async function startServer(args) {
  const port = await freePort();
  const child = spawn(BIN, ["serve", "--demo", "--listen", `127.0.0.1:${port}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, RUST_LOG: "warn", CAMPANILE_JWT_SECRET: "browser-tests-secret-browser-tests" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const tokens = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30000);
    child.on("exit", (code) => reject(new Error(`server exited ${code}: ${out}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const op = out.match(/operator token:\s+(\S+)/), cmd = out.match(/commander token:\s+(\S+)/);
      if (op && cmd) { clearTimeout(timer); resolve({ operator: op[1], commander: cmd[1] }); }
    });
  });
  return { child, base: `http://127.0.0.1:${port}`, ...tokens };
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), "campanile-basemap-"));
  const archive = join(dir, "bologna.pmtiles");
  execFileSync("python3", [join(ROOT, "tests/tools/make_pmtiles.py"), join(ROOT, "geodata/basemap/bologna-streets.geojson"), archive], { stdio: "inherit" });
  // An operator's style on this server: a geodata folder whose basemap/ holds it.
  const geodata = join(dir, "geodata");
  cpSync(join(ROOT, "geodata"), geodata, { recursive: true });
  writeFileSync(join(geodata, "basemap/style.json"), JSON.stringify({
    version: 8,
    sources: { operator: { type: "geojson", data: "/basemap/bologna-streets.geojson" } },
    layers: [
      { id: "operator-background", type: "background", paint: { "background-color": "#101820" } },
      { id: "operator-streets", type: "line", source: "operator", filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#506070" } },
      { id: "operator-names", type: "symbol", source: "operator", filter: ["==", ["geometry-type"], "LineString"],
        layout: { "symbol-placement": "line", "text-field": ["get", "name"], "text-font": ["Operator Sans"] }, paint: { "text-color": "#ffffff" } },
    ],
  }));
  [withArchive, builtin, withStyle] = await Promise.all([
    startServer(["--basemap", archive]), startServer([]), startServer(["--geodata-dir", geodata, "--basemap-style", "/basemap/style.json"]),
  ]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader"],
  });
});

after(async () => {
  await browser?.close();
  withArchive?.child.kill("SIGTERM");
  builtin?.child.kill("SIGTERM");
  withStyle?.child.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page that records script errors, any request leaving the server, and the archive's requests and answers. */
async function open(server, path, viewport) {
  const page = await browser.newPage({ viewport });
  page.problems = [];
  page.archive = { ranges: [], statuses: [] };
  page.fonts = [];
  const own = (url) => url.startsWith(server.base) || url.startsWith("ws://127.0.0.1") || url.startsWith("blob:") || url.startsWith("data:");
  page.on("pageerror", (e) => page.problems.push(`script error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") page.problems.push(`console error: ${m.text()}`); });
  page.on("request", (r) => {
    if (!own(r.url())) page.problems.push(`request left the server: ${r.url()}`);
    if (r.url().endsWith("/basemap.pmtiles")) page.archive.ranges.push(r.headers().range ?? null);
    if (r.url().includes("/vendor/fonts/")) page.fonts.push(r.url());
  });
  page.on("response", (r) => { if (r.url().endsWith("/basemap.pmtiles")) page.archive.statuses.push(r.status()); });
  await page.goto(server.base + path);
  return page;
}

/** Waits until the map draws names of each layer in `layers`; returns {layer: [names]} and where the streets came from. */
async function namesDrawn(page, layers) {
  await page.waitForFunction((wanted) => {
    const m = window.campanile?.map;
    if (!m?.map?.getLayer("street-names")) return false;
    const shown = m.namesShown();
    return wanted.every((l) => (shown[l]?.length ?? 0) > 0);
  }, layers, { timeout: 30000 });
  return page.evaluate(() => {
    const m = window.campanile.map.map;
    const streets = m.queryRenderedFeatures({ layers: ["street-names"] });
    return {
      names: window.campanile.map.namesShown(),
      sources: [...new Set(streets.map((f) => `${f.source}/${f.sourceLayer ?? ""}`))],
      // Zones whose level's label (a marker) names them already.
      markerNames: [...document.querySelectorAll(".zone-label-name")].filter((n) => n.checkVisibility()).map((n) => n.textContent),
    };
  });
}

const pages = (server) => [["ops", `/ops/#token=${server.operator}`], ["field", `/field/#token=${server.commander}`], ["public", "/"]];

test("the archive is read with range requests and its names are drawn on every surface, at every size, with nothing fetched from elsewhere", async () => {
  const event = await (await fetch(`${withArchive.base}/api/v1/event`)).json();
  assert.deepEqual(event.basemap, { kind: "pmtiles", url: "/basemap.pmtiles" });
  for (const [surface, path] of pages(withArchive)) {
    for (const [size, viewport] of Object.entries(SIZES)) {
      const page = await open(withArchive, path, viewport);
      const { names, sources, markerNames } = await namesDrawn(page, ["street-names"]);
      const where = `${surface} at ${size}`;
      const zoneNames = [...(names["zone-names"] ?? []), ...markerNames];
      assert.ok(zoneNames.length > 0, `${where}: zone names`);
      assert.equal(new Set(zoneNames).size, zoneNames.length, `${where}: no zone named twice: ${zoneNames}`);
      // The phone hides the names of the levels' labels: the map names the zones itself.
      // (where names would collide, MapLibre leaves some out: most are drawn).
      if (size === "phone") assert.ok((names["zone-names"] ?? []).filter((n) => !n.startsWith("Exit") && !n.startsWith("First aid")).length >= 3, `${where}: ${JSON.stringify(names)}`);
      assert.deepEqual(sources, ["basemap/streets"], `${where}: street names come from the archive's streets layer`);
      assert.ok(names["street-names"].some((n) => n.startsWith("Via ")), `${where}: ${JSON.stringify(names)}`);
      if (size === "wall") assert.ok((names["place-names"] ?? []).some((n) => n.startsWith("Piazza")), `${where}: square names ${JSON.stringify(names)}`);
      assert.ok(page.archive.ranges.length > 0, `${where}: the archive was read`);
      assert.ok(page.archive.ranges.every((r) => /^bytes=\d+-\d+$/.test(r ?? "")), `${where}: every read names a range: ${page.archive.ranges}`);
      // A range that covers the whole archive (the reader's first, 16 KiB, may) is answered
      // 200 with all of it, as RFC 9110 lets a server do; every other read is 206.
      assert.ok(page.archive.statuses.includes(206) && page.archive.statuses.every((s) => s === 206 || s === 200), `${where}: answered 206: ${page.archive.statuses}`);
      assert.ok(page.fonts.some((u) => u.endsWith(".woff2")), `${where}: the label font came from this server`);
      await page.waitForTimeout(500);
      // The phone and the tablet stack the map under the panels: the whole page shows it.
      await page.screenshot({ path: `${SHOTS}basemap-${surface}-${size}.png`, fullPage: size !== "wall" });
      // And the map alone, where its names can be read at the size of the screen.
      if (size !== "wall") await page.locator("#map").screenshot({ path: `${SHOTS}basemap-${surface}-${size}-map.png` });
      assert.deepEqual(page.problems, [], where);
      await page.close();
    }
  }
});

test("the built-in map draws its street, square and zone names, also with nothing fetched from elsewhere", async () => {
  const event = await (await fetch(`${builtin.base}/api/v1/event`)).json();
  assert.equal(event.basemap.kind, "builtin");
  for (const [surface, path] of pages(builtin)) {
    const page = await open(builtin, path, SIZES.wall);
    const { names, sources, markerNames } = await namesDrawn(page, ["street-names", "place-names"]);
    assert.deepEqual(sources, ["basemap/"], `${surface}: the built-in GeoJSON`);
    assert.ok(names["street-names"].includes("Via dell'Indipendenza") || names["street-names"].includes("Via Rizzoli"), JSON.stringify(names));
    assert.ok(names["place-names"].some((n) => n.startsWith("Piazza")), JSON.stringify(names));
    const zoneNames = [...(names["zone-names"] ?? []), ...markerNames];
    assert.ok(zoneNames.length > 0, `${surface}: zone names`);
    assert.equal(new Set(zoneNames).size, zoneNames.length, `${surface}: no zone named twice: ${zoneNames}`);
    assert.deepEqual(page.archive.ranges, [], "no archive is asked for");
    await page.screenshot({ path: `${SHOTS}builtin-${surface}-wall.png` });
    assert.deepEqual(page.problems, [], surface);
    await page.close();
  }
});

test("a garbled base map in the event leaves the built-in one, not a blank map", async () => {
  const page = await browser.newPage({ viewport: SIZES.wall });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.route("**/api/v1/event", async (route) => {
    const real = await (await fetch(`${builtin.base}/api/v1/event`)).json();
    route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...real, basemap: { kind: "<script>", url: 42 } }) });
  });
  await page.goto(builtin.base + "/");
  const { names } = await namesDrawn(page, ["street-names"]);
  assert.ok(names["street-names"].length > 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test("an operator's style on this server is drawn, with the zones and their names over it", async () => {
  const event = await (await fetch(`${withStyle.base}/api/v1/event`)).json();
  assert.deepEqual(event.basemap, { kind: "style", url: "/basemap/style.json" });
  const page = await open(withStyle, "/", SIZES.wall);
  await page.waitForFunction(() => {
    const m = window.campanile?.map?.map;
    return m?.getLayer("zone-names") && m.queryRenderedFeatures({ layers: ["operator-names"] }).length > 0
      && m.queryRenderedFeatures({ layers: ["zone-areas"] }).length > 0;
  }, null, { timeout: 30000 });
  const drawn = await page.evaluate(() => {
    const m = window.campanile.map.map;
    return {
      operator: m.queryRenderedFeatures({ layers: ["operator-names"] }).map((f) => f.properties.name),
      ours: m.getLayer("street-names") ? "drawn" : "none",
      zones: m.queryRenderedFeatures({ layers: ["zone-areas"] }).length,
    };
  });
  assert.ok(drawn.operator.some((n) => n.startsWith("Via ")), JSON.stringify(drawn));
  assert.equal(drawn.ours, "none", "the operator's style replaces the built-in streets");
  assert.ok(drawn.zones > 0, "the zones are drawn over the operator's style");
  await page.waitForFunction(() => window.campanile.map.namesShown()["zone-names"]?.length > 0, null, { timeout: 15000 });
  assert.ok(page.fonts.some((u) => u.endsWith(".woff2")), "our labels are set in the font this server serves");
  await page.screenshot({ path: `${SHOTS}style-public-wall.png` });
  assert.deepEqual(page.problems, []);
  await page.close();
});
