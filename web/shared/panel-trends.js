// What the crowd is saying (DESIGN §10): the rising terms per named zone
// and per hotspot cell, live from the trends channel. A term shows only
// once k distinct posters used it in that place (the server keeps that
// rule; the panel says it when nothing passes it). A term opens the posts
// behind it, so that an operator reads what was said rather than a word.

import { cellToBoundary } from "/vendor/h3-js/h3-js.es.js";
import { el, section } from "/shared/dom.js";

/** Hotspot cells listed at most: the wall has other panels to show. */
const CELLS_SHOWN = 8;

/** One decimal below ten ("×1.5", "×3"), whole numbers above ("×17"). */
const factor = (g) => (g >= 10 ? String(Math.round(g)) : g.toFixed(1).replace(/\.0$/, ""));

/**
 * The growth marker of a term against the window before: "▲ new" when
 * nobody used it then, else the ratio the server ranks by,
 * (contributors + 1) / (before + 1), with its direction in a symbol and a
 * word for screen readers.
 */
export function growthMark({ before, growth }) {
  if (before === 0) return { text: "▲ new", words: "new", kind: "new" };
  if (!Number.isFinite(growth) || growth === 1) return { text: "= steady", words: "steady", kind: "steady" };
  return growth > 1
    ? { text: `▲ ×${factor(growth)}`, words: `${factor(growth)} times as many posters as before`, kind: "up" }
    : { text: `▼ ×${factor(growth)}`, words: `falling, ${factor(growth)} times as many posters as before`, kind: "down" };
}

/** The [minLon, minLat, maxLon, maxLat] around an H3 cell, as `GET /api/v1/posts?bbox=` takes it. */
export function cellBbox(cell) {
  const ring = cellToBoundary(cell, true);
  const lons = ring.map((p) => p[0]), lats = ring.map((p) => p[1]);
  return [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
}

const posters = (n) => `${n} ${n === 1 ? "poster" : "posters"}`;

/**
 * The trends panel; `openPosts({zone, bbox, place, term})` shows the posts
 * behind a term (the posts panel's `open`).
 */
export function trendsPanel(page, { openPosts }) {
  const k = page.event.kAnonymity;
  const note = el("p", { id: "trends-note", class: "none", text: "Waiting for the trends…" });
  const zoneList = el("div", { id: "trends-zones" });
  const cellHeading = el("h3", { class: "trends-sub", text: "At hotspots (where they differ from their zone)", hidden: "" });
  const cellList = el("div", { id: "trends-cells" });
  const panel = section("Rising terms", "trends-panel", note, zoneList, cellHeading, cellList);

  function termButton(t, where) {
    const mark = growthMark(t);
    const hashtag = t.term.startsWith("#");
    return el("li", {},
      el("button", {
        type: "button",
        class: "term-button",
        "data-key": `${where.key}|${t.term}`,
        "data-term": t.term,
        "aria-label": `${hashtag ? "hashtag " : ""}${t.term}: ${posters(t.contributors)}, ${mark.words}. Read its posts${where.place ? ` at ${where.place}` : ""}`,
        onclick: () => openPosts({ zone: where.zone, bbox: where.bbox, place: where.place, term: t.term }),
      },
      el("span", { class: hashtag ? "term hashtag" : "term", text: t.term }),
      el("span", { class: "term-count", text: posters(t.contributors) }),
      el("span", { class: `growth growth-${mark.kind}`, text: mark.text })));
  }

  function place(title, terms, where, attrs) {
    return el("div", { class: "trend-place", ...attrs },
      el("h4", { text: title }),
      el("ul", { class: "terms" }, ...terms.map((t) => termButton(t, where))));
  }

  function render(frame) {
    // Drawn anew on each frame: keep the keyboard on the term it was on.
    const focused = document.activeElement?.closest?.("#trends-panel .term-button")?.dataset.key;
    const zones = (frame.zones ?? []).filter((z) => z.terms?.length);
    // A hotspot whose terms are its zone's own, figure for figure, would only repeat the zone above it.
    const ofZone = new Map(zones.map((z) => [z.zone, JSON.stringify(z.terms)]));
    const cells = (frame.cells ?? []).filter((c) => c.terms?.length && ofZone.get(c.zone) !== JSON.stringify(c.terms));
    note.textContent = zones.length || cells.length
      ? `Terms used by ${k} or more people in one place over the last ${frame.window}, fastest rising first. Select a term to read its posts.`
      : `No term yet used by ${k} or more people in one place (over the last ${frame.window ?? "window"}).`;
    zoneList.replaceChildren(...zones.map((z) => place(z.name || z.zone, z.terms, { key: `zone:${z.zone}`, zone: z.zone, place: z.name || z.zone }, { "data-zone": z.zone })));
    cellHeading.hidden = !cells.length;
    const shown = cells.slice(0, CELLS_SHOWN);
    cellList.replaceChildren(...shown.map((c) => {
      const block = place(`Hotspot: ${c.place || "an unnamed place"}`, c.terms, { key: `cell:${c.cell}`, bbox: cellBbox(c.cell), place: c.place }, { "data-cell": c.cell });
      // Where the hotspot is, on the map, while the operator reads its terms.
      const show = () => page.map.setHighlight([c.cell]);
      const hide = () => page.map.setHighlight([]);
      block.addEventListener("mouseenter", show);
      block.addEventListener("mouseleave", hide);
      block.addEventListener("focusin", show);
      block.addEventListener("focusout", (e) => { if (!block.contains(e.relatedTarget)) hide(); });
      return block;
    }), ...(cells.length > shown.length ? [el("p", { class: "none", text: `and ${cells.length - shown.length} more hotspots with rising terms` })] : []));
    if (focused) panel.querySelector(`.term-button[data-key="${CSS.escape(focused)}"]`)?.focus();
  }

  return {
    elements: [panel],
    subscriptions: () => [{ channel: "trends" }],
    on: {
      "trends.snapshot": render,
      "trends.update": render,
    },
  };
}
