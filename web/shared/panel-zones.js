// The crowd picture per named place on each surface (DESIGN §9 "On the
// pages"): the operators' zones by risk with their figures, the commander's
// own zone with a head-count sent in one tap, and the public's places in
// words, icons and colours, never in numbers.

import { getJson, localised } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { contains } from "/shared/map.js";
import {
  LEVEL_COLOURS, PUBLIC_COLOURS, byPublicLevel, byRisk, count, inLanguage, levelBadge, peopleWithInterval, publicBadge, trendMark, zoneAt,
} from "/shared/zones.js";

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
  return el("span", { class: "people" }, el("strong", { text: peopleWithInterval(p) }), " people",
    p.calibrated ? "" : el("span", { class: "uncalibrated", title: "Too few head-counts yet: the estimate uses the default people per poster", text: " (uncalibrated)" }));
}

const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;

// Figures and their units stay on one line (no-break spaces).
const perM2 = (d) => (Number.isFinite(d) ? `${d.toFixed(2)}\u00a0/m²` : "–");
const ofCapacity = (u) => (Number.isFinite(u) ? `${Math.round(u * 100)}\u00a0% of capacity` : "no capacity set");
const untilSerious = (m) => (Number.isFinite(m) ? `serious in ${Math.round(m)} min` : null);

/** The operators' zones, riskiest first; a click on a name frames the zone on the map. */
export function zonesPanel(page, watch) {
  const list = el("ol", { id: "zones-list", class: "zones" });
  // The scale the levels are read on, as the deployment sets it (--density-levels).
  const scale = page.event.zoneLevels.filter((l) => l.from > 0).map((l) => `${l.level} from ${l.from}`).join(", ");
  const panel = section("Zones by risk", "zones-panel", el("p", { class: "none", id: "zones-note", text: "Waiting for the zones…" }), list,
    ...(scale ? [el("p", { class: "none", id: "zones-scale", text: `Levels in people/m²: ${scale}; a zone is at least caution at 90 % of its capacity and alert at 100 %.` })] : []));
  const note = panel.querySelector("#zones-note");
  let shapes = new Map();

  function render() {
    // Rows are drawn anew on each update: keep the keyboard where it was.
    const focused = document.activeElement?.closest?.("#zones-list li")?.dataset.zone;
    const zones = watch.all().sort(byRisk);
    note.textContent = zones.length
      ? `People estimated from posters (90 % interval in brackets); posters and posts over the last ${watch.window ?? page.header.window()}.`
      : "No area zones in this event.";
    list.replaceChildren(...zones.map((z) => {
      const forecast = untilSerious(z.minutes_to_serious);
      const more = [
        ...(z.level_high && z.level_high !== z.level ? [el("span", { class: "may-be" }, "may be ", levelBadge(z.level_high))] : []),
        ...(forecast ? [el("strong", { class: "forecast", text: forecast })] : []),
        `${plural(z.contributors ?? 0, "poster", "posters")}, ${plural(z.posts ?? 0, "post", "posts")}`,
      ];
      return el("li", { class: `zone level-${z.level}`, "data-zone": z.id, "data-level": z.level },
        el("div", { class: "zone-head" },
          el("button", { type: "button", class: "zone-name", text: z.name, onclick: () => shapes.has(z.id) && page.map.fitZone(shapes.get(z.id)) }),
          trendMark(z.trend, { pct: z.trend_pct })),
        el("p", { class: "zone-figures" }, levelBadge(z.level), " ", peopleCell(z.people), " · ", el("span", { class: "density", text: perM2(z.density_m2) }),
          " · ", el("span", { class: "utilisation", text: ofCapacity(z.utilisation) })),
        el("p", { class: "zone-more" }, ...more.flatMap((part, i) => (i ? [" · ", part] : [part]))));
    }));
    if (focused) list.querySelector(`li[data-zone="${CSS.escape(focused)}"] .zone-name`)?.focus();
    page.map.setZoneColours(coloursBy(zones, "level", LEVEL_COLOURS));
    labelZones(page, shapes, zones, (z) => levelBadge(z.level));
  }

  watch.listen(render);
  return {
    elements: [panel],
    zones(features) {
      shapes = new Map(features.filter(isArea).map((f) => [f.properties.id, f]));
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
  const picker = el("select", { id: "own-zone", "aria-label": "your zone" });
  // Not a live region: it is redrawn on every update, and a screen reader would read it out each time.
  const card = el("div", { id: "own-zone-card" });
  const people = el("input", { id: "hc-people", type: "number", min: "0", max: "1000000", step: "1", inputmode: "numeric", required: "" });
  const quick = el("div", { class: "quick", id: "hc-quick" });
  const status = el("p", { id: "hc-status", role: "status" });
  const send = el("button", { type: "submit", class: "send-headcount", id: "hc-send", text: "Send head-count" });
  const step = (by) => { people.value = String(Math.max(0, (Number(people.value) || 0) + by)); };
  const form = el("form", { id: "headcount-form" },
    el("label", { for: "hc-people", id: "hc-label", text: "People you count here" }),
    el("div", { class: "stepper" },
      el("button", { type: "button", class: "step", "aria-label": "100 fewer", text: "−100", onclick: () => step(-100) }),
      people,
      el("button", { type: "button", class: "step", "aria-label": "100 more", text: "+100", onclick: () => step(100) })),
    quick, send, status);
  const panel = section("Your zone", "own-zone-panel", el("label", { class: "field" }, el("span", { text: "Zone" }), picker), card, form);

  /** Whether the server takes head-counts: null until its API description is read. */
  let accepted = null;
  const remembered = () => localStorage.getItem(CHOSEN_KEY);
  /** The zone shown now and how it was found. */
  function current() {
    const chosen = remembered();
    const position = locate();
    if ((chosen === HERE || !chosen) && position) {
      const around = zoneAt(areas, [position.lon, position.lat], contains);
      if (around) return { id: around.properties.id, how: "where you are" };
    }
    if (chosen && chosen !== HERE && areas.some((f) => f.properties.id === chosen)) return { id: chosen, how: "chosen" };
    return null;
  }

  function renderPicker() {
    const value = remembered() ?? (locate() ? HERE : "");
    picker.replaceChildren(
      el("option", { value: "", text: "Choose your zone…" }),
      el("option", { value: HERE, text: "Where I am (the tablet's position)" }),
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
      card.replaceChildren(el("p", { class: "none", text: locate() ? "You are outside every zone: choose one." : "Choose your zone to see its level and send a head-count." }));
      return;
    }
    const feature = areas.find((f) => f.properties.id === now.id);
    const z = watch.get(now.id);
    const name = z?.name ?? feature?.properties.name ?? now.id;
    document.getElementById("hc-label").textContent = `People you count in ${name}`;
    card.dataset.zone = now.id;
    if (!z) {
      card.replaceChildren(el("h3", { class: "own-name", text: name }), el("p", { class: "none", text: "Waiting for its figures…" }));
    } else {
      const forecast = untilSerious(z.minutes_to_serious);
      card.replaceChildren(
        el("h3", { class: "own-name" }, name, el("span", { class: "how", text: ` (${now.how})` })),
        el("div", { class: "own-level" }, levelBadge(z.level, { id: "own-level" }), trendMark(z.trend, { pct: z.trend_pct })),
        el("p", { class: "own-figures" }, peopleCell(z.people), " · ", perM2(z.density_m2), " · ", ofCapacity(z.utilisation)),
        ...(forecast ? [el("p", { class: "forecast", text: `Forecast: ${forecast}` })] : []));
    }
    // Redrawn only when the capacity changes, so that a tap never lands on a button being replaced.
    const capacity = z?.capacity ?? feature?.properties.capacity;
    if (quick.dataset.capacity === String(capacity)) return;
    quick.dataset.capacity = String(capacity);
    quick.replaceChildren(...(Number.isFinite(capacity) && capacity > 0
      ? [["¼ full", 0.25], ["½ full", 0.5], ["¾ full", 0.75], ["Full", 1]].map(([label, share]) =>
        el("button", { type: "button", class: "quick-value", text: label, "aria-label": `${label}: ${count(Math.round(capacity * share))} people`,
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
      showResult("unavailable", "This server does not take head-counts yet.");
    }
  }).catch(() => {});

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (accepted === false) return;
    const now = current();
    const n = Number(people.value);
    if (!now || !Number.isInteger(n) || n < 0) {
      showResult("error", "Enter a whole number of people, 0 or more.");
      return;
    }
    const name = watch.get(now.id)?.name ?? now.id;
    send.disabled = true;
    showResult("sending", `Sending ${count(n)} for ${name}…`);
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
        showResult("taken", `✓ Head-count taken: ${count(n)} people in ${name} at ${new Date().toLocaleTimeString()}.`);
      } else if (resp.status === 401 || resp.status === 403) showResult("error", `✗ Not taken: ${why ?? "sign in again"}.`);
      else if (resp.status === 429) showResult("error", `✗ Not taken: too many head-counts; try again in ${resp.headers.get("Retry-After") ?? "a few"} s.`);
      else showResult("error", `✗ Not taken: ${why ?? `the server answered ${resp.status}`}.`);
    } catch {
      showResult("error", "✗ Not sent: no network. Tap Send again when it returns.");
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
  const panel = section("How busy is it now", "places-panel", el("p", { class: "none", id: "places-note", text: "Waiting for the places…" }), list);
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
    note.textContent = zones.length ? "From what people are posting around each place." : "No places to show.";
    list.replaceChildren(...zones.map((z) => {
      const advice = inLanguage(z.advice);
      const forPlace = messages.filter((b) => b.area?.zones?.includes(z.id) && Date.parse(b.expires) > now).map((b) => localised(b));
      return el("li", { class: "place", "data-zone": z.id, "data-level": z.public_level ?? "unknown" },
        el("h3", {}, z.name, ...(z.id === hereId ? [el("span", { class: "here", text: " · you are here" })] : [])),
        el("div", { class: "place-level" }, publicBadge(z.public_level), trendMark(z.trend, { forPublic: true })),
        ...(z.public_level ? [] : [el("p", { class: "none", text: "Too few people are posting here to tell." })]),
        ...(advice ? [el("p", { class: "advice", lang: advice.lang, text: advice.text })] : []),
        ...forPlace.map((b) => el("p", { class: `place-message severity-${String(b.severity).toLowerCase()}`, lang: b.language },
          el("strong", { text: `${b.severity}: ` }), b.headline)));
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
