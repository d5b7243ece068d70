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

/**
 * Builds the page's frame and its map for `surface` (words after the event's
 * name, "operations room"). `tokenLabel` asks for a token (none for the
 * public); `finestResolution(resolutions)` is the finest H3 resolution the
 * surface may read.
 */
export async function openLivePage({ surface, tokenLabel = null, finestResolution }) {
  const event = await loadEvent();
  document.title = `${event.name} — ${surface}`;
  const header = headerPanel({ heading: `${event.name} · ${surface}`, windows: event.windows, defaultWindow: event.defaultWindow });
  const columns = [el("div", { class: "side-column" }), el("div", { class: "side-column" })];
  const aside = el("aside", {}, ...columns);
  const mapBox = el("div", { id: "map", role: "region", "aria-label": "Live crowd density map" });
  document.body.prepend(header.element, el("main", {}, mapBox, aside));
  const map = new LiveMap(mapBox, { bbox: event.bbox, basemap: event.basemap });
  window.campanile = { map }; // for the browser tests and for operators' consoles
  const minRes = event.resolutions.min;
  const maxRes = finestResolution(event.resolutions);

  const panels = [];
  const cells = new Map();
  // The cells of a replayed moment (panel-replay.js), shown instead of the live ones.
  let replayed = null;
  let token = tokenLabel ? takeToken() : null;
  let live = null;
  let res = resolutionForZoom(map.zoom(), minRes, maxRes);
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
