// The time slider of /ops (DESIGN §11): choose a moment of the last hours
// (up to count retention, at most twelve),
// play it forward at 1×, 5×, 15× or 60×, pause, and go back to live. The map
// and the zones show the server's `?at=` answers for that moment, and a
// banner across the page says REPLAY with the moment's time, so that nobody
// takes the past for now. Replays are answered per whole minute, so a new
// answer is asked for only when the played moment enters another minute.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { clock, dateTime, words } from "/shared/i18n.js";

// The last hours, as far back as counts are kept: a wall's operator wants
// the event's afternoon, not a week.
const MAX_SPAN_MINUTES = 12 * 60;
const SPEEDS = [1, 5, 15, 60];

// Every word the panel shows, in one place for translation.
export const WORDS = {
  en: {
    title: "Replay",
    liveHours: (n) => `Live. Move the slider to replay the last ${n} hours.`,
    liveMinutes: (n) => `Live. Move the slider to replay the last ${n} minutes.`,
    slider: "Moment to replay, in minutes before now",
    speed: "Replay speed",
    play: "Play",
    pause: "Pause",
    live: "Back to live",
    banner: (time) => `REPLAY ${time} — not live`,
    showing: (moment) => `Showing ${moment}.`,
    failed: (why) => `Replay failed: ${why}`,
  },
  it: {
    title: "Riproduzione",
    liveHours: (n) => `In diretta. Sposta il cursore per rivedere le ultime ${n} ore.`,
    liveMinutes: (n) => `In diretta. Sposta il cursore per rivedere gli ultimi ${n} minuti.`,
    slider: "Momento da rivedere, in minuti prima di adesso",
    speed: "Velocità di riproduzione",
    play: "Avvia",
    pause: "Pausa",
    live: "Torna alla diretta",
    banner: (time) => `RIPRODUZIONE ${time} — non in diretta`,
    showing: (moment) => `Momento mostrato: ${moment}.`,
    failed: (why) => `Riproduzione non riuscita: ${why}`,
  },
};
const t = words(WORDS);

// The reader's own clock; "UTC" said only where the time shown is UTC.
const inUtc = () => ["UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Etc/Zulu"].includes(Intl.DateTimeFormat().resolvedOptions().timeZone);
const hhmm = (moment) => `${clock(moment)}${inUtc() ? " UTC" : ""}`;

export function replayPanel(page, zones) {
  // A minute short of count retention, so that a moment chosen is still kept when asked for.
  const SPAN_MINUTES = Math.max(1, Math.min(MAX_SPAN_MINUTES, Math.floor(page.event.countRetentionSecs / 60) - 1));
  const liveWords = SPAN_MINUTES >= 120 ? t("liveHours", Math.round(SPAN_MINUTES / 60)) : t("liveMinutes", SPAN_MINUTES);
  const slider = el("input", {
    id: "replay-slider", type: "range", min: String(-SPAN_MINUTES), max: "0", step: "1", value: "0",
    "aria-label": t("slider"),
  });
  const speed = el("select", { id: "replay-speed", "aria-label": t("speed") },
    ...SPEEDS.map((s) => el("option", { value: String(s), text: `${s}×` })));
  const play = el("button", { id: "replay-play", type: "button", text: t("play"), disabled: "" });
  const live = el("button", { id: "replay-live", type: "button", text: t("live"), disabled: "" });
  const shown = el("p", { id: "replay-moment", class: "none", text: liveWords });
  const banner = el("div", { id: "replay-banner", role: "status", hidden: "" });
  document.body.prepend(banner);

  let moment = null; // the replayed time, or null when live
  let asked = null; // the minute last asked for
  let timer = null;

  async function show() {
    const minute = Math.floor(moment.getTime() / 60000);
    if (minute === asked) return;
    asked = minute;
    const at = encodeURIComponent(moment.toISOString().replace(/\.\d+Z$/, "Z"));
    const window = page.header.window();
    try {
      const [heat, status] = await Promise.all([
        getJson(`/api/v1/heatmap?res=${page.resolution()}&window=${window}&at=${at}`, page.token()),
        getJson(`/api/v1/zones/status?window=${window}&at=${at}`, page.token()),
      ]);
      if (moment === null || Math.floor(moment.getTime() / 60000) !== minute) return; // overtaken
      page.showReplay(heat.cells);
      zones.replay(status);
    } catch (e) {
      shown.textContent = t("failed", e.message);
    }
  }

  function mark() {
    const words = t("banner", hhmm(moment));
    banner.textContent = words;
    banner.hidden = false;
    shown.textContent = t("showing", `${dateTime(moment)}${inUtc() ? " UTC" : ""}`);
    slider.value = String(Math.min(0, Math.round((moment.getTime() - Date.now()) / 60000)));
    slider.setAttribute("aria-valuetext", words);
    play.disabled = false;
    live.disabled = false;
    page.header.showReplay(moment);
  }

  function goTo(t) {
    moment = t;
    mark();
    show();
  }

  function pause() {
    clearInterval(timer);
    timer = null;
    play.textContent = t("play");
  }

  function backToLive() {
    pause();
    moment = null;
    asked = null;
    banner.hidden = true;
    banner.textContent = "";
    shown.textContent = liveWords;
    slider.value = "0";
    slider.removeAttribute("aria-valuetext");
    play.disabled = true;
    live.disabled = true;
    page.showReplay(null);
    zones.replay(null);
    page.header.showReplay(null);
  }

  slider.addEventListener("input", () => {
    const minutes = Number(slider.value);
    if (minutes >= 0) return backToLive();
    goTo(new Date(Date.now() + minutes * 60000));
  });
  play.addEventListener("click", () => {
    if (timer) return pause();
    play.textContent = t("pause");
    timer = setInterval(() => {
      const next = new Date(moment.getTime() + Number(speed.value) * 1000);
      if (next.getTime() >= Date.now()) return backToLive();
      goTo(next);
    }, 1000);
  });
  live.addEventListener("click", backToLive);

  return {
    elements: [section(t("title"), "replay-panel", slider, el("div", { class: "replay-controls" }, speed, play, live), shown)],
  };
}
