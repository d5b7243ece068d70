// The busiest cells beside the map, with the legend of its colours; a click
// (or Enter on a focused row) flies the map there. Responders read cells
// named by the zone around them, with figures; the public reads only the
// legend here, and places in words in the places panel (DESIGN §9).

import { cellArea, cellToLatLng } from "/vendor/h3-js/h3-js.es.js";
import { el, section } from "/shared/dom.js";
import { contains } from "/shared/map.js";
import { zoneAt } from "/shared/zones.js";

const table = (headings, body) => el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h })))), body);

/** The legend of the public heat's colours, in words. */
export function publicHeatLegend() {
  return { elements: [el("div", { class: "legend", "aria-label": "map colours, from quiet to packed" }, "quiet ", el("span", { class: "bar" }), " packed")] };
}

/**
 * The responders' busiest cells by posts, named by the smallest zone around
 * them (the server's \`zone\` when it names one, else the page's own look at
 * the zones' shapes), with posters and density. \`watch\` (the zones' status)
 * gives the legend its people per m² where the model is calibrated.
 */
export function responderHotspots(page, watch) {
  const rows = el("tbody", { id: "hotspots" });
  const densest = el("span", { id: "max", text: "–" });
  const people = el("p", { id: "max-people", class: "legend-people", text: "" });
  let areas = [];
  let names = new Map();
  let shown = [];

  /** The zone id of a cell: the server's word first. */
  function zoneOf(c) {
    if (typeof c.zone === "string") return c.zone;
    const [lat, lng] = cellToLatLng(c.cell);
    return zoneAt(areas, [lng, lat], contains)?.properties.id ?? null;
  }

  /**
   * People per m² in the densest cell, by calibrated people per poster: its
   * zone's, else (a cell outside every calibrated zone) that of the
   * calibrated zone with the most posters; null while nothing is calibrated.
   */
  function peopleInDensest() {
    const top = shown[0];
    if (!top) return null;
    const calibrated = (z) => z?.people?.calibrated && z.contributors > 0;
    const own = watch.get(zoneOf(top));
    const z = calibrated(own) ? own : watch.all().filter(calibrated).sort((a, b) => b.contributors - a.contributors)[0];
    if (!z) return null;
    return (top.contributors * (z.people.estimate / z.contributors)) / cellArea(top.cell, "m2");
  }

  function showLegend(max) {
    densest.textContent = Math.round(max);
    const perM2 = peopleInDensest();
    people.textContent = perM2 === null ? "" : `≈ ${perM2.toFixed(1)} people/m² in the densest cell, from calibrated people per poster`;
  }

  return {
    elements: [
      el("div", { class: "legend" }, "0 ", el("span", { class: "bar" }), densest, " posts/km²"),
      people,
      section("Hotspots", "hotspot-panel", table(["zone", "posts", "posters", "/km²"], rows)),
    ],
    zones(features) {
      areas = features.filter((f) => ["Polygon", "MultiPolygon"].includes(f.geometry?.type));
      names = new Map(features.map((f) => [f.properties.id, f.properties.name]));
    },
    heat(cells) {
      const focused = document.activeElement?.closest?.("#hotspots tr")?.dataset.cell;
      shown = [...cells].sort((a, b) => b.count - a.count).slice(0, 10);
      rows.replaceChildren(...shown.map((c) => {
        const zone = zoneOf(c);
        return el("tr", { class: "hot", tabindex: "0", "data-cell": c.cell, onclick: () => page.map.flyToCell(c.cell),
          onkeydown: (e) => { if (e.key === "Enter") page.map.flyToCell(c.cell); } },
        el("td", { text: names.get(zone) ?? "outside the zones" }),
        ...[c.count, c.contributors, c.density_km2.toFixed(1)].map((v) => el("td", { text: String(v) })));
      }));
      if (focused) rows.querySelector(`tr[data-cell="${CSS.escape(focused)}"]`)?.focus();
      page.header.showResolution(page.resolution());
    },
    densest: showLegend,
  };
}
