// Reports from the public and from commanders: what is happening (the
// event's report categories), a note and, in the street, a crowd estimate.
// Reports wait in a queue on the device, so that a report made while the
// network is down is sent when it returns (the tablet on flaky 4G).
//
// A report is placed where the reader says: their device's position, or a
// point they tap on the map, shown in words beside the button and as a
// marker on the map. Without either nothing is sent: a report placed
// anywhere else (the map's centre, as it once was) would send help to the
// wrong street.

import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";
import { el, section } from "/shared/dom.js";
import { words, number } from "/shared/i18n.js";

// Words people recognise for the categories this page knows; the event may
// name others, which are shown readably rather than left out.
const CATEGORIES = {
  en: { crowd: "Too crowded", medical: "Someone needs medical help", fire: "Fire or smoke",
    violence: "Violence", missing_person: "Missing person", suspicious_item: "Suspicious item",
    infrastructure: "Broken barrier, light or exit", rumour: "A rumour I heard", other: "Something else" },
  it: { crowd: "Troppa folla", medical: "Qualcuno ha bisogno di soccorso", fire: "Fuoco o fumo",
    violence: "Violenza", missing_person: "Persona scomparsa", suspicious_item: "Oggetto sospetto",
    infrastructure: "Transenna, luce o uscita guasta", rumour: "Una voce che ho sentito", other: "Altro" },
};
const category$ = words(CATEGORIES);

/** A report category in words: "missing_person" → "Missing person" when the page has no better label. */
export function categoryLabel(category) {
  if (Object.hasOwn(CATEGORIES.en, category)) return category$(category);
  const spaced = String(category).replace(/[_-]+/g, " ").trim();
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

const QUEUE_KEY = "campanile.reportQueue";
const RETRY_MS = 10000;
const queued = () => JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
const saveQueue = (q) => localStorage.setItem(QUEUE_KEY, JSON.stringify(q));

// What the form says: where the report goes, its fields, what became of it.
const t = words({
  en: {
    none: "No location yet.",
    ask: "Tap the map where it is happening, or Use my location.",
    gps: (metres) => `Location: your position (±${number(metres)} m).`,
    gpsHint: "Tap the map to choose another point.",
    tapped: "Location: the point you tapped on the map.",
    finding: "Finding your position…",
    refused: "Your position is not shared with this page: tap the map where it is happening.",
    unknown: "Your position is not known: tap the map where it is happening, or try again.",
    unsupported: "This browser gives no position: tap the map where it is happening.",
    useMine: "Use my location",
    blocked: "Not sent: choose where it is happening first. Tap the map, or Use my location.",
    elsewhere: "No location yet: tap the map, or Use my location in the report form.",
    markerGps: "You",
    markerTapped: "Tapped point",
    what: "What is happening", whatLabel: "what is happening", crowd: "Crowd estimate (people)",
    received: (state) => `Report received (${state}).`, refusedReport: (why) => `Report refused: ${why}`,
    waiting: (n) => `${n} report${n > 1 ? "s" : ""} waiting for the network; sent automatically.`,
    unverified: "unverified", verified: "verified", dismissed: "dismissed", false: "false",
  },
  it: {
    none: "Nessun luogo ancora.",
    ask: "Tocca la mappa dove sta succedendo, oppure Usa la mia posizione.",
    gps: (metres) => `Luogo: la tua posizione (±${number(metres)} m).`,
    gpsHint: "Tocca la mappa per scegliere un altro punto.",
    tapped: "Luogo: il punto che hai toccato sulla mappa.",
    finding: "Ricerca della posizione…",
    refused: "La tua posizione non è condivisa con questa pagina: tocca la mappa dove sta succedendo.",
    unknown: "La tua posizione non è nota: tocca la mappa dove sta succedendo, o riprova.",
    unsupported: "Questo browser non dà la posizione: tocca la mappa dove sta succedendo.",
    useMine: "Usa la mia posizione",
    blocked: "Non inviata: scegli prima dove sta succedendo. Tocca la mappa, oppure Usa la mia posizione.",
    elsewhere: "Nessun luogo ancora: tocca la mappa, oppure Usa la mia posizione nel modulo di segnalazione.",
    markerGps: "Tu",
    markerTapped: "Punto scelto",
    what: "Cosa sta succedendo", whatLabel: "cosa sta succedendo", crowd: "Stima della folla (persone)",
    received: (state) => `Segnalazione ricevuta (${state}).`, refusedReport: (why) => `Segnalazione rifiutata: ${why}`,
    waiting: (n) => (n > 1 ? `${n} segnalazioni in attesa della rete; partiranno da sole.` : "1 segnalazione in attesa della rete; partirà da sola."),
    unverified: "da verificare", verified: "verificata", dismissed: "scartata", false: "falsa",
  },
});
const WHERE_KEYS = ["none", "ask", "gps", "gpsHint", "tapped", "finding", "refused", "unknown", "unsupported", "useMine", "blocked", "elsewhere", "markerGps", "markerTapped"];
const WHERE = Object.fromEntries(WHERE_KEYS.map((key) => [key, key === "gps" ? (m) => t("gps", m) : t(key)]));
/** A report's state as the server names it, in the page's language. */
const stateWord = (state) => (["unverified", "verified", "dismissed", "false"].includes(state) ? t(state) : state);

/**
 * The device's position as the browser gives it ({lat, lon, accuracy} in
 * degrees and metres, or null), kept fresh while the page is open. The
 * tablet's own zone and its reports read the same one. `ask()` asks again
 * (the reader pressed a button) and rejects with the reason it failed.
 */
export function watchDevice() {
  const supported = "geolocation" in navigator;
  const listeners = new Set();
  let latest = null;
  const take = (p) => {
    latest = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy };
    listeners.forEach((f) => f());
  };
  if (supported) navigator.geolocation.watchPosition(take, () => {}, { enableHighAccuracy: true, maximumAge: 30000 });
  return {
    latest: () => latest,
    onChange: (f) => listeners.add(f),
    ask: () => new Promise((resolve, reject) => {
      if (!supported) { reject(new Error("unsupported")); return; }
      navigator.geolocation.getCurrentPosition((p) => { take(p); resolve(latest); },
        (e) => reject(new Error(e.code === e.PERMISSION_DENIED ? "refused" : "unknown")),
        { enableHighAccuracy: true, maximumAge: 30000, timeout: 10000 });
    }),
  };
}

/** A marker for where the report will be placed: a dot with a caption, drawn over the map. */
function locationMarker(page) {
  const caption = el("span", { class: "position-caption" });
  // The form says the same in words, beside its button: the marker is for the eye.
  const node = el("div", { class: "position-marker", "aria-hidden": "true" }, caption);
  let marker = null;
  return {
    /** At `at` ({lat, lon}), of `kind` ("gps" or "tapped"); null takes it away. */
    show(at, kind) {
      if (!at) {
        marker?.remove();
        marker = null;
        return;
      }
      node.classList.toggle("gps", kind === "gps");
      node.classList.toggle("tapped", kind === "tapped");
      caption.textContent = kind === "gps" ? WHERE.markerGps : WHERE.markerTapped;
      node.dataset.lat = String(at.lat);
      node.dataset.lon = String(at.lon);
      if (!marker) marker = new maplibregl.Marker({ element: node, anchor: "center" }).setLngLat([at.lon, at.lat]).addTo(page.map.map);
      else marker.setLngLat([at.lon, at.lat]);
    },
  };
}

/**
 * `wording` names the form, its note and its button for its readers;
 * `crowdEstimate` adds the number of people seen; `device` is the device's
 * position (watchDevice), which the report uses until the reader taps the map;
 * `onLocated({lat, lon})` hears where the reader is when they press "Use my location".
 */
export function reportFormPanel(page, { wording, crowdEstimate = false, device = watchDevice(), onLocated = () => {} }) {
  const category = el("select", { id: "r-category", "aria-label": t("whatLabel") },
    ...page.event.reportCategories.map((v) => el("option", { value: v, text: categoryLabel(v) })));
  const crowd = el("input", { id: "r-crowd", type: "number", min: "0", inputmode: "numeric" });
  const note = el("textarea", { id: "r-text", rows: "2", maxlength: "2000" });
  const status = el("p", { id: "r-status", class: "preview", "aria-live": "polite" });
  // Not a live region: a moving device redraws it; the button names it, and a refused send says it aloud.
  const whereLine = el("p", { id: "r-where", class: "location-line" });
  const useMine = el("button", { type: "button", id: "r-use-mine", class: "use-location", text: WHERE.useMine });
  const sendButton = el("button", { type: "submit", class: "send-report", text: wording.send, "aria-describedby": "r-where" });
  const form = el("form", { id: "report-form" },
    el("label", { class: "field" }, el("span", { text: t("what") }), category),
    ...(crowdEstimate ? [el("label", { class: "field" }, el("span", { text: t("crowd") }), crowd)] : []),
    el("label", { class: "field" }, el("span", { text: wording.note }), note),
    el("div", { class: "location" }, whereLine, useMine),
    sendButton,
    status);

  // Where the report goes: the device's position ("gps") or the point tapped
  // ("tapped"); null until the reader has one. The latest choice wins: a
  // tap after a position is a point the reader means.
  let chosen = null;
  let tapped = null;
  let problem = null;
  const marker = locationMarker(page);
  const others = [];

  /** Where a report made now is placed ({lat, lon}), or null when the reader has not said. */
  function here() {
    const at = chosen === "gps" ? device.latest() : chosen === "tapped" ? tapped : null;
    return at ? { lat: at.lat, lon: at.lon } : null;
  }

  /** Where the report goes, in words: "Location: …" or "No location yet." */
  function described() {
    if (chosen === "gps") return WHERE.gps(Math.max(1, Math.round(device.latest().accuracy || 0)));
    return chosen === "tapped" ? WHERE.tapped : WHERE.none;
  }

  /** The form's words, its buttons, the marker and the other forms' lines, from the choice. */
  function show() {
    const at = here();
    const hint = problem ?? (chosen === "gps" ? WHERE.gpsHint : chosen === "tapped" ? "" : WHERE.ask);
    whereLine.textContent = [described(), hint].filter(Boolean).join(" ");
    whereLine.classList.toggle("missing", !at);
    useMine.hidden = chosen === "gps";
    sendButton.disabled = !at;
    for (const other of others) {
      other.line.textContent = at ? described() : WHERE.elsewhere;
      other.line.classList.toggle("missing", !at);
      other.button.disabled = !at;
    }
    marker.show(at, chosen);
  }

  device.onChange(() => {
    if (!chosen) { chosen = "gps"; problem = null; }
    show();
  });
  page.map.on("click", (e) => {
    tapped = { lat: e.lngLat.lat, lon: e.lngLat.lng };
    chosen = "tapped";
    problem = null;
    if (status.textContent === WHERE.blocked) status.textContent = "";
    show();
  });
  useMine.addEventListener("click", async () => {
    problem = WHERE.finding;
    show();
    try {
      const at = await device.ask();
      chosen = "gps";
      problem = null;
      onLocated({ lat: at.lat, lon: at.lon });
      if (status.textContent === WHERE.blocked) status.textContent = "";
    } catch (e) {
      problem = WHERE[e.message] ?? WHERE.unknown;
    }
    show();
  });

  let flushing = null;
  // One flush at a time: the "online" event, the timer and a new report may all
  // ask at once, and each report must be sent once.
  function flush() {
    flushing ??= sendQueued().finally(() => { flushing = null; });
    return flushing;
  }

  async function sendQueued() {
    let queue = queued();
    while (queue.length) {
      try {
        const token = page.token();
        const resp = await fetch("/api/v1/reports", {
          method: "POST",
          headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(queue[0]),
        });
        if (resp.status >= 500 || resp.status === 429) throw new Error(`HTTP ${resp.status}`);
        const answer = await resp.json();
        queue.shift();
        saveQueue(queue);
        status.textContent = resp.ok ? t("received", stateWord(answer.status)) : t("refusedReport", answer.error.message);
      } catch {
        status.textContent = t("waiting", queue.length);
        return;
      }
      queue = queued();
    }
  }

  /** Queues `report` (with its position) and sends what is queued. */
  function send(report) {
    saveQueue([...queued(), report]);
    flush();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const at = here();
    if (!at) {
      status.textContent = WHERE.blocked;
      return;
    }
    const report = { lat: at.lat, lon: at.lon, category: category.value };
    if (note.value.trim()) report.text = note.value.trim();
    if (crowdEstimate && crowd.value) report.crowd_estimate = Number(crowd.value);
    note.value = "";
    send(report);
  });
  window.addEventListener("online", flush);
  setInterval(() => { if (queued().length) flush(); }, RETRY_MS);
  flush();
  show();

  /**
   * Holds `other`, a form that sends through this queue (the METHANE form),
   * to the same location: a line above its button says where, and the
   * button waits for a location as this form's does.
   */
  function requireLocation(other) {
    const button = other.querySelector("button[type=submit]");
    const line = el("p", { id: `${other.id}-where`, class: "location-line" });
    button.before(line);
    button.setAttribute("aria-describedby", line.id);
    // Before the form's own handler: a form sent without its button (Enter in a field) is held too.
    other.addEventListener("submit", (e) => {
      if (here()) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      line.textContent = WHERE.blocked;
    }, true);
    others.push({ line, button });
    show();
  }

  return { elements: [section(wording.title, "report", form)], send, here, status, requireLocation };
}
