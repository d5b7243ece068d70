// The operations room's information-integrity panels (DESIGN §10) in real
// headless Chromium against the real server: rising terms, the posts
// behind them with an audited reveal, and a coordinated brigade
// discounted from its alert card.
//
// Started as pages.test.mjs starts (CAMPANILE_BIN names the server), but
// without the demo: the demo draws its texts from a short list, so its own
// posts form coordinated clusters and rising terms, and a test could not
// tell its brigade or its hashtag from the demo's.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { BIN, ENV, ROOT, SHOTS, SIZES, axeViolations, launchBrowser, noHorizontalScroll, recordProblems, startServer, waitLive } from "./support.mjs";

const MAGGIORE = { lat: 44.49375, lon: 11.34295 };
// Far from Piazza Maggiore, so that its terms do not push the hashtag out of Maggiore's top ten.
const STATION = { lat: 44.50552, lon: 11.34268 };
// Identical texts, so that the brigade is one cluster under any near-duplicate grouping.
const BRIGADE = "Everyone to Piazza Maggiore now the police are beating people near the fountain";
const SECOND_BRIGADE = "Free drinks for everyone at the station right now, bring friends";
const HASHTAG = "#campanileprova";
let server, browser, base, operator;

before(async () => {
  operator = execFileSync(BIN, ["token", "--role", "operator", "--sub", "alice", "--ttl", "2h"], { cwd: ROOT, env: ENV, encoding: "utf8" }).trim();
  server = await startServer([], { demo: false });
  ({ base } = server);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.child.kill("SIGTERM");
});

async function ingest(posts) {
  const resp = await fetch(`${base}/api/v1/posts`, {
    method: "POST", headers: { Authorization: `Bearer ${operator}`, "Content-Type": "application/json" }, body: JSON.stringify(posts),
  });
  const text = await resp.text();
  assert.equal(resp.status, 202, text);
}

const post = (id, author, text, at = MAGGIORE) => ({ source: "test", id, author, text, lang: "en", lat: at.lat, lon: at.lon });

/** The operations room at `viewport`, recording script errors. */
async function open(viewport = SIZES.wall) {
  const page = await browser.newPage({ viewport });
  recordProblems(page);
  await page.goto(`${base}/ops/#token=${operator}`);
  await waitLive(page);
  return page;
}

test("before anything is said, the trends panel says why it is empty", async () => {
  const page = await open();
  await page.waitForFunction(() => /No term yet used by 5 or more people in one place/.test(document.querySelector("#trends-note")?.textContent), null, { timeout: 15000 });
  assert.equal(await page.locator("#trends-panel .term-button").count(), 0);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a hashtag five people use shows in the zone's rising terms, and opens its posts, masked parts marked and revealed only with a reason", async () => {
  const page = await open();
  // Four people are not enough (k = 5): the term must not show before the fifth.
  await ingest([0, 1, 2, 3].map((i) => post(`tag-${i}`, `tagger-${i}`, `Drums and flags by the fountain ${HASHTAG}`)));
  await page.waitForTimeout(3000);
  assert.equal(await page.locator(`#trends-panel .term-button[data-term="${HASHTAG}"]`).count(), 0, "four posters: not shown");
  await ingest([4, 5].map((i) => post(`tag-${i}`, `tagger-${i}`, `Drums and flags by the fountain ${HASHTAG}`)));
  await ingest([post("tag-phone", "tagger-6", `Lost my son by the fountain, call 333 1234567 ${HASHTAG}`)]);
  const term = page.locator(`#trends-zones [data-zone="piazza-maggiore"] .term-button[data-term="${HASHTAG}"]`);
  await term.waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#trends-zones [data-zone="piazza-maggiore"] h4').textContent(), "Piazza Maggiore", "the zone by its name");
  assert.equal(await term.locator(".term.hashtag").textContent(), HASHTAG, "a hashtag shown as one");
  // Seven posted it; a build that keeps texts with personal data out of trends counts six.
  const trends = await (await fetch(`${base}/api/v1/trends?zone=piazza-maggiore`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  const counted = trends.zones[0].terms.find((t) => t.term === HASHTAG).contributors;
  assert.ok(counted >= 6, `${counted} posters`);
  assert.match(await term.locator(".term-count").textContent(), new RegExp(`^${counted} posters$`));
  assert.match(await term.locator(".growth").textContent(), /▲ new/, "nobody used it in the window before");
  assert.match(await page.locator("#trends-note").textContent(), /5 or more people/);

  // From the keyboard: the term opens the posts view, filtered by the zone and the term.
  await term.focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /7 posts with “#campanileprova” in Piazza Maggiore, newest first/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 10000 });
  assert.equal(await page.inputValue("#posts-zone"), "piazza-maggiore");
  assert.equal(await page.inputValue("#posts-q"), HASHTAG);
  assert.equal(await page.evaluate(() => document.activeElement?.id), "posts-panel-title", "the keyboard follows to the posts");

  const listed = await (await fetch(`${base}/api/v1/posts?zone=piazza-maggiore&q=${encodeURIComponent(HASHTAG)}`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  const shown = await page.locator("#posts-list li.post").evaluateAll((lis) => lis.map((li) => ({
    id: li.dataset.id, text: li.querySelector(".post-text").textContent, marks: [...li.querySelectorAll(".post-text mark.pii")].map((m) => m.textContent), meta: li.querySelector(".post-meta").textContent,
  })));
  assert.deepEqual(shown.map((p) => p.id), listed.posts.map((p) => p.id), "the server's posts, in its order (newest first)");
  for (const [i, p] of shown.entries()) {
    assert.equal(p.text, listed.posts[i].text, "the text as the server masked it");
    assert.deepEqual(p.marks, listed.posts[i].text.match(/\[(phone|e-mail|plate|address|@handle)\]/g) ?? [], "each masked part marked");
    assert.doesNotMatch(p.meta + p.text, /tagger-/, "never an author");
  }
  // The marking itself, on the placeholders the server uses, whatever this build masks.
  const marked = await page.evaluate(async () => {
    const { maskedText } = await import("/shared/panel-posts.js");
    const p = document.createElement("p");
    p.append(...maskedText("Call [phone] or write to [e-mail], <b>now</b>"));
    return { text: p.textContent, marks: [...p.querySelectorAll("mark.pii")].map((m) => m.textContent), bold: p.querySelectorAll("b").length };
  });
  assert.deepEqual(marked, { text: "Call [phone] or write to [e-mail], <b>now</b>", marks: ["[phone]", "[e-mail]"], bold: 0 });

  // Reveal, from the keyboard, with a reason in a real form field.
  const item = page.locator('#posts-list li.post[data-id]').filter({ hasText: "Lost my son" });
  const id = await item.getAttribute("data-id");
  await item.locator("button.reveal").focus();
  await page.keyboard.press("Enter");
  const reason = item.locator(`input[id="reveal-reason-${id}"]`);
  await reason.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), `reveal-reason-${id}`, "the reason field takes the keyboard");
  assert.match(await item.locator(`label[for="reveal-reason-${id}"]`).textContent(), /audit log/);
  await page.keyboard.press("Enter");
  assert.match(await item.locator(".form-error").textContent(), /Say why/, "no reason, no reveal");
  await page.keyboard.type("The parent asks us to call back");
  await page.keyboard.press("Enter");
  const revealed = page.locator(`#posts-list li.post[data-id="${id}"]`);
  await revealed.locator(".revealed-note").waitFor({ timeout: 10000 });
  assert.equal(await revealed.locator(".post-text").textContent(), `Lost my son by the fountain, call 333 1234567 ${HASHTAG}`, "the original text, in place");
  assert.match(await revealed.locator(".revealed-note").textContent(), /logged/);
  assert.equal(await revealed.locator("button.reveal").count(), 0);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a term at a hotspot outside every zone shows under the hotspot and opens only the posts around it", async () => {
  const page = await open();
  const outside = { lat: 44.4990539, lon: 11.3473101 };
  await ingest([0, 1, 2, 3, 4].map((i) => post(`out-${i}`, `outsider-${i}`, "Music in the courtyard #cortile", outside)));
  await ingest([post("elsewhere", "outsider-9", "Nothing here #cortile")]);
  const term = page.locator('#trends-cells .term-button[data-term="#cortile"]');
  await term.waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#trends-zones .term-button[data-term="#cortile"]').count(), 0, "in no zone");
  assert.match(await term.locator("xpath=ancestor::div[@data-cell]/h4").textContent(), /^Hotspot: /);
  await term.click();
  await page.waitForFunction(() => /^5 posts with “#cortile” around the hotspot \(/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 10000 });
  assert.equal(await page.inputValue("#posts-zone"), "", "no zone filter");
  assert.match(await page.locator("#posts-around").textContent(), /Only around the hotspot/);
  await page.click("#posts-around button");
  await page.waitForFunction(() => /^6 posts with “#cortile” anywhere/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 10000 });
  assert.equal(await page.locator("#posts-around").isVisible(), false);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("a brigade of 25 identical posts raises its own card; Discount and Restore, each for a reason, show the decision, and discounted posts are greyed", async () => {
  const page = await open();
  await ingest(Array.from({ length: 25 }, (_, i) => post(`brigade-${i}`, `brigadier-${i}`, BRIGADE)));
  const card = page.locator(".alert-card.coordination").filter({ hasText: BRIGADE });
  await card.waitFor({ timeout: 30000 });
  assert.equal(await page.locator(".alert-card.surge.coordination").count(), 0, "not a surge card");
  const title = await card.locator(".coord-title").textContent();
  assert.match(title, /^Coordinated posting — 25 near-identical posts from 25 accounts since \d\d:\d\d at Piazza Maggiore$/, title);
  assert.equal(await card.locator(".sample").textContent(), BRIGADE);
  assert.match(await card.locator(".decision").textContent(), /no decision yet/);

  // Its cells are outlined on the map while the card has the keyboard, and no longer after.
  const cluster = await card.getAttribute("data-cluster");
  const { clusters } = await (await fetch(`${base}/api/v1/clusters`, { headers: { Authorization: `Bearer ${operator}` } })).json();
  const cells = clusters.find((c) => c.id === cluster).cells;
  await card.focus();
  await page.waitForFunction((n) => window.campanile.map.highlighted === n, cells.length, { timeout: 5000 });
  await page.locator("#posts-q").focus();
  await page.waitForFunction(() => window.campanile.map.highlighted === 0, null, { timeout: 5000 });

  await card.locator("button.decide").click();
  const reason = card.locator(".reason-form input");
  assert.equal(await card.locator("button.decide").isVisible(), false, "the form replaces the buttons");
  await reason.fill("The same text from 25 new accounts in a minute");
  // Another alert redraws the panel meanwhile: the half-made decision stays, with the keyboard in it.
  await ingest(Array.from({ length: 20 }, (_, i) => post(`second-${i}`, `second-${i}`, SECOND_BRIGADE, STATION)));
  await page.locator(".alert-card.coordination").filter({ hasText: SECOND_BRIGADE }).waitFor({ timeout: 30000 });
  assert.equal(await reason.inputValue(), "The same text from 25 new accounts in a minute");
  assert.equal(await reason.evaluate((n) => n === document.activeElement), true, "still typing the reason");
  assert.equal(await page.locator(".alert-card.coordination").first().textContent().then((t) => t.includes(SECOND_BRIGADE)), true, "newest first");
  await page.keyboard.press("Enter");
  const decided = card.locator(".decision");
  await page.waitForFunction((c) => /^Discounted by alice \d\d:\d\d: The same text from 25 new accounts in a minute$/.test(document.querySelector(`.alert-card.coordination[data-cluster="${c}"] .decision`)?.textContent), cluster, { timeout: 10000 });
  assert.match(await decided.textContent(), /^Discounted by alice/);
  assert.equal(await card.locator("button.decide").textContent(), "Restore", "a discounted cluster can be restored");
  assert.equal(await card.evaluate((n) => n.classList.contains("discounted")), true);

  // Its posts, read in the posts view, are greyed and say why.
  await page.fill("#posts-q", "police are beating");
  await page.click("#posts-form button[type=submit]");
  await page.waitForFunction(() => /25 posts with/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 10000 });
  const tags = await page.locator("#posts-list li.post").evaluateAll((lis) => lis.map((li) => li.classList.contains("discounted") && li.querySelector(".discounted-tag")?.textContent));
  assert.deepEqual(tags, Array(25).fill("discounted (coordinated)"));

  // Escape leaves the form without deciding; Restore, then Discount again, each for its reason.
  const decideButton = card.locator("button.decide");
  await decideButton.focus();
  await page.keyboard.press("Enter");
  await card.locator(".reason-form input").waitFor();
  await page.keyboard.press("Escape");
  assert.equal(await card.locator(".reason-form").count(), 0);
  assert.equal(await decideButton.evaluate((n) => n === document.activeElement), true, "the keyboard back on the button");
  const decideFor = async (expected, reasonText) => {
    assert.equal(await decideButton.textContent(), expected);
    await decideButton.click();
    await card.locator(".reason-form input").fill(reasonText);
    await page.keyboard.press("Enter");
    await page.waitForFunction(([c, line]) => document.querySelector(`.alert-card.coordination[data-cluster="${c}"] .decision`)?.textContent.endsWith(line), [cluster, `: ${reasonText}`], { timeout: 10000 });
  };
  await decideFor("Restore", "Checked: a real call to gather");
  assert.match(await decided.textContent(), /^Restored by alice \d\d:\d\d: Checked: a real call to gather$/);
  assert.equal(await card.evaluate((n) => n.classList.contains("discounted")), false);
  await decideFor("Discount", "Brigade confirmed after all");
  assert.match(await decided.textContent(), /^Discounted by alice \d\d:\d\d: Brigade confirmed after all$/);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("the integrity panels read on the wall, the tablet and the phone: no horizontal scroll, WCAG 2 AA, screenshots", async () => {
  for (const [name, viewport] of Object.entries(SIZES)) {
    const page = await open(viewport);
    await page.locator(`#trends-panel .term-button[data-term="${HASHTAG}"]`).first().waitFor({ timeout: 20000 });
    const card = page.locator(".alert-card.coordination").filter({ hasText: BRIGADE });
    await card.waitFor({ timeout: 20000 });
    await page.waitForFunction(() => /^Discounted by/.test(document.querySelector(".alert-card.coordination.discounted .decision")?.textContent), null, { timeout: 20000 });
    assert.equal(await noHorizontalScroll(page), true, `no horizontal scroll (${name})`);
    await page.locator("#trends-panel").scrollIntoViewIfNeeded();
    await page.evaluate(() => document.querySelector("#trends-panel-title").scrollIntoView({ block: "start" }));
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${SHOTS}ops-trends-${name}.png` });
    await card.evaluate((n) => n.scrollIntoView({ block: "center" }));
    await card.hover();
    await page.waitForTimeout(800);
    await page.screenshot({ path: `${SHOTS}ops-coordination-${name}.png` });
    await page.locator(`#trends-panel .term-button[data-term="${HASHTAG}"]`).first().click();
    await page.waitForFunction(() => /posts with/.test(document.querySelector("#posts-note")?.textContent), null, { timeout: 10000 });
    await page.locator("#posts-list li.post button.reveal").first().click();
    await page.evaluate(() => document.querySelector("#posts-panel-title").scrollIntoView({ block: "start" }));
    await page.waitForTimeout(500);
    assert.equal(await noHorizontalScroll(page), true, `no horizontal scroll with the posts open (${name})`);
    await page.screenshot({ path: `${SHOTS}ops-posts-${name}.png` });
    assert.deepEqual(await axeViolations(page, ["#trends-panel", "#posts-panel", "#alerts"]), [], name);
    assert.deepEqual(page.problems, [], name);
    await page.close();
  }
});
