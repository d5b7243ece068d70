// The crowd picture per named place on each surface (DESIGN §9 "On the
// pages"): the operators' zones by risk with their figures, the commander's
// own zone with a head-count sent in one tap, and the public's places in
// words, icons and colours, never in numbers.

import { getJson, localised } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { severityWord } from "/shared/cap.js";
import { clock, number, words } from "/shared/i18n.js";
import { centreOf, contains } from "/shared/map.js";
import {
  LEVEL_COLOURS, PUBLIC_COLOURS, announceSelection, byPublicLevel, byRisk, count, inLanguage, levelBadge, levelWord, peopleWithInterval, publicBadge,
  redrawRows, trendMark, zoneAt,
} from "/shared/zones.js";

const t = words({
  en: {
    // The operators' zones.
    zonesHeading: "Zones by risk",
    waitingZones: "Waiting for the zones…",
    scale: (parts) => `Levels in people/m²: ${parts}; a zone is at least caution at 90 % of its capacity and alert at 100 %.`,
    scalePart: (level, from) => `${level} from ${from}`,
    zonesNote: (window) => `People estimated from posters (90 % interval in brackets); posters and posts over the last ${window}.`,
    noZones: "No area zones in this event.",
    mayBe: "may be ",
    untilSerious: (m) => `serious in ${m} min`,
    posters: (n) => `${count(n)} ${n === 1 ? "poster" : "posters"}`,
    posts: (n) => `${count(n)} ${n === 1 ? "post" : "posts"}`,
    people: " people",
    uncalibrated: " (uncalibrated)",
    uncalibratedWhy: "Too few head-counts yet: the estimate uses the default people per poster",
    ofCapacity: (pct) => `${pct}\u00a0% of capacity`,
    noCapacity: "no capacity set",
    // The commander's own zone.
    ownHeading: "Your zone",
    zone: "Zone",
    yourZone: "your zone",
    chooseZone: "Choose your zone…",
    whereIAm: "Where I am (the tablet's position)",
    sendHeadcount: "Send head-count",
    countHere: "People you count here",
    countIn: (name) => `People you count in ${name}`,
    fewer: "100 fewer",
    more: "100 more",
    outsideEvery: "You are outside every zone: choose one.",
    chooseToSee: "Choose your zone to see its level and send a head-count.",
    whereYouAre: "where you are",
    chosen: "chosen",
    waitingFigures: "Waiting for its figures…",
    forecast: (f) => `Forecast: ${f}`,
    quarter: "¼ full", half: "½ full", threeQuarters: "¾ full", full: "Full",
    quickPeople: (label, n) => `${label}: ${n} people`,
    noHeadcounts: "This server does not take head-counts yet.",
    wholeNumber: "Enter a whole number of people, 0 or more.",
    sending: (n, name) => `Sending ${n} for ${name}…`,
    taken: (n, name, time) => `✓ Head-count taken: ${n} people in ${name} at ${time}.`,
    notTaken: (why) => `✗ Not taken: ${why}.`,
    signInAgain: "sign in again",
    tooMany: (s) => `✗ Not taken: too many head-counts; try again in ${s ?? "a few"} s.`,
    answered: (status) => `the server answered ${status}`,
    noNetwork: "✗ Not sent: no network. Tap Send again when it returns.",
    // The public's places.
    placesHeading: "How busy is it now",
    waitingPlaces: "Waiting for the places…",
    fromPosts: "From what people are posting around each place.",
    noPlaces: "No places to show.",
    youAreHere: " · you are here",
    tooFew: "Too few people are posting here to tell.",
  },
  it: {
    zonesHeading: "Rischio per zona",
    waitingZones: "In attesa delle zone…",
    scale: (parts) => `Livelli in persone/m²: ${parts}; una zona è almeno in attenzione al 90 % della capienza e in allerta al 100 %.`,
    scalePart: (level, from) => `${levelWord(level).toLowerCase()} da ${from}`,
    zonesNote: (window) => `Persone stimate dagli autori dei post (intervallo al 90 % tra parentesi); autori e post degli ultimi ${window}.`,
    noZones: "Nessuna zona in questo evento.",
    mayBe: "forse ",
    untilSerious: (m) => `grave tra ${m} min`,
    posters: (n) => `${count(n)} ${n === 1 ? "autore" : "autori"}`,
    posts: (n) => `${count(n)} post`,
    people: " persone",
    uncalibrated: " (non calibrata)",
    uncalibratedWhy: "Ancora pochi conteggi: la stima usa il numero predefinito di persone per autore",
    ofCapacity: (pct) => `${pct}\u00a0% della capienza`,
    noCapacity: "capienza non indicata",
    ownHeading: "La tua zona",
    zone: "Zona",
    yourZone: "la tua zona",
    chooseZone: "Scegli la tua zona…",
    whereIAm: "Dove sono (la posizione del tablet)",
    sendHeadcount: "Invia conteggio",
    countHere: "Persone che conti qui",
    countIn: (name) => `Persone che conti in ${name}`,
    fewer: "100 in meno",
    more: "100 in più",
    outsideEvery: "Sei fuori da ogni zona: scegline una.",
    chooseToSee: "Scegli la tua zona per vederne il livello e inviare un conteggio.",
    whereYouAre: "dove sei",
    chosen: "scelta",
    waitingFigures: "In attesa dei dati…",
    forecast: (f) => `Previsione: ${f}`,
    quarter: "Pieno per ¼", half: "Pieno a metà", threeQuarters: "Pieno per ¾", full: "Pieno",
    quickPeople: (label, n) => `${label}: ${n} persone`,
    noHeadcounts: "Questo server non accetta ancora conteggi.",
    wholeNumber: "Inserisci un numero intero di persone, 0 o più.",
    sending: (n, name) => `Invio di ${n} per ${name}…`,
    taken: (n, name, time) => `✓ Conteggio ricevuto: ${n} persone in ${name} alle ${time}.`,
    notTaken: (why) => `✗ Non ricevuto: ${why}.`,
    signInAgain: "accedi di nuovo",
    tooMany: (s) => `✗ Non ricevuto: troppi conteggi; riprova tra ${s ?? "qualche"} s.`,
    answered: (status) => `il server ha risposto ${status}`,
    noNetwork: "✗ Non inviato: nessuna rete. Tocca di nuovo Invia conteggio quando torna.",
    placesHeading: "Quanto è affollato ora",
    waitingPlaces: "In attesa dei luoghi…",
    fromPosts: "In base a ciò che le persone pubblicano intorno a ogni luogo.",
    noPlaces: "Nessun luogo da mostrare.",
    youAreHere: " · sei qui",
    tooFew: "Troppo poche persone pubblicano qui per saperlo.",
  },
});


const isArea = (f) => ["Polygon", "MultiPolygon"].includes(f.geometry?.type);

/**
 * Each zone's name and badge on the map, beside its fill; the perimeter,
 * around everything, has none. Hidden from screen readers, which have the list.
 */
function labelZones(page, shapes, zones, badge) {
  page.map.setZoneLabels(zones.filter((z) => shapes.has(z.id) && shapes.get(z.id).properties.kind !== "perimeter").map((z) => ({
    id: z.id,
    feature: shapes.get(z.id),
    node: el("div", { class: "zone-label", "aria-hidden": "true", "data-zone": z.id }, el("span", { class: "zone-label-name", text: z.name }), badge(z)),
  })));
}
const coloursBy = (zones, key, palette) => Object.fromEntries(zones.filter((z) => palette[z[key]]).map((z) => [z.id, palette[z[key]]]));

/** The people figure an operator reads: the interval, and whether the model behind it was calibrated. */
function peopleCell(p) {
  if (!p || !Number.isFinite(p.estimate)) return el("span", { text: "–" });
  return el("span", { class: "people" }, el("strong", { text: peopleWithInterval(p) }), t("people"),
    p.calibrated ? "" : el("span", { class: "uncalibrated", title: t("uncalibratedWhy"), text: t("uncalibrated") }));
}

// Figures and their units stay on one line (no-break spaces); decimals in the reader's locale ("1,50 /m²").
const perM2 = (d) => (Number.isFinite(d) ? `${number(d, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}\u00a0/m²` : "–");
const ofCapacity = (u) => (Number.isFinite(u) ? t("ofCapacity", number(Math.round(u * 100))) : t("noCapacity"));
const untilSerious = (m) => (Number.isFinite(m) ? t("untilSerious", number(Math.round(m))) : null);

/** What a zone's row shows, as it shows it, to tell whether it changed. */
const shownOf = (z) => JSON.stringify([z.name, z.level, z.level_high, z.trend, Number.isFinite(z.trend_pct) ? Math.round(z.trend_pct) : null,
  z.people && Number.isFinite(z.people.estimate) ? [peopleWithInterval(z.people), Boolean(z.people.calibrated)] : null,
  perM2(z.density_m2), ofCapacity(z.utilisation), untilSerious(z.minutes_to_serious), z.contributors ?? 0, z.posts ?? 0]);

/**
 * The operators' zones, riskiest first; a click (or Enter) on a name frames
 * the zone on the map and tells the page it was chosen (`campanile:select`).
 */
export function zonesPanel(page, watch) {
  const list = el("ol", { id: "zones-list", class: "zones" });
  // The scale the levels are read on, as the deployment sets it (--density-levels).
  const scale = page.event.zoneLevels.filter((l) => l.from > 0).map((l) => t("scalePart", l.level, number(l.from))).join(", ");
  const panel = section(t("zonesHeading"), "zones-panel", el("p", { class: "none", id: "zones-note", text: t("waitingZones") }), list,
    ...(scale ? [el("p", { class: "none", id: "zones-scale", text: t("scale", scale) })] : []));
  const note = panel.querySelector("#zones-note");
  let shapes = new Map();
  let painted = null;

  function choose(z) {
    const shape = shapes.get(z.id);
    if (!shape) return;
    page.map.fitZone(shape);
    const [lon, lat] = centreOf(shape.geometry);
    announceSelection({ kind: "zone", id: z.id, name: z.name, lat, lon });
  }

  function row(z) {
    const forecast = untilSerious(z.minutes_to_serious);
    const more = [
      ...(z.level_high && z.level_high !== z.level ? [el("span", { class: "may-be" }, t("mayBe"), levelBadge(z.level_high))] : []),
      ...(forecast ? [el("strong", { class: "forecast", text: forecast })] : []),
      `${t("posters", z.contributors ?? 0)}, ${t("posts", z.posts ?? 0)}`,
    ];
    return el("li", { class: `zone level-${z.level}`, "data-zone": z.id, "data-level": z.level },
      el("div", { class: "zone-head" },
        el("button", { type: "button", class: "zone-name", "data-focus": "name", text: z.name, onclick: () => choose(z) }),
        trendMark(z.trend, { pct: z.trend_pct })),
      el("p", { class: "zone-figures" }, levelBadge(z.level), " ", peopleCell(z.people), " · ", el("span", { class: "density", text: perM2(z.density_m2) }),
        " · ", el("span", { class: "utilisation", text: ofCapacity(z.utilisation) })),
      el("p", { class: "zone-more" }, ...more.flatMap((part, i) => (i ? [" · ", part] : [part]))));
  }

  function render() {
    const zones = watch.all().sort(byRisk);
    const said = zones.length ? t("zonesNote", watch.window ?? page.header.window()) : t("noZones");
    if (note.textContent !== said) note.textContent = said;
    // Row by row, and not at all when nothing shown changed: the keyboard stays where it was.
    redrawRows(list, zones.map((z) => ({ key: z.id, sig: shownOf(z), build: () => row(z) })));
    const levels = JSON.stringify([zones.map((z) => [z.id, z.level]), shapes.size]);
    if (levels === painted) return;
    painted = levels;
    page.map.setZoneColours(coloursBy(zones, "level", LEVEL_COLOURS));
    labelZones(page, shapes, zones, (z) => levelBadge(z.level));
  }

  watch.listen(render);
  return {
    elements: [panel],
    zones(features) {
      shapes = new Map(features.filter(isArea).map((f) => [f.properties.id, f]));
      painted = null;
      if (watch.arrived) render();
    },
  };
}

const CHOSEN_KEY = "campanile.fieldZone";
const HERE = "here";

/**
 * The commander's own zone first: the one around the tablet when its
 * position is known, else the one chosen from the list (remembered on the
 * device); its level large and a head-count sent in one tap.
 * `locate()` gives the tablet's position ({lat, lon}) or null.
 */
export function ownZonePanel(page, watch, { locate }) {
  let areas = [];
  const picker = el("select", { id: "own-zone", "aria-label": t("yourZone") });
  // Not a live region: it is redrawn on every update, and a screen reader would read it out each time.
  const card = el("div", { id: "own-zone-card" });
  const people = el("input", { id: "hc-people", type: "number", min: "0", max: "1000000", step: "1", inputmode: "numeric", required: "" });
  const quick = el("div", { class: "quick", id: "hc-quick" });
  const status = el("p", { id: "hc-status", role: "status" });
  const send = el("button", { type: "submit", class: "send-headcount", id: "hc-send", text: t("sendHeadcount") });
  const step = (by) => { people.value = String(Math.max(0, (Number(people.value) || 0) + by)); };
  const form = el("form", { id: "headcount-form" },
    el("label", { for: "hc-people", id: "hc-label", text: t("countHere") }),
    el("div", { class: "stepper" },
      el("button", { type: "button", class: "step", "aria-label": t("fewer"), text: "−100", onclick: () => step(-100) }),
      people,
      el("button", { type: "button", class: "step", "aria-label": t("more"), text: "+100", onclick: () => step(100) })),
    quick, send, status);
  const panel = section(t("ownHeading"), "own-zone-panel", el("label", { class: "field" }, el("span", { text: t("zone") }), picker), card, form);

  /** Whether the server takes head-counts: null until its API description is read. */
  let accepted = null;
  const remembered = () => localStorage.getItem(CHOSEN_KEY);
  /** The zone shown now and how it was found. */
  function current() {
    const chosen = remembered();
    const position = locate();
    if ((chosen === HERE || !chosen) && position) {
      const around = zoneAt(areas, [position.lon, position.lat], contains);
      if (around) return { id: around.properties.id, how: t("whereYouAre") };
    }
    if (chosen && chosen !== HERE && areas.some((f) => f.properties.id === chosen)) return { id: chosen, how: t("chosen") };
    return null;
  }

  function renderPicker() {
    const value = remembered() ?? (locate() ? HERE : "");
    picker.replaceChildren(
      el("option", { value: "", text: t("chooseZone") }),
      el("option", { value: HERE, text: t("whereIAm") }),
      ...areas.map((f) => el("option", { value: f.properties.id, text: f.properties.name })));
    picker.value = value;
  }

  let shownId = null;
  function render() {
    // Every zone on the map as on the wall, so that the commander sees the zones around theirs.
    const zones = watch.all();
    page.map.setZoneColours(coloursBy(zones, "level", LEVEL_COLOURS));
    labelZones(page, new Map(areas.map((f) => [f.properties.id, f])), zones, (z) => levelBadge(z.level));
    const now = current();
    if (now?.id !== shownId && accepted !== false) status.textContent = ""; // a result said about another zone
    shownId = now?.id ?? null;
    form.hidden = !now;
    if (!now) {
      card.replaceChildren(el("p", { class: "none", text: locate() ? t("outsideEvery") : t("chooseToSee") }));
      return;
    }
    const feature = areas.find((f) => f.properties.id === now.id);
    const z = watch.get(now.id);
    const name = z?.name ?? feature?.properties.name ?? now.id;
    document.getElementById("hc-label").textContent = t("countIn", name);
    card.dataset.zone = now.id;
    if (!z) {
      card.replaceChildren(el("h3", { class: "own-name", text: name }), el("p", { class: "none", text: t("waitingFigures") }));
    } else {
      const forecast = untilSerious(z.minutes_to_serious);
      card.replaceChildren(
        el("h3", { class: "own-name" }, name, el("span", { class: "how", text: ` (${now.how})` })),
        el("div", { class: "own-level" }, levelBadge(z.level, { id: "own-level" }), trendMark(z.trend, { pct: z.trend_pct })),
        el("p", { class: "own-figures" }, peopleCell(z.people), " · ", perM2(z.density_m2), " · ", ofCapacity(z.utilisation)),
        ...(forecast ? [el("p", { class: "forecast", text: t("forecast", forecast) })] : []));
    }
    // Redrawn only when the capacity changes, so that a tap never lands on a button being replaced.
    const capacity = z?.capacity ?? feature?.properties.capacity;
    if (quick.dataset.capacity === String(capacity)) return;
    quick.dataset.capacity = String(capacity);
    quick.replaceChildren(...(Number.isFinite(capacity) && capacity > 0
      ? [[t("quarter"), 0.25], [t("half"), 0.5], [t("threeQuarters"), 0.75], [t("full"), 1]].map(([label, share]) =>
        el("button", { type: "button", class: "quick-value", text: label, "aria-label": t("quickPeople", label, count(Math.round(capacity * share))),
          onclick: () => { people.value = String(Math.round(capacity * share)); } }))
      : []));
  }

  picker.addEventListener("change", () => {
    if (picker.value) localStorage.setItem(CHOSEN_KEY, picker.value); else localStorage.removeItem(CHOSEN_KEY);
    render();
  });

  // Head-counts came later than the zones: a server without them says so
  // once, instead of a form that fails at every tap.
  getJson("/openapi.json").then((api) => {
    accepted = Object.hasOwn(api.paths ?? {}, "/api/v1/zones/{id}/headcount");
    if (!accepted) {
      send.disabled = true;
      showResult("unavailable", t("noHeadcounts"));
    }
  }).catch(() => {});

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (accepted === false) return;
    const now = current();
    const n = Number(people.value);
    if (!now || !Number.isInteger(n) || n < 0) {
      showResult("error", t("wholeNumber"));
      return;
    }
    const name = watch.get(now.id)?.name ?? now.id;
    send.disabled = true;
    showResult("sending", t("sending", count(n), name));
    try {
      const resp = await fetch(`/api/v1/zones/${encodeURIComponent(now.id)}/headcount`, {
        method: "POST",
        headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" },
        body: JSON.stringify({ people: n }),
      });
      const body = await resp.json().catch(() => ({}));
      const why = typeof body?.error?.message === "string" ? body.error.message.replace(/\.$/, "") : null;
      if (resp.ok) {
        // A count is of one moment: the next one is counted afresh, not sent again by a second tap.
        people.value = "";
        showResult("taken", t("taken", count(n), name, clock(new Date(), { seconds: true })));
      } else if (resp.status === 401 || resp.status === 403) showResult("error", t("notTaken", why ?? t("signInAgain")));
      else if (resp.status === 429) showResult("error", t("tooMany", resp.headers.get("Retry-After")));
      else showResult("error", t("notTaken", why ?? t("answered", resp.status)));
    } catch {
      showResult("error", t("noNetwork"));
    } finally {
      send.disabled = false;
    }
  });

  function showResult(state, text) {
    status.className = `hc-${state}`;
    status.dataset.state = state;
    status.textContent = text;
  }

  watch.listen(render);
  return {
    elements: [panel],
    zones(features) {
      areas = features.filter(isArea);
      renderPicker();
      render();
    },
    tick() {
      // The tablet moves with the commander: follow the zone around it.
      const now = current();
      if (now?.id !== shownId) render();
    },
  };
}

const REFRESH_MS = 30000;

/**
 * The public's "How busy is it now": every named place with its word, icon
 * and colour, its trend, its advice in the reader's language and the active
 * public messages addressed to it. No figure of any kind.
 */
export function placesPanel(page, watch, { near = () => null } = {}) {
  const list = el("ul", { id: "places", class: "places" });
  const panel = section(t("placesHeading"), "places-panel", el("p", { class: "none", id: "places-note", text: t("waitingPlaces") }), list);
  const note = panel.querySelector("#places-note");
  let messages = [];
  let shapes = new Map();

  let hereId = null;
  /** The smallest place around the reader (where they are, or the point they chose), if any. */
  function here() {
    const at = near();
    return at ? zoneAt([...shapes.values()], [at.lon, at.lat], contains)?.properties.id ?? null : null;
  }

  function render() {
    hereId = here();
    const now = Date.now();
    const zones = watch.all().sort(byPublicLevel);
    note.textContent = zones.length ? t("fromPosts") : t("noPlaces");
    list.replaceChildren(...zones.map((z) => {
      const advice = inLanguage(z.advice);
      const forPlace = messages.filter((b) => b.area?.zones?.includes(z.id) && Date.parse(b.expires) > now).map((b) => localised(b));
      return el("li", { class: "place", "data-zone": z.id, "data-level": z.public_level ?? "unknown" },
        el("h3", {}, z.name, ...(z.id === hereId ? [el("span", { class: "here", text: t("youAreHere") })] : [])),
        el("div", { class: "place-level" }, publicBadge(z.public_level), trendMark(z.trend, { forPublic: true })),
        ...(z.public_level ? [] : [el("p", { class: "none", text: t("tooFew") })]),
        ...(advice ? [el("p", { class: "advice", lang: advice.lang, text: advice.text })] : []),
        ...forPlace.map((b) => el("p", { class: `place-message severity-${String(b.severity).toLowerCase()}` },
          el("strong", { text: `${severityWord(b.severity)}: ` }), el("span", { lang: b.language, text: b.headline }))));
    }));
    page.map.setZoneColours(coloursBy(zones, "public_level", PUBLIC_COLOURS));
    labelZones(page, shapes, zones, (z) => publicBadge(z.public_level));
  }

  // The messages for each place are read whole, not from the messages panel's
  // subscription, which may keep only those for where the reader stands.
  async function loadMessages() {
    try {
      const active = await getJson("/api/v1/broadcasts?active=true");
      const now = Date.now();
      messages = active.broadcasts.filter((b) => b.audience === "public" && Date.parse(b.expires) > now);
      render();
    } catch { /* the connection state says why */ }
  }

  // A reconnect replays every active message at once: read the list once after the burst.
  let pending = null;
  const soon = () => { clearTimeout(pending); pending = setTimeout(loadMessages, 300); };

  watch.listen(render);
  loadMessages();
  setInterval(loadMessages, REFRESH_MS);
  return {
    elements: [panel],
    on: { broadcast: soon },
    tick() {
      if (watch.arrived && here() !== hereId) render();
    },
    zones(features) {
      shapes = new Map(features.filter(isArea).map((f) => [f.properties.id, f]));
      if (watch.arrived) render();
    },
  };
}
