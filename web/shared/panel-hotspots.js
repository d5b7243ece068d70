// The busiest cells beside the map, with the legend of its colours; a click
// (or Enter on a focused row) flies the map there. Responders read cells
// named by the zone around them, with figures; the public reads only the
// legend here, and places in words in the places panel (DESIGN §9).

import { cellArea, cellToLatLng } from "/vendor/h3-js/h3-js.es.js";
import { el, section } from "/shared/dom.js";
import { number, words } from "/shared/i18n.js";
import { contains } from "/shared/map.js";
import { announceSelection, redrawRows, zoneAt } from "/shared/zones.js";

const t = words({
  en: {
    heading: "Hotspots",
    zone: "zone", posts: "posts", posters: "posters", perKm2: "/km²",
    postsPerKm2: " posts/km²",
    outside: "outside the zones",
    row: (name, posts, posters, density) => `${name}: ${posts} ${posts === "1" ? "post" : "posts"}, ${posters} ${posters === "1" ? "poster" : "posters"}, ${density} per km²`,
    peopleInDensest: (perM2) => `≈ ${perM2} people/m² in the densest cell, from calibrated people per poster`,
  },
  it: {
    heading: "Punti caldi",
    zone: "zona", posts: "post", posters: "autori", perKm2: "/km²",
    postsPerKm2: " post/km²",
    outside: "fuori dalle zone",
    row: (name, posts, posters, density) => `${name}: ${posts} post, ${posters} ${posters === "1" ? "autore" : "autori"}, ${density} per km²`,
    peopleInDensest: (perM2) => `≈ ${perM2} persone/m² nella cella più densa, dalle persone per autore calibrate`,
  },
});

// A tenth of a post per km² tells something only where there are few; a wall's
// narrow column has no room for "1,363.6" at 86 px, and the tenth adds nothing there.
const densityFigure = (density) => number(density, { maximumFractionDigits: density < 10 ? 1 : 0 });

const table = (headings, body) => el("table", {}, el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { text: h })))), body);

/**
 * The responders' busiest cells by posts, named by the smallest zone around
 * them (the server's `zone` when it names one, else the page's own look at
 * the zones' shapes), with posters and density. `watch` (the zones' status)
 * gives the legend its people per m² where the model is calibrated.
 *
 * A row is chosen by a click, or by Enter or Space when it has the focus:
 * the map flies to the cell and the page hears `campanile:select`.
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
    densest.textContent = number(Math.round(max));
    const perM2 = peopleInDensest();
    people.textContent = perM2 === null ? "" : t("peopleInDensest", number(perM2, { minimumFractionDigits: 1, maximumFractionDigits: 1 }));
  }

  function choose(cell, name) {
    page.map.flyToCell(cell);
    const [lat, lon] = cellToLatLng(cell);
    announceSelection({ kind: "hotspot", id: cell, name, lat, lon });
  }

  function row(c, name, figures) {
    return el("tr", {
      class: "hot", tabindex: "0", role: "row", "data-cell": c.cell, "aria-label": t("row", name, ...figures),
      onclick: () => choose(c.cell, name),
      onkeydown: (e) => {
        if (e.target !== e.currentTarget || (e.key !== "Enter" && e.key !== " ")) return;
        e.preventDefault(); // Space would scroll the side bar
        choose(c.cell, name);
      },
    },
    el("td", { text: name }),
    ...figures.map((v) => el("td", { text: v })));
  }

  return {
    elements: [
      el("div", { class: "legend" }, `${number(0)} `, el("span", { class: "bar" }), densest, t("postsPerKm2")),
      people,
      section(t("heading"), "hotspot-panel", table([t("zone"), t("posts"), t("posters"), t("perKm2")], rows)),
    ],
    zones(features) {
      areas = features.filter((f) => ["Polygon", "MultiPolygon"].includes(f.geometry?.type));
      names = new Map(features.map((f) => [f.properties.id, f.properties.name]));
    },
    heat(cells) {
      shown = [...cells].sort((a, b) => b.count - a.count).slice(0, 10);
      // Redrawn row by row, and not at all when no figure changed: the keyboard stays on its row.
      redrawRows(rows, shown.map((c) => {
        const name = names.get(zoneOf(c)) ?? t("outside");
        const figures = [number(c.count), number(c.contributors), densityFigure(c.density_km2)];
        return { key: c.cell, sig: JSON.stringify([name, figures]), build: () => row(c, name, figures) };
      }));
      page.header.showResolution(page.resolution());
    },
    densest: showLegend,
  };
}
