// The crowd picture per named place (DESIGN §9), shared by the three pages:
// the zones channel kept as one current status per zone, and the words,
// colours and icons its levels and trends are shown with. A level is never
// told by colour alone: each has its word and a meter whose filled bars
// count how serious it is, so that it reads in grey and to a screen reader.

import { el } from "/shared/dom.js";
import { language, number, primaryTag, words } from "/shared/i18n.js";

// The levels' and trends' words: the server's values (the keys) are kept in
// data attributes and sent back as they are; only what is shown is translated.
const t = words({
  en: {
    normal: "Normal", caution: "Caution", alert: "Alert", serious: "Serious", critical: "Critical", unknown: "Unknown",
    relaxed: "Relaxed", publicNormal: "Normal", busy: "Busy", crowded: "Crowded", notKnown: "Not known",
    rising: "rising", steady: "steady", falling: "falling", busier: "getting busier", quieter: "getting quieter",
  },
  it: {
    normal: "Normale", caution: "Attenzione", alert: "Allerta", serious: "Grave", critical: "Critico", unknown: "Sconosciuto",
    relaxed: "Tranquillo", publicNormal: "Normale", busy: "Affollato", crowded: "Molto affollato", notKnown: "Non si sa",
    rising: "in aumento", steady: "stabile", falling: "in calo", busier: "si sta riempiendo", quieter: "si sta svuotando",
  },
});

/** Responders' levels, least serious first, as DESIGN §9 names them. */
export const LEVELS = ["normal", "caution", "alert", "serious", "critical"];

/** The public's words, quietest first. */
export const PUBLIC_LEVELS = ["relaxed", "normal", "busy", "crowded"];

/** Responders' levels as words, in the page's language (the keys are the server's values). */
export const LEVEL_LABELS = Object.fromEntries(LEVELS.map((l) => [l, t(l)]));
const PUBLIC_LABELS = { relaxed: t("relaxed"), normal: t("publicNormal"), busy: t("busy"), crowded: t("crowded") };

/** A responder's level (the server's value) as the word shown; an unknown value as it came. */
export const levelWord = (level) => LEVEL_LABELS[level] ?? (level ? String(level) : t("unknown"));
/** The public's level (the server's value) as the word shown. */
export const publicWord = (level) => PUBLIC_LABELS[level] ?? t("notKnown");

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
  if (rank < 0) return el("span", { class: "level-badge unknown", ...(id ? { id } : {}) }, meter(0, LEVELS.length), t("unknown"));
  return el("span", { class: `level-badge level-${level}`, "data-level": level, ...(id ? { id } : {}) }, meter(rank + 1, LEVELS.length), LEVEL_LABELS[level]);
}

/** The public's word as a badge: meter, word, colour; "Not known" without one. */
export function publicBadge(level) {
  const rank = PUBLIC_LEVELS.indexOf(level);
  if (rank < 0) return el("span", { class: "level-badge unknown" }, meter(0, PUBLIC_LEVELS.length), t("notKnown"));
  return el("span", { class: `level-badge public-${level}`, "data-level": level }, meter(rank + 1, PUBLIC_LEVELS.length), PUBLIC_LABELS[level]);
}

const ARROWS = { rising: "↑", steady: "→", falling: "↓" };
const RESPONDER_TRENDS = { rising: t("rising"), steady: t("steady"), falling: t("falling") };
const PUBLIC_TRENDS = { rising: t("busier"), steady: t("steady"), falling: t("quieter") };

/** A trend as an arrow and its words (the arrow alone is hidden from screen readers, the words are not). */
export function trendMark(trend, { forPublic = false, pct = null } = {}) {
  if (!ARROWS[trend]) return el("span", { class: "trend unknown", text: forPublic ? "" : "–" });
  const said = (forPublic ? PUBLIC_TRENDS : RESPONDER_TRENDS)[trend];
  // From next to nothing a crowd grows by thousands of per cent: past 999 the figure says no more than the arrow.
  const figure = !Number.isFinite(pct) ? "" : Math.abs(pct) > 999 ? ` ${pct > 0 ? ">+" : "<−"}${number(999)}\u00a0%`
    : ` ${pct > 0 ? "+" : ""}${number(Math.round(pct))}\u00a0%`;
  return el("span", { class: `trend trend-${trend}`, title: said },
    el("span", { class: "arrow", "aria-hidden": "true", text: ARROWS[trend] }), ` ${forPublic ? said : figure.trim() || said}`);
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

/** A whole number of people in the reader's locale: "7,400", "7.400". */
export const count = (n) => number(n, { maximumFractionDigits: 0 });
/** People with their 90 % interval: "7,400 (5,900–8,900)". */
export const peopleWithInterval = (p) => `${count(p.estimate)} (${count(p.low)}–${count(p.high)})`;

/** Text in the page's language when the place gives it in that language, else the browser's, else English, else any. */
export function inLanguage(texts, languages = [language(), ...(navigator.languages || []), navigator.language]) {
  if (!texts || typeof texts !== "object") return null;
  const given = Object.keys(texts).filter((k) => typeof texts[k] === "string" && texts[k].trim());
  for (const lang of [...languages.filter(Boolean), "en"]) {
    const found = given.find((k) => primaryTag(k) === primaryTag(lang));
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

const rowsOf = new WeakMap(); // container → Map(key → { sig, node }) of the rows it shows

/**
 * Redraws `container`'s rows (`[{ key, sig, build }]`, in order) keeping what
 * did not change: a row whose `sig` (what it shows) is the same keeps its
 * node, and nothing at all is touched when no row changed, so that a live
 * update every second neither moves the keyboard nor makes a screen reader
 * read the list again. When the row that had the focus (or a control in it
 * marked `data-focus`) is still listed (the same key), the focus returns to
 * it after the redraw; when it is gone, to the row now in its place.
 * Returns whether anything changed.
 */
export function redrawRows(container, rows) {
  const before = rowsOf.get(container) ?? new Map();
  const next = new Map();
  const nodes = rows.map(({ key, sig, build }) => {
    const old = before.get(key);
    const node = old && old.sig === sig ? old.node : build();
    next.set(key, { sig, node });
    return node;
  });
  rowsOf.set(container, next);
  const current = [...container.children];
  if (current.length === nodes.length && nodes.every((n, i) => current[i] === n)) return false;

  const active = document.activeElement;
  let focusKey = null;
  let focusPart = null;
  if (active && container.contains(active)) {
    for (const [key, { node }] of before) {
      if (!node.contains(active)) continue;
      focusKey = key;
      focusPart = active === node ? null : active.closest("[data-focus]")?.dataset.focus ?? null;
    }
  }
  const keys = [...before.keys()];
  const sameOrder = current.length === nodes.length && keys.length === rows.length && rows.every((r, i) => r.key === keys[i]);
  // The same rows in the same order: only the changed ones are replaced, the others stay put (focus and all).
  if (sameOrder) current.forEach((node, i) => { if (node !== nodes[i]) node.replaceWith(nodes[i]); });
  else container.replaceChildren(...nodes);

  if (focusKey !== null && !container.contains(document.activeElement)) {
    // The same row when it is still listed, else the one now in its place: the keyboard stays in the list.
    const row = next.get(focusKey)?.node ?? nodes[Math.min(keys.indexOf(focusKey), nodes.length - 1)];
    const target = row && (focusPart ? row.querySelector(`[data-focus="${CSS.escape(focusPart)}"]`) ?? row : row);
    target?.focus({ preventScroll: true });
  }
  return true;
}

/**
 * Tells the page that the user chose a zone or a hotspot (`{ kind: "zone" |
 * "hotspot", id, name, lat, lon }`), as the DOM event `campanile:select` on
 * document, for the panels that act on the selection (the composer's circle
 * around it).
 */
export function announceSelection(detail) {
  document.dispatchEvent(new CustomEvent("campanile:select", { detail }));
}
