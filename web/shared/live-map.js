// The live page shared by /ops, /field and /: the <body> says which
// (data-role) and so which panels it shows. Text from users and posts is
// always inserted with textContent, never as HTML.
import { Live, takeToken, ago, getJson, ActiveMessages, localised } from "/shared/campanile.js";
import { LiveMap, resolutionForZoom, circleRing, cellCentre, contains } from "/shared/map.js";

const $ = (id) => document.getElementById(id);
const role = document.body.dataset.role || "public";
const needsToken = role !== "public";
// The deployment says where the event is, which windows and resolutions it
// serves: no page hard-codes them. Without an answer the page still opens,
// on the whole world and the contract's default windows.
const event = await getJson("/api/v1/event").catch(() => null);
const resolutions = event?.resolutions ?? { min: 7, max: 11, public_max: 9 };
const minRes = resolutions.min;
const maxRes = role === "public" ? resolutions.public_max : resolutions.max;
const WINDOWS = event?.windows ?? ["1m", "5m", "15m", "60m"];
const DEFAULT_WINDOW = event?.default_window ?? "15m";
const EVENT_BBOX = event?.bbox ?? [-180, -85, 180, 85];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function section(title, id, ...children) {
  return el("section", { "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title`, text: title }), el("div", { id }, ...children));
}

function buildLayout() {
  const windowSelect = el("select", { id: "window", "aria-label": "time window" },
    ...WINDOWS.map((w) => el("option", w === DEFAULT_WINDOW ? { selected: "", text: w } : { text: w })));
  const header = el("header", {},
    el("h1", { text: document.body.dataset.heading || "Campanile" }),
    el("span", { id: "state", class: "state connecting", role: "status", text: "connecting" }),
    el("span", { id: "updated", text: "last update never" }),
    el("label", {}, "window ", windowSelect),
    el("span", { id: "res-label", text: "" }));
  const aside = el("aside", {},
    section("Safety messages", "messages", el("p", { class: "none", text: "No active safety messages." })),
    role === "public"
      ? el("div", { class: "legend", "aria-label": "how busy, from quiet to packed" }, "quiet ", el("span", { class: "bar" }), " packed")
      : el("div", { class: "legend" }, "0 ", el("span", { class: "bar" }), el("span", { id: "max", text: "–" }), " items/km²"),
    role === "public"
      ? section("Busiest areas now", "hotspot-panel",
        el("table", {}, el("thead", {}, el("tr", {}, ...["where", "how busy"].map((h) => el("th", { text: h })))),
          el("tbody", { id: "hotspots" })),
        el("p", { class: "none", id: "hotspots-note", text: "Only areas where many different people are posting are shown." }))
      : section("Hotspots", "hotspot-panel",
        el("table", {}, el("thead", {}, el("tr", {}, ...["area", "items", "posters", "/km²"].map((h) => el("th", { text: h })))),
          el("tbody", { id: "hotspots" }))));
  if (role === "ops") {
    aside.append(section("Reports to triage", "triage", el("p", { class: "none", text: "No reports waiting." })));
    aside.append(section("Ingest rate, last hour", "timeline-panel", el("canvas", { id: "timeline", width: 600, height: 90 })));
    aside.append(section("Surge alerts", "alerts", el("p", { class: "none", text: "No surge alerts." })));
    aside.append(buildComposer());
  }
  if (role !== "ops") aside.append(buildReportForm());
  if (role === "public") {
    aside.append(el("p", { class: "feeds" }, el("a", { href: "/api/v1/alerts.atom", text: "Atom feed of safety messages" })));
  }
  aside.append(el("p", { id: "error", role: "alert" }));
  const main = el("main", {}, el("div", { id: "map", role: "region", "aria-label": "Live crowd density map" }), aside);
  document.body.prepend(header, main);
  if (needsToken) {
    document.body.append(el("div", { id: "signin" }, el("form", {},
      el("label", { for: "token", text: document.body.dataset.tokenLabel || "Token" }),
      el("input", { id: "token", autocomplete: "off", required: "" }),
      el("button", { text: "Sign in" }))));
  }
}

const CATEGORY_LABELS = { crowd: "Too crowded", medical: "Someone needs medical help", fire: "Fire or smoke",
  violence: "Violence", missing_person: "Missing person", suspicious_item: "Suspicious item",
  infrastructure: "Broken barrier, light or exit", rumour: "A rumour I heard", other: "Something else" };

function buildReportForm() {
  const field = role === "field";
  const categories = el("select", { id: "r-category", "aria-label": "what is happening" },
    ...Object.entries(CATEGORY_LABELS).map(([v, label]) => el("option", { value: v, text: label })));
  return section(field ? "Field report" : "Report a problem", "report", el("form", { id: "report-form" },
    el("label", { class: "field" }, el("span", { text: "What is happening" }), categories),
    ...(field ? [el("label", { class: "field" }, el("span", { text: "Crowd estimate (people)" }), el("input", { id: "r-crowd", type: "number", min: "0", inputmode: "numeric" }))] : []),
    el("label", { class: "field" }, el("span", { text: field ? "Note" : "Tell us more (optional)" }), el("textarea", { id: "r-text", rows: "2", maxlength: "2000" })),
    el("button", { type: "submit", class: "send-report", text: field ? "Send field report" : "Send report" }),
    el("p", { id: "r-status", class: "preview", "aria-live": "polite" })));
}

function buildComposer() {
  const select = (id, values, chosen) => el("select", { id }, ...values.map((v) => el("option", v === chosen ? { selected: "", text: v } : { text: v })));
  const field = (label, input) => el("label", { class: "field" }, el("span", { text: label }), input);
  return section("Send a safety message", "composer", el("form", { id: "compose" },
    field("Audience", select("c-audience", ["public", "responders"], "public")),
    field("Severity", select("c-severity", ["Extreme", "Severe", "Moderate", "Minor"], "Severe")),
    field("Urgency", select("c-urgency", ["Immediate", "Expected", "Future"], "Immediate")),
    field("Certainty", select("c-certainty", ["Observed", "Likely", "Possible"], "Observed")),
    field("Category", select("c-category", ["Safety", "Security", "Rescue", "Fire", "Health", "Transport", "Infra", "Other"], "Safety")),
    field("Event", el("input", { id: "c-event", value: "Crowd crush risk", required: "" })),
    field("Headline (en)", el("input", { id: "c-headline", maxlength: "160", required: "" })),
    field("Instruction (en)", el("textarea", { id: "c-instruction", rows: "2" })),
    field("Headline (it)", el("input", { id: "c-headline-it", maxlength: "160" })),
    field("Instruction (it)", el("textarea", { id: "c-instruction-it", rows: "2" })),
    el("fieldset", { id: "c-zones" }, el("legend", { text: "Zones" })),
    field("Shape drawn on the map", select("c-shape", ["circle", "polygon"], "circle")),
    field("Circle radius (m) — click the map to place it", el("input", { id: "c-radius", type: "number", value: "200", min: "1" })),
    el("p", { class: "preview", text: "Polygon: click its corners on the map; it closes by itself." }),
    el("button", { type: "button", id: "c-clear", text: "Clear the drawn shape" }),
    field("Expires in (minutes)", el("input", { id: "c-expires", type: "number", value: "60", min: "1" })),
    el("p", { id: "c-preview", class: "preview", "aria-live": "polite" }),
    el("button", { type: "submit", text: "Send" })));
}

buildLayout();
const map = new LiveMap($("map"), { bbox: EVENT_BBOX });
window.campanile = { map }; // for the browser tests and for operators' consoles
let token = needsToken ? takeToken() : null;
let live = null;
let res = resolutionForZoom(map.zoom(), minRes, maxRes);
const cells = new Map();
const messages = new ActiveMessages();
let near = null;
let circleCentre = null;
let polygon = [];

function subscriptions() {
  const broadcasts = { channel: "broadcasts" };
  if (messages.lastSeq !== null) broadcasts.since_seq = messages.lastSeq;
  if (near) broadcasts.near = near;
  const subs = [{ channel: "heatmap", res, window: $("window").value }, broadcasts];
  if (role === "ops") subs.push({ channel: "reports" }, { channel: "alerts" });
  return subs;
}

function showState(state) {
  $("state").textContent = state;
  $("state").className = `state ${state.replace(" ", "-")}`;
}

// The public's levels in words, with a shape beside the colour so that no
// one needs to tell colours apart (WCAG 1.4.1).
const LEVEL_WORDS = ["", "quiet", "moderate", "busy", "very busy", "packed"];
const levelMeter = (level) => "▮".repeat(level) + "▯".repeat(5 - level);

let zoneShapes = [];
/** The name of the smallest zone around a cell, for people who read places, not cell ids. */
function placeOf(cell) {
  const point = cellCentre(cell);
  const around = zoneShapes.filter((z) => contains(z.geometry, point));
  around.sort((a, b) => (a.properties.kind === "perimeter") - (b.properties.kind === "perimeter"));
  return around[0]?.properties.name || "elsewhere in the area";
}

function renderHeat() {
  const all = [...cells.values()];
  map.setHeat(all).then((max) => { if ($("max")) $("max").textContent = Math.round(max); });
  if (role === "public") {
    const top = all.sort((a, b) => b.level - a.level).slice(0, 10);
    $("hotspots").replaceChildren(...top.map((c) => el("tr", { class: "hot", tabindex: "0", onclick: () => map.flyToCell(c.cell) },
      el("td", { text: placeOf(c.cell) }),
      el("td", { class: `level level-${c.level}` }, el("span", { class: "meter", "aria-hidden": "true", text: levelMeter(c.level) }), ` ${LEVEL_WORDS[c.level]}`))));
  } else {
    const top = all.sort((a, b) => b.count - a.count).slice(0, 10);
    $("hotspots").replaceChildren(...top.map((c) => el("tr", { class: "hot", tabindex: "0", onclick: () => map.flyToCell(c.cell) },
      ...[c.cell.slice(0, 9) + "…", c.count, c.contributors, c.density_km2.toFixed(1)].map((v) => el("td", { text: String(v) })))));
  }
  $("res-label").textContent = role === "public" ? "" : `H3 resolution ${res}`;
  $("updated").textContent = `last update ${ago(live?.lastUpdate)}`;
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const resp = await fetch(`/api/v1/broadcasts/${encodeURIComponent(id)}/ack`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
    button.textContent = resp.ok ? "Acknowledged ✓" : `Failed (${resp.status})`;
  } catch {
    button.textContent = "Offline: retry";
    button.disabled = false;
  }
}

let acks = new Map();
async function refreshAcks() {
  if (role !== "ops" || !token) return;
  try {
    const list = await getJson("/api/v1/broadcasts?active=true", token);
    acks = new Map(list.broadcasts.map((b) => [b.id, b.acks || []]));
    renderMessages();
  } catch { /* shown by the connection state */ }
}

function renderMessages() {
  const list = messages.list();
  if (!list.length) {
    $("messages").replaceChildren(el("p", { class: "none", text: "No active safety messages." }));
    return;
  }
  $("messages").replaceChildren(...list.map((raw) => {
    const b = localised(raw);
    const card = el("article", { class: `message severity-${b.severity.toLowerCase()}`, lang: b.language },
      el("h3", { text: `${b.severity}: ${b.headline}` }),
      el("p", { text: [b.instruction, b.area.description].filter(Boolean).join(" · ") }));
    if (b.audience === "responders") card.prepend(el("span", { class: "badge", text: "responders" }));
    if (role === "field") card.append(el("button", { class: "ack", text: "Acknowledge", onclick: (e) => acknowledge(raw.id, e.target) }));
    if (role === "ops") {
      const who = acks.get(raw.id) || [];
      card.append(el("p", { class: "acks", text: who.length ? `Acknowledged by ${who.map((a) => a.sub).join(", ")}` : "Not yet acknowledged" }));
    }
    if (role === "public") card.append(el("a", { href: `/api/v1/broadcasts/${encodeURIComponent(raw.id)}/cap.xml`, text: "CAP document" }));
    return card;
  }));
}

const alerts = [];

// Newest first; a click flies the map to the cell.
function renderAlerts() {
  const box = $("alerts");
  if (!box) return;
  box.replaceChildren(...alerts.map((a) => el("article", { class: `alert-card ${a.kind}`, tabindex: "0", onclick: () => map.flyToCell(a.cell) },
    el("strong", { text: a.kind === "surge" ? "Surge" : "Density over the limit" }),
    el("span", { text: ` ${a.count} items in the last minute (${Math.round(a.density_km2)}/km²), ${a.baseline_per_min.toFixed(1)}/min before` }),
    el("time", { datetime: a.raised_at, text: ` ${new Date(a.raised_at).toLocaleTimeString()}` }))));
}

function onMessage(msg) {
  if (msg.type === "broadcast") {
    messages.apply(msg);
    renderMessages();
    refreshAcks();
  } else if (msg.type === "report") {
    triage.set(msg.report.id, msg.report);
    renderTriage();
  } else if (msg.type === "alert") {
    alerts.unshift(msg);
    alerts.length = Math.min(alerts.length, 20);
    renderAlerts();
  } else if (msg.type === "heatmap.snapshot") {
    cells.clear();
    msg.cells.forEach((c) => cells.set(c.cell, c));
    renderHeat();
  } else if (msg.type === "heatmap.delta") {
    msg.cells.forEach((c) => cells.set(c.cell, c));
    msg.removed.forEach((id) => cells.delete(id));
    renderHeat();
  } else if (msg.type === "error") {
    $("error").textContent = msg.message;
    // An expired token leaves the session public: ask for a fresh one.
    if ((msg.code === "unauthorized" || msg.code === "token_expired") && needsToken) signIn();
  }
}

function start() {
  showSignIn(false);
  live = new Live({ token, subscriptions, onMessage, onState: showState });
  if (role === "ops") loadTriage();
}

function showSignIn(show) {
  const box = $("signin");
  if (box) box.style.display = show ? "grid" : "none";
}

function signIn() {
  if (live) live.close();
  sessionStorage.removeItem("campanile.token");
  showSignIn(true);
}

$("signin")?.querySelector("form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("campanile.token", token);
  start();
});
$("window").addEventListener("change", () => live && live.resubscribe(subscriptions));
map.on("zoomend", () => {
  const wanted = resolutionForZoom(map.zoom(), minRes, maxRes);
  if (wanted !== res) {
    res = wanted;
    if (live) live.resubscribe(subscriptions);
  }
});
setInterval(() => {
  $("updated").textContent = `last update ${ago(live?.lastUpdate)}`;
  renderMessages(); // drops messages as they expire
}, 1000);

getJson("/api/v1/zones").then((zones) => {
  map.setGeoJson("zones", zones);
  zoneShapes = zones.features.filter((z) => ["Polygon", "MultiPolygon"].includes(z.geometry?.type));
  renderHeat();
  const box = $("c-zones");
  if (box) {
    for (const f of zones.features.filter((z) => ["sector", "perimeter", "exit", "assembly_point"].includes(z.properties.kind))) {
      box.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: f.properties.id }), ` ${f.properties.name}`));
    }
  }
}).catch(() => {});
fetch("/basemap/bologna-streets.geojson").then((r) => (r.ok ? r.json() : null)).then((s) => s && map.setGeoJson("streets", s)).catch(() => {});

// The public sees the messages for where they are: their position when they
// allow it, else a point they tap on the map, else all messages.
function setNear(point, how) {
  near = point;
  const note = $("near-note");
  if (note) note.textContent = point ? `Showing messages for ${how}.` : "Showing all messages. Tap the map to see only those for a place.";
  messages.byId.clear();
  messages.lastSeq = null;
  renderMessages();
  if (live) live.resubscribe(subscriptions);
}
if (role === "public") {
  $("messages").before(el("p", { id: "near-note", class: "none", text: "Showing all messages. Tap the map to see only those for a place." }));
  map.on("click", (e) => setNear({ lat: e.lngLat.lat, lon: e.lngLat.lng }, "the point you chose"));
}
if (role !== "ops" && "geolocation" in navigator) {
  navigator.geolocation.getCurrentPosition((p) => {
    if (role === "public") setNear({ lat: p.coords.latitude, lon: p.coords.longitude }, "where you are");
    else map.map.flyTo({ center: [p.coords.longitude, p.coords.latitude], zoom: 16 }); // the commander's surroundings
  }, () => {}, { maximumAge: 60000, timeout: 10000 });
}

if (role === "ops") setupOps();

function setupOps() {
  map.on("click", (e) => {
    const point = [e.lngLat.lng, e.lngLat.lat];
    if ($("c-shape").value === "circle") circleCentre = point;
    else polygon.push(point);
    drawDraft();
  });
  $("c-shape").addEventListener("change", drawDraft);
  $("c-clear").addEventListener("click", () => {
    circleCentre = null;
    polygon = [];
    drawDraft();
  });
  $("c-radius").addEventListener("input", drawDraft);
  $("compose").addEventListener("input", preview);
  $("compose").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = composed();
    try {
      const resp = await fetch("/api/v1/broadcasts", { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const answer = await resp.json();
      $("c-preview").textContent = resp.ok ? `Sent as #${answer.seq}.` : `Not sent: ${answer.error.message}`;
    } catch {
      $("c-preview").textContent = "Not sent: the server cannot be reached.";
    }
  });
  preview();
  sampleIngestRate();
  setInterval(sampleIngestRate, 10000);
}

function drawDraft() {
  const radius = Number($("c-radius").value) || 0;
  const features = [];
  if (circleCentre && radius > 0) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: circleRing(circleCentre, radius) } });
  if (polygon.length > 1) features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: [...polygon, polygon[0]] } });
  map.setGeoJson("draft", { type: "FeatureCollection", features });
  preview();
}

function composed() {
  const zones = [...document.querySelectorAll("#c-zones input:checked")].map((i) => i.value);
  const circles = circleCentre ? [{ lat: circleCentre[1], lon: circleCentre[0], radius_m: Number($("c-radius").value) }] : [];
  const polygons = polygon.length >= 3 ? [[...polygon, polygon[0]]] : [];
  const body = {
    audience: $("c-audience").value, msg_type: "Alert", category: $("c-category").value, event: $("c-event").value,
    severity: $("c-severity").value, urgency: $("c-urgency").value, certainty: $("c-certainty").value,
    headline: $("c-headline").value, instruction: $("c-instruction").value || undefined, language: "en",
    area: { zones, circles, polygons },
    expires: new Date(Date.now() + Number($("c-expires").value) * 60000).toISOString(),
  };
  if ($("c-headline-it").value) body.translations = [{ language: "it", headline: $("c-headline-it").value, instruction: $("c-instruction-it").value || undefined }];
  return body;
}

function preview() {
  const b = composed();
  const where = [...b.area.zones, ...b.area.circles.map((c) => `${c.radius_m} m circle`), ...b.area.polygons.map((p) => `${p.length - 1}-corner polygon`)].join(", ") || "no area yet";
  $("c-preview").textContent = `${b.severity} ${b.audience} message: “${b.headline || "…"}” — ${where}; expires ${new Date(b.expires).toLocaleTimeString()}.`;
}

// The ingest rate over the last hour, per time bucket, from the server.
async function sampleIngestRate() {
  if (!token) return; // not signed in yet
  try {
    const stats = await getJson("/api/v1/stats/ingest", token);
    const rates = stats.buckets.map((b) => b.per_s);
    const c = $("timeline");
    const dpr = window.devicePixelRatio || 1;
    c.width = c.clientWidth * dpr;
    c.height = c.clientHeight * dpr;
    const ctx = c.getContext("2d");
    ctx.scale(dpr, dpr);
    const [width, height] = [c.clientWidth, c.clientHeight];
    const max = Math.max(1, ...rates);
    ctx.strokeStyle = "#f0883e";
    ctx.lineWidth = 2;
    ctx.beginPath();
    rates.forEach((r, i) => {
      const x = (i / Math.max(1, rates.length - 1)) * width, y = height - 4 - (r / max) * (height - 24);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = "#e6edf3";
    ctx.font = "14px system-ui";
    const now = rates.length ? rates[rates.length - 1] : 0;
    ctx.fillText(`${now.toFixed(1)} posts/s now, peak ${max.toFixed(1)} in the last hour`, 4, 14);
    c.dataset.buckets = String(rates.length);
  } catch { /* the connection state says why */ }
}


// Reports: a queue on the device, so that a report made while the network is
// down is sent when it returns (the tablet in the street on flaky 4G).
const QUEUE_KEY = "campanile.reportQueue";
let position = null;
const queued = () => JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
const saveQueue = (q) => localStorage.setItem(QUEUE_KEY, JSON.stringify(q));

function reportStatus(text) {
  const p = $("r-status");
  if (p) p.textContent = text;
}

let flushing = null;
// One flush at a time: the "online" event, the timer and a new report may all
// ask at once, and each report must be sent once.
function flushReports() {
  flushing ??= sendQueued().finally(() => { flushing = null; });
  return flushing;
}

async function sendQueued() {
  let queue = queued();
  while (queue.length) {
    try {
      const resp = await fetch("/api/v1/reports", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(queue[0]),
      });
      if (resp.status >= 500 || resp.status === 429) throw new Error(`HTTP ${resp.status}`);
      const answer = await resp.json();
      queue.shift();
      saveQueue(queue);
      reportStatus(resp.ok ? `Report received (${answer.status}).` : `Report refused: ${answer.error.message}`);
    } catch {
      reportStatus(`${queue.length} report${queue.length > 1 ? "s" : ""} waiting for the network; sent automatically.`);
      return;
    }
    queue = queued();
  }
}

$("report-form")?.addEventListener("submit", (e) => {
  e.preventDefault();
  const centre = map.map.getCenter();
  const at = near || position || { lat: centre.lat, lon: centre.lng };
  const report = { lat: at.lat, lon: at.lon, category: $("r-category").value };
  if ($("r-text").value.trim()) report.text = $("r-text").value.trim();
  if ($("r-crowd")?.value) report.crowd_estimate = Number($("r-crowd").value);
  saveQueue([...queued(), report]);
  $("r-text").value = "";
  flushReports();
});
window.addEventListener("online", flushReports);
setInterval(() => { if (queued().length) flushReports(); }, 10000);
if (role === "field" && "geolocation" in navigator) {
  navigator.geolocation.watchPosition((p) => { position = { lat: p.coords.latitude, lon: p.coords.longitude }; }, () => {});
}

// Triage on the wall map: new reports appear by themselves; one click to
// verify, dismiss or mark as a rumour, and a rumour can be answered at once.
const triage = new Map();
function renderTriage() {
  const box = $("triage");
  if (!box) return;
  const waiting = [...triage.values()].filter((r) => r.status === "unverified").reverse();
  if (!waiting.length) {
    box.replaceChildren(el("p", { class: "none", text: "No reports waiting." }));
    return;
  }
  box.replaceChildren(...waiting.map((r) => el("article", { class: "report" },
    el("h3", { text: `${CATEGORY_LABELS[r.category] || r.category} · ${r.origin}` }),
    el("p", { text: [r.text, r.crowd_estimate ? `~${r.crowd_estimate} people` : null].filter(Boolean).join(" · ") || "(no text)" }),
    el("div", { class: "actions" },
      el("button", { text: "Verify", onclick: () => moderate(r.id, "verified") }),
      el("button", { text: "Dismiss", onclick: () => moderate(r.id, "dismissed") }),
      el("button", { text: "Rumour: answer it", onclick: () => { moderate(r.id, "false"); answerRumour(r); } })))));
}

async function loadTriage() {
  try {
    const waiting = await getJson("/api/v1/reports?status=unverified", token);
    for (const f of waiting.features) triage.set(f.properties.id, f.properties);
    renderTriage();
  } catch { /* the connection state says why */ }
}

async function moderate(id, status) {
  await fetch(`/api/v1/reports/${encodeURIComponent(id)}`, {
    method: "PATCH", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ status }),
  });
}

function answerRumour(r) {
  $("c-audience").value = "public";
  $("c-severity").value = "Moderate";
  $("c-certainty").value = "Observed";
  $("c-event").value = "Rumour";
  $("c-headline").value = "The rumour going around here is false";
  $("c-instruction").value = "Stay calm and follow the stewards' instructions.";
  circleCentre = [r.lon, r.lat];
  $("c-radius").value = "300";
  drawDraft();
  $("c-headline").focus();
}

if (token || !needsToken) start(); else signIn();
flushReports();
