// The operators' alerts from the alerts channel, newest first (the last
// twenty): surges and densities over the limit in a cell, a zone's level
// rising or its forecast reaching serious, and coordinated posting (a card
// of its own, with the decision to discount it). Each names its place when
// the server names one; a click flies the map to the cell or frames the zone.
//
// A card is the same node for as long as its alert is kept, and a redraw
// moves only what moved: a new alert arriving leaves the focus where the
// operator had it.

import { el, section } from "/shared/dom.js";
import { clock, number, words } from "/shared/i18n.js";
import { levelWord, peopleWithInterval } from "/shared/zones.js";
import { coordinationCards } from "/shared/panel-coordination.js";

const KEPT = 20;

// Every word the panel shows, in one place for translation.
export const WORDS = {
  en: {
    title: "Alerts",
    none: "No alerts.",
    surge: "Surge",
    density: "Density over the limit",
    posts: (place, count, density, baseline) =>
      `${place ? ` at ${place}:` : ""} ${count} posts in the last minute (${density}/km²)${baseline ? `, ${baseline}/min before` : ""}`,
    people: (people) => `${people} people`,
    capacity: (percent) => `${percent}\u00a0% of capacity`,
    aZone: "A zone",
    levelRaised: "level raised",
    forecast: (where, minutes) => `${where}: serious${minutes === null ? " soon" : ` in about ${minutes} min`} at this rate`,
    now: (level, figures) => ` now ${level}, ${figures}`,
    alert: "Alert",
    at: (place) => ` at ${place}`,
  },
  it: {
    title: "Allarmi",
    none: "Nessun allarme.",
    surge: "Picco improvviso",
    density: "Densità oltre il limite",
    posts: (place, count, density, baseline) =>
      `${place ? ` a ${place}:` : ""} ${count} post nell'ultimo minuto (${density}/km²)${baseline ? `, prima ${baseline}/min` : ""}`,
    people: (people) => `${people} persone`,
    capacity: (percent) => `${percent}\u00a0% della capienza`,
    aZone: "Una zona",
    levelRaised: "livello alzato",
    forecast: (where, minutes) => `${where}: grave${minutes === null ? " a breve" : ` tra circa ${minutes} min`} a questo ritmo`,
    now: (level, figures) => ` ora ${level}, ${figures}`,
    alert: "Allarme",
    at: (place) => ` a ${place}`,
  },
};
const t = words(WORDS);


/** A zone alert's figures: people with their interval, density, share of capacity. */
function zoneFigures(a) {
  return [a.people && Number.isFinite(a.people.estimate) ? t("people", peopleWithInterval(a.people)) : "",
    Number.isFinite(a.density_m2) ? `${number(a.density_m2, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}\u00a0/m²` : "",
    Number.isFinite(a.utilisation) ? t("capacity", number(Math.round(a.utilisation * 100))) : ""].filter(Boolean).join(" · ");
}

/** What the alert says, in a line, by its kind; kinds this page does not know still show their place. */
function describe(a) {
  const place = typeof a.place === "string" && a.place ? a.place : null;
  switch (a.kind) {
    case "surge":
    case "density":
    case "threshold":
      return [a.kind === "surge" ? t("surge") : t("density"),
        t("posts", place, number(a.count), number(Math.round(a.density_km2)),
          Number.isFinite(a.baseline_per_min) ? number(a.baseline_per_min, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : null)];
    case "zone_level":
      return [`${place ?? a.zone ?? t("aZone")}: ${a.level ? levelWord(a.level) : t("levelRaised")}`, ` ${zoneFigures(a)}`];
    case "zone_forecast":
      return [t("forecast", place ?? a.zone ?? t("aZone"), Number.isFinite(a.minutes_to_serious) ? number(Math.round(a.minutes_to_serious)) : null),
        t("now", a.level ? levelWord(a.level) : "", zoneFigures(a))];
    default:
      return [String(a.kind ?? t("alert")), place ? t("at", place) : ""];
  }
}

export function alertsPanel(page) {
  const alerts = [];
  let shapes = new Map();
  const noneLine = el("p", { class: "none", text: t("none") });
  const panel = section(t("title"), "alerts", noneLine);
  const list = panel.querySelector("#alerts");
  const coordination = coordinationCards(page);
  // Each alert's card, kept while its alert is: id → { alert, node }.
  const cards = new Map();
  function show(a) {
    if (a.cell) page.map.flyToCell(a.cell);
    else if (shapes.has(a.zone)) page.map.fitZone(shapes.get(a.zone));
  }
  function card(a) {
    if (a.kind === "coordination") return coordination.card(a);
    const held = cards.get(a.id);
    if (held?.alert === a) return held.node;
    const [title, line] = describe(a);
    const node = el("article", { class: `alert-card ${a.kind}`, tabindex: "0", "data-id": a.id ?? "", onclick: () => show(a), onkeydown: (e) => { if (e.key === "Enter") show(a); } },
      el("strong", { text: title }),
      el("span", { text: line }),
      el("time", { datetime: a.raised_at, text: ` ${clock(a.raised_at, { seconds: true })}` }));
    if (a.id) cards.set(a.id, { alert: a, node });
    return node;
  }
  function render() {
    coordination.keep(alerts);
    const focused = document.activeElement;
    const focusedId = list.contains(focused) ? focused.closest("[data-id]")?.dataset.id : null;
    const shown = alerts.length ? alerts.map(card) : [noneLine];
    const ids = new Set(alerts.map((a) => a.id));
    for (const id of [...cards.keys()]) if (!ids.has(id)) cards.delete(id);
    // Only what moved is moved: a node taken out of the page loses the focus.
    shown.forEach((node, i) => { if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null); });
    while (list.children.length > shown.length) list.lastElementChild.remove();
    if (focused === document.activeElement || !focusedId) return;
    // The focused card was drawn again (its alert came again): the same place in the new one.
    if (focused?.isConnected && list.contains(focused)) focused.focus({ preventScroll: true });
    else list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
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
        // An alert sent again (the history the channel starts with, after a reconnection) takes its old place.
        const known = msg.id ? alerts.findIndex((a) => a.id === msg.id) : -1;
        if (known >= 0) alerts[known] = msg;
        else alerts.unshift(msg);
        alerts.length = Math.min(alerts.length, KEPT);
        render();
      },
    },
  };
}
