// Legibility of the three pages where they are read: the 4K wall from
// across the room, the tablet and the phone held upright, and eyes that do
// not tell red from green or see no colour at all.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { axeViolations, noHorizontalScroll, openPage, SHOTS, SIZES, waitLive, withDemoServer } from "./support.mjs";

const WALL_4K = { width: 3840, height: 2160 };

// The far reader: a 65-inch 16:9 panel showing 3840 × 2160, read from 4 m,
// whose capitals should stand 20 arc minutes tall (the rule of thumb of
// ISO 9241-303 and ANSI/HFES 100 for text read at a glance).
const PANEL_INCHES = 65;
const DISTANCE_MM = 4000;
const ARC_MINUTES = 20;
const PANEL_WIDTH_MM = PANEL_INCHES * 25.4 * 16 / Math.hypot(16, 9); // 1439 mm
const MM_PER_PX = PANEL_WIDTH_MM / WALL_4K.width; // 0.375 mm
const CAP_MM = 2 * DISTANCE_MM * Math.tan((ARC_MINUTES / 2 / 60) * Math.PI / 180); // 23.3 mm
const CAP_PX = CAP_MM / MM_PER_PX; // 62.1 px

let server, browser;

withDemoServer((s) => ({ server, browser } = s));

const open = (path, viewport, options = {}) => openPage(browser, server.base, path, { viewport, ...options });

async function sendBroadcast(body) {
  const resp = await fetch(`${server.base}/api/v1/broadcasts`, {
    method: "POST",
    headers: { Authorization: `Bearer ${server.operator}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      category: "Safety", event: "Crowd crush risk", severity: "Severe", urgency: "Immediate", certainty: "Observed", audience: "public",
      language: "en", area: { zones: ["piazza-maggiore"] }, expires: new Date(Date.now() + 3600e3).toISOString(), ...body,
    }),
  });
  const text = await resp.text();
  assert.equal(resp.status, 201, text);
  return JSON.parse(text);
}

// ---- Colour: sRGB to CIE L*a*b* (D65), and what eyes with a colour vision deficiency see.

const hexRgb = (hex) => {
  assert.match(hex, /^#[0-9a-f]{6}$/i, `a colour written #rrggbb: ${hex}`);
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
};
/** sRGB (0–1) to linear light. */
const linear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);

/**
 * Machado, Oliveira and Fernandes (2009), "A physiologically-based model for
 * simulation of color vision deficiency", IEEE TVCG 15(6): the matrices for
 * severity 1.0 (dichromacy), applied to linear RGB.
 */
const MACHADO = {
  protanopia: [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
  deuteranopia: [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
  tritanopia: [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
};
/** What a reader sees of a linear-RGB colour: as it is, through a Machado matrix, or (achromatopsia) its luminance alone. */
function seen(rgb, vision) {
  if (vision === "typical") return rgb;
  if (vision === "achromatopsia") {
    const y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
    return [y, y, y];
  }
  return MACHADO[vision].map((row) => Math.min(1, Math.max(0, row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2])));
}
/** Linear RGB to CIE L*a*b* (D65 white). */
function lab([r, g, b]) {
  const x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  const f = (t) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}
/** CIE76 colour difference. */
const deltaE = (p, q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
const VISIONS = ["typical", "protanopia", "deuteranopia", "tritanopia", "achromatopsia"];
// Well above a just-noticeable difference (ΔE76 ≈ 2.3): two heat colours read as two levels, not one.
const MIN_DELTA_E = 12;

test("on a 3840 × 2160 wall read from 4 m the state, headings, instructions and hotspot figures meet the 20′ rule, and six messages push nothing out of sight", async () => {
  for (let i = 1; i <= 6; i++) {
    await sendBroadcast({ headline: `Legibility check ${i}: keep to the left of the fountain`, instruction: `Walk, do not run (${i}).` });
  }
  const page = await open(`/ops/#token=${server.operator}`, WALL_4K, { bypassCSP: true });
  await waitLive(page);
  await page.waitForFunction(() => document.querySelectorAll("#messages article").length >= 6 && document.querySelectorAll("#messages .acks").length >= 6
    && document.querySelectorAll("#hotspots tr").length > 0, null, { timeout: 30000 });
  const sizes = await page.evaluate(() => {
    const px = (node) => parseFloat(getComputedStyle(node).fontSize);
    const all = (selector) => [...document.querySelectorAll(selector)].map(px);
    // The capital height of the font the state is set in, as a share of its size.
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = `100px ${getComputedStyle(document.querySelector("#state")).fontFamily}`;
    return {
      capRatio: ctx.measureText("H").actualBoundingBoxAscent / 100,
      state: px(document.querySelector("#state")),
      updated: px(document.querySelector("#updated")),
      headings: all("aside h2"),
      instructions: all("#messages article > p:not(.acks)"),
      acks: all("#messages .acks"),
      figures: all("#hotspots td:not(:first-child)"),
    };
  });
  assert.ok(sizes.capRatio > 0.6 && sizes.capRatio < 0.8, `a plausible capital height: ${sizes.capRatio}`);
  const minimum = CAP_PX / sizes.capRatio;
  const report = `${JSON.stringify(sizes)}; minimum ${minimum.toFixed(1)} px (capitals ${CAP_PX.toFixed(1)} px)`;
  assert.ok(sizes.instructions.length >= 6 && sizes.figures.length > 0 && sizes.headings.length > 0, report);
  for (const [what, list] of Object.entries({ state: [sizes.state], updated: [sizes.updated], headings: sizes.headings, instructions: sizes.instructions, figures: sizes.figures })) {
    for (const size of list) assert.ok(size >= minimum, `${what} at ${size} px, under ${minimum.toFixed(1)} px: ${report}`);
  }
  assert.ok(Math.min(...sizes.instructions) >= Math.max(...sizes.acks), `an instruction is never smaller than the acknowledgements line: ${report}`);

  // Above the fold and not hidden by a scrolled column: each heading is the element on screen at its centre.
  for (const id of ["hotspot-panel-title", "triage-title", "alerts-title", "composer-title", "messages-title"]) {
    const where = await page.evaluate((heading) => {
      const node = document.getElementById(heading);
      const r = node.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 40), r.top + r.height / 2);
      return { top: r.top, bottom: r.bottom, shown: hit === node || node.contains(hit) };
    }, id);
    assert.ok(where.top >= 0 && where.bottom <= WALL_4K.height && where.shown, `${id} on the wall's first screen: ${JSON.stringify(where)}`);
  }
  // The wall keeps the map beside the panels.
  const boxes = await page.evaluate(() => [document.querySelector("#map"), document.querySelector("aside")].map((n) => n.getBoundingClientRect().toJSON()));
  assert.ok(boxes[0].right <= boxes[1].left + 1 && boxes[0].height > WALL_4K.height * 0.8, JSON.stringify(boxes));
  assert.equal(await noHorizontalScroll(page), true);
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${SHOTS}legibility-ops-4k.png` });
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("on a tablet and a phone held upright the map comes first, at the top of the page, with a good share of the screen", async () => {
  for (const [surface, path] of [["ops", `/ops/#token=${server.operator}`], ["field", `/field/#token=${server.commander}`], ["public", "/"]]) {
    for (const [name, viewport] of [["tablet", SIZES.tablet], ["phone", SIZES.phone]]) {
      const page = await open(path, viewport);
      await waitLive(page);
      const box = await page.evaluate(() => document.querySelector("#map").getBoundingClientRect().toJSON());
      const where = `${surface} on the ${name}: ${JSON.stringify(box)}`;
      assert.ok(box.top < 200, `the map starts within the first screen: ${where}`);
      assert.ok(box.height >= 0.4 * viewport.height, `the map takes at least 40 % of the screen's height: ${where}`);
      assert.ok(box.bottom <= viewport.height, `the whole map on the first screen: ${where}`);
      // The panels follow it.
      const asideTop = await page.evaluate(() => document.querySelector("aside").getBoundingClientRect().top);
      assert.ok(asideTop >= box.bottom - 1, `${where}: the panels below the map at ${asideTop}`);
      assert.equal(await noHorizontalScroll(page), true, where);
      await page.waitForTimeout(1000);
      await page.screenshot({ path: `${SHOTS}legibility-${surface}-${name}.png` });
      assert.deepEqual(page.problems, [], where);
      await page.close();
    }
  }
});

test("the heat ramp grows lighter with density over the dark map and its steps stay apart in greys and under protanopia, deuteranopia and tritanopia", async () => {
  const page = await open(`/ops/#token=${server.operator}`, SIZES.wall);
  await page.waitForFunction(() => window.campanile?.map?.map?.getLayer("heat"), null, { timeout: 30000 });
  const style = await page.evaluate(() => {
    const m = window.campanile.map.map;
    return {
      colour: m.getPaintProperty("heat", "fill-color"),
      opacity: m.getPaintProperty("heat", "fill-opacity"),
      background: m.getLayer("background") ? m.getPaintProperty("background", "background-color") : null,
      legend: getComputedStyle(document.querySelector(".legend .bar")).backgroundImage,
    };
  });
  // ["interpolate", ["linear"], ["get", "t"], t0, c0, t1, c1, …]
  assert.equal(style.colour[0], "interpolate", JSON.stringify(style.colour));
  const stops = [];
  for (let i = 3; i < style.colour.length; i += 2) stops.push({ t: style.colour[i], hex: style.colour[i + 1] });
  assert.ok(stops.length >= 4, `at least four steps: ${JSON.stringify(stops)}`);
  // The opacity at t, from its own interpolation.
  assert.equal(style.opacity[0], "interpolate", JSON.stringify(style.opacity));
  const points = [];
  for (let i = 3; i < style.opacity.length; i += 2) points.push([style.opacity[i], style.opacity[i + 1]]);
  const opacityAt = (t) => {
    for (let i = 1; i < points.length; i++) {
      const [t0, a0] = points[i - 1], [t1, a1] = points[i];
      if (t <= t1) return a0 + ((a1 - a0) * (t - t0)) / (t1 - t0);
    }
    return points.at(-1)[1];
  };
  // Each step as it shows: its colour laid over the base map's, in linear light.
  const ground = hexRgb(style.background ?? "#0b0f14").map(linear);
  const shown = stops.map(({ t, hex }) => {
    const a = opacityAt(t);
    return hexRgb(hex).map(linear).map((c, k) => a * c + (1 - a) * ground[k]);
  });
  const groundL = lab(ground)[0];
  for (const vision of VISIONS) {
    const labs = shown.map((rgb) => lab(seen(rgb, vision)));
    const lightness = labs.map((l) => l[0].toFixed(1));
    for (let i = 1; i < labs.length; i++) assert.ok(labs[i][0] > labs[i - 1][0], `${vision}: L* rises with density: ${lightness}`);
    assert.ok(labs.at(-1)[0] - groundL >= 60, `${vision}: the densest stands out most from the map (L* ${lightness} on ${groundL.toFixed(1)})`);
    for (let i = 0; i < labs.length; i++) {
      for (let j = i + 1; j < labs.length; j++) {
        const d = deltaE(labs[i], labs[j]);
        assert.ok(d >= MIN_DELTA_E, `${vision}: steps ${i} and ${j} only ΔE ${d.toFixed(1)} apart`);
      }
    }
  }
  // The legend shows the same steps, in the same order.
  const legend = [...style.legend.matchAll(/rgb\((\d+), (\d+), (\d+)\)/g)].map((m) => `#${m.slice(1).map((v) => Number(v).toString(16).padStart(2, "0")).join("")}`);
  assert.deepEqual(legend, stops.map((s) => s.hex.toLowerCase()), style.legend);
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("exits and first-aid posts are drawn with symbols of different shapes, and the four severities with different bar patterns", async () => {
  const page = await open(`/ops/#token=${server.operator}`, SIZES.wall);
  await page.waitForFunction(() => window.campanile?.map?.zonesDrawn && window.campanile.map.map.getLayer("zone-points"), null, { timeout: 30000 });
  const points = await page.evaluate(() => {
    const m = window.campanile.map.map;
    const layer = m.getLayer("zone-points");
    const expression = m.getLayoutProperty("zone-points", "icon-image");
    // ["match", ["get", "kind"], kind, image, …, fallback]
    const imageOf = (kind) => {
      if (!Array.isArray(expression) || expression[0] !== "match") return null;
      for (let i = 2; i < expression.length - 1; i += 2) if (expression[i] === kind) return expression[i + 1];
      return expression.at(-1);
    };
    // The icon's outline: which of its pixels are drawn.
    const mask = (id) => {
      const image = id && m.getImage(id);
      if (!image) return null;
      const { width, height, data } = image.data;
      const bits = [];
      for (let i = 3; i < data.length; i += 4) bits.push(data[i] > 127 ? 1 : 0);
      return { width, height, bits };
    };
    const exit = imageOf("exit"), firstAid = imageOf("first_aid");
    return { type: layer.type, exit, firstAid, masks: [mask(exit), mask(firstAid)] };
  });
  assert.equal(points.type, "symbol", "points drawn as symbols, not as dots told apart by colour");
  assert.ok(points.exit && points.firstAid && points.exit !== points.firstAid, JSON.stringify(points, ["type", "exit", "firstAid"]));
  const [exit, firstAid] = points.masks;
  assert.ok(exit && firstAid, "both icons are in the map's style");
  assert.equal(exit.bits.length, firstAid.bits.length);
  const differing = exit.bits.filter((b, i) => b !== firstAid.bits[i]).length;
  assert.ok(differing / exit.bits.length >= 0.08, `the shapes differ, not only the colours: ${differing} of ${exit.bits.length} pixels`);

  const severities = ["Extreme", "Severe", "Moderate", "Minor"];
  for (const severity of severities) await sendBroadcast({ severity, headline: `Severity pattern ${severity}` });
  await page.waitForFunction((list) => list.every((s) => [...document.querySelectorAll("#messages article")].some((a) => a.textContent.includes(`Severity pattern ${s}`))),
    severities, { timeout: 15000 });
  const bars = await page.evaluate((list) => list.map((s) => {
    const card = [...document.querySelectorAll("#messages article")].find((a) => a.textContent.includes(`Severity pattern ${s}`));
    const style = card && getComputedStyle(card);
    return style && `${style.borderLeftStyle} ${style.borderLeftColor}`;
  }), severities);
  assert.ok(bars.every(Boolean), `every card shown: ${bars}`);
  const patterns = bars.map((b) => b.split(" ")[0]);
  assert.equal(new Set(patterns).size, severities.length, `a pattern of its own for each severity: ${bars}`);
  assert.ok(patterns.every((p) => p !== "none" && p !== "hidden"), `${bars}`);
  await page.locator("#messages").evaluate((n) => n.scrollIntoView({ block: "start" }));
  await page.screenshot({ path: `${SHOTS}legibility-severities.png` });
  assert.deepEqual(page.problems, []);
  await page.close();
});

test("the wall as readers with deuteranopia, protanopia and achromatopsia see it (screenshots), still WCAG 2 AA", async () => {
  const page = await open(`/ops/#token=${server.operator}`, SIZES.wall, { bypassCSP: true });
  await waitLive(page);
  await page.waitForFunction(() => (window.campanile?.map?.heatFeatures || 0) > 0 && window.campanile.map.zonesDrawn, null, { timeout: 30000 });
  await page.waitForTimeout(1500);
  const cdp = await page.context().newCDPSession(page);
  for (const type of ["deuteranopia", "protanopia", "achromatopsia"]) {
    await cdp.send("Emulation.setEmulatedVisionDeficiency", { type });
    await page.waitForTimeout(300);
    // Straight from the compositor: Playwright's own screenshot waits on frames the emulated filter holds back.
    const { data } = await cdp.send("Page.captureScreenshot", { format: "png" });
    writeFileSync(`${SHOTS}legibility-ops-${type}.png`, Buffer.from(data, "base64"));
  }
  await cdp.send("Emulation.setEmulatedVisionDeficiency", { type: "none" });
  await page.screenshot({ path: `${SHOTS}legibility-ops-wall.png` });
  assert.deepEqual(await axeViolations(page), []);
  assert.deepEqual(page.problems, []);
  await page.close();
});
