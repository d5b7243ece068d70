// The busiest cells beside the map, with the legend of its colours; a click
// (or Enter on a focused row) flies the map there. The public reads places
// and words (DESIGN §9: never counts); responders read cells and figures.

import { cellCentre, contains } from "/shared/map.js";
import { el, section } from "/shared/dom.js";

// The public's levels in words, with a shape beside the colour so that no
// one needs to tell colours apart (WCAG 1.4.1).
const LEVEL_WORDS = ["", "quiet", "moderate", "busy", "very busy", "packed"];
const levelMeter = (level) => "▮".repeat(level) + "▯".repeat(5 - level);

const table = (headings, body) => el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h })))), body);

/** The public's busiest areas, named by the smallest zone around them, busy in words. */
export function publicHotspots(page) {
  const rows = el("tbody", { id: "hotspots" });
  let zoneShapes = [];
  /** The name of the smallest zone around a cell, for people who read places, not cell ids. */
  function placeOf(cell) {
    const point = cellCentre(cell);
    const around = zoneShapes.filter((z) => contains(z.geometry, point));
    around.sort((a, b) => (a.properties.kind === "perimeter") - (b.properties.kind === "perimeter"));
    return around[0]?.properties.name || "elsewhere in the area";
  }
  return {
    elements: [
      el("div", { class: "legend", "aria-label": "how busy, from quiet to packed" }, "quiet ", el("span", { class: "bar" }), " packed"),
      section("Busiest areas now", "hotspot-panel", table(["where", "how busy"], rows),
        el("p", { class: "none", id: "hotspots-note", text: "Only areas where many different people are posting are shown." })),
    ],
    zones(features) {
      zoneShapes = features.filter((z) => ["Polygon", "MultiPolygon"].includes(z.geometry?.type));
    },
    heat(cells) {
      const top = [...cells].sort((a, b) => b.level - a.level).slice(0, 10);
      rows.replaceChildren(...top.map((c) => el("tr", { class: "hot", tabindex: "0", onclick: () => page.map.flyToCell(c.cell) },
        el("td", { text: placeOf(c.cell) }),
        el("td", { class: `level level-${c.level}` }, el("span", { class: "meter", "aria-hidden": "true", text: levelMeter(c.level) }), ` ${LEVEL_WORDS[c.level]}`))));
    },
  };
}

/** The responders' busiest cells by items, with posters and density, and the resolution read. */
export function responderHotspots(page) {
  const rows = el("tbody", { id: "hotspots" });
  const densest = el("span", { id: "max", text: "–" });
  return {
    elements: [
      el("div", { class: "legend" }, "0 ", el("span", { class: "bar" }), densest, " items/km²"),
      section("Hotspots", "hotspot-panel", table(["area", "items", "posters", "/km²"], rows)),
    ],
    heat(cells) {
      const top = [...cells].sort((a, b) => b.count - a.count).slice(0, 10);
      rows.replaceChildren(...top.map((c) => el("tr", { class: "hot", tabindex: "0", onclick: () => page.map.flyToCell(c.cell) },
        ...[c.cell.slice(0, 9) + "…", c.count, c.contributors, c.density_km2.toFixed(1)].map((v) => el("td", { text: String(v) })))));
      page.header.showResolution(page.resolution());
    },
    densest(max) {
      densest.textContent = Math.round(max);
    },
  };
}
