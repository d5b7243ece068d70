// What every browser test shares: the real server started as an operator
// would start it, Debian's headless Chromium, pages that record what went
// wrong on them, and axe-core's WCAG 2 AA check. Each test file keeps only
// what is its own (extra server flags, what it watches on a page).
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const BIN = process.env.CAMPANILE_BIN || new URL("../../target/debug/campanile", import.meta.url).pathname;
export const SHOTS = new URL("../../target/screenshots/", import.meta.url).pathname;
export const SECRET = "browser-tests-secret-browser-tests";
/** The environment the server (and `campanile token`) runs in: one secret, so tokens minted outside it verify. */
export const ENV = { ...process.env, RUST_LOG: "warn", CAMPANILE_JWT_SECRET: SECRET };
export const SIZES = { wall: { width: 1920, height: 1080 }, tablet: { width: 800, height: 1280 }, phone: { width: 360, height: 740 } };

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/**
 * The real server with `args`, playing the demo unless `demo` is false.
 * Resolves once it serves: with the demo, once it has printed its operator
 * and commander tokens (returned); without, once it says it is listening.
 */
export async function startServer(args = [], { demo = true } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  const child = spawn(BIN, ["serve", ...(demo ? ["--demo"] : ["--ephemeral"]), "--listen", `127.0.0.1:${port}`, ...args], {
    cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const tokens = await new Promise((resolve, reject) => {
    // Killed when it does not come up, so that no test run waits on it.
    const timer = setTimeout(() => { child.kill("SIGTERM"); reject(new Error(`server did not start: ${out}`)); }, 30000);
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${out}`)); });
    child.stdout.on("data", (d) => {
      out += d;
      if (!demo) {
        if (/listening on/.test(out)) { clearTimeout(timer); resolve({}); }
        return;
      }
      const op = out.match(/operator token:\s+(\S+)/), cmd = out.match(/commander token:\s+(\S+)/);
      if (op && cmd) { clearTimeout(timer); resolve({ operator: op[1], commander: cmd[1] }); }
    });
  });
  return { child, base: `http://127.0.0.1:${port}`, ...tokens };
}

export const launchBrowser = () => chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-unsafe-swiftshader"],
});

/**
 * Collects in `page.problems` script errors, console errors and, when
 * `base` is given, any request leaving the server at `base`: a test then
 * asserts the list is empty.
 */
export function recordProblems(page, base) {
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`script error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") page.problems.push(`console error: ${m.text()}`); });
  if (base === undefined) return;
  const own = (url) => url.startsWith(base) || url.startsWith("ws://127.0.0.1") || url.startsWith("blob:") || url.startsWith("data:");
  page.on("request", (r) => { if (!own(r.url())) page.problems.push(`request left the server: ${r.url()}`); });
}

/** `path` of the server at `base` in a new page (`options` as Playwright's newPage takes them) that records its problems. */
export async function openPage(browser, base, path, options) {
  const page = await browser.newPage(options);
  recordProblems(page, base);
  await page.goto(base + path);
  return page;
}

export const waitLive = (page) => page.waitForFunction(() => document.querySelector("#state")?.textContent === "live", null, { timeout: 15000 });

export const noHorizontalScroll = (page) => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);

const AXE = readFileSync(new URL("../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

/**
 * WCAG 2 A and AA violations axe-core finds on `page` (opened with
 * bypassCSP, so that axe can be injected), as short readable lines: in the
 * whole document, or only in the sections holding the elements `within` selects.
 */
export async function axeViolations(page, within = null) {
  await page.evaluate(AXE);
  const result = await page.evaluate((selectors) => window.axe.run(
    selectors ? selectors.map((s) => document.querySelector(s).closest("section")) : document,
    { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } }), within);
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

/** Waits for the page to be live in whatever language it is drawn in (the state's class, not its word). */
export const waitLiveIn = (page) => page.waitForFunction(() => document.querySelector("#state")?.classList.contains("live"), null, { timeout: 30000 });

/** Sends a safety message as `operator` on the server at `base` (CAP fields as the composer sends them, `body` over them); resolves to the stored message. */
export async function sendBroadcast(base, operator, body) {
  const resp = await fetch(`${base}/api/v1/broadcasts`, {
    method: "POST",
    headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      category: "Safety", event: "Crowd crush risk", severity: "Severe", urgency: "Immediate", certainty: "Observed",
      language: "en", area: { zones: ["piazza-maggiore"] }, expires: new Date(Date.now() + 3600e3).toISOString(), ...body,
    }),
  });
  const text = await resp.text();
  if (resp.status !== 201) throw new Error(`broadcast refused: ${resp.status} ${text}`);
  return JSON.parse(text);
}

/**
 * The demo server and a browser for one test file: started before its tests,
 * stopped after them, the server given `args` besides the demo's. `take` is
 * given {server, browser, base, operator, commander}.
 */
export function withDemoServer(take, args = []) {
  let server, browser;
  before(async () => {
    server = await startServer(args);
    browser = await launchBrowser();
    take({ server, browser, base: server.base, operator: server.operator, commander: server.commander });
  });
  after(async () => {
    await browser?.close();
    server?.child.kill("SIGTERM");
  });
}

/** A JSON call to the API as `token`, its answer parsed; anything but a success fails the test. */
export async function callApi(base, token, method, path, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  assert.ok(resp.ok, `${method} ${path}: ${resp.status} ${text}`);
  return JSON.parse(text);
}
