// The operators' surge and density alerts from the alerts channel, newest
// first (the last twenty); a click flies the map to the cell.

import { el, section } from "/shared/dom.js";

const KEPT = 20;

export function alertsPanel(page) {
  const alerts = [];
  const panel = section("Surge alerts", "alerts", el("p", { class: "none", text: "No surge alerts." }));
  const list = panel.querySelector("#alerts");
  function render() {
    list.replaceChildren(...alerts.map((a) => el("article", { class: `alert-card ${a.kind}`, tabindex: "0", onclick: () => page.map.flyToCell(a.cell) },
      el("strong", { text: a.kind === "surge" ? "Surge" : "Density over the limit" }),
      el("span", { text: ` ${a.count} items in the last minute (${Math.round(a.density_km2)}/km²), ${a.baseline_per_min.toFixed(1)}/min before` }),
      el("time", { datetime: a.raised_at, text: ` ${new Date(a.raised_at).toLocaleTimeString()}` }))));
  }
  return {
    elements: [panel],
    subscriptions: () => [{ channel: "alerts" }],
    on: {
      alert(msg) {
        alerts.unshift(msg);
        alerts.length = Math.min(alerts.length, KEPT);
        render();
      },
    },
  };
}
