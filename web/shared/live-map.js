// The live heatmap page shared by /ops, /field and /: the <body> says whether a
// token is needed (data-needs-token) and which resolution to start at (data-res).
import { Live, takeToken, ago, getJson, ActiveMessages, localised } from "/shared/campanile.js";
import { CanvasMap, heatColour } from "/shared/map.js";

const $ = (id) => document.getElementById(id);
const needsToken = document.body.dataset.needsToken === "true";
// The page's skeleton, built here so that the three pages share one layout.
function buildLayout({ heading, needsToken, tokenLabel, publicView }) {
  const resOptions = (publicView ? [7, 8, 9] : [7, 8, 9, 10, 11]).map((r) => `<option>${r}</option>`).join("");
  document.body.insertAdjacentHTML("afterbegin", `
<header>
  <h1></h1>
  <span id="state" class="state connecting" role="status">connecting</span>
  <span id="updated">last update never</span>
  <label>window <select id="window"><option>1m</option><option>5m</option><option selected>15m</option><option>60m</option></select></label>
  <label>resolution <select id="res">${resOptions}</select></label>
</header>
<main>
  <canvas id="map" aria-label="Live crowd density map"></canvas>
  <aside>
    <div class="legend">0 <span class="bar"></span> <span id="max">–</span> items/km²</div>
    <h2>Safety messages</h2><div id="messages" aria-live="assertive"><p class="none">No active safety messages.</p></div>
    <h2>${publicView ? "Busiest areas" : "Hotspots"}</h2>
    <table><thead><tr><th>cell</th><th>items</th><th>people</th><th>/km²</th></tr></thead><tbody id="hotspots"></tbody></table>
    <p id="error" role="alert"></p>
  </aside>
</main>
${needsToken ? `<div id="signin"><form><label for="token"></label><input id="token" autocomplete="off" required><button>Sign in</button></form></div>` : ""}`);
  document.querySelector("header h1").textContent = heading;
  const label = document.querySelector("label[for=token]");
  if (label) label.textContent = tokenLabel;
}
buildLayout({
  heading: document.body.dataset.heading || "Campanile",
  needsToken,
  tokenLabel: document.body.dataset.tokenLabel || "Token",
  publicView: !needsToken,
});

const EVENT_BBOX = [11.330, 44.488, 11.360, 44.510];
const map = new CanvasMap($("map"), EVENT_BBOX);
let token = needsToken ? takeToken() : null;
if (document.body.dataset.res) $("res").value = document.body.dataset.res;
let live = null;
const cells = new Map();
let refetch = null;

const messages = new ActiveMessages();

function subscription() {
  return { channel: "heatmap", res: Number($("res").value), window: $("window").value };
}

function subscriptions() {
  const broadcasts = { channel: "broadcasts" };
  if (messages.lastSeq !== null) broadcasts.since_seq = messages.lastSeq;
  return [subscription(), broadcasts];
}

function renderMessages() {
  const list = messages.list();
  if (!list.length) {
    $("messages").innerHTML = '<p class="none">No active safety messages.</p>';
    return;
  }
  $("messages").replaceChildren(...list.map((raw) => {
    const b = localised(raw);
    const card = document.createElement("article");
    card.className = `message severity-${b.severity.toLowerCase()}`;
    const head = document.createElement("h3");
    head.textContent = `${b.severity}: ${b.headline}`;
    const body = document.createElement("p");
    body.textContent = [b.instruction, b.area.description].filter(Boolean).join(" · ");
    card.append(head, body);
    return card;
  }));
}

function showState(state) {
  $("state").textContent = state;
  $("state").className = `state ${state.replace(" ", "-")}`;
}

function renderHotspots() {
  const top = [...cells.values()].sort((a, b) => b.count - a.count).slice(0, 12);
  $("hotspots").replaceChildren(...top.map((c) => {
    const tr = document.createElement("tr");
    tr.className = "hot";
    for (const v of [c.cell.slice(0, 10) + "…", c.count, c.contributors, c.density_km2.toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
}

// Hexagon outlines come from the GeoJSON heatmap; the WebSocket says when to refresh.
function scheduleGeometry() {
  if (refetch) return;
  refetch = setTimeout(async () => {
    refetch = null;
    const { res, window } = subscription();
    try {
      const geo = await getJson(`/api/v1/heatmap?format=geojson&res=${res}&window=${window}`, token);
      const max = Math.max(1, ...geo.features.map((f) => f.properties.density_km2));
      $("max").textContent = Math.round(max);
      map.setLayer("heat", geo.features, (f) => ({ fill: heatColour(f.properties.density_km2 / max), stroke: "rgba(0,0,0,.25)" }), 1);
      $("error").textContent = "";
    } catch (e) {
      $("error").textContent = e.message;
    }
  }, 300);
}

function onMessage(msg) {
  if (msg.type === "broadcast") {
    messages.apply(msg);
    renderMessages();
    return;
  }
  if (msg.type === "heatmap.snapshot") {
    cells.clear();
    msg.cells.forEach((c) => cells.set(c.cell, c));
  } else if (msg.type === "heatmap.delta") {
    msg.cells.forEach((c) => cells.set(c.cell, c));
    msg.removed.forEach((id) => cells.delete(id));
  } else if (msg.type === "error") {
    $("error").textContent = msg.message;
    if (msg.code === "unauthorized" && needsToken) signIn();
    return;
  } else {
    return;
  }
  renderHotspots();
  scheduleGeometry();
}

function start() {
  showSignIn(false);
  live = new Live({ token, subscriptions, onMessage, onState: showState });
}

function signIn() {
  if (live) live.close();
  sessionStorage.removeItem("campanile.token");
  showSignIn(true);
}

function showSignIn(show) {
  const form = $("signin");
  if (form) form.style.display = show ? "grid" : "none";
}

$("signin")?.querySelector("form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("campanile.token", token);
  start();
});
for (const id of ["window", "res"]) $(id).addEventListener("change", () => live && live.resubscribe(subscriptions));
setInterval(() => {
  $("updated").textContent = `last update ${ago(live?.lastUpdate)}`;
  renderMessages(); // drops messages as they expire
}, 1000);

getJson("/api/v1/zones").then((zones) => {
  map.setLayer("zones", zones.features, (f) => ({
    fill: f.properties.kind === "sector" ? "rgba(88,166,255,.08)" : "transparent",
    stroke: { perimeter: "#58a6ff", sector: "#388bfd", exit: "#3fb950", first_aid: "#f85149", assembly_point: "#d2a8ff" }[f.properties.kind],
    width: f.properties.kind === "perimeter" ? 2 : 1,
    radius: 6,
  }), 2);
}).catch(() => {});
fetch("/basemap/bologna-streets.geojson").then((r) => r.ok ? r.json() : null).then((streets) => {
  if (!streets) return;
  map.setLayer("streets", streets.features, (f) => ({
    stroke: f.properties.kind === "primary" ? "#3b4450" : "#2a313a", width: f.properties.kind === "primary" ? 3 : 1.5,
    fill: f.properties.kind === "square" ? "rgba(60,68,80,.35)" : f.properties.kind === "park" ? "rgba(46,100,60,.25)" : "transparent",
    radius: 3,
  }), 0);
}).catch(() => {});

if (token || !needsToken) start(); else signIn();
