// The page's header: the event and the surface by name, the connection's
// state (always visible: a stale map must never look live), when the picture
// last changed, the time window and, for responders, the H3 resolution.

import { ago } from "/shared/campanile.js";
import { el, select } from "/shared/dom.js";

export function headerPanel({ heading, windows, defaultWindow }) {
  const windowSelect = select({ id: "window", "aria-label": "time window" }, windows, defaultWindow);
  const state = el("span", { id: "state", class: "state connecting", role: "status", text: "connecting" });
  const updated = el("span", { id: "updated", text: "last update never" });
  const resolution = el("span", { id: "res-label", text: "" });
  const element = el("header", {}, el("h1", { text: heading }), state, updated, el("label", {}, "window ", windowSelect), resolution);
  let connection = "connecting";
  let replaying = null;
  let lastUpdate = null;
  function render() {
    // While replaying, "last update" would speak of the live picture, which is not on screen.
    updated.textContent = replaying ? "showing the past" : `last update ${ago(lastUpdate)}`;
    if (replaying) {
      const down = connection === "live" ? "" : ` · ${connection}`;
      state.textContent = `replay ${replaying.toISOString().slice(11, 16)} UTC${down}`;
      state.className = "state replay";
    } else {
      state.textContent = connection;
      state.className = `state ${connection.replace(" ", "-")}`;
    }
  }
  return {
    element,
    window: () => windowSelect.value,
    onWindowChange: (handler) => windowSelect.addEventListener("change", handler),
    showState(name) {
      connection = name;
      render();
    },
    /** Says the map shows a past moment (a Date), or live again (`null`):
     *  a replay must never look live, even while the connection is. */
    showReplay(moment) {
      replaying = moment;
      render();
    },
    showUpdated(timestamp) {
      lastUpdate = timestamp;
      render();
    },
    showResolution(res) {
      resolution.textContent = `H3 resolution ${res}`;
    },
  };
}
