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
  return {
    element,
    window: () => windowSelect.value,
    onWindowChange: (handler) => windowSelect.addEventListener("change", handler),
    showState(name) {
      state.textContent = name;
      state.className = `state ${name.replace(" ", "-")}`;
    },
    showUpdated(timestamp) {
      updated.textContent = `last update ${ago(timestamp)}`;
    },
    showResolution(res) {
      resolution.textContent = `H3 resolution ${res}`;
    },
  };
}
