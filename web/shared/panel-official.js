// Official alerts taken in from the authorities' CAP feeds (--cap-feed):
// who published each, its headline, severity, area and expiry, read every
// 30 s. "Show on map" outlines its area; "Relay to public" sends it as a
// public broadcast, after a confirmation that says what will be sent.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { dateTime, words } from "/shared/i18n.js";
import { capWord } from "/shared/cap.js";

const REFRESH_MS = 30000;

// Every word the panel shows, in one place for translation. The alerts'
// own words (headline, sender, area) are the authority's, shown as sent.
export const WORDS = {
  en: {
    title: "Official alerts",
    none: "No official alerts.",
    relaying: "Relaying…",
    notRelayed: (why) => `Not relayed: ${why}`,
    already: (id) => `Already relayed to the public as broadcast ${id}: it is not sent twice.`,
    relayed: (id) => `Relayed to the public as broadcast ${id}.`,
    unreachable: "Not relayed: the server could not be reached.",
    confirm: "Send this to the public now?",
    yes: "Yes, relay",
    cancel: "Cancel",
    hide: "Hide from map",
    show: "Show on map",
    relay: "Relay to public",
    notPublic: "Not for the public",
    noHeadline: "(no headline)",
    from: (who, via) => `From ${who} via ${via}`,
    area: (what, onMap) => `Area: ${what}${onMap ? "" : " (by code only: not on the map)"}`,
    notDescribed: "not described",
    expires: "Expires ",
    never: "never stated",
    Test: "TEST", Exercise: "EXERCISE", System: "SYSTEM", Draft: "DRAFT",
    Restricted: "Restricted", Private: "Private",
  },
  it: {
    title: "Allerte ufficiali",
    none: "Nessuna allerta ufficiale.",
    relaying: "Inoltro in corso…",
    notRelayed: (why) => `Non inoltrata: ${why}`,
    already: (id) => `Già inoltrata al pubblico come messaggio ${id}: non viene inviata due volte.`,
    relayed: (id) => `Inoltrata al pubblico come messaggio ${id}.`,
    unreachable: "Non inoltrata: il server non è raggiungibile.",
    confirm: "La invii al pubblico adesso?",
    yes: "Sì, inoltra",
    cancel: "Annulla",
    hide: "Nascondi dalla mappa",
    show: "Mostra sulla mappa",
    relay: "Inoltra al pubblico",
    notPublic: "Non per il pubblico",
    noHeadline: "(senza titolo)",
    from: (who, via) => `Da ${who} tramite ${via}`,
    area: (what, onMap) => `Area: ${what}${onMap ? "" : " (solo per codice: non sulla mappa)"}`,
    notDescribed: "non descritta",
    expires: "Scade ",
    never: "non indicato",
    Test: "PROVA", Exercise: "ESERCITAZIONE", System: "SISTEMA", Draft: "BOZZA",
    Restricted: "Riservata", Private: "Privata",
  },
};
const t = words(WORDS);

/** A CAP status or scope as the reader reads it (the value itself when this page does not know it). */
const known = (value) => (["Test", "Exercise", "System", "Draft", "Restricted", "Private"].includes(value) ? t(value) : String(value));

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
  const list = el("div", { id: "official-list" }, el("p", { class: "none", text: t("none") }));
  const panel = section(t("title"), "official", list, status);

  async function relay(a) {
    confirming = null;
    status.textContent = t("relaying");
    try {
      const resp = await fetch(`/api/v1/official-alerts/${encodeURIComponent(a.id)}/relay`, {
        method: "POST", headers: { Authorization: `Bearer ${page.token()}` },
      });
      const answer = await resp.json();
      const earlier = resp.headers.get("Idempotent-Replayed") === "true";
      status.textContent = !resp.ok ? t("notRelayed", answer.error.message)
        : earlier ? t("already", answer.broadcast.id)
        : t("relayed", answer.broadcast.id);
    } catch {
      status.textContent = t("unreachable");
    }
    render();
  }

  function card(a) {
    const expires = a.expires ? new Date(a.expires) : null;
    const actions = confirming === a.id
      ? [el("span", { class: "confirm", text: t("confirm") }),
        el("button", { class: "danger", text: t("yes"), onclick: () => relay(a) }),
        el("button", { text: t("cancel"), onclick: () => { confirming = null; render(); } })]
      : [el("button", { text: shown === a.id ? t("hide") : t("show"), "aria-pressed": String(shown === a.id),
          ...(a.area ? {} : { disabled: "" }), onclick: () => toggleMap(a) }),
        // A drill, test or restricted alert is shown but not offered to the public.
        ...(a.status === "Actual" && a.scope === "Public"
          ? [el("button", { text: t("relay"), onclick: () => { confirming = a.id; render(); } })]
          : [el("span", { class: "confirm", text: t("notPublic") })])];
    return el("article", { class: `official-card ${String(a.severity || "Unknown").toLowerCase()}`, "data-id": a.id },
      el("h3", { text: a.headline || a.event || t("noHeadline") }),
      el("p", { class: "official-meta", text: [a.status !== "Actual" ? known(a.status).toUpperCase() : null, a.scope !== "Public" ? known(a.scope) : null,
        capWord(a.severity), capWord(a.urgency), capWord(a.certainty)].filter(Boolean).join(" · ") }),
      el("p", { text: t("from", a.sender_name || a.sender, sourceName(a.source)) }),
      el("p", { text: t("area", a.area_description || t("notDescribed"), Boolean(a.area)) }),
      el("p", {}, t("expires"), expires ? el("time", { datetime: a.expires, text: dateTime(expires) }) : t("never")),
      el("div", { class: "actions" }, ...actions));
  }

  async function toggleMap(a) {
    shown = shown === a.id ? null : a.id;
    render();
    await page.map.showOfficialArea(shown ? a.area : null);
  }

  function render() {
    if (!alerts.length) {
      list.replaceChildren(el("p", { class: "none", text: t("none") }));
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
