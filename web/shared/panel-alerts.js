// The operators' alerts from the alerts channel, newest first (the last
// twenty): surges and densities over the limit in a cell, a zone's level
// rising or its forecast reaching serious, and coordinated posting (a card
// of its own, with the decision to discount it). Each names its place when
// the server names one; a click flies the map to the cell or frames the zone.

import { el, section } from "/shared/dom.js";
import { LEVEL_LABELS, peopleWithInterval } from "/shared/zones.js";
import { coordinationCards } from "/shared/panel-coordination.js";

const KEPT = 20;

/** A zone alert's figures: people with their interval, density, share of capacity. */
function zoneFigures(a) {
  return [a.people && Number.isFinite(a.people.estimate) ? `${peopleWithInterval(a.people)} people` : "",
    Number.isFinite(a.density_m2) ? `${a.density_m2.toFixed(2)}\u00a0/m²` : "",
    Number.isFinite(a.utilisation) ? `${Math.round(a.utilisation * 100)}\u00a0% of capacity` : ""].filter(Boolean).join(" · ");
}

/** What the alert says, in a line, by its kind; kinds this page does not know still show their place. */
function describe(a) {
  const place = typeof a.place === "string" && a.place ? a.place : null;
  switch (a.kind) {
    case "surge":
    case "density":
    case "threshold":
      return [a.kind === "surge" ? "Surge" : "Density over the limit",
        `${place ? ` at ${place}:` : ""} ${a.count} posts in the last minute (${Math.round(a.density_km2)}/km²)${Number.isFinite(a.baseline_per_min) ? `, ${a.baseline_per_min.toFixed(1)}/min before` : ""}`];
    case "zone_level":
      return [`${place ?? a.zone ?? "A zone"}: ${LEVEL_LABELS[a.level] ?? a.level ?? "level raised"}`, ` ${zoneFigures(a)}`];
    case "zone_forecast":
      return [`${place ?? a.zone ?? "A zone"}: serious${Number.isFinite(a.minutes_to_serious) ? ` in about ${Math.round(a.minutes_to_serious)} min` : " soon"} at this rate`,
        ` now ${LEVEL_LABELS[a.level] ?? a.level ?? ""}, ${zoneFigures(a)}`];
    default:
      return [String(a.kind ?? "Alert"), place ? ` at ${place}` : ""];
  }
}

export function alertsPanel(page) {
  const alerts = [];
  let shapes = new Map();
  const panel = section("Alerts", "alerts", el("p", { class: "none", text: "No alerts." }));
  const list = panel.querySelector("#alerts");
  const coordination = coordinationCards(page);
  function show(a) {
    if (a.cell) page.map.flyToCell(a.cell);
    else if (shapes.has(a.zone)) page.map.fitZone(shapes.get(a.zone));
  }
  function render() {
    coordination.keep(alerts);
    // A coordination card is the same node across redraws; moving it drops the focus (a reason being typed): give it back.
    const focused = document.activeElement;
    list.replaceChildren(...alerts.map((a) => {
      if (a.kind === "coordination") return coordination.card(a);
      const [title, line] = describe(a);
      return el("article", { class: `alert-card ${a.kind}`, tabindex: "0", onclick: () => show(a), onkeydown: (e) => { if (e.key === "Enter") show(a); } },
        el("strong", { text: title }),
        el("span", { text: line }),
        el("time", { datetime: a.raised_at, text: ` ${new Date(a.raised_at).toLocaleTimeString()}` }));
    }));
    if (focused !== document.activeElement && focused?.isConnected && list.contains(focused)) focused.focus({ preventScroll: true });
  }
  return {
    elements: [panel],
    subscriptions: () => [{ channel: "alerts" }],
    zones(features) {
      shapes = new Map(features.filter((f) => ["Polygon", "MultiPolygon"].includes(f.geometry?.type)).map((f) => [f.properties.id, f]));
    },
    started: coordination.started,
    tick: coordination.tick,
    on: {
      alert(msg) {
        alerts.unshift(msg);
        alerts.length = Math.min(alerts.length, KEPT);
        render();
      },
    },
  };
}
