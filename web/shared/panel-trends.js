// What the crowd is saying (DESIGN §10): the rising terms per named zone
// and per hotspot cell, live from the trends channel. A term shows only
// once k distinct posters used it in that place (the server keeps that
// rule; the panel says it when nothing passes it). A term opens the posts
// behind it, so that an operator reads what was said rather than a word.

import { cellToBoundary } from "/vendor/h3-js/h3-js.es.js";
import { el, section } from "/shared/dom.js";
import { number, words } from "/shared/i18n.js";

const t = words({
  en: {
    heading: "Rising terms",
    waiting: "Waiting for the trends…",
    atHotspots: "At hotspots (where they differ from their zone)",
    new: "▲ new", newWords: "new",
    steady: "= steady", steadyWords: "steady",
    upWords: (f) => `${f} times as many posters as before`,
    downWords: (f) => `falling, ${f} times as many posters as before`,
    posters: (n) => `${number(n)} ${n === 1 ? "poster" : "posters"}`,
    hashtag: "hashtag ",
    termLabel: (term, posters, growth, place) => `${term}: ${posters}, ${growth}. Read its posts${place ? ` at ${place}` : ""}`,
    noteSome: (k, window) => `Terms used by ${k} or more people in one place over the last ${window}, fastest rising first. Select a term to read its posts.`,
    noteNone: (k, window) => `No term yet used by ${k} or more people in one place (over the last ${window ?? "window"}).`,
    hotspot: (place) => `Hotspot: ${place}`,
    unnamed: "an unnamed place",
    moreHotspots: (n) => `and ${n} more hotspots with rising terms`,
  },
  it: {
    heading: "Termini in crescita",
    waiting: "In attesa delle tendenze…",
    atHotspots: "Nei punti caldi (dove differiscono dalla loro zona)",
    new: "▲ nuovo", newWords: "nuovo",
    steady: "= stabile", steadyWords: "stabile",
    upWords: (f) => `${f} volte gli autori di prima`,
    downWords: (f) => `in calo, ${f} volte gli autori di prima`,
    posters: (n) => `${number(n)} ${n === 1 ? "autore" : "autori"}`,
    hashtag: "hashtag ",
    termLabel: (term, posters, growth, place) => `${term}: ${posters}, ${growth}. Leggi i suoi post${place ? ` in ${place}` : ""}`,
    noteSome: (k, window) => `Termini usati da ${k} o più persone nello stesso luogo negli ultimi ${window}, prima quelli che crescono più in fretta. Scegli un termine per leggerne i post.`,
    noteNone: (k, window) => `Ancora nessun termine usato da ${k} o più persone nello stesso luogo (negli ultimi ${window ?? "minuti"}).`,
    hotspot: (place) => `Punto caldo: ${place}`,
    unnamed: "un luogo senza nome",
    moreHotspots: (n) => `e altri ${n} punti caldi con termini in crescita`,
  },
});

/** Hotspot cells listed at most: the wall has other panels to show. */
const CELLS_SHOWN = 8;

/** One decimal below ten ("×1.5", "×3"), whole numbers above ("×17"). */
const factor = (g) => (g >= 10 ? number(Math.round(g)) : number(Math.round(g * 10) / 10, { maximumFractionDigits: 1 }));

/**
 * The growth marker of a term against the window before: "▲ new" when
 * nobody used it then, else the ratio the server ranks by,
 * (contributors + 1) / (before + 1), with its direction in a symbol and a
 * word for screen readers.
 */
export function growthMark({ before, growth }) {
  if (before === 0) return { text: t("new"), words: t("newWords"), kind: "new" };
  if (!Number.isFinite(growth) || growth === 1) return { text: t("steady"), words: t("steadyWords"), kind: "steady" };
  return growth > 1
    ? { text: `▲ ×${factor(growth)}`, words: t("upWords", factor(growth)), kind: "up" }
    : { text: `▼ ×${factor(growth)}`, words: t("downWords", factor(growth)), kind: "down" };
}

/** The [minLon, minLat, maxLon, maxLat] around an H3 cell, as `GET /api/v1/posts?bbox=` takes it. */
export function cellBbox(cell) {
  const ring = cellToBoundary(cell, true);
  const lons = ring.map((p) => p[0]), lats = ring.map((p) => p[1]);
  return [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
}

const posters = (n) => t("posters", n);

/**
 * The trends panel; `openPosts({zone, bbox, place, term})` shows the posts
 * behind a term (the posts panel's `open`).
 */
export function trendsPanel(page, { openPosts }) {
  const k = page.event.kAnonymity;
  const note = el("p", { id: "trends-note", class: "none", text: t("waiting") });
  const zoneList = el("div", { id: "trends-zones" });
  const cellHeading = el("h3", { class: "trends-sub", text: t("atHotspots"), hidden: "" });
  const cellList = el("div", { id: "trends-cells" });
  const panel = section(t("heading"), "trends-panel", note, zoneList, cellHeading, cellList);

  function termButton(term, where) {
    const mark = growthMark(term);
    const hashtag = term.term.startsWith("#");
    return el("li", {},
      el("button", {
        type: "button",
        class: "term-button",
        "data-key": `${where.key}|${term.term}`,
        "data-term": term.term,
        "aria-label": `${hashtag ? t("hashtag") : ""}${t("termLabel", term.term, posters(term.contributors), mark.words, where.place)}`,
        onclick: () => openPosts({ zone: where.zone, bbox: where.bbox, place: where.place, term: term.term }),
      },
      el("span", { class: hashtag ? "term hashtag" : "term", text: term.term }),
      el("span", { class: "term-count", text: posters(term.contributors) }),
      el("span", { class: `growth growth-${mark.kind}`, text: mark.text })));
  }

  function place(title, terms, where, attrs) {
    return el("div", { class: "trend-place", ...attrs },
      el("h4", { text: title }),
      el("ul", { class: "terms" }, ...terms.map((term) => termButton(term, where))));
  }

  function render(frame) {
    // Drawn anew on each frame: keep the keyboard on the term it was on.
    const focused = document.activeElement?.closest?.("#trends-panel .term-button")?.dataset.key;
    const zones = (frame.zones ?? []).filter((z) => z.terms?.length);
    // A hotspot whose terms are its zone's own, figure for figure, would only repeat the zone above it.
    const ofZone = new Map(zones.map((z) => [z.zone, JSON.stringify(z.terms)]));
    const cells = (frame.cells ?? []).filter((c) => c.terms?.length && ofZone.get(c.zone) !== JSON.stringify(c.terms));
    note.textContent = zones.length || cells.length
      ? t("noteSome", number(k), frame.window)
      : t("noteNone", number(k), frame.window);
    zoneList.replaceChildren(...zones.map((z) => place(z.name || z.zone, z.terms, { key: `zone:${z.zone}`, zone: z.zone, place: z.name || z.zone }, { "data-zone": z.zone })));
    cellHeading.hidden = !cells.length;
    const shown = cells.slice(0, CELLS_SHOWN);
    cellList.replaceChildren(...shown.map((c) => {
      const block = place(t("hotspot", c.place || t("unnamed")), c.terms, { key: `cell:${c.cell}`, bbox: cellBbox(c.cell), place: c.place }, { "data-cell": c.cell });
      // Where the hotspot is, on the map, while the operator reads its terms.
      const show = () => page.map.setHighlight([c.cell]);
      const hide = () => page.map.setHighlight([]);
      block.addEventListener("mouseenter", show);
      block.addEventListener("mouseleave", hide);
      block.addEventListener("focusin", show);
      block.addEventListener("focusout", (e) => { if (!block.contains(e.relatedTarget)) hide(); });
      return block;
    }), ...(cells.length > shown.length ? [el("p", { class: "none", text: t("moreHotspots", number(cells.length - shown.length)) })] : []));
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
