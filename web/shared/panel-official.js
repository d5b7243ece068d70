// Official alerts taken in from the authorities' CAP feeds (--cap-feed):
// who published each, its headline, severity, area and expiry, read every
// 30 s. "Show on map" outlines its area; "Relay to public" sends it as a
// public broadcast, after a confirmation that says what will be sent.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";

const REFRESH_MS = 30000;

/** The feed's host, the readable part of its URL. */
function sourceName(source) {
  try { return new URL(source).host; } catch { return String(source); }
}

export function officialPanel(page) {
  let alerts = [];
  let confirming = null;
  let shown = null;
  let timer = null;
  const status = el("p", { id: "official-status", class: "preview", "aria-live": "polite" });
  const list = el("div", { id: "official-list" }, el("p", { class: "none", text: "No official alerts." }));
  const panel = section("Official alerts", "official", list, status);

  async function relay(a) {
    confirming = null;
    status.textContent = "Relaying…";
    try {
      const resp = await fetch(`/api/v1/official-alerts/${encodeURIComponent(a.id)}/relay`, {
        method: "POST", headers: { Authorization: `Bearer ${page.token()}` },
      });
      const answer = await resp.json();
      const earlier = resp.headers.get("Idempotent-Replayed") === "true";
      status.textContent = !resp.ok ? `Not relayed: ${answer.error.message}`
        : earlier ? `Already relayed to the public as broadcast ${answer.broadcast.id}: it is not sent twice.`
        : `Relayed to the public as broadcast ${answer.broadcast.id}.`;
    } catch {
      status.textContent = "Not relayed: the server could not be reached.";
    }
    render();
  }

  function card(a) {
    const expires = a.expires ? new Date(a.expires) : null;
    const actions = confirming === a.id
      ? [el("span", { class: "confirm", text: "Send this to the public now?" }),
        el("button", { class: "danger", text: "Yes, relay", onclick: () => relay(a) }),
        el("button", { text: "Cancel", onclick: () => { confirming = null; render(); } })]
      : [el("button", { text: shown === a.id ? "Hide from map" : "Show on map", "aria-pressed": String(shown === a.id),
          ...(a.area ? {} : { disabled: "" }), onclick: () => toggleMap(a) }),
        // A drill, test or restricted alert is shown but not offered to the public.
        ...(a.status === "Actual" && a.scope === "Public"
          ? [el("button", { text: "Relay to public", onclick: () => { confirming = a.id; render(); } })]
          : [el("span", { class: "confirm", text: "Not for the public" })])];
    return el("article", { class: `official-card ${String(a.severity || "Unknown").toLowerCase()}`, "data-id": a.id },
      el("h3", { text: a.headline || a.event || "(no headline)" }),
      el("p", { class: "official-meta", text: [a.status !== "Actual" ? a.status.toUpperCase() : null, a.scope !== "Public" ? a.scope : null,
        a.severity, a.urgency, a.certainty].filter(Boolean).join(" · ") }),
      el("p", { text: `From ${a.sender_name || a.sender} via ${sourceName(a.source)}` }),
      el("p", { text: `Area: ${a.area_description || "not described"}${a.area ? "" : " (by code only: not on the map)"}` }),
      el("p", {}, "Expires ", expires ? el("time", { datetime: a.expires, text: expires.toLocaleString() }) : "never stated"),
      el("div", { class: "actions" }, ...actions));
  }

  async function toggleMap(a) {
    shown = shown === a.id ? null : a.id;
    render();
    await page.map.showOfficialArea(shown ? a.area : null);
  }

  function render() {
    if (!alerts.length) {
      list.replaceChildren(el("p", { class: "none", text: "No official alerts." }));
      return;
    }
    list.replaceChildren(...alerts.map(card));
  }

  async function load() {
    try {
      const answer = await getJson("/api/v1/official-alerts", page.token());
      alerts = answer.official_alerts;
      if (shown && !alerts.some((a) => a.id === shown)) { shown = null; page.map.showOfficialArea(null); }
      render();
    } catch { /* the connection state says why */ }
  }

  return {
    elements: [panel],
    started() {
      load();
      timer ??= setInterval(load, REFRESH_MS);
    },
  };
}
