// The page's header: the event and the surface by name, the connection's
// state (always visible: a stale map must never look live), when the picture
// last changed, the language switch and, for responders, the time window and
// the H3 resolution (the public gets neither: they are an analyst's words).

import { ago } from "/shared/campanile.js";
import { el, select } from "/shared/dom.js";
import { words, languageSwitch, locale } from "/shared/i18n.js";

const t = words({
  en: {
    connecting: "connecting", live: "live", reconnecting: "reconnecting", "engine down": "engine down",
    past: "showing the past", lastUpdate: (when) => `last update ${when}`, replay: (time) => `replay ${time} UTC`,
    window: "window ", windowLabel: "time window", resolution: (res) => `H3 resolution ${res}`,
    never: "never", seconds: (s) => `${s} s ago`, minutes: (m) => `${m} min ago`,
  },
  it: {
    connecting: "connessione", live: "in diretta", reconnecting: "riconnessione", "engine down": "motore fermo",
    past: "si vede il passato", lastUpdate: (when) => `ultimo aggiornamento ${when}`, replay: (time) => `riproduzione ${time} UTC`,
    window: "finestra ", windowLabel: "finestra di tempo", resolution: (res) => `risoluzione H3 ${res}`,
    never: "mai", seconds: (s) => `${s} s fa`, minutes: (m) => `${m} min fa`,
  },
});

const AGO = { never: t("never"), seconds: (s) => t("seconds", s), minutes: (m) => t("minutes", m) };

/** A moment's time of day in UTC, in the reader's locale ("14:05"). */
const utcClock = (date) => new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" }).format(date);

/**
 * `windows` offers a choice of time window (responders); without them the
 * page reads `defaultWindow` and says nothing of it. `languages` are the
 * event's, offered in the switch.
 */
export function headerPanel({ heading, windows = null, defaultWindow, languages }) {
  const windowSelect = windows ? select({ id: "window", "aria-label": t("windowLabel") }, windows, defaultWindow) : null;
  const state = el("span", { id: "state", class: "state connecting", role: "status", text: t("connecting") });
  const updated = el("span", { id: "updated", text: t("lastUpdate", t("never")) });
  const resolution = el("span", { id: "res-label", text: "" });
  const element = el("header", {}, el("h1", { text: heading }), state, updated,
    ...(windowSelect ? [el("label", {}, t("window"), windowSelect), resolution] : []), languageSwitch(languages));
  let connection = "connecting";
  let replaying = null;
  let lastUpdate = null;
  function render() {
    // While replaying, "last update" would speak of the live picture, which is not on screen.
    updated.textContent = replaying ? t("past") : t("lastUpdate", ago(lastUpdate, AGO));
    if (replaying) {
      const down = connection === "live" ? "" : ` · ${t(connection)}`;
      state.textContent = `${t("replay", utcClock(replaying))}${down}`;
      state.className = "state replay";
    } else {
      state.textContent = t(connection);
      state.className = `state ${connection.replace(" ", "-")}`;
    }
  }
  return {
    element,
    window: () => windowSelect?.value ?? defaultWindow,
    onWindowChange: (handler) => windowSelect?.addEventListener("change", handler),
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
      resolution.textContent = t("resolution", res);
    },
  };
}
