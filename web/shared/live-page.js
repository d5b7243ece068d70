// What every live page shares, whichever surface composes it: the event,
// the header, the map and its heat, the one WebSocket (token, subscriptions,
// reconnection) and the side bar the surface fills with its panels.
//
// A panel is an object with any of:
//   elements        nodes appended to the side bar, in the order panels are added
//   subscriptions() what it subscribes to, re-sent on every reconnect
//   on              { [message type]: handler } for the server's messages
//   heat(cells)     the current heat cells, after every change
//   densest(max)    the densest cell's items/km² once the map has drawn them
//   zones(features) the event's zones once they have arrived
//   started()       after each (re)connection with a new token
//   connected()     whenever the page goes live: each WebSocket (re)connection,
//                   and the engine back up after an outage
//   tick()          every second
// so no panel needs to know which surface it is on.
//
// Skip links come first in the tab order: to the map, to the messages and,
// where there is one, to the composer. On a phone the map fills the screen
// under the header and the side bar is a bottom sheet: a bar at the bottom
// ("Messages (3) ▲") that the page scrolls up over the lower part of the
// screen; being part of the page's flow, Tab, a swipe or a tap on its
// handle all open it.
//
// The side bar has two columns. On a narrow screen they follow each other
// under the map; on the wall they stand side by side, each scrolling on its
// own, so that no panel pushes another out of sight. A panel goes to the
// second column when live-map.css gives its element `--side-column: second`;
// an element the wall caps in height (`--wall-scroll: yes`) is made
// reachable from the keyboard, so that its hidden part can be scrolled to.

import { Live, takeToken, getJson } from "/shared/campanile.js";
import { LiveMap, resolutionForZoom } from "/shared/map.js";
import { el } from "/shared/dom.js";
import { loadEvent } from "/shared/event.js";
import { headerPanel } from "/shared/panel-header.js";
import { signInPanel } from "/shared/panel-signin.js";
import { words, number } from "/shared/i18n.js";

const t = words({
  en: {
    map: "Live crowd density map", skips: "Skip links", toMap: "Skip to the map", toMessages: "Skip to the messages",
    toComposer: "Skip to the composer", sheet: "Messages and panels",
    messages: (n) => `Messages (${n})`, fresh: "new",
  },
  it: {
    map: "Mappa in diretta dell'affollamento", skips: "Collegamenti rapidi", toMap: "Vai alla mappa", toMessages: "Vai ai messaggi",
    toComposer: "Vai alla composizione", sheet: "Messaggi e pannelli",
    messages: (n) => `Messaggi (${n})`, fresh: "nuovo",
  },
});

/** Narrow enough for the bottom sheet (live-map.css uses the same width). */
const PHONE = "(max-width: 600px)";

/**
 * Builds the page's frame and its map for `surface` (words after the event's
 * name, "operations room", in the page's language). `tokenLabel` asks for a
 * token (none for the public); `finestResolution(resolutions)` is the finest
 * H3 resolution the surface may read. `fixedResolution` reads the heat at
 * that one resolution whatever the zoom (the public: what a reader is told
 * must not change with their screen's width), and `chooseWindow` offers the
 * time window (responders).
 */
export async function openLivePage({ surface, tokenLabel = null, finestResolution, fixedResolution = false, chooseWindow = true }) {
  const event = await loadEvent();
  document.title = `${event.name} — ${surface}`;
  const header = headerPanel({ heading: `${event.name} · ${surface}`, windows: chooseWindow ? event.windows : null,
    defaultWindow: event.defaultWindow, languages: event.languages });
  const columns = [el("div", { class: "side-column" }), el("div", { class: "side-column" })];
  const sheet = sheetBar();
  const aside = el("aside", { id: "side", "aria-label": t("sheet") }, sheet.element, ...columns);
  const mapBox = el("div", { id: "map", role: "region", "aria-label": t("map") });
  const skips = el("nav", { class: "skip-links", "aria-label": t("skips") });
  document.body.prepend(skips, header.element, el("main", {}, mapBox, aside));
  const map = new LiveMap(mapBox, { bbox: event.bbox, basemap: event.basemap });
  window.campanile = { map }; // for the browser tests and for operators' consoles
  const minRes = event.resolutions.min;
  const maxRes = finestResolution(event.resolutions);
  keepHeaderHeight(header.element);

  const panels = [];
  const cells = new Map();
  // The cells of a replayed moment (panel-replay.js), shown instead of the live ones.
  let replayed = null;
  let token = tokenLabel ? takeToken() : null;
  let live = null;
  let res = fixedResolution ? maxRes : resolutionForZoom(map.zoom(), minRes, maxRes);
  window.campanile.resolution = () => res;
  const errorLine = el("p", { id: "error", role: "alert" });
  const signIn = tokenLabel ? signInPanel({ label: tokenLabel, onToken: useToken }) : null;

  const each = (hook, ...args) => panels.forEach((p) => p[hook]?.(...args));
  const styled = (node, property) => getComputedStyle(node).getPropertyValue(property).trim();

  /** Puts a panel's element in its column of the side bar, its capped lists in the tab order. */
  function place(node) {
    columns[0].append(node);
    if (styled(node, "--side-column") === "second") columns[1].append(node);
    for (const list of [node, ...node.querySelectorAll("*")]) {
      if (styled(list, "--wall-scroll") !== "yes") continue;
      const heading = list.closest("section")?.getAttribute("aria-labelledby");
      list.setAttribute("tabindex", "0");
      list.setAttribute("role", "region");
      if (heading) list.setAttribute("aria-labelledby", heading);
    }
  }

  function subscriptions() {
    return [{ channel: "heatmap", res, window: header.window() }, ...panels.flatMap((p) => p.subscriptions?.() ?? [])];
  }

  function resubscribe() {
    if (live) live.resubscribe(subscriptions);
  }

  function renderHeat() {
    const all = replayed ?? [...cells.values()];
    map.setHeat(all).then((max) => each("densest", max));
    each("heat", all);
    header.showUpdated(live?.lastUpdate);
  }

  function onMessage(msg) {
    if (msg.type === "heatmap.snapshot") {
      cells.clear();
      msg.cells.forEach((c) => cells.set(c.cell, c));
      renderHeat();
    } else if (msg.type === "heatmap.delta") {
      msg.cells.forEach((c) => cells.set(c.cell, c));
      msg.removed.forEach((id) => cells.delete(id));
      renderHeat();
    } else if (msg.type === "error") {
      errorLine.textContent = msg.message;
      // An expired token leaves the session public: ask for a fresh one.
      if ((msg.code === "unauthorized" || msg.code === "token_expired") && signIn) askForToken();
    }
    panels.forEach((p) => p.on?.[msg.type]?.(msg));
  }

  function connect() {
    signIn?.show(false);
    let state = null;
    const onState = (next) => {
      header.showState(next);
      if (next === "live" && state !== "live") each("connected");
      state = next;
    };
    live = new Live({ token, subscriptions, onMessage, onState });
    each("started");
  }

  function askForToken() {
    if (live) live.close();
    sessionStorage.removeItem("campanile.token");
    signIn.show(true);
  }

  function useToken(given) {
    token = given;
    sessionStorage.setItem("campanile.token", token);
    connect();
  }

  return {
    event,
    map,
    header,
    token: () => token,
    resubscribe,

    /** Adds a panel below those added before it; returns it. */
    add(panel) {
      for (const node of panel.elements ?? []) place(node);
      panels.push(panel);
      return panel;
    },

    /** Once every panel is added: the zones and the connection. */
    start() {
      columns[0].append(errorLine);
      if (signIn) document.body.append(signIn.element);
      header.onWindowChange(resubscribe);
      map.on("zoomend", () => {
        if (fixedResolution) return;
        const wanted = resolutionForZoom(map.zoom(), minRes, maxRes);
        if (wanted !== res) {
          res = wanted;
          resubscribe();
        }
      });
      setInterval(() => {
        header.showUpdated(live?.lastUpdate);
        each("tick");
      }, 1000);
      getJson("/api/v1/zones").then((zones) => {
        map.setGeoJson("zones", zones);
        each("zones", zones.features);
        renderHeat();
      }).catch(() => {});
      if (token || !signIn) connect(); else askForToken();
      skipLinks(skips, map);
      sheet.follow(aside);
    },

    /** Shows the cells of a past moment instead of the live ones, or the live ones again (`null`). */
    showReplay(past) {
      replayed = past;
      renderHeat();
    },

    /** The H3 resolution the heat is read at now. */
    resolution: () => res,
  };
}

/** Keeps `--header-h` at the header's height: the phone's map starts under it, and its sheet is measured from it. */
function keepHeaderHeight(header) {
  const set = () => document.documentElement.style.setProperty("--header-h", `${header.getBoundingClientRect().height}px`);
  new ResizeObserver(set).observe(header);
  set();
}

/** Moves focus to `node`, making it focusable from script when it is not (a heading). */
function focusOn(node) {
  if (!node) return;
  if (!node.matches("a[href], button, input, select, textarea, canvas, [tabindex]")) node.setAttribute("tabindex", "-1");
  node.focus();
  node.scrollIntoView({ block: "nearest" });
}

/**
 * The skip links, first in the tab order: to the map (its canvas, which
 * pans and zooms from the keyboard), to the messages' heading and, on the
 * page that has one, to the composer's first field.
 */
function skipLinks(nav, map) {
  const targets = [["map", t("toMap"), () => map.map.getCanvas()]];
  if (document.getElementById("composer")) {
    targets.push(["composer", t("toComposer"), () => {
      const fields = [...document.querySelectorAll("#composer input, #composer select, #composer textarea, #composer button")];
      return fields.find((f) => f.checkVisibility()) ?? document.getElementById("composer-title");
    }]);
  }
  if (document.getElementById("messages")) targets.push(["messages", t("toMessages"), () => document.getElementById("messages-title")]);
  nav.replaceChildren(...targets.map(([id, label, target]) => el("a", {
    href: `#${id}`, class: "skip-link", text: label,
    onclick: (e) => { e.preventDefault(); focusOn(target()); },
  })));
}

/**
 * The bottom sheet's bar (phones only; hidden elsewhere by live-map.css): a
 * handle that says how many messages there are, and marks one that arrived
 * while the sheet was closed. Open is the page scrolled so that the side
 * bar covers the lower part of the map; closed, the page at its top.
 */
function sheetBar() {
  const label = el("span", { class: "sheet-label", text: t("messages", number(0)) });
  const fresh = el("span", { class: "sheet-new", hidden: "", text: t("fresh") });
  const arrow = el("span", { class: "sheet-arrow", "aria-hidden": "true", text: "▲" });
  // The header's connection state, repeated: the header scrolls away when the sheet opens, and a
  // stale picture must never look live. Hidden from screen readers, which hear the header's.
  const state = el("span", { class: "state", "aria-hidden": "true" });
  const handle = el("button", { type: "button", id: "sheet-handle", class: "sheet-handle", "aria-expanded": "false", "aria-controls": "side" },
    el("span", { class: "sheet-grip", "aria-hidden": "true" }), label, " ", fresh, state, arrow);
  const element = el("div", { class: "sheet-bar" }, handle);
  const phone = matchMedia(PHONE);
  let aside = null;
  let count = 0;

  const isOpen = () => phone.matches && window.scrollY > 8;
  function show() {
    const open = isOpen();
    handle.setAttribute("aria-expanded", String(open));
    arrow.textContent = open ? "▼" : "▲";
    if (open) fresh.hidden = true;
  }
  function setOpen(open) {
    if (!aside) return;
    // Open: the sheet's top at 40 % of the screen's height, over the lower part of the map.
    const top = open ? aside.getBoundingClientRect().top + window.scrollY - 0.4 * window.innerHeight : 0;
    window.scrollTo({ top: Math.max(0, top), behavior: "instant" });
    show();
  }
  handle.addEventListener("click", () => setOpen(!isOpen()));
  window.addEventListener("scroll", show, { passive: true });
  phone.addEventListener("change", show);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !isOpen() || !aside?.contains(document.activeElement)) return;
    setOpen(false);
    handle.focus();
  });

  return {
    element,
    /** Counts the messages shown in `side` from now on. */
    follow(side) {
      aside = side;
      const header = document.getElementById("state");
      if (header) {
        const mirror = () => {
          state.textContent = header.textContent;
          state.className = header.className;
        };
        new MutationObserver(mirror).observe(header, { attributes: true, childList: true, characterData: true, subtree: true });
        mirror();
      }
      const list = side.querySelector("#messages");
      if (!list) {
        label.textContent = t("sheet");
        return;
      }
      // A message the reader has not seen (the sheet closed when it came) is marked "new" until they open it.
      const recount = () => {
        const now = list.querySelectorAll("article.message").length;
        if (now > count && !isOpen()) fresh.hidden = false;
        count = now;
        label.textContent = t("messages", number(count));
      };
      new MutationObserver(recount).observe(list, { childList: true });
      recount();
      show();
    },
  };
}
