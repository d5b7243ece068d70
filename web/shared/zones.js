// The crowd picture per named place (DESIGN §9), shared by the three pages:
// the zones channel kept as one current status per zone, and the words,
// colours and icons its levels and trends are shown with. A level is never
// told by colour alone: each has its word and a meter whose filled bars
// count how serious it is, so that it reads in grey and to a screen reader.

import { el } from "/shared/dom.js";

/** Responders' levels, least serious first, as DESIGN §9 names them. */
export const LEVELS = ["normal", "caution", "alert", "serious", "critical"];

/** The public's words, quietest first. */
export const PUBLIC_LEVELS = ["relaxed", "normal", "busy", "crowded"];

/** Responders' levels as words. */
export const LEVEL_LABELS = { normal: "Normal", caution: "Caution", alert: "Alert", serious: "Serious", critical: "Critical" };
const PUBLIC_LABELS = { relaxed: "Relaxed", normal: "Normal", busy: "Busy", crowded: "Crowded" };

// Shared with the map's fill so that a place reads the same on the map and
// in the list; dark text on each is above 4.5:1, white on critical.
export const LEVEL_COLOURS = { normal: "#3fb950", caution: "#d29922", alert: "#f0883e", serious: "#f85149", critical: "#b62324" };
export const PUBLIC_COLOURS = { relaxed: "#3fb950", normal: "#79c0ff", busy: "#f0883e", crowded: "#f85149" };

const SVG = "http://www.w3.org/2000/svg";

/** The level's icon: `of` rising bars, `filled` of them solid, like a signal meter; hidden from screen readers, which read the word. */
export function meter(filled, of) {
  const svg = document.createElementNS(SVG, "svg");
  const [bar, gap] = [4, 2];
  const width = of * bar + (of - 1) * gap;
  for (const [k, v] of Object.entries({ class: "meter", viewBox: `0 0 ${width} 12`, width: `${width / 12}em`, height: "1em", "aria-hidden": "true", focusable: "false",
    "data-filled": filled, "data-of": of })) svg.setAttribute(k, v);
  for (let i = 0; i < of; i++) {
    const height = 4 + (8 * (i + 1)) / of;
    const rect = document.createElementNS(SVG, "rect");
    for (const [k, v] of Object.entries({ x: i * (bar + gap), y: 12 - height, width: bar, height, rx: 0.6 })) rect.setAttribute(k, v);
    rect.setAttribute("class", i < filled ? "on" : "off");
    svg.append(rect);
  }
  return svg;
}

/** A responder's level as a badge: meter, word, colour. `unknown` when the server named none. */
export function levelBadge(level, { id } = {}) {
  const rank = LEVELS.indexOf(level);
  if (rank < 0) return el("span", { class: "level-badge unknown", ...(id ? { id } : {}) }, meter(0, LEVELS.length), "Unknown");
  return el("span", { class: `level-badge level-${level}`, "data-level": level, ...(id ? { id } : {}) }, meter(rank + 1, LEVELS.length), LEVEL_LABELS[level]);
}

/** The public's word as a badge: meter, word, colour; "Not known" without one. */
export function publicBadge(level) {
  const rank = PUBLIC_LEVELS.indexOf(level);
  if (rank < 0) return el("span", { class: "level-badge unknown" }, meter(0, PUBLIC_LEVELS.length), "Not known");
  return el("span", { class: `level-badge public-${level}`, "data-level": level }, meter(rank + 1, PUBLIC_LEVELS.length), PUBLIC_LABELS[level]);
}

const ARROWS = { rising: "↑", steady: "→", falling: "↓" };
const RESPONDER_TRENDS = { rising: "rising", steady: "steady", falling: "falling" };
const PUBLIC_TRENDS = { rising: "getting busier", steady: "steady", falling: "getting quieter" };

/** A trend as an arrow and its words (the arrow alone is hidden from screen readers, the words are not). */
export function trendMark(trend, { forPublic = false, pct = null } = {}) {
  if (!ARROWS[trend]) return el("span", { class: "trend unknown", text: forPublic ? "" : "–" });
  const words = (forPublic ? PUBLIC_TRENDS : RESPONDER_TRENDS)[trend];
  // From next to nothing a crowd grows by thousands of per cent: past 999 the figure says no more than the arrow.
  const figure = !Number.isFinite(pct) ? "" : Math.abs(pct) > 999 ? ` ${pct > 0 ? ">+" : "<−"}999\u00a0%` : ` ${pct > 0 ? "+" : ""}${Math.round(pct)}\u00a0%`;
  return el("span", { class: `trend trend-${trend}`, title: words },
    el("span", { class: "arrow", "aria-hidden": "true", text: ARROWS[trend] }), ` ${forPublic ? words : figure.trim() || words}`);
}

/** Ordering by risk as the server orders a snapshot: level, the interval's upper level, density, id. */
export function byRisk(a, b) {
  return LEVELS.indexOf(b.level) - LEVELS.indexOf(a.level)
    || LEVELS.indexOf(b.level_high) - LEVELS.indexOf(a.level_high)
    || (b.density_m2 ?? 0) - (a.density_m2 ?? 0)
    || String(a.id).localeCompare(String(b.id));
}

/** The public's order: the busiest places first, then by name, so a place does not jump about among equals. */
export function byPublicLevel(a, b) {
  return PUBLIC_LEVELS.indexOf(b.public_level) - PUBLIC_LEVELS.indexOf(a.public_level) || String(a.name).localeCompare(String(b.name));
}

const people = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
/** "7,400". */
export const count = (n) => people.format(n);
/** People with their 90 % interval: "7,400 (5,900–8,900)". */
export const peopleWithInterval = (p) => `${count(p.estimate)} (${count(p.low)}–${count(p.high)})`;

/** Text in the reader's language when the place gives it in that language, else English, else any. */
export function inLanguage(texts, languages = [...(navigator.languages || []), navigator.language, document.documentElement.lang]) {
  if (!texts || typeof texts !== "object") return null;
  const given = Object.keys(texts).filter((k) => typeof texts[k] === "string" && texts[k].trim());
  for (const lang of [...languages.filter(Boolean), "en"]) {
    const base = lang.toLowerCase().split("-")[0];
    const found = given.find((k) => k.toLowerCase().split("-")[0] === base);
    if (found) return { lang: found, text: texts[found] };
  }
  return given.length ? { lang: given[0], text: texts[given[0]] } : null;
}

/**
 * The zones channel as one status per zone: a snapshot replaces them all, an
 * update only the zones it carries. A page adds it as a panel (it subscribes
 * with the header's window) and the panels that show zones listen to it.
 */
export class ZoneWatch {
  constructor(page) {
    this.page = page;
    this.byId = new Map();
    this.listeners = [];
    this.asOf = null;
    this.arrived = false;
    this.on = {
      "zones.snapshot": (msg) => {
        this.live = msg;
        if (this.replaying) return;
        this.byId.clear();
        this.take(msg);
      },
      "zones.update": (msg) => {
        if (!this.replaying) this.take(msg);
      },
    };
  }

  /** Shows a past moment's status (`GET /api/v1/zones/status?at=`), or the live one again (`null`): live updates wait meanwhile. */
  replay(status) {
    this.replaying = Boolean(status);
    this.byId.clear();
    if (status) this.take(status);
    else this.page.resubscribe(); // a fresh snapshot of now
  }

  take(msg) {
    if (!Array.isArray(msg.zones)) return;
    for (const z of msg.zones) if (z && typeof z.id === "string") this.byId.set(z.id, z);
    this.asOf = msg.as_of;
    this.window = msg.window;
    this.arrived = true;
    this.listeners.forEach((listener) => listener(this));
  }

  subscriptions() {
    return [{ channel: "zones", window: this.page.header.window() }];
  }

  /** Calls `listener(watch)` after every snapshot and update. */
  listen(listener) {
    this.listeners.push(listener);
  }

  get(id) {
    return this.byId.get(id);
  }

  all() {
    return [...this.byId.values()];
  }
}

/** The smallest area zone containing [lon, lat] among `features`; the perimeter only when nothing smaller holds it. */
export function zoneAt(features, point, contains) {
  const around = features.filter((z) => ["Polygon", "MultiPolygon"].includes(z.geometry?.type) && contains(z.geometry, point));
  around.sort((a, b) => (a.properties.kind === "perimeter") - (b.properties.kind === "perimeter"));
  return around[0] ?? null;
}
